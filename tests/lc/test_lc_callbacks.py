"""AutoSkillCallbackHandler: root runs captured as events, feedback-gated learning, never raising."""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.errors import ConfigError
from autoskill.learning.events import Event, group_events
from autoskill_lc import AutoSkillCallbackHandler, SkillRetriever

from ._support import make_sdk
from .fakes import RecordingChatModel, RecordingLLM, ScriptedToolCallingModel

PROCEDURE = "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."


def empty_sdk() -> AutoSkill:
    return AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 256}, store={"provider": "inmemory"}))


def release_chain() -> Runnable:
    prompt = ChatPromptTemplate.from_messages([("system", "You help with releases."), ("human", "{input}")])
    return prompt | RecordingChatModel(responses=["Understood: tests, canary, monitor, full rollout."])


def window_of(sdk: AutoSkill, handler: AutoSkillCallbackHandler) -> Any:
    assert handler.last_window_id is not None
    return sdk.store.get_window(handler.last_window_id)


# -- learning through the handler -------------------------------------------------------------------


def test_three_runs_of_one_procedure_and_positive_feedback_give_one_skill() -> None:
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk)
    chain = release_chain()
    config = {"callbacks": [handler], "configurable": {"user_id": "u1", "thread_id": "release-talk"}}
    for _ in range(3):
        chain.invoke({"input": PROCEDURE}, config=config)
    handler.feedback(score=1.0)
    sdk.flush()
    skills = sdk.list("u1")
    assert len(skills) == 1
    assert "canary" in skills[0].instructions.lower()
    assert [w.status for w in sdk.store.list_windows(thread_id="release-talk")] == ["processed"] * 3


def test_runs_without_a_thread_wait_for_explicit_feedback() -> None:
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="u1")
    chain = release_chain()
    run_ids = []
    for _ in range(3):
        chain.invoke({"input": PROCEDURE}, config={"callbacks": [handler]})
        run_ids.append(handler.last_run_id)
    assert len(set(run_ids)) == 3 and sdk.list("u1") == []
    assert len(sdk.pending(user_id="u1")) == 3  # each root run is its own thread
    handler.feedback(run_ids[0], True)
    handler.feedback(run_ids[2], 0.8, comment="that worked")
    assert len(sdk.list("u1")) == 1


def test_negative_feedback_learns_nothing() -> None:
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="u1", thread_id="t-neg")
    release_chain().invoke({"input": PROCEDURE}, config={"callbacks": [handler]})
    result = handler.feedback(score=-1.0, comment="no, that's wrong")
    assert result.verdict.action == "block"
    sdk.flush()
    assert sdk.list("u1") == []
    assert window_of(sdk, handler).status == "blocked"


class ReleaseBlocked(RuntimeError):
    pass


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_error_in_the_chain_is_untouched_and_blocks_the_window(mode: str) -> None:
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="u1", thread_id="t-err")
    error = ReleaseBlocked("canary failed: 5xx rate 12%")

    def fail(_: Any) -> str:
        raise error

    chain = ChatPromptTemplate.from_messages([("human", "{input}")]) | RunnableLambda(fail)
    with pytest.raises(ReleaseBlocked) as caught:
        if mode == "sync":
            chain.invoke({"input": PROCEDURE}, config={"callbacks": [handler]})
        else:
            asyncio.run(chain.ainvoke({"input": PROCEDURE}, config={"callbacks": [handler]}))
    assert caught.value is error and type(caught.value) is ReleaseBlocked
    assert str(caught.value) == "canary failed: 5xx rate 12%" and caught.value.args == ("canary failed: 5xx rate 12%",)

    window = window_of(sdk, handler)
    assert window.status == "blocked"
    [failure] = [e for e in window.events if e["type"] == "error"]
    assert failure["error_type"] == "ReleaseBlocked" and failure["error"] == "canary failed: 5xx rate 12%"
    assert window.events[0]["type"] == "message" and window.events[0]["content"] == PROCEDURE
    assert window.events[-1]["type"] == "run_end" and window.events[-1]["status"] == "error"
    handler.feedback(score=1.0)  # a failed run stays blocked whatever is said about it
    assert sdk.list("u1") == []


