"""AutoSkillInstrumentation: runs become windows, feedback decides, the application is never disturbed."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.tools import FunctionTool

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.errors import AutoSkillError
from autoskill_li import AutoSkillInstrumentation, HashingEmbedding, SkillRetriever, SkillVectorStore, make_skill_tools

from ._support import DIMS, ScriptedLLM, make_sdk, tool_call

# FunctionAgent's own construction (workflows' step discovery) trips pydantic deprecations.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROCEDURE = "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."


def empty_sdk() -> AutoSkill:
    return AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": DIMS}, store={"provider": "inmemory"}))


def kb_engine(sdk: AutoSkill) -> Any:
    """A query engine over a small knowledge base (records only), answering with MockLLM."""
    index = VectorStoreIndex.from_vector_store(SkillVectorStore(sdk=sdk, namespace="kb"),
                                               embed_model=HashingEmbedding(DIMS))
    index.insert(Document(text="The release calendar is on the team wiki.", id_="kb-1"))
    return index.as_query_engine(llm=MockLLM(), similarity_top_k=1)


@pytest.fixture
def instrumentation():  # type: ignore[no-untyped-def]
    created: list[AutoSkillInstrumentation] = []

    def make(sdk: AutoSkill, **kwargs: Any) -> AutoSkillInstrumentation:
        created.append(AutoSkillInstrumentation(sdk, **kwargs).attach())
        return created[-1]

    yield make
    for handler in created:
        handler.detach()


def test_repeated_runs_with_positive_feedback_make_one_skill(instrumentation) -> None:  # type: ignore[no-untyped-def]
    sdk = empty_sdk()
    inst = instrumentation(sdk, user_id="u1")
    engine = kb_engine(sdk)
    for _ in range(3):
        engine.query(PROCEDURE)
        inst.feedback(score=1.0, comment="worked")
    skills = sdk.list("u1")
    assert len(skills) == 1
    assert "canary" in skills[0].instructions.lower() and "monitor" in skills[0].instructions.lower()
    assert [w.status for w in sdk.store.list_windows(user_id="u1")] == ["processed"] * 3


def test_negative_feedback_makes_none(instrumentation) -> None:  # type: ignore[no-untyped-def]
    sdk = empty_sdk()
    inst = instrumentation(sdk, user_id="u1")
    engine = kb_engine(sdk)
    for _ in range(3):
        engine.query(PROCEDURE)
        inst.feedback(score=-1.0)
    assert sdk.list("u1") == [] and sdk.flush() == []
    assert [w.status for w in sdk.store.list_windows(user_id="u1")] == ["blocked"] * 3


async def test_a_repeated_successful_tool_sequence_becomes_a_workflow_skill(instrumentation) -> None:  # type: ignore[no-untyped-def]
    sdk = empty_sdk()
    inst = instrumentation(sdk, user_id="ops")

    def check_build(version: str) -> str:
        """Check the CI build of a version."""
        return f"build {version} is green"

    def publish_release(version: str) -> str:
        """Publish a release."""
        return f"published {version}"

    tools = [FunctionTool.from_defaults(check_build), FunctionTool.from_defaults(publish_release)]
    for version in ("1.2.0", "1.3.0"):
        llm = ScriptedLLM(tool_call("check_build", version=version), tool_call("publish_release", version=version),
                          final=f"Released {version}.")
        await FunctionAgent(tools=tools, llm=llm).run(f"ship version {version}")
        inst.feedback(score=1.0)
    [skill] = sdk.list("ops")
    assert "check_build" in skill.instructions and "publish_release" in skill.instructions
    events = sdk.store.list_windows(user_id="ops")[0].events
    calls = [(e["tool"], e["input"], e["output"], e["status"]) for e in events if e["type"] == "tool_call"]
    assert calls == [("check_build", {"version": "1.2.0"}, "build 1.2.0 is green", "ok"),
                     ("publish_release", {"version": "1.2.0"}, "published 1.2.0", "ok")]


def test_an_error_in_the_pipeline_propagates_untouched(instrumentation) -> None:  # type: ignore[no-untyped-def]
    sdk = make_sdk()

    class Boom(RuntimeError):
        pass

    def failing_engine() -> Any:
        engine = RetrieverQueryEngine.from_args(SkillRetriever(sdk, user_id="alice"), llm=MockLLM())

        def explode(*args: Any, **kwargs: Any) -> Any:
            raise Boom("synthesis failed: 42")

        engine._response_synthesizer.synthesize = explode  # type: ignore[method-assign]
        return engine

    with pytest.raises(Boom) as bare:
        failing_engine().query("deploy")
    instrumentation(sdk, user_id="alice")
    with pytest.raises(Boom) as observed:
        failing_engine().query("deploy")
    assert type(observed.value) is type(bare.value) and str(observed.value) == "synthesis failed: 42"
    [window] = sdk.store.list_windows(user_id="alice")
    assert window.status == "blocked" and "synthesis failed: 42" in window.feedback["reason"]  # type: ignore[index]
    assert [e["type"] for e in window.events][-2:] == ["error", "run_end"]


def test_our_own_failures_never_reach_the_application(instrumentation, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    sdk = make_sdk()
    instrumentation(sdk, user_id="alice")

    def broken(*args: Any, **kwargs: Any) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(sdk, "capture", broken)
    engine = RetrieverQueryEngine.from_args(SkillRetriever(sdk, user_id="alice"), llm=MockLLM())
    with caplog.at_level(logging.WARNING, logger="autoskill_li.instrumentation"):
        assert "Roll out with kubectl apply" in str(engine.query("How do I deploy the service?"))
    assert "capturing run" in caplog.text


def test_run_tree_timing_llm_calls_and_used_skills(instrumentation) -> None:  # type: ignore[no-untyped-def]
    sdk = make_sdk()
    inst = instrumentation(sdk, user_id="alice")
    engine = RetrieverQueryEngine.from_args(SkillRetriever(sdk, user_id="alice", k=2), llm=MockLLM())
    engine.query("How do I deploy the service?")
    [window] = sdk.store.list_windows(user_id="alice")
    root = inst.last_run_id
    assert root in window.run_ids()
    kinds = [e["type"] for e in window.events]
    assert kinds[:2] == ["run_start", "message"] and kinds[-2:] == ["message", "run_end"] and "llm_call" in kinds
    retrieval_end = next(e for e in window.events if e["type"] == "run_end" and e.get("parent_run_id"))
    assert retrieval_end["parent_run_id"] == root and retrieval_end["name"] == "SkillRetriever.retrieve"
    assert retrieval_end["duration_ms"] >= 0 and len(retrieval_end["outputs"]["nodes"]) == 2
    deploy = sdk.resolve("deploy-service", user_id="alice")
    assert deploy is not None and deploy.id in window.used_skills and len(window.used_skills) == 2
    assert window.events[1]["content"] == "How do I deploy the service?" and window.events[1]["role"] == "user"


async def test_agent_runs_with_kwargs_sessions_and_the_next_message(instrumentation) -> None:  # type: ignore[no-untyped-def]
    sdk = make_sdk()
    inst = instrumentation(sdk, user_id="nobody")
    llm = ScriptedLLM(tool_call("load_skill", name="deploy-service"), final="Deployed by the book.")
    agent = FunctionAgent(tools=make_skill_tools(sdk, user_id="alice"), llm=llm)
    await agent.run("How do I deploy the service?", user_id="alice", thread_id="chat-9")
    [first] = sdk.store.list_windows(thread_id="chat-9")
    assert first.user_id == "alice" and first.status == "pending"
    assert sdk.resolve("deploy-service", user_id="alice").id in first.used_skills  # type: ignore[union-attr]
    assert any(e["type"] == "llm_call" and e.get("tool_calls") == ["load_skill"] for e in first.events)
    with inst.session(user_id="alice", thread_id="chat-9"):
        await agent.run("thanks, that worked")
    first = sdk.store.get_window(first.id)  # type: ignore[assignment]
    assert first.status == "processed" and first.feedback["source"] == "next message"  # type: ignore[index]


async def test_concurrent_runs_keep_their_own_user(instrumentation) -> None:  # type: ignore[no-untyped-def]
    sdk = make_sdk()
    inst = instrumentation(sdk)
    engine = RetrieverQueryEngine.from_args(SkillRetriever(sdk, k=1), llm=MockLLM())

    async def ask(user: str) -> None:
        with inst.session(user_id=user, thread_id=f"t-{user}"):
            await engine.aquery(f"deploy the service for {user}")

    await asyncio.gather(*(ask(f"user{i}") for i in range(8)))

    def ask_in_thread(user: str) -> None:
        with inst.session(user_id=user, thread_id=f"t-{user}"):
            engine.query(f"deploy the service for {user}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(ask_in_thread, [f"worker{i}" for i in range(8)]))
    windows = sdk.store.list_windows()
    assert len(windows) == 16
    for window in windows:
        request = next(e["content"] for e in window.events if e["type"] == "message" and e["role"] == "user")
        assert request.endswith(window.user_id) and window.thread_id == f"t-{window.user_id}"


def test_attach_detach_and_context_manager() -> None:
    sdk = make_sdk()
    dispatcher = get_dispatcher()
    before = (list(dispatcher.span_handlers), list(dispatcher.event_handlers))
    engine = RetrieverQueryEngine.from_args(SkillRetriever(sdk, user_id="alice"), llm=MockLLM())
    with AutoSkillInstrumentation(sdk, user_id="alice") as inst:
        assert inst.attached and inst.attach() is inst  # idempotent
        engine.query("deploy the service")
    assert not inst.attached
    assert (dispatcher.span_handlers, dispatcher.event_handlers) == before
    engine.query("deploy the service again")
    assert len(sdk.store.list_windows()) == 1
    with pytest.raises(AutoSkillError):
        AutoSkillInstrumentation(sdk).feedback(score=1.0)


def test_background_capture_keeps_order_and_flushes() -> None:
    sdk = empty_sdk()
    engine = kb_engine(sdk)
    with AutoSkillInstrumentation(sdk, user_id="u1", background=True) as inst:
        for _ in range(3):
            with inst.session(thread_id="bg"):
                engine.query(PROCEDURE)
        assert inst.flush(timeout=30)
        windows = sdk.store.list_windows(thread_id="bg")
        assert len(windows) == 3 and windows[-1].status == "pending"
        inst.feedback(score=1.0)  # flushes first, then releases the last run
        with inst.session(thread_id="bg"):
            engine.query("thanks, that worked")
    # detach() waited for the worker: the fourth run is there and released the third.
    assert len(sdk.store.list_windows(thread_id="bg")) == 4
    assert len(sdk.list("u1")) == 1
