"""The local store on disk: layout, restarts (real processes), hand edits, libraries."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from skills_ref.validator import validate

from autoskill.embeddings import HashingEmbedder
from autoskill.errors import EmbedderMismatchError
from autoskill.skill import Skill
from autoskill.store import LocalSkillStore, SkillFilter

EMBEDDER = HashingEmbedder(dims=64)


def make(path: Path, **kwargs: object) -> LocalSkillStore:
    return LocalSkillStore(path, EMBEDDER, **kwargs)  # type: ignore[arg-type]


def test_layout_is_human_readable_and_spec_valid(tmp_path: Path) -> None:
    store = make(tmp_path)
    stored = store.upsert(Skill(name="Release Flow", description="Release safely", instructions="1. test\n2. ship",
                                user_id="u1", triggers=["how do I release"]))
    folder = tmp_path / "Users" / "u1" / "release-flow"
    assert (folder / "SKILL.md").is_file()
    assert validate(folder) == []
    assert json.loads((tmp_path / "autoskill.json").read_text())["embedder"] == EMBEDDER.identity
    assert store.get(stored.id).name == "release-flow"


@pytest.mark.parametrize("user", ["../evil", "/abs", "a/b", ".", "..", "", "名字"])
def test_hostile_user_ids_stay_inside_users(tmp_path: Path, user: str) -> None:
    store = make(tmp_path / "s")
    store.upsert(Skill(name="x", description="d", user_id=user or None, scope="user"))
    written = [p for p in (tmp_path / "s").rglob("SKILL.md")]
    assert len(written) == 1
    assert written[0].resolve().is_relative_to((tmp_path / "s" / "Users").resolve())


READ_BACK = textwrap.dedent(
    """
    import json, sys
    from autoskill.embeddings import HashingEmbedder
    from autoskill.store import LocalSkillStore, SkillFilter
    store = LocalSkillStore(sys.argv[1], HashingEmbedder(dims=64))
    skills = [s.to_dict() for s in store.list(SkillFilter(user_id="u1", statuses=("active", "draft", "archived")))]
    history = {s["id"]: [v.version for v in store.history(s["id"])] for s in skills}
    hits = [(h.skill.id, round(h.similarity, 6)) for h in
            store.search(HashingEmbedder(dims=64).embed_query("release canary"), 5, SkillFilter(user_id="u1"))]
    print(json.dumps({"skills": skills, "history": history, "hits": hits}))
    """
)


def test_a_new_process_reads_back_identical_skills_versions_and_results(tmp_path: Path) -> None:
    store = make(tmp_path)
    first = store.upsert(Skill(name="release-flow", description="Release with canaries", user_id="u1",
                               instructions="1. regression tests\n2. canary", tags=["ops"], metadata={"team": "infra"}))
    store.upsert(first.evolve(version="0.1.1", triggers=["ship it"]), reason="merge")
    store.upsert(Skill(name="db-migration", description="Migrate a database", user_id="u1", status="draft"))
    expected_hits = [(h.skill.id, round(h.similarity, 6)) for h in
                     store.search(EMBEDDER.embed_query("release canary"), 5, SkillFilter(user_id="u1"))]
    expected = [s.to_dict() for s in store.list(SkillFilter(user_id="u1", statuses=("active", "draft", "archived")))]
    store.close()
    out = subprocess.run([sys.executable, "-c", READ_BACK, str(tmp_path)], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert data["skills"] == expected
    assert data["history"][first.id] == ["0.1.0", "0.1.1"]
    assert [tuple(h) for h in data["hits"]] == expected_hits


def test_other_processes_see_writes_without_restarting(tmp_path: Path) -> None:
    reader = make(tmp_path)
    assert reader.list(SkillFilter(user_id="u1")) == []
    code = ("import sys\nfrom autoskill.embeddings import HashingEmbedder\nfrom autoskill.store import LocalSkillStore\n"
            "from autoskill.skill import Skill\n"
            "s = LocalSkillStore(sys.argv[1], HashingEmbedder(dims=64))\n"
            "s.upsert(Skill(name='from-elsewhere', description='written by another process', user_id='u1'))\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert [s.name for s in reader.list(SkillFilter(user_id="u1"))] == ["from-elsewhere"]
    hits = reader.search(EMBEDDER.embed_query("written by another process"), 3, SkillFilter(user_id="u1"))
    assert hits and hits[0].skill.name == "from-elsewhere"


def test_a_hand_edit_becomes_a_new_version(tmp_path: Path) -> None:
    store = make(tmp_path)
    stored = store.upsert(Skill(name="backup", description="Back up the database", user_id="u1",
                                instructions="1. dump\n2. upload"))
    path = tmp_path / "Users" / "u1" / "backup" / "SKILL.md"
    path.write_text(path.read_text().replace("2. upload", "2. encrypt\n3. upload"))
    store.refresh()
    current = store.get(stored.id)
    assert current.instructions == "1. dump\n2. encrypt\n3. upload"
    assert current.version == "0.1.1"
    assert [v.reason for v in store.history(stored.id)][-1] == "hand edit of SKILL.md"
    # Noticed on open too, by a fresh store object.
    path.write_text(path.read_text().replace("3. upload", "3. upload to two regions"))
    reopened = make(tmp_path)
    assert reopened.get(stored.id).version == "0.1.2"


def test_a_missing_file_is_restored_from_the_ledger(tmp_path: Path) -> None:
    store = make(tmp_path)
    stored = store.upsert(Skill(name="keep-me", description="d", user_id="u1"))
    path = tmp_path / "Users" / "u1" / "keep-me" / "SKILL.md"
    path.unlink()
    report = store.scan_files()
    assert path.exists() and any("restored" in line for line in report)
    assert store.get(stored.id) == stored


def test_embedder_mismatch_fails_clearly_or_reembeds(tmp_path: Path) -> None:
    store = make(tmp_path)
    store.upsert(Skill(name="a", description="alpha skill", user_id="u1"))
    store.close()
    other = HashingEmbedder(dims=32)
    with pytest.raises(EmbedderMismatchError, match="opened with"):
        LocalSkillStore(tmp_path, other)
    reembedded = LocalSkillStore(tmp_path, other, on_embedder_change="reembed")
    hits = reembedded.search(other.embed_query("alpha skill"), 1, SkillFilter(user_id="u1"))
    assert hits[0].skill.name == "a" and reembedded.vector(hits[0].skill.id).shape == (32,)


def test_placed_folders_and_libraries_are_indexed_but_never_written(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    placed = store_dir / "Users" / "u7" / "my-own"
    placed.mkdir(parents=True)
    (placed / "SKILL.md").write_text("---\nname: my-own\ndescription: hand placed skill\n---\nSteps\n")
    common = store_dir / "Common" / "team-lib" / "lint-rules"
    common.mkdir(parents=True)
    common_text = "---\nname: lint-rules\ndescription: team lint rules\n---\nUse ruff\n"
    (common / "SKILL.md").write_text(common_text)
    external = tmp_path / "external-lib" / "pdf-tools"
    external.mkdir(parents=True)
    external_text = "---\nname: pdf-tools\ndescription: work with pdf files\n---\nUse pypdf\n"
    (external / "SKILL.md").write_text(external_text)

    store = make(store_dir, library_dirs=[tmp_path / "external-lib"])
    assert [s.name for s in store.list(SkillFilter(user_id="u7", scope="user"))] == ["my-own"]
    libs = {(s.library, s.name) for s in store.list(SkillFilter(user_id="u7", scope="library"))}
    assert libs == {("team-lib", "lint-rules"), ("external-lib", "pdf-tools")}
    assert (common / "SKILL.md").read_text() == common_text
    assert (external / "SKILL.md").read_text() == external_text

    # An upstream change to a library file is re-read, still without writing it.
    (external / "SKILL.md").write_text(external_text.replace("pypdf", "pdfplumber"))
    store.refresh()
    pdf = store.get_by_name("pdf-tools", scope="library", owner="external-lib")
    assert pdf is not None and "pdfplumber" in pdf.instructions
    assert "pdfplumber" in (external / "SKILL.md").read_text() and "metadata" not in (external / "SKILL.md").read_text()


def test_a_placed_folder_never_replaces_a_renamed_skill(tmp_path: Path) -> None:
    # The renamed skill keeps the id its first name derived; a folder placed later under that
    # first name derives the same id (and a copied SKILL.md carries it): both stay.
    store = make(tmp_path)
    first = store.upsert(Skill(name="deploy-app", description="Deploy the app", instructions="1. build\n2. ship",
                               user_id="u1"))
    renamed = store.upsert(first.evolve(name="ship-app", version="0.1.1"))
    copied = (tmp_path / "Users" / "u1" / "ship-app" / "SKILL.md").read_text()
    for folder, text in (("deploy-app", "---\nname: deploy-app\ndescription: deploy by hand\n---\n1. scp\n"),
                         ("ship-app-copy", copied.replace("name: \"ship-app\"", "name: \"ship-app-copy\""))):
        (tmp_path / "Users" / "u1" / folder).mkdir()
        (tmp_path / "Users" / "u1" / folder / "SKILL.md").write_text(text)
    store.refresh()
    assert store.get(first.id) == renamed
    assert [v.version for v in store.history(first.id)] == ["0.1.0", "0.1.1"]
    names = {s.name: s.id for s in store.list(SkillFilter(user_id="u1", scope="user"))}
    assert set(names) == {"ship-app", "deploy-app", "ship-app-copy"}
    assert len(set(names.values())) == 3
    store.close()
