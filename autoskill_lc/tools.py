"""The framework-neutral skill tools (:class:`autoskill.SkillTools`) as LangChain tools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables.config import ensure_config
from langchain_core.tools import BaseTool, BaseToolkit, StructuredTool
from pydantic import ConfigDict

from autoskill.client import AutoSkill
from autoskill_lc._common import configurable_scope

__all__ = ["SkillToolkit", "make_skill_tools"]


def make_skill_tools(
    sdk: AutoSkill,
    *,
    user_id: str | None = None,
    allow_scripts: bool = False,
    **options: Any,
) -> list[BaseTool]:
    """``load_skill``, ``list_skill_resources``, ``read_skill_resource`` (and, when allowed,
    ``execute_skill_script``) acting for ``user_id``.

    Errors come back to the agent as ``"Error: ..."`` text rather than exceptions. When a
    tool runs under a config with ``configurable["user_id"]`` (an agent invoked with
    ``config={"configurable": {"user_id": ...}}``), it acts for that user instead.

    Args:
        sdk: The :class:`~autoskill.AutoSkill` whose skills the tools see.
        user_id: The user they act for (their skills plus shared libraries).
        allow_scripts: Offer ``execute_skill_script`` (off by default).
        **options: Other :class:`~autoskill.SkillTools` options (``timeout``, ...).
    """
    options.setdefault("errors_as_text", True)
    skill_tools = sdk.tools(user_id=user_id, allow_scripts=allow_scripts, **options)

    def for_call(method: str) -> Callable[..., Any]:
        def run(**arguments: Any) -> Any:
            # The tool runs inside its own run's config (BaseTool.run sets it), so a
            # per-call user is visible here.
            caller, _ = configurable_scope(ensure_config())
            tools = skill_tools if not caller or caller == user_id else \
                sdk.tools(user_id=caller, allow_scripts=allow_scripts, **options)
            return getattr(tools, method)(**arguments)

        return run

    return [
        StructuredTool.from_function(
            func=for_call(spec["callable"].__name__),
            name=spec["name"],
            description=spec["description"],
            args_schema=spec["parameters"],
        )
        for spec in skill_tools.tool_specs()
    ]


class SkillToolkit(BaseToolkit):
    """The skill tools as a LangChain toolkit.

    ``SkillToolkit(sdk=sdk, user_id="alice").get_tools()`` gives ``load_skill``,
    ``list_skill_resources`` and ``read_skill_resource``; ``execute_skill_script`` only
    with ``allow_scripts=True`` (it runs files from a skill's ``scripts/`` folder, with a
    time limit). See :func:`make_skill_tools`.

    Args:
        sdk: The :class:`~autoskill.AutoSkill` whose skills the tools see.
        user_id: The user they act for (a per-call ``configurable["user_id"]`` overrides it).
        allow_scripts: Offer ``execute_skill_script``.
        timeout: Seconds a skill script may run.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    sdk: AutoSkill
    user_id: str | None = None
    allow_scripts: bool = False
    timeout: float = 30.0

    def get_tools(self) -> list[BaseTool]:
        """The tools, acting for :attr:`user_id`."""
        return make_skill_tools(self.sdk, user_id=self.user_id, allow_scripts=self.allow_scripts,
                                timeout=self.timeout)
