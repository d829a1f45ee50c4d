"""SkillMemory: LCEL runnable, classic chain memory, turns captured for deferred learning."""

from __future__ import annotations

import warnings

import pytest
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough
from pydantic import ValidationError

from autoskill import AutoSkill
from autoskill_lc import AutoSkillCallbackHandler, SkillMemory

from ._support import DEPLOY_STEPS, make_sdk
from .fakes import RecordingChatModel, RecordingLLM

PROCEDURE = "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."
QUESTION = "How do I deploy the web service to production?"


def lcel_chain(memory: SkillMemory, model: RecordingChatModel) -> Runnable:
    prompt = ChatPromptTemplate.from_messages([("system", "Follow the relevant skills.\n\n{skills}"),
                                               ("human", "{input}")])
    return RunnablePassthrough.assign(**{memory.memory_key: memory}) | prompt | model


def windows(sdk: AutoSkill, **filters: str) -> list:  # type: ignore[type-arg]
    return sdk.store.list_windows(**filters)


# -- LCEL -----------------------------------------------------------------------------------------


def test_lcel_chain_gets_the_skill_in_its_prompt_and_the_turn_is_captured() -> None:
    sdk = make_sdk()
    memory = SkillMemory(sdk=sdk, user_id="alice", max_tokens=400, k=2)
    model = RecordingChatModel(responses=["Run the tests, build the image, roll out."])
    answer = lcel_chain(memory, model).invoke({"input": QUESTION})

    system = model.seen[0][0].content
    assert "deploy-service" in system and DEPLOY_STEPS in system
    assert "BOB-ONLY" not in system  # another user's skill never leaks

    memory.save_context({"input": QUESTION}, {"output": answer.content})
    [window] = windows(sdk)
    assert window.status == "pending" and window.user_id == "alice"
    assert [(e["role"], e["content"]) for e in window.events] == [
        ("user", QUESTION), ("assistant", "Run the tests, build the image, roll out.")]
    injected = sdk.resolve("deploy-service", user_id="alice")
    assert injected is not None and injected.id in window.used_skills
    assert memory.last_run_id == window.events[0]["run_id"]


def test_user_and_thread_come_from_the_config_per_call() -> None:
    sdk = make_sdk()
    memory = SkillMemory(sdk=sdk, user_id="alice")
    model = RecordingChatModel(responses=["ok"])
    config = {"configurable": {"user_id": "bob", "thread_id": "bob-thread"}}
    lcel_chain(memory, model).invoke({"input": "How does Bob deploy the service?"}, config=config)
    assert "BOB-ONLY" in model.seen[0][0].content

    memory.save_context({"input": "How does Bob deploy the service?"}, {"output": "ok"}, config=config)
    [window] = windows(sdk)
    assert (window.user_id, window.thread_id) == ("bob", "bob-thread")
    bob_skill = sdk.resolve("bob-private-deploy", user_id="bob")
    assert bob_skill is not None and bob_skill.id in window.used_skills


def test_the_memory_is_a_runnable_from_dict_or_text() -> None:
    sdk = make_sdk()
    memory = SkillMemory(sdk=sdk, user_id="alice", max_tokens=300)
    assert isinstance(memory, Runnable)
    assert "deploy-service" in memory.invoke(QUESTION)
    assert "deploy-service" in memory.invoke({"question": QUESTION, "skills": "ignored"})
    assert memory.invoke({"input": "   "}) == ""
    assert "deploy-service" in SkillMemory(sdk=sdk, user_id="alice", input_key="ask").invoke(
        {"ask": QUESTION, "input": "write a poem"})
    assert memory.get_name() == "SkillMemory"


async def test_async_chain_and_save() -> None:
    sdk = make_sdk()
    memory = SkillMemory(sdk=sdk, user_id="alice", thread_id="t-async")
    model = RecordingChatModel(responses=["ok"])
    answer = await lcel_chain(memory, model).ainvoke({"input": QUESTION})
    assert DEPLOY_STEPS in model.seen[0][0].content
    await memory.asave_context({"input": QUESTION}, {"output": answer.content})
    [window] = windows(sdk, thread_id="t-async")
    assert window.used_skills and window.status == "pending"
    assert (await memory.aload_memory_variables({"input": QUESTION}))["skills"].startswith("## Relevant skills")


