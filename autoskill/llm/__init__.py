"""Language models for the learning loop: one :class:`LLM` contract, adapters and providers.

Config sections ``{"provider": "mock" | "openai" | "anthropic" | "glm", ...}``, LangChain chat
models and LlamaIndex LLMs all become an :class:`LLM` through :func:`create_llm`. On top of
it sit :class:`LLMExtractor` (skills from conversations), :class:`LLMJudge` and
:class:`LLMMerger` (maintenance). No framework is imported until a wrapped model is called.
"""

from autoskill.llm.adapters import LangChainChatLLM, LlamaIndexLLM, create_llm
from autoskill.llm.base import LLM, BaseLLM, JSONAnswerError, parse_json_answer
from autoskill.llm.extract import LLMExtractor, create_extractor
from autoskill.llm.maintain import LLMJudge, LLMMerger
from autoskill.llm.providers import MockLLM

__all__ = [
    "BaseLLM",
    "JSONAnswerError",
    "LLM",
    "LLMExtractor",
    "LLMJudge",
    "LLMMerger",
    "LangChainChatLLM",
    "LlamaIndexLLM",
    "MockLLM",
    "create_extractor",
    "create_llm",
    "parse_json_answer",
]
