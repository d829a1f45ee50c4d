"""SKILL.md: render a Skill to the Agent Skills format and read SKILL.md files leniently.

What we write passes the reference validator (``skills-ref``): the frontmatter holds only
the six spec keys, every value is double-quoted on one line, our own fields live in
``metadata`` as strings, and a ``---`` inside a value is escaped (the reference parser
splits the file on the first two ``---`` it meets, even inside quotes).

What we read we read the way agents do: a BOM, CRLF, an unquoted ``: `` in a value, the
seed's older layout (id/version/tags/triggers at the top level, a ``## Prompt`` section)
and the extension keys agents use (``aliases``, ``when_to_use``, ``paths``, ...).
Problems that still leave a usable skill become warnings; the rest raise
:class:`~autoskill.errors.SkillParseError` naming the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autoskill.errors import SkillParseError, SkillValidationError
from autoskill.skill import normalize as norm
from autoskill.skill.model import DEFAULT_VERSION, RESERVED_METADATA_KEYS, STATUSES, Skill

__all__ = ["ParsedSkill", "parse_skill_md", "read_skill_md", "render_skill_md", "split_frontmatter"]

SPEC_KEYS = ("name", "description", "license", "compatibility", "allowed-tools", "metadata")
MAX_FRONTMATTER_CHARS = 256 * 1024

_DELIMITER = re.compile(r"^(?:---|\.\.\.)[ \t]*$")
# A key stays unquoted only when YAML cannot read it as anything but a string: it starts
# with a letter and is not one of YAML 1.1's booleans or null ("00" would come back as 0).
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_TOP_LEVEL_ENTRY = re.compile(r"^([^\s#:][^:]*?):(?:[ \t]+(.*))?$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")

# Keys a file may use at the top level (older layouts, agent extensions) and the Skill
# field each one feeds.
_FIELD_ALIASES: dict[str, str] = {
    "id": "id",
    "skill_id": "id",
    "version": "version",
    "tags": "tags",
    "triggers": "triggers",
    "examples": "examples",
    "aliases": "aliases",
    "when_to_use": "when_to_use",
    "when-to-use": "when_to_use",
    "whentouse": "when_to_use",
    "paths": "paths",
    "globs": "paths",
    "display_name": "display_name",
    "displayname": "display_name",
    "allowed-tools": "allowed_tools",
    "allowed_tools": "allowed_tools",
    "status": "status",
}
_LIST_FIELDS = {"tags", "triggers", "examples", "aliases", "paths"}


# -- rendering --------------------------------------------------------------------------


# Skill text is normalised (no control characters but tab and newline), so escaping these
# is exact; YAML reads \x85, \u2028 and \u2029 as line breaks, so they are escaped too.
_YAML_ESCAPES = str.maketrans({
    "\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r",
    "\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P",
})
_STILL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")


def _quote(value: str) -> str:
    """One double-quoted YAML scalar on one line, with ``---`` escaped for the validator."""
    text = value.translate(_YAML_ESCAPES)
    if _STILL_UNSAFE.search(text):  # not from a normalised Skill; escape rather than fail
        text = _STILL_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
    return '"' + text.replace("---", "\\x2d\\x2d\\x2d") + '"'


def _key(name: str) -> str:
    return name if _PLAIN_KEY.match(name) and name.lower() not in _YAML_WORDS else _quote(name)


def _skill_metadata(skill: Skill) -> dict[str, str]:
    """Our fields as the spec's string-to-string metadata, then the skill's own metadata."""
    meta: dict[str, str] = {"id": skill.id, "version": skill.version}
    if skill.display_name:
        meta["display_name"] = skill.display_name
    if skill.description_full:
        meta["description_full"] = skill.description_full
    meta["status"] = skill.status
    meta["scope"] = skill.scope
    if skill.user_id:
        meta["user_id"] = skill.user_id
    if skill.library:
        meta["library"] = skill.library
    for name in ("tags", "triggers", "aliases", "paths", "examples"):
        values = getattr(skill, name)
        if values:
            meta[name] = json.dumps(list(values), ensure_ascii=False)
    if skill.when_to_use:
        meta["when_to_use"] = skill.when_to_use
    if skill.provenance:
        meta["provenance"] = json.dumps([dict(p) for p in skill.provenance], ensure_ascii=False)
    meta["created_at"] = skill.created_at
    meta["updated_at"] = skill.updated_at
    meta.update(skill.metadata)
    return meta


def render_skill_md(skill: Skill) -> str:
    """Render ``skill`` as SKILL.md text that passes the Agent Skills reference validator."""
    lines = ["---", f"name: {_quote(skill.name)}", f"description: {_quote(skill.description)}"]
    if skill.license:
        lines.append(f"license: {_quote(skill.license)}")
    if skill.compatibility:
        lines.append(f"compatibility: {_quote(skill.compatibility)}")
    if skill.allowed_tools:
        lines.append(f"allowed-tools: {_quote(' '.join(skill.allowed_tools))}")
    lines.append("metadata:")
    lines.extend(f"  {_key(k)}: {_quote(v)}" for k, v in _skill_metadata(skill).items())
    lines.append("---")
    text = "\n".join(lines) + "\n"
    if skill.instructions:
        text += "\n" + skill.instructions + "\n"
    return text


# -- parsing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedSkill:
    """A skill read from text, with the warnings reading it produced."""

    skill: Skill
    warnings: tuple[str, ...] = field(default=())


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases: frontmatter never needs them, and an
    alias bomb (a few hundred bytes expanding to gigabytes) must not reach our code."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases are not allowed in SKILL.md frontmatter", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        # YAML keeps the last of two equal keys without a word; a reader should hear of it.
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    self.duplicates.append(str(key_node.value))
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """Split SKILL.md text into (frontmatter or None, body). Handles BOM and CRLF."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start >= len(lines) or lines[start].rstrip() != "---":
        return None, text
    for end in range(start + 1, len(lines)):
        if _DELIMITER.match(lines[end]):
            return "\n".join(lines[start + 1 : end]), "\n".join(lines[end + 1 :])
    return None, text


