"""The LLM contract, and the JSON logic every adapter shares.

An :class:`LLM` takes role/content dicts (roles ``system``, ``user``, ``assistant``) and
answers text, or a JSON object for a schema. :class:`BaseLLM` implements the JSON side once:
structured output when the adapter offers it, otherwise JSON asked for in text, parsed
leniently, with one repair call that shows the model its broken answer and what was wrong.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from autoskill.errors import LLMError

__all__ = [
    "BaseLLM",
    "JSONAnswerError",
    "LLM",
    "check_messages",
    "parse_json_answer",
    "schema_problems",
]

logger = logging.getLogger(__name__)

Message = dict[str, str]

_ROLE_ALIASES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "ai": "assistant"}

JSON_INSTRUCTION = (
    "Answer with one JSON object only (no prose, no code fence) matching this JSON Schema:\n{schema}"
)
REPAIR_PROMPT = (
    "Your answer could not be used: {error}\n"
    "Reply again with only the corrected JSON object, matching the schema."
)


@runtime_checkable
class LLM(Protocol):
    """A chat model AutoSkill can call.

    Attributes:
        identity: Stable string naming the provider and model (``"openai:gpt-4o-mini"``).
    """

    @property
    def identity(self) -> str: ...

    def complete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Answer a chat (role/content dicts) with text."""
        ...

    def complete_json(self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]) -> dict[str, Any]:
        """Answer a chat with a JSON object matching ``schema``."""
        ...

    async def acomplete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Async :meth:`complete`."""
        ...

    async def acomplete_json(
        self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Async :meth:`complete_json`."""
        ...


class JSONAnswerError(ValueError):
    """A model's answer is not a usable JSON object (the message says why)."""


def check_messages(messages: Sequence[Mapping[str, str]]) -> list[Message]:
    """Validate a chat and return it as plain ``{"role", "content"}`` dicts.

    Roles are lowercased; ``human``/``ai`` are accepted as ``user``/``assistant``.

    Raises:
        ValueError: A message has an unknown role or non-text content, or the chat is empty.
    """
    if isinstance(messages, (str, bytes)):
        raise ValueError("messages must be a sequence of {'role', 'content'} dicts, not a string")
    out: list[Message] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ValueError(f"message {i} is {type(message).__name__}, expected a dict")
        role = _ROLE_ALIASES.get(str(message.get("role", "")).strip().lower())
        if role is None:
            raise ValueError(f"message {i} has role {message.get('role')!r}; expected system, user or assistant")
        content = message.get("content", "")
        if not isinstance(content, str):
            raise ValueError(f"message {i} content is {type(content).__name__}, expected str")
        out.append({"role": role, "content": content})
    if not out:
        raise ValueError("messages must not be empty")
    return out


_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _candidate_texts(answer: str) -> list[str]:
    text = _THINK.sub("", answer).strip()
    # A fenced block is where a model that ignores "no code fence" puts its JSON.
    fenced = [m.group(1).strip() for m in _FENCE.finditer(text)]
    return [*fenced, text]


