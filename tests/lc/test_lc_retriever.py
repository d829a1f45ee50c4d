"""SkillRetriever: metadata, per-call users, RAG chains, retriever tools."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tools import create_retriever_tool

from autoskill_lc import SkillRetriever

from ._support import RecordingChatModel, make_sdk

QUERY = "How do I deploy the service?"


@pytest.fixture(scope="module")
def sdk():  # type: ignore[no-untyped-def]
    return make_sdk()


def names(docs: list[Document]) -> list[str]:
    return [d.metadata["name"] for d in docs]


def test_documents_carry_skill_metadata_score_and_matched_by(sdk) -> None:  # type: ignore[no-untyped-def]
    docs = SkillRetriever(sdk=sdk, user_id="alice", k=3).invoke(QUERY)
    assert len(docs) == 3 and docs[0].metadata["name"] == "deploy-service"
    meta = docs[0].metadata
    assert sorted(meta) == ["matched_by", "name", "scope", "score", "skill_id", "tags", "user_id", "version"]
    assert meta["user_id"] == "alice" and meta["scope"] == "user" and meta["tags"] == ["ops", "deploy"]
    assert 0.0 < meta["score"] <= 1.0 and "vector" in meta["matched_by"]
    assert docs[0].id == meta["skill_id"]
    assert "Roll out with kubectl apply" in docs[0].page_content
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_another_users_private_skill_never_appears(sdk) -> None:  # type: ignore[no-untyped-def]
    for user in ("alice", "carol", None):
        docs = SkillRetriever(sdk=sdk, user_id=user, k=50).invoke("Bob's secret way to deploy the service")
        assert "bob-private-deploy" not in names(docs)
        assert "code-review" in names(docs)  # the shared library is visible to everyone


def test_per_call_user_overrides_the_constructor(sdk) -> None:  # type: ignore[no-untyped-def]
    retriever = SkillRetriever(sdk=sdk, user_id="alice", k=50)
    as_bob = retriever.invoke("secret deploy", config={"configurable": {"user_id": "bob", "thread_id": "t1"}})
    assert "bob-private-deploy" in names(as_bob) and "deploy-service" not in names(as_bob)
    # Keyword arguments win over the config; k per call.
    as_alice = retriever.invoke("secret deploy", config={"configurable": {"user_id": "bob"}}, user_id="alice", k=2)
    assert len(as_alice) == 2 and "bob-private-deploy" not in names(as_alice)
    # Inside a chain the config reaches the retriever the same way.
    chain = retriever | RunnableLambda(names)
    assert "bob-private-deploy" in chain.invoke("secret deploy", config={"configurable": {"user_id": "bob"}})
    assert "bob-private-deploy" not in chain.invoke("secret deploy")


async def test_async_per_call_user(sdk) -> None:  # type: ignore[no-untyped-def]
    retriever = SkillRetriever(sdk=sdk, user_id="alice")
    as_bob = await retriever.ainvoke("secret deploy", config={"configurable": {"user_id": "bob"}}, k=1)
    assert names(as_bob) == ["bob-private-deploy"]
    batch = await retriever.abatch(["deploy", "release notes"], config={"configurable": {"user_id": "alice"}})
    assert all(len(docs) == 4 for docs in batch)


def test_scope_and_min_score(sdk) -> None:  # type: ignore[no-untyped-def]
    library_only = SkillRetriever(sdk=sdk, user_id="alice", scope="library", k=10).invoke(QUERY)
    assert names(library_only) == ["code-review"]
    everything = SkillRetriever(sdk=sdk, user_id="alice", k=10).invoke(QUERY)
    floor = everything[1].metadata["score"]
    strict = SkillRetriever(sdk=sdk, user_id="alice", k=10, min_score=floor).invoke(QUERY)
    assert all(d.metadata["score"] >= floor for d in strict) and len(strict) < len(everything)


def test_rag_chain_end_to_end(sdk) -> None:  # type: ignore[no-untyped-def]
    retriever = SkillRetriever(sdk=sdk, user_id="alice", k=2)
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Follow the relevant skill.\n\n{context}"),
        ("human", "{question}"),
    ])
    model = RecordingChatModel(responses=["Run the tests, build the image, then kubectl apply."])

    def format_docs(docs: list[Document]) -> str:
        return "\n\n".join(d.page_content for d in docs)

    chain = ({"context": retriever | format_docs, "question": RunnablePassthrough()}
             | prompt | model | StrOutputParser())
    answer = chain.invoke(QUERY)
    assert answer == "Run the tests, build the image, then kubectl apply."
    [messages] = model.seen
    system = messages[0].content
    assert "### deploy-service (v0.1.0)" in system and "Build the image with make image" in system
    assert messages[1].content == QUERY
    # The same chain for bob sees bob's skill, never alice's.
    model.seen.clear()
    chain.invoke("secret deploy from laptop", config={"configurable": {"user_id": "bob"}})
    assert "BOB-ONLY" in model.seen[0][0].content and "make image" not in model.seen[0][0].content


def test_create_retriever_tool(sdk) -> None:  # type: ignore[no-untyped-def]
    tool = create_retriever_tool(SkillRetriever(sdk=sdk, user_id="alice", k=1), "find_skill",
                                 "Find the skill that explains how to do a task.")
    out = tool.invoke({"query": QUERY})
    assert "deploy-service" in out and "kubectl apply" in out


def test_bad_scope_is_a_config_error(sdk) -> None:  # type: ignore[no-untyped-def]
    from autoskill.errors import ConfigError

    with pytest.raises(ConfigError):
        SkillRetriever(sdk=sdk, scope="everyone")
    assert SkillRetriever(sdk=sdk, scope="common").scope == "library"
