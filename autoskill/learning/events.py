"""The neutral event model: what ``ingest(events=...)`` and the framework handlers produce.

An event is a dict with a ``type`` (``message``, ``llm_call``, ``tool_call``, ``run_start``,
``run_end``, ``error``, ``feedback``), a ``run_id``, optional ``parent_run_id``,
``thread_id``, ``user_id`` and ``ts``, plus fields per type. :class:`Event` validates and
normalises one; :func:`group_events` turns many into per-thread :class:`Trajectory` objects;
:func:`read_jsonl` reads a JSONL file of events and/or whole conversations, skipping (and
reporting) bad lines. Everything here is pure except :func:`read_jsonl`'s file read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

from autoskill.errors import InvalidEventError

__all__ = [
    "EVENT_TYPES",
    "MAX_LINE_BYTES",
    "Conversation",
    "Event",
    "JsonlBatch",
    "Trajectory",
    "group_events",
    "normalize_role",
    "normalize_ts",
    "read_jsonl",
]

logger = logging.getLogger(__name__)

EVENT_TYPES: tuple[str, ...] = ("message", "llm_call", "tool_call", "run_start", "run_end", "error", "feedback")
MAX_LINE_BYTES = 10 * 1024 * 1024
DEFAULT_USER = "default"
DEFAULT_THREAD = "default"  # the thread of messages that name neither a thread nor a run

_ROLE_ALIASES = {"human": "user", "ai": "assistant", "bot": "assistant", "model": "assistant",
                 "chatbot": "assistant", "function": "tool", "developer": "system"}
_STATUS_ALIASES = {"ok": "ok", "success": "ok", "succeeded": "ok", "completed": "ok", "done": "ok",
                   "error": "error", "failed": "error", "failure": "error", "fail": "error", "exception": "error"}
_COMMON = ("type", "run_id", "parent_run_id", "thread_id", "user_id", "ts")
# Epoch numbers above this are milliseconds (1e11 seconds is the year 5138).
_MS_THRESHOLD = 1e11


def normalize_role(value: object, field_name: str = "role", line: int | None = None) -> str:
    """Return a chat role in our vocabulary (``human`` -> ``user``, ``ai`` -> ``assistant``)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(field_name, "must be a non-empty string", line)
    role = value.strip().lower()
    return _ROLE_ALIASES.get(role, role)


