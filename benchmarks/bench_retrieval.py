"""Retrieval quality on the public benchmarks in ../shared/eval, against BM25 in the same run.

For each set, every item becomes a shared-library skill (name, description, body as the
instructions) in an in-memory AutoSkill; each query is answered by ``AutoSkill.search``
(hybrid: vector + BM25 + name signals), by the vector path alone, and by a plain BM25 over
the same fields (``autoskill.retrieval.BM25Index`` with uniform field weights, the
"BM25 baseline" a user would otherwise reach for). Metrics: Recall@1/5/10, nDCG@10, MRR.

Usage::

    python benchmarks/bench_retrieval.py                       # every set, default offline stack
    python benchmarks/bench_retrieval.py --sample 1000         # metatool sampled (20,550 queries)
    python benchmarks/bench_retrieval.py --dims 1024           # a larger hashing embedder
    python benchmarks/bench_retrieval.py --embedder minilm     # MiniLM (autoskill[semantic])
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from autoskill import AutoSkill, AutoSkillConfig, Skill
from autoskill.retrieval import BM25Index
from autoskill.store import SkillFilter

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
SETS = [  # (name, queries file, items file)
    ("metatool", "metatool.jsonl", "metatool_tools.jsonl"),
    ("metatool_multi", "metatool_multi.jsonl", "metatool_multi_tools.jsonl"),
    ("skillsbench", "skillsbench.jsonl", "skillsbench_tools.jsonl"),
    ("skillsbench_pool", "skillsbench.jsonl", "skillsbench_pool_tools.jsonl"),
]
K = 10


def load(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def metrics(ranked: Sequence[str], relevant: set[str]) -> dict[str, float]:
    gains = [1.0 if r in relevant else 0.0 for r in ranked[:K]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), K)))
    first = next((i for i, r in enumerate(ranked) if r in relevant), None)
    return {
        "R@1": len(set(ranked[:1]) & relevant) / len(relevant),
        "R@5": len(set(ranked[:5]) & relevant) / len(relevant),
        "R@10": len(set(ranked[:10]) & relevant) / len(relevant),
        "nDCG@10": dcg / ideal if ideal else 0.0,
        "MRR": 1.0 / (first + 1) if first is not None else 0.0,
    }


def evaluate(rank: Callable[[str], list[str]], queries: Sequence[dict]) -> dict[str, float]:  # type: ignore[type-arg]
    totals: dict[str, float] = {}
    start = time.perf_counter()
    for query in queries:
        for name, value in metrics(rank(query["query"]), set(query["relevant"])).items():
            totals[name] = totals.get(name, 0.0) + value
    result = {name: value / len(queries) for name, value in totals.items()}
    result["ms/query"] = (time.perf_counter() - start) * 1000 / len(queries)
    return result


def build(items: Sequence[dict], embeddings: object) -> tuple[AutoSkill, dict[str, str]]:  # type: ignore[type-arg]
    sdk = AutoSkill(AutoSkillConfig(embeddings=embeddings))
    skills, id_of = [], {}
    for item in items:
        skill = Skill(name=item["name"] or item["id"], description=item.get("description") or item["name"],
                      instructions=item.get("body") or "", scope="library", library="eval",
                      id=f"eval:{item['id']}")
        skills.append(skill)
        id_of[skill.id] = item["id"]
    # Eval items may repeat a name; keep ids unique by suffixing the name, as a library would.
    seen: dict[str, int] = {}
    unique = []
    for skill in skills:
        count = seen.get(skill.name, 0)
        seen[skill.name] = count + 1
        unique.append(skill if count == 0 else skill.evolve(name=f"{skill.name}-{count + 1}"))
    sdk.store.upsert_many(unique, allow_library=True)
    return sdk, id_of


def bm25_ranker(items: Sequence[dict]) -> Callable[[str], list[str]]:  # type: ignore[type-arg]
    index = BM25Index({"name": 1.0, "description": 1.0, "body": 1.0})
    for item in items:
        index.add(item["id"], {"name": item["name"], "description": item.get("description") or "",
                               "body": item.get("body") or ""})
    return lambda q: [str(doc) for doc, _ in index.top(q, K)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=2000, help="queries sampled per set (0 = all)")
    parser.add_argument("--dims", type=int, default=256, help="hashing embedder dimensions")
    parser.add_argument("--sets", nargs="*", default=[s[0] for s in SETS])
    parser.add_argument("--embedder", choices=["hashing", "minilm"], default="hashing",
                        help="embeddings provider of the AutoSkill rankers")
    args = parser.parse_args(argv)
    if not EVAL.exists():
        print(f"{EVAL} is absent: the eval sets ship beside the checkout", file=sys.stderr)
        return 2
    print(f"$ python benchmarks/bench_retrieval.py --sample {args.sample} --dims {args.dims}"
          f" --embedder {args.embedder}")
    spec = {"provider": "hashing", "dims": args.dims} if args.embedder == "hashing" else {"provider": "minilm"}
    header = f"{'set':<18} {'method':<32} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'nDCG@10':>8} {'MRR':>6} {'ms/q':>7}"
    print(header)
    print("-" * len(header))
    rng = random.Random(0)
    for name, query_file, item_file in SETS:
        if name not in args.sets:
            continue
        queries, items = load(EVAL / query_file), load(EVAL / item_file)
        if args.sample and len(queries) > args.sample:
            queries = rng.sample(queries, args.sample)
        sdk, id_of = build(items, spec)
        flt = SkillFilter(scope="library")
        rankers = {
            "ours: hybrid (AutoSkill.search)": lambda q: [id_of[h.skill.id] for h in sdk.search(q, limit=K)],
            "ours: vector only": lambda q: [id_of[h.skill.id] for h in
                                            sdk.store.search(sdk.embedder.embed_query(q), K, flt)],
            "BM25 (uniform fields)": bm25_ranker(items),
        }
        for method, rank in rankers.items():
            result = evaluate(rank, queries)
            print(f"{name:<18} {method:<32} {result['R@1']:>6.3f} {result['R@5']:>6.3f} {result['R@10']:>6.3f} "
                  f"{result['nDCG@10']:>8.3f} {result['MRR']:>6.3f} {result['ms/query']:>7.2f}", flush=True)
        print(f"{'':<18} ({len(queries)} queries, {len(items)} items)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
