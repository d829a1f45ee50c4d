"""SkillRetriever: skill nodes, per-call users, query engines, chat engines, retriever tools."""

from __future__ import annotations

import pytest
from llama_index.core.chat_engine import CondensePlusContextChatEngine, ContextChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore
from llama_index.core.tools import RetrieverTool

from autoskill.errors import ConfigError
from autoskill_li import SkillRetriever, session

from ._support import make_sdk

QUERY = "How do I deploy the service?"


@pytest.fixture(scope="module")
def sdk():  # type: ignore[no-untyped-def]
    return make_sdk()


def names(nodes: list[NodeWithScore]) -> list[str]:
    return [n.node.metadata["name"] for n in nodes]


def test_nodes_carry_skill_metadata_and_absolute_scores(sdk) -> None:  # type: ignore[no-untyped-def]
    nodes = SkillRetriever(sdk, user_id="alice", k=3).retrieve(QUERY)
    assert len(nodes) == 3 and nodes[0].node.metadata["name"] == "deploy-service"
    meta = nodes[0].node.metadata
    assert sorted(meta) == ["matched_by", "name", "scope", "skill_id", "tags", "user_id", "version"]
    assert meta["user_id"] == "alice" and meta["scope"] == "user" and meta["tags"] == ["ops", "deploy"]
    assert nodes[0].node.node_id == meta["skill_id"] and "vector" in meta["matched_by"]
    assert all(0.0 < n.score <= 1.0 for n in nodes)  # type: ignore[operator]
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)  # type: ignore[misc]
    assert "Roll out with kubectl apply" in nodes[0].node.get_content()
    # Bookkeeping keys stay out of what the LLM reads.
    llm_view = nodes[0].node.get_content(metadata_mode="llm")  # type: ignore[arg-type]
    assert "skill_id" not in llm_view and "name: deploy-service" in llm_view


def test_user_scope_k_and_min_score(sdk) -> None:  # type: ignore[no-untyped-def]
    alice = names(SkillRetriever(sdk, user_id="alice", k=10).retrieve(QUERY))
    assert "bob-private-deploy" not in alice and "code-review" in alice
    assert "bob-private-deploy" in names(SkillRetriever(sdk, user_id="bob", k=10).retrieve(QUERY))
    assert names(SkillRetriever(sdk, user_id="alice", k=10, scope="library").retrieve(QUERY)) == ["code-review"]
    assert "code-review" not in names(SkillRetriever(sdk, user_id="alice", k=10, scope="user").retrieve(QUERY))
    assert len(SkillRetriever(sdk, user_id="alice", k=2).retrieve(QUERY)) == 2
    assert SkillRetriever(sdk, user_id="alice", min_score=0.99).retrieve(QUERY) == []
    with pytest.raises(ConfigError):
        SkillRetriever(sdk, scope="nobody")


async def test_session_overrides_the_constructor_sync_and_async(sdk) -> None:  # type: ignore[no-untyped-def]
    retriever = SkillRetriever(sdk, user_id="alice", k=10)
    with session(user_id="bob"):
        assert "bob-private-deploy" in names(retriever.retrieve(QUERY))
        assert "bob-private-deploy" in names(await retriever.aretrieve(QUERY))
    assert "bob-private-deploy" not in names(await retriever.aretrieve(QUERY))


def test_query_engine_chat_engines_and_tool(sdk) -> None:  # type: ignore[no-untyped-def]
    retriever = SkillRetriever(sdk, user_id="alice", k=2)
    response = RetrieverQueryEngine.from_args(retriever, llm=MockLLM()).query(QUERY)
    assert "Roll out with kubectl apply" in str(response)  # MockLLM echoes its prompt
    assert response.source_nodes[0].node.metadata["name"] == "deploy-service"
    for engine in (ContextChatEngine.from_defaults(retriever=retriever, llm=MockLLM()),
                   CondensePlusContextChatEngine.from_defaults(retriever=retriever, llm=MockLLM())):
        reply = engine.chat(QUERY)
        assert "Roll out with kubectl apply" in str(reply)
        assert reply.source_nodes[0].node.metadata["name"] == "deploy-service"
    tool = RetrieverTool.from_defaults(retriever, name="find_skills", description="Find skills for a task")
    output = tool.call(input=QUERY)
    assert output.tool_name == "find_skills" and "Roll out with kubectl apply" in output.content


async def test_async_chat_engine(sdk) -> None:  # type: ignore[no-untyped-def]
    engine = CondensePlusContextChatEngine.from_defaults(retriever=SkillRetriever(sdk, user_id="alice"),
                                                         llm=MockLLM())
    reply = await engine.achat(QUERY)
    assert "Roll out with kubectl apply" in str(reply)
