"""``SkillMemory``: relevant skills as chain memory, and each turn captured for learning.

One object serves both kinds of chains:

* **LCEL.** ``SkillMemory`` is a ``Runnable`` (input dict or string -> context string), so
  ``RunnablePassthrough.assign(**{memory.memory_key: memory})`` adds the rendered,
  token-budgeted skills for the current input to the chain's inputs.
* **Classic chains** (``LLMChain``, ``ConversationChain`` from ``langchain-classic``). When
  ``langchain-classic`` is installed, ``SkillMemory(...)`` builds an instance of a subclass
  that is also a ``langchain_classic.base_memory.BaseMemory`` (created on first use), so it
  is accepted as ``memory=``. ``import autoskill_lc`` never imports ``langchain-classic``.

Either way :meth:`SkillMemory.save_context` records the turn (user message + assistant
message, with the ids of the skills it injected) as a pending window: the next user
message in the thread, or ``sdk.feedback(memory.last_run_id, ...)``, decides whether it is
learned from (see ``docs/learning.md``).
"""

from __future__ import annotations

import functools
import threading
import uuid
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import ensure_config
from pydantic import ConfigDict, PrivateAttr

from autoskill.client import AutoSkill
from autoskill.errors import MissingDependencyError
from autoskill.retrieval.context import RenderedContext
from autoskill_lc._common import atraced_context, configurable_scope, input_text, output_text, traced_context

__all__ = ["SkillMemory"]


