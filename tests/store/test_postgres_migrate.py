"""``autoskill migrate``: local -> postgres -> local is lossless, resumable and verified."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from postgres_server import drop_schema, fresh_schema, postgres_dsn

from autoskill.cli import main
from autoskill.embeddings import HashingEmbedder
from autoskill.skill import Skill
from autoskill.store import LocalSkillStore, Record, SkillFilter
from autoskill.store.base import Window
from autoskill.store.migrate import IdentityEmbedder, migrate

EMBEDDER = HashingEmbedder(dims=64)
EVERYTHING = SkillFilter(all_users=True, statuses=())


@pytest.fixture
def dsn() -> str:
    return postgres_dsn()


@pytest.fixture
def schema(dsn: str):  # type: ignore[no-untyped-def]
    name = fresh_schema()
    yield name
    drop_schema(dsn, name)


def build_local(path: Path) -> LocalSkillStore:
    """A local store with history, a deleted skill, a library, usage, records and windows."""
    store = LocalSkillStore(path, EMBEDDER)
    for user in ("alice", "bob"):
        for i in range(6):
            first = store.upsert(Skill(name=f"task-{i}", description=f"Do task {i} for {user}",
                                       instructions=f"1. step {i}\n2. check", user_id=user, tags=["ops"],
                                       triggers=[f"how to task {i}"],
                                       provenance=({"source": "messages", "ref": f"t{i}", "ts": "2024-01-01T00:00:00Z"},)))
            if i % 2 == 0:
                store.upsert(first.evolve(instructions=first.instructions + "\n3. ship", version="0.2.0"),
                             reason="merged: more steps")
            if i % 3 == 0:
                current = store.get(first.id)
                store.upsert(current.evolve(status="archived", version="0.2.1"), reason="archived: stale")  # type: ignore[union-attr]
            store.record_usage([first.id], retrievals=i + 1, injections=i, successes=i % 2, failures=1 - i % 2)
    gone = store.upsert(Skill(name="short-lived", description="Deleted soon", instructions="x", user_id="alice"))
    store.delete(gone.id)  # its history stays and must be migrated too
    store.upsert_many([Skill(name=f"lib-{i}", description=f"Shared thing {i}", instructions="Use it",
                             scope="library", library="team") for i in range(4)], reason="import",
                      allow_library=True)
    texts = [f"note {i} about deploys" for i in range(7)]
    store.upsert_records([Record(id=f"r{i}", text=t, metadata={"user_id": "alice" if i % 2 else "bob", "n": i,
                                                               "nested": {"k": [1, 2.5, None]}},
                                 namespace="docs" if i < 5 else "other") for i, t in enumerate(texts)],
                         EMBEDDER.embed_documents(texts))
    for i in range(3):
        store.add_window(Window(id=f"w{i}", thread_id=f"th{i}", user_id="alice",
                                events=({"type": "message", "role": "user", "content": f"hi {i}", "run_id": f"run{i}"},
                                        {"type": "tool_call", "tool": "x", "run_id": f"child{i}",
                                         "parent_run_id": f"run{i}", "input": {"a": 1.5}}),
                                used_skills=("s1",), created_at=1700000000.0 + i))
    store.transition_window("w1", from_statuses=("pending",), to_status="released", feedback={"score": 1.0})
    store.transition_window("w2", from_statuses=("pending",), to_status="blocked", feedback={"score": -1.0},
                            result={"skills": []}, claimed_by="worker-1")
    return store


def snapshot(store) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Everything a user of the store can observe, comparable across backends."""
    skills = store.list(EVERYTHING)
    histories = {s.id: [(v.seq, v.version, v.skill, v.reason, v.provenance, v.created_at, v.changes)
                        for v in store.history(s.id)] for s in skills}
    vectors = {s.id: store.vector(s.id) for s in skills}
    records = {ns: store.list_records(namespace=ns) for ns in ("docs", "other")}
    record_vectors = {(ns, r.id): store.record_vector(r.id, namespace=ns) for ns, rs in records.items() for r in rs}
    windows = store.list_windows()
    stats = store.stats()
    return {"skills": skills, "histories": histories, "usage": {s.id: store.usage(s.id) for s in skills},
            "records": records, "windows": windows, "runs": {f"child{i}": store.window_for_run(f"child{i}").id
                                                               for i in range(3)},
            "counts": (stats.skills, stats.users, stats.libraries, stats.records, stats.versions, dict(stats.by_status)),
            "vectors": vectors, "record_vectors": record_vectors}


def assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    for key in ("skills", "histories", "usage", "records", "windows", "runs", "counts"):
        assert a[key] == b[key], key
    for key in ("vectors", "record_vectors"):
        left, right = a[key], b[key]  # type: ignore[assignment]
        assert left.keys() == right.keys()  # type: ignore[attr-defined]
        for k in left:  # type: ignore[attr-defined]
            assert np.allclose(left[k], right[k], atol=1e-6), (key, k)  # type: ignore[index]


