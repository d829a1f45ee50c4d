"""The built-in LLM providers: ``mock`` (offline), ``openai``, ``anthropic``, ``glm``.

Importing this module registers them with :mod:`autoskill.providers.registry`, the same
way a third-party package registers its own. The real providers go through the matching
LangChain integration package, imported only when the provider is built; nothing touches
the network until the model is called.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autoskill.errors import ConfigError, LLMError, MissingDependencyError
from autoskill.llm.adapters import LangChainChatLLM
from autoskill.llm.base import BaseLLM, check_messages
from autoskill.providers.registry import register_provider

__all__ = ["GLM_BASE_URL", "MockLLM"]

logger = logging.getLogger(__name__)

GLM_BASE_URL = "https://open.bigmodel.cn/api/paas/v4/"
_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "glm": "ZHIPUAI_API_KEY"}

_HEADING = re.compile(r"^###\s+(.+?)(?:\s+\(v\d+\.\d+\.\d+[^)]*\))?\s*$")
_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s+(.+)$")
_BULLET = re.compile(r"^\s*[-*•]\s+(.+)$")
_META = re.compile(r"^(?:When to use:|Triggers:|\[\.\.\. cut)", re.I)
_WORD = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]", re.I)
# Question words and fillers would match any skill's text; they must not pick one.
_STOP = frozenset(
    "the and for with how what when where why who which can could would should shall will "
    "you your our this that these those please about into from have has does did are was "
    "were been being its".split()
)


@dataclass(frozen=True)
class _ContextSkill:
    title: str
    about: str  # heading, description and triggers: what the request is matched against
    steps: tuple[str, ...]


def _parse_skill_blocks(text: str) -> list[_ContextSkill]:
    """Skills in a context block rendered by ``render_skill_block`` (``### <title> (vX)``)."""
    skills: list[_ContextSkill] = []
    title: str | None = None
    body: list[str] = []

    def flush() -> None:
        if title is not None:
            skills.append(_context_skill(title, body))

    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            flush()
            title, body = heading.group(1).strip(), []
        elif title is not None and (line.startswith("## ") or line.startswith("(") and "left out" in line):
            flush()  # the block ended: another section, or the budget note
            title, body = None, []
        elif title is not None:
            body.append(line)
    flush()
    return skills


def _context_skill(title: str, body: list[str]) -> _ContextSkill:
    lines = [ln.strip() for ln in body if ln.strip()]
    if "Examples:" in lines:  # examples illustrate the skill; they are not steps
        lines = lines[: lines.index("Examples:")]
    description = lines[0] if lines else ""
    triggers = next((ln for ln in lines if ln.startswith("Triggers:")), "")
    rest = [ln for ln in lines[1:] if not _META.match(ln)]
    numbered = [m.group(1) for m in map(_NUMBERED.match, rest) if m]
    bullets = [m.group(1) for m in map(_BULLET.match, rest) if m]
    steps = numbered or bullets or rest
    return _ContextSkill(title=title, about=f"{title} {description} {triggers}", steps=tuple(steps))


def _words(text: str) -> set[str]:
    words = {w.lower() for w in _WORD.findall(text) if len(w) > 2 or not w.isascii()}
    return words - _STOP


class MockLLM(BaseLLM):
    """An offline, deterministic stand-in for a chat model.

    When the system prompt carries a skill context block (``### <skill>`` headings, as
    :func:`autoskill.retrieval.context.render_skill_block` writes them), the answer applies
    the skill that best matches the last user message, step by step; otherwise it is a
    short acknowledgement. It does not do structured output: the ``mock`` provider learns
    with :class:`~autoskill.learning.heuristic.HeuristicExtractor` instead.
    """

    ACKNOWLEDGEMENT = "Got it."

    @property
    def identity(self) -> str:
        """Always ``"mock"``."""
        return "mock"

    def complete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Apply the best-matching skill from the system prompt, or acknowledge."""
        chat = check_messages(messages)
        system = "\n".join(m["content"] for m in chat if m["role"] == "system")
        skills = [s for s in _parse_skill_blocks(system) if s.steps]
        if not skills:
            return self.ACKNOWLEDGEMENT
        request = next((m["content"] for m in reversed(chat) if m["role"] == "user"), "")
        wanted = _words(request)
        # The context is already ranked by relevance: the first skill wins ties.
        best = max(skills, key=lambda s: len(wanted & _words(s.about)))
        steps = "\n".join(f"{i}. {step}" for i, step in enumerate(best.steps, 1))
        return f'Following the skill "{best.title}":\n{steps}'

    def complete_json(self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]) -> dict[str, Any]:
        """Not supported.

        Raises:
            LLMError: Always; the mock provider extracts with the heuristic extractor.
        """
        raise LLMError("the mock LLM does not produce structured output; use HeuristicExtractor for learning")

    async def acomplete_json(
        self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Not supported (see :meth:`complete_json`)."""
        return self.complete_json(messages, schema)


def _api_key(provider: str, api_key: str | None, *, required: bool = True) -> str | None:
    env = _KEY_ENV[provider]
    key = api_key or os.environ.get(env)
    if not key and required:
        raise ConfigError(f"the {provider} LLM provider needs an API key: pass api_key or set {env}")
    return key or None


def _import_chat_openai(feature: str) -> Any:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise MissingDependencyError("langchain-openai", feature, extra="openai") from exc
    return ChatOpenAI


def _openai_provider(
    model: str = "gpt-4o-mini",
    api_key: str | None = None,
    base_url: str | None = None,
    temperature: float | None = None,
    **options: Any,
) -> LangChainChatLLM:
    """``{"provider": "openai", "model": ..., "api_key": ..., "base_url": ..., "temperature": ...}``.

    Extra options go to ``langchain_openai.ChatOpenAI``. With a ``base_url`` (a local
    OpenAI-compatible server) the key is optional.
    """
    ChatOpenAI = _import_chat_openai("the openai LLM provider")
    key = _api_key("openai", api_key, required=base_url is None)
    kwargs: dict[str, Any] = {"model": model, **options}
    if key:
        kwargs["api_key"] = key
    if base_url is not None:
        kwargs["base_url"] = base_url
    if temperature is not None:  # unset: the model's default (some models accept no other)
        kwargs["temperature"] = temperature
    return LangChainChatLLM(ChatOpenAI(**kwargs), identity=f"openai:{model}")


def _anthropic_provider(
    model: str = "claude-3-5-sonnet-latest",
    api_key: str | None = None,
    base_url: str | None = None,
    temperature: float | None = None,
    **options: Any,
) -> LangChainChatLLM:
    """``{"provider": "anthropic", "model": ..., "api_key": ...}``; extras go to ``ChatAnthropic``."""
    try:
        from langchain_anthropic import ChatAnthropic
    except ImportError as exc:
        raise MissingDependencyError("langchain-anthropic", "the anthropic LLM provider", extra="anthropic") from exc
    kwargs: dict[str, Any] = {"model": model, "api_key": _api_key("anthropic", api_key), **options}
    if base_url is not None:
        kwargs["base_url"] = base_url
    if temperature is not None:
        kwargs["temperature"] = temperature
    return LangChainChatLLM(ChatAnthropic(**kwargs), identity=f"anthropic:{model}")


def _glm_provider(
    model: str = "glm-4.7",
    api_key: str | None = None,
    base_url: str = GLM_BASE_URL,
    temperature: float | None = None,
    auth_mode: str = "auto",
    jwt_ttl_seconds: int = 86_400,
    **options: Any,
) -> LangChainChatLLM:
    """``{"provider": "glm", "model": "glm-4.7", "api_key": "<id>.<secret>", "auth_mode": "auto"}``.

    BigModel speaks the OpenAI chat API, so this is ``langchain_openai.ChatOpenAI`` with
    BigModel's ``base_url``. ``auth_mode`` ``"auto"``/``"api_key"`` sends the key as is
    (BigModel accepts it); ``"jwt"`` sends a signed token valid for ``jwt_ttl_seconds``
    (not refreshed: rebuild the provider for long-lived use). The key comes from
    ``api_key`` or ``ZHIPUAI_API_KEY``.
    """
    ChatOpenAI = _import_chat_openai("the glm LLM provider")
    key = _api_key("glm", api_key)
    assert key is not None
    if auth_mode not in ("auto", "api_key", "jwt"):
        raise ConfigError(f"glm auth_mode must be 'auto', 'api_key' or 'jwt', got {auth_mode!r}")
    if auth_mode == "jwt":
        from autoskill.embeddings.factory import bigmodel_jwt

        key = bigmodel_jwt(key, jwt_ttl_seconds)
    kwargs: dict[str, Any] = {"model": model, "api_key": key, "base_url": base_url, **options}
    if temperature is not None:
        kwargs["temperature"] = temperature
    # BigModel's OpenAI-compatible endpoint has no json_schema response format: ask in text.
    return LangChainChatLLM(ChatOpenAI(**kwargs), identity=f"glm:{model}", structured=False)


register_provider("llm", "mock", MockLLM)
register_provider("llm", "openai", _openai_provider)
register_provider("llm", "anthropic", _anthropic_provider)
register_provider("llm", "glm", _glm_provider)
