"""Shared test fixtures: paths to ../shared data (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Return a path under ../shared, skipping the test when it is not there.

    A user's clone has no ../shared; CI has it beside the checkout.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (it ships beside the checkout in CI, not in a user's clone)")
    return path


@pytest.fixture
def corpus_dir() -> Path:
    """../shared/corpus: real public SKILL.md libraries."""
    return shared_path("corpus")


@pytest.fixture
def eval_dir() -> Path:
    """../shared/eval: public retrieval benchmarks."""
    return shared_path("eval")
