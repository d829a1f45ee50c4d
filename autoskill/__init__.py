"""AutoSkill: reusable Agent Skills learned from use, kept clean, retrieved into pipelines.

The core is framework-free: importing it loads neither LangChain nor LlamaIndex.
"""

from autoskill.client import AutoSkill, ImportReport
from autoskill.config import AutoSkillConfig
from autoskill.errors import (
    AutoSkillError,
    ConfigError,
    MissingDependencyError,
    ProviderNotFoundError,
    SkillNotFoundError,
    SkillParseError,
    SkillValidationError,
    StoreError,
)
from autoskill.registry import SkillRegistry, default_skill_roots
from autoskill.retrieval.hybrid import SkillHit
from autoskill.skill import Skill, load_skill_dir, parse_skill_md, render_skill_md, write_skill_dir
from autoskill.tools import SkillTools

__version__ = "0.1.0"

__all__ = [
    "AutoSkill",
    "AutoSkillConfig",
    "AutoSkillError",
    "ConfigError",
    "ImportReport",
    "MissingDependencyError",
    "ProviderNotFoundError",
    "Skill",
    "SkillHit",
    "SkillNotFoundError",
    "SkillParseError",
    "SkillRegistry",
    "SkillTools",
    "SkillValidationError",
    "StoreError",
    "default_skill_roots",
    "load_skill_dir",
    "parse_skill_md",
    "render_skill_md",
    "write_skill_dir",
]
