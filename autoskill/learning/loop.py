"""The learning loop's write path: extract -> screen -> decide -> write.

Callers hand it conversations and trajectories that were already redacted. It proposes
candidates, screens them for injection, compares each with the user's skills and the
shared libraries, then adds, merges or discards, recording the reason in the history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autoskill.errors import SkillConflictError
from autoskill.learning.heuristic import Candidate
from autoskill.learning.maintain import Decision, Judge, MergeThresholds, decide, merge_skills
from autoskill.learning.screen import FLAG_KEY, screen_skill
from autoskill.retrieval.fields import skill_embedding_text
from autoskill.retrieval.hybrid import HybridSearcher
from autoskill.skill.model import Skill, free_skill_id
from autoskill.store.base import SkillFilter

__all__ = ["IngestOutcome", "Learner", "Merger"]

logger = logging.getLogger(__name__)

Merger = Callable[..., Skill]

# A merge racing other writers is re-decided from a fresh read this many times at most.
_CONFLICT_RETRIES = 4


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one extracted candidate."""

    candidate: Skill
    decision: Decision
    skill: Skill | None


class Learner:
    """Turns candidates into stored skills for one store."""

    def __init__(
        self,
        store: Any,
        searcher: HybridSearcher,
        extractor: Any,
        *,
        thresholds: MergeThresholds,
        judge: Judge | None = None,
        merger: Merger | None = None,
    ) -> None:
        self.store = store
        self.searcher = searcher
        self.extractor = extractor
        self.thresholds = thresholds
        self.judge = judge
        self.merger = merger

    def candidates(self, turns: Sequence[Mapping[str, str]], *, user_id: str) -> list[Candidate]:
        """What the extractor proposes for a conversation (one failure never stops the loop)."""
        try:
            return list(self.extractor.extract(list(turns), user_id=user_id))
        except Exception:  # an extractor bug or an unusable model answer: learn nothing here
            logger.exception("extraction failed for user %s; skipping this conversation", user_id)
            return []

    def learn(self, candidates: Sequence[Candidate], *, user_id: str,
              provenance: Sequence[Mapping[str, str]], target: Skill | None = None) -> list[IngestOutcome]:
        """Maintain the library with each candidate; returns one outcome per candidate.

        Args:
            candidates: Proposed skills.
            user_id: Owner of what is learned.
            provenance: Sources recorded with every new version.
            target: A skill the candidates correct (feedback on a run that used it).
        """
        outcomes = []
        for candidate in candidates:
            for attempt in range(_CONFLICT_RETRIES):
                try:
                    outcomes.append(self._maintain(candidate, user_id=user_id, provenance=provenance,
                                                   target=self._fresh(target)))
                    break
                except SkillConflictError:
                    # Another writer changed the skill between our read and our write:
                    # decide again from what is stored now.
                    logger.info("skill changed while merging %s; retrying (%d)", candidate.skill.name, attempt + 1)
                except Exception:  # one bad candidate never stops the others
                    logger.exception("could not maintain candidate %s", candidate.skill.name)
                    break
        return outcomes

    def _fresh(self, skill: Skill | None) -> Skill | None:
        return None if skill is None else (self.store.get(skill.id) or skill)

    def _neighbours(self, skill: Skill, user_id: str) -> list[Any]:
        text = skill_embedding_text(skill)
        flt = SkillFilter(user_id=user_id, statuses=("active", "draft"))
        return self.searcher.search(text, flt, limit=5)

    def _maintain(self, candidate: Candidate, *, user_id: str, provenance: Sequence[Mapping[str, str]],
                  target: Skill | None) -> IngestOutcome:
        skill = candidate.skill.evolve(user_id=user_id, scope="user", provenance=tuple(provenance))
        flags = screen_skill(skill)
        if flags:
            reasons = "; ".join(str(f) for f in flags)
            skill = skill.evolve(status="draft", metadata={**skill.metadata, FLAG_KEY: reasons})
        correction = candidate.kind == "correction"
        if target is not None and correction:
            decision = Decision("merge", f"correction of {target.name!r} after negative feedback", target)
        else:
            decision = decide(skill, self._neighbours(skill, user_id), self.thresholds, judge=self.judge)
        stored: Skill | None = None
        if decision.action == "add":
            holder = self.store.get_by_name(skill.name, scope=skill.scope, owner=skill.owner)
            if holder is not None:
                # Outside the neighbours searched (archived, or not among the nearest):
                # a skill of this name is this skill, so the candidate adds to it.
                decision = Decision("merge", f"same name as {holder.name!r} ({holder.status})", holder)
            else:
                new_id = free_skill_id(skill, lambda skill_id: self.store.get(skill_id) is not None)
                stored = self.store.upsert(skill.evolve(id=new_id),
                                           reason=f"learned: {decision.reason}", create_only=True)
        if decision.action == "merge" and decision.target is not None:
            merged = self._merge(decision.target, skill, provenance, correction)
            if flags:
                merged = merged.evolve(status="draft", metadata={**merged.metadata, FLAG_KEY: skill.metadata[FLAG_KEY]})
            changed = merged.content_hash() != decision.target.content_hash() or merged.status != decision.target.status
            if changed:
                stored = self.store.upsert(merged, reason=f"{'corrected' if correction else 'merged'}: {decision.reason}",
                                           expected=decision.target)
            else:
                decision = Decision("discard", f"already known as {decision.target.name!r}", decision.target)
        if flags:
            logger.warning("skill %s held back as a draft: %s", skill.name, skill.metadata[FLAG_KEY])
        logger.info("learning %s: %s (%s)", skill.name, decision.action, decision.reason)
        return IngestOutcome(candidate=skill, decision=decision, skill=stored)

    def _merge(self, existing: Skill, candidate: Skill, provenance: Sequence[Mapping[str, str]],
               correction: bool) -> Skill:
        from autoskill.learning.maintain import bump_version
        from autoskill.skill.normalize import utc_timestamp

        if self.merger is None:
            return merge_skills(existing, candidate, provenance=provenance, correction=correction)
        merged = self.merger(existing, candidate, correction=correction)
        if merged is existing or merged.content_hash() == existing.content_hash():
            # The model saw nothing new; still union triggers and tags the cheap way.
            return merge_skills(existing, candidate, provenance=provenance, correction=correction)
        substantive = merged.instructions != existing.instructions
        return merged.evolve(version=bump_version(existing.version, minor=substantive),
                             updated_at=utc_timestamp(), provenance=tuple(provenance))
