"""Recording fakes for the LangChain tests (offline, deterministic).

``ScriptedToolCallingModel`` ships with the package (``autoskill_lc.testing``) so users can
test their own agents the same way; it is re-exported here with the test-only fakes.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake import FakeListLLM
from pydantic import Field

from autoskill_lc.testing import ScriptedToolCallingModel

from ._support import RecordingChatModel

__all__ = ["RecordingChatModel", "RecordingLLM", "ScriptedToolCallingModel"]


class RecordingLLM(FakeListLLM):
    """A classic (string-prompt) fake LLM that keeps every prompt it was sent."""

    prompts: list[str] = Field(default_factory=list)

    def _call(self, prompt: str, stop: list[str] | None = None,
              run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> str:
        self.prompts.append(prompt)
        return super()._call(prompt, stop, run_manager, **kwargs)

    async def _acall(self, prompt: str, stop: list[str] | None = None,
                     run_manager: Any = None, **kwargs: Any) -> str:
        self.prompts.append(prompt)
        return await super()._acall(prompt, stop, run_manager, **kwargs)
