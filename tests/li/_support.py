"""Shared helpers for the LlamaIndex tests: an offline sdk with skills, a scripted function-calling LLM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM

from autoskill import AutoSkill, AutoSkillConfig, Skill

DEPLOY_STEPS = "1. Run the test suite\n2. Build the image with make image\n3. Roll out with kubectl apply"
DIMS = 256


def make_sdk(store: Any = None) -> AutoSkill:
    """An offline AutoSkill (hashing embeddings) holding a few skills.

    alice: deploy-service, rotate-api-keys, write-release-notes; bob: bob-private-deploy;
    shared library ``team``: code-review.
    """
    sdk = AutoSkill(AutoSkillConfig(
        embeddings={"provider": "hashing", "dims": DIMS},
        store=store or {"provider": "inmemory"},
    ))
    sdk.add(Skill(name="deploy-service", description="Deploy the web service to production",
                  instructions=DEPLOY_STEPS, tags=("ops", "deploy"), user_id="alice"))
    sdk.add(Skill(name="rotate-api-keys", description="Rotate API keys for the service safely",
                  instructions="1. Create the new key\n2. Deploy it\n3. Revoke the old key", user_id="alice"))
    sdk.add(Skill(name="write-release-notes", description="Write release notes after a deploy",
                  instructions="List merged changes, group by area, link the deploy", user_id="alice"))
    sdk.add(Skill(name="bob-private-deploy", description="Bob's secret way to deploy the service",
                  instructions="BOB-ONLY: deploy the service from my laptop", user_id="bob"))
    sdk.store.upsert(Skill(name="code-review", description="Review code before you deploy the service",
                           instructions="Check tests, naming and error handling", scope="library",
                           library="team"), allow_library=True)
    return sdk


def tool_call(tool: str, **kwargs: Any) -> ChatMessage:
    """An assistant message asking for one tool call."""
    return ChatMessage(role=MessageRole.ASSISTANT,
                       blocks=[ToolCallBlock(tool_call_id=f"call-{tool}", tool_name=tool, tool_kwargs=kwargs)])


class ScriptedLLM(MockFunctionCallingLLM):
    """``MockFunctionCallingLLM`` playing a script.

    After the latest user message, with ``n`` tool results so far, it answers ``steps[n]``
    (e.g. a tool call), and ``final`` once the steps are used up. Every list of messages it
    was called with is kept in ``seen``.
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
