"""Skill folders on disk: read one, list its resources, write one back.

A skill folder holds ``SKILL.md`` and optional resources (``scripts/``, ``references/``,
``assets/``). Reading never follows a link out of the folder (or out of the library root
for the SKILL.md itself), and a file of ours never overwrites a library we only read.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from autoskill._fs import atomic_write_bytes, atomic_write_text, contained_path, is_within
from autoskill.errors import SkillParseError
from autoskill.skill.skillmd import ParsedSkill, read_skill_md, render_skill_md
from autoskill.skill.model import Skill

__all__ = [
    "MAX_SKILL_MD_BYTES",
    "SKIPPED_DIRS",
    "decode_skill_bytes",
    "find_skill_file",
    "iter_resource_files",
    "iter_skill_dirs",
    "load_skill_dir",
    "write_skill_dir",
]

logger = logging.getLogger(__name__)

# A SKILL.md is instructions for a model; anything this large is not one, and reading it
# whole would let one hostile file exhaust memory during a scan.
MAX_SKILL_MD_BYTES = 5 * 1024 * 1024
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".tox"})
# Temporary files of atomic writes (``.<name>.<8 random characters>.tmp``, see
# autoskill._fs): never a resource, and gone (renamed) a moment after they are listed.
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def find_skill_file(skill_dir: Path) -> Path | None:
    """Return the folder's SKILL.md (any letter case), preferring the exact spelling."""
    exact = skill_dir / "SKILL.md"
    if exact.is_file():
        return exact
    try:
        entries = sorted(os.scandir(skill_dir), key=lambda e: e.name)
    except OSError:
        return None
    for entry in entries:
        if entry.name.lower() == "skill.md":
            path = Path(entry.path)
            if path.is_file():
                return path
    return None


def decode_skill_bytes(data: bytes, source: str) -> tuple[str, list[str]]:
    """Decode a SKILL.md the way editors do: UTF-8 (BOM or not), UTF-16 with a BOM.

    Raises:
        SkillParseError: The bytes are binary (NUL bytes outside UTF-16).
    """
    warnings: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), warnings
        except UnicodeDecodeError as exc:
            raise SkillParseError(source, f"undecodable UTF-16 text ({exc.reason})") from None
    if b"\x00" in data:
        raise SkillParseError(source, "binary content (NUL bytes), not a text file")
    try:
        return data.decode("utf-8-sig"), warnings
    except UnicodeDecodeError as exc:
        warnings.append(f"{source}: not valid UTF-8 at byte {exc.start}; undecodable bytes replaced")
        return data.decode("utf-8-sig", errors="replace"), warnings


