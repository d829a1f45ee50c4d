"""``AutoSkillInstrumentation``: LlamaIndex runs captured as AutoSkill events.

LlamaIndex reports what it does through its instrumentation dispatcher: spans (a method
call, with its parent span) and events (LLM calls, retrievals, ...). This module attaches
a span handler and an event handler to the root dispatcher and turns each *run* into the
core's event model:

* a run is a query engine's ``query``/``aquery`` or a workflow's ``run`` (agents such as
  ``FunctionAgent`` and ``AgentWorkflow``) that is not inside another recorded run;
* inside it, retrievals, nested query engines and workflows become child runs
  (``run_start``/``run_end`` with ``parent_run_id``, timing, outputs), tool calls become
  ``tool_call`` events, LLM calls ``llm_call`` events; the request and the answer become
  ``message`` events; a failure becomes an ``error`` event;
* when the run ends, its events go to ``sdk.capture`` as one pending window, with the
  skills it retrieved (through :class:`~autoskill_li.SkillRetriever` or a
  :class:`~autoskill_li.SkillVectorStore`) or loaded (``load_skill``) as ``used_skill_ids``.

Run ids are LlamaIndex span ids (``"RetrieverQueryEngine.query-<uuid>"``). Handlers never
raise into the application: a problem is logged and the application carries on.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.dispatcher import Dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.span import SimpleSpan
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from llama_index.core.tools.types import BaseTool
from llama_index.core.workflow import Workflow

from autoskill.client import AutoSkill
from autoskill.errors import AutoSkillError
from autoskill.learning.windows import FeedbackResult
from autoskill_li import _payloads as p
from autoskill_li.context import Session, current_session, session

__all__ = ["AutoSkillInstrumentation"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_MAX_OPEN_RUNS = 1000  # runs whose root never ended (a leak guard, not a limit in practice)
_LLM_END_EVENTS = ("LLMChatEndEvent", "LLMCompletionEndEvent")


def _never_raise(method: F) -> F:
    """Handlers run inside the application's calls: log a failure, never propagate it."""

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception:
            logger.warning("AutoSkill instrumentation: %s failed", method.__name__, exc_info=True)
            return None

    return guarded  # type: ignore[return-value]


def _kind(instance: Any, method: str) -> str | None:
    """What a span is to us: a ``run`` root candidate, a notable ``child``, or nothing."""
    if isinstance(instance, Workflow) and method == "run":
        return "run"
    if isinstance(instance, BaseQueryEngine) and method in ("query", "aquery"):
        return "run"
    if isinstance(instance, BaseRetriever) and method in ("retrieve", "aretrieve"):
        return "retrieval"
    if isinstance(instance, BaseTool) and method in ("call", "acall"):
        return "tool"
    return None


@dataclass
class _Run:
    """A root run being recorded."""

    root: str  # the root span's id (the run id is its uuid: see ``run_id``)
    user_id: str
    thread_id: str | None
    started: float
    events: list[dict[str, Any]] = field(default_factory=list)
    used: list[str] = field(default_factory=list)
    event_run: dict[str, str] = field(default_factory=dict)  # span -> the run its events belong to
    parent_of: dict[str, str] = field(default_factory=dict)  # child run -> parent run
    span_parent: dict[str, str] = field(default_factory=dict)  # span -> parent span
    started_at: dict[str, float] = field(default_factory=dict)  # child run -> start time
    tool_steps: set[str] = field(default_factory=set)  # spans with a recorded tool call right below

    @property
    def run_id(self) -> str:
        """The run id events and feedback use."""
        return p.span_run_id(self.root)

    def event(self, kind: str, span: str, **fields: Any) -> None:
        """Record an event of the (child) run whose span is ``span``."""
        parent = None if span == self.root else self.parent_of.get(span)
        event = {"type": kind, "run_id": p.span_run_id(span), "ts": time.time(), **fields}
        if parent:
            event["parent_run_id"] = p.span_run_id(parent)
        self.events.append(event)


