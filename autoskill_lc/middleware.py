"""``SkillMiddleware``: skills in every model call of a ``langchain.agents.create_agent`` agent.

Needs ``langchain`` 1.x (``pip install "autoskill[agents]"``); ``import autoskill_lc``
does not, because ``autoskill_lc.SkillMiddleware`` is loaded on first access.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from autoskill.errors import ConfigError, MissingDependencyError

try:
    from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("langchain", "SkillMiddleware", extra="agents") from exc

from langchain_core.messages import SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
)

from autoskill.client import AutoSkill
from autoskill.registry import SkillRegistry
from autoskill_lc._common import atraced_context, configurable_scope, message_role, message_text, traced_context
from autoskill_lc.tools import make_skill_tools

__all__ = ["SkillMiddleware"]

logger = logging.getLogger(__name__)

_MODES = ("inject", "catalog")


class SkillMiddleware(AgentMiddleware):
    """Put the user's skills into every model call of a ``create_agent`` agent.

    * ``mode="inject"``: the skills relevant to the latest user message, rendered and
      cut to ``max_tokens``, are appended to the system prompt.
    * ``mode="catalog"`` (progressive disclosure): a catalog of the most relevant skills
      (name and description, at most ``catalog_size``, cut to ``max_tokens``) is appended,
      and the middleware contributes the ``load_skill``, ``list_skill_resources`` and
      ``read_skill_resource`` tools (``execute_skill_script`` with ``allow_scripts=True``)
      so the model reads a skill's body only when it needs it.

    Only the request of that one model call changes (``request.override``): nothing is
    written into the agent's state, so the conversation history never accumulates skill
    text. Sync (``invoke``/``stream``) and async (``ainvoke``/``astream``) agents work.
    The user comes from ``config["configurable"]["user_id"]`` per call, else the
    constructor. If skills cannot be read (a store that is down, say), the call proceeds
    without them and a warning is logged.

    Example::

        agent = create_agent(model, tools=[...],
                             middleware=[SkillMiddleware(sdk, user_id="alice", mode="catalog")])
        agent.invoke({"messages": [("user", "Deploy the service")]},
                     config={"configurable": {"user_id": "alice"}})

    Args:
        sdk: The :class:`~autoskill.AutoSkill` to read skills from.
        user_id: Default user.
        mode: ``"inject"`` or ``"catalog"``.
        k: Skills injected in ``inject`` mode.
        max_tokens: Token budget of the added system text.
        catalog_size: Skills listed at most in ``catalog`` mode.
        allow_scripts: Offer ``execute_skill_script`` in ``catalog`` mode.
    """

    def __init__(
        self,
        sdk: AutoSkill,
        user_id: str | None = None,
        mode: str = "inject",
        k: int = 4,
        max_tokens: int | None = 1500,
        *,
        catalog_size: int = 30,
        allow_scripts: bool = False,
    ) -> None:
        if mode not in _MODES:
            raise ConfigError(f"SkillMiddleware mode must be 'inject' or 'catalog', got {mode!r}")
        self.sdk = sdk
        self.user_id = user_id
        self.mode = mode
        self.k = k
        self.max_tokens = max_tokens
        self.catalog_size = catalog_size
        self.tools = make_skill_tools(sdk, user_id=user_id, allow_scripts=allow_scripts) if mode == "catalog" else []

    def __repr__(self) -> str:
        return f"SkillMiddleware(user_id={self.user_id!r}, mode={self.mode!r}, k={self.k}, max_tokens={self.max_tokens})"

    # -- the hooks ---------------------------------------------------------------------------------

    def wrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], ModelResponse],
    ) -> Any:
        """Call the model with the skills added to this request's system message."""
        try:
            section = self._section(request, ensure_config())
        except Exception:
            logger.warning("SkillMiddleware: could not read skills; calling the model without them", exc_info=True)
            section = ""
        return handler(_with_section(request, section))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> Any:
        """Async :meth:`wrap_model_call`."""
        try:
            section = await self._asection(request, ensure_config())
        except Exception:
            logger.warning("SkillMiddleware: could not read skills; calling the model without them", exc_info=True)
            section = ""
        return await handler(_with_section(request, section))

    # -- the skills text ---------------------------------------------------------------------------

    def _user(self, config: RunnableConfig) -> str | None:
        user, _ = configurable_scope(config)
        return user or self.user_id

    def _section(self, request: ModelRequest, config: RunnableConfig) -> str:
        query = _latest_request(request)
        if self.mode == "catalog":
            return self._catalog(query, self._user(config))
        if not query:
            return ""
        return traced_context(self.sdk, query, user_id=self._user(config), limit=self.k, max_tokens=self.max_tokens,
                              callbacks=get_callback_manager_for_config(config)).text

    async def _asection(self, request: ModelRequest, config: RunnableConfig) -> str:
        query = _latest_request(request)
        if self.mode == "catalog":
            return await asyncio.to_thread(self._catalog, query, self._user(config))
        if not query:
            return ""
        rendered = await atraced_context(self.sdk, query, user_id=self._user(config), limit=self.k,
                                         max_tokens=self.max_tokens,
                                         callbacks=get_async_callback_manager_for_config(config))
        return rendered.text

    def _catalog(self, query: str | None, user_id: str | None) -> str:
        if query:
            skills = [hit.skill for hit in self.sdk.search(query, user_id=user_id, limit=self.catalog_size)]
        else:
            skills = self.sdk.list(user_id, scope="all")[: self.catalog_size]
        # The core renders the catalog (the registry's "Available Skills" section); the
        # registry is only the renderer here, it scans nothing.
        return SkillRegistry(warn=False).generate_prompt_section(max_tokens=self.max_tokens, skills=skills)


def _latest_request(request: ModelRequest) -> str | None:
    for message in reversed(request.messages):
        if message_role(message) == "user":
            text = message_text(message).strip()
            if text:
                return text
    return None


def _with_section(request: ModelRequest, section: str) -> ModelRequest:
    """The request with ``section`` appended to its system message (a copy: the agent's
    state is untouched)."""
    if not section:
        return request
    current = request.system_message
    if current is None:
        system = SystemMessage(content=section)
    elif isinstance(current.content, str):
        system = SystemMessage(content=f"{current.content}\n\n{section}" if current.content else section)
    else:
        system = SystemMessage(content=[*current.content, {"type": "text", "text": section}])
    return request.override(system_message=system)
