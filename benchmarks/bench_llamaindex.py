"""The LlamaIndex integration, measured: ``SkillVectorStore`` vs ``SimpleVectorStore``, and
the instrumentation's overhead per query.

Part 1. Both stores get the same ``--nodes`` ``TextNode`` objects with the same clustered
unit vectors (``benchmarks/synthetic.py``), each owned by one of ``--users`` users
(metadata ``{"user_id": "u<i % users>", "i": i}``). Then the same ``VectorStoreQuery``
objects (``query_embedding`` given, so query embedding is excluded), ``similarity_top_k``
10, go to ``store.query``: unfiltered, and with ``MetadataFilters`` on ``user_id``. Our
store returns whole nodes (it stores text); ``SimpleVectorStore`` returns ids only (the
index then reads a docstore), so ours does more per query. Also timed: ``add`` of all
nodes, ``persist`` and loading back (``from_persist_path``); ``agree`` is the share of
queries whose top-k ids are the same in both stores (both are exact).

Part 2. A trivial query engine (a retriever returning one fixed node, ``MockLLM``) answers
``--runs`` queries without and with an attached ``AutoSkillInstrumentation`` capturing into
an in-memory AutoSkill, in the application's call and with ``background=True``; the
difference is the overhead per query. The same engine with ``--wait-ms`` of I/O wait in its
retriever (as a remote call would have) shows what the background worker is for.

Usage::

    python benchmarks/bench_llamaindex.py --nodes 10000 --queries 100 --runs 300
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
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores import SimpleVectorStore
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters, VectorStoreQuery

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import clustered_vectors  # noqa: E402

from autoskill import AutoSkill, AutoSkillConfig  # noqa: E402
from autoskill_li import AutoSkillInstrumentation, SkillVectorStore  # noqa: E402

K = 10
DIMS = 256


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    values = np.asarray(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def make_nodes(vectors: np.ndarray, users: int) -> list[TextNode]:
    return [TextNode(id_=f"n{i}", text=f"document {i} about topic {i % 97}", embedding=vectors[i].tolist(),
                     metadata={"user_id": f"u{i % users}", "i": i}) for i in range(len(vectors))]


def run_queries(store: Any, queries: list[VectorStoreQuery]) -> tuple[list[float], list[list[str]]]:
    times, ids = [], []
    for query in queries:
        start = time.perf_counter()
        result = store.query(query)
        times.append(time.perf_counter() - start)
        ids.append(list(result.ids or []))
    return times, ids


def bench_stores(n: int, n_queries: int, users: int) -> list[list[str]]:
    vectors = clustered_vectors(n + n_queries, DIMS, n_clusters=max(8, n // 200), seed=7)
    docs, probes = vectors[:n], vectors[n:]
    rows: list[list[str]] = []
    plain = [VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=K) for q in probes]
    filtered = [VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=K,
                                 filters=MetadataFilters(filters=[MetadataFilter(key="user_id",
                                                                                 value=f"u{j % users}")]))
                for j, q in enumerate(probes)]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, make, load in (
            ("SkillVectorStore", lambda: SkillVectorStore(dims=DIMS), SkillVectorStore.from_persist_path),
            ("SimpleVectorStore", SimpleVectorStore, SimpleVectorStore.from_persist_path),
        ):
            store = make()
            nodes = make_nodes(docs, users)
            add_s, _ = timed(lambda: store.add(nodes))
            del nodes
            target = str(Path(tmp) / label / "default__vector_store.json")
            persist_s, _ = timed(lambda: store.persist(target))
            load_s, loaded = timed(lambda: load(target))
            for name, queries in (("unfiltered", plain), ("by user", filtered)):
                run_queries(loaded, queries[:10])  # warm up
                times, ids = run_queries(loaded, queries)
                results.setdefault(name, {})[label] = (times, ids)
            results.setdefault("io", {})[label] = (add_s, persist_s, load_s)
    for name in ("unfiltered", "by user"):
        ours_t, ours_ids = results[name]["SkillVectorStore"]
        base_t, base_ids = results[name]["SimpleVectorStore"]
        agree = sum(a == b for a, b in zip(ours_ids, base_ids)) / len(ours_ids)
        o50, o99 = percentiles(ours_t)
        b50, b99 = percentiles(base_t)
        rows.append([f"query p50 / p99, {name}", f"{o50:.2f} / {o99:.2f} ms", f"{b50:.2f} / {b99:.2f} ms",
                     f"{b50 / o50:.1f}x", f"{agree:.0%}"])
    (oa, op, ol), (ba, bp, bl) = results["io"]["SkillVectorStore"], results["io"]["SimpleVectorStore"]
    rows.append(["add all nodes", f"{oa:.2f} s", f"{ba:.2f} s", f"{ba / oa:.1f}x", ""])
    rows.append(["persist", f"{op:.2f} s", f"{bp:.2f} s", f"{bp / op:.1f}x", ""])
    rows.append(["load (from_persist_path)", f"{ol:.2f} s", f"{bl:.2f} s", f"{bl / ol:.1f}x", ""])
    return rows


class FixedRetriever(BaseRetriever):
    """Returns one fixed node: the cheapest retriever a query engine can have (optionally
    after waiting ``wait`` seconds, as a call to a remote service would)."""

    def __init__(self, wait: float = 0.0) -> None:
        super().__init__()
        self.wait = wait

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if self.wait:
            time.sleep(self.wait)
        return [NodeWithScore(node=TextNode(id_="fixed", text="The answer is 42."), score=1.0)]


def bench_instrumentation(runs: int, wait_ms: float) -> list[list[str]]:
    rows = bench_engine(f"trivial, MockLLM, {runs} queries", FixedRetriever(), runs)
    if wait_ms > 0:
        rows += bench_engine(f"same + {wait_ms:g} ms of I/O wait, {max(runs // 3, 20)} queries",
                             FixedRetriever(wait_ms / 1000), max(runs // 3, 20))
    return rows


def bench_engine(name: str, retriever: BaseRetriever, runs: int, rounds: int = 10) -> list[list[str]]:
    """The engine without and with the handler, in interleaved rounds (a shared machine's
    load then weighs on every configuration alike)."""
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": DIMS}, store={"provider": "inmemory"}))
    configs: list[tuple[str, bool | None]] = [("no handler", None), ("AutoSkillInstrumentation", False),
                                              ("AutoSkillInstrumentation(background=True)", True)]
    times: dict[str, list[float]] = {label: [] for label, _ in configs}
    for i in range(10):  # warm up
        engine.query(f"warm-up question {i}")
    per_round = max(1, runs // rounds)
    for round_ in range(rounds):
        for label, background in configs:
            instrumentation = None
            if background is not None:
                instrumentation = AutoSkillInstrumentation(sdk, user_id="bench", background=background).attach()
            try:
                for i in range(per_round):
                    start = time.perf_counter()
                    engine.query(f"what is the answer to question {round_}-{i}?")
                    times[label].append(time.perf_counter() - start)
            finally:
                if instrumentation is not None:
                    instrumentation.detach()  # waits for the background worker
    captured = len(sdk.store.list_windows())
    baseline = statistics.fmean(times["no handler"])
    rows = []
    for position, (label, background) in enumerate(configs):
        p50, p99 = percentiles(times[label])
        mean = statistics.fmean(times[label])
        overhead = "" if background is None else f"{(mean - baseline) * 1000:+.2f} ms"
        rows.append([name if position == 0 else "", label, f"{mean * 1000:.2f} ms", f"{p50:.2f} ms",
                     f"{p99:.2f} ms", overhead])
    assert captured == 2 * per_round * rounds, captured  # every instrumented run was captured
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--wait-ms", type=float, default=20.0, help="I/O wait of the second engine (0: skip it)")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {DIMS} dims, k={K}, "
          f"{args.nodes} nodes, {args.queries} queries, {args.users} users\n")
    print(table(["", "SkillVectorStore", "SimpleVectorStore", "speed-up (Simple / ours)", "agree"],
                bench_stores(args.nodes, args.queries, args.users)))
    print()
    print(table(["query engine", "instrumentation", "mean", "p50", "p99", "overhead per query"],
                bench_instrumentation(args.runs, args.wait_ms)))


if __name__ == "__main__":
    main()