class _SpanHandler(BaseSpanHandler[SimpleSpan]):
    _owner: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "AutoSkillSpanHandler"

    def span_enter(self, id_: str, bound_args: inspect.BoundArguments, instance: Any = None,
                   parent_id: str | None = None, tags: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._owner._enter(id_, bound_args, instance, parent_id)

    def span_exit(self, id_: str, bound_args: inspect.BoundArguments, instance: Any = None,
                  result: Any = None, **kwargs: Any) -> None:
        self._owner._exit(id_, instance, result, None)

    def span_drop(self, id_: str, bound_args: inspect.BoundArguments, instance: Any = None,
                  err: BaseException | None = None, **kwargs: Any) -> None:
        self._owner._exit(id_, instance, None, err if err is not None else RuntimeError("span dropped"),
                          bound_args=bound_args)

    # The base class keeps spans itself through these; we keep our own records instead.
    def new_span(self, *args: Any, **kwargs: Any) -> SimpleSpan | None:
        return None

    def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> SimpleSpan | None:
        return None

    def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> SimpleSpan | None:
        return None


class _EventHandler(BaseEventHandler):
    _owner: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "AutoSkillEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> None:
        if event.class_name() in _LLM_END_EVENTS:
            self._owner._llm_end(event)


class AutoSkillInstrumentation:
    """Capture LlamaIndex query-engine and agent runs for AutoSkill's learning loop.

    Example::

        instrumentation = AutoSkillInstrumentation(sdk, user_id="u1").attach()
        with instrumentation.session(thread_id="chat-7"):
            query_engine.query("Before each release: tests -> canary -> rollout. How do I release?")
        instrumentation.feedback(score=1.0)          # the last run worked: learn from it
        instrumentation.detach()

    Each run becomes one pending window (nothing is learned until feedback arrives: an
    explicit :meth:`feedback`, or the next user message in the same thread, which the core
    reads when the next run of that thread is captured). The user and thread of a run
    come, in order, from the workflow's run keywords (``agent.run(msg, user_id=...,
    thread_id=...)``), the current :meth:`session`, this handler's ``user_id`` /
    ``thread_id``; without a thread each run is its own thread, released only by
    :meth:`feedback`.

    Thread- and async-safe: shared state is locked, and the session is a context variable,
    so concurrent requests keep their own user. Also a context manager (attach on enter,
    detach on exit).

    Args:
        sdk: The :class:`~autoskill.AutoSkill` to capture into.
        user_id: Default user of the runs.
        thread_id: Default thread of the runs.
        dispatcher: The dispatcher to attach to (default: LlamaIndex's root dispatcher,
            which every component's events propagate to).
        background: Hand finished runs to one worker thread instead of capturing them in
            the application's call (capturing redacts and stores the run: milliseconds of
            CPU). Runs are captured in order; :meth:`flush` waits for them, :meth:`feedback`
            and :meth:`detach` flush first.
    """

    def __init__(self, sdk: AutoSkill, *, user_id: str | None = None, thread_id: str | None = None,
                 dispatcher: Dispatcher | None = None, background: bool = False) -> None:
        self.sdk = sdk
        self.user_id = user_id
        self.thread_id = thread_id
        self.background = background
        self._dispatcher = dispatcher
        self._queue: queue.Queue[_Run | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}  # root run id -> run
        self._spans: dict[str, _Run] = {}  # every recorded span id -> its root run
        self._last_run_id: str | None = None
        self._span_handler = _SpanHandler()
        self._span_handler._owner = self
        self._event_handler = _EventHandler()
        self._event_handler._owner = self

    # -- attaching ----------------------------------------------------------------------------

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher the handlers attach to."""
        return self._dispatcher or get_dispatcher()

    @property
    def attached(self) -> bool:
        """Whether the handlers are attached."""
        return any(h is self._span_handler for h in self.dispatcher.span_handlers)

    def attach(self) -> AutoSkillInstrumentation:
        """Attach the span and event handlers (idempotent); returns self."""
        dispatcher = self.dispatcher
        with self._lock:
            if not any(h is self._span_handler for h in dispatcher.span_handlers):
                dispatcher.add_span_handler(self._span_handler)
            if not any(h is self._event_handler for h in dispatcher.event_handlers):
                dispatcher.add_event_handler(self._event_handler)
        return self

    def detach(self) -> None:
        """Remove the handlers; runs still in progress are dropped (nothing is captured).

        Finished runs waiting for the background worker are captured first.
        """
        self._stop_worker()
        dispatcher = self.dispatcher
        with self._lock:
            # Rebinding the lists (not removing in place) keeps a dispatch that is iterating
            # the old list in another thread safe.
            dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not self._span_handler]
            dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not self._event_handler]
            self._runs.clear()
            self._spans.clear()

    def __enter__(self) -> AutoSkillInstrumentation:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    @staticmethod
    @contextlib.contextmanager
    def session(*, user_id: str | None = None, thread_id: str | None = None) -> Iterator[Session]:
        """Runs started inside the block are ``user_id``'s, in ``thread_id`` (see
        :func:`autoskill_li.session`, which this is)."""
        with session(user_id=user_id, thread_id=thread_id) as current:
            yield current

    # -- feedback -----------------------------------------------------------------------------

    @property
    def last_run_id(self) -> str | None:
        """The id of the last run captured (None before the first)."""
        return self._last_run_id

    def feedback(self, run_id: str | None = None, score: float | bool | None = None, *,
                 comment: str | None = None) -> FeedbackResult:
        """Feedback on a captured run (default: the last one); see :meth:`AutoSkill.feedback`.

        Raises:
            AutoSkillError: No run captured yet, or no such run.
        """
        self.flush()
        target = run_id or self._last_run_id
        if target is None:
            raise AutoSkillError("no run captured yet: nothing to give feedback on")
        return self.sdk.feedback(target, score, comment=comment)

    # -- span and event handling --------------------------------------------------------------

    @_never_raise
    def _enter(self, span_id: str, bound_args: inspect.BoundArguments, instance: Any, parent_id: str | None) -> None:
        name = p.span_name(span_id)
        kind = _kind(instance, name.rsplit(".", 1)[-1])
        with self._lock:
            run = self._spans.get(parent_id) if parent_id else None
            if run is None:
                if kind == "run":
                    self._start_run(span_id, name, bound_args)
                return
            self._spans[span_id] = run
            run.span_parent[span_id] = parent_id  # type: ignore[assignment]
            parent_run = run.event_run.get(parent_id, run.root)  # type: ignore[arg-type]
            if kind is None:
                run.event_run[span_id] = parent_run
                return
            run.event_run[span_id] = span_id
            run.parent_of[span_id] = parent_run
            run.started_at[span_id] = time.perf_counter()
            if kind in ("run", "retrieval"):
                run.event("run_start", span_id, name=name, inputs={"query": p.input_text(bound_args.arguments)})

    def _start_run(self, span_id: str, name: str, bound_args: inspect.BoundArguments) -> None:
        arguments = bound_args.arguments
        start = arguments.get("start_event")
        here = current_session()
        user = (p.start_event_field(start, "user_id") or here.user_id or self.user_id or "default")
        thread = p.start_event_field(start, "thread_id") or here.thread_id or self.thread_id
        run = _Run(root=span_id, user_id=str(user), thread_id=str(thread) if thread else None,
                   started=time.perf_counter())
        run.event_run[span_id] = span_id
        if len(self._runs) >= _MAX_OPEN_RUNS:  # roots that never ended: forget the oldest
            self._forget(self._runs[next(iter(self._runs))])
        self._runs[span_id] = run
        self._spans[span_id] = run
        # The user and thread go to sdk.capture, which stamps every event with them.
        request = p.input_text(arguments)
        run.event("run_start", span_id, name=name, inputs={"query": request})
        if request:
            run.event("message", span_id, role="user", content=request)

    @_never_raise
    def _exit(self, span_id: str, instance: Any, result: Any, error: BaseException | None,
              bound_args: inspect.BoundArguments | None = None) -> None:
        finished: _Run | None = None
        with self._lock:
            run = self._spans.get(span_id)
            if run is None:
                return
            if span_id == run.root:
                finished = self._finish_run(run, result, error)
            else:
                self._finish_child(run, span_id, instance, result, error, bound_args)
        if finished is not None:
            self._submit(finished)

    def _finish_child(self, run: _Run, span_id: str, instance: Any, result: Any, error: BaseException | None,
                      bound_args: inspect.BoundArguments | None) -> None:
        name = p.span_name(span_id)
        kind = _kind(instance, name.rsplit(".", 1)[-1])
        if kind == "tool":
            self._tool_call(run, span_id, instance, result, error, bound_args)
        elif kind is None and type(result).__name__ == "ToolCallResult" and span_id not in run.tool_steps:
            output = result.tool_output  # a workflow step answered without calling a tool ("not found")
            run.event("tool_call", run.event_run.get(span_id, run.root), tool=str(result.tool_name),
                      input=p.jsonable(result.tool_kwargs), output=p.clip(output.content),
                      status="error" if output.is_error else "ok")
        elif kind in ("run", "retrieval"):
            duration = 1000 * (time.perf_counter() - run.started_at.get(span_id, time.perf_counter()))
            outputs: Any
            if kind == "retrieval":
                outputs, skill_ids = p.node_summaries(result)
                run.used.extend(skill_ids)
                outputs = {"nodes": outputs}
            else:
                outputs = {"output": p.output_text(result)}
            fields: dict[str, Any] = {"name": name, "duration_ms": round(duration, 3)}
            if error is not None:
                fields.update(status="error", error=p.clip(f"{type(error).__name__}: {error}"))
            else:
                fields.update(status="ok", outputs=outputs)
            run.event("run_end", span_id, **fields)
        # The span stays mapped until the root ends: LLM streams report their end event
        # after their span has returned.

    def _tool_call(self, run: _Run, span_id: str, instance: Any, result: Any, error: BaseException | None,
                   bound_args: inspect.BoundArguments | None) -> None:
        metadata = getattr(instance, "metadata", None)
        tool = getattr(result, "tool_name", None) or (metadata.get_name() if metadata is not None else "tool")
        # Mark the enclosing workflow step, so that its ToolCallResult is not recorded twice.
        run.tool_steps.add(run.span_parent.get(span_id, ""))
        duration = round(1000 * (time.perf_counter() - run.started_at.get(span_id, time.perf_counter())), 3)
        owner = run.parent_of.get(span_id, run.root)
        if error is not None:
            arguments = bound_args.arguments.get("kwargs") if bound_args is not None else None
            run.event("tool_call", owner, tool=str(tool), input=p.jsonable(arguments), output=None, status="error",
                      error=p.clip(f"{type(error).__name__}: {error}"), duration_ms=duration)
            return
        raw_input = getattr(result, "raw_input", None) or {}
        arguments = raw_input.get("kwargs", raw_input) if isinstance(raw_input, dict) else raw_input
        failed = bool(getattr(result, "is_error", False))
        run.event("tool_call", owner, tool=str(tool), input=p.jsonable(arguments),
                  output=p.clip(getattr(result, "content", result)), status="error" if failed else "ok",
                  duration_ms=duration)

    def _forget(self, run: _Run) -> None:
        self._runs.pop(run.root, None)
        for span in run.event_run:  # every span of the run is there
            self._spans.pop(span, None)

    def _finish_run(self, run: _Run, result: Any, error: BaseException | None) -> _Run:
        self._forget(run)
        duration = round(1000 * (time.perf_counter() - run.started), 3)
        if error is not None:
            message = p.clip(f"{type(error).__name__}: {error}")
            run.event("error", run.root, error=message, error_type=type(error).__name__)
            run.event("run_end", run.root, status="error", error=message, duration_ms=duration)
            return run
        answer = p.output_text(result)
        if answer:  # the answer travels once, as the assistant's message
            run.event("message", run.root, role="assistant", content=answer)
        run.event("run_end", run.root, status="ok", duration_ms=duration)
        return run

    @_never_raise
    def _llm_end(self, event: Any) -> None:
        with self._lock:
            run = self._spans.get(event.span_id) if event.span_id else None
            if run is None:
                return
            owner = run.event_run.get(event.span_id, run.root)
            response = getattr(event, "response", None)
            message = getattr(response, "message", None)
            fields: dict[str, Any] = {"output": p.output_text(response) if response is not None else None}
            if message is not None:
                calls = [b.tool_name for b in getattr(message, "blocks", []) if type(b).__name__ == "ToolCallBlock"]
                if calls:
                    fields["tool_calls"] = calls
            if hasattr(event, "messages"):
                fields["messages"] = p.llm_messages(event.messages)
            else:
                fields["prompt"] = p.clip(getattr(event, "prompt", ""))
            run.event("llm_call", owner, **fields)

    # -- capturing ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the background worker has captured every finished run.

        Returns:
            False when ``timeout`` seconds passed first (always True without a worker).
        """
        if self._worker is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def _submit(self, run: _Run) -> None:
        self._last_run_id = run.run_id
        if not self.background:
            self._capture(run)
            return
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="autoskill-li-capture", daemon=True)
                self._worker.start()
        self._queue.put(run)

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            try:
                if run is None:
                    return
                self._capture(run)
            finally:
                self._queue.task_done()

    def _stop_worker(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join()

    def _capture(self, run: _Run) -> None:
        try:
            used = list(dict.fromkeys([*run.used, *self._loaded_skills(run)]))
            self.sdk.capture(run.events, thread_id=run.thread_id, user_id=run.user_id, used_skill_ids=used)
        except Exception:
            logger.warning("AutoSkill instrumentation: capturing run %s failed", run.run_id, exc_info=True)

    def _loaded_skills(self, run: _Run) -> list[str]:
        """Ids of the skills the run loaded with the ``load_skill`` tool."""
        found = []
        for event in run.events:
            if event["type"] == "tool_call" and event.get("tool") == "load_skill" and event.get("status") == "ok":
                name = (event.get("input") or {}).get("name") if isinstance(event.get("input"), dict) else None
                skill = self.sdk.resolve(name, user_id=run.user_id) if isinstance(name, str) else None
                if skill is not None:
                    found.append(skill.id)
        return found
