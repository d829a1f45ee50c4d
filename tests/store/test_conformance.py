"""The store contract, run against every backend (inmemory, local).

A new backend joins by adding a factory to ``BACKENDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoskill.embeddings import HashingEmbedder
from autoskill.errors import ReadOnlyScopeError, SkillConflictError, SkillValidationError
from autoskill.skill import Skill
from autoskill.store import InMemorySkillStore, LocalSkillStore, Record, SkillFilter

EMBEDDER = HashingEmbedder(dims=64)

BACKENDS: dict[str, Callable[[Path], object]] = {
    "inmemory": lambda path: InMemorySkillStore(EMBEDDER),
    "local": lambda path: LocalSkillStore(path / "store", EMBEDDER),
    # A fresh schema of the session's PostgreSQL (skipped, with the reason, when none starts).
    "postgres": lambda path: __import__("postgres_server").postgres_store(EMBEDDER),
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    made = BACKENDS[request.param](tmp_path)
    yield made
    made.close()


def skill(name: str, user: str | None = "u1", **fields: object) -> Skill:
    scope = "user" if user is not None else "library"
    defaults: dict[str, object] = {"description": f"How to {name.replace('-', ' ')}",
                                   "instructions": f"1. Do {name}\n2. Check {name}"}
    defaults.update(fields)
    return Skill(name=name, user_id=user, scope=scope, library=None if user else "lib", **defaults)  # type: ignore[arg-type]


def test_upsert_get_delete(store) -> None:  # type: ignore[no-untyped-def]
    stored = store.upsert(skill("deploy-app"))
    assert store.get(stored.id) == stored
    assert store.get_by_name("deploy-app", scope="user", owner="u1") == stored
    assert store.get("missing") is None
    assert store.delete(stored.id) is True
    assert store.get(stored.id) is None
    assert store.delete(stored.id) is False


def test_vector_ids_are_never_reused(store) -> None:  # type: ignore[no-untyped-def]
    first = store.upsert(skill("a-skill"))
    first_vid = store._skill_vid[first.id]
    store.delete(first.id)
    second = store.upsert(skill("b-skill"))
    assert store._skill_vid[second.id] > first_vid
    again = store.upsert(skill("a-skill"))
    assert store._skill_vid[again.id] not in (first_vid,)


def test_names_are_unique_per_owner(store) -> None:  # type: ignore[no-untyped-def]
    store.upsert(skill("same-name"))
    with pytest.raises(SkillValidationError, match="already used"):
        store.upsert(skill("same-name", id="another-id"))
    store.upsert(skill("same-name", user="u2"))  # another owner may use the name


def test_a_creation_never_replaces_a_stored_skill(store) -> None:  # type: ignore[no-untyped-def]
    # A skill renamed keeps its id, derived from its first name; a new skill of that first
    # name derives the same id, and written as a creation it must not replace the renamed one.
    original = store.upsert(skill("release-steps"))
    renamed = store.upsert(original.evolve(name="shipping-rules", version="0.1.1"), expected=original)
    with pytest.raises(SkillConflictError):
        store.upsert(skill("release-steps"), create_only=True)
    assert store.get(original.id) == renamed
    assert [v.version for v in store.history(original.id)] == ["0.1.0", "0.1.1"]
    assert store.get_by_name("release-steps", scope="user", owner="u1") is None
    created = store.upsert(skill("release-steps", id="fresh-id"), create_only=True)
    assert store.get("fresh-id") == created
    with pytest.raises(ValueError, match="both"):
        store.upsert(skill("other-one"), create_only=True, expected=created)


def test_library_is_read_only_without_an_explicit_import(store) -> None:  # type: ignore[no-untyped-def]
    lib = skill("shared-thing", user=None)
    with pytest.raises(ReadOnlyScopeError):
        store.upsert(lib)
    assert store.list(SkillFilter(scope="library")) == []
    stored = store.upsert(lib, allow_library=True)
    with pytest.raises(ReadOnlyScopeError):
        store.delete(stored.id)
    assert store.get(stored.id) == stored


def test_list_filters(store) -> None:  # type: ignore[no-untyped-def]
    store.upsert(skill("alpha", tags=["ops"]))
    store.upsert(skill("beta", tags=["db"], status="draft"))
    store.upsert(skill("gamma", user="u2"))
    store.upsert(skill("lib-one", user=None), allow_library=True)
    names = lambda flt: [s.name for s in store.list(flt)]  # noqa: E731
    assert names(SkillFilter(user_id="u1", scope="user")) == ["alpha"]
    assert names(SkillFilter(user_id="u1", scope="user", statuses=("active", "draft"))) == ["alpha", "beta"]
    assert names(SkillFilter(user_id="u1")) == ["alpha", "lib-one"]
    assert names(SkillFilter(user_id="u1", scope="library")) == ["lib-one"]
    assert names(SkillFilter(user_id="u1", tags=("OPS",))) == ["alpha"]
    assert names(SkillFilter(user_id=None)) == ["lib-one"]


def test_filtered_search_returns_k_when_k_exist(store) -> None:  # type: ignore[no-untyped-def]
    for i in range(30):
        store.upsert(skill(f"task-{i}", tags=["even" if i % 2 == 0 else "odd"]))
    for i in range(30):
        store.upsert(skill(f"other-{i}", user="u2"))
    query = EMBEDDER.embed_query("how to task")
    hits = store.search(query, 10, SkillFilter(user_id="u1", tags=("odd",)))
    assert len(hits) == 10
    assert all("odd" in h.skill.tags and h.skill.user_id == "u1" for h in hits)
    assert len(store.search(query, 100, SkillFilter(user_id="u1"))) == 30


def test_history_records_changes_only(store) -> None:  # type: ignore[no-untyped-def]
    first = store.upsert(skill("versioned"))
    store.upsert(first)  # identical: no new version
    store.upsert(first.evolve(description="Changed", version="0.1.1"), reason="edit")
    history = store.history(first.id)
    assert [v.version for v in history] == ["0.1.0", "0.1.1"]
    assert history[-1].reason == "edit"
    assert history[0].skill == first


def test_usage_counts(store) -> None:  # type: ignore[no-untyped-def]
    stored = store.upsert(skill("used"))
    store.record_usage([stored.id], retrievals=1)
    store.record_usage([stored.id], retrievals=1, injections=1, successes=1)
    usage = store.usage(stored.id)
    assert (usage.retrievals, usage.injections, usage.successes, usage.failures) == (2, 1, 1, 0)
    assert store.usage("never").retrievals == 0


def test_records_round_trip_and_filter(store) -> None:  # type: ignore[no-untyped-def]
    texts = ["apples are red", "bananas are yellow", "cherries are red"]
    records = [Record(id=str(i), text=t, metadata={"color": t.split()[-1], "n": i}) for i, t in enumerate(texts)]
    store.upsert_records(records, EMBEDDER.embed_documents(texts))
    assert store.get_records(["2", "missing", "0"]) == [records[2], records[0]]
    hits = store.search_records(EMBEDDER.embed_query("red fruit"), 5, where={"color": "red"})
    assert {r.id for r, _ in hits} == {"0", "2"}
    assert store.delete_records(["1", "nope"]) == 1
    assert store.get_records(["1"]) == []
    assert store.search(EMBEDDER.embed_query("apples"), 5, SkillFilter(user_id="u1")) == []


def test_vectors_of_the_wrong_shape_are_refused(store) -> None:  # type: ignore[no-untyped-def]
    from autoskill.errors import EmbeddingError

    with pytest.raises(EmbeddingError):
        store.upsert(skill("bad-vector"), np.ones(3, dtype=np.float32))
    assert store.list(SkillFilter(user_id="u1")) == []


users = st.sampled_from(["alice", "bob", "carol"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    owners=st.lists(st.tuples(users, st.sampled_from(["release", "backup", "deploy", "review", "migrate"])),
                    min_size=1, max_size=12, unique=True),
    viewer=users,
    query=st.sampled_from(["release", "how do I back up", "deploy", "anything", "review code"]),
    scope=st.sampled_from(["all", "user", "library"]),
)
def test_user_scoped_search_never_returns_another_users_private_skill(owners, viewer, query, scope) -> None:  # type: ignore[no-untyped-def]
    store = InMemorySkillStore(EMBEDDER)
    for owner, topic in owners:
        store.upsert(skill(f"{topic}-{owner}", user=owner))
    store.upsert(skill("shared-release", user=None), allow_library=True)
    flt = SkillFilter(user_id=viewer, scope=scope)
    hits = store.search(EMBEDDER.embed_query(query), 50, flt)
    assert all(h.skill.scope == "library" or h.skill.user_id == viewer for h in hits)
    mine = sum(1 for owner, _ in owners if owner == viewer)
    expected = (mine if scope != "library" else 0) + (1 if scope != "user" else 0)
    assert len(hits) == expected
