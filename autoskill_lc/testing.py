"""Offline fakes for testing chains and agents that use AutoSkill (no network, no keys).

LangChain's fake chat models cannot ``bind_tools``, so they cannot drive
``langchain.agents.create_agent``. :class:`ScriptedToolCallingModel` can: it accepts any
tools, replays scripted replies (tool calls included) and records what it was sent::

    model = ScriptedToolCallingModel(responses=[
        ScriptedToolCallingModel.call_tool("load_skill", {"name": "deploy-service"}),
        "Done: tests, image, rollout.",
    ])
    agent = create_agent(model, middleware=[SkillMiddleware(sdk, user_id="alice", mode="catalog")])
    agent.invoke({"messages": [("user", "How do I deploy?")]})
    model.seen[0]          # the messages of the first model call (system prompt included)
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr, field_validator

__all__ = ["ScriptedToolCallingModel"]


class ScriptedToolCallingModel(BaseChatModel):
    """A chat model that replays scripted replies and supports ``bind_tools``.

    Replies are given in order (a string stands for an ``AIMessage`` with that text) and start
    over when they run out. Each reply is a fresh copy, so replaying a script in another
    run never collides with message ids already in an agent's state. Thread-safe.

    Attributes:
        responses: The script.
        seen: The messages of every call, in order (the system message included).
        bound_tools: Names of the tools of the last ``bind_tools`` call.
    """

    responses: list[AIMessage]
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[str] = Field(default_factory=list)
    _position: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("responses", mode="before")
    @classmethod
    def _messages(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [AIMessage(content=item) if isinstance(item, str) else item for item in value]
        return value

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-calling"

    @staticmethod
    def call_tool(tool: str, args: dict[str, Any] | None = None, *, call_id: str | None = None,
                  content: str = "") -> AIMessage:
        """A scripted reply that calls one tool (``call_id`` defaults to a fresh id)."""
        return AIMessage(content=content, tool_calls=[{
            "name": tool, "args": dict(args or {}), "id": call_id or f"call_{uuid.uuid4().hex[:12]}",
            "type": "tool_call",
        }])

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Record the tools' names and return the model itself (the script decides the calls)."""
        names = []
        for tool in tools:
            if isinstance(tool, BaseTool):
                names.append(tool.name)
            else:
                try:
                    names.append(convert_to_openai_tool(tool)["function"]["name"])
                except Exception:  # an exotic tool description: the name is only informative
                    names.append(str(getattr(tool, "name", tool)))
        with self._lock:
            self.bound_tools = names
        return self

    def reset(self) -> None:
        """Start the script over and forget what was seen."""
        with self._lock:
            self._position = 0
            self.seen.clear()

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if not self.responses:
            raise ValueError("ScriptedToolCallingModel has no responses to replay")
        with self._lock:
            reply = self.responses[self._position % len(self.responses)]
            self._position += 1
            self.seen.append(list(messages))
        message = reply.model_copy(update={"id": None})
        return ChatResult(generations=[ChatGeneration(message=message)])
