"""SkillVectorStore.save / load: a local AutoSkill store folder, no pickle, same results anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.errors import ConfigError, EmbedderMismatchError
from autoskill_lc import HashingEmbeddings, SkillVectorStore

from ._support import make_sdk

REPO = Path(__file__).resolve().parents[2]
QUERIES = ["deploy the service", "rotate keys", "release notes", "lunch"]


def snapshot(store: SkillVectorStore) -> list[list[list[object]]]:
    """Every query's results as plain data (id, content, metadata, score)."""
    return [[[d.id, d.page_content, d.metadata, round(s, 5)] for d, s in
             store.similarity_search_with_score(q, k=6)] for q in QUERIES]


def fill(store: SkillVectorStore) -> None:
    store.add_texts(["deploy the service on friday", "lunch menu", "rotate keys every month"],
                    metadatas=[{"n": 1}, {"n": 2, "tags": ["food"]}, {"n": 3}], ids=["a", "b", "c"])
    store.add_documents([Document(page_content="1. Draft\n2. Review", metadata={
        "autoskill_skill": True, "name": "write-release-notes", "description": "Write release notes"})])


def test_save_and_load_standalone(tmp_path: Path) -> None:
    store = SkillVectorStore(HashingEmbeddings(dims=64), user_id="alice", namespace="kb")
    fill(store)
    before = snapshot(store)
    folder = store.save(tmp_path / "saved")
    assert (folder / "autoskill.json").is_file() and (folder / "langchain_vectorstore.json").is_file()
    assert not list(folder.rglob("*.pkl")) and not list(folder.rglob("*.pickle"))
    assert (folder / "Users" / "alice" / "write-release-notes" / "SKILL.md").is_file()
    loaded = SkillVectorStore.load(folder, HashingEmbeddings(dims=64))
    assert (loaded.namespace, loaded.user_id) == ("kb", "alice")
    assert snapshot(loaded) == before
    # Saving again replaces the namespace's records (a deleted record stays deleted).
    store.delete(["b"])
    store.save(folder)
    assert SkillVectorStore.load(folder, HashingEmbeddings(dims=64)).get_by_ids(["b"]) == []


def test_a_new_process_gives_identical_results(tmp_path: Path) -> None:
    store = SkillVectorStore(sdk=make_sdk(), user_id="alice")
    fill(store)
    folder = store.save(tmp_path / "saved")
    code = (
        "import json, sys\n"
        "from autoskill_lc import HashingEmbeddings, SkillVectorStore\n"
        "store = SkillVectorStore.load(sys.argv[1], HashingEmbeddings(dims=256))\n"
        f"queries = {QUERIES!r}\n"
        "print(json.dumps([[[d.id, d.page_content, d.metadata, round(s, 5)] for d, s in "
        "store.similarity_search_with_score(q, k=6)] for q in queries]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True,
                            cwd=REPO, check=True)
    assert json.loads(result.stdout) == json.loads(json.dumps(snapshot(store)))
    # Another user's private skill was not saved with alice's view.
    assert "bob-private-deploy" not in result.stdout


def test_sdk_on_a_local_store_is_already_persistent(tmp_path: Path) -> None:
    root = tmp_path / "store"
    sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                    store={"provider": "local", "path": str(root)}))
    store = SkillVectorStore(sdk=sdk, user_id="alice")
    fill(store)
    assert store.save(root) == root  # only the small manifest is written
    reopened = SkillVectorStore.load(root, HashingEmbeddings(dims=64))
    assert snapshot(reopened) == snapshot(store)


def test_load_refuses_other_embeddings_and_missing_folders(tmp_path: Path) -> None:
    store = SkillVectorStore(HashingEmbeddings(dims=64))
    store.add_texts(["x"])
    folder = store.save(tmp_path / "saved")
    with pytest.raises(EmbedderMismatchError):
        SkillVectorStore.load(folder, DeterministicFakeEmbedding(size=64))
    with pytest.raises(ConfigError):
        SkillVectorStore.load(tmp_path / "nothing", HashingEmbeddings(dims=64))
