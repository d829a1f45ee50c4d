"""SkillDirectoryLoader, the embedding adapters and the LangChain skill tools."""

from __future__ import annotations

import logging
from pathlib import Path
from types import GeneratorType

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.tools import BaseTool
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

from autoskill.embeddings import HashingEmbedder
from autoskill.errors import ConfigError
from autoskill_lc import HashingEmbeddings, LangChainEmbedder, SkillDirectoryLoader, make_skill_tools

from ._support import make_sdk


def write_skill(root: Path, name: str, body: str = "1. Do it\n2. Check it") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f'---\nname: "{name}"\ndescription: "How to {name}"\n---\n\n{body}\n')
    return folder


# -- loader -------------------------------------------------------------------------------------


def test_loader_yields_skills_lazily_and_logs_skipped_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_skill(tmp_path, "alpha-skill")
    write_skill(tmp_path / "nested", "beta-skill")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "SKILL.md").write_text("no frontmatter here")
    loader = SkillDirectoryLoader(tmp_path)
    lazy = loader.lazy_load()
    assert isinstance(lazy, GeneratorType)
    with caplog.at_level(logging.WARNING, logger="autoskill_lc.loader"):
        docs = list(lazy)
    assert [d.metadata["name"] for d in docs] == ["alpha-skill", "beta-skill"]
    assert any("broken" in r.getMessage() for r in caplog.records)
    doc = docs[0]
    assert doc.metadata["scope"] == "library" and doc.metadata["source"].endswith("alpha-skill")
    assert {"skill_id", "name", "version", "user_id", "scope", "tags"} <= set(doc.metadata)
    assert "1. Do it" in doc.page_content and doc.id == doc.metadata["skill_id"]
    flat = SkillDirectoryLoader(tmp_path, recursive=False).load()
    assert [d.metadata["name"] for d in flat] == ["alpha-skill"]


def test_loader_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        SkillDirectoryLoader(tmp_path / "nope").load()


def test_bundled_library_loads() -> None:
    import autoskill

    docs = SkillDirectoryLoader(Path(autoskill.__file__).parent / "library").load()
    assert len(docs) >= 6 and all(d.page_content for d in docs)


# -- embeddings ---------------------------------------------------------------------------------


class TestHashingEmbeddingsStandard(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[HashingEmbeddings]:
        return HashingEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, int]:
        return {"dims": 64}


async def test_hashing_embeddings_match_the_core() -> None:
    emb = HashingEmbeddings(dims=64)
    core = HashingEmbedder(64)
    docs = emb.embed_documents(["deploy the service", "rotate keys"])
    assert isinstance(docs, list) and all(isinstance(x, float) for x in docs[0]) and len(docs[0]) == 64
    assert np.allclose(docs, core.embed_documents(["deploy the service", "rotate keys"]))
    assert emb.embed_query("deploy") == emb.embed_query("deploy") == core.embed_query("deploy").tolist()
    assert await emb.aembed_query("deploy") == emb.embed_query("deploy")
    assert await emb.aembed_documents(["a b c"]) == emb.embed_documents(["a b c"])
    # Usable by LangChain's own stores.
    store = InMemoryVectorStore(emb)
    store.add_texts(["deploy the service", "bake bread"])
    assert store.similarity_search("deploying services", k=1)[0].page_content == "deploy the service"


def test_langchain_embedder_is_reexported() -> None:
    core = LangChainEmbedder(DeterministicFakeEmbedding(size=8))
    assert core.embed_query("x").shape == (8,) and core.identity == "langchain:DeterministicFakeEmbedding:8"


# -- tools --------------------------------------------------------------------------------------


def test_make_skill_tools() -> None:
    sdk = make_sdk()
    tools = make_skill_tools(sdk, user_id="alice")
    assert all(isinstance(t, BaseTool) for t in tools)
    assert [t.name for t in tools] == ["load_skill", "list_skill_resources", "read_skill_resource"]
    by_name = {t.name: t for t in tools}
    text = by_name["load_skill"].invoke({"name": "deploy-service"})
    assert "Roll out with kubectl apply" in text
    assert by_name["load_skill"].invoke({"name": "code-review"}).startswith("# Skill: code-review")
    # Another user's skill is invisible; errors come back as text for the agent.
    assert by_name["load_skill"].invoke({"name": "bob-private-deploy"}).startswith("Error:")
    assert by_name["load_skill"].args_schema["required"] == ["name"]  # type: ignore[index]
    with_scripts = make_skill_tools(sdk, user_id="alice", allow_scripts=True)
    assert [t.name for t in with_scripts][-1] == "execute_skill_script"
