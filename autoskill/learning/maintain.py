"""Maintenance decisions: add a candidate, merge it into an existing skill, or discard it.

Pure functions over skills and scores; the facade does the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from autoskill.retrieval.hybrid import SkillHit
from autoskill.skill.model import Skill
from autoskill.skill.normalize import utc_timestamp

__all__ = ["Decision", "MergeThresholds", "bump_version", "decide", "merge_skills"]


@dataclass(frozen=True)
class MergeThresholds:
    """Similarity zones for one embedder (cosine of the skills' embedding texts).

    At or above ``merge`` the candidate is the same skill; below ``distinct`` it is a new
    one; between them the skills share a name root or an LLM judge decides.
    """

    merge: float = 0.62
    distinct: float = 0.35


@dataclass(frozen=True)
class Decision:
    """What to do with a candidate, and why."""

    action: str  # "add" | "merge" | "discard"
    reason: str
    target: Skill | None = None


def decide(candidate: Skill, neighbours: Sequence[SkillHit], thresholds: MergeThresholds = MergeThresholds()) -> Decision:
    """Choose add/merge/discard from the candidate's nearest existing skills."""
    for hit in neighbours:
        if hit.skill.name == candidate.name and hit.skill.scope == candidate.scope:
            return Decision("merge", f"same name as {hit.skill.name!r}", hit.skill)
    if not neighbours:
        return Decision("add", "no similar skill exists")
    best = neighbours[0]
    if best.similarity >= thresholds.merge:
        if best.skill.scope == "library":
            return Decision("discard", f"near-duplicate of shared library skill {best.skill.name!r} "
                            f"(similarity {best.similarity:.2f})", best.skill)
        return Decision("merge", f"similar to {best.skill.name!r} (similarity {best.similarity:.2f})", best.skill)
    return Decision("add", f"no skill close enough (best {best.skill.name!r} at {best.similarity:.2f})")


def bump_version(version: str, *, minor: bool) -> str:
    """The next patch (or minor) version."""
    major, min_, patch = (int(x) for x in version.split("."))
    return f"{major}.{min_ + 1}.0" if minor else f"{major}.{min_}.{patch + 1}"


def _step_key(line: str) -> set[str]:
    text = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s*", "", line.lower())
    return {w for w in re.findall(r"[a-z0-9\u4e00-\u9fff]+", text) if len(w) > 2}


def _new_lines(existing: str, incoming: str) -> list[str]:
    """Lines of ``incoming`` that say something ``existing`` does not."""
    known = [_step_key(line) for line in existing.split("\n") if line.strip()]
    fresh = []
    for line in incoming.split("\n"):
        key = _step_key(line)
        if not key:
            continue
        if not any(len(key & k) / max(1, min(len(key), len(k))) >= 0.5 for k in known):
            fresh.append(line.strip())
    return fresh


def merge_skills(existing: Skill, candidate: Skill, *, provenance: Sequence[Mapping[str, str]] = ()) -> Skill:
    """``existing`` with what ``candidate`` adds; the same skill when it adds nothing.

    The existing core (name, description, instructions) stays; triggers, tags and
    examples are unioned; genuinely new steps are appended as notes (a minor version),
    anything else is a patch version. Provenance is the new version's sources.
    """
    triggers = tuple(dict.fromkeys([*existing.triggers, *candidate.triggers]))
    tags = tuple(dict.fromkeys([*existing.tags, *candidate.tags]))
    examples = tuple(dict.fromkeys([*existing.examples, *candidate.examples]))
    fresh = _new_lines(existing.instructions, candidate.instructions)
    instructions = existing.instructions
    if fresh:
        instructions = instructions + "\n\nAlso noted later:\n" + "\n".join(f"- {line.lstrip('-* ')}" for line in fresh)
    merged = existing.evolve(triggers=triggers, tags=tags, examples=examples, instructions=instructions)
    if merged.content_hash() == existing.content_hash():
        return existing
    return merged.evolve(
        version=bump_version(existing.version, minor=bool(fresh)),
        updated_at=utc_timestamp(),
        provenance=tuple(provenance),
    )
