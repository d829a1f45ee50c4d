"""The framework-neutral skill tools (:class:`autoskill.SkillTools`) as LlamaIndex tools.

:class:`SkillToolSpec` is a ``BaseToolSpec`` whose ``to_tool_list()`` gives ``load_skill``,
``list_skill_resources``, ``read_skill_resource`` and, only when scripts are allowed,
``execute_skill_script`` as ``FunctionTool`` objects. Names, descriptions and argument
schemas come from :meth:`SkillTools.tool_specs`, so both integrations offer the same tools.
"""

from __future__ import annotations

import json
from typing import Any

from llama_index.core.bridge.pydantic import BaseModel, Field, create_model
from llama_index.core.tools import FunctionTool
from llama_index.core.tools.tool_spec.base import SPEC_FUNCTION_TYPE, BaseToolSpec
from llama_index.core.tools.types import ToolMetadata

from autoskill.client import AutoSkill
from autoskill.tools import SkillTools
from autoskill_li.context import resolve_user

__all__ = ["SkillToolSpec", "make_skill_tools"]

_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}


def _field_type(schema: dict[str, Any]) -> Any:
    if schema.get("type") == "array":
        return list[_JSON_TYPES.get(schema.get("items", {}).get("type", "string"), str)]  # type: ignore[misc]
    return _JSON_TYPES.get(schema.get("type", "string"), str)


def _schema_model(name: str, parameters: dict[str, Any]) -> type[BaseModel]:
    """A pydantic model for a tool's JSON-schema parameters (what ``FunctionTool`` wants)."""
    required = set(parameters.get("required", ()))
    fields: dict[str, Any] = {}
    for key, prop in parameters.get("properties", {}).items():
        kind = _field_type(prop)
        if key in required:
            fields[key] = (kind, Field(description=prop.get("description")))
        else:
            fields[key] = (kind | None, Field(default=None, description=prop.get("description")))
    return create_model(name, **fields)


def _as_text(value: Any) -> str:
    # Agents read text: lists one per line, dicts (script results) as JSON.
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(map(str, value)) or "(none)"
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class SkillToolSpec(BaseToolSpec):
    """The skill tools acting for a user, as a LlamaIndex tool spec.

    Errors come back to the agent as ``"Error: ..."`` text rather than exceptions. The user
    is the current :func:`autoskill_li.session`'s when one is active, else ``user_id``.

    Args:
        sdk: The :class:`~autoskill.AutoSkill` whose skills the tools see.
        user_id: The user they act for (their skills plus shared libraries).
        allow_scripts: Offer ``execute_skill_script`` (off by default).
        **options: Other :class:`~autoskill.SkillTools` options (``timeout``, ...).
    """

    def __init__(self, sdk: AutoSkill, *, user_id: str | None = None, allow_scripts: bool = False,
                 **options: Any) -> None:
        options.setdefault("errors_as_text", True)
        self.sdk = sdk
        self.user_id = user_id
        self.allow_scripts = allow_scripts
        self._options = options
        self._specs = {spec["name"]: spec for spec in self._tools().tool_specs()}
        self.spec_functions: list[SPEC_FUNCTION_TYPE] = list(self._specs)

    def _tools(self) -> SkillTools:
        # Built per call: cheap, and it lets a session change the acting user.
        return self.sdk.tools(user_id=resolve_user(None, self.user_id), allow_scripts=self.allow_scripts,
                              **self._options)  # type: ignore[no-any-return]

    def load_skill(self, name: str) -> str:
        """Load a skill's full instructions, description, version and resource list."""
        return _as_text(self._tools().load_skill(name))

    def list_skill_resources(self, name: str) -> str:
        """List a skill's resource files, one path per line."""
        return _as_text(self._tools().list_skill_resources(name))

    def read_skill_resource(self, name: str, path: str) -> str:
        """Read one resource file of a skill as text."""
        return _as_text(self._tools().read_skill_resource(name, path))

    def execute_skill_script(self, name: str, script: str, args: list[str] | None = None,
                             stdin: str | None = None) -> str:
        """Run a script from a skill's scripts/ folder (only when scripts are allowed)."""
        return _as_text(self._tools().execute_skill_script(name, script, args, stdin))

    def get_fn_schema_from_fn_name(self, fn_name: str,
                                   spec_functions: list[SPEC_FUNCTION_TYPE] | None = None) -> type[BaseModel] | None:
        """The argument model of a tool, from the core's JSON schema."""
        spec = self._specs.get(fn_name)
        return None if spec is None else _schema_model(fn_name, spec["parameters"])

    def get_metadata_from_fn_name(self, fn_name: str,
                                  spec_functions: list[SPEC_FUNCTION_TYPE] | None = None) -> ToolMetadata | None:
        """Name, the core's description and the argument model of a tool."""
        spec = self._specs.get(fn_name)
        if spec is None:
            return None
        return ToolMetadata(name=fn_name, description=spec["description"],
                            fn_schema=self.get_fn_schema_from_fn_name(fn_name))


def make_skill_tools(sdk: AutoSkill, *, user_id: str | None = None, allow_scripts: bool = False,
                     **options: Any) -> list[FunctionTool]:
    """``load_skill``, ``list_skill_resources``, ``read_skill_resource`` (and, when allowed,
    ``execute_skill_script``) as ``FunctionTool`` objects; see :class:`SkillToolSpec`."""
    return SkillToolSpec(sdk, user_id=user_id, allow_scripts=allow_scripts, **options).to_tool_list()
