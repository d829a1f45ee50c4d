"""``SkillRetriever``: AutoSkill's hybrid skill search as a LangChain ``BaseRetriever``."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from pydantic import field_validator

from autoskill.client import AutoSkill
from autoskill.store.base import SkillFilter
from autoskill_lc.documents import hit_to_document

__all__ = ["SkillRetriever"]

# Keys read per call from ``config["configurable"]``.
_CONFIGURABLE_KEYS = ("user_id", "thread_id")


class SkillRetriever(BaseRetriever):
    """Skills relevant to a query, for a user, as Documents (best first).

    Each Document is a skill rendered for an agent (``id`` is the skill id) with the
    metadata ``skill_id``, ``name``, ``version``, ``user_id``, ``scope``, ``tags`` plus
    ``score`` (absolute, in [0, 1]) and ``matched_by`` (the signals that matched).

    The user (and thread) can come per call, overriding the constructor: as keyword
    arguments (``retriever.invoke(q, user_id="u2", k=3)``) or from
    ``config["configurable"]["user_id"/"thread_id"]``. Keyword arguments win over the
    config. The thread does not change what is retrieved; it is accepted so that one
    config can drive every AutoSkill component of a chain.

    Args:
        sdk: The :class:`~autoskill.AutoSkill` to search.
        user_id: Default user (``"default"`` when None).
        k: Default number of skills.
        scope: ``"all"`` (the user's skills and shared libraries), ``"user"`` or ``"library"``.
        min_score: Drop skills scoring below this (no threshold by default).
    """

    sdk: AutoSkill
    user_id: str | None = None
    k: int = 4
    scope: str = "all"
    min_score: float | None = None

    @field_validator("scope")
    @classmethod
    def _check_scope(cls, value: str) -> str:
        return SkillFilter(scope=value).scope  # ConfigError on anything else; "common" -> "library"

    @staticmethod
    def _call_options(config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        # BaseRetriever.invoke does not put the config where _get_relevant_documents can
        # read it (ensure_config() there only sees a config set by an enclosing runnable),
        # so the per-call user and thread are lifted out here and passed as arguments.
        configurable = ensure_config(config).get("configurable") or {}
        options = {key: configurable[key] for key in _CONFIGURABLE_KEYS if configurable.get(key) is not None}
        options.update(kwargs)
        return options

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:  # noqa: A002
        """Retrieve skills for ``input`` (see the class docstring for per-call options)."""
        return super().invoke(input, config, **self._call_options(config, kwargs))

    async def ainvoke(self, input: str, config: RunnableConfig | None = None,  # noqa: A002
                      **kwargs: Any) -> list[Document]:
        """Async :meth:`invoke`."""
        return await super().ainvoke(input, config, **self._call_options(config, kwargs))

    def _search_options(self, k: int | None, user_id: str | None, scope: str | None,
                        min_score: float | None) -> dict[str, Any]:
        return {
            "user_id": user_id or self.user_id,
            "limit": self.k if k is None else k,
            "scope": scope or self.scope,
            "min_score": self.min_score if min_score is None else min_score,
        }

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        user_id: str | None = None,
        thread_id: str | None = None,
        scope: str | None = None,
        min_score: float | None = None,
    ) -> list[Document]:
        hits = self.sdk.search(query, **self._search_options(k, user_id, scope, min_score))
        return [hit_to_document(hit) for hit in hits]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        user_id: str | None = None,
        thread_id: str | None = None,
        scope: str | None = None,
        min_score: float | None = None,
    ) -> list[Document]:
        hits = await self.sdk.asearch(query, **self._search_options(k, user_id, scope, min_score))
        return [hit_to_document(hit) for hit in hits]
