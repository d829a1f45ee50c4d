"""Embedders: the :class:`Embedder` contract, the offline hashing embedder, adapters."""

from autoskill.embeddings.adapters import LangChainEmbedder, LlamaIndexEmbedder
from autoskill.embeddings.base import BaseEmbedder, Embedder
from autoskill.embeddings.factory import create_embedder
from autoskill.embeddings.hashing import HashingEmbedder

__all__ = [
    "BaseEmbedder",
    "Embedder",
    "HashingEmbedder",
    "LangChainEmbedder",
    "LlamaIndexEmbedder",
    "create_embedder",
]
