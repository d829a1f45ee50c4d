"""Shared helpers for the LangChain tests: an offline sdk with skills, a recording chat model."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from pydantic import Field
from sample_sdk import DEPLOY_STEPS, make_sdk

__all__ = ["DEPLOY_STEPS", "RecordingChatModel", "make_sdk"]


class RecordingChatModel(FakeListChatModel):
    """A fake chat model that keeps every list of messages it was called with."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _call(self, messages: list[BaseMessage], stop: list[str] | None = None,
              run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> str:
        self.seen.append(list(messages))
        return super()._call(messages, stop, run_manager, **kwargs)
