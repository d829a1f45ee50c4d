"""Deferred, feedback-gated learning: captured runs wait in pending windows.

A captured run (framework handler, chain memory, the interactive chat) becomes a window
keyed by its thread. Nothing is learned until feedback arrives: the next user message in
the thread, or an explicit ``feedback(run_id, ...)``. Released windows are processed
exactly once (an atomic claim in the ledger), inline or by a background worker; blocked
ones teach nothing, except a correction they carry. Windows live in the store's ledger,
so they survive restarts.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from autoskill.errors import AutoSkillError, InvalidEventError
from autoskill.learning.events import Event, group_events
from autoskill.learning.gate import Verdict, verdict_from_feedback, verdict_from_message, verdict_from_run
from autoskill.learning.heuristic import Candidate
from autoskill.learning.loop import IngestOutcome, Learner
from autoskill.learning.toolflows import repeated_tool_sequences, toolflow_candidate
from autoskill.skill.normalize import utc_timestamp
from autoskill.store.base import Window

__all__ = ["ExpiryPolicy", "FeedbackResult", "LearningWorker", "PendingWindows"]

logger = logging.getLogger(__name__)

# How many of a user's earlier released runs are searched for repeated tool sequences.
TOOLFLOW_HISTORY = 50


@dataclass(frozen=True)
class ExpiryPolicy:
    """What happens to a window nobody gave feedback on.

    Attributes:
        ttl_seconds: Age after which a pending window expires.
        action: ``"drop"`` (default: learn nothing, keep the record as ``expired``) or
            ``"release"`` (treat silence as neutral feedback and learn from it).
    """

    ttl_seconds: float = 24 * 3600.0
    action: str = "drop"

    def __post_init__(self) -> None:
        if self.action not in ("drop", "release"):
            raise AutoSkillError(f"window expiry action must be 'drop' or 'release', got {self.action!r}")


@dataclass(frozen=True)
class FeedbackResult:
    """What a piece of feedback did."""

    window_id: str | None
    verdict: Verdict
    outcomes: tuple[IngestOutcome, ...] = field(default=())

    @property
    def skills(self) -> list[Any]:
        """Skills added or changed because of this feedback."""
        return [o.skill for o in self.outcomes if o.skill is not None]


def _dict_events(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validated event dicts; a bad event is logged and dropped, never fatal."""
    out = []
    for position, raw in enumerate(events):
        try:
            out.append(Event.from_dict(raw).to_dict())
        except (InvalidEventError, TypeError, ValueError) as exc:
            logger.warning("dropping captured event %d: %s", position, exc)
    return out


