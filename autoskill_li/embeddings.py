"""Embedding adapters both ways between AutoSkill and LlamaIndex.

* Any LlamaIndex ``BaseEmbedding`` works in the core through
  :class:`autoskill.embeddings.LlamaIndexEmbedder` (re-exported here).
* Any core :class:`~autoskill.embeddings.Embedder` works in LlamaIndex through
  :class:`AutoSkillEmbedding`; :class:`HashingEmbedding` is the offline hashing embedder,
  ready for ``Settings.embed_model``.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr

from autoskill.embeddings import Embedder, HashingEmbedder, LlamaIndexEmbedder, create_embedder

__all__ = ["AutoSkillEmbedding", "HashingEmbedding", "LlamaIndexEmbedder", "as_llamaindex_embedding",
           "to_core_embedder"]


class AutoSkillEmbedding(BaseEmbedding):
    """A core :class:`Embedder` as a LlamaIndex ``BaseEmbedding``.

    Args:
        embedder: The core embedder to expose.
        **kwargs: ``BaseEmbedding`` options (``embed_batch_size``, ...).
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        kwargs.setdefault("model_name", embedder.identity)
        super().__init__(**kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "AutoSkillEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The core embedder."""
        return self._embedder

    @property
    def dims(self) -> int:
        """Vector length."""
        return self._embedder.dims

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embedder.embed_query(query).tolist()  # type: ignore[no-any-return]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._embedder.aembed_query(query)).tolist()  # type: ignore[no-any-return]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embedder.embed_documents([text])[0].tolist()  # type: ignore[no-any-return]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed_documents(list(texts)).tolist()  # type: ignore[no-any-return]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return (await self._embedder.aembed_documents(list(texts))).tolist()  # type: ignore[no-any-return]


class HashingEmbedding(AutoSkillEmbedding):
    """AutoSkill's offline, deterministic hashing embedder as a LlamaIndex ``BaseEmbedding``.

    Unlike LlamaIndex's ``MockEmbedding`` (one constant vector), similar texts get similar
    vectors, so retrieval behaves like retrieval in tests and offline demos.

    Args:
        dims: Vector length (at least 16).
        **options: Other :class:`~autoskill.embeddings.HashingEmbedder` options, and
            ``BaseEmbedding`` options such as ``embed_batch_size``.
    """

    def __init__(self, dims: int = 256, **options: Any) -> None:
        base_keys = set(BaseEmbedding.model_fields)
        base = {k: options.pop(k) for k in list(options) if k in base_keys}
        super().__init__(HashingEmbedder(dims, **options), **base)

    @classmethod
    def class_name(cls) -> str:
        return "HashingEmbedding"


def to_core_embedder(embedding: Any) -> Embedder:
    """The core embedder behind ``embedding`` (unwrapped, or wrapped with :class:`LlamaIndexEmbedder`)."""
    if isinstance(embedding, AutoSkillEmbedding):
        return embedding.embedder
    return create_embedder(embedding)


def as_llamaindex_embedding(embedder: Embedder) -> BaseEmbedding:
    """A LlamaIndex view of a core embedder (the wrapped object when there is one)."""
    if isinstance(embedder, LlamaIndexEmbedder):
        return embedder.wrapped  # type: ignore[no-any-return]
    return AutoSkillEmbedding(embedder)
