"""Framework-neutral skill tools: ``load_skill``, ``list_skill_resources``,
``read_skill_resource`` and ``execute_skill_script`` (off unless enabled).

The LangChain and LlamaIndex integrations wrap :meth:`SkillTools.tool_specs`.
"""

from autoskill.tools.scripts import ScriptResult
from autoskill.tools.skill_tools import SkillTools

__all__ = ["ScriptResult", "SkillTools"]
