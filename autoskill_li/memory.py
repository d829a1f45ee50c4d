"""``SkillMemoryBlock``: skills in ``llama_index.core.memory.Memory``, and turns recorded for learning.

Pure helpers (message fingerprints, alignment, turn splitting) sit at the top; the block
is a thin shell that calls the core.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr, field_validator
from llama_index.core.memory.memory import BaseMemoryBlock

from autoskill.client import AutoSkill
from autoskill.retrieval.context import MIN_USEFUL_TOKENS, render_skills_context
from autoskill.store.base import SkillFilter
from autoskill.tokens import count_tokens, truncate_to_tokens
from autoskill_li.context import current_session, resolve_user

__all__ = ["SkillMemoryBlock"]

logger = logging.getLogger(__name__)

# Threads whose recording state is kept (least recently used ones are forgotten).
_MAX_THREADS = 1024

Turn = tuple[str, str]  # (role, text)


def _plain(message: ChatMessage) -> Turn:
    role = getattr(message.role, "value", message.role)
    return str(role), message.content or ""


def _fingerprint(turn: Turn) -> str:
    return hashlib.blake2b(f"{turn[0]}\x1f{turn[1]}".encode(), digest_size=12).hexdigest()


def _drop_restated_input(turns: list[Turn]) -> list[Turn]:
    """Drop a trailing user message that only repeats the current request.

    ``Memory.aget(input=...)`` appends its ``input`` as a user message, and agents pass the
    current request again mid-run (``FunctionAgent`` does after tool calls), so the same
    user text shows up twice with no assistant answer between: it is not a new turn.
    """
    if len(turns) < 2 or turns[-1][0] != "user":
        return turns
    for role, text in reversed(turns[:-1]):
        if role == "user":
            return turns[:-1] if text == turns[-1][1] else turns
        if role == "assistant" and text:
            return turns
    return turns


def consumed_prefix(done: Sequence[str], current: Sequence[str]) -> int:
    """How many messages at the start of ``current`` were already recorded.

    ``done`` holds the fingerprints of recorded messages still in the history; the history
    may have lost messages at its start since (short-term memory flushed them), so the
    longest suffix of ``done`` that starts ``current`` is the recorded part.
    """
    if not done or not current:
        return 0
    for j, fingerprint in enumerate(done):
        if fingerprint != current[0]:
            continue
        overlap = min(len(done) - j, len(current))
        if list(done[j:j + overlap]) == list(current[:overlap]):
            return overlap
    return 0


def closed_turns(turns: Sequence[Turn]) -> tuple[list[list[Turn]], int]:
    """Split unrecorded messages into turns a later user message has closed.

    Returns the closed turns (each from a user message up to the next one) and how many
    messages they span, counting leading messages before the first user message. The last
    turn stays open: its answer may still be coming.
    """
    starts = [i for i, (role, _) in enumerate(turns) if role == "user"]
    if len(starts) < 2:
        return [], starts[0] if starts else 0
    groups = [list(turns[a:b]) for a, b in zip(starts, starts[1:])]
    return groups, starts[-1]


@dataclass
class _ThreadState:
    done: list[str] = field(default_factory=list)
    used: list[str] = field(default_factory=list)
    cached: tuple[str, str, str] | None = None  # (user, query, context)


class SkillMemoryBlock(BaseMemoryBlock[str]):
    """Relevant skills for the conversation, within a token budget; turns recorded for learning.

    Put it in a ``Memory``: ``Memory.from_defaults(memory_blocks=[SkillMemoryBlock(sdk=sdk,
    user_id="u1")])``. On every ``memory.get()`` it renders the skills relevant to the
    latest user message (``max_tokens`` at most; shared libraries included) into the
    memory's system message.

    Recording. A ``Memory`` hands its blocks messages only when short-term memory
    overflows, so waiting for ``put`` would miss most turns. ``_aget`` instead sees the
    whole current history on every ``memory.get()`` (agents and chat engines call it each
    turn), so this block records there: each turn (a user message and the replies up to the
    next user message) is passed to ``sdk.capture`` once the next user message has
    arrived, as one pending window in the thread. Messages are deduplicated by content and
    position (the recorded part of the history is aligned with what was recorded before,
    also after short-term memory has flushed its start), so a turn is captured exactly once
    however often ``get`` runs; a request an agent restates mid-run is not a new turn. The
    core then treats the next user message as feedback for the previous turn, and credits
    the skills injected during a turn to it. The last turn of a conversation waits for a
    next message (or expires). Recording state lives in the block (per thread, in memory).
    Set ``capture=False`` when an :class:`~autoskill_li.AutoSkillInstrumentation` already
    records the same conversation.

    The user is the ``user_id=`` keyword of ``memory.get()`` (which passes keywords to its
    blocks), else the current :func:`~autoskill_li.session`'s, else ``user_id``; the thread
    likewise ``thread_id=``, the session's, ``thread_id``, else the memory's ``session_id``.

    Args:
        sdk: The :class:`~autoskill.AutoSkill` to search and record into.
        user_id: Default user.
        thread_id: Default thread (else the memory's session id).
        k: Skills retrieved per turn.
        max_tokens: Token budget of the rendered skills.
        scope: ``"all"``, ``"user"`` or ``"library"``.
        min_score: Drop skills scoring below this.
        capture: Record turns for deferred learning.
    """

    name: str = Field(default="skills", description="The name of the memory block.")
    description: str | None = Field(default="Skills relevant to the conversation.")
    priority: int = Field(default=1, description="Truncated before blocks of priority 0 when over budget.")
    accept_short_term_memory: bool = Field(default=False, description="Turns are recorded in get(), not put().")
    sdk: AutoSkill = Field(exclude=True)
    user_id: str | None = None
    thread_id: str | None = None
    k: int = 3
    max_tokens: int = 800
    scope: str = "all"
    min_score: float | None = None
    capture: bool = True

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _threads: OrderedDict[str, _ThreadState] = PrivateAttr(default_factory=OrderedDict)

    @field_validator("scope")
    @classmethod
    def _check_scope(cls, value: str) -> str:
        return SkillFilter(scope=value).scope  # ConfigError on anything else; "common" -> "library"

    def _thread(self, block_kwargs: dict[str, Any]) -> str:
        return (block_kwargs.get("thread_id") or current_session().thread_id or self.thread_id
                or block_kwargs.get("session_id") or "default")

    def _state(self, thread: str) -> _ThreadState:
        state = self._threads.pop(thread, None) or _ThreadState()
        self._threads[thread] = state
        while len(self._threads) > _MAX_THREADS:
            self._threads.popitem(last=False)
        return state

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        user = resolve_user(block_kwargs.get("user_id"), self.user_id)
        thread = self._thread(block_kwargs)
        turns = _drop_restated_input([_plain(m) for m in messages or []])
        if self.capture and turns:
            try:
                await self._record(turns, user, thread)
            except Exception:  # learning is a side effect: never break the conversation
                logger.warning("SkillMemoryBlock could not record turns of thread %s", thread, exc_info=True)
        query = next((text for role, text in reversed(turns) if role == "user" and text.strip()), "")
        return await self._context(query, user, thread) if query else ""

    async def _record(self, turns: list[Turn], user: str, thread: str) -> None:
        fingerprints = [_fingerprint(t) for t in turns]
        with self._lock:  # bookkeeping first, so a concurrent get cannot capture a turn twice
            state = self._state(thread)
            start = consumed_prefix(state.done, fingerprints)
            groups, span = closed_turns(turns[start:])
            state.done = fingerprints[:start + span]
            used = list(state.used) if groups else []
            if groups:
                state.used = []
        for position, group in enumerate(groups):
            events = self._events(group, user, thread)
            if not events:
                continue
            # Skills injected while a turn was open are credited to that (the last closed) turn.
            credit = used if position == len(groups) - 1 else []
            await self.sdk.acapture(events, thread_id=thread, user_id=user, used_skill_ids=credit)

    @staticmethod
    def _events(group: list[Turn], user: str, thread: str) -> list[dict[str, Any]]:
        run_id = uuid.uuid4().hex
        now = time.time()
        return [{"type": "message", "run_id": run_id, "thread_id": thread, "user_id": user, "role": role,
                 "content": text, "ts": now} for role, text in group if role in ("user", "assistant") and text]

    async def _context(self, query: str, user: str, thread: str) -> str:
        with self._lock:
            cached = self._state(thread).cached
        if cached is not None and cached[:2] == (user, query):
            return cached[2]  # same turn asked again (agents call get() at every step)
        text, ids = await asyncio.to_thread(self._render, query, user)
        with self._lock:
            state = self._state(thread)
            state.cached = (user, query, text)
            state.used = list(dict.fromkeys([*state.used, *ids]))
        return text

    def _render(self, query: str, user: str) -> tuple[str, list[str]]:
        # sdk.render_context, composed from its parts so that the ids of the injected skills
        # are known (they are credited with the feedback on this turn).
        hits = self.sdk.search(query, user_id=user, limit=self.k, scope=self.scope, min_score=self.min_score)
        rendered = render_skills_context(hits, max_tokens=self.max_tokens)
        ids = [skill.id for skill in rendered.skills]
        self.sdk.store.record_usage(ids, injections=1)
        return rendered.text, ids

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Nothing to do: turns are recorded in ``get`` (see the class docstring)."""

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        """Cut the rendered skills by ``tokens_to_truncate`` tokens (None when too little is left)."""
        keep = count_tokens(content) - tokens_to_truncate
        if keep < MIN_USEFUL_TOKENS:
            return None
        return truncate_to_tokens(content, keep)
