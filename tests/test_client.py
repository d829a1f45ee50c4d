"""The AutoSkill facade: the seed quickstart verbatim, search, context, export, async twins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autoskill import AutoSkill, AutoSkillConfig, Skill
from autoskill.errors import ConfigError, ProviderNotFoundError

SEED_QUICKSTART = '''
from autoskill import AutoSkill, AutoSkillConfig

sdk = AutoSkill(
    AutoSkillConfig(
        llm={"provider": "mock"},
        embeddings={"provider": "hashing", "dims": 256},
        store={"provider": "inmemory"},  # or {"provider": "local", "path": "Skills"}
    )
)

sdk.ingest(
    messages=[
        {"role": "user", "content": "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."},
        {"role": "assistant", "content": "Got it."},
    ],
    user_id="u1",
)

hits = sdk.search("How should I do a release?", user_id="u1", limit=5)
for h in hits:
    print(h.skill.name, h.score)
'''

RELEASE = [
    {"role": "user", "content": "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."},
    {"role": "assistant", "content": "Got it."},
]


def test_seed_quickstart_runs_verbatim(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(SEED_QUICKSTART)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, check=True)
    name, score = result.stdout.splitlines()[0].split()
    assert name == "release-workflow"
    assert 0.0 < float(score) <= 1.0


@pytest.fixture
def sdk() -> AutoSkill:
    return AutoSkill(AutoSkillConfig())


def test_ingest_keeps_steps_in_order_and_is_idempotent(sdk: AutoSkill) -> None:
    [skill] = sdk.ingest(messages=RELEASE, user_id="u1")
    assert skill.instructions.splitlines() == [
        "1. Run regression tests", "2. Canary rollout", "3. Monitor", "4. Full rollout"]
    assert sdk.ingest(messages=RELEASE, user_id="u1") == []
    assert len(sdk.list("u1")) == 1


def test_search_is_scoped_to_the_user_and_scores_are_absolute(sdk: AutoSkill) -> None:
    sdk.ingest(messages=RELEASE, user_id="u1")
    assert sdk.search("How should I do a release?", user_id="u2") == []
    [hit] = sdk.search("How should I do a release?", user_id="u1")
    assert 0.0 < hit.score <= 1.0 and "vector" in hit.matched_by
    assert sdk.store.usage(hit.skill.id).retrievals == 1
    assert sdk.search("How should I do a release?", user_id="u1", min_score=0.99) == []


def test_render_context_fits_the_budget(sdk: AutoSkill) -> None:
    from autoskill.tokens import count_tokens

    sdk.ingest(messages=RELEASE, user_id="u1")
    text = sdk.render_context("release", user_id="u1", max_tokens=200)
    assert "1. Run regression tests" in text and count_tokens(text) <= 200
    assert sdk.render_context("release", user_id="u1", max_tokens=5) == ""


def test_export_and_import_round_trip(sdk: AutoSkill, tmp_path: Path) -> None:
    from skills_ref.validator import validate

    [skill] = sdk.ingest(messages=RELEASE, user_id="u1")
    assert sdk.export_skill_md(skill.id).startswith("---\nname: \"release-workflow\"")
    folder = sdk.write_skill_dir(skill.id, tmp_path / "out")
    assert validate(folder) == []
    other = AutoSkill(AutoSkillConfig())
    report = other.import_skill_dirs(tmp_path / "out", user_id="u2")
    [copied] = report.imported
    assert copied.user_id == "u2" and copied.id != skill.id and copied.instructions == skill.instructions
    shared = other.import_skill_dirs(tmp_path / "out", scope="common", library="team")
    assert shared.imported[0].scope == "library"
    assert {h.skill.scope for h in other.search("release", user_id="u3")} == {"library"}


def test_get_delete_and_unknown_ids(sdk: AutoSkill) -> None:
    [skill] = sdk.ingest(messages=RELEASE, user_id="u1")
    assert sdk.get(skill.id) == skill and sdk.get("nope") is None
    assert sdk.delete(skill.id) is True and sdk.delete(skill.id) is False


def test_tools_act_for_one_user(sdk: AutoSkill) -> None:
    [skill] = sdk.ingest(messages=RELEASE, user_id="u1")
    assert "Run regression tests" in sdk.tools(user_id="u1").load_skill("release-workflow")
    assert sdk.tools(user_id="u2", errors_as_text=True).load_skill("release-workflow").startswith("Error")


async def test_async_twins(sdk: AutoSkill) -> None:
    added = await sdk.aingest(messages=RELEASE, user_id="u1")
    hits = await sdk.asearch("release", user_id="u1")
    assert hits[0].skill == added[0]
    assert await sdk.aget(added[0].id) == added[0]
    assert "release-workflow" in await sdk.arender_context("release", user_id="u1")


def test_config_errors_are_clear() -> None:
    with pytest.raises(ProviderNotFoundError, match="unknown store provider 'nosuch'"):
        AutoSkill(AutoSkillConfig(store={"provider": "nosuch"}))
    with pytest.raises(ConfigError, match="needs a 'provider' key"):
        AutoSkillConfig(embeddings={"dims": 3})
    with pytest.raises(ConfigError, match="maintenance_strategy"):
        AutoSkillConfig(maintenance_strategy="magic")


def test_config_round_trips_through_yaml() -> None:
    config = AutoSkillConfig(store={"provider": "local", "path": "Skills"}, library_dirs=("a", "b"))
    assert AutoSkillConfig.from_yaml(config.to_yaml()) == config
    assert AutoSkillConfig.from_dict(config.to_dict()) == config


def test_live_objects_are_accepted(tmp_path: Path) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    sdk = AutoSkill(AutoSkillConfig(embeddings=DeterministicFakeEmbedding(size=32)))
    sdk.add(Skill(name="x", description="d", user_id="u1"))
    assert sdk.search("d", user_id="u1")[0].skill.name == "x"
    with pytest.raises(ConfigError, match="live objects"):
        AutoSkillConfig(embeddings=DeterministicFakeEmbedding(size=32)).to_dict()
