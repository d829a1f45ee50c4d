"""Pure helpers: LlamaIndex span arguments, results and events as plain event data.

Everything here reads objects duck-typed (``getattr``), never raises on an unexpected
shape (callers still guard), and clips long text: windows live in the store's ledger, and
a run's prompts can be large.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_LLM_MESSAGES",
    "MAX_TEXT",
    "clip",
    "input_text",
    "jsonable",
    "llm_messages",
    "node_summaries",
    "output_text",
    "span_name",
    "span_run_id",
    "start_event_field",
]

MAX_TEXT = 4000
MAX_LLM_MESSAGES = 20
_UUID_TAIL = 37  # "-" + a 36-character uuid4: how the dispatcher suffixes span ids


def clip(text: Any, limit: int = MAX_TEXT) -> str:
    """``text`` as a string of at most ``limit`` characters."""
    value = text if isinstance(text, str) else ("" if text is None else str(text))
    return value if len(value) <= limit else value[:limit] + f"... [{len(value) - limit} more characters]"


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-ready, clipped copy of a tool input or output."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return clip(value)
    if depth < 4 and isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in list(value.items())[:50]}
    if depth < 4 and isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value[:50]]
    try:
        return clip(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return clip(repr(value))


def span_run_id(span_id: str) -> str:
    """The uuid4 that ends a span id: the run id events carry.

    The whole span id is not used: a class name glued to a uuid looks like a token to the
    core's redaction, which would then mask the id that feedback has to find.
    """
    tail = span_id[-_UUID_TAIL + 1:]
    if len(span_id) > _UUID_TAIL and span_id[-_UUID_TAIL] == "-" and tail.count("-") == 4:
        return tail
    return str(uuid.uuid5(uuid.NAMESPACE_URL, span_id))


def span_name(span_id: str) -> str:
    """``"RetrieverQueryEngine.query"`` from ``"RetrieverQueryEngine.query-<uuid4>"``."""
    if len(span_id) > _UUID_TAIL and span_id[-_UUID_TAIL] == "-":
        return span_id[:-_UUID_TAIL]
    return span_id


def _message_text(message: Any) -> str:
    content = getattr(message, "content", message)
    return content if isinstance(content, str) else ("" if content is None else str(content))


def start_event_field(start_event: Any, key: str) -> Any:
    """A field of a workflow ``StartEvent`` (declared or passed as a run keyword), else None."""
    getter = getattr(start_event, "get", None)
    if callable(getter):
        try:
            return getter(key)
        except Exception:  # a custom event without the key
            return None
    return None


def input_text(arguments: Mapping[str, Any]) -> str:
    """The user's request in a span's bound arguments (query engines, retrievers, workflows)."""
    for key in ("str_or_query_bundle", "query_bundle", "query", "message", "user_msg", "input"):
        value = arguments.get(key)
        if value is not None:
            return clip(getattr(value, "query_str", None) or _message_text(value))
    start = arguments.get("start_event")
    if start is not None:
        for key in ("user_msg", "input", "query", "message"):
            value = start_event_field(start, key)
            if value:
                return clip(_message_text(value))
    return ""


def output_text(result: Any) -> str:
    """The answer in a run's result (``Response``, ``AgentOutput``, ``StopEvent``, text)."""
    if result is None:
        return ""
    if hasattr(result, "result") and not isinstance(result, str):  # StopEvent
        result = result.result
    if hasattr(result, "response"):  # Response, AgentOutput, chat responses
        result = result.response
        if result is None:
            return ""
    if hasattr(result, "message") and hasattr(result.message, "content"):  # ChatResponse
        result = result.message
    if hasattr(result, "content") and not isinstance(result, str):  # ChatMessage
        return clip(_message_text(result))
    if type(result).__name__.startswith("Streaming"):
        return ""  # the text is produced after the run returns
    return clip(result)


def llm_messages(messages: Any) -> list[dict[str, str]]:
    """The last chat messages of an LLM call as ``{"role", "content"}`` dicts."""
    out = []
    for message in list(messages or [])[-MAX_LLM_MESSAGES:]:
        role = getattr(getattr(message, "role", None), "value", getattr(message, "role", None)) or "user"
        out.append({"role": str(role), "content": clip(_message_text(message), 2000)})
    return out


def node_summaries(result: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Retrieved nodes as ``{"id", "score"}`` (plus ``skill_id``), and the skill ids among them."""
    summaries: list[dict[str, Any]] = []
    skill_ids: list[str] = []
    for item in list(result or [])[:50]:
        node = getattr(item, "node", item)
        metadata = getattr(node, "metadata", None) or {}
        entry: dict[str, Any] = {"id": str(getattr(node, "node_id", "")), "score": getattr(item, "score", None)}
        skill_id = metadata.get("skill_id") if isinstance(metadata, Mapping) else None
        if isinstance(skill_id, str) and skill_id:
            entry["skill_id"] = skill_id
            skill_ids.append(skill_id)
        summaries.append(entry)
    return summaries, skill_ids
