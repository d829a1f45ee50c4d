"""The human-readable SKILL.md tree of a local store.

``Users/<user>/<name>/SKILL.md`` for users' skills and ``Common/<library>/<name>/SKILL.md``
for imported shared libraries. User ids become folder names through a reversible,
injective encoding, so ``a/b`` or ``..`` can never climb out of ``Users/``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote, unquote

from autoskill._fs import atomic_write_bytes, contained_path
from autoskill.skill.folder import iter_resource_files
from autoskill.skill.model import Skill
from autoskill.skill.skillmd import render_skill_md
from autoskill.store._crash import _crash_point

__all__ = ["SkillTree", "decode_owner", "encode_owner", "file_hash", "is_temp_name"]

logger = logging.getLogger(__name__)

USERS_DIR = "Users"
COMMON_DIR = "Common"
# Deleted folders are renamed here first (one atomic step), then removed: a crash in
# between leaves a folder here, never a half-deleted skill in the tree.
TRASH_DIR = ".trash"
_SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
# Temporary files of atomic writes (``tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")``:
# eight random characters): what a write interrupted before its rename leaves behind.
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def is_temp_name(name: str) -> bool:
    """Whether a file name is an atomic write's temporary file (``.SKILL.md.ab12cd34.tmp``)."""
    return bool(_TEMP_NAME.match(name))


def encode_owner(owner: str) -> str:
    """A folder name for a user id or library name (reversible, never '.'/'..'/empty)."""
    if owner and _SAFE.match(owner) and len(owner) <= 100:
        return owner
    encoded = quote(owner, safe="-_").replace(".", "%2E")
    if not encoded:
        return "%00empty"
    if len(encoded) > 150:  # keep within file-name limits; the hash keeps it unique
        encoded = encoded[:100] + "~" + hashlib.sha1(owner.encode("utf-8")).hexdigest()[:16]
    return encoded


def decode_owner(folder: str) -> str:
    """Inverse of :func:`encode_owner` (for names that were not shortened)."""
    if folder == "%00empty":
        return ""
    return unquote(folder)


def file_hash(text: str) -> str:
    """sha256 of SKILL.md text as written."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SkillTree:
    """Reads and writes the SKILL.md folders under one store root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder_for(self, skill: Skill) -> Path:
        """Where ``skill`` lives in the tree (relative to the root)."""
        if skill.scope == "user":
            return Path(USERS_DIR) / encode_owner(skill.user_id or "") / skill.name
        if skill.library:
            return Path(COMMON_DIR) / encode_owner(skill.library) / skill.name
        return Path(COMMON_DIR) / skill.name

    def write(self, skill: Skill, *, fsync: bool = True, skill_md: str | None = None,
              source: Path | None = None) -> tuple[str, str]:
        """Write ``skill``'s folder; return (relative folder, hash of the SKILL.md written).

        Resources first (each file atomically), SKILL.md last and atomically: a reader
        sees the old SKILL.md or the new one, never part of one. ``source`` overrides the
        folder resources are copied from (default: ``skill.source_dir``).
        """
        relative = self.folder_for(skill)
        target = contained_path(self.root, relative.as_posix())
        text = skill_md if skill_md is not None else render_skill_md(skill)
        target.mkdir(parents=True, exist_ok=True)
        origin = source if source is not None else skill.source_dir
        if origin is not None and Path(origin).is_dir() and Path(origin).resolve() != target.resolve():
            for rel in iter_resource_files(origin):
                destination = contained_path(target, rel)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(contained_path(origin, rel), destination)
        for rel, content in skill.resources.items():
            payload = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            atomic_write_bytes(contained_path(target, rel), payload, fsync=fsync)
        _crash_point("tree-resources-written")
        self._write_skill_md(target / "SKILL.md", text.encode("utf-8"), fsync=fsync)
        return relative.as_posix(), file_hash(text)

    @staticmethod
    def _write_skill_md(path: Path, data: bytes, *, fsync: bool) -> None:
        # The same temp + rename as autoskill._fs.atomic_write_bytes, with crash points
        # between the steps so the tests can stop a writer half way through.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                half = len(data) // 2
                handle.write(data[:half])
                handle.flush()
                _crash_point("tree-temp-half-written")
                handle.write(data[half:])
                handle.flush()
                if fsync:
                    os.fsync(handle.fileno())
            _crash_point("tree-temp-written")
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def remove(self, relative: str) -> None:
        """Delete a skill folder from the tree (only inside the root).

        The folder is first renamed into ``.trash/`` (atomic), then deleted, so an
        interruption never leaves a half-deleted skill folder that looks like a skill.
        """
        folder = contained_path(self.root, relative)
        if folder.is_dir():
            trash = self.root / TRASH_DIR
            trash.mkdir(exist_ok=True)
            parked = trash / uuid.uuid4().hex
            try:
                os.replace(folder, parked)
            except OSError:  # another file system, or a folder in use: delete in place
                parked = folder
            _crash_point("delete-after-trash")
            shutil.rmtree(parked, ignore_errors=True)
        # Tidy an owner folder left empty, so listings stay honest.
        owner = folder.parent
        if owner != self.root and owner.is_dir() and not any(owner.iterdir()):
            try:
                owner.rmdir()
            except OSError:  # a concurrent write put something there: keep it
                pass

    def leftovers(self) -> list[Path]:
        """What interrupted writes left behind: temporary files of atomic writes inside
        the tree (and the store root), and folders parked in ``.trash/``."""
        found: list[Path] = []
        found.extend(p for p in sorted(self.root.glob(".*.tmp")) if is_temp_name(p.name) and p.is_file())
        trash = self.root / TRASH_DIR
        if trash.is_dir():
            found.extend(sorted(trash.iterdir()))
        for top in (USERS_DIR, COMMON_DIR):
            base = self.root / top
            if not base.is_dir():
                continue
            for current, dirs, files in os.walk(base):  # links not followed: only our own files
                dirs[:] = sorted(d for d in dirs if not d.startswith(".git"))
                found.extend(Path(current) / name for name in sorted(files) if is_temp_name(name))
        return found

    def remove_leftovers(self, paths: list[Path] | None = None) -> list[str]:
        """Delete :meth:`leftovers` (call while holding the store's write lock); returns
        one line per path removed."""
        removed: list[str] = []
        for path in self.leftovers() if paths is None else paths:
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("could not remove %s: %s", path, exc)
                continue
            removed.append(f"{path.relative_to(self.root).as_posix()}: removed what an interrupted write left")
        trash = self.root / TRASH_DIR
        if trash.is_dir() and not any(trash.iterdir()):
            trash.rmdir()
        return removed

    def skill_md(self, relative: str) -> Path:
        """Path of the SKILL.md of a folder in the tree."""
        return contained_path(self.root, relative) / "SKILL.md"
