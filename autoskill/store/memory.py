"""The in-memory store: the FAISS store with its ledger in memory and no files."""

from __future__ import annotations

from autoskill.embeddings.base import Embedder
from autoskill.store.faiss_store import FaissSkillStore

__all__ = ["InMemorySkillStore"]


class InMemorySkillStore(FaissSkillStore):
    """A FAISS skill store that lives and dies with the process (same contract as local)."""

    def __init__(self, embedder: Embedder) -> None:
        """Create an empty store for vectors of ``embedder``."""
        super().__init__(embedder)
