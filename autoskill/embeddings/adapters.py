"""Adapters that make LangChain and LlamaIndex embedding models AutoSkill embedders.

Neither framework is imported here: the adapters only call the wrapped object's methods
(duck typing), so wrapping costs nothing and works with any compatible object.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from autoskill.embeddings.base import BaseEmbedder, check_texts, to_unit_matrix
from autoskill.errors import EmbeddingError

__all__ = ["LangChainEmbedder", "LlamaIndexEmbedder"]

logger = logging.getLogger(__name__)

_MODEL_ATTRS = ("model", "model_name", "model_id", "deployment", "deployment_name")
_DIMS_PROBE_TEXT = "dimension probe"


def _model_name(obj: Any) -> str | None:
    for attr in _MODEL_ATTRS:
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value and value != "unknown":
            return value
    return None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


class _FrameworkEmbedder(BaseEmbedder):
    """Shared logic: shape checks, normalisation, lazily learned dims, identity."""

    _framework = "framework"

    def __init__(self, obj: Any, *, dims: int | None = None, identity: str | None = None) -> None:
        if dims is not None and _positive_int(dims) is None:
            raise ValueError(f"dims must be a positive integer, got {dims!r}")
        self._obj = obj
        self._dims: int | None = dims
        self._identity = identity
        self._lock = threading.Lock()

    @property
    def wrapped(self) -> Any:
        """The framework object this adapter calls."""
        return self._obj

    @property
    def dims(self) -> int:
        """Vector length; learned from the first call, or from a one-text probe.

        On Python < 3.12, ``isinstance(x, Embedder)`` reads this property, so it may
        trigger the probe when the dimensions are not known yet.
        """
        if self._dims is None:
            # Unknown until the model has answered once: ask it with a tiny probe.
            self.embed_query(_DIMS_PROBE_TEXT)
        assert self._dims is not None
        return self._dims

    @property
    def identity(self) -> str:
        """``"<framework>:<Class>[/<model>]:<dims>"`` unless given explicitly."""
        if self._identity is not None:
            return self._identity
        name = type(self._obj).__name__
        model = _model_name(self._obj)
        label = f"{name}/{model}" if model else name
        return f"{self._framework}:{label}:{self.dims}"

    @property
    def _source(self) -> str:
        return f"{self._framework} embedder {type(self._obj).__name__}"

    def _finish(self, raw: Any, rows: int) -> np.ndarray:
        matrix = to_unit_matrix(raw, rows=rows, dims=self._dims, source=self._source)
        if self._dims is None and rows:
            with self._lock:
                if self._dims is None:
                    self._dims = int(matrix.shape[1])
                    logger.debug("%s: learned dims=%d", self._source, self._dims)
            if matrix.shape[1] != self._dims:  # another thread learned a different size
                raise EmbeddingError(
                    f"{self._source} returned {matrix.shape[1]} dimensions; expected {self._dims}"
                )
        return matrix

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dims), dtype=np.float32)

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except EmbeddingError:
            raise
        except Exception as exc:  # the model's own failure, named and chained
            raise EmbeddingError(f"{self._source} failed: {exc}") from exc

    async def _acall(self, fn: Any, *args: Any) -> Any:
        try:
            return await fn(*args)
        except EmbeddingError:
            raise
        except Exception as exc:
            raise EmbeddingError(f"{self._source} failed: {exc}") from exc

    def __repr__(self) -> str:
        known = self._dims if self._dims is not None else "?"
        return f"{type(self).__name__}({type(self._obj).__name__}, dims={known})"


class LangChainEmbedder(_FrameworkEmbedder):
    """Wrap a LangChain ``Embeddings`` (anything with ``embed_documents``/``embed_query``).

    Args:
        embeddings: The LangChain embeddings object.
        dims: Vector length if known; otherwise learned from the first call.
        identity: Explicit identity; default ``"langchain:<Class>[/<model>]:<dims>"``.
    """

    _framework = "langchain"

    def __init__(
        self, embeddings: Any, *, dims: int | None = None, identity: str | None = None
    ) -> None:
        for method in ("embed_documents", "embed_query"):
            if not callable(getattr(embeddings, method, None)):
                raise TypeError(
                    f"{type(embeddings).__name__} has no {method}(); not a LangChain Embeddings"
                )
        super().__init__(embeddings, dims=dims, identity=identity)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; float32 ``(n, dims)`` with unit rows."""
        items = check_texts(texts)
        if not items:
            return self._empty()
        raw = self._call(self._obj.embed_documents, items)
        return self._finish(raw, len(items))

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query; float32 ``(dims,)``."""
        raw = self._call(self._obj.embed_query, text)
        return self._finish([raw], 1)[0]

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Async :meth:`embed_documents`, using the model's own async method when it has one."""
        items = check_texts(texts)
        if not items:
            return await asyncio.to_thread(self._empty)
        method = getattr(self._obj, "aembed_documents", None)
        if method is None:
            return await super().aembed_documents(items)
        raw = await self._acall(method, items)
        return self._finish(raw, len(items))

    async def aembed_query(self, text: str) -> np.ndarray:
        """Async :meth:`embed_query`."""
        method = getattr(self._obj, "aembed_query", None)
        if method is None:
            return await super().aembed_query(text)
        raw = await self._acall(method, text)
        return self._finish([raw], 1)[0]


class LlamaIndexEmbedder(_FrameworkEmbedder):
    """Wrap a LlamaIndex ``BaseEmbedding``.

    Args:
        embedding: The LlamaIndex embedding model.
        dims: Vector length if known; otherwise taken from ``embed_dim`` when the model has
            one, else learned from the first call.
        identity: Explicit identity; default ``"llamaindex:<Class>[/<model_name>]:<dims>"``.
    """

    _framework = "llamaindex"

    def __init__(
        self, embedding: Any, *, dims: int | None = None, identity: str | None = None
    ) -> None:
        for method in ("get_text_embedding_batch", "get_query_embedding"):
            if not callable(getattr(embedding, method, None)):
                raise TypeError(
                    f"{type(embedding).__name__} has no {method}(); not a LlamaIndex BaseEmbedding"
                )
        if dims is None:
            dims = _positive_int(getattr(embedding, "embed_dim", None))
        super().__init__(embedding, dims=dims, identity=identity)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; float32 ``(n, dims)`` with unit rows."""
        items = check_texts(texts)
        if not items:
            return self._empty()
        raw = self._call(self._obj.get_text_embedding_batch, items)
        return self._finish(raw, len(items))

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query; float32 ``(dims,)``."""
        raw = self._call(self._obj.get_query_embedding, text)
        return self._finish([raw], 1)[0]

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Async :meth:`embed_documents` through ``aget_text_embedding_batch``."""
        items = check_texts(texts)
        if not items:
            return await asyncio.to_thread(self._empty)
        method = getattr(self._obj, "aget_text_embedding_batch", None)
        if method is None:
            return await super().aembed_documents(items)
        raw = await self._acall(method, items)
        return self._finish(raw, len(items))

    async def aembed_query(self, text: str) -> np.ndarray:
        """Async :meth:`embed_query` through ``aget_query_embedding``."""
        method = getattr(self._obj, "aget_query_embedding", None)
        if method is None:
            return await super().aembed_query(text)
        raw = await self._acall(method, text)
        return self._finish([raw], 1)[0]
