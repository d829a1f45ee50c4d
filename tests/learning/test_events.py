"""The event model: validation, normalisation, trajectories and JSONL reading."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from autoskill.errors import AutoSkillError, InvalidEventError
from autoskill.learning.events import (
    Conversation,
    Event,
    JsonlBatch,
    Trajectory,
    group_events,
    normalize_ts,
    read_jsonl,
)


def ev(**kw: object) -> dict[str, object]:
    return {"run_id": "r1", **kw}


# -- Event.from_dict ----------------------------------------------------------------------


def test_message_event_roundtrip() -> None:
    data = {"type": "message", "run_id": "r1", "thread_id": "t1", "user_id": "u1",
            "ts": "2024-01-15T12:30:00Z", "role": "user", "content": "hello", "source": "slack"}
    event = Event.from_dict(data)
    assert event.type == "message" and event.role == "user" and event.content == "hello"
    assert event.extra == {"source": "slack"}
    assert event.to_dict() == data
    assert Event.from_dict(event.to_dict()) == event


def test_every_type_validates() -> None:
    events = [
        ev(type="run_start", name="agent", inputs={"question": "how?"}),
        ev(type="llm_call", messages=[{"role": "human", "content": "hi"}], output="hey", model="gpt-x"),
        ev(type="llm_call", prompt="Say hi"),
        ev(type="tool_call", tool="search", input={"q": "x"}, output=["a"], status="ok"),
        ev(type="error", error="boom", error_type="ValueError"),
        ev(type="feedback", score=0.5, comment="good"),
        ev(type="run_end", outputs={"answer": "42"}),
        {"type": "message", "role": "ai", "content": "done"},
    ]
    parsed = [Event.from_dict(e) for e in events]
    assert parsed[1].messages == ({"role": "user", "content": "hi"},)
    assert parsed[3].status == "ok"
    assert parsed[6].status == "ok"
    assert parsed[7].role == "assistant" and parsed[7].run_id == ""
    for event in parsed:
        assert Event.from_dict(event.to_dict()) == event


def test_ts_normalised_to_iso_utc() -> None:
    assert normalize_ts("2024-01-15T12:30:00+02:00") == "2024-01-15T10:30:00Z"
    assert normalize_ts("2024-01-15 12:30:00") == "2024-01-15T12:30:00Z"
    assert normalize_ts(1705321800) == "2024-01-15T12:30:00Z"
    assert normalize_ts(1705321800000) == "2024-01-15T12:30:00Z"  # milliseconds
    assert normalize_ts(1705321800.25) == "2024-01-15T12:30:00.250000Z"
    assert Event.from_dict(ev(type="run_start", ts=0)).ts == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"run_id": "r"}, "type"),
        ({"type": "chat", "run_id": "r"}, "type"),
        ({"type": "tool_call", "tool": "x"}, "run_id"),
        ({"type": "tool_call", "run_id": ["r"], "tool": "x"}, "run_id"),
        (ev(type="tool_call"), "tool"),
        (ev(type="tool_call", tool="x", status="maybe"), "status"),
        (ev(type="feedback", score=2), "score"),
        (ev(type="feedback", score="good"), "score"),
        (ev(type="feedback"), "score"),
        (ev(type="feedback", score=float("nan")), "score"),
        (ev(type="message", content="hi"), "role"),
        (ev(type="message", role="user", content={"x": 1}), "content"),
        (ev(type="error"), "error"),
        (ev(type="run_start", ts="yesterday"), "ts"),
        (ev(type="run_start", ts=True), "ts"),
        (ev(type="run_start", thread_id={"a": 1}), "thread_id"),
        (ev(type="llm_call", messages="hi"), "messages"),
        (ev(type="llm_call", messages=[{"content": "x"}]), "messages[0].role"),
    ],
)
def test_invalid_event_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        Event.from_dict(data, line=7)
    assert info.value.field == field
    assert info.value.line == 7
    assert repr(field) in str(info.value) and "line 7" in str(info.value)
    assert isinstance(info.value, AutoSkillError) and isinstance(info.value, ValueError)


def test_feedback_bools_and_tool_errors() -> None:
    assert Event.from_dict(ev(type="feedback", score=True)).score == 1.0
    assert Event.from_dict(ev(type="feedback", score=False)).score == -1.0
    assert Event.from_dict(ev(type="feedback", comment="no, that's wrong")).score is None
    failed = Event.from_dict(ev(type="tool_call", tool="x", error="timeout"))
    assert failed.status == "error" and failed.error == "timeout" and failed.failed
    assert Event.from_dict(ev(type="tool_call", tool="x", status="failed")).status == "error"
    assert Event.from_dict(ev(type="run_end", error={"message": "boom"})).status == "error"


def test_content_parts_are_joined() -> None:
    event = Event.from_dict(ev(type="message", role="user", content=[{"type": "text", "text": "a"}, "b",
                                                                      {"type": "image_url"}]))
    assert event.content == "a\nb"


def test_numeric_ids_become_strings() -> None:
    event = Event.from_dict({"type": "run_start", "run_id": 42, "user_id": 7})
    assert event.run_id == "42" and event.user_id == "7"
    assert Event.from_dict({"type": "run_start", "run_id": uuid.UUID(int=5)}).run_id == str(uuid.UUID(int=5))


# -- trajectories -------------------------------------------------------------------------


def _agent_run(run: str, *, thread: str | None = "t1", user: str | None = "u1", ts0: int = 0) -> list[dict[str, object]]:
    root: dict[str, object] = {"type": "run_start", "run_id": run, "name": "agent", "inputs": {"input": "q"},
                               "ts": 1_700_000_000 + ts0}
    if thread:
        root["thread_id"] = thread
    if user:
        root["user_id"] = user
    return [
        root,
        {"type": "llm_call", "run_id": f"{run}-llm", "parent_run_id": run, "prompt": "p", "ts": 1_700_000_001 + ts0},
        {"type": "tool_call", "run_id": f"{run}-tool", "parent_run_id": f"{run}-llm", "tool": "search",
         "ts": 1_700_000_002 + ts0},
        {"type": "run_end", "run_id": run, "outputs": {"output": "a"}, "ts": 1_700_000_003 + ts0},
    ]


def test_children_inherit_thread_and_user_from_the_root_run() -> None:
    trajectories = group_events(_agent_run("r1") + _agent_run("r2", ts0=10))
    assert len(trajectories) == 1
    traj = trajectories[0]
    assert (traj.user_id, traj.thread_id) == ("u1", "t1")
    assert len(traj.events) == 8
    runs = traj.runs()
    assert [e.type for e in runs["r1"]] == ["run_start", "llm_call", "tool_call", "run_end"]
    assert [e.type for e in runs["r1-llm"]] == ["llm_call", "tool_call"]
    assert list(traj.runs(roots_only=True)) == ["r1", "r2"]
    assert traj.root_run_ids() == ["r1", "r2"]
    assert [e.tool for e in traj.tool_calls()] == ["search", "search"]


def test_missing_thread_uses_root_run_and_missing_user_default() -> None:
    trajectories = group_events(_agent_run("r1", thread=None, user=None) + _agent_run("r2", thread=None, user=None))
    assert [(t.user_id, t.thread_id) for t in trajectories] == [("default", "r1"), ("default", "r2")]


def test_grouping_by_user_and_thread() -> None:
    events = [
        {"type": "message", "role": "user", "content": "a", "user_id": "u1", "thread_id": "t1"},
        {"type": "message", "role": "user", "content": "b", "user_id": "u2", "thread_id": "t1"},
        {"type": "message", "role": "assistant", "content": "c", "user_id": "u1", "thread_id": "t1"},
        {"type": "message", "role": "user", "content": "d", "user_id": "u1", "thread_id": "t2"},
        {"type": "message", "role": "user", "content": "e"},
    ]
    groups = {(t.user_id, t.thread_id): t for t in group_events(events)}
    assert set(groups) == {("u1", "t1"), ("u2", "t1"), ("u1", "t2"), ("default", "default")}
    assert groups["u1", "t1"].messages() == [{"role": "user", "content": "a"}, {"role": "assistant", "content": "c"}]


def test_events_sorted_by_ts_then_input_order() -> None:
    events = [
        Event.from_dict({"type": "message", "role": "user", "content": "second", "ts": "2024-01-15T12:00:01Z"}),
        Event.from_dict({"type": "message", "role": "user", "content": "first", "ts": "2024-01-15T12:00:00Z"}),
        Event.from_dict({"type": "message", "role": "user", "content": "tie", "ts": "2024-01-15T12:00:01Z"}),
        Event.from_dict({"type": "message", "role": "user", "content": "untimed after tie"}),
        Event.from_dict({"type": "message", "role": "user", "content": "sub-second", "ts": "2024-01-15T12:00:00.5Z"}),
    ]
    traj = Trajectory("u", "t", tuple(events))
    assert [m["content"] for m in traj.messages()] == ["first", "sub-second", "second", "tie", "untimed after tie"]


def test_errors_and_feedback_helpers() -> None:
    events = _agent_run("r1") + [
        {"type": "tool_call", "run_id": "r1-t2", "parent_run_id": "r1", "tool": "fetch", "status": "error"},
        {"type": "error", "run_id": "r1", "error": "boom"},
        {"type": "feedback", "run_id": "r1", "score": -1},
    ]
    traj = group_events(events)[0]
    assert [e.type for e in traj.errors()] == ["tool_call", "error"]
    assert [e.score for e in traj.feedback()] == [-1.0]


def test_parent_cycle_does_not_hang() -> None:
    events = [
        {"type": "run_start", "run_id": "a", "parent_run_id": "b"},
        {"type": "run_start", "run_id": "b", "parent_run_id": "a"},
    ]
    traj = group_events(events)[0]
    assert set(traj.runs()) == {"a", "b"}


def test_group_events_accepts_dicts_and_validates() -> None:
    with pytest.raises(InvalidEventError):
        group_events([{"type": "tool_call", "run_id": "r"}])


# -- JSONL ----------------------------------------------------------------------------------


def test_read_jsonl_mixed_file(tmp_path: Path) -> None:
    lines = [
        json.dumps({"type": "message", "run_id": "r1", "user_id": "u1", "thread_id": "t1", "role": "user",
                    "content": "deploy please"}),
        "",
        json.dumps({"user_id": "u2", "messages": [{"role": "user", "content": "hi"},
                                                  {"role": "assistant", "content": "hello"}]}),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"type": "feedback", "run_id": "r1", "score": 5}),
        json.dumps({"foo": "bar"}),
        json.dumps({"user_id": "u3", "thread_id": "t9", "messages": [{"content": "no role"}]}),
        "   ",
        json.dumps({"type": "tool_call", "run_id": "r1", "tool": "deploy", "status": "ok"}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batch = read_jsonl(path)
    assert isinstance(batch, JsonlBatch)
    assert [line for line, _ in batch.errors] == [4, 5, 6, 7, 8]
    assert "score" in batch.errors[2][1] and "line 6" in batch.errors[2][1]
    assert "messages[0].role" in batch.errors[4][1]
    assert len(batch.trajectories) == 1
    assert [e.type for e in batch.trajectories[0].events] == ["message", "tool_call"]
    assert batch.conversations == [
        Conversation(user_id="u2", thread_id=None,
                     messages=({"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}))
    ]
    assert read_jsonl(lines).errors == batch.errors  # lines in memory read the same
    assert read_jsonl(str(path)).errors == batch.errors


def test_read_jsonl_bounds_line_length(tmp_path: Path) -> None:
    good = json.dumps({"type": "message", "role": "user", "content": "ok"})
    huge = json.dumps({"type": "message", "role": "user", "content": "x" * 2000})
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join([good, huge, good]) + "\n", encoding="utf-8")
    batch = read_jsonl(path, max_line_bytes=1000)
    assert [line for line, _ in batch.errors] == [2]
    assert "longer than" in batch.errors[0][1]
    assert len(batch.trajectories[0].events) == 2
    assert [line for line, _ in read_jsonl([good, huge, good], max_line_bytes=1000).errors] == [2]


def test_read_jsonl_bad_utf8_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"type": "message", "role": "user", "content": "é"}).encode("utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\n\xff\xfe{}\n" + good)
    batch = read_jsonl(path)
    assert [line for line, _ in batch.errors] == [2]
    assert [e.content for e in batch.trajectories[0].events] == ["é", "é"]
