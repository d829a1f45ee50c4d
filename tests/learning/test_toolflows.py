"""Repeated successful tool sequences become workflow candidates."""

from __future__ import annotations

from typing import Any

from autoskill.learning.events import group_events
from autoskill.learning.heuristic import Candidate
from autoskill.learning.redact import Redactor
from autoskill.learning.toolflows import ToolFlow, repeated_tool_sequences, toolflow_candidate
from autoskill.skill.model import Skill
from autoskill.skill.skillmd import parse_skill_md, render_skill_md


def run(run_id: str, tools: list[str], *, user: str = "u1", thread: str | None = None, question: str | None = None,
        failed_tool: str | None = None, error: bool = False, feedback: float | None = None,
        ts: int = 0) -> list[dict[str, Any]]:
    """The events of one agent run: start, one tool call per name (nested under an LLM run), end."""
    start: dict[str, Any] = {"type": "run_start", "run_id": run_id, "user_id": user, "name": "agent", "ts": 1_700_000_000 + ts}
    if thread:
        start["thread_id"] = thread
    if question is not None:
        start["inputs"] = {"question": question}
    events = [start]
    for i, tool in enumerate(tools):
        events.append({
            "type": "tool_call", "run_id": f"{run_id}-t{i}", "parent_run_id": run_id, "tool": tool,
            "input": {"query": f"{question or 'x'} #{i}", "limit": 5},
            "status": "error" if tool == failed_tool else "ok", "ts": 1_700_000_001 + ts + i,
        })
    if error:
        events.append({"type": "error", "run_id": run_id, "error": "boom", "ts": 1_700_000_050 + ts})
    events.append({"type": "run_end", "run_id": run_id, "outputs": {"output": "done"}, "ts": 1_700_000_060 + ts})
    if feedback is not None:
        events.append({"type": "feedback", "run_id": run_id, "score": feedback, "ts": 1_700_000_070 + ts})
    return events


def test_repeated_successful_runs_give_one_candidate() -> None:
    events = (run("r1", ["search_docs", "search_docs", "summarize"], question="How do I retry in httpx?")
              + run("r2", ["search_docs", "summarize"], question="How to stream responses?", ts=100)
              + run("r3", ["search_docs", "summarize"], question="How do I retry in httpx?", ts=200, thread="other"))
    flows = repeated_tool_sequences(group_events(events))
    assert len(flows) == 1
    flow = flows[0]
    assert flow.tools == ("search_docs", "summarize")
    assert flow.run_ids == ("r1", "r2", "r3")
    assert flow.user_id == "u1"

    candidate = toolflow_candidate(flow)
    assert isinstance(candidate, Candidate) and candidate.kind == "workflow"
    skill = candidate.skill
    assert isinstance(skill, Skill)
    assert skill.name == "search-docs-then-summarize-workflow"
    assert skill.scope == "user" and skill.user_id == "u1"
    assert "3 successful runs" in skill.description
    assert skill.instructions.startswith("1. Call `search_docs` with `query` (e.g. ")
    assert "\n2. Call `summarize` with `query`" in skill.instructions
    assert "`limit` (e.g. 5)" in skill.instructions
    assert skill.triggers == ("How do I retry in httpx?", "How to stream responses?")
    assert skill.tags == ("workflow", "search_docs", "summarize")
    assert len(candidate.evidence) == 3
    assert parse_skill_md(render_skill_md(skill)) == skill  # writes a valid SKILL.md


def test_single_run_gives_nothing() -> None:
    assert repeated_tool_sequences(group_events(run("r1", ["search", "summarize"]))) == []


def test_single_tool_is_not_a_workflow() -> None:
    events = run("r1", ["search", "search"]) + run("r2", ["search"], ts=100)
    assert repeated_tool_sequences(group_events(events)) == []


