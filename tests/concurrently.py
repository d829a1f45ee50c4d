"""Run a function in several threads at once and fail the test with any thread's exception.

``tests/`` is on ``sys.path`` under pytest (its conftest.py is rootdir-level), so tests
import this as ``concurrently``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_concurrently(target: Callable[[int], object], count: int, *, timeout: float = 300.0) -> None:
    """Call ``target(0)`` .. ``target(count - 1)`` in ``count`` threads released together.

    Re-raises the first exception a thread raised (a bare ``threading.Thread`` would only
    print it and let the test go on), and fails when a thread is still running after
    ``timeout`` seconds.
    """
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait()
            target(index)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        raise AssertionError(f"{stuck} of {count} threads still running after {timeout:.0f} s")
    if errors:
        raise errors[0]