def normalize_ts(value: object, line: int | None = None) -> str:
    """Return an ISO-8601 UTC timestamp (``...Z``) for an ISO string, epoch number or datetime.

    Naive times are taken as UTC; epoch numbers above 1e11 are milliseconds.
    """
    if isinstance(value, bool):
        raise InvalidEventError("ts", "must be an ISO string or an epoch number, not a bool", line)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise InvalidEventError("ts", f"not a finite epoch number: {value!r}", line)
        if abs(seconds) > _MS_THRESHOLD:
            seconds /= 1000.0
        try:
            moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise InvalidEventError("ts", f"epoch number out of range: {value!r}", line) from None
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
        except ValueError:
            raise InvalidEventError("ts", f"not an ISO-8601 time: {value!r}", line) from None
    else:
        raise InvalidEventError("ts", f"must be an ISO string or an epoch number, not {type(value).__name__}", line)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _ts_key(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _opt_id(data: Mapping[str, Any], key: str, line: int | None) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    # Framework handlers often hand over uuid.UUID run ids; ints are common in logs.
    if isinstance(value, bool) or not isinstance(value, (str, int, uuid.UUID)):
        raise InvalidEventError(key, f"must be a string, not {type(value).__name__}", line)
    text = str(value).strip()
    return text or None


def _opt_str(data: Mapping[str, Any], key: str, line: int | None) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEventError(key, f"must be a string, not {type(value).__name__}", line)
    return value


def _content_text(value: object, field_name: str, line: int | None) -> str:
    """Message content as text; a list of parts (OpenAI/Anthropic style) is joined."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts: list[str] = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    raise InvalidEventError(field_name, f"must be a string or a list of parts, not {type(value).__name__}", line)


def _status(value: object, field_name: str, line: int | None, default: str | None) -> str | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return "ok" if value else "error"
    status = _STATUS_ALIASES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if status is None:
        raise InvalidEventError(field_name, f"must be 'ok' or 'error', got {value!r}", line)
    return status


def _score(value: object, line: int | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else -1.0
    if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise InvalidEventError("score", f"must be a number in [-1, 1] or a bool, got {value!r}", line)
    score = float(value)
    if not -1.0 <= score <= 1.0:
        raise InvalidEventError("score", f"must be in [-1, 1], got {score}", line)
    return score


@dataclass(frozen=True)
class Event:
    """One validated event.

    Common fields come first; the others are set only for the types that use them
    (``role``/``content`` for messages, ``tool``/``input``/``output``/``status`` for tool
    calls, ``score``/``comment`` for feedback, ``prompt``/``messages``/``output``/``model``
    for LLM calls, ``error``/``error_type`` for errors, ``name``/``inputs``/``outputs``/
    ``status`` for run start and end). Keys the model does not know are kept in ``extra``.
    """

    type: str
    run_id: str = ""
    parent_run_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None
    ts: str | None = None
    role: str | None = None
    content: str | None = None
    tool: str | None = None
    input: Any = None
    output: Any = None
    status: str | None = None
    score: float | None = None
    comment: str | None = None
    prompt: str | None = None
    messages: tuple[Mapping[str, Any], ...] | None = None
    model: str | None = None
    error: str | None = None
    error_type: str | None = None
    name: str | None = None
    inputs: Any = None
    outputs: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    __hash__ = None  # type: ignore[assignment]  # holds dicts; compare by value only

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], line: int | None = None) -> Event:
        """Validate and normalise an event dict.

        Args:
            data: The event.
            line: The JSONL line it came from, for error messages.

        Raises:
            InvalidEventError: A field is missing or wrong (the error names it, and the line).
        """
        if not isinstance(data, Mapping):
            raise InvalidEventError("event", f"must be an object, not {type(data).__name__}", line)
        kind = data.get("type")
        if not isinstance(kind, str) or kind.strip().lower() not in EVENT_TYPES:
            raise InvalidEventError("type", f"must be one of {', '.join(EVENT_TYPES)}; got {kind!r}", line)
        kind = kind.strip().lower()
        run_id = _opt_id(data, "run_id", line)
        if run_id is None and kind != "message":  # a chat message may stand outside any run
            raise InvalidEventError("run_id", "is required", line)
        values: dict[str, Any] = {
            "type": kind,
            "run_id": run_id or "",
            "parent_run_id": _opt_id(data, "parent_run_id", line),
            "thread_id": _opt_id(data, "thread_id", line),
            "user_id": _opt_id(data, "user_id", line),
            "ts": normalize_ts(data["ts"], line) if data.get("ts") not in (None, "") else None,
        }
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values.update(_type_fields(kind, data, line))
        for key in known - values.keys():  # fields of other types, kept when given
            if data.get(key) is not None:
                values[key] = data[key]
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The event as a plain dict (unset fields left out; ``extra`` keys merged back)."""
        out: dict[str, Any] = {"type": self.type}
        if self.run_id:
            out["run_id"] = self.run_id
        for f in dataclasses.fields(self):
            if f.name in ("type", "run_id", "extra"):
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "messages":
                value = [dict(m) for m in value]
            out[f.name] = value
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @property
    def failed(self) -> bool:
        """Whether this event reports a failure (an error, a failed tool call or run)."""
        return self.type == "error" or self.status == "error"


def _type_fields(kind: str, data: Mapping[str, Any], line: int | None) -> dict[str, Any]:
    if kind == "message":
        if data.get("role") is None:
            raise InvalidEventError("role", "is required for a message", line)
        return {"role": normalize_role(data.get("role"), "role", line),
                "content": _content_text(data.get("content"), "content", line)}
    if kind == "tool_call":
        tool = data.get("tool")
        if not isinstance(tool, str) or not tool.strip():
            raise InvalidEventError("tool", "must be a non-empty string (the tool's name)", line)
        failed = data.get("error") not in (None, "", False)
        return {"tool": tool.strip(), "input": data.get("input"), "output": data.get("output"),
                "status": _status(data.get("status"), "status", line, "error" if failed else "ok"),
                "error": _error_text(data.get("error"), line) if failed else None}
    if kind == "feedback":
        score = _score(data.get("score"), line)
        comment = _opt_str(data, "comment", line)
        if score is None and not (comment and comment.strip()):
            raise InvalidEventError("score", "feedback needs a score or a comment", line)
        return {"score": score, "comment": comment}
    if kind == "llm_call":
        messages = data.get("messages")
        if messages is not None:
            if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
                raise InvalidEventError("messages", "must be a list of messages", line)
            messages = tuple(_message(m, i, line) for i, m in enumerate(messages))
        return {"prompt": _opt_str(data, "prompt", line), "messages": messages, "output": data.get("output"),
                "model": _opt_str(data, "model", line)}
    if kind == "error":
        if data.get("error") in (None, ""):
            raise InvalidEventError("error", "is required (the error message)", line)
        return {"error": _error_text(data.get("error"), line), "error_type": _opt_str(data, "error_type", line)}
    # run_start / run_end
    failed = data.get("error") not in (None, "", False)
    default = ("error" if failed else "ok") if kind == "run_end" else None
    return {"name": _opt_str(data, "name", line), "inputs": data.get("inputs"), "outputs": data.get("outputs"),
            "status": _status(data.get("status"), "status", line, default),
            "error": _error_text(data.get("error"), line) if failed else None}


def _error_text(value: object, line: int | None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("message"), str):
        return value["message"]
    if value is True:
        return "error"
    raise InvalidEventError("error", f"must be a message string, not {type(value).__name__}", line)


def _message(value: object, index: int, line: int | None, prefix: str = "messages") -> dict[str, Any]:
    where = f"{prefix}[{index}]"
    if not isinstance(value, Mapping):
        raise InvalidEventError(where, "must be an object with role and content", line)
    role = value.get("role", value.get("type"))
    if role is None:
        raise InvalidEventError(f"{where}.role", "is required", line)
    return {"role": normalize_role(role, f"{where}.role", line),
            "content": _content_text(value.get("content"), f"{where}.content", line)}


# --- trajectories -------------------------------------------------------------------------


@dataclass(frozen=True)
class Trajectory:
    """The events of one (user, thread), in time order (ties and untimed events keep input order)."""

    user_id: str
    thread_id: str
    events: tuple[Event, ...] = ()

    __hash__ = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", _sorted(self.events))

    def messages(self) -> list[dict[str, str]]:
        """The chat turns as ``{"role", "content"}`` dicts."""
        return [{"role": e.role or "", "content": e.content or ""} for e in self.events if e.type == "message"]

    def tool_calls(self) -> list[Event]:
        """The tool call events."""
        return [e for e in self.events if e.type == "tool_call"]

    def errors(self) -> list[Event]:
        """Events that report a failure: errors, failed tool calls, runs that ended in error."""
        return [e for e in self.events if e.failed]

    def feedback(self) -> list[Event]:
        """The feedback events."""
        return [e for e in self.events if e.type == "feedback"]

    def root_run_ids(self) -> list[str]:
        """Ids of runs with no parent in this trajectory, in order of first appearance."""
        parents = self._parents()
        return list(dict.fromkeys(_root(r, parents) for r in parents))

    def runs(self, *, roots_only: bool = False) -> dict[str, list[Event]]:
        """``run_id -> events`` of that run and of every run below it (children via parent_run_id).

        Args:
            roots_only: Only the root runs (each then holds its whole tree).
        """
        parents = self._parents()
        out: dict[str, list[Event]] = {}
        for run_id in parents:
            if not roots_only or _root(run_id, parents) == run_id:
                out[run_id] = []
        for event in self.events:
            if not event.run_id:
                continue
            for ancestor in _chain(event.run_id, parents):
                if ancestor in out:
                    out[ancestor].append(event)
        return out

    def _parents(self) -> dict[str, str | None]:
        return _parent_map(self.events)


def _parent_map(events: Iterable[Event]) -> dict[str, str | None]:
    """``run_id -> parent_run_id`` for every run named, including parents seen only as parents."""
    parents: dict[str, str | None] = {}
    for event in events:
        if event.run_id and parents.get(event.run_id) is None:
            parents[event.run_id] = event.parent_run_id
        if event.parent_run_id:
            parents.setdefault(event.parent_run_id, None)
    return parents


def _chain(run_id: str, parents: Mapping[str, str | None]) -> Iterator[str]:
    """``run_id`` and its ancestors, nearest first (cycles cut)."""
    seen: set[str] = set()
    current: str | None = run_id
    while current and current not in seen:
        seen.add(current)
        yield current
        current = parents.get(current)


def _root(run_id: str, parents: Mapping[str, str | None]) -> str:
    root = run_id
    for root in _chain(run_id, parents):
        pass
    return root


def _sorted(events: Iterable[Event]) -> tuple[Event, ...]:
    # An untimed event sorts with the last timed event before it, so it stays where it was.
    keyed: list[tuple[datetime, int, Event]] = []
    last = datetime.min.replace(tzinfo=timezone.utc)
    for index, event in enumerate(events):
        if event.ts:
            last = _ts_key(event.ts)
        keyed.append((last, index, event))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return tuple(e for _, _, e in keyed)


def group_events(events: Iterable[Event | Mapping[str, Any]]) -> list[Trajectory]:
    """Group events into trajectories by (user_id, thread_id).

    An event without a user or thread inherits them from its run or the nearest ancestor
    run that has them; failing that the thread is the root run's id (``"default"`` for a
    message outside any run) and the user is ``"default"``.

    Raises:
        InvalidEventError: A dict in ``events`` is not a valid event.
    """
    items = [e if isinstance(e, Event) else Event.from_dict(e) for e in events]
    parents = _parent_map(items)
    threads: dict[str, str] = {}
    users: dict[str, str] = {}
    for event in items:
        if not event.run_id:
            continue
        if event.thread_id:
            threads.setdefault(event.run_id, event.thread_id)
        if event.user_id:
            users.setdefault(event.run_id, event.user_id)

    groups: dict[tuple[str, str], list[Event]] = {}
    for event in items:
        chain = list(_chain(event.run_id, parents)) if event.run_id else []
        thread = event.thread_id or next((threads[r] for r in chain if r in threads), None)
        user = event.user_id or next((users[r] for r in chain if r in users), None)
        if thread is None:
            thread = chain[-1] if chain else DEFAULT_THREAD
        groups.setdefault((user or DEFAULT_USER, thread), []).append(event)
    return [Trajectory(user_id=u, thread_id=t, events=tuple(evs)) for (u, t), evs in groups.items()]


# --- JSONL --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    """One conversation line: a user's chat turns."""

    user_id: str
    thread_id: str | None
    messages: tuple[Mapping[str, str], ...]

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], line: int | None = None) -> Conversation:
        """Validate a ``{"user_id", "messages", "thread_id"?}`` object.

        Raises:
            InvalidEventError: A field is missing or wrong.
        """
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise InvalidEventError("messages", "must be a list of messages", line)
        user = _opt_id(data, "user_id", line) or DEFAULT_USER
        thread = _opt_id(data, "thread_id", line)
        return cls(user_id=user, thread_id=thread,
                   messages=tuple(_message(m, i, line) for i, m in enumerate(messages)))


