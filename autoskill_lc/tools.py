"""The framework-neutral skill tools (:class:`autoskill.SkillTools`) as LangChain tools."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from autoskill.client import AutoSkill

__all__ = ["make_skill_tools"]


def make_skill_tools(
    sdk: AutoSkill,
    *,
    user_id: str | None = None,
    allow_scripts: bool = False,
    **options: Any,
) -> list[BaseTool]:
    """``load_skill``, ``list_skill_resources``, ``read_skill_resource`` (and, when allowed,
    ``execute_skill_script``) acting for ``user_id``.

    Errors come back to the agent as ``"Error: ..."`` text rather than exceptions.

    Args:
        sdk: The :class:`~autoskill.AutoSkill` whose skills the tools see.
        user_id: The user they act for (their skills plus shared libraries).
        allow_scripts: Offer ``execute_skill_script`` (off by default).
        **options: Other :class:`~autoskill.SkillTools` options (``timeout``, ...).
    """
    options.setdefault("errors_as_text", True)
    skill_tools = sdk.tools(user_id=user_id, allow_scripts=allow_scripts, **options)
    return [
        StructuredTool.from_function(
            func=spec["callable"],
            name=spec["name"],
            description=spec["description"],
            args_schema=spec["parameters"],
        )
        for spec in skill_tools.tool_specs()
    ]
