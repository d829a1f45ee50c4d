"""The per-call user and thread every AutoSkill component in a LlamaIndex app reads.

LlamaIndex's ``retrieve()``, ``query()`` and ``memory.get()`` take no user argument, so a
user or thread that changes per request travels in a context variable instead: set it
with :func:`session` around the call. Context variables follow ``asyncio`` tasks and
LlamaIndex's own worker threads, so concurrent requests never see each other's user.

Precedence everywhere: a keyword argument of the call > the current :func:`session` >
the component's constructor > ``"default"``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Session", "current_session", "resolve_user", "session"]


@dataclass(frozen=True)
class Session:
    """Who and which conversation the current call is for (None: not set)."""

    user_id: str | None = None
    thread_id: str | None = None


_CURRENT: ContextVar[Session] = ContextVar("autoskill_li_session", default=Session())


def current_session() -> Session:
    """The session set by the innermost :func:`session` block (empty outside any)."""
    return _CURRENT.get()


@contextlib.contextmanager
def session(*, user_id: str | None = None, thread_id: str | None = None) -> Iterator[Session]:
    """Act for ``user_id`` in ``thread_id`` inside the block (unset fields are inherited).

    Example::

        with autoskill_li.session(user_id="u2", thread_id="chat-7"):
            query_engine.query("How do I deploy?")
    """
    outer = _CURRENT.get()
    inner = Session(user_id=user_id if user_id is not None else outer.user_id,
                    thread_id=thread_id if thread_id is not None else outer.thread_id)
    token = _CURRENT.set(inner)
    try:
        yield inner
    finally:
        _CURRENT.reset(token)


def resolve_user(explicit: str | None, default: str | None) -> str:
    """The acting user: ``explicit`` > current session > ``default`` > ``"default"``."""
    return explicit or _CURRENT.get().user_id or default or "default"
