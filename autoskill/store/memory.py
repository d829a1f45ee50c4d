"""The in-memory store: the FAISS store with its ledger in memory and no files."""

from __future__ import annotations

from autoskill.embeddings.base import Embedder
from autoskill.retrieval.vector_index import APPROX_THRESHOLD
from autoskill.store.faiss_store import FaissSkillStore

__all__ = ["InMemorySkillStore"]


class InMemorySkillStore(FaissSkillStore):
    """A FAISS skill store that lives and dies with the process (same contract as local)."""

    def __init__(self, embedder: Embedder, *, approx_threshold: int | None = APPROX_THRESHOLD,
                 nprobe: int | None = None, records_approx_threshold: int | None = None) -> None:
        """Create an empty store for vectors of ``embedder`` (index options as for
        :class:`~autoskill.store.faiss_store.FaissSkillStore`)."""
        super().__init__(embedder, approx_threshold=approx_threshold, nprobe=nprobe,
                         records_approx_threshold=records_approx_threshold)