class SkillMemory(RunnableSerializable[Any, str]):
    """Relevant skills for the current input, as chain memory; each turn is captured.

    LCEL (the memory is a ``Runnable``: input dict -> context string)::

        memory = SkillMemory(sdk=sdk, user_id="alice")
        prompt = ChatPromptTemplate.from_messages([
            ("system", "Follow the relevant skills.\\n\\n{skills}"), ("human", "{input}")])
        chain = RunnablePassthrough.assign(**{memory.memory_key: memory}) | prompt | model
        answer = chain.invoke({"input": question}, config=config)
        memory.save_context({"input": question}, {"output": answer.content}, config=config)

    Classic chains (needs ``langchain-classic``; ``ConversationChain``'s prompt uses
    ``{history}`` and ``{input}``)::

        chain = ConversationChain(llm=llm, memory=SkillMemory(sdk=sdk, user_id="alice",
                                                              memory_key="history"))

    The user and thread come from ``config["configurable"]["user_id"/"thread_id"]`` when
    the memory runs under a config (``invoke(..., config)``, ``save_context(..., config=)``,
    or any enclosing runnable's config), else from the constructor. Without a thread,
    each memory object is one conversation per user. ``clear()`` forgets the skills
    remembered for the next ``save_context``; learned skills stay in the store.

    Args:
        sdk: The :class:`~autoskill.AutoSkill` to read skills from and capture turns into.
        user_id: Default user (``"default"`` when None).
        memory_key: The input variable the context fills (``"history"`` for ConversationChain).
        max_tokens: Token budget of the context (None: no limit).
        k: How many skills to consider.
        thread_id: Default thread (the conversation the turns belong to).
        input_key: The input holding the user's request (default: ``input``, ``question``,
            ``query``, or the only input other than ``memory_key``).
        output_key: The output holding the answer (default: ``output``, ``response``,
            ``text``, ``answer``, ``result``, or the only output).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    sdk: AutoSkill
    user_id: str | None = None
    memory_key: str = "skills"
    max_tokens: int | None = 1500
    k: int = 4
    thread_id: str | None = None
    input_key: str | None = None
    output_key: str | None = None

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _conversation: str = PrivateAttr(default_factory=lambda: uuid.uuid4().hex[:12])
    # (user, thread) -> ids of the skills the last load injected, for the next save_context.
    _injected: dict[tuple[str, str], tuple[str, ...]] = PrivateAttr(default_factory=dict)
    _last_run_id: str | None = PrivateAttr(default=None)

    def __new__(cls, *args: Any, **kwargs: Any) -> SkillMemory:
        # With langchain-classic installed, build the subclass that is also a classic
        # BaseMemory, so ``memory=SkillMemory(...)`` works in LLMChain/ConversationChain.
        if cls is SkillMemory:
            cls = _classic_memory_class() or cls
        return super().__new__(cls)

    @classmethod
    def classic(cls, **kwargs: Any) -> SkillMemory:
        """A ``SkillMemory`` that is a ``langchain_classic`` ``BaseMemory``.

        Raises:
            MissingDependencyError: ``langchain-classic`` is not installed.
        """
        classic = _classic_memory_class()
        if classic is None:
            raise MissingDependencyError("langchain-classic", "SkillMemory in classic chains", extra="classic")
        return classic(**kwargs)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Not serializable: it holds a live :class:`~autoskill.AutoSkill`."""
        return False

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        """``SkillMemory`` (also for the classic subclass)."""
        return super().get_name(suffix, name=name or self.name or "SkillMemory")

    @property
    def last_run_id(self) -> str | None:
        """The run id of the last turn :meth:`save_context` captured (for ``sdk.feedback``)."""
        with self._lock:
            return self._last_run_id

    # -- scope and texts ---------------------------------------------------------------------------

    def _scope(self, config: RunnableConfig | None) -> tuple[str, str]:
        user, thread = configurable_scope(ensure_config(config))
        user = user or self.user_id or "default"
        return user, thread or self.thread_id or f"skill-memory-{self._conversation}-{user}"

    def _query(self, inputs: Any) -> str | None:
        return input_text(inputs, key=self.input_key, exclude=(self.memory_key,))

    def _remember(self, user: str, thread: str, rendered: RenderedContext) -> None:
        with self._lock:
            self._injected[(user, thread)] = tuple(skill.id for skill in rendered.skills)

    # -- Runnable ----------------------------------------------------------------------------------

    def _context(self, inputs: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> str:
        query = self._query(inputs)
        if not query:
            return ""
        user, thread = self._scope(config)
        rendered = traced_context(self.sdk, query, user_id=user, limit=self.k, max_tokens=self.max_tokens,
                                  callbacks=run_manager.get_child())
        self._remember(user, thread, rendered)
        return rendered.text

    async def _acontext(self, inputs: Any, run_manager: AsyncCallbackManagerForChainRun,
                        config: RunnableConfig) -> str:
        query = self._query(inputs)
        if not query:
            return ""
        user, thread = self._scope(config)
        rendered = await atraced_context(self.sdk, query, user_id=user, limit=self.k, max_tokens=self.max_tokens,
                                         callbacks=run_manager.get_child())
        self._remember(user, thread, rendered)
        return rendered.text

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:  # noqa: A002
        """The skills context for ``input`` (a dict of chain inputs, or the request text)."""
        return self._call_with_config(self._context, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:  # noqa: A002
        """Async :meth:`invoke`."""
        return await self._acall_with_config(self._acontext, input, config)

    # -- the classic memory interface --------------------------------------------------------------

    @property
    def memory_variables(self) -> list[str]:
        """The input variable this memory fills: ``[memory_key]``."""
        return [self.memory_key]

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """``{memory_key: context}`` for the request in ``inputs``."""
        query = self._query(inputs)
        if not query:
            return {self.memory_key: ""}
        user, thread = self._scope(None)
        rendered = self.sdk.build_context(query, user_id=user, limit=self.k, max_tokens=self.max_tokens)
        self._remember(user, thread, rendered)
        return {self.memory_key: rendered.text}

    async def aload_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Async :meth:`load_memory_variables`."""
        query = self._query(inputs)
        if not query:
            return {self.memory_key: ""}
        user, thread = self._scope(None)
        rendered = await self.sdk.abuild_context(query, user_id=user, limit=self.k, max_tokens=self.max_tokens)
        self._remember(user, thread, rendered)
        return {self.memory_key: rendered.text}

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, Any], *,
                     config: RunnableConfig | None = None) -> None:
        """Capture the turn (user message, assistant message) as a pending window.

        The window carries the ids of the skills the last load for this user and thread
        injected (``used_skill_ids``), so feedback on the turn is credited to them. A turn
        without a request text is not captured.
        """
        events, user, thread, used = self._turn(inputs, outputs, config)
        if events:
            self.sdk.capture(events, thread_id=thread, user_id=user, used_skill_ids=used)

    async def asave_context(self, inputs: dict[str, Any], outputs: dict[str, Any], *,
                            config: RunnableConfig | None = None) -> None:
        """Async :meth:`save_context`."""
        events, user, thread, used = self._turn(inputs, outputs, config)
        if events:
            await self.sdk.acapture(events, thread_id=thread, user_id=user, used_skill_ids=used)

    def _turn(self, inputs: Any, outputs: Any,
              config: RunnableConfig | None) -> tuple[list[dict[str, Any]], str, str, tuple[str, ...]]:
        user, thread = self._scope(config)
        with self._lock:
            used = self._injected.pop((user, thread), ())
        request = self._query(inputs)
        if not request:
            return [], user, thread, used
        run_id = uuid.uuid4().hex
        events: list[dict[str, Any]] = [{"type": "message", "run_id": run_id, "role": "user", "content": request}]
        answer = output_text(outputs, key=self.output_key)
        if answer:
            events.append({"type": "message", "run_id": run_id, "role": "assistant", "content": answer})
        with self._lock:
            self._last_run_id = run_id
        return events, user, thread, used

    def clear(self) -> None:
        """Forget the skills remembered for the next :meth:`save_context` (learned skills stay)."""
        with self._lock:
            self._injected.clear()

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        self.clear()


@functools.cache
def _classic_memory_class() -> type[SkillMemory] | None:
    """``SkillMemory`` + ``langchain_classic.base_memory.BaseMemory``, or None without it."""
    try:
        from langchain_classic.base_memory import BaseMemory
    except ImportError:
        return None

    class ClassicSkillMemory(SkillMemory, BaseMemory):  # type: ignore[misc]
        """A :class:`SkillMemory` that classic chains accept as ``memory=``."""

    ClassicSkillMemory.__module__ = __name__
    ClassicSkillMemory.__qualname__ = "ClassicSkillMemory"
    return ClassicSkillMemory