def test_round_trip_local_postgres_local_is_identical(tmp_path: Path, dsn: str, schema: str) -> None:
    from autoskill.store.postgres import PostgresSkillStore

    local = build_local(tmp_path / "a")
    before = snapshot(local)
    pg = PostgresSkillStore(dsn, EMBEDDER, schema=schema)
    seen: list[tuple[str, int, int]] = []
    report = migrate(local, pg, progress=lambda kind, done, total: seen.append((kind, done, total)))
    assert report.ok, report.summary()
    live_versions = sum(len(h) for h in before["histories"].values())  # type: ignore[attr-defined]
    assert report.counts["versions"] == (live_versions + 1, live_versions + 1)  # + the deleted skill's one
    assert ("skills", 16, 16) in seen
    assert_same(before, snapshot(pg))
    assert pg.history(local.history(local.list(EVERYTHING)[0].id)[0].skill_id)  # history readable on postgres
    back = LocalSkillStore(tmp_path / "b", EMBEDDER)
    assert migrate(pg, back).ok
    assert_same(before, snapshot(back))
    # The deleted skill's history made it across and back.
    deleted = [sid for sid in back._ledger.query("SELECT DISTINCT skill_id FROM versions")
               if back.get(sid[0]) is None]
    assert len(deleted) == 1
    # The tree of the copy is the human-readable truth again: reopening changes nothing.
    back.close()
    reopened = LocalSkillStore(tmp_path / "b", EMBEDDER)
    assert_same(before, snapshot(reopened))
    # Hybrid search answers the same on all three.
    from autoskill.retrieval.hybrid import HybridSearcher

    for query in ("how to task 2", "shared thing", "ship"):
        flt = SkillFilter(user_id="alice", statuses=("active", "archived"))
        results = [[(h.skill.id, round(h.score, 5)) for h in HybridSearcher(s, EMBEDDER).search(query, flt, 5)]
                   for s in (local, pg, reopened)]
        assert results[0] == results[1] == results[2]
    for store in (local, pg, reopened):
        store.close()


def test_migration_is_resumable_and_skips_what_is_there(tmp_path: Path, dsn: str, schema: str) -> None:
    from autoskill.store.postgres import PostgresSkillStore

    local = build_local(tmp_path / "a")
    pg = PostgresSkillStore(dsn, EMBEDDER, schema=schema)
    first = migrate(local, pg, batch_size=5)
    assert first.ok and first.copied["skills"] == 16
    again = migrate(local, pg, batch_size=5)
    assert again.ok and again.copied == dict.fromkeys(again.copied, 0) and again.skipped["skills"] == 16
    # An interrupted copy: part of the target is missing or stale. Re-running repairs just that.
    victim = local.list(EVERYTHING)[3]
    with pg.connection() as conn:
        conn.execute(f"DELETE FROM {pg.names.skills} WHERE id = ANY(%s)", ([s.id for s in local.list(EVERYTHING)[:2]],))
        conn.execute(f"DELETE FROM {pg.names.versions} WHERE skill_id = %s AND seq > 1", (victim.id,))
        conn.execute(f"DELETE FROM {pg.names.windows} WHERE id = 'w1'")
    resumed = migrate(local, pg, batch_size=5)
    assert resumed.ok
    assert resumed.copied["skills"] == 3 and resumed.skipped["skills"] == 13
    assert resumed.copied["windows"] == 1
    progress = json.loads(pg.get_meta(f"migration:local:{tmp_path / 'a'}"))  # type: ignore[arg-type]
    assert progress["completed"] is True and progress["verified"]["skills"] == [16, 16]
    local.close()
    pg.close()


def test_the_cli_migrates_verifies_and_fails_on_a_mismatch(tmp_path: Path, dsn: str, schema: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from autoskill.store.postgres import PostgresSkillStore

    build_local(tmp_path / "a").close()
    code = main(["migrate", "--from", f"local:{tmp_path / 'a'}", "--to", f"postgres:{dsn}", "--schema", schema])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "verified: counts and content hashes match" in out and "migrating skills: 16/16" in err
    code = main(["migrate", "--from", f"postgres:{dsn}", "--to", f"local:{tmp_path / 'b'}", "--schema", schema])
    assert code == 0 and (tmp_path / "b" / "Users" / "alice" / "task-1" / "SKILL.md").is_file()
    capsys.readouterr()
    # A target holding something the source does not: the copy cannot be verified.
    extra = PostgresSkillStore(dsn, IdentityEmbedder(EMBEDDER.identity, 64), schema=schema)
    extra.upsert(Skill(name="stray", description="only in the target", user_id="carol"), np.ones(64, np.float32))
    extra.close()
    code = main(["migrate", "--from", f"local:{tmp_path / 'a'}", "--to", f"postgres:{dsn}", "--schema", schema])
    out, _ = capsys.readouterr()
    assert code == 1 and "verification FAILED" in out and "in the target only" in out
    assert main(["migrate", "--from", "inmemory:", "--to", f"local:{tmp_path / 'c'}"]) == 2
    assert main(["migrate", "--from", f"local:{tmp_path / 'nothing'}", "--to", f"local:{tmp_path / 'c'}"]) == 2
