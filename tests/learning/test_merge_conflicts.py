"""Concurrent merges into one skill: no writer's change is lost (real processes)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autoskill import AutoSkill, AutoSkillConfig, Skill
from autoskill.errors import SkillConflictError

BASE = "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."

MERGE = textwrap.dedent(
    """
    import sys
    from autoskill import AutoSkill, AutoSkillConfig
    sdk = AutoSkill(AutoSkillConfig(store={"provider": "local", "path": sys.argv[1]}))
    step = sys.argv[2]
    text = ("Before each release: run regression tests -> canary rollout -> monitor -> full rollout -> "
            + step)
    sdk.ingest(messages=[{"role": "user", "content": text}], user_id="u1")
    """
)


def test_a_write_built_on_a_stale_read_is_refused() -> None:
    sdk = AutoSkill(AutoSkillConfig())
    [skill] = sdk.ingest(messages=[{"role": "user", "content": BASE}], user_id="u1")
    sdk.store.upsert(skill.evolve(description="changed by someone else", version="0.1.1"))
    with pytest.raises(SkillConflictError):
        sdk.store.upsert(skill.evolve(triggers=("mine",), version="0.1.1"), expected=skill)


def test_concurrent_merges_keep_every_writers_change(tmp_path: Path) -> None:
    store = tmp_path / "store"
    sdk = AutoSkill(AutoSkillConfig(store={"provider": "local", "path": str(store)}))
    [skill] = sdk.ingest(messages=[{"role": "user", "content": BASE}], user_id="u1")
    sdk.close()
    steps = ["announce in the changelog", "update the status page", "tag the release in git",
             "notify the support team"]
    procs = [subprocess.Popen([sys.executable, "-c", MERGE, str(store), step]) for step in steps]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    reopened = AutoSkill(AutoSkillConfig(store={"provider": "local", "path": str(store)}))
    final = reopened.get(skill.id)
    assert final is not None
    for step in steps:
        assert step.lower() in final.instructions.lower(), final.instructions
    versions = [v.version for v in reopened.history(skill.id)]
    assert len(versions) == len(set(versions)) == len(steps) + 1
