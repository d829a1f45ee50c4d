"""Fixtures for registry tests: build skill folders on disk in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

MakeSkill = Callable[..., Path]


def _write_skill(
    root: Path,
    folder: str,
    *,
    name: str | None = None,
    description: str | None = "A test skill.",
    frontmatter: dict[str, object] | None = None,
    body: str = "Do the thing step by step.",
    filename: str = "SKILL.md",
    raw: str | bytes | None = None,
) -> Path:
    """Create ``root/folder/SKILL.md`` and return the folder.

    ``name`` defaults to the folder's last part; ``description=None`` leaves it out;
    ``raw`` writes the file verbatim instead (text or bytes).
    """
    skill_dir = root / folder
    skill_dir.mkdir(parents=True, exist_ok=True)
    target = skill_dir / filename
    if raw is not None:
        if isinstance(raw, bytes):
            target.write_bytes(raw)
        else:
            target.write_text(raw, encoding="utf-8")
        return skill_dir
    data: dict[str, object] = {"name": name if name is not None else Path(folder).name}
    if description is not None:
        data["description"] = description
    data.update(frontmatter or {})
    text = "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n\n" + body + "\n"
    target.write_text(text, encoding="utf-8")
    return skill_dir


@pytest.fixture
def make_skill() -> MakeSkill:
    """``make_skill(root, "folder", name=..., description=..., frontmatter={...})``."""
    return _write_skill
