"""Conversions between AutoSkill types and LangChain ``Document``.

A skill becomes a Document whose ``page_content`` is the skill as an agent reads it
(:func:`autoskill.retrieval.context.render_skill_block`) and whose ``id`` is the skill id,
with exactly these metadata keys: ``skill_id``, ``name``, ``version``, ``user_id``,
``scope`` (``user`` or ``library``) and ``tags`` (a list).

A Document is a *skill document* (see :func:`is_skill_document`) when its metadata has a
``skill_id`` key (it came out of this integration), or ``autoskill_skill`` set to ``True``
(an explicit request to store it as a skill). Every other Document is a plain record and
is stored exactly as given.
"""

from __future__ import annotations

import copy
from typing import Any

from langchain_core.documents import Document

from autoskill.retrieval.context import render_skill_block
from autoskill.retrieval.hybrid import SkillHit
from autoskill.retrieval.skill_documents import (
    SKILL_FLAG,
    SKILL_METADATA_KEYS,
    has_skill_marker,
    skill_from_document,
    skill_metadata,
)
from autoskill.skill.model import Skill
from autoskill.store.base import Record

__all__ = [
    "SKILL_FLAG",
    "SKILL_METADATA_KEYS",
    "document_to_skill",
    "hit_to_document",
    "is_skill_document",
    "record_to_document",
    "skill_metadata",
    "skill_to_document",
]


def skill_to_document(skill: Skill, **extra_metadata: Any) -> Document:
    """A skill as a Document (``id`` is the skill id; ``extra_metadata`` is appended)."""
    return Document(id=skill.id, page_content=render_skill_block(skill),
                    metadata={**skill_metadata(skill), **extra_metadata})


def hit_to_document(hit: SkillHit) -> Document:
    """A search hit as the retriever returns it: skill metadata plus ``score`` and ``matched_by``."""
    return skill_to_document(hit.skill, score=hit.score, matched_by=list(hit.matched_by))


_SCALARS = frozenset((str, int, float, bool, type(None)))


def copied_metadata(metadata: Any) -> dict[str, Any]:
    """A copy of stored metadata a caller may change freely (never shared with the store).

    Flat metadata of plain values (the common case) needs only a shallow copy, several
    times cheaper than ``deepcopy`` on every search result.
    """
    for value in metadata.values():
        if type(value) not in _SCALARS:  # a nested (mutable) value: copy it all the way down
            return copy.deepcopy(dict(metadata))
    return dict(metadata)


def _validated_document(doc_id: str | None, text: str, metadata: dict[str, Any]) -> Document:
    return Document(id=doc_id, page_content=text, metadata=metadata)


def _prebuilt_document(doc_id: str | None, text: str, metadata: dict[str, Any]) -> Document:
    # What pydantic's own ``model_construct`` does, minus its per-field loop: set the
    # instance dict and the bookkeeping attributes directly. Only for values the validator
    # would keep as they are (a str id, a str text, a fresh dict), which stored records
    # always are; about 3x faster than validating, which is a third of a user-filtered
    # search's time.
    document = _new_document(Document)
    _set(document, "__dict__", {"id": doc_id, "metadata": metadata, "page_content": text, "type": "Document"})
    _set(document, "__pydantic_fields_set__", {"id", "metadata", "page_content"})
    _set(document, "__pydantic_extra__", None)
    _set(document, "__pydantic_private__", None)
    return document


_new_document = object.__new__
_set = object.__setattr__


def _document_builder() -> Any:
    """The fast builder if it makes exactly what ``Document(...)`` makes on this
    langchain-core and pydantic, else the validating constructor."""
    try:
        sample = {"user_id": "u1", "n": 1}
        fast = _prebuilt_document("id-1", "text", dict(sample))
        slow = _validated_document("id-1", "text", dict(sample))
        same = (fast == slow and fast.__dict__ == slow.__dict__ and list(fast.__dict__) == list(slow.__dict__)
                and fast.model_fields_set == slow.model_fields_set
                and fast.__pydantic_extra__ == slow.__pydantic_extra__
                and fast.__pydantic_private__ == slow.__pydantic_private__
                and fast.model_dump() == slow.model_dump() and repr(fast) == repr(slow))
    except Exception:  # noqa: BLE001 - any difference in the framework's internals: validate
        same = False
    return _prebuilt_document if same else _validated_document


_build_document = _document_builder()


def record_to_document(record: Record) -> Document:
    """A stored plain record as the Document that was added (metadata copied, never shared)."""
    metadata = copied_metadata(record.metadata)
    if type(record.id) is str and type(record.text) is str:
        return _build_document(record.id, record.text, metadata)
    return Document(id=record.id, page_content=record.text, metadata=metadata)


def is_skill_document(document: Document) -> bool:
    """Whether ``document`` is stored as a skill rather than as a plain record.

    True when its metadata has a ``skill_id`` key, or ``autoskill_skill`` is ``True``.
    """
    return has_skill_marker(document.metadata)


def document_to_skill(
    document: Document,
    *,
    user_id: str,
    skill_id: str | None = None,
    existing: Skill | None = None,
) -> Skill:
    """Build the user skill a skill document stands for.

    The content comes from ``page_content``: a SKILL.md text (it starts with ``---``) is
    parsed; text equal to ``existing`` rendered as a block keeps ``existing``'s content;
    any other text becomes the instructions of a skill named ``metadata["name"]`` (with
    ``description``, ``tags``, ``triggers``, ``examples``, ``aliases``, ``when_to_use``
    taken from the metadata when present). The owner is always ``user_id``: a skill
    document never writes a shared library.

    Args:
        document: A document for which :func:`is_skill_document` is true.
        user_id: The owner.
        skill_id: The id to store it under ("" or None: derived from owner and name).
        existing: The stored skill with that id, when updating one.

    Raises:
        SkillValidationError: No usable name, or a field is invalid.
        SkillParseError: ``page_content`` looks like SKILL.md but cannot be parsed.
    """
    return skill_from_document(document.page_content, document.metadata, user_id=user_id,
                               skill_id=skill_id, existing=existing)
