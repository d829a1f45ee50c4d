"""The AutoSkill local store at 10k and 100k skills, side by side with the usual baselines.

For each size it builds two persisted local stores from the same synthetic skills (hashing
embeddings, 256 dims): one where the skills belong to 1,000 users (user-scoped search) and
one where they form one shared library (library-wide search). It then times, excluding
query embedding unless stated:

* our store's vector search, user-scoped and library-wide,
* our full hybrid search (``AutoSkill.search``: query embedding + FAISS + BM25 + fusion),
* numpy float32 brute force (``matrix @ q`` + ``argpartition``), unfiltered and with a
  user mask,
* LangChain ``InMemoryVectorStore`` (unfiltered, and with the equivalent user filter),
* LlamaIndex ``SimpleVectorStore`` (unfiltered),

and reports the import rate and the time to open each persisted store. Baselines that
would take longer than ``--max-seconds`` at a size are skipped and the table says so.

Usage::

    python benchmarks/bench_store.py --sizes 10000 100000 --queries 200
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vector_index import Row, machine_info, measured, print_table
from skillgen import synthetic_queries, synthetic_skills

from autoskill.embeddings import HashingEmbedder
from autoskill.retrieval.fields import skill_embedding_text
from autoskill.store import LocalSkillStore, SkillFilter

N_USERS = 1000
K = 10
BATCH = 5000


def build_store(path: Path, skills: list, vectors: np.ndarray, embedder: HashingEmbedder,
                library: bool) -> float:
    """Write a local store; returns seconds spent."""
    start = time.perf_counter()
    store = LocalSkillStore(path, embedder, check_files=False)
    for i in range(0, len(skills), BATCH):
        store.upsert_many(skills[i:i + BATCH], vectors[i:i + BATCH], allow_library=library)
    store.close()
    return time.perf_counter() - start


def open_time(path: Path, embedder: HashingEmbedder, check_files: bool) -> tuple[float, LocalSkillStore]:
    start = time.perf_counter()
    store = LocalSkillStore(path, embedder, check_files=check_files)
    return time.perf_counter() - start, store


def numpy_search(vectors: np.ndarray, queries: np.ndarray, mask_of: Callable[[int], np.ndarray] | None):
    def search(i: int) -> list[int]:
        scores = vectors @ queries[i]
        if mask_of is not None:
            scores = np.where(mask_of(i), scores, -np.inf)
        top = np.argpartition(-scores, K)[:K]
        return top[np.argsort(-scores[top])].tolist()
    return lambda: search


def langchain_search(vectors: np.ndarray, queries: np.ndarray, owners: list[str] | None,
                     user_of: Callable[[int], str] | None):
    def build() -> Callable[[int], list[int]]:
        from langchain_core.embeddings import DeterministicFakeEmbedding
        from langchain_core.vectorstores import InMemoryVectorStore

        store = InMemoryVectorStore(DeterministicFakeEmbedding(size=vectors.shape[1]))
        for i, row in enumerate(vectors.tolist()):
            metadata = {"user_id": owners[i]} if owners else {}
            store.store[str(i)] = {"id": str(i), "vector": row, "text": "", "metadata": metadata}
        qs = queries.tolist()
        if user_of is None:
            return lambda i: [int(d.id) for d in store.similarity_search_by_vector(qs[i], k=K)]
        return lambda i: [int(d.id) for d in store.similarity_search_by_vector(
            qs[i], k=K, filter=lambda doc, u=user_of(i): doc.metadata["user_id"] == u)]
    return build


def llamaindex_search(vectors: np.ndarray, queries: np.ndarray):
    def build() -> Callable[[int], list[int]]:
        from llama_index.core.schema import TextNode
        from llama_index.core.vector_stores import SimpleVectorStore, VectorStoreQuery

        store = SimpleVectorStore()
        store.add([TextNode(id_=str(i), text="", embedding=row) for i, row in enumerate(vectors.tolist())])
        qs = queries.tolist()
        return lambda i: [int(x) for x in store.query(VectorStoreQuery(query_embedding=qs[i], similarity_top_k=K)).ids]
    return build


def run_size(n: int, n_queries: int, max_seconds: float, workdir: Path) -> tuple[list[Row], list[str]]:
    embedder = HashingEmbedder(dims=256)
    notes: list[str] = []
    user_skills = synthetic_skills(n, n_users=N_USERS)
    library_skills = synthetic_skills(n, n_users=N_USERS, library="bench")
    t0 = time.perf_counter()
    vectors = embedder.embed_documents([skill_embedding_text(s) for s in user_skills])
    notes.append(f"embedding {n:,} skills: {time.perf_counter() - t0:.1f} s")
    texts = synthetic_queries(n_queries)
    queries = embedder.embed_documents(texts)
    users = [f"user-{i % N_USERS}" for i in range(n_queries)]
    owners = [s.user_id for s in user_skills]
    owner_arr = np.asarray(owners)

    user_path, lib_path = workdir / f"users-{n}", workdir / f"library-{n}"
    seconds = build_store(user_path, user_skills, vectors, embedder, library=False)
    notes.append(f"import {n:,} user skills (SKILL.md tree + ledger + index): {seconds:.1f} s, {n / seconds:,.0f} skills/s")
    seconds = build_store(lib_path, library_skills, vectors, embedder, library=True)
    notes.append(f"import {n:,} library skills: {seconds:.1f} s, {n / seconds:,.0f} skills/s")
    for label, path in (("user store", user_path), ("library store", lib_path)):
        fast, store = open_time(path, embedder, check_files=False)
        store.close()
        full, store = open_time(path, embedder, check_files=True)
        store.close()
        notes.append(f"open {label} ({n:,} skills): {fast:.2f} s ledger+index, {full:.2f} s with SKILL.md hash check")

    _, user_store = open_time(user_path, embedder, check_files=False)
    _, lib_store = open_time(lib_path, embedder, check_files=False)
    # A library of 50,000 skills or more is searched through an IVF index; a build left
    # unfinished when the import closed the store restarts at open: time what it serves.
    t0 = time.perf_counter()
    lib_store.index.wait_for_builds()
    kind = lib_store.index.partition_kind("library:bench")
    notes.append(f"library index: {kind} (waited {time.perf_counter() - t0:.1f} s for a background build)")
    id_of_user = {s.id: i for i, s in enumerate(user_skills)}
    id_of_lib = {s.id: i for i, s in enumerate(library_skills)}

    def ours(store: LocalSkillStore, flt_of: Callable[[int], SkillFilter], id_map: dict[str, int]):
        return lambda: (lambda i: [id_map[h.skill.id] for h in store.search(queries[i], K, flt_of(i))])

    truth_all = [numpy_search(vectors, queries, None)()(i) for i in range(n_queries)]
    masks = {u: owner_arr == u for u in set(users)}
    truth_user = [numpy_search(vectors, queries, lambda j: masks[users[j]])()(i) for i in range(n_queries)]

    from autoskill.retrieval.hybrid import HybridSearcher

    hybrid = HybridSearcher(user_store, embedder)
    rows = [
        measured("ours: vector search, user-scoped", ours(user_store, lambda i: SkillFilter(user_id=users[i], scope="user"), id_of_user), n_queries, truth_user, max_seconds),
        measured("numpy brute force + user mask", numpy_search(vectors, queries, lambda i: masks[users[i]]), n_queries, truth_user, max_seconds),
        measured("LangChain InMemoryVectorStore + filter", langchain_search(vectors, queries, owners, lambda i: users[i]), n_queries, truth_user, max_seconds),
        measured("ours: hybrid AutoSkill.search, user-scoped*", lambda: (lambda i: [id_of_user[h.skill.id] for h in hybrid.search(texts[i], SkillFilter(user_id=users[i], scope="user"), K)]), n_queries, truth_user, max_seconds),
        measured("ours: vector search, library-wide", ours(lib_store, lambda i: SkillFilter(scope="library"), id_of_lib), n_queries, truth_all, max_seconds),
        measured("numpy float32 brute force", numpy_search(vectors, queries, None), n_queries, truth_all, max_seconds),
        measured("LangChain InMemoryVectorStore", langchain_search(vectors, queries, None, None), n_queries, truth_all, max_seconds),
        measured("LlamaIndex SimpleVectorStore", llamaindex_search(vectors, queries), n_queries, truth_all, max_seconds),
    ]
    rows[3].note = (rows[3].note + " " if rows[3].note else "") + "(*includes query embedding, BM25 and fusion; recall vs vector-only truth)"
    user_store.close()
    lib_store.close()
    gc.collect()
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    print(f"$ python benchmarks/bench_store.py --sizes {' '.join(map(str, args.sizes))} --queries {args.queries}")
    for line in machine_info():
        print(line)
    results: dict[int, list[Row]] = {}
    all_notes: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="autoskill-bench-"))
    try:
        for n in args.sizes:
            rows, notes = run_size(n, args.queries, args.max_seconds, workdir)
            results[n] = rows
            all_notes.extend(notes)
            for note in notes:
                print("  " + note, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_table(results, K)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
