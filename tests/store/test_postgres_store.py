"""The PostgreSQL store beyond the shared contract: schema, plans, parity, concurrency.

Runs against a real PostgreSQL with pgvector started for the session (see
``postgres_server.py``); skipped with the reason when none can start.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import Counter

import numpy as np
import pytest
from concurrently import run_concurrently
from postgres_server import drop_schema, fresh_schema, postgres_dsn

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.embeddings import HashingEmbedder
from autoskill.errors import EmbedderMismatchError, MissingDependencyError, StoreCorruptError
from autoskill.retrieval.hybrid import HybridSearcher
from autoskill.skill import Skill
from autoskill.store import InMemorySkillStore, Record, SkillFilter
from autoskill.store.base import Window

EMBEDDER = HashingEmbedder(dims=64)


@pytest.fixture
def dsn() -> str:
    return postgres_dsn()


@pytest.fixture
def schema(dsn: str):  # type: ignore[no-untyped-def]
    name = fresh_schema()
    yield name
    drop_schema(dsn, name)


def open_store(dsn: str, schema: str, embedder=EMBEDDER, **options):  # type: ignore[no-untyped-def]
    from autoskill.store.postgres import PostgresSkillStore

    return PostgresSkillStore(dsn, embedder, schema=schema, **options)


def skill(name: str, user: str | None = "u1", **fields: object) -> Skill:
    scope = "user" if user is not None else "library"
    defaults: dict[str, object] = {"description": f"How to {name.replace('-', ' ')}",
                                   "instructions": f"1. Do {name}\n2. Check {name}"}
    defaults.update(fields)
    return Skill(name=name, user_id=user, scope=scope, library=None if user else "lib", **defaults)  # type: ignore[arg-type]


# -- configuration and schema ---------------------------------------------------------------------


def test_the_sdk_opens_a_postgres_store_from_a_config_dict(dsn: str, schema: str) -> None:
    config = AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                             store={"provider": "postgres", "dsn": dsn, "schema": schema})
    assert config.to_dict()["store"]["provider"] == "postgres"
    with AutoSkill(config) as sdk:
        sdk.ingest(messages=[{"role": "user", "content": "To release: run tests -> build the wheel -> upload it"}],
                   user_id="alice")
        hits = sdk.search("how do I release", user_id="alice")
        assert hits and hits[0].skill.user_id == "alice"
        assert sdk.search("how do I release", user_id="bob") == []
        assert sdk.stats().skills == 1 and schema in str(sdk.stats().path)


def test_a_connection_factory_or_pool_is_accepted(dsn: str, schema: str) -> None:
    import contextlib

    import psycopg

    made: list[object] = []

    def factory():  # type: ignore[no-untyped-def]
        conn = psycopg.connect(dsn)  # not autocommit: the store switches it
        made.append(conn)
        return conn

    from autoskill.store.postgres import PostgresSkillStore

    store = PostgresSkillStore(pool=factory, embedder=EMBEDDER, schema=schema)
    stored = store.upsert(skill("from-factory"))
    assert store.get(stored.id) == stored and made
    store.close()

    class TinyPool:  # the shape of psycopg_pool.ConnectionPool that the store uses
        def __init__(self) -> None:
            self.conn = psycopg.connect(dsn, autocommit=True)
            self.used = 0

        @contextlib.contextmanager
        def connection(self):  # type: ignore[no-untyped-def]
            self.used += 1
            yield self.conn

    pool = TinyPool()
    with AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                   store={"provider": "postgres", "pool": pool, "schema": schema})) as sdk:
        assert sdk.get(stored.id) == stored
    assert pool.used > 0 and not pool.conn.closed  # a pool passed in is not closed by the store
    pool.conn.close()


def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from autoskill.providers.registry import get_provider_factory

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDependencyError, match=r"autoskill\[postgres\]"):
        get_provider_factory("store", "postgres")(embedder=EMBEDDER, dsn="postgresql://nowhere/db")


def test_schema_is_created_once_versioned_and_checked(dsn: str, schema: str) -> None:
    from autoskill.store.postgres_schema import SCHEMA_VERSION

    first = open_store(dsn, schema)
    stored = first.upsert(skill("kept"))
    second = open_store(dsn, schema)  # idempotent: nothing re-created, nothing lost
    assert second.get(stored.id) == stored
    assert second.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert second.get_meta("embedder") == EMBEDDER.identity and second.get_meta("dims") == "64"
    with pytest.raises(EmbedderMismatchError) as info:
        open_store(dsn, schema, HashingEmbedder(dims=32))
    assert EMBEDDER.identity in str(info.value) and "hashing-v1:32" in str(info.value)
    second.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    with pytest.raises(StoreCorruptError, match="newer"):
        open_store(dsn, schema)
    first.close()
    second.close()


def test_concurrent_opens_of_a_fresh_schema_agree(dsn: str, schema: str) -> None:
    run_concurrently(lambda _: open_store(dsn, schema).close(), 4)


# -- query plans ---------------------------------------------------------------------------------


def test_query_plans_use_the_owner_btree_per_user_and_hnsw_for_libraries(dsn: str, schema: str) -> None:
    store = open_store(dsn, schema)
    rng = np.random.default_rng(7)
    users = [skill(f"task-{i}", user=f"u{u}") for u in range(100) for i in range(10)]
    library = [skill(f"lib-{i}", user=None) for i in range(300)]
    everything = users + library
    store.upsert_many(everything, rng.standard_normal((len(everything), 64)).astype(np.float32), allow_library=True)
    with store.connection() as conn:
        conn.execute(f"ANALYZE {store.names.skills}")
    query = EMBEDDER.embed_query("task")
    # Per user: a B-tree on owner (the partial one, or the (scope, owner, name) unique one
    # on large tables), never the HNSW index: it is partial on scope = 'library'.
    def uses_owner_btree(plan: str) -> bool:
        return bool(re.search(r"(Index Scan using|Index Only Scan using|Bitmap Index Scan on) (skills_user_owner|skills_name_per_owner)", plan)
                    and re.search(r"Index Cond: .*owner = 'u7'", plan))

    plan = store.explain_search(query, 10, SkillFilter(user_id="u7", scope="user"))
    assert uses_owner_btree(plan) and "hnsw" not in plan, plan
    plan = store.explain_search(query, 10, SkillFilter(user_id="u7", scope="user"),
                                "SET LOCAL enable_seqscan = off", "SET LOCAL enable_sort = off")
    assert uses_owner_btree(plan) and "hnsw" not in plan, plan
    # Even written the way HNSW could serve it, a per-user query cannot use the partial index.
    n = store.names
    with store.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        one_key = "\n".join(r[0] for r in conn.execute(
            f"EXPLAIN SELECT id FROM {n.skills} WHERE scope = 'user' AND owner = %s"
            f" ORDER BY embedding {n.ip} %s::{n.vector_type} LIMIT 10", ["u7", str(query.tolist())]).fetchall())
    assert "hnsw" not in one_key, one_key
    # Libraries: the HNSW index (forced here; a 300-row library may be cheaper to scan).
    plan = store.explain_search(query, 10, SkillFilter(scope="library"), "SET LOCAL enable_seqscan = off")
    assert "Index Scan using skills_library_hnsw" in plan, plan
    # Scope all: one statement, both plans side by side.
    plan = store.explain_search(query, 10, SkillFilter(user_id="u7"), "SET LOCAL enable_seqscan = off")
    assert uses_owner_btree(plan) and "Index Scan using skills_library_hnsw" in plan, plan
    # The per-user search is exact: the same ranking as numpy over that user's vectors.
    mine = [s for s in users if s.user_id == "u7"]
    exact = sorted(mine, key=lambda s: -float(store.vector(s.id) @ query))  # type: ignore[operator]
    hits = store.search(query, 10, SkillFilter(user_id="u7", scope="user"))
    assert [h.skill.id for h in hits] == [s.id for s in exact]
    store.close()


# -- same results as the FAISS store -----------------------------------------------------------


_TOPICS = ["deploy the web service", "rotate api keys", "write release notes", "review a pull request",
           "back up the database", "triage a python traceback", "clean a csv file", "plan a sprint",
           "migrate a postgres schema", "write a postmortem", "onboard a new engineer", "tune a slow query"]
_VERBS = ["first check", "then run", "always verify", "never skip", "carefully update", "finally confirm"]


def _corpus() -> list[Skill]:
    rng = np.random.default_rng(11)
    out = []
    for i in range(240):
        topic = _TOPICS[i % len(_TOPICS)]
        steps = "\n".join(f"{j + 1}. {_VERBS[int(rng.integers(len(_VERBS)))]} {topic.split()[-1]} {w}"
                          for j, w in enumerate(rng.choice(["logs", "tests", "config", "owners", "metrics"], 3)))
        owner = None if i % 4 == 0 else f"user{i % 6}"
        out.append(skill(f"{topic.replace(' ', '-')}-{i}", user=owner, description=f"How to {topic} ({i})",
                         instructions=steps, tags=[topic.split()[0], "ops" if i % 3 else "dev"],
                         triggers=[f"help me {topic}"]))
    return out


def test_hybrid_search_matches_the_faiss_store(dsn: str, schema: str) -> None:
    corpus = _corpus()
    vectors = EMBEDDER.embed_documents([f"{s.name} {s.description} {s.instructions}" for s in corpus])
    faiss_store = InMemorySkillStore(EMBEDDER)
    pg = open_store(dsn, schema)
    for store in (faiss_store, pg):
        store.upsert_many(corpus, vectors, allow_library=True)
    queries = [f"how do I {t}" for t in _TOPICS] + ["verify the metrics", "database", "sprint owners", "nothing here"]
    compared = 0
    for user in ("user1", "user3", "nobody"):
        for scope in ("all", "user", "library"):
            flt = SkillFilter(user_id=user, scope=scope)
            for query in queries:
                vec = EMBEDDER.embed_query(query)
                a = faiss_store.search(vec, 15, flt)
                b = pg.search(vec, 15, flt)
                assert [h.skill.id for h in a] == [h.skill.id for h in b], (user, scope, query)
                assert np.allclose([h.similarity for h in a], [h.similarity for h in b], atol=1e-5)
                assert faiss_store.lexical_search(query, 15, flt) == pg.lexical_search(query, 15, flt)
                ha = HybridSearcher(faiss_store, EMBEDDER).search(query, flt, 8)
                hb = HybridSearcher(pg, EMBEDDER).search(query, flt, 8)
                assert [(h.skill.id, h.matched_by) for h in ha] == [(h.skill.id, h.matched_by) for h in hb]
                assert np.allclose([h.score for h in ha], [h.score for h in hb], atol=1e-5)
                compared += 1
    assert compared == 3 * 3 * len(queries)
    tagged = SkillFilter(user_id="user1", tags=("DEV",), statuses=("active", "draft"))
    assert [s.id for s in faiss_store.list(tagged)] == [s.id for s in pg.list(tagged)]
    maintenance = SkillFilter(all_users=True, statuses=())
    assert [s.id for s in faiss_store.list(maintenance)] == [s.id for s in pg.list(maintenance)]
    assert faiss_store.stats().versions == pg.stats().versions == len(corpus)
    pg.close()


def test_library_search_falls_back_to_exact_when_a_filter_starves_hnsw(dsn: str, schema: str) -> None:
    store = open_store(dsn, schema)
    rng = np.random.default_rng(3)
    library = [skill(f"lib-{i}", user=None, status="draft" if i % 50 else "active") for i in range(400)]
    store.upsert_many(library, rng.standard_normal((400, 64)).astype(np.float32), allow_library=True)
    hits = store.search(rng.standard_normal(64).astype(np.float32), 10, SkillFilter(scope="library"))
    assert len(hits) == 8 and all(h.skill.status == "active" for h in hits)  # all 8 active ones
    store.close()


# -- records ---------------------------------------------------------------------------------------


def test_record_filters_match_python_equality(dsn: str, schema: str) -> None:
    store = open_store(dsn, schema)
    records = [Record(id=str(i), text=f"note {i}", metadata={"user_id": f"u{i % 3}", "n": i % 2, "flag": bool(i % 2),
                                                             "kind": "a" if i < 10 else "b"}) for i in range(20)]
    store.upsert_records(records, EMBEDDER.embed_documents([r.text for r in records]))
    query = EMBEDDER.embed_query("note")
    got = lambda **where: sorted(r.id for r, _ in store.search_records(query, 50, where=where))  # noqa: E731
    assert got(user_id="u1") == sorted(r.id for r in records if r.metadata["user_id"] == "u1")
    assert got(kind="b", n=1) == sorted(r.id for r in records if r.metadata["kind"] == "b" and r.metadata["n"] == 1)
    assert got(flag=True) == got(n=1)  # True == 1 in Python, and the store filters like Python
    assert got(missing=None) == sorted(r.id for r in records)
    predicate = store.search_records(query, 3, where=lambda r: r.metadata["n"] == 0)
    assert len(predicate) == 3 and all(r.metadata["n"] == 0 for r, _ in predicate)
    assert [r.id for r in store.list_records()] == [str(i) for i in range(20)]
    store.upsert_records([Record(id="3", text="changed", metadata={})], EMBEDDER.embed_documents(["changed"]))
    assert [r.id for r in store.list_records()][3] == "3"  # an update keeps its place
    assert store.delete_records(None) == 20 and store.list_records() == []
    store.close()


# -- many writers --------------------------------------------------------------------------------


def test_two_hosts_see_each_others_writes_in_lexical_search(dsn: str, schema: str) -> None:
    host_a, host_b = open_store(dsn, schema), open_store(dsn, schema)
    host_a.upsert(skill("alpha-rollout", description="roll out alpha"))
    assert host_b.lexical_search("alpha rollout", 5, SkillFilter(user_id="u1"))[0][0].name == "alpha-rollout"
    stored = host_b.upsert(skill("beta-rollout", description="roll out beta"))
    host_b.delete(host_b.get_by_name("alpha-rollout", scope="user", owner="u1").id)  # type: ignore[union-attr]
    names = [s.name for s, _ in host_a.lexical_search("rollout", 5, SkillFilter(user_id="u1"))]
    assert names == ["beta-rollout"] and host_a.lexical_scores("beta", [stored.id])
    host_a.close()
    host_b.close()


def test_a_write_from_a_stale_read_is_refused_not_lost(dsn: str, schema: str) -> None:
    from autoskill.store.postgres import SkillConflictError

    host_a, host_b = open_store(dsn, schema), open_store(dsn, schema)
    base = host_a.upsert(skill("shared-skill", triggers=["one"]))
    read_a, read_b = host_a.get(base.id), host_b.get(base.id)
    host_a.upsert(read_a.evolve(triggers=("one", "two"), version="0.1.1"), reason="merge a")  # type: ignore[union-attr]
    with pytest.raises(SkillConflictError, match="re-read"):
        host_b.upsert(read_b.evolve(triggers=("one", "three"), version="0.1.1"), reason="merge b")  # type: ignore[union-attr]
    fresh = host_b.get(base.id)
    host_b.upsert(fresh.evolve(triggers=(*fresh.triggers, "three"), version="0.1.2"), reason="merge b")  # type: ignore[union-attr]
    history = host_a.history(base.id)
    assert [v.version for v in history] == ["0.1.0", "0.1.1", "0.1.2"]
    assert host_a.get(base.id).triggers == ("one", "two", "three")  # type: ignore[union-attr]
    # Re-writing exactly what is stored is never a conflict (host_a's last read is stale) nor a version.
    host_a.upsert(host_b.get(base.id))  # type: ignore[arg-type]
    assert len(host_a.history(base.id)) == 3
    host_a.close()
    host_b.close()


def test_expected_is_a_compare_and_set_and_library_ids_stay_libraries(dsn: str, schema: str) -> None:
    from autoskill.errors import ReadOnlyScopeError, SkillConflictError

    host_a, host_b = open_store(dsn, schema), open_store(dsn, schema)
    base = host_a.upsert(skill("cas-skill"))
    host_b.upsert(host_b.get(base.id).evolve(description="changed by b", version="0.1.1"))  # type: ignore[union-attr]
    with pytest.raises(SkillConflictError):
        host_a.upsert(base.evolve(triggers=("mine",), version="0.1.1"), expected=base)
    fresh = host_a.get(base.id)
    host_a.upsert(fresh.evolve(triggers=("mine",), version="0.1.2"), expected=fresh)  # type: ignore[union-attr]
    assert [v.version for v in host_a.history(base.id)] == ["0.1.0", "0.1.1", "0.1.2"]
    with pytest.raises(SkillConflictError):  # expected a skill that is not stored at all
        host_a.upsert(skill("never-stored"), expected=skill("never-stored"))
    assert host_a.get_by_name("never-stored", scope="user", owner="u1") is None
    shared = host_a.upsert(skill("shared-one", user=None), allow_library=True)
    with pytest.raises(ReadOnlyScopeError):
        host_a.upsert(skill("taken-over").evolve(id=shared.id))
    assert host_a.get(shared.id).scope == "library"  # type: ignore[union-attr]
    host_a.close()
    host_b.close()


def test_concurrent_writers_never_record_a_version_twice(dsn: str, schema: str) -> None:
    hosts = [open_store(dsn, schema) for _ in range(4)]
    base = hosts[0].upsert(skill("contended", triggers=["t0"]))
    applied: Counter[str] = Counter()

    def writer(index: int) -> None:
        from autoskill.store.postgres import SkillConflictError

        store = hosts[index]
        for round_ in range(15):
            for _ in range(1000):  # read, change, write; on a conflict read again
                current = store.get(base.id)
                major, minor, patch = (int(x) for x in current.version.split("."))  # type: ignore[union-attr]
                changed = current.evolve(triggers=(*current.triggers, f"h{index}-{round_}"),  # type: ignore[union-attr]
                                         version=f"{major}.{minor}.{patch + 1}")
                try:
                    store.upsert(changed, reason=f"host {index}")
                except SkillConflictError:
                    continue
                applied[f"h{index}"] += 1
                break

    run_concurrently(writer, 4)
    history = hosts[0].history(base.id)
    versions = [v.version for v in history]
    assert len(versions) == len(set(versions)) == 1 + sum(applied.values()) == 61
    assert [v.seq for v in history] == list(range(1, 62))
    final = hosts[0].get(base.id)
    assert len(final.triggers) == 61  # type: ignore[union-attr]  # no update lost
    for store in hosts:
        store.close()


def test_windows_are_claimed_exactly_once_across_hosts(dsn: str, schema: str) -> None:
    hosts = [open_store(dsn, schema) for _ in range(4)]
    for i in range(40):
        hosts[0].add_window(Window(id=f"w{i}", thread_id="t", user_id="u", status="released",
                                   events=({"type": "message", "role": "user", "content": "x", "run_id": f"r{i}"},)))
    claims: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        for window in hosts[index].list_windows(statuses=("released",)):
            if hosts[index].transition_window(window.id, from_statuses=("released",), to_status="processing",
                                              claimed_by=f"h{index}"):
                with lock:
                    claims.append(window.id)

    run_concurrently(worker, 4)
    assert sorted(claims) == sorted(f"w{i}" for i in range(40))
    assert hosts[1].window_for_run("r7").id == "w7"  # type: ignore[union-attr]
    assert len(hosts[2].list_windows(statuses=("processing",), limit=5)) == 5
    for store in hosts:
        store.close()


def test_usage_increments_are_atomic(dsn: str, schema: str) -> None:
    hosts = [open_store(dsn, schema) for _ in range(4)]
    ids = [hosts[0].upsert(skill(f"used-{i}")).id for i in range(3)]

    def bump(index: int) -> None:
        for _ in range(25):
            hosts[index].record_usage(list(reversed(ids)) if index % 2 else ids, retrievals=1, successes=1)

    run_concurrently(bump, 4)
    assert all(hosts[0].usage(i).retrievals == 100 and hosts[0].usage(i).successes == 100 for i in ids)
    for store in hosts:
        store.close()


# -- the facade on postgres ----------------------------------------------------------------------


def test_importing_the_module_does_not_import_psycopg() -> None:
    import subprocess

    code = ("import sys, autoskill.store.postgres, autoskill.store.migrate\n"
            "from autoskill.providers.registry import available_providers\n"
            "assert 'postgres' in available_providers('store')\n"
            "print('psycopg' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_facade_works_end_to_end_on_postgres(dsn: str, schema: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from autoskill.skill import load_skill_dir

    config = AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                             store={"provider": "postgres", "dsn": dsn, "schema": schema})
    sdk = AutoSkill(config)
    library = Path(__file__).resolve().parents[2] / "autoskill" / "library"
    report = sdk.import_skill_dirs(library, scope="common", library="bundled")
    assert len(report.imported) >= 5 and sdk.import_skill_dirs(library, scope="common", library="bundled").unchanged
    learned = sdk.ingest(messages=[{"role": "user", "content": "To release: run tests -> build the wheel -> upload it"}],
                         user_id="alice")
    [skill] = learned
    sdk.ingest(messages=[{"role": "user", "content": "When I ask how to ship, do this: run tests -> build the wheel"
                                                     " -> upload it -> announce it"}], user_id="alice")
    history = sdk.history(skill.id)
    assert len(history) == 2 and history[1].changes
    restored = sdk.rollback(skill.id, history[0].version)
    assert restored.instructions == history[0].skill.instructions and len(sdk.history(skill.id)) == 3
    assert "release" in sdk.render_context("how do I release?", user_id="alice")
    assert sdk.store.usage(skill.id).injections == 1
    run = "run-1"
    sdk.capture([{"type": "message", "role": "user", "content": "How do I roll back a deploy?", "run_id": run},
                 {"type": "message", "role": "assistant", "content": "Steps: freeze -> revert -> verify",
                  "run_id": run}], thread_id="t1", user_id="bob", used_skill_ids=[skill.id])
    assert len(sdk.pending(user_id="bob")) == 1
    result = sdk.feedback(run, score=-1.0, comment="no: freeze deploys -> revert the commit -> verify the dashboards")
    assert result.verdict.action == "block" and sdk.store.usage(skill.id).failures == 1
    assert sdk.archive(skill.id).status == "archived" and sdk.unarchive(skill.id).status == "active"
    written = sdk.write_skill_dirs("alice", tmp_path / "out")
    assert written and load_skill_dir(written[0]).skill.name == skill.name
    assert sdk.search("code review checklist", user_id="alice")[0].skill.scope == "library"
    assert sdk.delete(skill.id) and sdk.get(skill.id) is None and sdk.store.history(skill.id)
    sdk.close()
