"""Maintenance decisions: add a candidate, merge it into an existing skill, or discard it.

Pure functions over skills and scores; the facade does the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from autoskill.retrieval.hybrid import SkillHit
from autoskill.skill.model import Skill
from autoskill.skill.normalize import utc_timestamp

__all__ = [
    "Decision",
    "Judge",
    "MergeThresholds",
    "bump_version",
    "decide",
    "merge_skills",
    "step_similarity",
    "thresholds_for",
    "topic_words",
]


@dataclass(frozen=True)
class MergeThresholds:
    """Similarity zones for one embedder (cosine of the skills' embedding texts).

    At or above ``merge`` the candidate is the same skill; below ``distinct`` it is a new
    one; in between (the ambiguous band) an LLM judge decides when one is configured,
    otherwise the skills merge only when their names name the same topic.
    """

    merge: float = 0.62
    distinct: float = 0.35


# Calibrated on paraphrased and distinct procedures (docs/learning.md): the hashing
# embedder puts paraphrases of one procedure at 0.6-0.7 and different procedures of one
# domain at 0.4-0.56; semantic embedders sit higher on both.
_THRESHOLDS: dict[str, MergeThresholds] = {
    "hashing": MergeThresholds(merge=0.62, distinct=0.35),
    "default": MergeThresholds(merge=0.86, distinct=0.65),
}
_KIND_SUFFIXES = ("workflow", "checklist", "playbook", "routine", "procedure", "preferences", "rules")

Judge = Callable[[Skill, Skill], "bool | None"]


def thresholds_for(embedder_identity: str) -> MergeThresholds:
    """The merge thresholds for an embedder (by the family prefix of its identity)."""
    family = embedder_identity.split("-", 1)[0].split(":", 1)[0].lower()
    return _THRESHOLDS.get(family, _THRESHOLDS["default"])


def topic_words(name: str) -> frozenset[str]:
    """A skill name's topic: its words without the kind suffix (``release-workflow`` -> release)."""
    words = [w for w in name.split("-") if w]
    while words and words[-1] in _KIND_SUFFIXES:
        words.pop()
    return frozenset(words)


@dataclass(frozen=True)
class Decision:
    """What to do with a candidate, and why."""

    action: str  # "add" | "merge" | "discard"
    reason: str
    target: Skill | None = None


def _same(candidate: Skill, target: Skill, why: str) -> Decision:
    if target.scope == "library" and candidate.scope == "user":
        return Decision("discard", f"near-duplicate of shared library skill {target.name!r} ({why})", target)
    return Decision("merge", f"same skill as {target.name!r} ({why})", target)


def decide(
    candidate: Skill,
    neighbours: Sequence[SkillHit],
    thresholds: MergeThresholds = MergeThresholds(),
    judge: Judge | None = None,
) -> Decision:
    """Choose add/merge/discard from the candidate's nearest existing skills (best first)."""
    for hit in neighbours:
        if hit.skill.name == candidate.name and hit.skill.scope == candidate.scope:
            return Decision("merge", f"same name as {hit.skill.name!r}", hit.skill)
    if not neighbours:
        return Decision("add", "no similar skill exists")
    best = max(neighbours, key=lambda h: h.similarity)
    similarity = f"similarity {best.similarity:.2f}"
    if best.similarity >= thresholds.merge:
        return _same(candidate, best.skill, similarity)
    if best.similarity < thresholds.distinct:
        return Decision("add", f"no similar skill (closest {best.skill.name!r}, {similarity})")
    if judge is not None:
        verdict = judge(candidate, best.skill)
        if verdict is not None:
            if verdict:
                return _same(candidate, best.skill, f"{similarity}, judged the same by the LLM")
            return Decision("add", f"judged different from {best.skill.name!r} by the LLM ({similarity})")
    if topic_words(candidate.name) and topic_words(candidate.name) == topic_words(best.skill.name):
        return _same(candidate, best.skill, f"{similarity}, same topic")
    return Decision("add", f"different topic from {best.skill.name!r} ({similarity})")


def bump_version(version: str, *, minor: bool) -> str:
    """The next patch (or minor) version."""
    major, min_, patch = (int(x) for x in version.split("."))
    return f"{major}.{min_ + 1}.0" if minor else f"{major}.{min_}.{patch + 1}"


def _steps(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _stems(line: str) -> set[str]:
    text = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s*", "", line.lower())
    # Five-letter prefixes are a cheap stemmer: "monitoring" and "monitor" agree.
    return {w[:5] for w in re.findall(r"[a-z0-9]+|[\u4e00-\u9fff]", text) if len(w) > 2 or not w.isascii()}


def step_similarity(a: str, b: str) -> float:
    """Overlap of two steps' word stems, in [0, 1]."""
    sa, sb = _stems(a), _stems(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


NOTES_HEADER = "Also noted later:"


def _new_steps(existing: str, incoming: str) -> list[str]:
    """Steps of ``incoming`` that add to ``existing``.

    A merged candidate restates the same procedure in other words, so a candidate step
    that matches no step of the skill is first taken to paraphrase a core step that
    matches no candidate step (one for one); what is left over is new. Steps already kept
    as notes from earlier merges are never added twice.
    """
    core_text, _, notes_text = existing.partition(f"\n\n{NOTES_HEADER}\n")
    old_core, old_notes = _steps(core_text), _steps(notes_text)
    new = _steps(incoming)
    if not new or not old_core:
        return []
    known = old_core + old_notes
    best = {step: max(step_similarity(step, o) for o in known) for step in new}
    unmatched_new = [step for step in new if best[step] < 0.5]
    unmatched_core = [o for o in old_core if max(step_similarity(o, n) for n in new) < 0.5]
    room = len(unmatched_new) - len(unmatched_core)
    if room <= 0:
        return []
    chosen = set(sorted(unmatched_new, key=lambda step: best[step])[:room])
    return [step for step in new if step in chosen]


def merge_skills(
    existing: Skill,
    candidate: Skill,
    *,
    provenance: Sequence[Mapping[str, str]] = (),
    correction: bool = False,
) -> Skill:
    """``existing`` with what ``candidate`` adds; the very same object when it adds nothing.

    The existing core (name, description, instructions) stays; triggers, tags and examples
    are unioned; steps that are genuinely new are appended as notes (a minor version),
    anything else is a patch version. A ``correction`` replaces the instructions instead
    (a minor version). Provenance is the new version's sources.
    """
    triggers = tuple(dict.fromkeys([*existing.triggers, *candidate.triggers]))
    tags = tuple(dict.fromkeys([*existing.tags, *candidate.tags]))
    examples = tuple(dict.fromkeys([*existing.examples, *candidate.examples]))
    if correction:
        fresh = [candidate.instructions] if candidate.instructions != existing.instructions else []
        instructions = candidate.instructions
    else:
        fresh = _new_steps(existing.instructions, candidate.instructions)
        instructions = existing.instructions
        if fresh:
            notes = "\n".join("- " + re.sub(r"^\s*(?:\d+[.)]|[-*•])\s*", "", line) for line in fresh)
            joiner = "\n" if f"\n\n{NOTES_HEADER}\n" in instructions else f"\n\n{NOTES_HEADER}\n"
            instructions = f"{instructions}{joiner}{notes}"
    merged = existing.evolve(triggers=triggers, tags=tags, examples=examples, instructions=instructions)
    if merged.content_hash() == existing.content_hash():
        return existing
    return merged.evolve(
        version=bump_version(existing.version, minor=bool(fresh)),
        updated_at=utc_timestamp(),
        provenance=tuple(provenance),
    )
