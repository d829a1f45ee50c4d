"""LLM help for maintenance: judge "same skill?" in the ambiguous band, and merge two versions.

Both degrade gracefully: an unusable answer makes the judge abstain (None, so the
heuristic decides) and the merger fall back to :func:`autoskill.learning.maintain.merge_skills`.
Versions are the caller's business: nothing here bumps one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from autoskill.errors import LLMError, SkillValidationError
from autoskill.learning.maintain import merge_skills
from autoskill.llm.base import LLM
from autoskill.llm.extract import numbered_steps
from autoskill.skill.model import Skill

__all__ = [
    "JUDGE_PROMPT",
    "JUDGE_SCHEMA",
    "LLMJudge",
    "LLMMerger",
    "MERGE_PROMPT",
    "MERGE_SCHEMA",
    "describe_skill",
]

logger = logging.getLogger(__name__)

JUDGE_PROMPT = """\
You compare two skills. Are they the same procedure (one should be merged into the other) \
or different procedures? Same topic with different goals or steps is different."""

JUDGE_SCHEMA: dict[str, Any] = {
    "title": "same_skill",
    "description": "Whether two skills are the same procedure.",
    "type": "object",
    "properties": {"same": {"type": "boolean"}, "reason": {"type": "string"}},
    "required": ["same", "reason"],
}

MERGE_PROMPT = """\
You merge two versions of one skill into one. Keep the existing skill's purpose and steps, \
add what the new version adds, drop repeats, keep the order of work. {correction}\
instructions: the merged steps, one per item."""

_CORRECTION = "The new version is a correction: where the two disagree, the new version wins. "

_STRINGS = {"type": "array", "items": {"type": "string"}}
MERGE_SCHEMA: dict[str, Any] = {
    "title": "merged_skill",
    "description": "One skill merged from two versions.",
    "type": "object",
    "properties": {"description": {"type": "string"}, "instructions": _STRINGS, "triggers": _STRINGS},
    "required": ["description", "instructions", "triggers"],
}


def describe_skill(skill: Skill) -> str:
    """A compact text of a skill for a prompt."""
    lines = [f"name: {skill.title}", f"description: {skill.description_full or skill.description}"]
    if skill.triggers:
        lines.append("triggers: " + "; ".join(skill.triggers))
    lines.append("instructions:\n" + skill.instructions)
    return "\n".join(lines)


class LLMJudge:
    """A :data:`~autoskill.learning.maintain.Judge` asking the model "same procedure?".

    Returns True (same), False (different) or None (no usable answer: let the caller decide).
    """

    def __init__(self, llm: LLM) -> None:
        """Judge with ``llm``."""
        self.llm = llm

    def prompt(self, candidate: Skill, existing: Skill) -> list[dict[str, str]]:
        """The chat sent to the model."""
        text = f"Existing skill:\n{describe_skill(existing)}\n\nNew skill:\n{describe_skill(candidate)}"
        return [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": text}]

    @staticmethod
    def _verdict(answer: Mapping[str, Any]) -> bool | None:
        same = answer.get("same")
        return same if isinstance(same, bool) else None

    def __call__(self, candidate: Skill, existing: Skill) -> bool | None:
        """Whether ``candidate`` is the same procedure as ``existing`` (None: unknown)."""
        try:
            answer = self.llm.complete_json(self.prompt(candidate, existing), JUDGE_SCHEMA)
        except LLMError as exc:
            logger.warning("LLM judge abstained on %r vs %r: %s", candidate.name, existing.name, exc)
            return None
        return self._verdict(answer)

    async def acall(self, candidate: Skill, existing: Skill) -> bool | None:
        """Async :meth:`__call__`."""
        try:
            answer = await self.llm.acomplete_json(self.prompt(candidate, existing), JUDGE_SCHEMA)
        except LLMError as exc:
            logger.warning("LLM judge abstained on %r vs %r: %s", candidate.name, existing.name, exc)
            return None
        return self._verdict(answer)


class LLMMerger:
    """Merges a candidate into an existing skill with the model's help.

    The result is ``existing.evolve(...)``: same id, name, owner and version (the caller
    bumps it), with the model's description, instructions and triggers (existing triggers
    are kept), and tags/examples unioned. The very same ``existing`` object comes back when
    nothing changed.
    """

    def __init__(self, llm: LLM) -> None:
        """Merge with ``llm``."""
        self.llm = llm

    def prompt(self, existing: Skill, candidate: Skill, *, correction: bool = False) -> list[dict[str, str]]:
        """The chat sent to the model."""
        system = MERGE_PROMPT.format(correction=_CORRECTION if correction else "")
        text = f"Existing skill:\n{describe_skill(existing)}\n\nNew version:\n{describe_skill(candidate)}"
        return [{"role": "system", "content": system}, {"role": "user", "content": text}]

    def __call__(self, existing: Skill, candidate: Skill, *, correction: bool = False) -> Skill:
        """``existing`` merged with ``candidate``."""
        try:
            answer = self.llm.complete_json(self.prompt(existing, candidate, correction=correction), MERGE_SCHEMA)
        except LLMError as exc:
            return self._fallback(existing, candidate, correction, exc)
        return self._apply(existing, candidate, answer, correction)

    async def acall(self, existing: Skill, candidate: Skill, *, correction: bool = False) -> Skill:
        """Async :meth:`__call__`."""
        try:
            answer = await self.llm.acomplete_json(
                self.prompt(existing, candidate, correction=correction), MERGE_SCHEMA
            )
        except LLMError as exc:
            return self._fallback(existing, candidate, correction, exc)
        return self._apply(existing, candidate, answer, correction)

    def _apply(self, existing: Skill, candidate: Skill, answer: Mapping[str, Any], correction: bool) -> Skill:
        steps = [str(s).strip() for s in answer.get("instructions") or [] if str(s).strip()]
        if not steps:
            return self._fallback(existing, candidate, correction, "the merged instructions were empty")
        description = str(answer.get("description") or "").strip()
        triggers = [*existing.triggers, *(str(t) for t in answer.get("triggers") or [] if str(t).strip())]
        try:
            merged = existing.evolve(
                description=description or existing.description,
                description_full=None if description else existing.description_full,
                instructions=numbered_steps(steps),
                triggers=tuple(dict.fromkeys(triggers)),
                tags=tuple(dict.fromkeys([*existing.tags, *candidate.tags])),
                examples=tuple(dict.fromkeys([*existing.examples, *candidate.examples])),
            )
        except SkillValidationError as exc:
            return self._fallback(existing, candidate, correction, exc)
        return existing if merged.content_hash() == existing.content_hash() else merged

    @staticmethod
    def _fallback(existing: Skill, candidate: Skill, correction: bool, why: object) -> Skill:
        logger.warning("LLM merge of %r unusable (%s); merging heuristically", existing.name, why)
        merged = merge_skills(existing, candidate, correction=correction)
        if merged is existing:
            return existing
        # merge_skills bumps the version and stamps provenance; here that is the caller's job.
        return merged.evolve(
            version=existing.version, updated_at=existing.updated_at, provenance=existing.provenance
        )
