"""Shared helpers for the LlamaIndex tests: an offline sdk with skills, a scripted function-calling LLM."""

from __future__ import annotations

from sample_sdk import DEPLOY_STEPS, DIMS, make_sdk

from autoskill_li.testing import ScriptedFunctionCallingLLM as ScriptedLLM
from autoskill_li.testing import tool_call

__all__ = ["DEPLOY_STEPS", "DIMS", "ScriptedLLM", "make_sdk", "tool_call"]
