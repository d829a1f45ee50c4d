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


def test_learning_a_renamed_skills_first_name_again_keeps_the_renamed_skill() -> None:
    # A rename keeps the id, which was derived from the first name; a skill learned later
    # under that first name derives the same id and used to replace the renamed one
    # (version back to 0.1.0, its later history hidden behind it).
    sdk = AutoSkill(AutoSkillConfig())
    [first] = sdk.ingest(messages=[{"role": "user", "content": BASE}], user_id="u1")
    renamed = sdk.add(first.evolve(name="error-budget-policy", description="When to halt a rollout on SLO burn",
                                   instructions="1. Watch the error budget\n2. Halt when it burns fast",
                                   version="0.1.1"), reason="rename")
    [learned] = sdk.ingest(messages=[{"role": "user", "content": BASE}], user_id="u1")
    assert learned.name == first.name and learned.version == "0.1.0"
    assert learned.id != first.id
    assert sdk.get(first.id) == renamed
    assert [v.version for v in sdk.history(first.id)] == ["0.1.0", "0.1.1"]
    names = sorted(s.name for s in sdk.list("u1"))
    assert names == ["error-budget-policy", first.name]


def test_learning_an_archived_skill_again_adds_to_it() -> None:
    # Archived skills are outside the neighbours the decision compares with; a candidate of
    # the same name is still that skill: it is merged into it, never restarted at 0.1.0.
    sdk = AutoSkill(AutoSkillConfig())
    [first] = sdk.ingest(messages=[{"role": "user", "content": BASE}], user_id="u1")
    archived = sdk.archive(first.id)
    more = BASE.replace("full rollout.", "full rollout -> announce in the changelog.")
    [learned] = sdk.ingest(messages=[{"role": "user", "content": more}], user_id="u1")
    assert learned.id == first.id and learned.status == "archived"
    assert semver(learned.version) > semver(archived.version)
    assert "changelog" in learned.instructions
    versions = [v.version for v in sdk.history(first.id)]
    assert versions == sorted(versions, key=semver) and len(set(versions)) == len(versions)


def semver(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))
