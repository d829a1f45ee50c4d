"""Helpers shared by the LangChain adapters: reading texts out of LangChain values, the
per-call user and thread, JSON-safe copies for events, and traced context injection.

Private: the adapters convert types here and nothing else; skill logic stays in the core.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManager, CallbackManager
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from autoskill.client import AutoSkill
from autoskill.retrieval.context import RenderedContext
from autoskill_lc.documents import skill_to_document

__all__ = [
    "CONTEXT_RUN_NAME",
    "atraced_context",
    "configurable_scope",
    "input_text",
    "jsonable",
    "message_role",
    "message_text",
    "output_text",
    "traced_context",
]

# Keys under which chain inputs and outputs usually carry the user's request / the answer.
INPUT_KEYS = ("input", "question", "query")
OUTPUT_KEYS = ("output", "response", "text", "answer", "result")
# The retriever run that records which skills an adapter injected (visible in traces).
CONTEXT_RUN_NAME = "SkillContext"
# Bounds on what an event copies out of a run (windows are stored; keep them small).
MAX_TEXT = 8_000
MAX_ITEMS = 100
MAX_DEPTH = 6


# -- messages ----------------------------------------------------------------------------------


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return "" if content is None else str(content)


def _role(kind: Any) -> str | None:
    text = str(kind or "").lower()
    if text.startswith("human") or text == "user":
        return "user"
    if text.startswith("ai") or text in ("assistant", "model", "bot"):
        return "assistant"
    if text.startswith("system") or text == "developer":
        return "system"
    if text.startswith("tool") or text.startswith("function"):
        return "tool"
    return text or None


def message_role(message: Any) -> str | None:
    """The chat role of a message in any LangChain shape: a ``BaseMessage``, a serialized
    message (``dumpd``), a ``{"role", "content"}`` dict or a ``(role, content)`` tuple."""
    if isinstance(message, BaseMessage):
        return _role(getattr(message, "role", None) if message.type == "chat" else message.type)
    if isinstance(message, Mapping):
        if message.get("lc") and isinstance(message.get("kwargs"), Mapping):
            kwargs = message["kwargs"]
            kind = kwargs.get("type") or (message.get("id") or [""])[-1].replace("Message", "")
            return _role(kwargs.get("role") if kind == "chat" else kind)
        return _role(message.get("role") or message.get("type"))
    if isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], str):
        return _role(message[0])
    return None


def message_text(message: Any) -> str:
    """The text content of a message in any shape :func:`message_role` accepts."""
    if isinstance(message, BaseMessage):
        return _content_text(message.content)
    if isinstance(message, Mapping):
        if message.get("lc") and isinstance(message.get("kwargs"), Mapping):
            return _content_text(message["kwargs"].get("content"))
        return _content_text(message.get("content"))
    if isinstance(message, tuple) and len(message) == 2:
        return _content_text(message[1])
    return _content_text(message)


def _is_message(value: Any) -> bool:
    return message_role(value) is not None and not isinstance(value, str)


def _last_message_text(messages: Sequence[Any], role: str) -> str | None:
    for message in reversed(messages):
        if _is_message(message) and message_role(message) == role:
            text = message_text(message).strip()
            if text:
                return text
    return None


# -- inputs and outputs ------------------------------------------------------------------------


def _user_text(message: Any) -> str | None:
    if message_role(message) != "user":
        return None
    return message_text(message).strip() or None


def input_text(value: Any, *, key: str | None = None, exclude: Sequence[str] = ()) -> str | None:
    """The user's request in a chain input, or None.

    ``key`` when given; else ``input``, ``question``, ``query``; else the only input left
    (``exclude`` names keys that are not the request, such as a memory's own key); a
    list of messages gives its last human message.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, PromptValue):
        return _last_message_text(value.to_messages(), "user")
    if isinstance(value, (BaseMessage, tuple)) and _is_message(value):
        return _user_text(value)
    if isinstance(value, Mapping):
        if value.get("lc") and "kwargs" in value:  # one serialized message
            return _user_text(value)
        if key is not None:
            return input_text(value.get(key))
        remaining = {k: v for k, v in value.items() if k not in exclude and k != "stop"}
        for name in (*INPUT_KEYS, "messages"):
            if name in remaining:
                found = input_text(remaining[name])
                if found:
                    return found
        if len(remaining) == 1:
            return input_text(next(iter(remaining.values())))
        strings = [v for v in remaining.values() if isinstance(v, str) and v.strip()]
        return strings[0].strip() if len(strings) == 1 else None
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return _last_message_text(value, "user")
    return None


