"""Opening a large local store fast: the saved index, lazily parsed skills, background checks.

The saved index (``<root>/.index``) is derived data: these tests check that it is used
when it matches the ledger, brought up to date with writes made after it was saved (by
this or another process), and ignored (rebuilt from the ledger) when it is damaged,
belongs to another ledger or another embedder.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from autoskill.embeddings import HashingEmbedder
from autoskill.skill import Skill
from autoskill.store import LocalSkillStore, SkillFilter
from autoskill.store import faiss_store
from autoskill.store.local import INDEX_DIR

EMBEDDER = HashingEmbedder(dims=64)


def skills(n: int, user: str = "u1", start: int = 0) -> list[Skill]:
    return [Skill(name=f"task-{i}", description=f"How to do task {i} for project {i % 7}",
                  instructions=f"1. step {i}\n2. check {i}", user_id=user) for i in range(start, start + n)]


def counted(monkeypatch: pytest.MonkeyPatch, method: str) -> list[int]:
    """Count calls of a ``FaissSkillStore`` method (it still runs)."""
    calls: list[int] = []
    real = getattr(faiss_store.FaissSkillStore, method)

    def spy(self):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(self)

    monkeypatch.setattr(faiss_store.FaissSkillStore, method, spy)
    return calls


def rebuilt(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count rebuilds of the index from the ledger."""
    return counted(monkeypatch, "_index_from_ledger")


def search_names(store: LocalSkillStore, text: str, user: str = "u1") -> list[str]:
    return [h.skill.name for h in store.search(EMBEDDER.embed_query(text), 5, SkillFilter(user_id=user))]


def test_reopen_uses_the_saved_index_and_finds_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalSkillStore(tmp_path, EMBEDDER)
    store.upsert_many(skills(40))
    expected = search_names(store, "task 17 project 3")
    store.close()  # saves the index
    state = json.loads((tmp_path / INDEX_DIR / "state.json").read_text())
    assert state["vectors"] == 40 and state["embedder"] == EMBEDDER.identity
    calls = rebuilt(monkeypatch)
    again = LocalSkillStore(tmp_path, EMBEDDER, check_files=False)  # (a file check reads every skill)
    assert calls == []  # no rebuild from the ledger
    assert not again._parsed  # no skill parsed while opening
    assert search_names(again, "task 17 project 3") == expected
    assert again.get_by_name("task-17", scope="user", owner="u1").instructions == "1. step 17\n2. check 17"
    assert again.check_consistency() == []
    again.close()


