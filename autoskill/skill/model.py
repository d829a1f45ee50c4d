"""The Skill: the unit AutoSkill stores, retrieves and learns.

A Skill is an immutable value. It is normalised when it is created (slugged name,
spec-sized description, clean text, deduplicated lists) so that every Skill renders to a
SKILL.md that passes the Agent Skills validator and parses back to an equal Skill.
Change a Skill with :func:`dataclasses.replace` (or :meth:`Skill.evolve`).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from autoskill.errors import SkillValidationError
from autoskill.skill import normalize as norm

SkillStatus = Literal["active", "draft", "archived"]
SkillScope = Literal["user", "library"]

STATUSES: tuple[str, ...] = ("active", "draft", "archived")
SCOPES: tuple[str, ...] = ("user", "library")
DEFAULT_VERSION = "0.1.0"

# Namespace for ids derived from (scope, owner, name): the same skill imported twice, or
# read by two processes, gets the same id without coordination.
_ID_NAMESPACE = uuid.UUID("6f1d8f5e-2b7a-4c3e-9a51-7d0c2a9e4b11")

# Our own fields travel in the spec's `metadata` map under these keys; a user's metadata
# may not use them, or a render/parse round trip would be ambiguous.
RESERVED_METADATA_KEYS: frozenset[str] = frozenset(
    {
        "id",
        "version",
        "display_name",
        "description_full",
        "tags",
        "triggers",
        "examples",
        "aliases",
        "when_to_use",
        "paths",
        "user_id",
        "scope",
        "library",
        "status",
        "created_at",
        "updated_at",
        "provenance",
    }
)


def derive_skill_id(name: str, *, scope: str, owner: str | None) -> str:
    """Return the stable id of the skill called ``name`` for an owner in a scope."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{scope}:{owner or ''}:{name}"))


def free_skill_id(skill: Skill, is_taken: Callable[[str], bool]) -> str:
    """An id for ``skill`` as a *new* skill that ``is_taken`` says no stored skill holds.

    Its own id first, then the id its name derives, then ``name#2``, ``name#3``, ... derived
    alike: ids outlive renames, so a skill renamed since can hold the id a new skill's name
    derives ("#" never occurs in a name, so these never equal another name's id).
    """
    candidates = [skill.id, derive_skill_id(skill.name, scope=skill.scope, owner=skill.owner)]
    attempt = 1
    while True:
        for skill_id in candidates:
            if not is_taken(skill_id):
                return skill_id
        attempt += 1
        candidates = [derive_skill_id(f"{skill.name}#{attempt}", scope=skill.scope, owner=skill.owner)]