class PendingWindows:
    """Capture, feedback and processing of pending windows over one store."""

    def __init__(self, store: Any, learner: Learner, redact: Any, *, expiry: ExpiryPolicy = ExpiryPolicy()) -> None:
        """Args:
            store: The skill store (holds the windows).
            learner: Writes what released windows teach.
            redact: ``redact_value`` callable applied to events before they are stored.
            expiry: What happens to windows nobody answers.
        """
        self.store = store
        self.learner = learner
        self.redact = redact
        self.expiry = expiry
        self.worker_id = f"{uuid.uuid4().hex[:8]}"
        self.background = False  # set by LearningWorker: released windows wait for it

    # -- capture ------------------------------------------------------------------------------

    def capture(self, events: Sequence[Mapping[str, Any]], *, thread_id: str | None = None,
                user_id: str | None = None, used_skill_ids: Sequence[str] = ()) -> Window:
        """Hold a run's events as a pending window; the first user message is feedback for
        the previous window of the thread."""
        clean = [self.redact(e) for e in _dict_events(events)]
        user = user_id or next((e["user_id"] for e in clean if e.get("user_id")), None) or "default"
        thread = thread_id or next((e["thread_id"] for e in clean if e.get("thread_id")), None) \
            or next((e["run_id"] for e in clean if e.get("run_id")), None) or uuid.uuid4().hex
        for event in clean:
            event.setdefault("user_id", user)
            event["thread_id"] = event.get("thread_id") or thread
        first_user = next((e for e in clean if e.get("type") == "message" and e.get("role") == "user"), None)
        if first_user is not None:
            previous = self.store.list_windows(thread_id=thread, statuses=("pending",))
            if previous:
                self._apply(previous[-1], verdict_from_message(str(first_user.get("content", ""))), source="next message")
        blocked = verdict_from_run(clean)
        window = Window(id=uuid.uuid4().hex, thread_id=thread, user_id=user, events=tuple(clean),
                        used_skills=tuple(dict.fromkeys(used_skill_ids)),
                        status="blocked" if blocked else "pending",
                        feedback={"reason": blocked.reason, "source": "run"} if blocked else None,
                        created_at=time.time())
        self.store.add_window(window)
        if blocked and window.used_skills:
            self.store.record_usage(window.used_skills, failures=1)
        return window

    # -- feedback -----------------------------------------------------------------------------

    def feedback(self, run_id: str, score: object = None, comment: str | None = None) -> FeedbackResult:
        """Explicit feedback on a captured run (by its run id or any child run's id)."""
        window = self.store.window_for_run(run_id) or self.store.get_window(run_id)
        if window is None:
            raise AutoSkillError(f"no captured run {run_id!r}: capture it first (or it was never recorded)")
        verdict = verdict_from_feedback(score, comment)
        return self._apply(window, verdict, source="feedback", comment=comment)

    def _apply(self, window: Window, verdict: Verdict, *, source: str, comment: str | None = None) -> FeedbackResult:
        record = {"score": verdict.score, "reason": verdict.reason, "source": source, "ts": utc_timestamp()}
        if comment:
            record["comment"] = self.redact(comment)
        outcomes: list[IngestOutcome] = []
        if verdict.action == "release":
            if self.store.transition_window(window.id, from_statuses=("pending",), to_status="released", feedback=record):
                if window.used_skills and (verdict.score or 0) > 0:
                    self.store.record_usage(window.used_skills, successes=1)
                if not self.background:
                    outcomes.extend(self._process(window.id))
        elif verdict.action == "block":
            if self.store.transition_window(window.id, from_statuses=("pending", "released"), to_status="blocked",
                                            feedback=record):
                if window.used_skills:
                    self.store.record_usage(window.used_skills, failures=1)
                if verdict.correction:
                    outcomes.extend(self._learn_correction(window, self.redact(verdict.correction)))
        return FeedbackResult(window_id=window.id, verdict=verdict, outcomes=tuple(outcomes))

    def _learn_correction(self, window: Window, correction: str) -> list[IngestOutcome]:
        """A rejected run's correction: fix the skill the run used, or learn it afresh."""
        found = self.learner.candidates([{"role": "user", "content": correction}], user_id=window.user_id)
        if not found:
            return []
        target = next((s for s in (self.store.get(i) for i in window.used_skills) if s is not None), None)
        if target is None:
            # Name the correction after what the rejected run would have taught.
            would_have = self.learner.candidates(self._turns(window), user_id=window.user_id)
            if would_have:
                from autoskill.learning.heuristic import _renamed_like

                found = [_renamed_like(found[0], would_have[0]), *found[1:]]
        candidates = [Candidate(skill=c.skill, confidence=c.confidence, evidence=c.evidence, kind="correction")
                      for c in found]
        provenance = ({"source": "feedback", "ref": window.id, "ts": utc_timestamp()},)
        return self.learner.learn(candidates, user_id=window.user_id, provenance=provenance, target=target)

    # -- processing ---------------------------------------------------------------------------

    @staticmethod
    def _turns(window: Window) -> list[dict[str, str]]:
        return [{"role": str(e.get("role", "")), "content": str(e.get("content", ""))}
                for e in window.events if e.get("type") == "message"]

    def _process(self, window_id: str) -> list[IngestOutcome]:
        """Claim one released window and learn from it; a lost race learns nothing."""
        if not self.store.transition_window(window_id, from_statuses=("released",), to_status="processing",
                                            claimed_by=self.worker_id):
            return []
        window = self.store.get_window(window_id)
        outcomes: list[IngestOutcome] = []
        try:
            provenance = ({"source": "run", "ref": ",".join(window.run_ids()[:5]) or window.id,
                           "ts": utc_timestamp()},)
            candidates = self.learner.candidates(self._turns(window), user_id=window.user_id)
            candidates.extend(self._toolflow_candidates(window))
            outcomes = self.learner.learn(candidates, user_id=window.user_id, provenance=provenance)
        finally:
            result = {"skills": [o.skill.id for o in outcomes if o.skill is not None],
                      "decisions": [f"{o.candidate.name}: {o.decision.action} ({o.decision.reason})" for o in outcomes]}
            self.store.transition_window(window_id, from_statuses=("processing",), to_status="processed", result=result)
        return outcomes

    def _toolflow_candidates(self, window: Window) -> list[Candidate]:
        """Tool sequences this run repeats from the user's earlier successful runs."""
        if not any(e.get("type") == "tool_call" for e in window.events):
            return []
        earlier = self.store.list_windows(user_id=window.user_id, statuses=("processed", "released"))
        events = [e for w in earlier[-TOOLFLOW_HISTORY:] if w.id != window.id for e in w.events]
        trajectories = group_events([*events, *window.events])
        mine = set(window.run_ids())
        return [toolflow_candidate(flow) for flow in repeated_tool_sequences(trajectories, min_runs=2)
                if mine.intersection(flow.run_ids)]

    def process_released(self, limit: int | None = None) -> list[IngestOutcome]:
        """Process released windows (oldest first); each is learned from exactly once."""
        outcomes: list[IngestOutcome] = []
        for window in self.store.list_windows(statuses=("released",), limit=limit):
            outcomes.extend(self._process(window.id))
        return outcomes

    def expire(self, now: float | None = None) -> int:
        """Apply the expiry policy to windows older than the TTL; returns how many expired."""
        cutoff = (now if now is not None else time.time()) - self.expiry.ttl_seconds
        count = 0
        for window in self.store.list_windows(statuses=("pending",), created_before=cutoff):
            record = {"score": 0.0 if self.expiry.action == "release" else None,
                      "reason": f"no feedback within {self.expiry.ttl_seconds:.0f} s", "source": "expiry"}
            target = "released" if self.expiry.action == "release" else "expired"
            if self.store.transition_window(window.id, from_statuses=("pending",), to_status=target, feedback=record):
                count += 1
        return count

    def flush(self, *, release_pending: bool = False) -> list[IngestOutcome]:
        """Expire old windows, optionally release every pending one, then process released ones."""
        self.expire()
        if release_pending:
            for window in self.store.list_windows(statuses=("pending",)):
                self.store.transition_window(window.id, from_statuses=("pending",), to_status="released",
                                             feedback={"score": 0.0, "reason": "flushed on demand", "source": "flush"})
        return self.process_released()


class LearningWorker:
    """A daemon thread that processes released windows in the background."""

    def __init__(self, windows: PendingWindows, *, interval: float = 1.0) -> None:
        self.windows = windows
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="autoskill-learning", daemon=True)

    def start(self) -> LearningWorker:
        """Start processing; capture and feedback stop processing inline."""
        self.windows.background = True
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.windows.flush()
            except Exception:  # the worker must outlive one bad window or a busy store
                logger.exception("learning worker pass failed")
            self._stop.wait(self.interval)

    def stop(self, *, drain: bool = True) -> None:
        """Stop the thread (after one last pass when ``drain``)."""
        self._stop.set()
        self._thread.join(timeout=30)
        self.windows.background = False
        if drain:
            self.windows.process_released()
