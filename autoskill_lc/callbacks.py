"""``AutoSkillCallbackHandler``: capture LangChain runs as AutoSkill events.

A ``BaseTracer`` builds each run tree as the run happens; when a root run (a chain, an
agent, or a bare model call) ends, :meth:`AutoSkillCallbackHandler._persist_run` turns the
finished tree into events and hands them to ``sdk.capture`` once. The run then waits as a
pending window: the next user message in its thread, or :meth:`~AutoSkillCallbackHandler.feedback`,
decides whether it is learned from (``docs/learning.md``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any
from uuid import UUID

from langchain_core.documents import Document
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from autoskill.client import AutoSkill
from autoskill.errors import ConfigError
from autoskill.learning.windows import FeedbackResult
from autoskill_lc._common import configurable_scope, input_text, jsonable, message_role, message_text, output_text

__all__ = ["AutoSkillCallbackHandler", "run_to_events"]

logger = logging.getLogger(__name__)

# Root runs of these types are captured (a root retriever, tool, prompt or parser run is
# not a conversation turn).
_CAPTURED_ROOTS = frozenset({"chain", "llm", "chat_model"})
_LLM_TYPES = frozenset({"llm", "chat_model"})
# Traces whose root never ended keep a little state; cap it.
_MAX_OPEN_TRACES = 10_000

_ACTIVE: ContextVar[AutoSkillCallbackHandler | None] = ContextVar("autoskill_lc_active_handler", default=None)
_hook_lock = threading.Lock()
_hook_registered = False


def _ts(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _duration_ms(run: Run) -> float | None:
    if run.start_time is None or run.end_time is None:
        return None
    return round((run.end_time - run.start_time).total_seconds() * 1000.0, 3)


def _error_of(run: Run, errors: Mapping[str, tuple[str, str]]) -> tuple[str, str | None] | None:
    """``(message, type name)`` of a failed run, else None."""
    if not run.error:
        return None
    noted = errors.get(str(run.id))
    if noted is not None:
        kind, message = noted
        return (message or kind or "error"), kind
    first = run.error.strip().splitlines()[0] if run.error.strip() else "error"
    return first, None


def _llm_messages(run: Run) -> list[dict[str, str]] | None:
    batches = (run.inputs or {}).get("messages")
    if not isinstance(batches, list) or not batches:
        return None
    batch = batches[0] if isinstance(batches[0], list) else batches
    return [{"role": message_role(m) or "user", "content": message_text(m)} for m in batch]


def _llm_output(run: Run) -> tuple[str | None, list[dict[str, Any]]]:
    generations = (run.outputs or {}).get("generations")
    if not isinstance(generations, list) or not generations or not generations[0]:
        return None, []
    first = generations[0][0] if isinstance(generations[0], list) else generations[0]
    if not isinstance(first, Mapping):
        return None, []
    message = first.get("message") if isinstance(first.get("message"), Mapping) else {}
    text = first.get("text") or message_text(message) or None
    calls = [{"name": c.get("name"), "args": jsonable(c.get("args"))}
             for c in (message.get("tool_calls") or []) if isinstance(c, Mapping)]
    return text, calls


def _model_name(run: Run) -> str | None:
    params = run.extra.get("invocation_params") or {}
    metadata = run.extra.get("metadata") or {}
    name = params.get("model") or params.get("model_name") or metadata.get("ls_model_name") or run.name
    return str(name) if name else None


def _tool_input(run: Run) -> Any:
    inputs = run.inputs or {}
    return jsonable(inputs["input"] if set(inputs) == {"input"} else inputs)


def _tool_output(run: Run) -> Any:
    output = (run.outputs or {}).get("output")
    if output is not None and message_role(output) == "tool":
        return jsonable(message_text(output))
    return jsonable(output)


def _documents(run: Run) -> list[Any]:
    documents = (run.outputs or {}).get("documents")
    return list(documents) if isinstance(documents, list) else []


def _root_request(run: Run) -> str | None:
    inputs = run.inputs or {}
    if run.run_type in _LLM_TYPES:
        messages = _llm_messages(run)
        if messages:
            return next((m["content"] for m in reversed(messages) if m["role"] == "user" and m["content"]), None)
        prompts = inputs.get("prompts")
        return str(prompts[0]) if isinstance(prompts, list) and prompts else None
    return input_text(inputs)


def _root_answer(run: Run) -> str | None:
    if run.run_type in _LLM_TYPES:
        return _llm_output(run)[0]
    return output_text(run.outputs)


def _children(run: Run) -> list[Run]:
    return sorted(run.child_runs, key=lambda r: (r.dotted_order or "", r.start_time))


def run_to_events(
    root: Run,
    *,
    errors: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Turn a finished run tree into AutoSkill events.

    The first event is the user's message (the root's request text, when there is one);
    then the runs in order: ``run_start``/``run_end`` for chains and retrievers,
    ``llm_call`` for model calls, ``tool_call`` for tools (``ok``/``error``); the root's
    answer as an assistant message; an ``error`` event when the root failed. Every event
    carries ``run_id``, ``parent_run_id`` and ``ts``; ends carry ``duration_ms``.

    Args:
        root: The finished root run.
        errors: ``run id -> (exception type name, message)`` noted when runs failed.

    Returns:
        ``(events, skill ids retrieved, names passed to successful load_skill calls)``.
    """
    errors = errors or {}
    events: list[dict[str, Any]] = []
    retrieved: list[str] = []
    loaded: list[str] = []
    request = _root_request(root)
    if request:
        events.append({"type": "message", "run_id": str(root.id), "role": "user", "content": request,
                       "ts": _ts(root.start_time)})

    def walk(run: Run, parent: str | None) -> None:
        run_id = str(run.id)
        is_root = run is root
        failure = _error_of(run, errors)
        # Every string is redacted before it is stored, so events carry no redundant text
        # (the kind of run is in the event type; names go on run_start only).
        common: dict[str, Any] = {"run_id": run_id}
        if parent is not None:
            common["parent_run_id"] = parent
        if run.run_type in _LLM_TYPES:
            text, calls = _llm_output(run)
            event = {**common, "type": "llm_call", "ts": _ts(run.start_time), "model": _model_name(run),
                     "output": text, "duration_ms": _duration_ms(run)}
            messages = _llm_messages(run)
            if messages is not None:
                event["messages"] = messages
            elif isinstance((run.inputs or {}).get("prompts"), list) and run.inputs["prompts"]:
                event["prompt"] = str(run.inputs["prompts"][0])
            if calls:
                event["tool_calls"] = calls
            if failure:
                event.update(status="error", error=failure[0], error_type=failure[1])
            events.append(event)
        elif run.run_type == "tool":
            event = {**common, "type": "tool_call", "tool": run.name or "tool", "ts": _ts(run.start_time),
                     "input": _tool_input(run), "output": None if failure else _tool_output(run),
                     "status": "error" if failure else "ok", "duration_ms": _duration_ms(run)}
            if failure:
                event.update(error=failure[0], error_type=failure[1])
            elif run.name == "load_skill" and isinstance(event["input"], Mapping) \
                    and isinstance(event["input"].get("name"), str):
                output = event["output"]
                if not (isinstance(output, str) and output.startswith("Error:")):
                    loaded.append(event["input"]["name"])
            events.append(event)
        else:
            start: dict[str, Any] = {**common, "type": "run_start", "ts": _ts(run.start_time), "name": run.name}
            if run.run_type != "chain":
                start["run_type"] = run.run_type
            if is_root:
                start["inputs"] = jsonable(run.inputs)
            elif run.run_type == "retriever":
                start["inputs"] = {"query": jsonable((run.inputs or {}).get("query"))}
            events.append(start)
            for child in _children(run):
                walk(child, run_id)
            end: dict[str, Any] = {**common, "type": "run_end", "ts": _ts(run.end_time),
                                   "status": "error" if failure else "ok", "duration_ms": _duration_ms(run)}
            if run.run_type == "retriever":
                end["run_type"] = "retriever"
                found = []
                for doc in _documents(run):
                    metadata = doc.metadata if isinstance(doc, Document) else {}
                    skill_id = metadata.get("skill_id")
                    if isinstance(skill_id, str) and skill_id:
                        retrieved.append(skill_id)
                    found.append({"id": getattr(doc, "id", None), "skill_id": skill_id})
                end["outputs"] = {"documents": found}
            if failure:
                end.update(error=failure[0], error_type=failure[1])
            if is_root:
                _close_root(run, failure, end)
                return
            events.append(end)
            return
        if is_root:
            _close_root(run, failure, None)

    def _close_root(run: Run, failure: tuple[str, str | None] | None, end: dict[str, Any] | None) -> None:
        if failure:
            events.append({"type": "error", "run_id": str(run.id), "error": failure[0], "error_type": failure[1],
                           "ts": _ts(run.end_time)})
        else:
            answer = _root_answer(run)
            if answer:
                events.append({"type": "message", "run_id": str(run.id), "role": "assistant", "content": answer,
                               "ts": _ts(run.end_time)})
        if end is not None:
            end["outputs"] = jsonable(run.outputs)
            events.append(end)

    walk(root, None)
    return events, list(dict.fromkeys(retrieved)), list(dict.fromkeys(loaded))


