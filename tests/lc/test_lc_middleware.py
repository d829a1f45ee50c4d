"""SkillMiddleware in langchain.agents.create_agent, driven by a scripted tool-calling fake."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from autoskill.errors import ConfigError
from autoskill_lc import AutoSkillCallbackHandler, SkillMiddleware

from ._support import DEPLOY_STEPS, make_sdk
from .fakes import ScriptedToolCallingModel

QUESTION = "How do I deploy the web service to production?"
SYSTEM = "You are the ops assistant."
call = ScriptedToolCallingModel.call_tool


def loading_model(skill: str = "deploy-service") -> ScriptedToolCallingModel:
    return ScriptedToolCallingModel(responses=[call("load_skill", {"name": skill}), "Tests, image, kubectl apply."])


def tool_messages(state: dict[str, Any]) -> list[ToolMessage]:
    return [m for m in state["messages"] if isinstance(m, ToolMessage)]


def assert_state_is_clean(state: dict[str, Any]) -> None:
    """The conversation holds only the user's, the model's and the tools' messages."""
    for message in state["messages"]:
        assert not isinstance(message, SystemMessage)
        if not isinstance(message, ToolMessage):
            assert "Available Skills" not in str(message.content)
            assert "Relevant skills" not in str(message.content)


# -- catalog mode: progressive disclosure -----------------------------------------------------------


def test_catalog_mode_offers_load_skill_and_the_tool_returns_the_skill_body() -> None:
    sdk = make_sdk()
    model = loading_model()
    middleware = SkillMiddleware(sdk, user_id="alice", mode="catalog")
    assert [t.name for t in middleware.tools] == ["load_skill", "list_skill_resources", "read_skill_resource"]
    agent = create_agent(model, system_prompt=SYSTEM, middleware=[middleware])
    state = agent.invoke({"messages": [HumanMessage(QUESTION)]})

    [loaded] = tool_messages(state)
    assert loaded.name == "load_skill" and DEPLOY_STEPS in loaded.content
    assert "load_skill" in model.bound_tools
    system = model.seen[0][0]
    assert isinstance(system, SystemMessage) and system.content.startswith(SYSTEM)
    assert "## Available Skills" in system.content and "**deploy-service**" in system.content
    assert DEPLOY_STEPS not in system.content  # only the catalog: the body comes through the tool
    assert "bob-private-deploy" not in system.content
    assert len(model.seen) == 2 and "## Available Skills" in model.seen[1][0].content  # every model call
    assert isinstance(state["messages"][-1], AIMessage) and state["messages"][-1].content.startswith("Tests")
    assert_state_is_clean(state)


async def test_catalog_mode_async() -> None:
    sdk = make_sdk()
    model = loading_model()
    agent = create_agent(model, middleware=[SkillMiddleware(sdk, user_id="alice", mode="catalog")])
    state = await agent.ainvoke({"messages": [("user", QUESTION)]})
    [loaded] = tool_messages(state)
    assert DEPLOY_STEPS in loaded.content
    assert "## Available Skills" in model.seen[0][0].content
    assert_state_is_clean(state)


def test_per_call_user_reaches_the_catalog_and_the_tools() -> None:
    sdk = make_sdk()
    model = loading_model("bob-private-deploy")
    agent = create_agent(model, middleware=[SkillMiddleware(sdk, user_id="alice", mode="catalog")])
    state = agent.invoke({"messages": [("user", "How does Bob deploy the service?")]},
                         config={"configurable": {"user_id": "bob"}})
    assert "bob-private-deploy" in model.seen[0][0].content
    [loaded] = tool_messages(state)
    assert "BOB-ONLY" in loaded.content

    model.reset()
    state = agent.invoke({"messages": [("user", "How does Bob deploy the service?")]})  # alice by default
    assert "bob-private-deploy" not in model.seen[0][0].content
    assert tool_messages(state)[0].content.startswith("Error:")


# -- inject mode ------------------------------------------------------------------------------------


