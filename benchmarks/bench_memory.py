"""Peak memory per skill of the local store, and how long a large store takes to open.

Each phase runs in a fresh subprocess and reports its peak resident set size (Linux
``VmHWM``, reset just before the phase) minus the same process's footprint then (interpreter, numpy, FAISS,
an empty store), divided by the number of skills:

* ``import``: write N synthetic skills in batches of 5,000 (the skills are generated and
  embedded before the phase starts, so neither the benchmark's data nor the embedder's
  caches count: the figure is the store's),
* ``open``: open the persisted store (saved index memory-mapped, skills parsed on
  demand) and run 200 user-scoped vector searches,
* ``hybrid``: open it and run 200 full ``AutoSkill.search`` calls (query embedding,
  vector search, BM25 over every skill, fusion). The first time, the BM25 index is built on
  the first query (every skill read from the ledger and tokenised) and saved at close; the
  second time it is loaded from that file and the changes since replayed.

The budget the issue sets is twice a skill's text (its SKILL.md) plus its vector.
Opening is timed three ways: the first open after the import (the index saved at close),
a second open, and an open after deleting the saved index (rebuilt from the ledger).

Usage::

    python benchmarks/bench_memory.py --size 100000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCH = 5000


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def child(phase: str, path: Path, n: int) -> dict[str, float]:
    """Run one phase in this process; returns its measurements."""
    sys.path.insert(0, str(HERE))
    import numpy as np
    from skillgen import batched_synthetic_skills, synthetic_queries, synthetic_skills

    from autoskill.embeddings import HashingEmbedder
    from autoskill.retrieval.fields import skill_embedding_text
    from autoskill.skill.skillmd import render_skill_md
    from autoskill.store import LocalSkillStore, SkillFilter

    embedder = HashingEmbedder(dims=256)
    # Warm every code path on a throwaway store so the baseline includes them.
    with tempfile.TemporaryDirectory() as warm:
        s = LocalSkillStore(warm, embedder)
        s.upsert_many(synthetic_skills(10, n_users=2, seed=99))
        s.search(embedder.embed_query("deploy"), 5, SkillFilter(user_id="user-0"))
        s.close()
    queries = embedder.embed_documents(synthetic_queries(200))
    import gc

    out: dict[str, float] = {}
    if phase == "import":
        batches = list(batched_synthetic_skills(n, BATCH, n_users=1000))
        vectors = [embedder.embed_documents([skill_embedding_text(s) for s in batch]) for batch in batches]
        out["text_bytes"] = sum(len(render_skill_md(s).encode("utf-8")) for b in batches for s in b) / n
        gc.collect()
        out["base_mb"] = _status_mb("VmRSS")
        _reset_peak()
        start = time.perf_counter()
        store = LocalSkillStore(path, embedder, check_files=False)
        for batch, matrix in zip(batches, vectors):
            store.upsert_many(batch, matrix)
        store.close()
        out["seconds"] = time.perf_counter() - start
    else:
        gc.collect()
        out["base_mb"] = _status_mb("VmRSS")
        _reset_peak()
        start = time.perf_counter()
        store = LocalSkillStore(path, embedder, check_files=False)
        out["open_s"] = time.perf_counter() - start
        if phase == "open":
            for i, q in enumerate(queries):
                store.search(q, 10, SkillFilter(user_id=f"user-{i % 1000}", scope="user"))
        else:
            from autoskill.retrieval.hybrid import HybridSearcher

            hybrid = HybridSearcher(store, embedder)
            for i, text in enumerate(synthetic_queries(200)):
                hybrid.search(text, SkillFilter(user_id=f"user-{i % 1000}", scope="user"), 10)
                if i == 0:
                    out["first_search_s"] = time.perf_counter() - start - out["open_s"]
        store.close()
    out["peak_mb"] = _status_mb("VmHWM")
    out["vector_bytes"] = float(np.dtype(np.float32).itemsize * embedder.dims)
    return out


def run(phase: str, path: Path, n: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", phase, "--path", str(path), "--size", str(n)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--child")
    parser.add_argument("--path")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.path), args.size)))
        return 0
    sys.path.insert(0, str(HERE))
    from bench_vector_index import machine_info

    print(f"$ python benchmarks/bench_memory.py --size {args.size}")
    for line in machine_info():
        print(line)
    n = args.size
    workdir = Path(tempfile.mkdtemp(prefix="autoskill-mem-"))
    try:
        path = workdir / "store"
        imported = run("import", path, n)
        per_skill_budget = 2 * (imported["text_bytes"] + imported["vector_bytes"])
        print(f"{n:,} synthetic skills (1,000 users), hashing vectors of {imported['vector_bytes']:.0f} bytes, "
              f"SKILL.md text {imported['text_bytes']:.0f} bytes on average; budget per skill "
              f"2 x (text + vector) = {per_skill_budget:.0f} bytes")
        print(f"import: {imported['seconds']:.1f} s, {n / imported['seconds']:,.0f} skills/s")
        rows = [("import (batches of 5,000)", imported)]
        first = run("open", path, n)
        second = run("open", path, n)
        rows.append(("open + 200 vector searches", second))
        shutil.rmtree(path / ".index")
        rebuilt = run("open", path, n)
        built = run("hybrid", path, n)
        loaded = run("hybrid", path, n)
        rows.append(("open + 200 hybrid searches", built))
        rows.append(("the same, BM25 index saved", loaded))
        print(f"open: {first['open_s']:.2f} s first after import, {second['open_s']:.2f} s again, "
              f"{rebuilt['open_s']:.2f} s with the saved index deleted (rebuilt from the ledger)")
        print(f"first hybrid search after opening: {built['first_search_s']:.2f} s building the BM25 index, "
              f"{loaded['first_search_s']:.2f} s loading the saved one")
        print()
        print("phase                        | peak MB | baseline MB | per skill bytes | x (text+vector)")
        print("-----------------------------+---------+-------------+-----------------+----------------")
        for label, m in rows:
            per_skill = (m["peak_mb"] - m["base_mb"]) * 1024 * 1024 / n
            ratio = per_skill / (imported["text_bytes"] + imported["vector_bytes"])
            print(f"{label:<28} | {m['peak_mb']:7.0f} | {m['base_mb']:11.0f} | {per_skill:15.0f} | {ratio:.2f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
