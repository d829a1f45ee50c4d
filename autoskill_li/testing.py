"""Offline stand-ins for testing agents that use AutoSkill in LlamaIndex (no key, no network)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM

__all__ = ["ScriptedFunctionCallingLLM", "tool_call"]


def tool_call(tool: str, **kwargs: Any) -> ChatMessage:
    """An assistant message asking for one tool call."""
    return ChatMessage(role=MessageRole.ASSISTANT,
                       blocks=[ToolCallBlock(tool_call_id=f"call-{tool}", tool_name=tool, tool_kwargs=kwargs)])


class ScriptedFunctionCallingLLM(MockFunctionCallingLLM):
    """``MockFunctionCallingLLM`` playing a script.

    After the latest user message, with ``n`` tool results so far, it answers ``steps[n]``
    (e.g. a :func:`tool_call`), and ``final`` once the steps are used up. Every list of
    messages it was called with is kept in :attr:`seen`.
    """

    def __init__(self, *steps: ChatMessage, final: str = "Done.") -> None:
        seen: list[list[ChatMessage]] = []

        def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
            seen.append(list(messages))
            last_user = max((i for i, m in enumerate(messages) if m.role == MessageRole.USER), default=-1)
            done = sum(1 for m in messages[last_user + 1:] if m.role == MessageRole.TOOL)
            if done < len(steps):
                return steps[done]
            return ChatMessage(role=MessageRole.ASSISTANT, content=final)

        super().__init__(response_generator=respond)
        self._seen = seen

    @property
    def seen(self) -> list[list[ChatMessage]]:
        """Every prompt, as the list of messages the LLM received."""
        return self._seen
