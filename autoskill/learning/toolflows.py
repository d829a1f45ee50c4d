"""Workflow candidates from event logs: a tool sequence that succeeded in several runs.

Per root run, the names of its successful tool calls in order (an immediate repeat of the
same tool collapses into one step) form its sequence. A run counts only when it went well:
no failed tool call, no error event, no run that ended in error, no negative feedback. A
sequence of two or more tools seen in at least ``min_runs`` distinct runs of one user
becomes a :class:`ToolFlow`, and :func:`toolflow_candidate` turns that into a skill.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autoskill.learning.events import Event, Trajectory
from autoskill.learning.heuristic import Candidate
from autoskill.learning.redact import Redactor, default_redactor
from autoskill.skill.model import Skill
from autoskill.skill.normalize import NAME_MAX, slugify

__all__ = ["ToolFlow", "repeated_tool_sequences", "toolflow_candidate"]

# Keys under which run inputs usually carry the user's request, most specific first.
_INPUT_KEYS = ("question", "input", "query", "prompt", "request", "task", "text", "message", "content")
_MAX_EXAMPLES = 5
_MAX_TRIGGERS = 5
_TEXT_LIMIT = 200
_VALUE_LIMIT = 60


@dataclass(frozen=True)
class ToolFlow:
    """A tool sequence that succeeded in several runs of one user.

    Attributes:
        tools: The tool names in order (immediate repeats collapsed).
        run_ids: The root runs it was seen in, in order of appearance.
        user_id: Whose runs they were.
        examples: Per run (at most five): ``{"run_id", "request", "inputs"}`` where
            ``request`` is the run's input text (or None) and ``inputs`` the first input
            given to each tool. Raw data: redact before it goes anywhere.
    """

    tools: tuple[str, ...]
    run_ids: tuple[str, ...]
    user_id: str
    examples: tuple[Mapping[str, Any], ...] = ()

    __hash__ = None  # type: ignore[assignment]


def repeated_tool_sequences(trajectories: Iterable[Trajectory], min_runs: int = 2) -> list[ToolFlow]:
    """Find tool sequences that succeeded in at least ``min_runs`` distinct runs of one user.

    Returns flows ordered by how many runs they were seen in (most first), then first seen.
    """
    min_runs = max(1, int(min_runs))
    seen: dict[tuple[str, tuple[str, ...]], list[tuple[str, dict[str, Any]]]] = {}
    for trajectory in trajectories:
        for run_id, events in trajectory.runs(roots_only=True).items():
            tools = _successful_sequence(events)
            if tools is None or len(tools) < 2:
                continue
            runs = seen.setdefault((trajectory.user_id, tools), [])
            if all(r != run_id for r, _ in runs):
                runs.append((run_id, _example(run_id, events, tools)))
    flows = [
        ToolFlow(tools=tools, run_ids=tuple(r for r, _ in runs), user_id=user,
                 examples=tuple(ex for _, ex in runs[:_MAX_EXAMPLES]))
        for (user, tools), runs in seen.items()
        if len(runs) >= min_runs
    ]
    order = {id(f): i for i, f in enumerate(flows)}
    return sorted(flows, key=lambda f: (-len(f.run_ids), order[id(f)]))


def _successful_sequence(events: Sequence[Event]) -> tuple[str, ...] | None:
    """The collapsed tool sequence of a run, or None when the run did not go well."""
    tools: list[str] = []
    for event in events:
        if event.failed or (event.type == "feedback" and event.score is not None and event.score < 0):
            return None
        if event.type == "tool_call" and event.tool and (not tools or tools[-1] != event.tool):
            tools.append(event.tool)
    return tuple(tools)


def _example(run_id: str, events: Sequence[Event], tools: tuple[str, ...]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for event in events:
        if event.type == "tool_call" and event.tool and event.tool not in inputs:
            inputs[event.tool] = event.input
    return {"run_id": run_id, "request": _request_text(run_id, events), "inputs": inputs}


def _request_text(run_id: str, events: Sequence[Event]) -> str | None:
    """What the root run was asked: its run_start inputs, else its first user message."""
    for event in events:
        if event.type == "run_start" and event.run_id == run_id:
            text = _text_of(event.inputs)
            if text:
                return text
    for event in events:
        if event.type == "message" and event.role == "user" and event.content and event.content.strip():
            return event.content.strip()
    return None


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Mapping):
        for key in _INPUT_KEYS:
            if isinstance(value.get(key), str) and value[key].strip():
                return str(value[key]).strip()
        if isinstance(value.get("messages"), list):  # chat-style inputs: the last user turn
            for message in reversed(value["messages"]):
                if isinstance(message, Mapping) and message.get("role") in ("user", "human"):
                    content = message.get("content")
                    if isinstance(content, str) and content.strip():
                        return content.strip()
        strings = [v for v in value.values() if isinstance(v, str) and v.strip()]
        if len(strings) == 1:
            return strings[0].strip()
    return None


# --- the candidate -----------------------------------------------------------------------


def toolflow_candidate(flow: ToolFlow, redactor: Redactor | None = None) -> Candidate:
    """Turn a repeated tool flow into a workflow skill candidate for its user.

    Everything taken from the runs (request texts, example argument values) goes through
    ``redactor`` (the default one when None) first.
    """
    redactor = redactor or default_redactor()
    runs = len(flow.run_ids)
    requests = _unique(
        _shorten(redactor.redact(ex["request"]).text, _TEXT_LIMIT)
        for ex in flow.examples
        if isinstance(ex.get("request"), str) and ex["request"].strip()
    )
    arrow = " -> ".join(flow.tools)
    description = (
        f"Tool workflow: {_sentence(flow.tools)}. Seen in {runs} successful runs."
        + (f" Use for requests like: {requests[0]}" if requests else "")
    )
    steps = [f"{i}. Call `{tool}`{_argument_hint(tool, flow.examples, redactor)}."
             for i, tool in enumerate(flow.tools, 1)]
    instructions = "\n".join(
        [*steps, "", "Run the steps in this order, passing what each step returns on to the next;",
         "stop and report when a tool fails instead of continuing."]
    )
    skill = Skill(
        name=_flow_name(flow.tools),
        description=description,
        instructions=instructions,
        triggers=requests[:_MAX_TRIGGERS],
        examples=requests[:3],
        tags=["workflow", *flow.tools],
        user_id=flow.user_id,
        scope="user",
        provenance=tuple({"source": "tool_runs", "ref": run_id} for run_id in flow.run_ids),
    )
    # Two runs are a hint, five a habit.
    confidence = round(min(0.9, 0.45 + 0.1 * runs), 2)
    evidence = tuple(f"run {run_id}: {arrow}" for run_id in flow.run_ids)
    return Candidate(skill=skill, confidence=confidence, evidence=evidence, kind="workflow")


def _flow_name(tools: Sequence[str]) -> str:
    """``search-docs-then-summarize-workflow``, shortened to fit the 64-character limit."""
    parts = [slugify(t) or "tool" for t in tools]
    suffix = "-workflow"
    name = "-then-".join(parts) + suffix
    if len(name) <= NAME_MAX:
        return name
    name = f"{parts[0]}-to-{parts[-1]}{suffix}"
    if len(name) <= NAME_MAX:
        return name
    room = (NAME_MAX - len(suffix) - len("-to-")) // 2
    return f"{parts[0][:room].strip('-')}-to-{parts[-1][:room].strip('-')}{suffix}"


def _sentence(tools: Sequence[str]) -> str:
    return "call " + ", then ".join(tools)


def _argument_hint(tool: str, examples: Sequence[Mapping[str, Any]], redactor: Redactor) -> str:
    """`` with `query` (e.g. "asyncio timeouts"), `limit` (e.g. 5)`` from the first example input."""
    value = next((ex["inputs"][tool] for ex in examples
                  if isinstance(ex.get("inputs"), Mapping) and ex["inputs"].get(tool) is not None), None)
    if value is None:
        return ""
    value = redactor.redact_value(value)
    if isinstance(value, Mapping):
        parts = [f"`{_shorten(str(key), 40)}` (e.g. {_show(v)})" for key, v in list(value.items())[:6]]
        return " with " + ", ".join(parts) if parts else ""
    return f" with the input (e.g. {_show(value)})"


def _show(value: Any) -> str:
    """A short example value: strings quoted, anything else as compact JSON."""
    if isinstance(value, str):
        return json.dumps(_shorten(value, _VALUE_LIMIT), ensure_ascii=False)
    return _shorten(json.dumps(value, ensure_ascii=False, default=str), _VALUE_LIMIT)


def _shorten(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