def _outermost_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for attempt in (text, _TRAILING_COMMA.sub(r"\1", text)):
        # The earliest "{" that decodes is the outermost object; a "{" in leading prose fails
        # to decode and the next one is tried.
        for match in re.finditer(r"\{", attempt):
            try:
                value, _ = decoder.raw_decode(attempt, match.start())
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def parse_json_answer(answer: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Parse a model's text answer into a JSON object, leniently.

    Strips ``<think>`` blocks and code fences, takes the outermost JSON object (tolerating
    trailing commas) and, given ``schema``, checks it with :func:`schema_problems`.

    Raises:
        JSONAnswerError: No JSON object found, or it breaks the schema.
    """
    if not isinstance(answer, str) or not answer.strip():
        raise JSONAnswerError("the answer was empty")
    value = None
    for text in _candidate_texts(answer):
        value = _outermost_object(text)
        if value is not None:
            break
    if value is None:
        raise JSONAnswerError("no JSON object found in the answer")
    if schema is not None:
        problems = schema_problems(value, schema)
        if problems:
            raise JSONAnswerError("the JSON does not match the schema: " + "; ".join(problems[:5]))
    return value


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _type_ok(value: Any, expected: str) -> bool:
    kinds = _TYPES.get(expected)
    if kinds is None:  # a type we do not check
        return True
    if isinstance(value, bool) and expected in ("number", "integer"):
        return False  # bool is an int subclass, but not a JSON number
    return isinstance(value, kinds)


def schema_problems(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """What is wrong with ``value`` against a small subset of JSON Schema.

    Checks ``type``, ``required``, ``properties``, ``items`` and ``enum`` - enough to tell a
    model precisely what to fix, without a schema library.
    """
    problems: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        options = [expected] if isinstance(expected, str) else list(expected)
        if not any(_type_ok(value, t) for t in options):
            return [f"{path} should be {' or '.join(options)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path} should be one of {schema['enum']}, got {value!r}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                problems.append(f"{path} is missing the key {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value and isinstance(sub, Mapping):
                problems.extend(schema_problems(value[key], sub, f"{path}.{key}"))
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            problems.extend(schema_problems(item, schema["items"], f"{path}[{i}]"))
    return problems


def _with_json_instruction(messages: list[Message], schema: Mapping[str, Any]) -> list[Message]:
    instruction = JSON_INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))
    out = [dict(m) for m in messages]
    # Appending to the last user turn keeps strict user/assistant alternation (Anthropic).
    if out[-1]["role"] == "user":
        out[-1]["content"] = f"{out[-1]['content']}\n\n{instruction}"
    else:
        out.append({"role": "user", "content": instruction})
    return out


def _json_dialogue(
    messages: list[Message], schema: Mapping[str, Any], identity: str
) -> Generator[list[Message], str, dict[str, Any]]:
    """The ask -> parse -> repair -> parse exchange, free of I/O.

    Yields the chat to send, receives the model's text, returns the parsed object. The sync
    and async drivers both run it, so the logic exists once.
    """
    prompt = _with_json_instruction(messages, schema)
    answer = yield prompt
    try:
        return parse_json_answer(answer, schema)
    except JSONAnswerError as first:
        logger.info("%s gave an unusable JSON answer (%s); asking once for a repair", identity, first)
        repair = [
            *prompt,
            {"role": "assistant", "content": answer or ""},
            {"role": "user", "content": REPAIR_PROMPT.format(error=first)},
        ]
    answer = yield repair
    try:
        return parse_json_answer(answer, schema)
    except JSONAnswerError as second:
        raise LLMError(f"{identity} gave no usable JSON after one repair: {second}") from second


class BaseLLM(ABC):
    """Base class: implement ``identity`` and ``complete``; the rest is shared.

    Adapters that offer native structured output override :meth:`_complete_structured`
    (and its async twin); returning None means "not available, ask for JSON in text".
    """

    @property
    @abstractmethod
    def identity(self) -> str:
        """Stable provider/model string."""

    @abstractmethod
    def complete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Answer a chat with text.

        Raises:
            LLMError: The call failed.
        """

    async def acomplete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Run :meth:`complete` in a worker thread."""
        return await asyncio.to_thread(self.complete, messages)

    def _complete_structured(self, messages: list[Message], schema: Mapping[str, Any]) -> dict[str, Any] | None:
        """Native structured output, or None when the model has none."""
        return None

    async def _acomplete_structured(
        self, messages: list[Message], schema: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Async :meth:`_complete_structured` (a worker thread by default)."""
        return await asyncio.to_thread(self._complete_structured, messages, schema)

    def _checked_structured(self, value: dict[str, Any] | None, schema: Mapping[str, Any]) -> dict[str, Any] | None:
        if value is None:
            return None
        problems = schema_problems(value, schema)
        if problems:
            # Structured output that still breaks the schema gets the text path's repair.
            logger.info("%s structured output broke the schema (%s); asking in text", self.identity, problems[0])
            return None
        return value

    def complete_json(self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]) -> dict[str, Any]:
        """Answer with a JSON object matching ``schema`` (one repair attempt).

        Raises:
            LLMError: The call failed, or the answer was unusable after the repair.
        """
        chat = check_messages(messages)
        structured = self._checked_structured(self._complete_structured(chat, schema), schema)
        if structured is not None:
            return structured
        dialogue = _json_dialogue(chat, schema, self.identity)
        request = next(dialogue)
        while True:
            try:
                request = dialogue.send(self.complete(request))
            except StopIteration as done:
                return done.value

    async def acomplete_json(
        self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Async :meth:`complete_json`, over the same dialogue."""
        chat = check_messages(messages)
        structured = self._checked_structured(await self._acomplete_structured(chat, schema), schema)
        if structured is not None:
            return structured
        dialogue = _json_dialogue(chat, schema, self.identity)
        request = next(dialogue)
        while True:
            try:
                request = dialogue.send(await self.acomplete(request))
            except StopIteration as done:
                return done.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identity={self.identity!r})"