@dataclass(frozen=True, eq=True)
class Skill:
    """A reusable, executable procedure: the content of one SKILL.md plus its bookkeeping.

    Attributes:
        name: Spec name (``a-z 0-9 -``, at most 64). Other text is slugged and kept in
            ``display_name``.
        description: What the skill does and when to use it (spec-sized, see
            ``description_full`` for the untouched text when it had to be cut).
        instructions: The Markdown body an agent follows.
        id: Stable id; derived from scope, owner and name when not given.
        triggers: Phrases or situations that should bring this skill up.
        examples: Representative requests or input/output pairs.
        tags: Topical tags.
        version: Semantic version, ``0.1.0`` first.
        user_id: Owner when ``scope == "user"``.
        scope: ``"user"`` (a user's own) or ``"library"`` (shared, read-only for users).
        library: Name of the shared library a library skill belongs to.
        status: ``active``, ``draft`` or ``archived``.
        aliases: Other names it resolves by.
        when_to_use: Free text on when to apply it.
        paths: File globs the skill applies to.
        allowed_tools: Spec ``allowed-tools`` patterns.
        license: Spec ``license``.
        compatibility: Spec ``compatibility`` (at most 500 characters).
        metadata: Other string metadata (third-party keys are kept here).
        provenance: Where the current version came from (conversations, runs, feedback).
        created_at: ISO-8601 UTC creation time.
        updated_at: ISO-8601 UTC time of the last change.
        display_name: The original name when it was not a spec name.
        description_full: The original description when it had to be cut or cleaned.
        resources: In-memory resource files (relative path -> text or bytes) to write
            beside SKILL.md. Not part of equality.
        source_dir: Folder the skill was read from, whose resources are copied on export.
            Not part of equality.
    """

    name: str
    description: str = ""
    instructions: str = ""
    id: str = ""
    triggers: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    version: str = DEFAULT_VERSION
    user_id: str | None = None
    scope: str = ""
    library: str | None = None
    status: str = "active"
    aliases: tuple[str, ...] = ()
    when_to_use: str = ""
    paths: tuple[str, ...] = ()
    allowed_tools: tuple[str, ...] = ()
    license: str = ""
    compatibility: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    provenance: tuple[Mapping[str, str], ...] = ()
    created_at: str = ""
    updated_at: str = ""
    display_name: str | None = None
    description_full: str | None = None
    resources: Mapping[str, str | bytes] = field(default_factory=dict, compare=False, repr=False)
    source_dir: Path | None = field(default=None, compare=False, repr=False)

    # Skills hold dicts, so value hashing is not offered; identity is `id`.
    __hash__ = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, at creation

        raw_name = norm.clean_line(self.name)
        if not raw_name:
            raise SkillValidationError("name", "must not be empty")
        name = norm.slugify(raw_name)
        display = norm.clean_line(self.display_name) if self.display_name else ""
        if not display and name != raw_name:
            display = raw_name
        set_(self, "name", name)
        set_(self, "display_name", display if display and display != name else None)

        instructions = norm.clean_block(self.instructions)
        set_(self, "instructions", instructions)

        raw_description = norm.clean_line(self.description)
        full = norm.clean_line(self.description_full) if self.description_full else ""
        if not raw_description:
            raw_description = full or _first_sentence(instructions) or f"Skill {display or name}"
        description = norm.spec_description(raw_description)
        if not full and description != raw_description:
            full = raw_description
        set_(self, "description", description)
        set_(self, "description_full", full if full and full != description else None)

        scope = norm.clean_line(self.scope).lower()
        if scope == "common":  # the seed README's word for shared libraries
            scope = "library"
        if not scope:
            scope = "user" if self.user_id else "library"
        if scope not in SCOPES:
            raise SkillValidationError("scope", f"must be one of {SCOPES}, got {scope!r}")
        set_(self, "scope", scope)
        user_id = norm.clean_line(self.user_id) if self.user_id is not None else ""
        set_(self, "user_id", user_id or None)
        library = norm.clean_line(self.library) if self.library is not None else ""
        set_(self, "library", library or None)

        status = norm.clean_line(self.status).lower() or "active"
        if status not in STATUSES:
            raise SkillValidationError("status", f"must be one of {STATUSES}, got {status!r}")
        set_(self, "status", status)

        version = norm.normalize_version(self.version or DEFAULT_VERSION)
        if version is None:
            raise SkillValidationError("version", f"not a semantic version: {self.version!r}")
        set_(self, "version", version)

        set_(self, "triggers", _string_tuple(self.triggers, "triggers"))
        set_(self, "examples", _examples(self.examples))
        set_(self, "tags", _string_tuple(self.tags, "tags", casefold=True))
        set_(self, "aliases", _string_tuple(self.aliases, "aliases", casefold=True))
        set_(self, "paths", _string_tuple(self.paths, "paths"))
        set_(self, "allowed_tools", norm.split_allowed_tools(self.allowed_tools))
        set_(self, "when_to_use", norm.clean_line(self.when_to_use))
        set_(self, "license", norm.clean_line(self.license))
        set_(self, "compatibility", norm.clean_line(self.compatibility)[: norm.COMPATIBILITY_MAX].strip())
        set_(self, "metadata", _metadata(self.metadata))
        set_(self, "provenance", _provenance(self.provenance))

        created = norm.utc_timestamp(self.created_at or None)
        set_(self, "created_at", created)
        set_(self, "updated_at", norm.utc_timestamp(self.updated_at) if self.updated_at else created)

        skill_id = norm.clean_line(self.id)
        if not skill_id:
            owner = self.user_id if self.scope == "user" else self.library
            skill_id = derive_skill_id(self.name, scope=self.scope, owner=owner)
        set_(self, "id", skill_id)
        set_(self, "resources", dict(self.resources or {}))
        if self.source_dir is not None:
            set_(self, "source_dir", Path(self.source_dir))

    # -- conveniences ---------------------------------------------------------------------

    @property
    def title(self) -> str:
        """The name a person reads: the display name when there is one."""
        return self.display_name or self.name

    @property
    def owner(self) -> str | None:
        """The user for a user skill, the library name for a library skill."""
        return self.user_id if self.scope == "user" else self.library

    @property
    def files(self) -> dict[str, str | bytes]:
        """The skill as a folder: ``{"SKILL.md": text, **in-memory resources}`` (seed API)."""
        from autoskill.skill.skillmd import render_skill_md

        return {"SKILL.md": render_skill_md(self), **self.resources}

    def evolve(self, **changes: Any) -> Skill:
        """Return a copy with ``changes`` applied (and normalised)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the content fields as JSON-ready data (resources and source_dir left out)."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("resources", "source_dir"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            data[f.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Skill:
        """Build a Skill from :meth:`to_dict` output (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise SkillValidationError(sorted(unknown)[0], "unknown Skill field")
        kwargs = dict(data)
        for key in ("triggers", "examples", "tags", "aliases", "paths", "allowed_tools", "provenance"):
            if key in kwargs and kwargs[key] is not None:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @classmethod
    def from_trusted_dict(cls, data: Mapping[str, Any]) -> Skill:
        """Rebuild a Skill from :meth:`to_dict` output of a Skill we normalised ourselves.

        Skips normalisation (the store loads many skills on open); anything that does not
        look like our own output takes the normal, checking path.
        """
        if data.keys() != _STORED_NAMES:
            return cls.from_dict(data)
        values = dict(data)
        for key in _TUPLE_FIELDS:
            values[key] = tuple(values[key])
        values["provenance"] = tuple(dict(v) for v in values["provenance"])
        values["metadata"] = dict(values["metadata"])
        values["resources"] = {}
        values["source_dir"] = None
        obj = object.__new__(cls)
        # Frozen blocks attribute assignment, not the instance dict: one update sets all.
        obj.__dict__.update(values)
        return obj

    def content_hash(self) -> str:
        """A hash of what the skill says (not its bookkeeping), to notice edits."""
        import hashlib

        payload = json.dumps(
            [self.name, self.description, self.description_full, self.instructions,
             self.triggers, self.examples, self.tags, self.aliases, self.when_to_use,
             self.paths, self.allowed_tools, self.license, self.compatibility,
             sorted(self.metadata.items())],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Skill))