def test_failed_runs_do_not_count() -> None:
    events = (run("r1", ["search", "summarize"])
              + run("r2", ["search", "summarize"], failed_tool="summarize", ts=100)
              + run("r3", ["search", "summarize"], error=True, ts=200)
              + run("r4", ["search", "summarize"], feedback=-1, ts=300))
    assert repeated_tool_sequences(group_events(events)) == []
    # A later successful repetition still counts.
    events += run("r5", ["search", "summarize"], feedback=1, ts=400)
    flows = repeated_tool_sequences(group_events(events))
    assert [f.run_ids for f in flows] == [("r1", "r5")]


def test_different_users_do_not_mix() -> None:
    events = run("r1", ["search", "summarize"], user="alice") + run("r2", ["search", "summarize"], user="bob", ts=100)
    assert repeated_tool_sequences(group_events(events)) == []
    events += run("r3", ["search", "summarize"], user="bob", ts=200)
    flows = repeated_tool_sequences(group_events(events))
    assert [(f.user_id, f.run_ids) for f in flows] == [("bob", ("r2", "r3"))]


def test_min_runs_and_ordering() -> None:
    events = (run("a1", ["fetch", "parse"]) + run("a2", ["fetch", "parse"], ts=10) + run("a3", ["fetch", "parse"], ts=20)
              + run("b1", ["plan", "write"], ts=30) + run("b2", ["plan", "write"], ts=40))
    trajectories = group_events(events)
    assert [f.tools for f in repeated_tool_sequences(trajectories)] == [("fetch", "parse"), ("plan", "write")]
    assert [f.tools for f in repeated_tool_sequences(trajectories, min_runs=3)] == [("fetch", "parse")]


def test_candidate_redacts_what_it_copies() -> None:
    events = (run("r1", ["lookup", "email_customer"], question="Email jane@example.com about invoice 42")
              + run("r2", ["lookup", "email_customer"], question="Email bob@example.org about invoice 7", ts=100))
    for event in events:
        if event["type"] == "tool_call":
            event["input"] = {"to": "jane@example.com", "api_key": "sk-abcdefghijklmnopqrstu12345"}
    candidate = toolflow_candidate(repeated_tool_sequences(group_events(events))[0])
    text = render_skill_md(candidate.skill)
    for secret in ("jane@example.com", "bob@example.org", "sk-abcdefghijklmnopqrstu12345"):
        assert secret not in text
    assert "[REDACTED:email]" in text


def test_confidence_rises_with_runs() -> None:
    def confidence(n: int) -> float:
        flow = ToolFlow(tools=("a", "b"), run_ids=tuple(f"r{i}" for i in range(n)), user_id="u")
        return toolflow_candidate(flow, Redactor()).confidence

    assert confidence(2) < confidence(3) < confidence(4)
    assert 0 < confidence(2) and confidence(50) <= 0.95


def test_long_tool_names_fit_the_name_limit() -> None:
    tools = tuple(f"some_really_long_tool_name_number_{i}" for i in range(4))
    skill = toolflow_candidate(ToolFlow(tools=tools, run_ids=("r1", "r2"), user_id="u")).skill
    assert len(skill.name) <= 64 and skill.name.endswith("-workflow")
    assert skill.triggers == ()  # no run inputs, no triggers


def test_trigger_falls_back_to_user_message() -> None:
    def chat_run(run_id: str, text: str, ts: int) -> list[dict[str, Any]]:
        return [
            {"type": "message", "run_id": run_id, "user_id": "u", "role": "user", "content": text, "ts": ts},
            {"type": "tool_call", "run_id": f"{run_id}-1", "parent_run_id": run_id, "tool": "a", "ts": ts + 1},
            {"type": "tool_call", "run_id": f"{run_id}-2", "parent_run_id": run_id, "tool": "b", "ts": ts + 2},
        ]

    flows = repeated_tool_sequences(group_events(chat_run("r1", "check the build", 0) + chat_run("r2", "check CI", 10)))
    assert toolflow_candidate(flows[0]).skill.triggers == ("check the build", "check CI")
