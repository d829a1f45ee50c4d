"""Every benchmark script runs (at toy sizes) through the one-command suite runner.

The figures in docs/benchmarks.md come from the full run (``python benchmarks/run_all.py``);
this keeps each script working without putting heavy benchmarks in the test run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"needs the shared corpus at {CORPUS}")
def test_run_all_smoke_runs_every_benchmark() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--smoke"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for name in ("vector_index", "store", "langchain", "llamaindex", "lc_callbacks", "memory",
                 "corpus_import", "retrieval", "extraction"):
        assert f"=== {name}:" in output
    assert "FAILED" not in output
    # A few of the tables and lines each benchmark prints.
    assert "VectorIndex, 1 partition (default)" in output
    assert "numpy brute force" in output
    assert "corpus import:" in output and "skills/s" in output
    assert "per skill bytes" in output
