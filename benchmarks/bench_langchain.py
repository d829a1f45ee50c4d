"""``SkillVectorStore`` vs LangChain's ``InMemoryVectorStore``, side by side on the same vectors.

For each size, both stores get the same random clustered unit vectors (``doc-<i>`` texts
through one lookup ``Embeddings``, so no model runs), each document owned by one of
``--users`` users (metadata ``{"user_id": "u<i % users>", "i": i}``). Then the same query
vectors go to ``similarity_search_by_vector`` (query embedding excluded), k=10:

* unfiltered,
* filtered by user: ``filter={"user_id": u}`` for ours, the equivalent callable
  ``lambda d: d.metadata["user_id"] == u`` for ``InMemoryVectorStore`` (the filter type it takes).

The ``pace`` column is the machine's speed while ours was timed: the median time of a
fixed pure-Python loop run after each of our queries, outside the timing (about 2.3-2.9 us
here at full speed; this shared host has stretches, up to half a second long, where every
computation, that loop included, takes about 1.7x as long, and our p50s move with it).
After an unfiltered query the loop also pays for the caches the query emptied, so compare
paces within one kind of search.

A baseline that would take longer than ``--max-seconds`` for all queries at a size is
skipped (estimated from a few timed queries) and the table says so. The ``agree`` column is
the share of queries whose top-k ids are the same in both stores (both are exact).

Usage::

    python benchmarks/bench_langchain.py --sizes 10000 100000 --queries 150
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import clustered_vectors  # noqa: E402

from autoskill_lc import SkillVectorStore  # noqa: E402

K = 10
BATCH = 5000


class LookupEmbeddings(Embeddings):
    """``doc-<i>`` -> row ``i`` of a fixed matrix (any other text: row 0)."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def _row(self, text: str) -> list[float]:
        index = int(text[4:]) if text.startswith("doc-") else 0
        return self.vectors[index].tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._row(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._row(text)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    arr = np.asarray(samples) * 1000.0
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def reference_loop_us() -> float:
    """One run of a fixed pure-Python loop, in microseconds: the machine's pace right now."""
    start = time.perf_counter()
    sum(i for i in range(100))
    return (time.perf_counter() - start) * 1e6


def timed(search: Callable[[int], list[Document]], count: int,
          paces: list[float] | None = None) -> tuple[list[float], list[list[str]]]:
    """Per-query seconds and result ids for queries ``0 .. count-1`` (and the machine's
    pace after each query into ``paces``, outside the timed part)."""
    times, ids = [], []
    for q in range(count):
        start = time.perf_counter()
        docs = search(q)
        times.append(time.perf_counter() - start)
        ids.append([str(d.id) for d in docs])
        if paces is not None:
            paces.append(reference_loop_us())
    return times, ids


def build(n: int, dims: int, users: int, seed: int) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    vectors = clustered_vectors(n, dims, max(16, n // 500), seed)
    texts = [f"doc-{i}" for i in range(n)]
    metadatas = [{"user_id": f"u{i % users}", "i": i} for i in range(n)]
    return vectors, texts, metadatas


def run_size(n: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    vectors, texts, metadatas = build(n, args.dims, args.users, args.seed)
    queries = clustered_vectors(args.queries, args.dims, max(16, n // 500), args.seed + 1)
    query_lists = [q.tolist() for q in queries]
    query_users = [f"u{q * 7919 % args.users}" for q in range(args.queries)]
    embeddings = LookupEmbeddings(vectors)

    start = time.perf_counter()
    ours = SkillVectorStore(embedding=embeddings)
    for i in range(0, n, BATCH):
        ours.add_texts(texts[i:i + BATCH], metadatas[i:i + BATCH], ids=[str(j) for j in range(i, min(n, i + BATCH))])
    # Record partitions (one per user) stay exact; wait for any background index build
    # anyway, so the timing is of what the store normally serves.
    ours.store.index.wait_for_builds()
    kinds = {ours.store.index.partition_kind(p) for p in ours.store.index.partitions()}
    kind = "/".join(sorted(k for k in kinds if k))
    ours_build = time.perf_counter() - start

    start = time.perf_counter()
    theirs = InMemoryVectorStore(embedding=embeddings)
    for i in range(0, n, BATCH):
        theirs.add_texts(texts[i:i + BATCH], metadatas[i:i + BATCH], ids=[str(j) for j in range(i, min(n, i + BATCH))])
    theirs_build = time.perf_counter() - start
    print(f"n={n}: built ours in {ours_build:.1f}s (index: {kind}), InMemoryVectorStore in {theirs_build:.1f}s",
          flush=True)
    # Both stores' objects (InMemoryVectorStore alone holds n * dims Python floats) would make
    # every cyclic-GC pass during timing slow, for whichever store is being timed: exclude them.
    gc.collect()
    gc.freeze()

    cases: list[tuple[str, Callable[[int], list[Document]], Callable[[int], list[Document]]]] = [
        ("unfiltered",
         lambda q: ours.similarity_search_by_vector(query_lists[q], k=K),
         lambda q: theirs.similarity_search_by_vector(query_lists[q], k=K)),
        ("user filter",
         lambda q: ours.similarity_search_by_vector(query_lists[q], k=K, filter={"user_id": query_users[q]}),
         lambda q: theirs.similarity_search_by_vector(
             query_lists[q], k=K, filter=lambda d, u=query_users[q]: d.metadata["user_id"] == u)),
    ]
    rows = []
    for label, ours_search, theirs_search in cases:
        ours_search(0)  # warm-up (first-use allocations)
        paces: list[float] = []
        ours_times, ours_ids = timed(ours_search, args.queries, paces)
        probe = min(3, args.queries)
        probe_times, probe_ids = timed(theirs_search, probe)
        estimate = float(np.mean(probe_times)) * args.queries
        row: dict[str, Any] = {"n": n, "search": label, "ours": percentiles(ours_times),
                               "pace": float(np.median(paces))}
        if estimate > args.max_seconds:
            row["theirs"] = None
            row["note"] = (f"skipped: ~{estimate:.0f} s for {args.queries} queries > {args.max_seconds:.0f} s "
                           f"(~{estimate / args.queries * 1000:.0f} ms per query over {probe} probes)")
            row["agree"] = np.mean([a == b for a, b in zip(ours_ids[:probe], probe_ids)])
        else:
            theirs_times, theirs_ids = timed(theirs_search, args.queries)
            row["theirs"] = percentiles(theirs_times)
            row["agree"] = np.mean([a == b for a, b in zip(ours_ids, theirs_ids)])
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


def format_row(row: dict[str, Any]) -> str:
    p50, p99 = row["ours"]
    if row["theirs"] is None:
        theirs, speedup = "—", "—"
        note = row["note"]
    else:
        t50, t99 = row["theirs"]
        theirs, speedup, note = f"{t50:.2f} / {t99:.2f}", f"{t50 / p50:.0f}x", ""
    agree = f"{row['agree']:.2f}"
    return (f"| {row['n']:,} | {row['search']} | {p50:.3f} / {p99:.3f} | {theirs} | {speedup} | {agree} "
            f"| {row['pace']:.2f} | {note} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"# {platform.python_version()} on {platform.machine()} ({platform.processor() or 'cpu'}), "
          f"dims={args.dims}, users={args.users}, k={K}, queries={args.queries}", flush=True)
    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        rows.extend(run_size(n, args))
        gc.unfreeze()  # the stores of this size are gone: let the collector free them
        gc.collect()
    print()
    print("| documents | search | SkillVectorStore p50 / p99 ms | InMemoryVectorStore p50 / p99 ms "
          "| speed-up (p50) | agree | pace us | note |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(format_row(row))


if __name__ == "__main__":
    main()
