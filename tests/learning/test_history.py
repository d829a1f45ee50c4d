"""Versions, history and rollback, persisted across real process restarts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.errors import SkillNotFoundError

RELEASE = "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."
PARAPHRASE = ("Our release flow: regression tests first, then a canary release, keep monitoring, "
              "and finally roll out to everyone.")
MIGRATION = ("Database migration checklist:\n1. Back up the database\n2. Run the migration on staging\n"
             "3. Verify the schema\n4. Apply it to production")

STEP = textwrap.dedent(
    """
    import json, sys
    from autoskill import AutoSkill, AutoSkillConfig
    sdk = AutoSkill(AutoSkillConfig(store={"provider": "local", "path": sys.argv[1]}))
    action = sys.argv[2]
    if action == "ingest":
        sdk.ingest(messages=[{"role": "user", "content": sys.argv[3]}], user_id="u1")
    elif action == "rollback":
        skill = sdk.resolve("release-workflow", user_id="u1")
        sdk.rollback(skill.id, sys.argv[3])
    skills = {s.name: s for s in sdk.list("u1")}
    out = {name: {"version": s.version, "instructions": s.instructions,
                  "history": [[v.version, v.reason, list(v.changes)] for v in sdk.history(s.id)]}
           for name, s in skills.items()}
    print(json.dumps(out))
    """
)


def step(store: Path, *args: str) -> dict:  # type: ignore[type-arg]
    result = subprocess.run([sys.executable, "-c", STEP, str(store), *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_paraphrase_merges_other_procedure_adds_and_rollback_survives_restarts(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = step(store, "ingest", RELEASE)
    assert first["release-workflow"]["version"] == "0.1.0"
    assert first["release-workflow"]["instructions"].splitlines() == [
        "1. Run regression tests", "2. Canary rollout", "3. Monitor", "4. Full rollout"]
    merged = step(store, "ingest", PARAPHRASE)
    assert list(merged) == ["release-workflow"]
    release = merged["release-workflow"]
    assert release["version"] > "0.1.0"
    assert [h[0] for h in release["history"]] == ["0.1.0", release["version"]]
    assert release["history"][1][1].startswith("merged:")
    both = step(store, "ingest", MIGRATION)
    assert sorted(both) == ["database-migration-checklist", "release-workflow"]
    rolled = step(store, "rollback", "0.1.0")["release-workflow"]
    assert rolled["history"][-1][1] == "rollback to 0.1.0"
    assert rolled["version"] == "0.1.2"
    assert rolled["instructions"] == first["release-workflow"]["instructions"]
    again = step(store, "show")
    assert again == step(store, "show")  # stable across restarts
    assert again["release-workflow"]["history"] == rolled["history"]


def test_rollback_to_an_unknown_version_names_the_known_ones() -> None:
    sdk = AutoSkill(AutoSkillConfig())
    [skill] = sdk.ingest(messages=[{"role": "user", "content": RELEASE}], user_id="u1")
    with pytest.raises(SkillNotFoundError, match="did you mean '0.1.0'"):
        sdk.rollback(skill.id, "9.9.9")


def test_ingesting_the_same_conversation_twice_changes_nothing() -> None:
    sdk = AutoSkill(AutoSkillConfig())
    sdk.ingest(messages=[{"role": "user", "content": RELEASE}], user_id="u1")
    before = [(s.id, s.version, s.content_hash()) for s in sdk.list("u1")]
    assert sdk.ingest(messages=[{"role": "user", "content": RELEASE}], user_id="u1") == []
    assert [(s.id, s.version, s.content_hash()) for s in sdk.list("u1")] == before
    assert [o.decision.action for o in sdk.last_ingest] == ["discard"]


def test_near_duplicate_of_a_library_skill_is_not_copied(tmp_path: Path) -> None:
    sdk = AutoSkill(AutoSkillConfig())
    library = tmp_path / "lib" / "release-workflow"
    library.mkdir(parents=True)
    (library / "SKILL.md").write_text(
        "---\nname: release-workflow\ndescription: Step-by-step workflow for release\n---\n"
        "1. Run regression tests\n2. Canary rollout\n3. Monitor\n4. Full rollout\n")
    sdk.import_skill_dirs(tmp_path / "lib", scope="common", library="team")
    assert sdk.ingest(messages=[{"role": "user", "content": RELEASE}], user_id="u1") == []
    assert sdk.list("u1") == []
    assert sdk.last_ingest[0].decision.action == "discard"
    assert "library" in sdk.last_ingest[0].decision.reason
