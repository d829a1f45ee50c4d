"""Conversions, embedding adapters both ways, the skill tools and the directory reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import Document, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.tools import FunctionTool

from autoskill import AutoSkill, AutoSkillConfig, Skill, write_skill_dir
from autoskill.embeddings import HashingEmbedder
from autoskill.retrieval.hybrid import SkillHit
from autoskill_li import (
    AutoSkillEmbedding,
    HashingEmbedding,
    LlamaIndexEmbedder,
    SkillDirectoryReader,
    SkillToolSpec,
    SkillVectorStore,
    hit_to_node,
    is_skill_node,
    make_skill_tools,
    node_to_skill,
    session,
    skill_to_node,
)

from ._support import make_sdk

SKILL = Skill(name="deploy-service", description="Deploy the service", instructions="1. Test\n2. Ship",
              tags=("ops",), user_id="alice")


def test_skill_node_round_trip() -> None:
    node = skill_to_node(SKILL)
    assert node.node_id == SKILL.id and node.metadata == {
        "skill_id": SKILL.id, "name": "deploy-service", "version": "0.1.0", "user_id": "alice", "scope": "user",
        "tags": ["ops"]}
    assert is_skill_node(node)
    assert node_to_skill(node, user_id="alice", skill_id=SKILL.id, existing=SKILL) == SKILL
    changed = TextNode(text="1. Test\n2. Canary\n3. Ship", metadata=node.metadata)
    updated = node_to_skill(changed, user_id="alice", skill_id=SKILL.id, existing=SKILL)
    assert updated.version == "0.1.1" and "Canary" in updated.instructions
    scored = hit_to_node(SkillHit(skill=SKILL, score=0.7, matched_by=("vector",)))
    assert scored.score == 0.7 and scored.node.metadata["matched_by"] == ["vector"]


def test_which_nodes_are_skills() -> None:
    assert not is_skill_node(TextNode(text="x", metadata={"name": "not-a-skill"}))
    assert is_skill_node(TextNode(text="x", metadata={"autoskill_skill": True, "name": "s"}))
    assert not is_skill_node(TextNode(text="x", metadata={"autoskill_skill": "yes", "name": "s"}))
    fragment = TextNode(text="x", metadata={"skill_id": "abc"},
                        relationships={NodeRelationship.NEXT: RelatedNodeInfo(node_id="y")})
    assert not is_skill_node(fragment)
    md = TextNode(text='---\nname: "pdf-forms"\ndescription: "Fill PDF forms"\n---\n\n1. Open\n2. Fill\n',
                  metadata={"autoskill_skill": True})
    parsed = node_to_skill(md, user_id="u1")
    assert (parsed.name, parsed.user_id, parsed.scope) == ("pdf-forms", "u1", "user")


def test_hashing_embedding_is_a_real_llamaindex_embedding() -> None:
    embedding = HashingEmbedding(64, embed_batch_size=7)
    assert embedding.embed_batch_size == 7 and embedding.model_name == "hashing-v1:64"
    a, b, c = embedding.get_text_embedding_batch(["deploy the service", "deploying services", "lunch menu"])
    assert len(a) == 64 and np.dot(a, b) > np.dot(a, c)
    assert embedding.get_query_embedding("deploy") == embedding.get_text_embedding("deploy")
    previous = Settings._embed_model  # the public getter would build the default (OpenAI) model
    try:
        Settings.embed_model = embedding
        index = VectorStoreIndex.from_documents([Document(text="deploy the service"), Document(text="lunch menu")])
        assert index.as_retriever(similarity_top_k=1).retrieve("service deployment")[0].node.text == \
            "deploy the service"
    finally:
        Settings._embed_model = previous


async def test_embedding_adapters_both_ways() -> None:
    core = HashingEmbedder(32)
    wrapped = AutoSkillEmbedding(core)
    assert wrapped.embedder is core and wrapped.dims == 32
    assert np.allclose(await wrapped.aget_query_embedding("x y"), core.embed_query("x y"))
    assert np.allclose((await wrapped.aget_text_embedding_batch(["a b"]))[0], core.embed_documents(["a b"])[0])
    # A LlamaIndex embedding in the core: MockEmbedding is constant, but the adapter works.
    adapter = LlamaIndexEmbedder(MockEmbedding(embed_dim=16))
    assert adapter.dims == 16 and adapter.embed_documents(["a", "b"]).shape == (2, 16)
    sdk = AutoSkill(AutoSkillConfig(embeddings=HashingEmbedding(48), store={"provider": "inmemory"}))
    assert sdk.embedder.identity.startswith("llamaindex:HashingEmbedding")
    assert SkillVectorStore(embed_model=HashingEmbedding(48)).sdk.embedder.identity == "hashing-v1:48"


def test_skill_tools_as_function_tools() -> None:
    sdk = make_sdk()
    tools = make_skill_tools(sdk, user_id="alice")
    assert [t.metadata.name for t in tools] == ["load_skill", "list_skill_resources", "read_skill_resource"]
    assert all(isinstance(t, FunctionTool) for t in tools)
    load = tools[0]
    assert load.metadata.get_parameters_dict()["required"] == ["name"]
    assert "Roll out with kubectl apply" in load.call(name="deploy-service").content
    assert load.call(name="bob-private-deploy").content.startswith("Error:")  # bob's skill is not alice's
    with session(user_id="bob"):
        assert "BOB-ONLY" in load.call(name="bob-private-deploy").content
    assert tools[1].call(name="deploy-service").content == "(none)"
    assert "Error" in tools[2].call(name="deploy-service", path="../etc/passwd").content


async def test_tool_spec_and_scripts(tmp_path: Path) -> None:
    sdk = make_sdk({"provider": "local", "path": str(tmp_path / "store")})  # keeps skill folders
    folder = tmp_path / "lib"
    skill = Skill(name="say-hello", description="Greets", instructions="Run scripts/hello.py",
                  resources={"scripts/hello.py": "import sys\nprint('hello', sys.argv[1])\n"})
    write_skill_dir(skill, folder)
    sdk.import_skill_dirs(folder, scope="common")
    spec = SkillToolSpec(sdk, user_id="alice")
    assert "execute_skill_script" not in [t.metadata.name for t in spec.to_tool_list()]
    assert spec.execute_skill_script("say-hello", "scripts/hello.py", ["x"]).startswith("Error:")
    enabled = SkillToolSpec(sdk, user_id="alice", allow_scripts=True).to_tool_list()
    run = next(t for t in enabled if t.metadata.name == "execute_skill_script")
    output = await run.acall(name="say-hello", script="scripts/hello.py", args=["world"])
    assert '"returncode": 0' in output.content and "hello world" in output.content
    listing = next(t for t in enabled if t.metadata.name == "list_skill_resources")
    assert listing.call(name="say-hello").content == "scripts/hello.py"


def test_directory_reader(tmp_path: Path) -> None:
    for skill in (SKILL, Skill(name="write-notes", description="Write notes", instructions="Be brief")):
        write_skill_dir(skill, tmp_path / "nested" / "deeper")
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "SKILL.md").write_text("---\nname: [unclosed\n---\nbody")
    reader = SkillDirectoryReader(tmp_path, recursive=True)
    documents = reader.load_data()
    assert [d.metadata["name"] for d in documents] == ["deploy-service", "write-notes"]
    first = documents[0]
    assert isinstance(first, Document) and first.doc_id == first.metadata["skill_id"]
    assert set(first.metadata) == {"skill_id", "name", "version", "user_id", "scope", "tags", "source"}
    assert Path(first.metadata["source"]).name == "deploy-service"
    assert documents[1].metadata["scope"] == "library"  # a skill file naming no owner is a library's
    assert [d.metadata["name"] for d in reader.lazy_load_data()] == ["deploy-service", "write-notes"]
    assert SkillDirectoryReader(tmp_path, recursive=False).load_data() == []
    with pytest.raises(Exception):
        SkillDirectoryReader(tmp_path / "missing").load_data()
    # Reader documents added through an index become the store user's skills.
    store = SkillVectorStore(sdk=make_sdk(), user_id="carol")
    VectorStoreIndex.from_vector_store(store, embed_model=HashingEmbedding(256)).insert(documents[1])
    learned = store.sdk.resolve("write-notes", user_id="carol")
    assert learned is not None and learned.user_id == "carol" and learned.scope == "user"