_TUPLE_FIELDS = frozenset({"triggers", "examples", "tags", "aliases", "paths", "allowed_tools", "provenance"})
_STORED_NAMES = _FIELD_NAMES - {"resources", "source_dir"}  # what to_dict() writes


def _first_sentence(text: str) -> str:
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return ""


def _string_tuple(value: object, field_name: str, *, casefold: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        raise SkillValidationError(field_name, "must be a list of strings, not one string")
    try:
        return norm.unique_strings(value or (), casefold=casefold)  # type: ignore[arg-type]
    except TypeError as exc:
        raise SkillValidationError(field_name, f"must be a list of strings ({exc})") from None


def _examples(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        raise SkillValidationError("examples", "must be a list, not one string")
    items: list[str] = []
    for item in value or ():  # type: ignore[union-attr]
        if isinstance(item, Mapping):  # the seed's {input, output, notes} examples
            parts = [f"{k.capitalize()}: {norm.clean_line(v)}" for k, v in item.items() if v]
            item = "\n".join(parts)
        items.append(norm.clean_block(item))
    return norm.unique_strings(items)


def _metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SkillValidationError("metadata", "must be a mapping of string to string")
    out: dict[str, str] = {}
    for key, item in value.items():
        key_text = norm.clean_line(key)
        if not key_text:
            continue
        if key_text in RESERVED_METADATA_KEYS:
            raise SkillValidationError(
                f"metadata.{key_text}", "is reserved for a Skill field; set the field instead"
            )
        out[key_text] = norm.metadata_value(item)
    return out


def _provenance(value: object) -> tuple[dict[str, str], ...]:
    if isinstance(value, (str, Mapping)):
        raise SkillValidationError("provenance", "must be a list of mappings")
    entries: list[dict[str, str]] = []
    for item in value or ():  # type: ignore[union-attr]
        if not isinstance(item, Mapping):
            raise SkillValidationError("provenance", f"entry is not a mapping: {item!r}")
        entry = {norm.clean_line(k): norm.metadata_value(v) for k, v in item.items()}
        entries.append({k: v for k, v in entry.items() if k})
    return tuple(entries)
