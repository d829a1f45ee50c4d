"""Skill extraction with an LLM, checked against what the user actually said.

One prompt asks for reusable skills as JSON with verbatim evidence; the answer is then
verified without the model: every evidence quote must appear in a user turn (or in an
assistant turn the next user turn confirmed), and low-confidence skills are dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from autoskill.errors import LLMError, SkillValidationError
from autoskill.learning.heuristic import Candidate, HeuristicExtractor, is_positive_reaction
from autoskill.llm.base import LLM
from autoskill.skill.model import Skill

__all__ = [
    "EXTRACT_PROMPT",
    "EXTRACT_SCHEMA",
    "Extractor",
    "LLMExtractor",
    "create_extractor",
    "numbered_steps",
    "render_transcript",
]

logger = logging.getLogger(__name__)

KINDS = ("procedure", "rule", "correction")

EXTRACT_PROMPT = """\
You find reusable skills in a conversation: procedures, rules or corrections the user wants \
followed again.
- Keep only what the USER stated or confirmed, never what the assistant invented.
- Nothing from chit-chat, one-off questions, or questions about how to do something.
- A user's "no, that's wrong" withdraws what it reacts to; a correction that follows \
replaces it (kind "correction").
- instructions: the steps in order, one per item. evidence: verbatim quotes from the \
user's messages. confidence: 0 to 1.
- No skill is a fine answer: {"skills": []}."""

_STRINGS = {"type": "array", "items": {"type": "string"}}
EXTRACT_SCHEMA: dict[str, Any] = {
    "title": "extracted_skills",
    "description": "Reusable skills found in a conversation.",
    "type": "object",
    "properties": {
        "skills": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "instructions": _STRINGS,
                    "triggers": _STRINGS,
                    "tags": _STRINGS,
                    "confidence": {"type": "number"},
                    "evidence": _STRINGS,
                    "kind": {"type": "string", "enum": list(KINDS)},
                },
                "required": ["name", "instructions", "evidence", "confidence"],
            },
        }
    },
    "required": ["skills"],
}


class Extractor(Protocol):
    """Anything that turns a conversation into skill candidates."""

    def extract(self, messages: Sequence[Mapping[str, str]], *, user_id: str | None = None) -> list[Candidate]:
        """Candidates from one conversation."""
        ...


_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "`": "'"})


def _norm(text: str) -> str:
    """Case, whitespace and quote style do not count when matching evidence."""
    return re.sub(r"\s+", " ", text.translate(_QUOTES)).strip().casefold()


def _fragments(quote: str) -> list[str]:
    # A quote shortened with "..." must match piece by piece; the ends' punctuation may differ.
    pieces = re.split(r"\s*(?:\.\.\.|…)\s*", _norm(quote))
    return [p.strip(" \"'.,;:!?") for p in pieces if p.strip(" \"'.,;:!?")]


def _citable_turns(messages: Sequence[Mapping[str, str]]) -> list[str]:
    """Normalised turns evidence may quote: the user's, and assistant turns the user confirmed."""
    turns: list[str] = []
    for i, message in enumerate(messages):
        role, text = message.get("role"), str(message.get("content") or "")
        if role in ("user", "human"):
            turns.append(_norm(text))
        elif role in ("assistant", "ai"):
            following = next((m for m in messages[i + 1 :] if m.get("role") in ("user", "human")), None)
            if following is not None and is_positive_reaction(str(following.get("content") or "")):
                turns.append(_norm(text))
    return turns


def _verified(quote: str, turns: Sequence[str]) -> bool:
    pieces = _fragments(quote)
    return bool(pieces) and any(all(p in turn for p in pieces) for turn in turns)


def render_transcript(messages: Sequence[Mapping[str, str]]) -> str:
    """The conversation as ``USER:`` / ``ASSISTANT:`` lines for the prompt."""
    lines = []
    for message in messages:
        role = str(message.get("role", "")).lower()
        label = {"human": "USER", "ai": "ASSISTANT"}.get(role, role.upper())
        if label in ("USER", "ASSISTANT"):
            lines.append(f"{label}: {message.get('content') or ''}")
    return "\n\n".join(lines)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split("\n")
    if not isinstance(value, list):
        return []
    return [str(v).strip() for v in value if isinstance(v, (str, int, float)) and str(v).strip()]


_STEP_PREFIX = re.compile(r"^\s*(?:step\s*\d+\s*[:.)-]?|\d{1,3}\s*[.)]|[-*•])\s*", re.I)


def numbered_steps(steps: Sequence[str]) -> str:
    """Steps as ``1. ...`` lines, whatever numbering the model used."""
    clean = [_STEP_PREFIX.sub("", s).strip() for s in steps]
    return "\n".join(f"{i}. {s}" for i, s in enumerate((s for s in clean if s), 1))