def test_a_failing_store_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="u1")

    def broken(*args: Any, **kwargs: Any) -> str:
        raise OSError("disk full")

    sdk.capture = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="autoskill_lc.callbacks"):
        answer = release_chain().invoke({"input": PROCEDURE}, config={"callbacks": [handler]})
    assert answer.content.startswith("Understood")
    assert "could not capture run" in caplog.text and "disk full" in caplog.text
    assert handler.last_run_id is None
    with pytest.raises(ConfigError):
        handler.feedback(score=1.0)


# -- what a captured run holds ---------------------------------------------------------------------


@tool
def run_tests(suite: str) -> str:
    """Run a test suite."""
    return f"{suite}: 120 passed"


@tool
def canary(percent: int) -> str:
    """Roll out to a share of traffic."""
    raise ValueError("canary unhealthy")


def test_events_hold_the_tree_tools_models_retrievals_and_timing() -> None:
    sdk = make_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="nobody", thread_id="nothing")
    retriever = SkillRetriever(sdk=sdk, k=1)
    model = RecordingChatModel(responses=["Deploy with the skill."])

    def use_tools(inputs: dict[str, Any]) -> dict[str, Any]:
        run_tests.invoke({"suite": "unit"})
        try:
            canary.invoke({"percent": 5})
        except ValueError:
            pass  # the chain recovers from a failed tool
        return inputs

    prompt = ChatPromptTemplate.from_messages([("system", "{context}"), ("human", "{question}")])
    chain = (RunnableLambda(use_tools)
             | RunnablePassthrough.assign(context=(lambda x: x["question"]) | retriever
                                          | (lambda docs: docs[0].page_content))
             | prompt | model)
    chain.invoke({"question": "How do I deploy the web service?"},
                 config={"callbacks": [handler], "configurable": {"user_id": "alice", "thread_id": "t-tree"}})

    window = window_of(sdk, handler)
    assert (window.user_id, window.thread_id) == ("alice", "t-tree")
    events = window.events
    assert events[0] == {**events[0], "type": "message", "role": "user", "content": "How do I deploy the web service?"}
    root = events[0]["run_id"]
    assert events[-1]["type"] == "run_end" and events[-1]["run_id"] == root and events[-1]["status"] == "ok"
    assert events[-2] == {**events[-2], "type": "message", "role": "assistant", "content": "Deploy with the skill."}

    tools = [(e["tool"], e["status"]) for e in events if e["type"] == "tool_call"]
    assert tools == [("run_tests", "ok"), ("canary", "error")]
    ok_call = next(e for e in events if e["type"] == "tool_call" and e["tool"] == "run_tests")
    assert ok_call["input"] == {"suite": "unit"} and ok_call["output"] == "unit: 120 passed"
    failed_call = next(e for e in events if e["type"] == "tool_call" and e["tool"] == "canary")
    assert failed_call["error"] == "canary unhealthy" and failed_call["error_type"] == "ValueError"

    [llm] = [e for e in events if e["type"] == "llm_call"]
    assert [m["role"] for m in llm["messages"]] == ["system", "user"]
    assert "Roll out with kubectl apply" in llm["messages"][0]["content"]
    assert llm["output"] == "Deploy with the skill." and llm["duration_ms"] >= 0

    deploy = sdk.resolve("deploy-service", user_id="alice")
    assert deploy is not None and window.used_skills == (deploy.id,)
    retrieval = next(e for e in events if e["type"] == "run_end" and e.get("run_type") == "retriever")
    assert retrieval["outputs"]["documents"][0]["skill_id"] == deploy.id

    # Every event belongs to the root's tree, and the core reads it as one run.
    validated = [Event.from_dict(e) for e in events]
    [trajectory] = group_events(validated)
    assert list(trajectory.runs(roots_only=True)) == [root]
    assert all(e["ts"] for e in events)
    # A recovered tool failure does not block the run: it waits for feedback.
    assert window.status == "pending"


