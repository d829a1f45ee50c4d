"""Adapters that make LangChain and LlamaIndex models AutoSkill LLMs, and :func:`create_llm`.

The frameworks are imported only inside the adapters' methods, when a wrapped model is
actually called: the caller already has the framework loaded then. Detection looks at class
and module names, so :func:`create_llm` imports no framework either.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from autoskill.errors import ConfigError, LLMError
from autoskill.llm.base import LLM, BaseLLM, Message, check_messages

__all__ = ["LangChainChatLLM", "LlamaIndexLLM", "create_llm"]

logger = logging.getLogger(__name__)

_MODEL_ATTRS = ("model_name", "model", "model_id", "deployment_name")


def _model_name(obj: Any) -> str | None:
    for attr in _MODEL_ATTRS:
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value and value != "unknown":
            return value
    return None


def _default_identity(framework: str, obj: Any) -> str:
    name = type(obj).__name__
    model = _model_name(obj)
    return f"{framework}:{name}/{model}" if model else f"{framework}:{name}"


def _text_of(content: Any) -> str:
    """Text of a message content: a string, or a list of content blocks (Anthropic)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "".join(parts)
    return "" if content is None else str(content)


def _defining_module(cls: type, attr: str) -> str:
    for klass in cls.__mro__:
        if attr in vars(klass):
            return klass.__module__
    return ""