def test_writes_after_the_save_are_replayed_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalSkillStore(tmp_path, EMBEDDER)
    store.upsert_many(skills(20))
    store.save_index()
    # Changes the saved index does not hold: a new skill, an edit, a delete, and a write
    # by another process that never saves.
    store.upsert_many(skills(1, start=100))
    edited = store.get_by_name("task-3", scope="user", owner="u1")
    store.upsert(edited.evolve(description="Rotate the kafka certificates"))
    store.delete(store.get_by_name("task-5", scope="user", owner="u1").id)
    store._saved_seq = store._seq  # pretend nothing changed, so close does not save
    store._index._dirty.clear()
    store.close()
    script = textwrap.dedent(f"""
        import os
        from autoskill.embeddings import HashingEmbedder
        from autoskill.skill import Skill
        from autoskill.store import LocalSkillStore
        s = LocalSkillStore({str(tmp_path)!r}, HashingEmbedder(dims=64))
        s.upsert(Skill(name="other-process", description="Written by another process", user_id="u1"))
        os._exit(0)  # dies without closing: the saved index stays behind
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    calls = rebuilt(monkeypatch)
    again = LocalSkillStore(tmp_path, EMBEDDER)
    assert calls == []
    names = {s.name for s in again.list(SkillFilter(user_id="u1"))}
    assert {"task-100", "other-process"} <= names and "task-5" not in names
    assert search_names(again, "rotate the kafka certificates")[0] == "task-3"
    assert search_names(again, "written by another process")[0] == "other-process"
    assert again.check_consistency() == []
    again.close()


@pytest.mark.parametrize("damage", ["garbage-manifest", "truncated-part", "missing-ids", "other-ledger",
                                    "wrong-counts"])
def test_a_damaged_or_foreign_saved_index_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture, damage: str) -> None:
    store = LocalSkillStore(tmp_path, EMBEDDER)
    store.upsert_many(skills(30) + skills(5, user="u2"))
    expected = search_names(store, "task 12 project 5")
    store.close()
    index_dir = tmp_path / INDEX_DIR
    manifest = json.loads((index_dir / "vector_index.json").read_text())
    if damage == "garbage-manifest":
        (index_dir / "vector_index.json").write_text("{not json")
    elif damage == "truncated-part":
        for part in index_dir.glob("part-*.faiss"):
            part.write_bytes(part.read_bytes()[:40])
    elif damage == "missing-ids":
        (index_dir / manifest["ids_file"]).unlink()
    elif damage == "other-ledger":
        state = json.loads((index_dir / "state.json").read_text())
        (index_dir / "state.json").write_text(json.dumps({**state, "store_uid": "someone-else"}))
    else:  # ids that disagree with the ledger: the consistency check catches them
        ids = np.load(index_dir / manifest["ids_file"])
        np.save(index_dir / manifest["ids_file"], ids + 1000)
    calls = rebuilt(monkeypatch)
    with caplog.at_level(logging.WARNING):
        again = LocalSkillStore(tmp_path, EMBEDDER)
    assert calls == [1]
    if damage != "other-ledger":  # another ledger's index is simply not ours: no warning
        assert any("rebuilding" in r.getMessage() for r in caplog.records)
    assert search_names(again, "task 12 project 5") == expected
    assert again.check_consistency() == []
    again.close()


def test_large_tree_is_checked_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("autoskill.store.local.SYNC_CHECK_LIMIT", 10)
    store = LocalSkillStore(tmp_path, EMBEDDER)
    store.upsert_many(skills(25))
    store.close()
    skill_md = tmp_path / "Users" / "u1" / "task-4" / "SKILL.md"
    skill_md.write_text(skill_md.read_text().replace("1. step 4", "1. step 4, carefully"))
    again = LocalSkillStore(tmp_path, EMBEDDER)  # 25 > 10: "auto" checks in the background
    assert again._file_check is not None
    assert again.wait_for_file_check(60)
    assert "carefully" in again.get_by_name("task-4", scope="user", owner="u1").instructions
    assert any("hand edit" in line for line in again.recovered)
    again.close()
    small = LocalSkillStore(tmp_path / "small", EMBEDDER)
    assert small._file_check is None  # an empty tree is checked while opening
    small.close()


def test_parsed_skill_cache_is_bounded_and_correct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faiss_store, "_PARSED_SKILLS", 8)
    store = LocalSkillStore(tmp_path, EMBEDDER)
    written = store.upsert_many(skills(50))
    assert len(store._parsed) <= 8
    for skill in written:
        assert store.get(skill.id) == skill
    assert len(store._parsed) <= 8
    assert [s.name for s in store.list(SkillFilter(user_id="u1"))] == sorted(s.name for s in written)
    hits = store.search(EMBEDDER.embed_query("task 42"), 50, SkillFilter(user_id="u1"))
    assert len(hits) == 50 and hits[0].skill.name == "task-42"
    store.close()


def test_check_files_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="check_files"):
        LocalSkillStore(tmp_path, EMBEDDER, check_files="sometimes")


def test_store_config_passes_index_and_check_options(tmp_path: Path) -> None:
    from autoskill import AutoSkill

    sdk = AutoSkill(store={"provider": "local", "path": str(tmp_path / "s"), "approx_threshold": None,
                           "check_files": "background", "records_approx_threshold": 1000})
    index = sdk.store.index
    assert index.approx_threshold is None and index.threshold_for("records:x") == 1000
    assert sdk.store.wait_for_file_check(30)
    sdk.close()
    mem = AutoSkill(store={"provider": "inmemory", "approx_threshold": 123})
    assert mem.store.index.approx_threshold == 123


# -- the saved lexical (BM25) index -------------------------------------------------------


def lexical_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count lexical indexes built by reading every skill from the ledger."""
    return counted(monkeypatch, "_iter_skills")


def lexical_hits(store: LocalSkillStore, text: str, user: str = "u1") -> list[tuple[str, float]]:
    return [(s.name, round(score, 9)) for s, score in store.lexical_search(text, 5, SkillFilter(user_id=user))]


QUERIES = ["task 17 project 3", "rotate kafka certificates", "written by another process", "check 5"]


def test_lexical_index_is_saved_and_caught_up_with_later_writes(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalSkillStore(tmp_path, EMBEDDER)
    store.upsert_many(skills(30) + skills(5, user="u2"))
    lexical_hits(store, "task 1")  # builds it
    store.close()  # nothing else changed: the lexical index alone is saved
    assert (tmp_path / INDEX_DIR / "lexical.bin").is_file()
    # Later writes it does not hold: this process's and another one's.
    writer = LocalSkillStore(tmp_path, EMBEDDER, check_files=False)
    writer.upsert_many(skills(1, start=100))
    writer.upsert(writer.get_by_name("task-3", scope="user", owner="u1").evolve(
        description="Rotate the kafka certificates"))
    writer.delete(writer.get_by_name("task-5", scope="user", owner="u1").id)
    writer.close()  # the lexical index was never loaded here: its file stays as it was
    script = textwrap.dedent(f"""
        import os
        from autoskill.embeddings import HashingEmbedder
        from autoskill.skill import Skill
        from autoskill.store import LocalSkillStore
        s = LocalSkillStore({str(tmp_path)!r}, HashingEmbedder(dims=64))
        s.upsert(Skill(name="other-process", description="Written by another process", user_id="u1"))
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    builds = lexical_builds(monkeypatch)
    again = LocalSkillStore(tmp_path, EMBEDDER, check_files=False)
    got = {q: lexical_hits(again, q) for q in QUERIES}
    assert builds == []  # loaded and caught up, not rebuilt
    assert got["rotate kafka certificates"][0][0] == "task-3"
    assert got["written by another process"][0][0] == "other-process"
    assert all(name != "task-5" for hits in got.values() for name, _ in hits)
    again.close()  # it caught up: saved again
    monkeypatch.undo()
    fresh = LocalSkillStore(tmp_path, EMBEDDER, check_files=False)
    (tmp_path / INDEX_DIR / "lexical.bin").unlink()
    builds = lexical_builds(monkeypatch)
    assert {q: lexical_hits(fresh, q) for q in QUERIES} == got  # the same as one built from scratch
    assert builds == [1]
    fresh.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other-ledger", "disagrees"])
def test_a_damaged_or_foreign_lexical_index_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture, damage: str) -> None:
    store = LocalSkillStore(tmp_path, EMBEDDER)
    store.upsert_many(skills(30))
    expected = {q: lexical_hits(store, q) for q in QUERIES}
    store.close()
    path = tmp_path / INDEX_DIR / "lexical.bin"
    if damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-200])
    else:
        from autoskill.retrieval.bm25 import BM25Index

        index, meta = BM25Index.load(path)
        if damage == "other-ledger":
            meta["store_uid"] = "someone-else"
        else:  # a skill the ledger does not have, and a change log that does not explain it
            index.add(10**9, {"name": "ghost"})
        index.save(path, meta)
    builds = lexical_builds(monkeypatch)
    with caplog.at_level(logging.WARNING):
        again = LocalSkillStore(tmp_path, EMBEDDER, check_files=False)
        assert {q: lexical_hits(again, q) for q in QUERIES} == expected
    assert builds == [1]
    if damage != "other-ledger":
        assert any("lexical index" in r.getMessage() for r in caplog.records)
    again.close()
