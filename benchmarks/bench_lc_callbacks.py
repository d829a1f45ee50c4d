"""What ``AutoSkillCallbackHandler`` costs per run, on a trivial chain.

The chain is ``RunnableLambda | fake chat model`` (no network, no model work), so the
difference between the rows is the handler: tracing the run tree, turning it into events,
redaction, and ``sdk.capture`` writing the pending window. Each configuration runs
``--runs`` invocations (after ``--warmup``), each with a different request text, one at a
time; no thread is given, so no capture releases an earlier window (learning, which is
separate work, never runs inside the timed calls).

Configurations:

* no handler;
* handler whose ``sdk.capture`` is a no-op (the handler's own work: tracing, events);
* handler, ``inmemory`` store;
* handler, ``local`` store (SQLite ledger on disk, in a temporary folder).

Usage::

    python benchmarks/bench_lc_callbacks.py --runs 500
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import langchain_core
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import Runnable, RunnableLambda

from autoskill import AutoSkill, AutoSkillConfig
from autoskill_lc import AutoSkillCallbackHandler


def make_chain() -> Runnable:
    prompt = RunnableLambda(lambda inputs: f"You help with releases.\n\n{inputs['input']}")
    return prompt | FakeListChatModel(responses=["Run the tests, then canary, then roll out."])


def make_sdk(store: dict[str, Any]) -> AutoSkill:
    return AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 256}, store=store))


def time_runs(invoke: Callable[[int], Any], runs: int, warmup: int) -> list[float]:
    for i in range(warmup):
        invoke(-1 - i)
    gc.collect()
    timings = []
    for i in range(runs):
        start = time.perf_counter()
        invoke(i)
        timings.append((time.perf_counter() - start) * 1000.0)
    return timings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)

    chain = make_chain()
    request = "Release {i}: run regression tests -> canary rollout -> monitor -> full rollout."

    def plain(i: int) -> Any:
        return chain.invoke({"input": request.format(i=i)})

    rows: list[tuple[str, list[float]]] = [("no handler", time_runs(plain, args.runs, args.warmup))]

    # The handler's own share: trace the run and build its events, but hand them to a
    # no-op instead of sdk.capture (which redacts every string and writes the window).
    stub_sdk = make_sdk({"provider": "inmemory"})
    stub_sdk.capture = lambda events, **kwargs: "window"  # type: ignore[method-assign]
    stub = AutoSkillCallbackHandler(stub_sdk, user_id="bench")
    rows.append(("handler, capture stubbed (tracing + events only)",
                 time_runs(lambda i: chain.invoke({"input": request.format(i=i)}, config={"callbacks": [stub]}),
                           args.runs, args.warmup)))
    with tempfile.TemporaryDirectory() as folder:
        for label, store in (("handler, inmemory store", {"provider": "inmemory"}),
                             ("handler, local store (SQLite)", {"provider": "local", "path": folder})):
            sdk = make_sdk(store)
            handler = AutoSkillCallbackHandler(sdk, user_id="bench")
            config = {"callbacks": [handler]}

            def traced(i: int, config: dict[str, Any] = config) -> Any:
                return chain.invoke({"input": request.format(i=i)}, config=config)

            timings = time_runs(traced, args.runs, args.warmup)
            captured = len(sdk.pending(user_id="bench"))
            assert captured == args.runs + args.warmup, f"captured {captured} runs"
            rows.append((label, timings))
            sdk.close()

    base = statistics.median(rows[0][1])
    print(f"# Python {platform.python_version()} on {platform.machine()}, langchain-core "
          f"{langchain_core.__version__}, {args.runs} runs each (after {args.warmup} warm-up runs)")
    print()
    print("| configuration | p50 ms | p99 ms | mean ms | handler cost per run (p50 difference) |")
    print("|---|---|---|---|---|")
    for label, timings in rows:
        p50 = percentile(timings, 0.50)
        diff = "—" if label == "no handler" else f"+{p50 - base:.3f} ms"
        print(f"| {label} | {p50:.3f} | {percentile(timings, 0.99):.3f} | {statistics.fmean(timings):.3f} | {diff} |")


if __name__ == "__main__":
    sys.exit(main())
