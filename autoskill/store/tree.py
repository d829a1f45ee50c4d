"""The human-readable SKILL.md tree of a local store.

``Users/<user>/<name>/SKILL.md`` for users' skills and ``Common/<library>/<name>/SKILL.md``
for imported shared libraries. User ids become folder names through a reversible,
injective encoding, so ``a/b`` or ``..`` can never climb out of ``Users/``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from urllib.parse import quote, unquote

from autoskill._fs import contained_path
from autoskill.skill.folder import write_skill_dir
from autoskill.skill.model import Skill
from autoskill.skill.skillmd import render_skill_md

__all__ = ["SkillTree", "decode_owner", "encode_owner", "file_hash"]

USERS_DIR = "Users"
COMMON_DIR = "Common"
_SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


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

    def write(self, skill: Skill, *, fsync: bool = True, skill_md: str | None = None) -> tuple[str, str]:
        """Write ``skill``'s folder; return (relative folder, hash of the SKILL.md written)."""
        relative = self.folder_for(skill)
        parent = contained_path(self.root, relative.parent.as_posix())
        text = skill_md if skill_md is not None else render_skill_md(skill)
        write_skill_dir(skill, parent, fsync=fsync, skill_md=text)
        return relative.as_posix(), file_hash(text)

    def remove(self, relative: str) -> None:
        """Delete a skill folder from the tree (only inside the root)."""
        folder = contained_path(self.root, relative)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        # Tidy an owner folder left empty, so listings stay honest.
        owner = folder.parent
        if owner != self.root and owner.is_dir() and not any(owner.iterdir()):
            owner.rmdir()

    def skill_md(self, relative: str) -> Path:
        """Path of the SKILL.md of a folder in the tree."""
        return contained_path(self.root, relative) / "SKILL.md"
