"""Retrieval: the partitioned FAISS vector index, BM25, and the shared tokenizer.

``VectorIndex`` and ``BM25Index`` load on first access, so that the embedders can use
:mod:`autoskill.retrieval.text` without importing FAISS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autoskill.retrieval.text import tokenize

if TYPE_CHECKING:
    from autoskill.retrieval.bm25 import BM25Index
    from autoskill.retrieval.vector_index import VectorIndex

__all__ = ["BM25Index", "VectorIndex", "tokenize"]


def __getattr__(name: str) -> Any:
    if name == "VectorIndex":
        from autoskill.retrieval.vector_index import VectorIndex

        return VectorIndex
    if name == "BM25Index":
        from autoskill.retrieval.bm25 import BM25Index

        return BM25Index
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