def load_skill_dir(
    skill_dir: str | Path,
    *,
    root: str | Path | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> ParsedSkill:
    """Read the skill in ``skill_dir``.

    Args:
        skill_dir: The folder holding SKILL.md.
        root: The library root it was found under; a SKILL.md that is a link leading
            outside ``root`` (or outside the folder when no root is given) is refused.
        defaults: Skill fields the file does not set (scope, library, user_id).

    Raises:
        SkillParseError: Missing, unreadable, oversized or invalid SKILL.md.
    """
    folder = Path(skill_dir)
    skill_file = find_skill_file(folder)
    if skill_file is None:
        entry, reason = _odd_skill_entry(folder)
        raise SkillParseError(entry, reason)
    boundary = Path(root) if root is not None else folder
    if skill_file.is_symlink() and not is_within(skill_file, boundary):
        raise SkillParseError(skill_file, f"SKILL.md links outside {boundary}")
    try:
        # O_NONBLOCK: a FIFO swapped in after the check above must not block the scan.
        fd = os.open(skill_file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise SkillParseError(skill_file, "SKILL.md is not a regular file")
            if info.st_size > MAX_SKILL_MD_BYTES:
                raise SkillParseError(skill_file, f"file is {info.st_size} bytes, over the {MAX_SKILL_MD_BYTES} limit")
            data = handle.read(MAX_SKILL_MD_BYTES + 1)
    except OSError as exc:
        raise SkillParseError(skill_file, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_SKILL_MD_BYTES:
        raise SkillParseError(skill_file, f"file is over the {MAX_SKILL_MD_BYTES} byte limit")
    text, decode_warnings = decode_skill_bytes(data, str(skill_file))
    parsed = read_skill_md(text, source=skill_file, dir_name=folder.name, defaults=defaults)
    skill = parsed.skill.evolve(source_dir=folder)
    if skill_file.name != "SKILL.md":
        decode_warnings.append(f"{skill_file}: file is spelt {skill_file.name!r}, the spec says SKILL.md")
    return ParsedSkill(skill=skill, warnings=tuple(decode_warnings) + parsed.warnings)


def _odd_skill_entry(folder: Path) -> tuple[Path, str]:
    """Why a folder has no readable SKILL.md: what its SKILL.md entry is instead."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.lower() == "skill.md")
    except OSError as exc:
        return folder / "SKILL.md", f"cannot list the folder: {exc.strerror or exc}"
    if not names:
        return folder / "SKILL.md", "no SKILL.md in folder"
    path = folder / names[0]
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            try:
                path.stat()
            except OSError as exc:
                what = "a link loop" if exc.errno == errno.ELOOP else "a broken link"
                return path, f"SKILL.md is {what} ({exc.strerror or exc})"
            mode = path.stat().st_mode
    except OSError as exc:
        return path, f"cannot read: {exc.strerror or exc}"
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    what = next((label for test, label in kinds if test(mode)), "not a regular file")
    return path, f"SKILL.md is {what}, not a regular file"


def iter_skill_dirs(root: str | Path, *, onerror: Callable[[OSError], None] | None = None) -> Iterator[Path]:
    """Every folder under ``root`` (root included) holding a SKILL.md, each real folder once.

    Linked folders are followed (a common way to install skills); a real folder seen
    before (a loop, or two links to one place) is not entered again. Tool folders such as
    ``.git`` and ``node_modules`` are skipped; other dot-folders (``.claude``, ``.curated``)
    hold real skills and are scanned.
    """
    seen: set[tuple[int, int]] = set()
    for current, dirs, files in os.walk(root, followlinks=True, onerror=onerror):
        try:
            stat = os.stat(current)
        except OSError:
            dirs[:] = []
            continue
        key = (stat.st_dev, stat.st_ino)
        if key in seen:
            dirs[:] = []
            continue
        seen.add(key)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        # A folder named SKILL.md counts too: loading it then reports the problem.
        if any(name.lower() == "skill.md" for name in (*files, *dirs)):
            yield Path(current)


def iter_resource_files(skill_dir: str | Path) -> Iterator[str]:
    """Yield the relative paths (POSIX) of the folder's files other than SKILL.md.

    Links leading outside the folder and nested skill folders are left out: a resource
    belongs to exactly one skill and never reaches outside it.
    """
    base = Path(skill_dir)
    if not base.is_dir():
        return
    seen: set[tuple[int, int]] = set()
    for current, dirs, files in os.walk(base, followlinks=True):
        here = Path(current)
        try:
            stat = here.stat()
        except OSError:
            dirs[:] = []
            continue
        key = (stat.st_dev, stat.st_ino)
        if key in seen or not is_within(here, base):
            dirs[:] = []
            continue
        seen.add(key)
        dirs[:] = sorted(
            d for d in dirs
            if d not in SKIPPED_DIRS and find_skill_file(here / d) is None
        )
        for name in sorted(files):
            path = here / name
            if here == base and name.lower() == "skill.md":
                continue
            if _TEMP_NAME.match(name):  # an atomic write in progress (or a dead one's leftover)
                continue
            if not path.is_file() or not is_within(path, base):
                continue
            yield path.relative_to(base).as_posix()


def write_skill_dir(skill: Skill, root_dir: str | Path, *, fsync: bool = True, skill_md: str | None = None) -> Path:
    """Write ``skill`` as ``root_dir/<name>/`` with SKILL.md and its resources.

    Resources come from the folder the skill was read from (copied) and from the skill's
    in-memory ``resources`` (written); the folder is named after the skill, as the spec
    requires. ``skill_md`` is the rendered text when the caller already has it. Returns
    the folder's path.
    """
    target = Path(root_dir) / skill.name
    target.mkdir(parents=True, exist_ok=True)
    source = skill.source_dir
    if source is not None and source.is_dir() and source.resolve() != target.resolve():
        for rel in iter_resource_files(source):
            destination = contained_path(target, rel)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(contained_path(source, rel), destination)
            except FileNotFoundError:  # removed or renamed since it was listed (a concurrent write)
                logger.debug("resource %s of %s vanished while being copied", rel, source)
    for rel, content in skill.resources.items():
        destination = contained_path(target, rel)
        payload = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        atomic_write_bytes(destination, payload, fsync=fsync)
    atomic_write_text(target / "SKILL.md", skill_md if skill_md is not None else render_skill_md(skill), fsync=fsync)
    return target
