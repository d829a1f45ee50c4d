"""The embedder contract and the helpers every implementation shares."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from autoskill.errors import EmbeddingError

__all__ = ["BaseEmbedder", "Embedder", "check_texts", "float32_vector", "to_unit_matrix", "unit_rows"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    Attributes:
        identity: Stable string naming the model and its dimensions (``"hashing-v1:256"``).
            Stores record it and refuse to mix vectors from different identities.
        dims: Vector length.
    """

    @property
    def identity(self) -> str: ...

    @property
    def dims(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; returns float32 of shape ``(len(texts), dims)`` with unit rows."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query; returns float32 of shape ``(dims,)`` with unit norm."""
        ...

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Async :meth:`embed_documents`."""
        ...

    async def aembed_query(self, text: str) -> np.ndarray:
        """Async :meth:`embed_query`."""
        ...


class BaseEmbedder(Embedder, ABC):
    """Base class: implement ``identity``, ``dims`` and ``embed_documents``.

    ``embed_query`` defaults to a one-text batch and the async methods run the sync ones
    in a worker thread, so an implementation never copies that code.
    """

    @property
    @abstractmethod
    def identity(self) -> str:
        """Stable model + dimensions string."""

    @property
    @abstractmethod
    def dims(self) -> int:
        """Vector length."""

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; float32 ``(n, dims)`` with unit rows."""

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query; float32 ``(dims,)``."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Run :meth:`embed_documents` in a worker thread."""
        return await asyncio.to_thread(self.embed_documents, list(texts))

    async def aembed_query(self, text: str) -> np.ndarray:
        """Run :meth:`embed_query` in a worker thread."""
        return await asyncio.to_thread(self.embed_query, text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identity={self.identity!r})"


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate a batch of texts and return it as a list.

    Raises:
        TypeError: ``texts`` is a single string, or holds a non-string.
    """
    # A str is itself a Sequence[str]; embedding it character by character is never meant.
    if isinstance(texts, (str, bytes)):
        raise TypeError("embed_documents takes a sequence of strings; use embed_query for one text")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, expected str")
    return out


def float32_vector(vector: Any) -> np.ndarray:
    """``vector`` as a float32 array. A list of numbers (what the frameworks pass) is read
    element by element, about a fifth faster than ``np.asarray`` on a 256-float list;
    anything else (or a list that is not flat numbers) goes through ``np.asarray``."""
    if type(vector) is list:
        try:
            return np.fromiter(vector, dtype=np.float32, count=len(vector))
        except (TypeError, ValueError):  # nested or non-numeric: asarray keeps the shape to report
            pass
    return np.asarray(vector, dtype=np.float32)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale rows of a 2-D array to unit L2 norm, in float32; all-zero rows stay zero."""
    out = np.asarray(matrix, dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {out.shape}")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    # Zero rows (e.g. an empty text) have no direction; leave them zero rather than NaN.
    np.maximum(norms, np.finfo(np.float32).tiny, out=norms)
    return np.ascontiguousarray(out / norms, dtype=np.float32)


def to_unit_matrix(raw: Any, *, rows: int, dims: int | None, source: str) -> np.ndarray:
    """Convert a model's raw output to a checked, L2-normalised float32 matrix.

    Args:
        raw: Whatever the model returned (list of lists, array, ...).
        rows: Expected number of rows.
        dims: Expected row length, or None when not yet known.
        source: Name of the model, for error messages.

    Raises:
        EmbeddingError: The output is not numeric, has the wrong shape, or holds NaN/inf.
    """
    try:
        matrix = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EmbeddingError(
            f"{source} returned vectors that are not numeric arrays: {exc}"
        ) from exc
    if rows == 0 and matrix.size == 0:
        return np.zeros((0, dims or 0), dtype=np.float32)
    if matrix.ndim != 2:
        raise EmbeddingError(
            f"{source} returned an array of shape {matrix.shape}; expected ({rows}, dims)"
        )
    if matrix.shape[0] != rows:
        raise EmbeddingError(f"{source} returned {matrix.shape[0]} vectors for {rows} texts")
    if matrix.shape[1] == 0:
        raise EmbeddingError(f"{source} returned empty vectors")
    if dims is not None and matrix.shape[1] != dims:
        raise EmbeddingError(
            f"{source} returned vectors of {matrix.shape[1]} dimensions; expected {dims}"
        )
    if not np.isfinite(matrix).all():
        raise EmbeddingError(f"{source} returned vectors containing NaN or infinity")
    return unit_rows(matrix)
