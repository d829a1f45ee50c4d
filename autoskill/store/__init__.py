"""Skill stores: one contract, FAISS-backed ``inmemory`` and ``local`` backends."""

from autoskill.store.base import Record, SkillFilter, SkillStore, SkillVersion, StoreStats, UsageStats, VectorHit
from autoskill.store.faiss_store import FaissSkillStore
from autoskill.store.local import LocalSkillStore
from autoskill.store.memory import InMemorySkillStore

__all__ = [
    "FaissSkillStore",
    "InMemorySkillStore",
    "LocalSkillStore",
    "Record",
    "SkillFilter",
    "SkillStore",
    "SkillVersion",
    "StoreStats",
    "UsageStats",
    "VectorHit",
]
