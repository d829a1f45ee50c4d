"""Isolation: a user's handle never returns another user's private skill, and shared
libraries change only through an explicit library import.

A hypothesis property test builds a local store with random users (odd ids included:
case variants, ``a/b``, ``..``, ``u:1``), random skills (names shared across users), and
a library, then acts as a random user with a random scope and query through every read
path: search, list, resolve, export, render_context and the tools. Each private skill
carries a marker naming its owner; no output may carry another owner's marker.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.errors import AutoSkillError, ReadOnlyScopeError
from autoskill.skill import Skill
from autoskill.skill.folder import load_skill_dir

USERS = ["alice", "Alice", "bob", "a/b", "..", "u:1", "名字", "default"]
NAMES = ["deploy", "release-checklist", "backup-db", "onboarding", "incident-review"]
QUERIES = ["deploy", "release checklist", "how do I back up the database", "onboarding a new hire",
           "incident", "marker", ""]


def marker(owner: str) -> str:
    return "mark" + hashlib.sha1(owner.encode()).hexdigest()[:10]


def build(root: Path, population: list[tuple[str, str]]) -> AutoSkill:
    sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                    store={"provider": "local", "path": str(root / "store")}))
    for owner, name in dict.fromkeys(population):
        sdk.add(Skill(name=name, description=f"{name} the way {owner} does it", user_id=owner,
                      instructions=f"1. {name} step {marker(owner)}\n2. finish",
                      resources={"references/private.md": f"private notes {marker(owner)}"}))
    library = root / "lib"
    for name in ("deploy", "shared-runbook"):
        (library / name).mkdir(parents=True)
        (library / name / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Team {name} procedure\n---\n"
                                                 f"1. team {name} step\n")
    sdk.import_skill_dirs(library, scope="common", library="team")
    return sdk


def _visible(text: str, acting: str, owners: set[str]) -> None:
    for owner in owners - {acting}:
        assert marker(owner) not in text, f"{acting!r} saw {owner!r}'s private skill"


population = st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(NAMES)), min_size=1, max_size=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(population=population, acting=st.sampled_from([*USERS, "stranger", None]),
       scope=st.sampled_from(["all", "user", "library", "common"]), query=st.sampled_from(QUERIES),
       limit=st.integers(1, 12))
def test_no_read_path_leaks_another_users_private_skill(population, acting, scope, query, limit) -> None:  # type: ignore[no-untyped-def]
    owners = {owner for owner, _ in population}
    me = acting or "default"
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        sdk = build(root, population)
        try:
            for hit in sdk.search(query, user_id=acting, scope=scope, limit=limit):
                assert hit.skill.scope == "library" or hit.skill.user_id == me
                _visible(hit.skill.instructions, me, owners)
            for skill in sdk.list(acting, scope=scope, statuses=("active", "draft", "archived")):
                assert skill.scope == "library" or skill.user_id == me
            for owner, name in population:
                for key in (name, name.upper(), Skill(name=name, description="x", user_id=owner).id):
                    found = sdk.resolve(key, user_id=acting)
                    assert found is None or found.scope == "library" or found.user_id == me
            out = root / "export"
            for folder in sdk.write_skill_dirs(acting, out, scope="all" if scope == "all" else "user"):
                exported = load_skill_dir(folder).skill
                assert exported.scope == "library" or exported.user_id == me
                for path in folder.rglob("*"):
                    if path.is_file():
                        _visible(path.read_text(errors="replace"), me, owners)
            _visible(sdk.render_context(query or "deploy", user_id=acting, scope=scope, limit=limit,
                                        max_tokens=4000), me, owners)
            tools = sdk.tools(user_id=acting, errors_as_text=True)
            for _, name in population:
                _visible(str(tools.load_skill(name)), me, owners)
                _visible(str(tools.read_skill_resource(name, "references/private.md")), me, owners)
                _visible(str(tools.list_skill_resources(name)), me, owners)
        finally:
            sdk.close()


# -- shared libraries are written only by an explicit import ------------------------------


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(path.relative_to(root).as_posix().encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def library_store(tmp_path: Path):  # type: ignore[no-untyped-def]
    sdk = build(tmp_path, [("alice", "deploy"), ("bob", "deploy")])
    release = tmp_path / "lib2" / "release-workflow"
    release.mkdir(parents=True)
    (release / "SKILL.md").write_text("---\nname: release-workflow\ndescription: How the team releases\n---\n"
                                      "1. Run regression tests\n2. Canary rollout\n3. Monitor\n4. Full rollout\n")
    sdk.import_skill_dirs(tmp_path / "lib2", scope="common", library="team")
    yield sdk, tmp_path / "store" / "Common"
    sdk.close()


def test_user_handles_cannot_write_a_shared_library(library_store, caplog) -> None:  # type: ignore[no-untyped-def]
    sdk, common = library_store
    caplog.set_level(logging.DEBUG)
    library = {s.name: s for s in sdk.list("alice", scope="library")}
    assert {"deploy", "shared-runbook", "release-workflow"} <= set(library)
    before = tree_digest(common)
    versions_before = {s.id: len(sdk.history(s.id)) for s in library.values()}

    attempts = [
        lambda: sdk.add(Skill(name="sneaky", description="written by a user", scope="library", library="team")),
        lambda: sdk.add(library["deploy"].evolve(instructions="1. rm -rf /")),
        lambda: sdk.add(library["deploy"].evolve(scope="user", user_id="mallory", library=None)),  # id hijack
        lambda: sdk.delete(library["shared-runbook"].id),
        lambda: sdk.rollback(library["release-workflow"].id, "0.1.0"),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyScopeError):
            attempt()

    # The learning loop: an ingest that repeats the library's procedure, and a run that
    # used a library skill and got a correction, learn nothing into the library.
    sdk.ingest(messages=[{"role": "user", "content": "Before each release: run regression tests -> canary rollout "
                                                     "-> monitor -> full rollout."}], user_id="alice")
    run = "run-1"
    sdk.capture([{"type": "message", "role": "user", "content": "how do we release?", "run_id": run},
                 {"type": "message", "role": "assistant", "content": "1. Run regression tests 2. Canary",
                  "run_id": run}], thread_id="t1", user_id="alice", used_skill_ids=[library["release-workflow"].id])
    try:
        sdk.feedback(run, score=-1, comment="no: build -> run regression tests -> canary rollout -> monitor")
    except AutoSkillError:
        pass  # refusing is as good as ignoring; either way the library must not change
    sdk.flush(release_pending=True)

    assert tree_digest(common) == before
    for skill_id, count in versions_before.items():
        assert len(sdk.history(skill_id)) == count
        current = sdk.get(skill_id)
        assert current is not None and current.scope == "library"
    # ... while an explicit import still can.
    assert sdk.import_skill_dirs(common.parent.parent / "lib", scope="common", library="team").unchanged == 2