def output_text(value: Any, *, key: str | None = None) -> str | None:
    """The answer in a chain output, or None (``key`` when given; else ``output``,
    ``response``, ``text``, ``answer``, ``result``; else the only output; a list of
    messages gives its last AI message)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, BaseMessage):
        return message_text(value).strip() or None
    if isinstance(value, Mapping):
        if value.get("lc") and "kwargs" in value:
            return message_text(value).strip() or None
        if key is not None:
            return output_text(value.get(key))
        for name in (*OUTPUT_KEYS, "messages"):
            if name in value:
                found = output_text(value[name])
                if found:
                    return found
        if len(value) == 1:
            return output_text(next(iter(value.values())))
        return None
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return _last_message_text(value, "assistant")
    return None


# -- per-call scope ----------------------------------------------------------------------------


def configurable_scope(config: RunnableConfig | Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """``(user_id, thread_id)`` from ``config["configurable"]`` (None where absent)."""
    configurable = (config or {}).get("configurable") or {}
    user, thread = configurable.get("user_id"), configurable.get("thread_id")
    return (str(user) if user else None), (str(thread) if thread else None)


# -- JSON-safe copies --------------------------------------------------------------------------


def _short(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, size-bounded copy of a LangChain value (messages become
    ``{"role", "content"}``, Documents ``{"id", "page_content", "metadata"}``)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return _short(value)
    if depth >= MAX_DEPTH:
        return _short(str(value), 200)
    if isinstance(value, BaseMessage):
        out: dict[str, Any] = {"role": message_role(value) or value.type, "content": _short(message_text(value))}
        calls = getattr(value, "tool_calls", None)
        if calls:
            out["tool_calls"] = [{"name": c.get("name"), "args": jsonable(c.get("args"), depth + 1)} for c in calls]
        return out
    if isinstance(value, Document):
        return {"id": value.id, "page_content": _short(value.page_content, 2_000),
                "metadata": jsonable(value.metadata, depth + 1)}
    if isinstance(value, PromptValue):
        return jsonable(value.to_messages(), depth)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    if isinstance(value, BaseModel):
        try:
            return jsonable(value.model_dump(mode="json"), depth + 1)
        except Exception:  # a model that cannot dump itself is still worth a mention
            return _short(repr(value), 500)
    if isinstance(value, (uuid.UUID, _dt.date, _dt.datetime)):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return _short(str(value), 2_000)


# -- injected context, traced ------------------------------------------------------------------


def _documents(rendered: RenderedContext) -> list[Document]:
    return [skill_to_document(skill) for skill in rendered.skills]


def traced_context(
    sdk: AutoSkill,
    query: str,
    *,
    user_id: str | None,
    limit: int,
    max_tokens: int | None,
    callbacks: CallbackManager | None = None,
) -> RenderedContext:
    """``sdk.build_context`` recorded as a retriever run (named ``SkillContext``) under
    ``callbacks``, so traces and :class:`~autoskill_lc.AutoSkillCallbackHandler` see which
    skills were injected. Without handlers it is just ``sdk.build_context``."""
    if callbacks is None or not callbacks.handlers:
        return sdk.build_context(query, user_id=user_id, limit=limit, max_tokens=max_tokens)
    run = callbacks.on_retriever_start(None, query, name=CONTEXT_RUN_NAME)
    try:
        rendered = sdk.build_context(query, user_id=user_id, limit=limit, max_tokens=max_tokens)
    except BaseException as exc:
        run.on_retriever_error(exc)
        raise
    run.on_retriever_end(_documents(rendered))
    return rendered


async def atraced_context(
    sdk: AutoSkill,
    query: str,
    *,
    user_id: str | None,
    limit: int,
    max_tokens: int | None,
    callbacks: AsyncCallbackManager | None = None,
) -> RenderedContext:
    """Async :func:`traced_context` (the store work runs in a worker thread)."""
    if callbacks is None or not callbacks.handlers:
        return await sdk.abuild_context(query, user_id=user_id, limit=limit, max_tokens=max_tokens)
    run = await callbacks.on_retriever_start(None, query, name=CONTEXT_RUN_NAME)
    try:
        rendered = await sdk.abuild_context(query, user_id=user_id, limit=limit, max_tokens=max_tokens)
    except BaseException as exc:
        await run.on_retriever_error(exc)
        raise
    await run.on_retriever_end(_documents(rendered))
    return rendered
