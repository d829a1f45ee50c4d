"""Usage credit: how retrievals and feedback turn into a ranking prior and archiving.

Pure functions over :class:`~autoskill.store.base.UsageStats`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from autoskill.skill.model import Skill
from autoskill.store.base import UsageStats

__all__ = ["MAX_PRIOR_WEIGHT", "apply_prior", "success_prior", "stale_reason"]

# The prior may move a score by at most this fraction, so a new skill with no history
# (prior 0) still wins when it matches better.
MAX_PRIOR_WEIGHT = 0.2


def success_prior(usage: UsageStats) -> float:
    """Smoothed success balance in (-1, 1): (successes - failures) / (successes + failures + 2)."""
    return (usage.successes - usage.failures) / (usage.successes + usage.failures + 2)


def apply_prior(score: float, usage: UsageStats, weight: float) -> float:
    """``score`` scaled by ``1 + weight * prior``, with ``weight`` capped, kept in [0, 1]."""
    weight = max(0.0, min(MAX_PRIOR_WEIGHT, weight))
    return max(0.0, min(1.0, score * (1.0 + weight * success_prior(usage))))


def stale_reason(skill: Skill, usage: UsageStats, *, min_feedback: int = 3, failure_ratio: float = 0.6,
                 unused_days: float = 90.0, now: datetime | None = None) -> str | None:
    """Why a skill should be archived (keeps failing, or never used), or None."""
    feedback = usage.successes + usage.failures
    if feedback >= min_feedback and usage.failures / feedback >= failure_ratio:
        return f"failed {usage.failures} of {feedback} runs that used it"
    if usage.retrievals == 0 and usage.injections == 0:
        try:
            created = datetime.fromisoformat(skill.created_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        age_days = ((now or datetime.now(timezone.utc)) - created).total_seconds() / 86400
        if age_days >= unused_days:
            return f"never used in {age_days:.0f} days"
    return None