def test_inject_mode_adds_the_rendered_skills_to_every_model_call() -> None:
    sdk = make_sdk()

    from langchain_core.tools import tool

    @tool
    def kubectl(command: str) -> str:
        """Run kubectl."""
        return f"ok: kubectl {command}"

    model = ScriptedToolCallingModel(responses=[call("kubectl", {"command": "apply -f deploy.yaml"}), "Deployed."])
    agent = create_agent(model, tools=[kubectl], system_prompt=SYSTEM,
                         middleware=[SkillMiddleware(sdk, user_id="alice", mode="inject", k=2, max_tokens=400)])
    state = agent.invoke({"messages": [("user", QUESTION)]})
    assert len(model.seen) == 2
    for seen in model.seen:
        assert seen[0].content.startswith(SYSTEM) and "## Relevant skills" in seen[0].content
        assert DEPLOY_STEPS in seen[0].content
    assert model.bound_tools == ["kubectl"]  # inject mode adds no tools
    assert state["messages"][-1].content == "Deployed."
    assert_state_is_clean(state)


async def test_inject_mode_async_without_a_system_prompt() -> None:
    sdk = make_sdk()
    model = ScriptedToolCallingModel(responses=["Deployed."])
    agent = create_agent(model, middleware=[SkillMiddleware(sdk, user_id="alice")])
    state = await agent.ainvoke({"messages": [("user", QUESTION)]})
    system = model.seen[0][0]
    assert isinstance(system, SystemMessage) and system.content.startswith("## Relevant skills")
    assert DEPLOY_STEPS in system.content
    assert_state_is_clean(state)


def test_skill_text_never_accumulates_in_a_checkpointed_conversation() -> None:
    sdk = make_sdk()
    model = ScriptedToolCallingModel(responses=["First answer.", "Second answer."])
    agent = create_agent(model, middleware=[SkillMiddleware(sdk, user_id="alice")], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "conversation-1"}}
    agent.invoke({"messages": [("user", QUESTION)]}, config=config)
    state = agent.invoke({"messages": [("user", "And how do I rotate the API keys?")]}, config=config)
    assert [type(m).__name__ for m in state["messages"]] == ["HumanMessage", "AIMessage", "HumanMessage", "AIMessage"]
    assert_state_is_clean(state)
    second = model.seen[1]
    assert sum(isinstance(m, SystemMessage) for m in second) == 1  # one fresh system message per call
    assert "rotate-api-keys" in second[0].content


# -- robustness and the handler -------------------------------------------------------------------


def test_a_failing_store_leaves_the_model_call_alone(caplog: pytest.LogCaptureFixture) -> None:
    sdk = make_sdk()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("index unavailable")

    sdk.build_context = broken  # type: ignore[method-assign]
    model = ScriptedToolCallingModel(responses=["Answered anyway."])
    agent = create_agent(model, system_prompt=SYSTEM, middleware=[SkillMiddleware(sdk, user_id="alice")])
    with caplog.at_level(logging.WARNING, logger="autoskill_lc.middleware"):
        state = agent.invoke({"messages": [("user", QUESTION)]})
    assert state["messages"][-1].content == "Answered anyway."
    assert model.seen[0][0].content == SYSTEM
    assert "could not read skills" in caplog.text


def test_bad_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="inject"):
        SkillMiddleware(make_sdk(), mode="everything")


@pytest.mark.parametrize("mode", ["inject", "catalog"])
def test_the_handler_credits_the_skills_the_agent_used(mode: str) -> None:
    sdk = make_sdk()
    handler = AutoSkillCallbackHandler(sdk)
    model = loading_model() if mode == "catalog" else ScriptedToolCallingModel(responses=["Deployed."])
    agent = create_agent(model, middleware=[SkillMiddleware(sdk, user_id="alice", mode=mode, k=1)])
    agent.invoke({"messages": [("user", QUESTION)]},
                 config={"callbacks": [handler], "configurable": {"user_id": "alice", "thread_id": "agent-1"}})
    window = sdk.store.get_window(handler.last_window_id)
    deploy = sdk.resolve("deploy-service", user_id="alice")
    assert deploy is not None and window.used_skills == (deploy.id,)
    assert (window.user_id, window.thread_id) == ("alice", "agent-1")
    assert window.events[0]["role"] == "user" and window.events[0]["content"] == QUESTION
