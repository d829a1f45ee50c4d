"""``SkillRetriever``: AutoSkill's hybrid skill search as a LlamaIndex ``BaseRetriever``."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from autoskill.client import AutoSkill
from autoskill.store.base import SkillFilter
from autoskill_li.context import resolve_user
from autoskill_li.nodes import hit_to_node

__all__ = ["SkillRetriever"]


class SkillRetriever(BaseRetriever):
    """Skills relevant to a query, for a user, as scored nodes (best first).

    Each node is a skill rendered for an agent (``id_`` is the skill id) with the metadata
    ``skill_id``, ``name``, ``version``, ``user_id``, ``scope``, ``tags`` and ``matched_by``;
    the score (absolute, in [0, 1]) is the hybrid score of :meth:`AutoSkill.search`
    (vector, BM25, name/alias signals), not a raw cosine.

    It plugs in wherever LlamaIndex takes a retriever: ``RetrieverQueryEngine``,
    ``ContextChatEngine`` / ``CondensePlusContextChatEngine``, ``RetrieverTool``. The user
    comes from :func:`autoskill_li.session` when one is active (``retrieve()`` takes no
    user argument), else from ``user_id``.

    Args:
        sdk: The :class:`~autoskill.AutoSkill` to search.
        user_id: Default user (``"default"`` when None).
        k: Number of skills.
        scope: ``"all"`` (the user's skills and shared libraries), ``"user"`` or ``"library"``.
        min_score: Drop skills scoring below this (no threshold by default).
        **kwargs: ``BaseRetriever`` options (``callback_manager``, ``verbose``, ...).
    """

    def __init__(self, sdk: AutoSkill, *, user_id: str | None = None, k: int = 4, scope: str = "all",
                 min_score: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sdk = sdk
        self.user_id = user_id
        self.k = k
        self.scope = SkillFilter(scope=scope).scope  # ConfigError on anything else; "common" -> "library"
        self.min_score = min_score

    def _options(self) -> dict[str, Any]:
        return {"user_id": resolve_user(None, self.user_id), "limit": self.k, "scope": self.scope,
                "min_score": self.min_score}

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [hit_to_node(hit) for hit in self.sdk.search(query_bundle.query_str, **self._options())]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await self.sdk.asearch(query_bundle.query_str, **self._options())
        return [hit_to_node(hit) for hit in hits]