@dataclass(frozen=True)
class JsonlBatch:
    """What a JSONL read produced: trajectories, conversations, and skipped lines."""

    trajectories: list[Trajectory] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_jsonl(
    path_or_lines: str | os.PathLike[str] | Iterable[str | bytes], *, max_line_bytes: int = MAX_LINE_BYTES
) -> JsonlBatch:
    """Read events and conversations from JSONL, one JSON object per line.

    A line is an event (it has ``type``) or a conversation (it has ``messages``); both may
    be mixed in one file. Blank lines are ignored. A bad line (invalid JSON, not an object,
    an invalid event, longer than ``max_line_bytes``) is recorded in ``errors`` as
    ``(line_number, message)`` and skipped: it never stops the read.

    Args:
        path_or_lines: A file path, or an iterable of lines (a list, an open file).
        max_line_bytes: Longest line accepted.
    """
    events: list[Event] = []
    conversations: list[Conversation] = []
    errors: list[tuple[int, str]] = []
    for number, raw in _lines(path_or_lines, max_line_bytes):
        if raw is None:
            errors.append((number, f"line longer than {max_line_bytes} bytes"))
            continue
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            errors.append((number, f"not UTF-8: {exc.reason}"))
            continue
        text = text.strip().lstrip("\ufeff")
        if not text:
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            errors.append((number, f"invalid JSON: {exc}"))
            continue
        if not isinstance(data, dict):
            errors.append((number, f"not a JSON object (got {type(data).__name__})"))
            continue
        try:
            if "type" in data:
                events.append(Event.from_dict(data, line=number))
            elif "messages" in data:
                conversations.append(Conversation.from_dict(data, line=number))
            else:
                errors.append((number, "neither an event (no 'type') nor a conversation (no 'messages')"))
        except InvalidEventError as exc:
            errors.append((number, str(exc)))
    if errors:
        logger.warning("skipped %d bad JSONL line(s); first: line %d: %s", len(errors), *errors[0])
    return JsonlBatch(trajectories=group_events(events), conversations=conversations, errors=errors)


def _lines(
    source: str | os.PathLike[str] | Iterable[str | bytes], limit: int
) -> Iterator[tuple[int, str | bytes | None]]:
    """Yield ``(line_number, line)``; ``None`` for a line over ``limit`` bytes."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            yield from _read_bounded(handle, limit)
        return
    for number, line in enumerate(source, start=1):
        size = len(line.encode("utf-8")) if isinstance(line, str) and len(line) * 4 > limit else len(line)
        yield number, (None if size > limit else line)


def _read_bounded(handle: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    # readline(limit) never holds more than one bounded chunk, so a huge line cannot
    # exhaust memory; its remainder is skipped.
    number = 0
    while True:
        chunk = handle.readline(limit + 1)
        if not chunk:
            return
        number += 1
        if len(chunk) > limit and not chunk.endswith(b"\n"):
            while chunk and not chunk.endswith(b"\n"):
                chunk = handle.readline(limit + 1)
            yield number, None
            continue
        yield number, chunk
