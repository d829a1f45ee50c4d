"""SkillMemoryBlock: skills in Memory within a budget, every turn recorded once, agents end to end."""

from __future__ import annotations

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory import Memory

from autoskill.tokens import count_tokens
from autoskill_li import SkillMemoryBlock, make_skill_tools, session
from autoskill_li.memory import closed_turns, consumed_prefix

from ._support import ScriptedLLM, make_sdk, tool_call

# FunctionAgent's own construction (workflows' step discovery) trips pydantic deprecations.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROCEDURE = "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def assistant(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=text)


def system_text(messages: list[ChatMessage]) -> str:
    return "\n".join(m.content or "" for m in messages if m.role == "system")


def test_alignment_helpers() -> None:
    assert consumed_prefix([], ["a"]) == 0
    assert consumed_prefix(["a", "b"], ["a", "b", "c"]) == 2
    assert consumed_prefix(["a", "b", "c"], ["b", "c", "d"]) == 2  # the history lost its start
    assert consumed_prefix(["h", "x", "h", "x"], ["h", "x", "n"]) == 2  # repeats align on the latest
    assert consumed_prefix(["a", "b"], ["z"]) == 0  # a replaced history is all new
    turns = [("user", "1"), ("assistant", "a"), ("user", "2"), ("assistant", "b"), ("user", "3")]
    groups, span = closed_turns(turns)
    assert groups == [turns[0:2], turns[2:4]] and span == 4
    assert closed_turns([("system", "s"), ("user", "1")]) == ([], 1)


async def test_memory_get_injects_relevant_skills_within_budget() -> None:
    sdk = make_sdk()
    memory = Memory.from_defaults(session_id="s1", memory_blocks=[SkillMemoryBlock(sdk=sdk, user_id="alice")])
    await memory.aput(user("How do I deploy the service?"))
    messages = await memory.aget()
    assert "Roll out with kubectl apply" in system_text(messages)
    assert "BOB-ONLY" not in system_text(messages)
    tight = SkillMemoryBlock(sdk=sdk, user_id="alice", max_tokens=60, k=5)
    content = await tight.aget([user("How do I deploy the service?")])
    assert 0 < count_tokens(content) <= 60
    assert await tight.atruncate(content, 5) is not None and await tight.atruncate(content, 10_000) is None
    with session(user_id="bob"):
        assert "BOB-ONLY" in await SkillMemoryBlock(sdk=sdk, user_id="alice").aget(
            [user("How do I deploy the service?")])
    assert "BOB-ONLY" in await SkillMemoryBlock(sdk=sdk).aget([user("deploy the service")], user_id="bob")


async def test_every_turn_is_recorded_once_and_the_next_message_is_its_feedback() -> None:
    sdk = make_sdk()
    block = SkillMemoryBlock(sdk=sdk, user_id="alice")
    memory = Memory.from_defaults(session_id="chat-1", memory_blocks=[block])
    script = [PROCEDURE, "thanks, that worked! What about hotfixes?", "Got it, and the changelog?"]
    for number, text in enumerate(script):
        await memory.aput(user(text))
        for _ in range(3):  # agents call get() several times per turn
            await memory.aget()
        await memory.aput(assistant(f"answer {number}"))
    windows = sdk.store.list_windows(thread_id="chat-1")
    assert [[e["content"] for e in w.events] for w in windows] == [
        [script[0], "answer 0"], [script[1], "answer 1"]]  # the last turn waits for a next message
    assert windows[0].status == "processed" and windows[0].feedback["source"] == "next message"
    assert windows[1].status == "pending"
    deploy = sdk.resolve("deploy-service", user_id="alice")
    assert windows[0].user_id == "alice" and deploy is not None
    learned = [s for s in sdk.list("alice") if "canary" in s.instructions.lower()]
    assert len(learned) == 1  # the confirmed procedure became a skill


async def test_recording_survives_short_term_memory_flushes() -> None:
    sdk = make_sdk()
    memory = Memory.from_defaults(session_id="s", token_limit=120, chat_history_token_ratio=0.5,
                                  token_flush_size=20, memory_blocks=[SkillMemoryBlock(sdk=sdk, capture=True)])
    for number in range(8):
        await memory.aput(user(f"question number {number} about the deploy pipeline and its many stages"))
        await memory.aget()
        await memory.aput(assistant(f"reply number {number} with a fairly long explanation of the stages"))
    recorded = [e["content"] for w in sdk.store.list_windows(thread_id="s") for e in w.events if e["role"] == "user"]
    assert recorded == [f"question number {n} about the deploy pipeline and its many stages" for n in range(7)]


async def test_capture_off_records_nothing() -> None:
    sdk = make_sdk()
    block = SkillMemoryBlock(sdk=sdk, capture=False)
    await block.aget([user("a b c"), assistant("d"), user("e f g")], session_id="q")
    assert sdk.store.list_windows() == []


async def test_function_agent_with_skill_tools_and_memory_block() -> None:
    sdk = make_sdk()
    llm = ScriptedLLM(tool_call("load_skill", name="deploy-service"), final="Deployed by the book.")
    agent = FunctionAgent(tools=make_skill_tools(sdk, user_id="alice"), llm=llm,
                          system_prompt="You are a deploy assistant.")
    memory = Memory.from_defaults(session_id="agent-1", memory_blocks=[SkillMemoryBlock(sdk=sdk, user_id="alice")])
    first = await agent.run("How do I deploy the service?", memory=memory)
    assert str(first) == "Deployed by the book."
    prompt = llm.seen[0]
    assert "Roll out with kubectl apply" in system_text(prompt)  # the memory block's skills
    tool_results = [m.content or "" for m in llm.seen[-1] if m.role == "tool"]
    assert any("# Skill: deploy-service" in r and "Roll out with kubectl apply" in r for r in tool_results)
    await agent.run("thanks, that worked. Now rotate the API keys", memory=memory)
    windows = sdk.store.list_windows(thread_id="agent-1")
    # One turn recorded, once, although the agent called memory.get() at every step and
    # restated the request after the tool call.
    assert [[e["role"] for e in w.events] for w in windows] == [["user", "assistant"]]
    assert sdk.resolve("deploy-service", user_id="alice").id in windows[0].used_skills  # type: ignore[union-attr]


def test_chat_engine_with_memory_records_and_learns() -> None:
    from llama_index.core.chat_engine import SimpleChatEngine
    from llama_index.core.llms import MockLLM

    sdk = make_sdk()
    memory = Memory.from_defaults(session_id="chat-7", memory_blocks=[SkillMemoryBlock(sdk=sdk, user_id="dana")])
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=5), memory=memory)
    engine.chat(PROCEDURE)
    engine.chat("thanks, that worked")
    engine.chat("one more thing about tags")
    windows = sdk.store.list_windows(thread_id="chat-7")
    assert [w.events[0]["content"] for w in windows] == [PROCEDURE, "thanks, that worked"]
    assert windows[0].status == "processed"
    assert any("canary" in s.instructions.lower() for s in sdk.list("dana"))
