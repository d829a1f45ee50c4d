"""The Skill model, SKILL.md rendering/parsing and skill folders."""

from autoskill.skill.folder import find_skill_file, iter_resource_files, load_skill_dir, write_skill_dir
from autoskill.skill.model import Skill, derive_skill_id, free_skill_id
from autoskill.skill.skillmd import ParsedSkill, parse_skill_md, read_skill_md, render_skill_md

__all__ = [
    "ParsedSkill",
    "Skill",
    "derive_skill_id",
    "free_skill_id",
    "find_skill_file",
    "iter_resource_files",
    "load_skill_dir",
    "parse_skill_md",
    "read_skill_md",
    "render_skill_md",
    "write_skill_dir",
]
