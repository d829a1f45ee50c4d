"""The skill-as-document contract shared by the LangChain and LlamaIndex integrations.

A skill becomes a framework document (a LangChain ``Document``, a LlamaIndex ``TextNode``)
whose text is the rendered skill block and whose metadata holds the six contract keys; a
document marked as a skill (``skill_id`` in its metadata, or ``autoskill_skill: True``)
becomes a user skill again. Each integration wraps these in its own document type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoskill.learning.maintain import bump_version
from autoskill.retrieval.context import render_skill_block
from autoskill.skill.model import Skill
from autoskill.skill.skillmd import parse_skill_md

__all__ = ["SKILL_FLAG", "SKILL_METADATA_KEYS", "has_skill_marker", "skill_from_document", "skill_metadata"]

SKILL_FLAG = "autoskill_skill"
SKILL_METADATA_KEYS: tuple[str, ...] = ("skill_id", "name", "version", "user_id", "scope", "tags")
# Optional metadata keys a skill document may carry to fill the skill's fields.
_LIST_FIELDS = ("tags", "triggers", "examples", "aliases")
_TEXT_FIELDS = ("description", "when_to_use")


def skill_metadata(skill: Skill) -> dict[str, Any]:
    """The metadata of a skill document (the six contract keys, nothing else)."""
    return {
        "skill_id": skill.id,
        "name": skill.name,
        "version": skill.version,
        "user_id": skill.user_id,
        "scope": skill.scope,
        "tags": list(skill.tags),
    }


def has_skill_marker(metadata: Mapping[str, Any] | None) -> bool:
    """Whether document metadata marks a skill: a ``skill_id`` key, or ``autoskill_skill`` true."""
    metadata = metadata or {}
    return "skill_id" in metadata or metadata.get(SKILL_FLAG) is True


def skill_from_document(text: str, metadata: Mapping[str, Any] | None, *, user_id: str,
                        skill_id: str | None = None, existing: Skill | None = None) -> Skill:
    """Build the user skill a skill document (its text and metadata) stands for.

    A SKILL.md text (it starts with ``---``) is parsed; text equal to ``existing`` rendered
    as a block keeps ``existing``'s content; any other text becomes the instructions of a
    skill named ``metadata["name"]`` (with ``description``, ``tags``, ``triggers``,
    ``examples``, ``aliases``, ``when_to_use`` taken from the metadata when present). The
    owner is always ``user_id``: a document never writes a shared library. Updating
    ``existing`` keeps its creation time and status and bumps its version when the
    content changed.

    Raises:
        SkillValidationError: No usable name, or a field is invalid.
        SkillParseError: The text looks like SKILL.md but cannot be parsed.
    """
    metadata = metadata or {}
    if text.lstrip().startswith("---"):
        skill = parse_skill_md(text, defaults={"scope": "user", "user_id": user_id})
    elif existing is not None and text == render_skill_block(existing):
        skill = existing
    else:
        fields: dict[str, Any] = {"name": metadata.get("name") or "", "instructions": text}
        fields.update({k: str(metadata[k]) for k in _TEXT_FIELDS if metadata.get(k)})
        fields.update({k: tuple(metadata[k]) for k in _LIST_FIELDS if isinstance(metadata.get(k), (list, tuple))})
        skill = Skill(**fields)
    skill = skill.evolve(scope="user", user_id=user_id, library=None, id=skill_id or "")
    if existing is not None:
        changed = skill.content_hash() != existing.content_hash()
        version = bump_version(existing.version, minor=False) if changed else existing.version
        skill = skill.evolve(version=version, created_at=existing.created_at, status=existing.status,
                             provenance=skill.provenance or existing.provenance)
    return skill