def test_user_and_thread_from_metadata_for_classic_chains() -> None:
    from langchain_classic.chains import ConversationChain

    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="fallback")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chain = ConversationChain(llm=RecordingLLM(responses=["ok"]))
    chain.invoke({"input": PROCEDURE}, config={"callbacks": [handler],
                                               "metadata": {"user_id": "meta-user", "thread_id": "meta-thread"}})
    window = window_of(sdk, handler)
    assert (window.user_id, window.thread_id) == ("meta-user", "meta-thread")
    assert window.events[0]["content"] == PROCEDURE
    [llm] = [e for e in window.events if e["type"] == "llm_call"]
    assert PROCEDURE in llm["prompt"]

    chain.invoke({"input": PROCEDURE}, config={"callbacks": [handler]})
    assert window_of(sdk, handler).user_id == "fallback"


def test_a_bare_model_call_is_a_root_run() -> None:
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="u1", thread_id="t-model")
    model = RecordingChatModel(responses=["noted"])
    model.invoke(PROCEDURE, config={"callbacks": [handler]})
    events = window_of(sdk, handler).events
    assert [e["type"] for e in events] == ["message", "llm_call", "message"]
    assert events[0]["content"] == PROCEDURE and events[-1]["content"] == "noted"


def test_capture_all_attaches_to_every_run_in_the_block() -> None:
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="u1", thread_id="t-all")
    chain = release_chain()
    with handler.capture_all():
        chain.invoke({"input": PROCEDURE})
        chain.invoke({"input": PROCEDURE})
    chain.invoke({"input": PROCEDURE})  # outside the block: not captured
    assert len(sdk.store.list_windows(thread_id="t-all")) == 2


# -- concurrency -------------------------------------------------------------------------------------


async def test_concurrent_async_runs_keep_their_own_user_and_thread() -> None:
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk)
    chain = release_chain()
    configs = [{"callbacks": [handler], "configurable": {"user_id": f"user-{i}", "thread_id": f"thread-{i}"}}
               for i in range(8)]
    await asyncio.gather(*(chain.ainvoke({"input": f"{PROCEDURE} ({i})"}, config=c) for i, c in enumerate(configs)))
    windows = sdk.store.list_windows()
    assert len(windows) == 8
    for window in windows:
        number = window.thread_id.rsplit("-", 1)[1]
        assert window.user_id == f"user-{number}"
        assert window.events[0]["content"].endswith(f"({number})")


def test_batch_in_threads_captures_each_run_once() -> None:
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="u1")
    chain = release_chain()
    chain.batch([{"input": f"{PROCEDURE} #{i}"} for i in range(10)],
                config={"callbacks": [handler], "max_concurrency": 4})
    windows = sdk.store.list_windows(user_id="u1")
    assert len(windows) == 10
    assert sorted(w.events[0]["content"] for w in windows) == sorted(f"{PROCEDURE} #{i}" for i in range(10))


# -- an agent repeating a tool sequence --------------------------------------------------------------


def test_an_agent_repeating_the_same_tools_learns_a_workflow() -> None:
    from langchain.agents import create_agent

    @tool
    def build_image(tag: str) -> str:
        """Build the container image."""
        return f"built {tag}"

    @tool
    def push_image(tag: str) -> str:
        """Push the image to the registry."""
        return f"pushed {tag}"

    @tool
    def apply_manifest(env: str) -> str:
        """Apply the Kubernetes manifest."""
        return f"applied to {env}"

    call = ScriptedToolCallingModel.call_tool
    model = ScriptedToolCallingModel(responses=[
        call("build_image", {"tag": "v1"}), call("push_image", {"tag": "v1"}),
        call("apply_manifest", {"env": "prod"}), "Shipped.",
    ])
    agent = create_agent(model, tools=[build_image, push_image, apply_manifest])
    sdk = empty_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="ops")
    config = {"callbacks": [handler], "configurable": {"thread_id": "ship"}}
    for request in ("Ship version one to production", "Ship version two to production",
                    "Ship version three to production"):
        agent.invoke({"messages": [("user", request)]}, config=config)
    handler.feedback(score=1.0)
    skills = sdk.list("ops")
    assert len(skills) == 1
    assert all(name in skills[0].instructions for name in ("build_image", "push_image", "apply_manifest"))
