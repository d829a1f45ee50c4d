"""Render retrieved skills into a context block that fits a token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autoskill.retrieval.hybrid import SkillHit
from autoskill.skill.model import Skill

__all__ = ["RenderedContext", "render_skill_block", "render_skills_context"]

HEADER = "## Relevant skills\n\nFollow a skill's instructions when the request matches it."
# A skill cut to fewer tokens than this is useless to an agent: leave it out instead.
MIN_USEFUL_TOKENS = 40


@dataclass(frozen=True)
class RenderedContext:
    """A context block and what went into it."""

    text: str
    skills: tuple[Skill, ...]
    omitted: int
    tokens: int


def render_skill_block(skill: Skill) -> str:
    """One skill as Markdown an agent can follow."""
    lines = [f"### {skill.title} (v{skill.version})", "", skill.description_full or skill.description]
    if skill.when_to_use:
        lines += ["", f"When to use: {skill.when_to_use}"]
    if skill.triggers:
        lines += ["", "Triggers: " + "; ".join(skill.triggers)]
    if skill.instructions:
        lines += ["", skill.instructions]
    if skill.examples:
        lines += ["", "Examples:"] + [f"- {e}" for e in skill.examples]
    return "\n".join(lines)


def render_skills_context(
    hits: Sequence[SkillHit] | Sequence[Skill],
    *,
    max_tokens: int | None = None,
    header: str = HEADER,
    encoding: str = "cl100k_base",
) -> RenderedContext:
    """Render skills in order until the budget is spent.

    A skill that does not fit whole is cut on a line boundary when enough of it fits to
    be useful; the block then says how many skills were left out.
    """
    from autoskill.tokens import count_tokens, truncate_to_tokens

    skills = [h.skill if isinstance(h, SkillHit) else h for h in hits]
    if not skills:
        return RenderedContext(text="", skills=(), omitted=0, tokens=0)
    parts = [header]
    used = count_tokens(header, encoding)
    included: list[Skill] = []
    for position, skill in enumerate(skills):
        block = render_skill_block(skill)
        cost = count_tokens("\n\n" + block, encoding)
        if max_tokens is None or used + cost <= max_tokens:
            parts.append(block)
            used += cost
            included.append(skill)
            continue
        # Reserve room for the "left out" note before cutting.
        remaining = max_tokens - used - 16
        if remaining >= MIN_USEFUL_TOKENS:
            cut = truncate_to_tokens(block, remaining, encoding)
            parts.append(cut + "\n[... cut to fit the token budget]")
            used += count_tokens("\n\n" + parts[-1], encoding)
            included.append(skill)
            position += 1
        omitted = len(skills) - position
        text = "\n\n".join(parts)
        note = f"({omitted} more relevant skill(s) left out: token budget)"
        if omitted > 0 and count_tokens(text + "\n\n" + note, encoding) <= max_tokens:
            text += "\n\n" + note
        if not included:
            return RenderedContext(text="", skills=(), omitted=len(skills), tokens=0)
        return RenderedContext(text=text, skills=tuple(included), omitted=max(0, omitted),
                               tokens=count_tokens(text, encoding))
    text = "\n\n".join(parts)
    return RenderedContext(text=text, skills=tuple(included), omitted=0, tokens=count_tokens(text, encoding))
