"""Version history, usage counters and pending learning windows in the SQLite ledger.

The part of the local and in-memory store that is plain ledger bookkeeping (no vectors,
no SKILL.md files); :class:`~autoskill.store.faiss_store.FaissSkillStore` mixes it in.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from autoskill.skill.model import Skill
from autoskill.skill.normalize import utc_timestamp
from autoskill.store.base import SkillVersion, UsageStats, Window, changed_fields, window_changes
from autoskill.store.ledger import Ledger, dumps

__all__ = ["LedgerBookkeeping"]


class LedgerBookkeeping:
    """History, usage and window methods of a store that keeps them in a :class:`Ledger`."""

    # Set by the store: the ledger, and the lock held around every write to it.
    _ledger: Ledger
    _lock: threading.RLock

    # -- history and usage ------------------------------------------------------------------

    def history(self, skill_id: str) -> list[SkillVersion]:
        """Every recorded version of a skill, oldest first."""
        rows = self._ledger.query(
            "SELECT seq, version, data, reason, provenance, created_at FROM versions WHERE skill_id = ? ORDER BY seq",
            (skill_id,),
        )
        versions: list[SkillVersion] = []
        previous: Skill | None = None
        for seq, version, data, reason, prov, created in rows:
            snapshot = Skill.from_dict(json.loads(data))
            versions.append(SkillVersion(skill_id=skill_id, seq=int(seq), version=version, skill=snapshot,
                                         reason=reason, provenance=tuple(json.loads(prov)), created_at=created,
                                         changes=changed_fields(previous, snapshot)))
            previous = snapshot
        return versions

    def record_usage(self, skill_ids: Iterable[str], *, retrievals: int = 0, injections: int = 0,
                     successes: int = 0, failures: int = 0) -> None:
        """Add to the usage counters of some skills."""
        ids = [i for i in dict.fromkeys(skill_ids) if i]
        if not ids:
            return
        now = utc_timestamp()
        with self._lock, self._ledger.transaction() as conn:
            for skill_id in ids:
                conn.execute(
                    "INSERT INTO usage (skill_id, retrievals, injections, successes, failures, last_used)"
                    " VALUES (?,?,?,?,?,?) ON CONFLICT(skill_id) DO UPDATE SET"
                    " retrievals = retrievals + excluded.retrievals, injections = injections + excluded.injections,"
                    " successes = successes + excluded.successes, failures = failures + excluded.failures,"
                    " last_used = excluded.last_used",
                    (skill_id, retrievals, injections, successes, failures, now),
                )

    def usage(self, skill_id: str) -> UsageStats:
        """Usage counters of a skill (zeros when never used)."""
        rows = self._ledger.query(
            "SELECT retrievals, injections, successes, failures, last_used FROM usage WHERE skill_id = ?", (skill_id,)
        )
        if not rows:
            return UsageStats()
        r, i, s, f, last = rows[0]
        return UsageStats(int(r), int(i), int(s), int(f), last)

    # -- pending learning windows ------------------------------------------------------------

    def add_window(self, window: Window) -> None:
        """Persist a new pending window (and index its run ids for feedback by run)."""
        now = time.time()
        with self._lock, self._ledger.transaction() as conn:
            conn.execute(
                "INSERT INTO windows (id, thread_id, user_id, events, used_skills, status, feedback, result,"
                " claimed_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,NULL,?,?)",
                (window.id, window.thread_id, window.user_id, dumps([dict(e) for e in window.events]),
                 dumps(list(window.used_skills)), window.status,
                 dumps(dict(window.feedback)) if window.feedback is not None else None,
                 dumps(dict(window.result)) if window.result is not None else None,
                 window.created_at or now, now),
            )
            for run_id in window.run_ids():
                conn.execute("INSERT OR REPLACE INTO window_runs (run_id, window_id) VALUES (?, ?)", (run_id, window.id))

    @staticmethod
    def _window_from_row(row: Sequence[Any]) -> Window:
        wid, thread, user, events, used, status, feedback, result, created, updated = row
        return Window(id=wid, thread_id=thread, user_id=user, events=tuple(json.loads(events)),
                      used_skills=tuple(json.loads(used)), status=status,
                      feedback=json.loads(feedback) if feedback else None,
                      result=json.loads(result) if result else None, created_at=created, updated_at=updated)

    _WINDOW_COLUMNS = "id, thread_id, user_id, events, used_skills, status, feedback, result, created_at, updated_at"

    def get_window(self, window_id: str) -> Window | None:
        """A window by id."""
        rows = self._ledger.query(f"SELECT {self._WINDOW_COLUMNS} FROM windows WHERE id = ?", (window_id,))
        return self._window_from_row(rows[0]) if rows else None

    def window_for_run(self, run_id: str) -> Window | None:
        """The window holding a run (root or child run id)."""
        rows = self._ledger.query("SELECT window_id FROM window_runs WHERE run_id = ?", (run_id,))
        return self.get_window(rows[0][0]) if rows else None

    def list_windows(self, *, thread_id: str | None = None, user_id: str | None = None,
                     statuses: Sequence[str] | None = None, created_before: float | None = None,
                     limit: int | None = None) -> list[Window]:
        """Windows matching every given condition, oldest first."""
        clauses, params = [], []
        if thread_id is not None:
            clauses.append("thread_id = ?")
            params.append(thread_id)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if created_before is not None:
            clauses.append("created_at < ?")
            params.append(created_before)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit else ""
        rows = self._ledger.query(f"SELECT {self._WINDOW_COLUMNS} FROM windows{where} ORDER BY created_at, rowid{tail}", params)
        return [self._window_from_row(r) for r in rows]

    def transition_window(self, window_id: str, *, from_statuses: Sequence[str], to_status: str,
                          feedback: Mapping[str, Any] | None = None, result: Mapping[str, Any] | None = None,
                          claimed_by: str | None = None) -> bool:
        """Move a window to ``to_status`` only if it is in one of ``from_statuses``.

        The check and the write are one SQLite statement inside a write transaction, so
        of two threads or processes racing for a window exactly one wins.
        """
        sets, params = window_changes(to_status, feedback=feedback, result=result, claimed_by=claimed_by,
                                      placeholder="?", encode=dumps)
        params.extend([window_id, *from_statuses])
        with self._lock, self._ledger.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE windows SET {', '.join(sets)} WHERE id = ? AND status IN ({','.join('?' * len(from_statuses))})",
                params,
            )
            return cursor.rowcount == 1
