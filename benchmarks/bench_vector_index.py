"""Search latency of AutoSkill's VectorIndex against common in-process baselines.

Measures only the search call (query vectors are precomputed: no embedding time), for:

* VectorIndex with everything in one partition (a shared library): with the default index
  selection (exact below 50,000 vectors, IVF above, built in the background; the build
  time is the "build s" column) and forced exact (``approx_threshold=None``),
* VectorIndex with 1,000 user partitions, searching one user's partition,
* VectorIndex with 1,000 user partitions, searching all of them,
* numpy float32 brute force (``matrix @ q`` + ``argpartition``),
* LangChain ``InMemoryVectorStore.similarity_search_by_vector``,
* LlamaIndex ``SimpleVectorStore.query``.

A baseline whose estimated run time at a size exceeds ``--max-seconds`` is skipped (its
per-query time from a short probe is shown instead). recall@k is measured against the
numpy brute force on the same partition: a correctness check of the exact methods, the
quality of the approximate one.

``--corpus`` adds recall@10 of the IVF path on hashing embeddings of ../shared/corpus
(every SKILL.md, queries are the skills' descriptions), where an IVF index is forced.

Usage::

    python benchmarks/bench_vector_index.py --sizes 1000 10000 100000 1000000 --dims 384 --queries 200 --corpus
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import clustered_vectors

from autoskill.retrieval import VectorIndex

N_USERS = 1000
PROBE_QUERIES = 3


@dataclass
class Row:
    method: str
    build_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    recall: float | None = None
    note: str = ""


def machine_info() -> list[str]:
    import faiss

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = [f"numpy {np.__version__}", f"faiss {faiss.__version__}"]
    for module in ("langchain_core", "llama_index.core"):
        try:
            versions.append(f"{module} {__import__(module, fromlist=['__version__']).__version__}")
        except Exception:  # a missing framework only drops its baseline
            versions.append(f"{module} (not installed)")
    return [
        f"command: {' '.join([Path(sys.executable).name, *sys.argv])}",
        f"machine: {platform.platform()}; CPU {cpu}; {os.cpu_count()} logical cores; "
        f"faiss OpenMP threads {faiss.omp_get_max_threads()}",
        f"python {platform.python_version()}; " + "; ".join(versions),
        # Other work on the machine skews latencies; the load average says how much.
        "load average at start: "
        + (" ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"),
    ]


def time_queries(
    fn: Callable[[int], list[int]], n_queries: int
) -> tuple[list[float], list[list[int]]]:
    """Run ``fn(i)`` for every query index; returns latencies (s) and the returned ids."""
    for i in range(min(3, n_queries)):  # warm-up: caches, lazy allocations
        fn(i)
    latencies: list[float] = []
    results: list[list[int]] = []
    for i in range(n_queries):
        start = time.perf_counter()
        ids = fn(i)
        latencies.append(time.perf_counter() - start)
        results.append(ids)
    return latencies, results


def recall(results: Sequence[list[int]], truth: Sequence[list[int]]) -> float:
    hits = sum(len(set(r) & set(t)) for r, t in zip(results, truth))
    total = sum(len(t) for t in truth)
    return hits / total if total else 1.0


def measured(
    method: str,
    build: Callable[[], Callable[[int], list[int]]],
    n_queries: int,
    truth: Sequence[list[int]],
    max_seconds: float,
) -> Row:
    start = time.perf_counter()
    search = build()
    build_s = time.perf_counter() - start
    # Probe first: a baseline that would run for minutes is reported, not run.
    probe = []
    for i in range(min(PROBE_QUERIES, n_queries)):
        t0 = time.perf_counter()
        search(i)
        probe.append(time.perf_counter() - t0)
    per_query = float(np.median(probe)) if probe else 0.0
    if per_query * n_queries > max_seconds:
        return Row(
            method,
            build_s,
            note=f"skipped: ~{per_query * 1e3:.0f} ms/query, est. {per_query * n_queries:.0f} s "
            f"for {n_queries} queries (> {max_seconds:.0f} s)",
        )
    latencies, results = time_queries(search, n_queries)
    ms = np.asarray(latencies) * 1e3
    return Row(
        method,
        build_s,
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
        recall(results, truth),
    )


def run_size(n: int, dims: int, n_queries: int, k: int, max_seconds: float, seed: int,
             baseline_max: int = 100_000) -> list[Row]:
    data = clustered_vectors(n + n_queries, dims, n_clusters=max(16, n // 500), seed=seed)
    vectors, queries = data[:n], data[n:]
    owners = np.arange(n) % N_USERS
    rng = np.random.default_rng(seed + 1)
    query_users = rng.integers(0, N_USERS, size=n_queries)

    def exact(ids_pool: np.ndarray, q: np.ndarray) -> list[int]:
        scores = vectors[ids_pool] @ q
        top = np.argsort(-scores, kind="stable")[:k]
        return ids_pool[top].tolist()

    all_ids = np.arange(n)
    truth_all = [exact(all_ids, q) for q in queries]
    by_user = [np.flatnonzero(owners == u) for u in range(N_USERS)]
    truth_user = [exact(by_user[u], q) for u, q in zip(query_users, queries)]

    rows: list[Row] = []

    def vi_single(**options: object) -> Callable[[], Callable[[int], list[int]]]:
        def build() -> Callable[[int], list[int]]:
            index = VectorIndex(dims, **options)  # type: ignore[arg-type]
            for start in range(0, n, 100_000):  # as a store imports: in batches
                index.add(all_ids[start:start + 100_000], vectors[start:start + 100_000], "library:all")
            index.wait_for_builds()
            kind = index.partition_kind("library:all")
            kinds.append(kind or "")
            return lambda i: [h[0] for h in index.search(queries[i], k)]
        return build

    kinds: list[str] = []
    rows.append(measured("VectorIndex, 1 partition (default)", vi_single(), n_queries, truth_all, max_seconds))
    rows[-1].note = (rows[-1].note + " " if rows[-1].note else "") + f"[{kinds[-1]}]"
    gc.collect()
    rows.append(measured("VectorIndex, 1 partition, exact", vi_single(approx_threshold=None), n_queries,
                         truth_all, max_seconds))
    gc.collect()

    partitioned = VectorIndex(dims)

    def vi_users() -> Callable[[int], list[int]]:
        for u in range(N_USERS):
            partitioned.add(by_user[u], vectors[by_user[u]], f"user:u{u}")
        return lambda i: [
            h[0] for h in partitioned.search(queries[i], k, partitions=[f"user:u{query_users[i]}"])
        ]

    rows.append(
        measured(
            f"VectorIndex, 1 of {N_USERS} user partitions",
            vi_users,
            n_queries,
            truth_user,
            max_seconds,
        )
    )
    rows.append(
        measured(
            f"VectorIndex, all {N_USERS} user partitions",
            lambda: lambda i: [h[0] for h in partitioned.search(queries[i], k)],
            n_queries,
            truth_all,
            max_seconds,
        )
    )

    def numpy_bf() -> Callable[[int], list[int]]:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)

        def search(i: int) -> list[int]:
            scores = matrix @ queries[i]
            top = np.argpartition(-scores, k)[:k]
            return top[np.argsort(-scores[top])].tolist()

        return search

    rows.append(
        measured("numpy brute force (matrix @ q)", numpy_bf, n_queries, truth_all, max_seconds)
    )

    if n > baseline_max:
        rows.append(Row("LangChain InMemoryVectorStore", note=f"not run above {baseline_max:,} (memory)"))
        rows.append(Row("LlamaIndex SimpleVectorStore", note=f"not run above {baseline_max:,} (memory)"))
        return rows
    try:
        rows.append(
            measured(
                "LangChain InMemoryVectorStore",
                lambda: langchain_search(vectors, queries, k),
                n_queries,
                truth_all,
                max_seconds,
            )
        )
    except ImportError as exc:
        rows.append(Row("LangChain InMemoryVectorStore", note=f"not run: {exc}"))
    gc.collect()
    try:
        rows.append(
            measured(
                "LlamaIndex SimpleVectorStore",
                lambda: llamaindex_search(vectors, queries, k),
                n_queries,
                truth_all,
                max_seconds,
            )
        )
    except ImportError as exc:
        rows.append(Row("LlamaIndex SimpleVectorStore", note=f"not run: {exc}"))
    gc.collect()
    return rows


def langchain_search(
    vectors: np.ndarray, queries: np.ndarray, k: int
) -> Callable[[int], list[int]]:
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=vectors.shape[1]))
    # Exactly what add_documents stores (one dict per document, the vector as the list an
    # Embeddings returns), without calling the fake embedder for every row.
    for i, row in enumerate(vectors.tolist()):
        doc_id = str(i)
        store.store[doc_id] = {"id": doc_id, "vector": row, "text": "", "metadata": {}}
    query_lists = queries.tolist()
    return lambda i: [int(d.id) for d in store.similarity_search_by_vector(query_lists[i], k=k)]


def llamaindex_search(
    vectors: np.ndarray, queries: np.ndarray, k: int
) -> Callable[[int], list[int]]:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores import SimpleVectorStore, VectorStoreQuery

    store = SimpleVectorStore()
    store.add(
        [TextNode(id_=str(i), text="", embedding=row) for i, row in enumerate(vectors.tolist())]
    )
    query_lists = queries.tolist()

    def search(i: int) -> list[int]:
        result = store.query(VectorStoreQuery(query_embedding=query_lists[i], similarity_top_k=k))
        return [int(x) for x in result.ids or []]

    return search


def corpus_recall(k: int) -> None:
    """recall@k of a forced IVF index on hashing embeddings of every corpus skill."""
    from autoskill.embeddings import HashingEmbedder
    from autoskill.retrieval.fields import skill_embedding_text
    from autoskill.retrieval.vector_index import ivf_lists_for, ivf_nprobe_for
    from autoskill.skill.folder import iter_skill_dirs, load_skill_dir

    root = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    skills = []
    for folder in iter_skill_dirs(root):
        try:
            skills.append(load_skill_dir(folder).skill)
        except Exception:  # noqa: BLE001 - the corpus has malformed files on purpose
            continue
    embedder = HashingEmbedder()
    vectors = np.asarray(embedder.embed_documents([skill_embedding_text(s) for s in skills]), dtype=np.float32)
    queries = np.asarray(embedder.embed_documents([s.description for s in skills[::7]]), dtype=np.float32)
    nlist = ivf_lists_for(len(skills))
    print(f"corpus: {len(skills):,} skills from {root}, hashing embeddings ({embedder.identity}), "
          f"{len(queries)} description queries, IVF with {nlist} lists; recall@{k} against exact:")
    # The default nprobe searches most lists of so small an index; smaller ones show how
    # the approximate path does on these embeddings when it searches a small share.
    for nprobe in sorted({max(1, nlist // 32), max(1, nlist // 8), max(1, nlist // 4), ivf_nprobe_for(nlist)}):
        index = VectorIndex(vectors.shape[1], approx_threshold=1, background=False, nprobe=nprobe)
        index.add(np.arange(len(skills)), vectors, "library:corpus")
        found = 0
        for q in queries:
            exact = {i for i, _ in index.search(q, k, exact=True)}
            found += len(exact & {i for i, _ in index.search(q, k)})
        label = " (default)" if nprobe == ivf_nprobe_for(nlist) else ""
        print(f"  nprobe {nprobe}/{nlist}{label}: recall@{k} {found / (k * len(queries)):.3f}")


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: dict[int, list[Row]], k: int) -> None:
    header = ["size", "method", "build s", "p50 ms", "p99 ms", f"recall@{k}", "note"]
    lines = []
    for n, rows in results.items():
        for row in rows:
            lines.append(
                [
                    f"{n:,}",
                    row.method,
                    fmt(row.build_s, ".2f"),
                    fmt(row.p50_ms, ".3f"),
                    fmt(row.p99_ms, ".3f"),
                    fmt(row.recall, ".3f"),
                    row.note,
                ]
            )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for line in lines:
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="skip a baseline estimated to take longer"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-max", type=int, default=100_000,
                        help="largest size at which the framework stores are built (they hold Python lists)")
    parser.add_argument("--corpus", action="store_true", help="also measure IVF recall on hashing embeddings of ../shared/corpus")
    args = parser.parse_args(argv)

    for line in machine_info():
        print(line)
    print(
        f"data: clustered unit vectors, dims={args.dims}, {args.queries} queries, k={args.k}, "
        f"{N_USERS} users (vector i belongs to user i % {N_USERS}); latency excludes embedding"
    )
    print()
    results: dict[int, list[Row]] = {}
    started = time.perf_counter()
    for n in args.sizes:
        results[n] = run_size(n, args.dims, args.queries, args.k, args.max_seconds, args.seed, args.baseline_max)
    print_table(results, args.k)
    if args.corpus:
        print()
        corpus_recall(args.k)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
