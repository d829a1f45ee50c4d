"""Skill registry: find SKILL.md folders in skill roots, resolve and rank them.

See :class:`SkillRegistry` and :func:`default_skill_roots`.
"""

from autoskill.registry.registry import (
    ScanWarning,
    SkillMatch,
    SkillRegistry,
    SkillScanWarning,
    SkillSummary,
    coerce_skill_registry,
    create_auto_skill_registry,
    create_skill_registry,
    scan_skills,
)
from autoskill.registry.roots import SkillRoot, default_skill_roots

__all__ = [
    "ScanWarning",
    "SkillMatch",
    "SkillRegistry",
    "SkillRoot",
    "SkillScanWarning",
    "SkillSummary",
    "coerce_skill_registry",
    "create_auto_skill_registry",
    "create_skill_registry",
    "default_skill_roots",
    "scan_skills",
]
