"""What text represents a skill for embedding and for lexical search."""

from __future__ import annotations

from autoskill.skill.model import Skill

__all__ = ["INSTRUCTIONS_EMBED_CHARS", "skill_embedding_text", "skill_lexical_fields"]

# The start of the instructions says what a skill does; the tail is mostly detail that
# dilutes a fixed-size vector, so only this much of it is embedded.
INSTRUCTIONS_EMBED_CHARS = 1500


def skill_embedding_text(skill: Skill) -> str:
    """The text embedded for ``skill``: what it is, when to use it, then how."""
    parts = [skill.title.replace("-", " "), skill.description_full or skill.description]
    if skill.when_to_use:
        parts.append(skill.when_to_use)
    if skill.triggers:
        parts.append("; ".join(skill.triggers))
    if skill.aliases:
        parts.append(", ".join(skill.aliases))
    if skill.tags:
        parts.append(", ".join(skill.tags))
    if skill.instructions:
        parts.append(skill.instructions[:INSTRUCTIONS_EMBED_CHARS])
    return "\n".join(p for p in parts if p)


def skill_lexical_fields(skill: Skill) -> dict[str, str]:
    """Fields for BM25, weighted separately (a name hit says more than a body hit)."""
    names = [skill.name.replace("-", " ")]
    if skill.display_name:
        names.append(skill.display_name)
    names.extend(skill.aliases)
    return {
        "name": " ".join(names),
        "description": skill.description_full or skill.description,
        "triggers": " ".join([*skill.triggers, skill.when_to_use]),
        "tags": " ".join(skill.tags),
        "instructions": skill.instructions,
    }
