"""``autoskill doctor``: every kind of damage is found, named, and repaired where possible."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from pathlib import Path

import pytest
from reliability_helpers import EMBEDDER, run_writer

from autoskill.cli import main
from autoskill.embeddings import HashingEmbedder
from autoskill.skill import Skill
from autoskill.skill.skillmd import render_skill_md
from autoskill.store import LocalSkillStore, SkillFilter
from autoskill.store.base import Window
from autoskill.store.doctor import check_store


def make_store(path: Path) -> tuple[LocalSkillStore, Skill]:
    store = LocalSkillStore(path, EMBEDDER)
    first = store.upsert(Skill(name="backup", description="Back up the database", user_id="u1",
                               instructions="1. dump\n2. upload", resources={"scripts/run.sh": "echo run\n"}))
    store.upsert(first.evolve(instructions="1. dump\n2. encrypt\n3. upload", version="0.1.1"), reason="merge")
    store.upsert(Skill(name="deploy", description="Deploy the service", user_id="u2", instructions="1. ship"))
    return store, store.get(first.id)  # type: ignore[return-value]


def doctor(path: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["doctor", "--store-dir", str(path), *args], out=out), out.getvalue()


def sql(path: Path, statement: str, params: tuple = ()) -> None:
    with sqlite3.connect(str(path / "ledger.sqlite3")) as conn:
        conn.execute(statement, params)


def test_a_healthy_store_passes(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path)
    store.close()
    code, text = doctor(tmp_path)
    assert code == 0 and "healthy" in text
    assert check_store(tmp_path, embedder=EMBEDDER).ok
    assert not check_store(tmp_path / "nowhere").ok


def test_files_left_by_interrupted_writes_are_found_and_repaired(tmp_path: Path) -> None:
    store, skill = make_store(tmp_path)
    store.close()
    folder = tmp_path / "Users" / "u1" / "backup"
    (folder / ".SKILL.md.a1b2c3d4.tmp").write_text("---\nname: half")
    (folder / "scripts" / ".run.sh.zz99yy88.tmp").write_text("half")
    (tmp_path / ".trash" / "0123abcd").mkdir(parents=True)
    (tmp_path / ".trash" / "0123abcd" / "SKILL.md").write_text("parked")
    (tmp_path / "Users" / "u2" / "deploy" / "SKILL.md").unlink()
    # The older version on disk, as a writer killed between its commit and its files leaves it.
    with LocalSkillStore(tmp_path, EMBEDDER, check_files=False) as reader:
        first_version = reader.history(skill.id)[0].skill
    (folder / "SKILL.md").write_text(render_skill_md(first_version))

    code, text = doctor(tmp_path)
    assert code == 1
    report = check_store(tmp_path)
    kinds = sorted(f.kind for f in report.found)
    assert kinds == ["leftover", "leftover", "leftover", "missing-file", "stale-file"], report.found
    assert "run with --repair" in text

    code, text = doctor(tmp_path, "--repair")
    assert code == 0, text
    assert "repaired:" in text and "healthy after" in text
    assert not list(tmp_path.rglob("*.tmp")) and not (tmp_path / ".trash").exists()
    with LocalSkillStore(tmp_path, EMBEDDER) as reopened:
        assert reopened.get(skill.id).instructions == "1. dump\n2. encrypt\n3. upload"  # type: ignore[union-attr]
        assert (tmp_path / "Users" / "u2" / "deploy" / "SKILL.md").is_file()
        assert [v.version for v in reopened.history(skill.id)] == ["0.1.0", "0.1.1"]  # no spurious version


def test_a_writer_killed_after_its_commit_leaves_a_job_the_doctor_finishes(tmp_path: Path) -> None:
    LocalSkillStore(tmp_path, EMBEDDER).close()
    code, log = run_writer(tmp_path, 5, 50, crash_at="after-ledger-commit:3")
    assert code == -9
    report = check_store(tmp_path)
    assert any(f.kind == "tree-job" for f in report.found), report.found
    repaired = check_store(tmp_path, repair=True)
    assert repaired.ok, repaired.problems
    assert any("interrupted" in line for line in repaired.repairs)
    for item in log.done:
        if item["op"] != "delete":
            with LocalSkillStore(tmp_path, EMBEDDER) as store:
                assert item["version"] in [v.version for v in store.history(item["id"])]


def test_ledger_problems_are_found_and_repaired(tmp_path: Path) -> None:
    store, skill = make_store(tmp_path)
    store.add_window(Window(id="w-stuck", thread_id="t", user_id="u1", events=(), status="pending",
                            created_at=time.time() - 7200))
    store.transition_window("w-stuck", from_statuses=("pending",), to_status="released")
    store.transition_window("w-stuck", from_statuses=("released",), to_status="processing", claimed_by="dead")
    deploy = store.get_by_name("deploy", scope="user", owner="u2")
    store.close()
    sql(tmp_path, "UPDATE windows SET updated_at = ? WHERE id = 'w-stuck'", (time.time() - 7200,))
    sql(tmp_path, "UPDATE meta SET value = '2' WHERE key = 'next_vector_id'")
    sql(tmp_path, "DELETE FROM versions WHERE skill_id = ?", (deploy.id,))  # type: ignore[union-attr]

    report = check_store(tmp_path)
    assert {f.kind for f in report.found} == {"stuck-window", "counter", "history"}, report.found
    repaired = check_store(tmp_path, repair=True)
    assert repaired.ok, repaired.problems
    with LocalSkillStore(tmp_path, EMBEDDER) as reopened:
        assert reopened.get_window("w-stuck").status == "released"  # type: ignore[union-attr]
        assert len(reopened.history(deploy.id)) == 1  # type: ignore[union-attr]
        fresh = reopened.upsert(Skill(name="new-one", description="after the repair", user_id="u1"))
        assert reopened.get(fresh.id) is not None and reopened.get(skill.id) is not None


def test_what_cannot_be_repaired_is_reported_and_left_alone(tmp_path: Path) -> None:
    store, skill = make_store(tmp_path)
    store.close()
    sql(tmp_path, "DELETE FROM versions WHERE skill_id = ? AND seq = 1", (skill.id,))  # a gap
    (tmp_path / "Users" / "u2" / "deploy" / "SKILL.md").write_text("---\nname: [unclosed\n---\n")
    report = check_store(tmp_path, repair=True)
    assert not report.ok
    kinds = {f.kind for f in report.problems}
    assert kinds == {"history", "unparseable-file"}, report.problems
    assert all(not f.repairable for f in report.problems)
    code, text = doctor(tmp_path, "--repair")
    assert code == 1 and "remains:" in text
    assert (tmp_path / "Users" / "u2" / "deploy" / "SKILL.md").read_text().startswith("---\nname: [unclosed")


def test_notes_for_hand_edits_and_placed_folders_and_their_repair(tmp_path: Path) -> None:
    store, skill = make_store(tmp_path)
    store.close()
    path = tmp_path / "Users" / "u1" / "backup" / "SKILL.md"
    path.write_text(path.read_text().replace("3. upload", "3. upload to two regions"))
    placed = tmp_path / "Users" / "u3" / "hand-made"
    placed.mkdir(parents=True)
    (placed / "SKILL.md").write_text("---\nname: hand-made\ndescription: Placed by hand\n---\n1. do it\n")
    report = check_store(tmp_path)
    assert report.ok  # a hand edit and a placed folder are not damage
    assert any("edited by hand" in n for n in report.notes) and any("placed by hand" in n for n in report.notes)
    repaired = check_store(tmp_path, repair=False)
    assert repaired.ok
    fixed = check_store(tmp_path, repair=True)  # the manifest's hashing embedder can embed them
    assert fixed.ok and not fixed.notes, fixed.notes
    assert any("hand edit recorded" in line for line in fixed.repairs)
    assert any("indexed as user skill" in line for line in fixed.repairs)
    with LocalSkillStore(tmp_path, EMBEDDER) as reopened:
        assert reopened.get(skill.id).version == "0.1.2"  # type: ignore[union-attr]
        assert [s.name for s in reopened.list(SkillFilter(user_id="u3"))] == ["hand-made"]


def test_manifest_and_embedder_problems(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path)
    store.close()
    other = HashingEmbedder(dims=32)
    mismatch = check_store(tmp_path, embedder=other)
    assert [f.kind for f in mismatch.problems] == ["embedder"] and "reembed" in str(mismatch.problems[0])
    assert not check_store(tmp_path, embedder=other, repair=True).ok  # never "repaired" by mixing vectors
    manifest = json.loads((tmp_path / "autoskill.json").read_text())
    (tmp_path / "autoskill.json").unlink()
    assert [f.kind for f in check_store(tmp_path).problems] == ["manifest"]
    assert not check_store(tmp_path, embedder=other, repair=True).ok  # 32 dims cannot own 64-dim vectors
    fixed = check_store(tmp_path, embedder=EMBEDDER, repair=True)
    assert fixed.ok, fixed.problems
    assert json.loads((tmp_path / "autoskill.json").read_text())["embedder"] == manifest["embedder"]


def test_a_library_folder_that_vanished_is_dropped_from_the_index(tmp_path: Path) -> None:
    library = tmp_path / "lib" / "docs-lib"
    (library / "pdf").mkdir(parents=True)
    (library / "pdf" / "SKILL.md").write_text("---\nname: pdf\ndescription: Work with PDFs\n---\nbody\n")
    LocalSkillStore(tmp_path / "store", EMBEDDER, library_dirs=[library]).close()
    (library / "pdf" / "SKILL.md").unlink()
    report = check_store(tmp_path / "store")
    assert [f.kind for f in report.problems] == ["library-gone"]
    assert check_store(tmp_path / "store", repair=True).ok


def test_a_damaged_vector_row_is_reported(tmp_path: Path) -> None:
    store, skill = make_store(tmp_path)
    store.close()
    sql(tmp_path, "UPDATE skills SET vector = ? WHERE id = ?", (b"\x00" * 12, skill.id))
    report = check_store(tmp_path)
    assert any(f.kind == "row" and "vector" in f.message for f in report.problems), report.problems


@pytest.mark.parametrize("timeout", [0.0])
def test_processing_timeout_is_configurable(tmp_path: Path, timeout: float) -> None:
    store, _ = make_store(tmp_path)
    store.add_window(Window(id="w1", thread_id="t", user_id="u1", events=(), status="released"))
    store.transition_window("w1", from_statuses=("released",), to_status="processing")
    store.close()
    assert check_store(tmp_path).ok  # fresh: a live worker may hold it
    time.sleep(0.01)
    assert [f.kind for f in check_store(tmp_path, processing_timeout=timeout).problems] == ["stuck-window"]
