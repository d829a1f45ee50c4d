"""Named crash points in the store's write path, for crash-safety tests.

``_crash_point(name)`` does nothing unless the environment variable
``AUTOSKILL_TEST_CRASH_AT`` names that point: ``"after-ledger-commit"`` kills the process
(SIGKILL, no cleanup, exactly what an OOM kill or a power cut of the process does) the
first time the point is reached, ``"after-ledger-commit:3"`` the third time. The check is
one environment lookup, so the points cost nothing in production.

Points (in write order): ``before-ledger-commit``, ``after-ledger-commit``,
``after-index-update``, ``tree-resources-written``, ``tree-temp-half-written``,
``tree-temp-written``, ``after-tree-write``, ``delete-after-commit``,
``delete-after-trash``, and ``tree-job-replayed`` (inside the recovery that finishes a dead
writer's tree jobs, so recovery is interrupted too).
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["CRASH_ENV", "CRASH_POINTS", "_crash_point"]

CRASH_ENV = "AUTOSKILL_TEST_CRASH_AT"
CRASH_POINTS = (
    "before-ledger-commit",
    "after-ledger-commit",
    "after-index-update",
    "tree-resources-written",
    "tree-temp-half-written",
    "tree-temp-written",
    "after-tree-write",
    "delete-after-commit",
    "delete-after-trash",
    "tree-job-replayed",
)

_hits: dict[str, int] = {}
_hits_lock = threading.Lock()


def _crash_point(name: str) -> None:
    """SIGKILL this process when ``AUTOSKILL_TEST_CRASH_AT`` names ``name`` (see the module doc)."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    with _hits_lock:
        _hits[name] = _hits.get(name, 0) + 1
        count = _hits[name]
    if count >= (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
