"""SkillVectorStore.persist / from_persist_path: JSON, SQLite and SKILL.md files, same answers anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.errors import ConfigError
from autoskill_li import HashingEmbedding, SkillVectorStore

from ._support import DIMS, make_sdk

REPO = Path(__file__).resolve().parents[2]
EMBED = HashingEmbedding(DIMS)
QUERIES = ["deploy the service", "rotate keys", "release notes", "lunch", "pizza on friday"]


def snapshot(store: SkillVectorStore) -> list[list[list[object]]]:
    """Every query's results as plain data (id, text, metadata, score)."""
    out = []
    for text in QUERIES:
        result = store.query(VectorStoreQuery(query_embedding=EMBED.get_query_embedding(text), similarity_top_k=6))
        out.append([[n.node_id, n.get_content(), n.metadata, round(s, 6)]
                    for n, s in zip(result.nodes or [], result.similarities or [])])
    return out


def fill(store: SkillVectorStore) -> None:
    nodes = [TextNode(text="deploy the service on friday", id_="a", metadata={"n": 1},
                      relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-a")}),
             TextNode(text="lunch menu: pizza", id_="b", metadata={"n": 2, "tags": ["food"]}),
             TextNode(text="1. Draft\n2. Review", id_="c",
                      metadata={"autoskill_skill": True, "name": "write-blog-post", "description": "Blog posts"})]
    for node in nodes:
        node.embedding = EMBED.get_text_embedding(node.get_content())
    store.add(nodes)


def no_pickles(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if p.suffix in (".pkl", ".pickle")]


def test_persist_and_reload_in_a_new_process(tmp_path: Path) -> None:
    store = SkillVectorStore(sdk=make_sdk(), user_id="alice", namespace="kb")
    fill(store)
    before = snapshot(store)
    target = tmp_path / "storage" / "default__vector_store.json"
    store.persist(str(target))
    manifest = json.loads(target.read_text())
    assert manifest["namespace"] == "kb" and manifest["user_id"] == "alice"
    folder = target.with_suffix(".autoskill")
    assert (folder / "autoskill.json").is_file() and (folder / "ledger.sqlite3").is_file()
    assert (folder / "Users" / "alice" / "write-blog-post" / "SKILL.md").is_file()
    no_pickles(tmp_path)
    code = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]\n"  # as pytest sets it up
        "from tests.li.test_li_persistence import snapshot\n"
        "from autoskill_li import SkillVectorStore\n"
        "store = SkillVectorStore.from_persist_path(sys.argv[1])\n"
        "print(json.dumps(snapshot(store)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                            check=True, cwd=tmp_path)
    assert json.loads(result.stdout) == json.loads(json.dumps(before))


def test_a_folder_path_and_a_local_store_folder_work(tmp_path: Path) -> None:
    store = SkillVectorStore(embed_model=EMBED)
    fill(store)
    store.persist(str(tmp_path / "folder"))
    assert (tmp_path / "folder" / "llamaindex_vectorstore.json").is_file()
    assert snapshot(SkillVectorStore.from_persist_path(str(tmp_path / "folder"))) == snapshot(store)
    # Over an sdk whose local store lives in the folder, persist writes only the manifest.
    local = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": DIMS},
                                      store={"provider": "local", "path": str(tmp_path / "live")}))
    live = SkillVectorStore(sdk=local, user_id="u1")
    fill(live)
    live.persist(str(tmp_path / "live"))
    expected = snapshot(live)
    local.close()
    reopened = SkillVectorStore.from_persist_path(str(tmp_path / "live"))
    assert reopened.user_id == "u1" and snapshot(reopened) == expected
    with pytest.raises(ConfigError):
        SkillVectorStore.from_persist_path(str(tmp_path / "nothing-here"))


def test_storage_context_persist_and_load(tmp_path: Path) -> None:
    store = SkillVectorStore(sdk=make_sdk(), user_id="alice")
    index = VectorStoreIndex.from_documents([Document(text="Backups run nightly at 2am", id_="ops-1")],
                                            storage_context=StorageContext.from_defaults(vector_store=store),
                                            embed_model=EMBED)
    index.storage_context.persist(persist_dir=str(tmp_path / "storage"))
    assert (tmp_path / "storage" / "default__vector_store.json").is_file()
    loaded_store = SkillVectorStore.from_persist_dir(str(tmp_path / "storage"))
    context = StorageContext.from_defaults(persist_dir=str(tmp_path / "storage"), vector_store=loaded_store)
    loaded = load_index_from_storage(context, embed_model=EMBED)
    hits = loaded.as_retriever(similarity_top_k=3).retrieve("when do backups run?")
    assert hits[0].node.ref_doc_id == "ops-1"
    assert "deploy-service" in [h.node.metadata.get("name") for h in
                                loaded.as_retriever(similarity_top_k=5).retrieve("deploy the service")]


def test_another_embedder_needs_the_model(tmp_path: Path) -> None:
    store = SkillVectorStore(embed_model=HashingEmbedding(DIMS, word_weight=2.0))
    fill(store)
    store.persist(str(tmp_path / "s"))
    with pytest.raises(ConfigError, match="embed_model"):
        SkillVectorStore.from_persist_path(str(tmp_path / "s"))
    reopened = SkillVectorStore.from_persist_path(str(tmp_path / "s"), embed_model=HashingEmbedding(DIMS, word_weight=2.0))
    assert len(reopened.get_nodes()) == 3