def test_the_next_user_message_decides_what_is_learned() -> None:
    sdk = make_sdk()
    memory = SkillMemory(sdk=sdk, user_id="carol")
    memory.load_memory_variables({"input": PROCEDURE})
    memory.save_context({"input": PROCEDURE}, {"output": "Noted."})
    assert sdk.list("carol") == []  # deferred: nothing learned yet
    memory.save_context({"input": "Thanks, that worked!"}, {"output": "Glad it helped."})
    assert [s.name for s in sdk.list("carol")] == ["release-workflow"]

    other = SkillMemory(sdk=sdk, user_id="dave")
    other.save_context({"input": PROCEDURE}, {"output": "Noted."})
    other.save_context({"input": "No, that's wrong."}, {"output": "Sorry."})
    assert sdk.list("dave") == []
    assert [w.status for w in windows(sdk, user_id="dave")] == ["blocked", "pending"]


def test_clear_forgets_the_injected_skills_not_the_store() -> None:
    sdk = make_sdk()
    memory = SkillMemory(sdk=sdk, user_id="alice")
    memory.load_memory_variables({"input": QUESTION})
    memory.clear()
    memory.save_context({"input": QUESTION}, {"output": "ok"})
    [window] = windows(sdk)
    assert window.used_skills == ()
    assert len(sdk.list("alice")) == 3


def test_with_the_handler_the_injected_skills_become_used_skill_ids() -> None:
    sdk = make_sdk()
    handler = AutoSkillCallbackHandler(sdk, user_id="alice")
    memory = SkillMemory(sdk=sdk, user_id="alice", k=1)
    lcel_chain(memory, RecordingChatModel(responses=["ok"])).invoke({"input": QUESTION},
                                                                     config={"callbacks": [handler]})
    window = sdk.store.get_window(handler.last_window_id)
    deploy = sdk.resolve("deploy-service", user_id="alice")
    assert deploy is not None and window.used_skills == (deploy.id,)
    assert any(e.get("name") == "SkillContext" for e in window.events)


# -- classic chains (langchain-classic) ------------------------------------------------------------


def test_conversation_chain_runs_with_skill_memory() -> None:
    from langchain_classic.base_memory import BaseMemory
    from langchain_classic.chains import ConversationChain

    sdk = make_sdk()
    memory = SkillMemory(sdk=sdk, user_id="alice", memory_key="history", max_tokens=400)
    assert isinstance(memory, BaseMemory) and isinstance(memory, SkillMemory)
    assert memory.memory_variables == ["history"]
    llm = RecordingLLM(responses=["Run the tests first."])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConversationChain is deprecated upstream
        chain = ConversationChain(llm=llm, memory=memory)
    result = chain.invoke({"input": QUESTION})

    assert result["response"] == "Run the tests first."
    assert DEPLOY_STEPS in llm.prompts[0] and QUESTION in llm.prompts[0]
    [window] = windows(sdk)
    assert [(e["role"], e["content"]) for e in window.events] == [("user", QUESTION),
                                                                  ("assistant", "Run the tests first.")]
    assert window.used_skills


async def test_llm_chain_async_with_skill_memory() -> None:
    from langchain_classic.chains import LLMChain

    sdk = make_sdk()
    llm = RecordingLLM(responses=["fine"])
    prompt = PromptTemplate.from_template("Skills:\n{skills}\n\nQuestion: {question}\nAnswer:")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chain = LLMChain(llm=llm, prompt=prompt, memory=SkillMemory.classic(sdk=sdk, user_id="alice",
                                                                           thread_id="classic"))
    result = await chain.ainvoke({"question": QUESTION})
    assert result["text"] == "fine" and DEPLOY_STEPS in llm.prompts[0]
    [window] = windows(sdk, thread_id="classic")
    assert window.events[0]["content"] == QUESTION and window.events[1]["content"] == "fine"


def test_bad_memory_config_is_reported() -> None:
    with pytest.raises(ValidationError):  # sdk is required
        SkillMemory(user_id="alice")  # type: ignore[call-arg]
