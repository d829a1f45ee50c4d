"""Embedding adapters both ways between AutoSkill and LangChain.

* Any LangChain ``Embeddings`` works in the core through
  :class:`autoskill.embeddings.LangChainEmbedder` (re-exported here).
* Any core :class:`~autoskill.embeddings.Embedder` works in LangChain through
  :class:`AutoSkillEmbeddings`; :class:`HashingEmbeddings` is the offline hashing
  embedder ready to use.
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings

from autoskill.embeddings import Embedder, HashingEmbedder, LangChainEmbedder, create_embedder

__all__ = [
    "AutoSkillEmbeddings",
    "HashingEmbeddings",
    "LangChainEmbedder",
    "as_langchain_embeddings",
    "to_core_embedder",
]


class AutoSkillEmbeddings(Embeddings):
    """A core :class:`Embedder` as a LangChain ``Embeddings`` (lists of floats out).

    Args:
        embedder: The core embedder to expose.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    @property
    def dims(self) -> int:
        """Vector length."""
        return self.embedder.dims

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts."""
        return self.embedder.embed_documents(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embedder.embed_query(text).tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts through the embedder's async twin."""
        return (await self.embedder.aembed_documents(list(texts))).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one query through the embedder's async twin."""
        return (await self.embedder.aembed_query(text)).tolist()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.embedder!r})"


class HashingEmbeddings(AutoSkillEmbeddings):
    """AutoSkill's offline, deterministic hashing embedder as a LangChain ``Embeddings``.

    Args:
        dims: Vector length (at least 16).
        **options: Other :class:`~autoskill.embeddings.HashingEmbedder` options.
    """

    def __init__(self, dims: int = 256, **options: Any) -> None:
        super().__init__(HashingEmbedder(dims, **options))


def to_core_embedder(embedding: Any) -> Embedder:
    """The core embedder behind ``embedding`` (unwrapped, or wrapped with :class:`LangChainEmbedder`)."""
    if isinstance(embedding, AutoSkillEmbeddings):
        return embedding.embedder
    return create_embedder(embedding)


def as_langchain_embeddings(embedder: Embedder) -> Embeddings:
    """A LangChain view of a core embedder (the wrapped object when there is one)."""
    if isinstance(embedder, LangChainEmbedder):
        return embedder.wrapped  # type: ignore[no-any-return]
    return AutoSkillEmbeddings(embedder)