def _confidence(value: Any) -> float:
    try:
        return min(1.0, max(0.0, float(value)))
    except (TypeError, ValueError):
        return 0.0


class LLMExtractor:
    """Extracts skill candidates with an LLM, keeping only what the conversation supports.

    Example::

        extractor = LLMExtractor(create_llm({"provider": "openai"}), fallback=HeuristicExtractor())
        candidates = extractor.extract(messages, user_id="u1")
    """

    def __init__(self, llm: LLM, *, min_confidence: float = 0.5, fallback: Extractor | None = None) -> None:
        """Configure the extractor.

        Args:
            llm: The model to ask.
            min_confidence: Skills the model is less sure of are dropped.
            fallback: Used when the model's answer is unusable (after its repair);
                without it such a conversation yields no candidates.
        """
        self.llm = llm
        self.min_confidence = min_confidence
        self.fallback = fallback

    def prompt(self, messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
        """The chat sent to the model for one conversation."""
        return [
            {"role": "system", "content": EXTRACT_PROMPT},
            {"role": "user", "content": "Conversation:\n\n" + render_transcript(messages)},
        ]

    def extract(self, messages: Sequence[Mapping[str, str]], *, user_id: str | None = None) -> list[Candidate]:
        """Verified candidates from one conversation, in the order the model gave them."""
        if not render_transcript(messages):
            return []
        try:
            answer = self.llm.complete_json(self.prompt(messages), EXTRACT_SCHEMA)
        except LLMError as exc:
            return self._unusable(exc, messages, user_id)
        return self.candidates(answer, messages, user_id=user_id)

    async def aextract(self, messages: Sequence[Mapping[str, str]], *, user_id: str | None = None) -> list[Candidate]:
        """Async :meth:`extract`."""
        if not render_transcript(messages):
            return []
        try:
            answer = await self.llm.acomplete_json(self.prompt(messages), EXTRACT_SCHEMA)
        except LLMError as exc:
            return self._unusable(exc, messages, user_id)
        return self.candidates(answer, messages, user_id=user_id)

    def _unusable(self, exc: LLMError, messages: Sequence[Mapping[str, str]], user_id: str | None) -> list[Candidate]:
        # One bad answer never stops the learning loop.
        if self.fallback is None:
            logger.warning("skill extraction failed, nothing learned from this conversation: %s", exc)
            return []
        logger.warning("skill extraction failed, using %s instead: %s", type(self.fallback).__name__, exc)
        return self.fallback.extract(messages, user_id=user_id)

    def candidates(
        self, answer: Mapping[str, Any], messages: Sequence[Mapping[str, str]], *, user_id: str | None = None
    ) -> list[Candidate]:
        """Turn a parsed model answer into verified candidates (no model call)."""
        turns = _citable_turns(messages)
        out: list[Candidate] = []
        for item in answer.get("skills") or []:
            candidate = self._candidate(item, turns, user_id) if isinstance(item, Mapping) else None
            if candidate is not None:
                out.append(candidate)
        return out

    def _candidate(self, item: Mapping[str, Any], turns: Sequence[str], user_id: str | None) -> Candidate | None:
        name = str(item.get("name") or "").strip()
        evidence = _strings(item.get("evidence"))
        steps = _strings(item.get("instructions"))
        confidence = _confidence(item.get("confidence"))
        if not name or not steps:
            logger.info("dropped extracted skill %r: no name or no instructions", name)
            return None
        unsupported = [q for q in evidence if not _verified(q, turns)]
        if not evidence or unsupported:
            # The evidence is the guard against invented skills: all of it must be real.
            logger.info("dropped extracted skill %r: evidence not found in the user's turns: %r",
                        name, unsupported[:2] or "none given")
            return None
        if confidence < self.min_confidence:
            logger.info("dropped extracted skill %r: confidence %.2f < %.2f", name, confidence, self.min_confidence)
            return None
        kind = str(item.get("kind") or "procedure").strip().lower()
        kind = kind if kind in KINDS else "procedure"
        try:
            skill = Skill(
                name=name,
                description=str(item.get("description") or ""),
                instructions=numbered_steps(steps),
                triggers=_strings(item.get("triggers")),
                tags=_strings(item.get("tags")),
                user_id=user_id,
                scope="user",
            )
        except SkillValidationError as exc:
            logger.info("dropped extracted skill %r: %s", name, exc)
            return None
        return Candidate(skill=skill, confidence=confidence, evidence=tuple(evidence), kind=kind)


def create_extractor(llm: LLM, **options: Any) -> Extractor:
    """The extractor for ``llm``: the heuristic one for the offline ``mock`` provider,
    otherwise an :class:`LLMExtractor` falling back to the heuristic one."""
    from autoskill.llm.providers import MockLLM

    if isinstance(llm, MockLLM):
        return HeuristicExtractor()
    options.setdefault("fallback", HeuristicExtractor())
    return LLMExtractor(llm, **options)