class LangChainChatLLM(BaseLLM):
    """Any LangChain chat model (``BaseChatModel``) as an AutoSkill :class:`LLM`.

    Structured output uses ``model.with_structured_output(schema, method="json_schema")``
    when the model's class implements it; otherwise (fake and many local models) JSON is
    asked for in text. ``bind_tools`` is never called.
    """

    def __init__(self, model: Any, *, identity: str | None = None, structured: bool | None = None) -> None:
        """Wrap ``model``.

        Args:
            model: A LangChain chat model (plain LLMs returning strings work too).
            identity: Overrides the default ``"langchain:<Class>/<model>"``.
            structured: Force native structured output on or off; None decides by the class.
        """
        if not callable(getattr(model, "invoke", None)):
            raise ConfigError(f"{type(model).__name__} is not a LangChain model (it has no invoke())")
        self._model = model
        self._identity = identity or _default_identity("langchain", model)
        # The base class's with_structured_output goes through bind_tools, which fake and
        # many local models lack: only a class's own implementation counts as support.
        self._structured = (
            structured
            if structured is not None
            else not _defining_module(type(model), "with_structured_output").startswith("langchain_core")
        )
        self._runnables: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        """``"langchain:<Class>/<model>"`` unless given explicitly."""
        return self._identity

    @property
    def wrapped(self) -> Any:
        """The LangChain model this adapter calls."""
        return self._model

    @staticmethod
    def _to_langchain(messages: Sequence[Mapping[str, str]]) -> list[Any]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
        return [kinds[m["role"]](content=m["content"]) for m in check_messages(messages)]

    def _text(self, result: Any) -> str:
        return _text_of(getattr(result, "content", result))

    def complete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Call ``model.invoke`` and return the answer's text."""
        chat = self._to_langchain(messages)
        try:
            result = self._model.invoke(chat)
        except Exception as exc:  # the model's own errors, whatever the integration raises
            raise LLMError(f"{self.identity} call failed: {exc}") from exc
        return self._text(result)

    async def acomplete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Call ``model.ainvoke`` and return the answer's text."""
        chat = self._to_langchain(messages)
        try:
            result = await self._model.ainvoke(chat)
        except Exception as exc:
            raise LLMError(f"{self.identity} call failed: {exc}") from exc
        return self._text(result)

    def _structured_runnable(self, schema: Mapping[str, Any]) -> Any | None:
        if not self._structured:
            return None
        key = json.dumps(schema, sort_keys=True, default=str)
        with self._lock:
            if key in self._runnables:
                return self._runnables[key]
            try:
                # OpenAI-style integrations name the response format after the schema's title.
                named = {"title": "answer", **schema}
                runnable = self._model.with_structured_output(named, method="json_schema")
            except (NotImplementedError, AttributeError, TypeError, ValueError) as exc:
                logger.info("%s has no json_schema structured output (%s); using JSON in text", self.identity, exc)
                self._structured = False
                return None
            self._runnables[key] = runnable
            return runnable

    def _structured_failed(self, exc: Exception) -> None:
        # Unsupported by this model or endpoint, or a transient failure: either way the
        # text path runs next, and structured output is turned off for this model.
        logger.warning("%s structured output failed (%s); falling back to JSON in text", self.identity, exc)
        with self._lock:
            self._structured = False

    def _complete_structured(self, messages: list[Message], schema: Mapping[str, Any]) -> dict[str, Any] | None:
        runnable = self._structured_runnable(schema)
        if runnable is None:
            return None
        try:
            value = runnable.invoke(self._to_langchain(messages))
        except Exception as exc:
            self._structured_failed(exc)
            return None
        return value if isinstance(value, dict) else None

    async def _acomplete_structured(
        self, messages: list[Message], schema: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        runnable = self._structured_runnable(schema)
        if runnable is None:
            return None
        try:
            value = await runnable.ainvoke(self._to_langchain(messages))
        except Exception as exc:
            self._structured_failed(exc)
            return None
        return value if isinstance(value, dict) else None


class LlamaIndexLLM(BaseLLM):
    """Any LlamaIndex ``LLM`` as an AutoSkill :class:`LLM` (structured output via JSON in text)."""

    def __init__(self, llm: Any, *, identity: str | None = None) -> None:
        """Wrap ``llm``; ``identity`` overrides ``"llamaindex:<Class>/<model>"``."""
        if not callable(getattr(llm, "chat", None)):
            raise ConfigError(f"{type(llm).__name__} is not a LlamaIndex LLM (it has no chat())")
        self._llm = llm
        self._identity = identity or _default_identity("llamaindex", llm)

    @property
    def identity(self) -> str:
        """``"llamaindex:<Class>/<model>"`` unless given explicitly."""
        return self._identity

    @property
    def wrapped(self) -> Any:
        """The LlamaIndex LLM this adapter calls."""
        return self._llm

    @staticmethod
    def _to_llamaindex(messages: Sequence[Mapping[str, str]]) -> list[Any]:
        from llama_index.core.llms import ChatMessage

        return [ChatMessage(role=m["role"], content=m["content"]) for m in check_messages(messages)]

    @staticmethod
    def _text(response: Any) -> str:
        message = getattr(response, "message", None)
        return _text_of(getattr(message, "content", None))

    def complete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Call ``llm.chat`` and return ``.message.content``."""
        chat = self._to_llamaindex(messages)
        try:
            response = self._llm.chat(chat)
        except Exception as exc:
            raise LLMError(f"{self.identity} call failed: {exc}") from exc
        return self._text(response)

    async def acomplete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Call ``llm.achat`` and return ``.message.content``."""
        chat = self._to_llamaindex(messages)
        try:
            response = await self._llm.achat(chat)
        except Exception as exc:
            raise LLMError(f"{self.identity} call failed: {exc}") from exc
        return self._text(response)


def _has_base(obj: Any, package: str, names: tuple[str, ...]) -> bool:
    return any(
        cls.__module__.split(".", 1)[0] == package and cls.__name__ in names for cls in type(obj).__mro__
    )


def _is_llamaindex_llm(obj: Any) -> bool:
    if _has_base(obj, "llama_index", ("LLM", "BaseLLM")):
        return True
    return callable(getattr(obj, "chat", None)) and hasattr(obj, "metadata") and not hasattr(obj, "invoke")


def _is_langchain_model(obj: Any) -> bool:
    if _has_base(obj, "langchain_core", ("BaseLanguageModel",)):
        return True
    return callable(getattr(obj, "invoke", None)) and callable(getattr(obj, "ainvoke", None))


def create_llm(spec: Any) -> LLM:
    """Return an :class:`LLM` for ``spec``.

    Args:
        spec: An :class:`LLM` (returned as is); a config section such as
            ``{"provider": "openai", "model": "gpt-4o-mini"}`` (or just the provider name);
            a LangChain chat model; or a LlamaIndex ``LLM``.

    Raises:
        ConfigError: ``spec`` is none of these, or the config is invalid.
        ProviderNotFoundError: Unknown provider name.
        MissingDependencyError: The provider needs a package that is not installed.
    """
    if isinstance(spec, BaseLLM):
        return spec
    if isinstance(spec, str):
        spec = {"provider": spec}
    if isinstance(spec, Mapping):
        from autoskill.providers.registry import create_provider

        built = create_provider("llm", spec)
        if isinstance(built, (Mapping, str)):
            raise ConfigError(f"llm provider {spec.get('provider')!r} returned a config, not a model")
        return create_llm(built)  # a provider may return a framework model: wrap it
    # Framework objects first: a LlamaIndex LLM also has complete()/acomplete().
    if _is_llamaindex_llm(spec):
        return LlamaIndexLLM(spec)
    if _has_base(spec, "langchain_core", ("BaseLanguageModel",)):
        return LangChainChatLLM(spec)
    if isinstance(spec, LLM):
        return spec
    if _is_langchain_model(spec):
        return LangChainChatLLM(spec)
    raise ConfigError(
        f"cannot build an LLM from {type(spec).__name__}; pass a dict like {{'provider': 'mock'}}, "
        "an autoskill LLM, a LangChain chat model or a LlamaIndex LLM"
    )