class AutoSkillCallbackHandler(BaseTracer):
    """Capture LangChain runs for AutoSkill's deferred, feedback-gated learning.

    Attach it per call, ``chain.invoke(x, config={"callbacks": [handler]})``, or to
    every run in a block with ``with handler.capture_all(): ...``. Each ROOT run (chain,
    agent, or bare model call) is captured once when it ends, with its inputs and
    outputs, model calls, tool calls (``ok``/``error``), retrieved skills, errors,
    timing and parent/child structure. The first event is the user's request, so it
    gives feedback on the previous run of the same thread. Skills a retriever returned
    (``SkillRetriever``, a ``SkillVectorStore`` retriever, ``SkillMemory``'s injection)
    or that a ``load_skill`` call read become the run's ``used_skill_ids``.

    User and thread per call: ``config["configurable"]["user_id"/"thread_id"]`` (read
    from the config the run's steps execute under), else ``config["metadata"]`` (classic
    chains do not expose their config, but their metadata reaches the run), else the
    constructor. Without a thread, each root run is its own thread: only
    :meth:`feedback` can then release it.

    It never raises into the user's chain: failures (a store that is down, say) are
    logged as warnings. Thread- and async-safe.

    Args:
        sdk: The :class:`~autoskill.AutoSkill` to capture into.
        user_id: Default user.
        thread_id: Default thread.
    """

    name = "autoskill_callback_handler"
    raise_error = False

    def __init__(self, sdk: AutoSkill, user_id: str | None = None, thread_id: str | None = None) -> None:
        super().__init__(_schema_format="original+chat")
        self.sdk = sdk
        self.user_id = user_id
        self.thread_id = thread_id
        self._lock = threading.Lock()
        self._scopes: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self._errors: dict[str, tuple[str, str]] = {}
        self._last_run_id: str | None = None
        self._last_window_id: str | None = None

    def __repr__(self) -> str:
        return f"AutoSkillCallbackHandler(user_id={self.user_id!r}, thread_id={self.thread_id!r})"

    @property
    def last_run_id(self) -> str | None:
        """The id of the last root run captured (None before the first)."""
        with self._lock:
            return self._last_run_id

    @property
    def last_window_id(self) -> str | None:
        """The pending window of the last root run captured."""
        with self._lock:
            return self._last_window_id

    # -- feedback --------------------------------------------------------------------------------

    def feedback(self, run_id: str | UUID | None = None, score: float | bool | None = None, *,
                 comment: str | None = None) -> FeedbackResult:
        """Feedback on a captured run (``run_id`` None: the last one); see ``AutoSkill.feedback``.

        Raises:
            ConfigError: No run was captured yet and no ``run_id`` was given.
        """
        target = str(run_id) if run_id is not None else self.last_run_id
        if target is None:
            raise ConfigError("no run captured yet: pass run_id= or run a chain with this handler first")
        return self.sdk.feedback(target, score, comment=comment)

    async def afeedback(self, run_id: str | UUID | None = None, score: float | bool | None = None, *,
                        comment: str | None = None) -> FeedbackResult:
        """Async :meth:`feedback`."""
        target = str(run_id) if run_id is not None else self.last_run_id
        if target is None:
            raise ConfigError("no run captured yet: pass run_id= or run a chain with this handler first")
        return await self.sdk.afeedback(target, score, comment=comment)

    # -- attaching to everything ------------------------------------------------------------------

    @contextmanager
    def capture_all(self) -> Iterator[AutoSkillCallbackHandler]:
        """Capture every LangChain run started in this block (and its threads and tasks)."""
        _register_hook()
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    # -- tracer hooks -----------------------------------------------------------------------------

    def _start_trace(self, run: Run) -> None:
        super()._start_trace(run)
        try:
            # The configurable keys never reach a handler's runs; the config a run's steps
            # execute under is in this context variable when its children start.
            config = var_child_runnable_config.get()
            if not config:
                return
            user, thread = configurable_scope(config)
            if user or thread:
                key = str(run.trace_id or run.id)
                with self._lock:
                    if key not in self._scopes:
                        self._scopes[key] = (user, thread)
                        while len(self._scopes) > _MAX_OPEN_TRACES:
                            self._scopes.popitem(last=False)
        except Exception:  # never break the user's chain for bookkeeping
            logger.debug("AutoSkill: could not read the run's config", exc_info=True)

    def _note_error(self, run_id: UUID, error: BaseException) -> None:
        try:
            with self._lock:
                if len(self._errors) < _MAX_OPEN_TRACES:
                    self._errors[str(run_id)] = (type(error).__name__, str(error))
        except Exception:
            logger.debug("AutoSkill: could not note an error", exc_info=True)

    def on_chain_error(self, error: BaseException, *args: Any, run_id: UUID, **kwargs: Any) -> Run:
        """Note the exception's type, then record the failure."""
        self._note_error(run_id, error)
        return super().on_chain_error(error, *args, run_id=run_id, **kwargs)

    def on_llm_error(self, error: BaseException, *args: Any, run_id: UUID, **kwargs: Any) -> Run:
        """Note the exception's type, then record the failure."""
        self._note_error(run_id, error)
        return super().on_llm_error(error, *args, run_id=run_id, **kwargs)

    def on_tool_error(self, error: BaseException, *args: Any, run_id: UUID, **kwargs: Any) -> Run:
        """Note the exception's type, then record the failure."""
        self._note_error(run_id, error)
        return super().on_tool_error(error, *args, run_id=run_id, **kwargs)

    def on_retriever_error(self, error: BaseException, *args: Any, run_id: UUID, **kwargs: Any) -> Run:
        """Note the exception's type, then record the failure."""
        self._note_error(run_id, error)
        return super().on_retriever_error(error, *args, run_id=run_id, **kwargs)

    def _persist_run(self, run: Run) -> None:
        try:
            self._capture(run)
        except Exception:
            logger.warning("AutoSkill could not capture run %s; the run itself is unaffected", run.id, exc_info=True)

    def _pop_errors(self, run: Run) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        stack = [run]
        with self._lock:
            while stack:
                current = stack.pop()
                noted = self._errors.pop(str(current.id), None)
                if noted is not None:
                    found[str(current.id)] = noted
                stack.extend(current.child_runs)
        return found

    def _capture(self, run: Run) -> None:
        errors = self._pop_errors(run)
        with self._lock:
            user, thread = self._scopes.pop(str(run.trace_id or run.id), (None, None))
        if run.run_type not in _CAPTURED_ROOTS:
            return
        metadata = run.extra.get("metadata") or {}
        user = user or _text(metadata.get("user_id")) or self.user_id
        thread = thread or _text(metadata.get("thread_id")) or self.thread_id
        events, retrieved, loaded = run_to_events(run, errors=errors)
        used = list(retrieved)
        for name in loaded:
            skill = self.sdk.resolve(name, user_id=user)
            if skill is not None:
                used.append(skill.id)
        window_id = self.sdk.capture(events, thread_id=thread, user_id=user, used_skill_ids=list(dict.fromkeys(used)))
        with self._lock:
            self._last_run_id = str(run.id)
            self._last_window_id = window_id


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None


def _register_hook() -> None:
    """Let :meth:`AutoSkillCallbackHandler.capture_all` add its handler to every run
    (registered on first use, never at import)."""
    global _hook_registered
    with _hook_lock:
        if not _hook_registered:
            from langchain_core.tracers.context import register_configure_hook

            register_configure_hook(_ACTIVE, inheritable=True)
            _hook_registered = True