def _load_yaml(frontmatter: str, duplicates: list[str] | None = None) -> Any:
    loader = _NoAliasLoader(frontmatter)  # a SafeLoader subclass
    try:
        return loader.get_single_data()
    finally:
        if duplicates is not None:
            duplicates.extend(loader.duplicates)
        loader.dispose()


def _quote_plain_values(frontmatter: str) -> str:
    """Rewrite top-level plain scalars as quoted strings (the agents' lenient retry).

    Real files write ``description: Use when: things happen``; YAML reads the second
    ``: `` as a mapping. Quoting the whole value (continuation lines included) fixes it.
    """
    out: list[str] = []
    lines = frontmatter.replace("\t", "  ").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _TOP_LEVEL_ENTRY.match(line)
        value = (match.group(2) or "").strip() if match else ""
        if not match or not value or value[0] in "'\"[{|>&*!" or value.startswith("#"):
            out.append(line)
            i += 1
            continue
        parts = [value]
        i += 1
        while i < len(lines) and lines[i][:1] in (" ", "") and lines[i].strip():
            parts.append(lines[i].strip())
            i += 1
        joined = " ".join(parts).replace("'", "''")
        out.append(f"{match.group(1)}: '{joined}'")
    return "\n".join(out)


def _parse_frontmatter(frontmatter: str, source: str | None, warnings: list[str]) -> dict[str, Any]:
    if len(frontmatter) > MAX_FRONTMATTER_CHARS:
        raise SkillParseError(source, f"frontmatter larger than {MAX_FRONTMATTER_CHARS} characters")
    duplicates: list[str] = []
    try:
        data = _load_yaml(frontmatter, duplicates)
    except yaml.YAMLError as first_error:
        if "aliases are not allowed" in str(first_error):
            raise SkillParseError(source, "YAML aliases are not allowed in frontmatter") from None
        duplicates.clear()
        try:
            data = _load_yaml(_quote_plain_values(frontmatter), duplicates)
        except yaml.YAMLError:
            reason = str(first_error).replace("\n", " ")
            raise SkillParseError(source, f"invalid YAML frontmatter: {reason}") from None
        warnings.append(f"{source or '<text>'}: frontmatter needed quoting (unquoted ': ' in a value)")
    except RecursionError:
        raise SkillParseError(source, "frontmatter nests too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise SkillParseError(source, "frontmatter is not a mapping of keys to values")
    if duplicates:
        names = ", ".join(repr(d) for d in dict.fromkeys(duplicates))
        warnings.append(f"{source or '<text>'}: duplicate keys in frontmatter ({names}); the last value of each is used")
    return {str(k): v for k, v in data.items()}


def _legacy_instructions(body: str) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """Pull (instructions, triggers, examples) out of the seed's older body layout."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in body.split("\n"):
        heading = _HEADING.match(line)
        if heading and len(heading.group(1)) == 2:
            current = heading.group(2).strip().lower()
            sections.setdefault(current, [])
            continue
        if current is not None:
            sections[current].append(line)
    prompt = sections.get("prompt") or sections.get("instructions")
    if prompt is None:
        return None
    triggers = norm.coerce_string_list("\n".join(sections.get("triggers", [])), separator="\n")
    return "\n".join(prompt), triggers, ()


def _consume(field_name: str, value: Any, fields: dict[str, Any], extra: dict[str, str],
             source: str, warnings: list[str]) -> None:
    """Store a known key's value into ``fields``, leniently; odd values become warnings."""
    if field_name in _LIST_FIELDS:
        if field_name == "examples" and isinstance(value, list):
            fields["examples"] = tuple(
                v if isinstance(v, Mapping) else norm.clean_block(v) for v in value if v
            )
        elif field_name == "examples":
            fields["examples"] = norm.coerce_string_list(value, separator="\n")
        else:
            fields[field_name] = norm.coerce_string_list(value)
        return
    if field_name == "allowed_tools":
        fields["allowed_tools"] = norm.split_allowed_tools(value)
        return
    if field_name == "version":
        version = norm.normalize_version(value)
        if version is None:
            warnings.append(f"{source}: version {value!r} is not semantic; using {DEFAULT_VERSION}")
            extra["upstream_version"] = norm.metadata_value(value)
        else:
            fields["version"] = version
        return
    if field_name == "status":
        status = norm.clean_line(value).lower()
        if status in STATUSES:
            fields["status"] = status
        else:
            extra["upstream_status"] = norm.metadata_value(value)
        return
    if field_name == "scope":
        scope = norm.clean_line(value).lower()
        if scope in ("user", "library", "common"):
            fields["scope"] = scope
        return
    if field_name == "provenance":
        try:
            loaded = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            loaded = None
        if isinstance(loaded, list) and all(isinstance(p, Mapping) for p in loaded):
            fields["provenance"] = tuple(loaded)
        else:
            warnings.append(f"{source}: unreadable provenance ignored")
        return
    fields[field_name] = norm.metadata_value(value)


def read_skill_md(
    text: str,
    *,
    source: str | Path | None = None,
    dir_name: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> ParsedSkill:
    """Parse SKILL.md text into a Skill, collecting warnings instead of failing where possible.

    Args:
        text: The file's text.
        source: File path, used in messages.
        dir_name: Name of the folder holding the file (the spec wants ``name`` equal to it).
        defaults: Skill fields to use when the file does not set them (scope, library, ...).

    Raises:
        SkillParseError: No frontmatter, broken YAML, or no description.
    """
    where = str(source) if source is not None else "<text>"
    warnings: list[str] = []
    frontmatter, body = split_frontmatter(text)
    if frontmatter is None:
        raise SkillParseError(source, "no YAML frontmatter (the file must start with ---)")
    data = _parse_frontmatter(frontmatter, where, warnings)

    fields: dict[str, Any] = dict(defaults or {})
    extra: dict[str, str] = {}
    legacy = False
    for key, value in data.items():
        lowered = key.strip().lower()
        if lowered in ("name", "description", "license", "compatibility", "metadata"):
            continue
        target = _FIELD_ALIASES.get(lowered)
        if target is None:
            if value is not None:
                extra[key] = norm.metadata_value(value)
            continue
        if lowered in ("id", "version", "triggers", "examples"):
            legacy = True
        if value is not None:
            _consume(target, value, fields, extra, where, warnings)

    meta = data.get("metadata")
    if isinstance(meta, Mapping):
        for key, value in meta.items():
            key_text = str(key)
            if value is None:
                continue
            if key_text in RESERVED_METADATA_KEYS:
                target = key_text
                _consume(target, value, fields, extra, where, warnings)
            else:
                extra[key_text] = norm.metadata_value(value)
    elif meta is not None:
        warnings.append(f"{where}: metadata is not a mapping; kept as text")
        extra["metadata"] = norm.metadata_value(meta)

    for key in ("license", "compatibility"):
        if data.get(key) is not None:
            fields[key] = norm.metadata_value(data[key])

    description = data.get("description")
    if description is None or not norm.clean_line(norm.metadata_value(description)):
        raise SkillParseError(source, "missing description")
    fields["description"] = norm.metadata_value(description)

    name = norm.clean_line(norm.metadata_value(data.get("name"))) if data.get("name") is not None else ""
    if not name:
        if not dir_name:
            raise SkillParseError(source, "missing name")
        warnings.append(f"{where}: no name in frontmatter; using the folder name {dir_name!r}")
        name = dir_name
    fields["name"] = name

    instructions = body
    if legacy and not isinstance(meta, Mapping):
        pulled = _legacy_instructions(body)
        if pulled is not None:
            instructions, triggers, _ = pulled
            if triggers and not fields.get("triggers"):
                fields["triggers"] = triggers
    fields["instructions"] = instructions
    fields["metadata"] = {k: v for k, v in extra.items() if k not in RESERVED_METADATA_KEYS}

    try:
        skill = Skill(**fields)
    except SkillValidationError as exc:
        raise SkillParseError(source, str(exc)) from None
    if dir_name and norm.slugify(dir_name) != skill.name and dir_name != skill.name:
        warnings.append(f"{where}: name {skill.name!r} differs from its folder {dir_name!r}")
    return ParsedSkill(skill=skill, warnings=tuple(warnings))


def parse_skill_md(text: str, **kwargs: Any) -> Skill:
    """Parse SKILL.md text into a Skill (see :func:`read_skill_md` for arguments)."""
    return read_skill_md(text, **kwargs).skill
