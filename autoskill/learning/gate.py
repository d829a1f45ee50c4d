"""The feedback gate: decide what feedback does to a pending window. Pure functions.

Feedback comes from an explicit ``feedback(run_id, score=..., comment=...)`` call or from
the next user message in the same thread:

* positive ("thanks, that worked", score > 0)                 -> release
* neutral with substance (the user simply moves on to a new request) -> release
* negative ("no, that's wrong", score < 0)                     -> block
* negative carrying a correction ("no, do X -> Y instead")     -> block, and learn the correction
* an error inside the run                                      -> block
* anything else (an empty "ok", a score of 0 without a comment) -> stays pending
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from autoskill.errors import ConfigError
from autoskill.learning.heuristic import is_negative_reaction, is_positive_reaction, split_steps

__all__ = ["Verdict", "normalize_score", "verdict_from_feedback", "verdict_from_message", "verdict_from_run"]

_SUBSTANCE_WORDS = 3


@dataclass(frozen=True)
class Verdict:
    """What to do with a window.

    Attributes:
        action: ``release``, ``block`` or ``wait``.
        score: The feedback as a number in [-1, 1] (None when there was none).
        correction: Text of a correction to learn instead (only with ``block``).
        reason: Why, for the window's record.
    """

    action: str
    score: float | None
    reason: str
    correction: str | None = None


def normalize_score(score: object) -> float | None:
    """Feedback scores are floats in [-1, 1]; True/False mean 1/-1.

    Raises:
        ConfigError: A score outside [-1, 1] or not a number.
    """
    if score is None:
        return None
    if isinstance(score, bool):
        return 1.0 if score else -1.0
    try:
        value = float(score)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"feedback score must be a number in [-1, 1] or a bool, got {score!r}") from None
    if not -1.0 <= value <= 1.0 or value != value:
        raise ConfigError(f"feedback score must be in [-1, 1], got {value}")
    return value


def _correction_in(text: str) -> str | None:
    from autoskill.learning.heuristic import _strip_reaction  # the reaction prefix grammar lives there

    stripped = _strip_reaction(text)
    return stripped if stripped and split_steps(stripped) is not None else None


def verdict_from_message(text: str) -> Verdict:
    """The verdict the next user message in a thread gives the window before it."""
    stripped = (text or "").strip()
    if is_negative_reaction(stripped):
        correction = _correction_in(stripped)
        return Verdict("block", -1.0, "the next user message rejected it", correction)
    if is_positive_reaction(stripped):
        return Verdict("release", 1.0, "the next user message confirmed it")
    if len(stripped.split()) >= _SUBSTANCE_WORDS:
        return Verdict("release", 0.0, "the user moved on to a new request")
    return Verdict("wait", None, "the next user message said nothing either way")


def verdict_from_feedback(score: object = None, comment: str | None = None) -> Verdict:
    """The verdict of an explicit ``feedback(run_id, score=..., comment=...)`` call."""
    value = normalize_score(score)
    if value is None:
        if not comment:
            raise ConfigError("feedback needs a score or a comment")
        from_text = verdict_from_message(comment)
        if from_text.action == "wait":
            return Verdict("release", 0.0, "neutral feedback with a comment")
        return from_text
    if value < 0:
        correction = _correction_in(comment) if comment else None
        if comment and correction is None and split_steps(comment) is not None:
            correction = comment
        return Verdict("block", value, f"negative feedback ({value:+.2f})", correction)
    if value > 0:
        return Verdict("release", value, f"positive feedback ({value:+.2f})")
    return Verdict("release", 0.0, "neutral feedback") if comment else Verdict("wait", 0.0, "neutral feedback without substance")


def verdict_from_run(events: Iterable[Mapping[str, Any]]) -> Verdict | None:
    """A run that raised, or whose tool calls failed and it ended in error, is blocked at once."""
    for event in events:
        kind = event.get("type")
        if kind == "error" or (kind == "run_end" and event.get("status") == "error" and not event.get("parent_run_id")):
            return Verdict("block", None, f"the run failed: {str(event.get('error') or 'error')[:200]}")
    return None
