"""Strict Agent Skills spec checks for skill folders (what ``autoskill validate`` runs).

Reading is lenient elsewhere; this module says exactly what a file breaks so an author can
fix it. The rules mirror the agentskills.io reference validator plus the two our own
writer guarantees: no ``<``/``>`` in descriptions and no ``---`` inside frontmatter values
(reference parsers split the file on it).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from autoskill.errors import SkillParseError
from autoskill.skill.folder import MAX_SKILL_MD_BYTES, decode_skill_bytes, find_skill_file
from autoskill.skill.normalize import COMPATIBILITY_MAX, DESCRIPTION_MAX, NAME_MAX
from autoskill.skill.skillmd import SPEC_KEYS, split_frontmatter

__all__ = ["ValidationResult", "validate_skill_dir", "validate_skill_text"]


@dataclass(frozen=True)
class ValidationResult:
    """The problems found in one skill folder (empty means valid)."""

    path: Path
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the folder passed every check."""
        return not self.problems


def _name_problems(name: object, dir_name: str | None) -> list[str]:
    if not isinstance(name, str) or not name.strip():
        return ["field 'name' must be a non-empty string"]
    name = unicodedata.normalize("NFKC", name.strip())
    problems = []
    if len(name) > NAME_MAX:
        problems.append(f"field 'name' is {len(name)} characters (limit {NAME_MAX})")
    if name != name.lower():
        problems.append(f"field 'name' {name!r} must be lowercase")
    if name.startswith("-") or name.endswith("-") or "--" in name:
        problems.append(f"field 'name' {name!r} has a leading, trailing or double hyphen")
    if not all(c.isalnum() or c == "-" for c in name):
        problems.append(f"field 'name' {name!r} may hold only letters, digits and hyphens")
    if dir_name is not None and unicodedata.normalize("NFKC", dir_name) != name:
        problems.append(f"field 'name' {name!r} differs from its folder {dir_name!r}")
    return problems


def validate_skill_text(text: str, *, dir_name: str | None = None) -> list[str]:
    """Return the spec problems of SKILL.md ``text`` (empty list when it is valid)."""
    frontmatter, _ = split_frontmatter(text)
    if frontmatter is None:
        return ["no YAML frontmatter: the file must start with --- and close it with ---"]
    problems: list[str] = []
    if any("---" in line for line in frontmatter.split("\n")):
        problems.append("a '---' inside the frontmatter ends it early for spec parsers")
    try:
        data = yaml.safe_load(frontmatter)
    except yaml.YAMLError as exc:
        reason = str(exc).replace("\n", " ")
        return problems + [f"invalid YAML frontmatter: {reason}"]
    if not isinstance(data, dict):
        return problems + ["frontmatter is not a mapping"]
    extra = sorted(str(k) for k in data if k not in SPEC_KEYS)
    if extra:
        problems.append(f"keys outside the spec: {', '.join(extra)} (allowed: {', '.join(SPEC_KEYS)})")
    if "name" not in data:
        problems.append("missing required field 'name'")
    else:
        problems.extend(_name_problems(data["name"], dir_name))
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append("field 'description' must be a non-empty string")
    else:
        if len(description) > DESCRIPTION_MAX:
            problems.append(f"field 'description' is {len(description)} characters (limit {DESCRIPTION_MAX})")
        if "<" in description or ">" in description:
            problems.append("field 'description' contains '<' or '>'")
    if "compatibility" in data:
        compat = data["compatibility"]
        if not isinstance(compat, str):
            problems.append("field 'compatibility' must be a string")
        elif len(compat) > COMPATIBILITY_MAX:
            problems.append(f"field 'compatibility' is {len(compat)} characters (limit {COMPATIBILITY_MAX})")
    if "license" in data and not isinstance(data["license"], str):
        problems.append("field 'license' must be a string")
    if "allowed-tools" in data and not isinstance(data["allowed-tools"], str):
        problems.append("field 'allowed-tools' must be a space-separated string")
    if "metadata" in data:
        meta = data["metadata"]
        if not isinstance(meta, dict):
            problems.append("field 'metadata' must be a map of string to string")
        else:
            bad = sorted(str(k) for k, v in meta.items() if not isinstance(k, str) or not isinstance(v, str))
            if bad:
                problems.append(f"field 'metadata' values must be strings: {', '.join(bad)}")
    return problems


def validate_skill_dir(skill_dir: str | Path) -> ValidationResult:
    """Check one skill folder against the spec."""
    folder = Path(skill_dir)
    skill_file = find_skill_file(folder)
    if skill_file is None:
        return ValidationResult(folder, ("missing SKILL.md",))
    problems: list[str] = []
    if skill_file.name != "SKILL.md":
        problems.append(f"file is named {skill_file.name!r}; the spec says SKILL.md")
    try:
        data = skill_file.read_bytes()[: MAX_SKILL_MD_BYTES + 1]
        if len(data) > MAX_SKILL_MD_BYTES:
            return ValidationResult(folder, (f"SKILL.md is over {MAX_SKILL_MD_BYTES} bytes",))
        text, _ = decode_skill_bytes(data, str(skill_file))
        if data.startswith(b"\xef\xbb\xbf"):
            problems.append("file starts with a byte-order mark")
    except (OSError, SkillParseError) as exc:
        return ValidationResult(folder, (str(exc),))
    problems.extend(validate_skill_text(text, dir_name=folder.name))
    return ValidationResult(folder, tuple(problems))
