"""Hybrid skill retrieval: vector similarity, BM25 and the registry's name/path signals.

Each signal is already an absolute number in [0, 1] (cosine similarity clipped at 0, BM25
over the query's own ceiling, the registry's fixed-scale relevance). They are combined
with a weighted noisy-OR, ``1 - prod(1 - w_i * s_i)``: any one strong signal lifts a skill,
agreeing signals lift it further, and the result stays in [0, 1] and comparable across
queries. Rank fusion is not used, because a rank says nothing about how good a hit is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from autoskill.registry.relevance import score_skill
from autoskill.skill.model import Skill
from autoskill.store.base import SkillFilter

__all__ = ["FusionWeights", "HybridSearcher", "SkillHit", "fuse_scores", "weights_for"]


@dataclass(frozen=True)
class SkillHit:
    """One search result.

    Attributes:
        skill: The skill.
        score: Absolute relevance in [0, 1] (higher is better, comparable across queries).
        matched_by: Signals that matched: ``vector``, ``lexical``, and the registry's
            ``name_or_alias_exact``, ``name_or_alias_substring``, ``when_to_use``,
            ``description``, ``paths``.
        similarity: Cosine similarity of the embeddings.
        lexical: BM25 score on the query's fixed scale.
    """

    skill: Skill
    score: float
    matched_by: list[str] = field(default_factory=list)
    similarity: float = 0.0
    lexical: float = 0.0


@dataclass(frozen=True)
class FusionWeights:
    """How much each signal can contribute (each in [0, 1])."""

    vector: float = 0.75
    lexical: float = 0.6
    registry: float = 0.5
    # Below these a signal is noise and is not reported in ``matched_by``.
    vector_floor: float = 0.12
    lexical_floor: float = 0.05


# Per embedder family. The hashing embedder is a lexical proxy with hash collisions, so
# BM25's exact term matches deserve more weight than its cosine; semantic embedders carry
# meaning BM25 misses, so their cosine leads. Measured on all of ../shared/eval together
# (docs/benchmarks.md), not fitted to one set.
_WEIGHTS_BY_FAMILY: dict[str, FusionWeights] = {
    "hashing": FusionWeights(vector=0.5, lexical=0.9, registry=0.3),
}


def weights_for(embedder_identity: str) -> FusionWeights:
    """The fusion weights for an embedder (by the family prefix of its identity)."""
    family = embedder_identity.split("-", 1)[0].split(":", 1)[0].lower()
    return _WEIGHTS_BY_FAMILY.get(family, FusionWeights())


def fuse_scores(similarity: float, lexical: float, registry: float,
                weights: FusionWeights = FusionWeights()) -> float:
    """Combine three [0, 1] signals into one absolute score in [0, 1]."""
    v = min(1.0, max(0.0, similarity))
    lex = min(1.0, max(0.0, lexical))
    reg = min(1.0, max(0.0, registry))
    return 1.0 - (1.0 - weights.vector * v) * (1.0 - weights.lexical * lex) * (1.0 - weights.registry * reg)


class HybridSearcher:
    """Runs a hybrid search over a store (see the module docstring)."""

    def __init__(self, store, embedder, weights: FusionWeights | None = None,  # type: ignore[no-untyped-def]
                 *, usage_prior: float = 0.0) -> None:
        """Args:
            store: The skill store.
            embedder: Embeds queries.
            weights: Fusion weights.
            usage_prior: Weight of the usage prior (0 = off, the default; capped at 0.2 so
                a new skill can still win). See :mod:`autoskill.learning.usage`.
        """
        self.store = store
        self.embedder = embedder
        self.weights = weights or weights_for(getattr(embedder, "identity", ""))
        self.usage_prior = usage_prior

    def search(
        self,
        query: str,
        flt: SkillFilter,
        limit: int = 5,
        *,
        query_vector: np.ndarray | None = None,
        file_paths: Sequence[str | os.PathLike[str]] = (),
        cwd: str | os.PathLike[str] | None = None,
        min_score: float | None = None,
    ) -> list[SkillHit]:
        """The ``limit`` best skills ``flt`` admits for ``query``, best first."""
        if limit <= 0:
            return []
        qvec = self.embedder.embed_query(query) if query_vector is None else query_vector
        pool = max(limit * 4, 40)
        similarity: dict[str, float] = {}
        skills: dict[str, Skill] = {}
        for hit in self.store.search(qvec, pool, flt):
            similarity[hit.skill.id] = hit.similarity
            skills[hit.skill.id] = hit.skill
        lexical: dict[str, float] = {}
        for skill, value in self.store.lexical_search(query, pool, flt):
            lexical[skill.id] = value
            skills.setdefault(skill.id, skill)
        if file_paths:
            # Path globs can select a skill no text signal found (the registry behaviour).
            for skill in self.store.list(flt):
                if skill.paths:
                    skills.setdefault(skill.id, skill)
        missing_lex = [i for i in skills if i not in lexical]
        if missing_lex:
            lexical.update(self.store.lexical_scores(query, missing_lex))
        query_unit = np.asarray(qvec, dtype=np.float32)
        norm = float(np.linalg.norm(query_unit)) or 1.0
        hits: list[SkillHit] = []
        for skill_id, skill in skills.items():
            if skill_id not in similarity:
                vec = self.store.vector(skill_id)
                similarity[skill_id] = float(np.dot(vec, query_unit) / norm) if vec is not None else 0.0
            relevance = score_skill(skill, query, file_paths, cwd=cwd)
            sim, lex = similarity[skill_id], lexical.get(skill_id, 0.0)
            score = fuse_scores(sim, lex, relevance.score, self.weights)
            if self.usage_prior > 0:
                from autoskill.learning.usage import apply_prior

                score = apply_prior(score, self.store.usage(skill_id), self.usage_prior)
            matched = []
            if sim >= self.weights.vector_floor:
                matched.append("vector")
            if lex >= self.weights.lexical_floor:
                matched.append("lexical")
            matched.extend(relevance.matched_by)
            if min_score is not None and score < min_score:
                continue
            hits.append(SkillHit(skill=skill, score=round(score, 6), matched_by=matched,
                                 similarity=sim, lexical=lex))
        hits.sort(key=lambda h: (-h.score, h.skill.name, h.skill.id))
        return hits[:limit]
