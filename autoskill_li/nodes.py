"""Conversions between AutoSkill types and LlamaIndex nodes.

A skill becomes a ``TextNode`` whose ``id_`` is the skill id, whose text is the skill as an
agent reads it (:func:`autoskill.retrieval.context.render_skill_block`) and whose metadata
holds exactly ``skill_id``, ``name``, ``version``, ``user_id``, ``scope`` (``user`` or
``library``) and ``tags`` (plus ``matched_by`` on retriever results). Bookkeeping keys are
hidden from the LLM and embedding views; ``name`` and ``tags`` stay visible.

A node is a *skill node* (:func:`is_skill_node`) when its metadata has ``skill_id``, or
``autoskill_skill`` set to ``True``, and it is whole: a chunk a node parser cut out of a
longer document (it has a previous or next sibling) is stored as a plain record, since a
fragment of a skill is not a skill. Every other node is a plain record, stored with
LlamaIndex's own node serialisation so it comes back exactly as it went in.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode, NodeRelationship, NodeWithScore, TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

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
    "hit_to_node",
    "is_skill_node",
    "node_text",
    "node_to_record",
    "node_to_skill",
    "record_to_node",
    "skill_metadata",
    "skill_to_node",
]

# Kept out of what the LLM and the embedder see: ids and bookkeeping, not content.
_HIDDEN_KEYS = ["skill_id", "version", "user_id", "scope", "matched_by", "source"]


def skill_to_node(skill: Skill, **extra_metadata: Any) -> TextNode:
    """A skill as a ``TextNode`` (``id_`` is the skill id; ``extra_metadata`` is appended)."""
    return TextNode(
        id_=skill.id,
        text=render_skill_block(skill),
        metadata={**skill_metadata(skill), **extra_metadata},
        excluded_embed_metadata_keys=list(_HIDDEN_KEYS),
        excluded_llm_metadata_keys=list(_HIDDEN_KEYS),
    )


def hit_to_node(hit: SkillHit) -> NodeWithScore:
    """A search hit as a retriever returns it: the skill node (with ``matched_by``) and its score."""
    return NodeWithScore(node=skill_to_node(hit.skill, matched_by=list(hit.matched_by)), score=hit.score)


def node_text(node: BaseNode) -> str:
    """The node's own text, without metadata."""
    return node.get_content(metadata_mode=MetadataMode.NONE)


def _is_fragment(node: BaseNode) -> bool:
    relationships = node.relationships or {}
    return NodeRelationship.PREVIOUS in relationships or NodeRelationship.NEXT in relationships


def is_skill_node(node: BaseNode) -> bool:
    """Whether ``node`` is stored as a skill rather than as a plain record.

    True when its metadata has a ``skill_id`` key, or ``autoskill_skill`` is ``True``, and it
    is not a chunk of a longer document.
    """
    return has_skill_marker(node.metadata) and not _is_fragment(node)


def node_to_skill(node: BaseNode, *, user_id: str, skill_id: str | None = None,
                  existing: Skill | None = None) -> Skill:
    """Build the user skill a skill node stands for.

    The content comes from the node's text: a SKILL.md text (it starts with ``---``) is
    parsed; text equal to ``existing`` rendered as a block keeps ``existing``'s content; any
    other text becomes the instructions of a skill named ``metadata["name"]`` (with
    ``description``, ``tags``, ``triggers``, ``examples``, ``aliases``, ``when_to_use`` taken
    from the metadata when present). The owner is always ``user_id``: a node never writes a
    shared library.

    Raises:
        SkillValidationError: No usable name, or a field is invalid.
        SkillParseError: The text looks like SKILL.md but cannot be parsed.
    """
    return skill_from_document(node_text(node), node.metadata, user_id=user_id, skill_id=skill_id,
                               existing=existing)


def node_to_record(node: BaseNode, namespace: str) -> Record:
    """A plain node as a store record: text apart, everything else in LlamaIndex's own
    metadata serialisation (``_node_content``, ``ref_doc_id``, ...), user metadata on top
    so filters can read it."""
    metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=False)
    return Record(id=node.node_id, text=node_text(node), metadata=metadata, namespace=namespace)


def record_to_node(record: Record) -> BaseNode:
    """The node a record was made from (no embedding: the vector stays in the index)."""
    return metadata_dict_to_node(dict(record.metadata), text=record.text)
