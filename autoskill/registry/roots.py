"""Where skills live: the default skill roots, in increasing precedence.

1. ``bundled``: the skills shipped inside the package (``autoskill/library``);
2. ``user``: ``~/.agents/skills``, ``~/.claude/skills``;
3. ``project``: ``<project>/skills``, ``<project>/.claude/skills``, ``<project>/.agents/skills``;
4. ``configured``: ``AUTOSKILL_SKILL_PATHS`` then ``AUTOSKILL_LIBRARY_DIRS`` (each split on
   ``os.pathsep`` and on commas).

A registry scans them in this order, so a later root's skill of the same name wins.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from autoskill.errors import ConfigError

__all__ = [
    "ENV_LIBRARY_DIRS",
    "ENV_SKILL_PATHS",
    "ROOT_KINDS",
    "RootKind",
    "SkillRoot",
    "bundled_skill_root",
    "default_skill_roots",
    "normalize_root",
    "split_path_list",
]

logger = logging.getLogger(__name__)

RootKind = Literal["bundled", "user", "project", "configured"]
ROOT_KINDS: tuple[str, ...] = ("bundled", "user", "project", "configured")

ENV_SKILL_PATHS = "AUTOSKILL_SKILL_PATHS"
ENV_LIBRARY_DIRS = "AUTOSKILL_LIBRARY_DIRS"

_USER_DIRS = (".agents/skills", ".claude/skills")
_PROJECT_DIRS = ("skills", ".claude/skills", ".agents/skills")


@dataclass(frozen=True)
class SkillRoot:
    """A folder skills are read from.

    Attributes:
        path: Absolute, resolved folder path.
        recursive: Whether every folder below it is searched (else ``SKILL.md`` and
            ``*/SKILL.md`` only).
        kind: ``bundled``, ``user``, ``project`` or ``configured``.
    """

    path: Path
    recursive: bool = False
    kind: RootKind = "configured"

    def __post_init__(self) -> None:
        if self.kind not in ROOT_KINDS:
            raise ConfigError(f"root kind must be one of {ROOT_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def split_path_list(value: str | None) -> list[str]:
    """Split an environment value on ``os.pathsep`` and commas, dropping empty parts."""
    if not value:
        return []
    separators = {os.pathsep, ","}
    pattern = "|".join(re.escape(sep) for sep in sorted(separators))
    return [part.strip() for part in re.split(pattern, value) if part.strip()]


def normalize_root(path: str | os.PathLike[str], home: Path | None = None) -> Path:
    """Expand ``~`` (against ``home`` when given) and resolve to an absolute real path."""
    text = os.fspath(path)
    if home is not None and (text == "~" or text.startswith(("~/", "~" + os.sep))):
        candidate = home / text[2:] if len(text) > 1 else home
    else:
        candidate = Path(text).expanduser()
    return candidate.resolve(strict=False)


def bundled_skill_root() -> Path | None:
    """The folder of skills shipped with the package, or None when it cannot be a path."""
    try:
        from importlib.resources import files

        resource = files("autoskill") / "library"
        candidate = Path(os.fspath(resource))  # type: ignore[arg-type]
    except (ImportError, TypeError, ValueError, OSError):
        # A zipped install (no real path) or an unusual loader: fall back to the source tree.
        candidate = Path(__file__).resolve().parent.parent / "library"
    return candidate


def default_skill_roots(
    project_dir: str | os.PathLike[str] | None = None,
    include_missing: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[SkillRoot]:
    """Return the standard skill roots in increasing precedence.

    Args:
        project_dir: Project folder for project roots (the current directory by default).
        include_missing: Also return roots that do not exist (yet).
        env: Environment to read ``HOME``, ``AUTOSKILL_SKILL_PATHS`` and
            ``AUTOSKILL_LIBRARY_DIRS`` from (``os.environ`` by default).

    Returns:
        Roots with ``recursive=False`` and their ``kind``. A folder reachable under two
        names (a link, or a project that is the home folder) is listed once, at its first
        (lowest-precedence) position, as the R registry's ``unique()`` does; scanning it
        twice would only reload the same skills.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    home_text = environ.get("HOME") or environ.get("USERPROFILE")
    home = Path(home_text) if home_text else Path.home()
    project = Path(project_dir) if project_dir is not None else Path.cwd()

    candidates: list[tuple[Path, RootKind]] = []
    bundled = bundled_skill_root()
    if bundled is not None:
        candidates.append((bundled, "bundled"))
    candidates.extend((home / rel, "user") for rel in _USER_DIRS)
    candidates.extend((project / rel, "project") for rel in _PROJECT_DIRS)
    for variable in (ENV_SKILL_PATHS, ENV_LIBRARY_DIRS):
        candidates.extend((Path(part), "configured") for part in split_path_list(environ.get(variable)))

    roots: list[SkillRoot] = []
    seen: set[Path] = set()
    for raw, kind in candidates:
        path = normalize_root(raw, home=home)
        if path in seen:
            continue
        if not include_missing and not path.is_dir():
            continue
        seen.add(path)
        roots.append(SkillRoot(path=path, recursive=False, kind=kind))
    logger.debug("default skill roots: %s", [str(r.path) for r in roots])
    return roots
