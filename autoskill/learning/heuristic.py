"""The offline ``mock`` extractor: finds procedures and rules people state, without an LLM.

It reads only what the user said (an assistant's words are not evidence) and recognises:
arrow chains (``a -> b -> c``), numbered and bulleted steps under a lead line, sequence
sentences ("X first, then Y, and finally Z"), and always/never rules. Questions and
chit-chat yield nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from autoskill.skill.model import Skill

__all__ = ["Candidate", "HeuristicExtractor", "is_negative_reaction", "is_positive_reaction", "split_steps"]

_ARROWS = re.compile(r"\s*(?:->|→|=>|⇒|⟶|-->)\s*")
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}|[a-z])\s*[.)、:：]\s+(.+)$|^\s*(?:\d{1,2})、\s*(.+)$")
_BULLET = re.compile(r"^\s*[-*•·]\s+(.+)$")
_SEQUENCE_MARKERS = re.compile(r"\b(?:then|finally|next|afterwards|after that|lastly)\b|然后|最后|接着", re.I)
_SEQUENCE_SPLIT = re.compile(
    r"\s*(?:,|;|，|；)?\s*\b(?:and then|then|and finally|finally|next|afterwards|after that|lastly)\b\s*|"
    r"\s*[,;，；]\s*(?:and\s+)?|\s*(?:然后|最后|接着)\s*",
    re.I,
)
_RULE = re.compile(
    r"^(?:please\s+)?(?:always|never|don't ever|do not ever|make sure (?:to|that)|remember to|"
    r"i (?:always )?(?:prefer|want|like) (?:you to )?|from now on,?)\b",
    re.I,
)
_QUESTION_START = re.compile(
    r"^(?:how|what|why|when|where|which|who|can|could|would|should|is|are|do|does|did|will|may)\b", re.I
)
_TOPIC_PATTERNS = (
    re.compile(r"^(?:before|after|when|whenever|for|during|on)\s+(?:(?:each|every|any|a|an|the|our|my)\s+)?(.+)$", re.I),
    re.compile(r"^(?:our|my|the|a|team)\s+(.+?)\s+(?:flow|process|procedure|workflow|checklist|steps|routine|playbook)s?$", re.I),
    re.compile(r"^(?:to|how to|how we)\s+(.+)$", re.I),
    re.compile(r"^(.+?)\s+(?:flow|process|procedure|workflow|checklist|steps|routine|playbook)s?$", re.I),
    re.compile(r"^(.+?)(?:流程|步骤|之前|前|时)$"),
)
_KIND_WORDS = {"checklist": "checklist", "playbook": "playbook", "routine": "routine"}
_FILLER = {
    "a", "an", "the", "our", "my", "each", "every", "any", "we", "i", "you", "to", "of", "and", "do",
    "please", "always", "new", "some", "this", "that", "it",
}
_MIN_STEP_CHARS = 2


@dataclass(frozen=True)
class Candidate:
    """A skill the extractor proposes, with how sure it is and the evidence."""

    skill: Skill
    confidence: float
    evidence: tuple[str, ...] = field(default=())
    kind: str = "procedure"


def split_steps(text: str) -> tuple[str, list[str]] | None:
    """Find (lead, steps) in one message, or None when it states no procedure."""
    body = text.strip()
    if not body:
        return None
    lines = [ln for ln in body.split("\n") if ln.strip()]
    numbered = [m.group(1) or m.group(2) for m in (_NUMBERED.match(ln) for ln in lines) if m]
    if len(numbered) >= 2:
        lead = next((ln for ln in lines if not _NUMBERED.match(ln)), "")
        return _clean_lead(lead), [_clean_step(s) for s in numbered]
    bullets = [m.group(1) for m in (_BULLET.match(ln) for ln in lines) if m]
    if len(bullets) >= 2:
        lead = next((ln for ln in lines if not _BULLET.match(ln)), "")
        if lead.rstrip().endswith((":", "：")) or _topic_of(_clean_lead(lead)):
            return _clean_lead(lead), [_clean_step(s) for s in bullets]
    lead, rest = _split_lead(body)
    parts = [p for p in _ARROWS.split(rest) if p.strip()]
    if len(parts) >= 2 and _ARROWS.search(rest):
        return lead, [_clean_step(p) for p in parts]
    if lead and _SEQUENCE_MARKERS.search(rest):
        parts = [p for p in _SEQUENCE_SPLIT.split(rest) if p and p.strip()]
        if len(parts) >= 3:
            return lead, [_clean_step(p) for p in parts]
    return None


def _split_lead(text: str) -> tuple[str, str]:
    first_line = text.split("\n", 1)[0]
    match = re.match(r"^(.{3,80}?)[:：]\s*(.+)$", first_line)
    if match and not _ARROWS.search(match.group(1)):
        remainder = match.group(2) + ("\n" + text.split("\n", 1)[1] if "\n" in text else "")
        return _clean_lead(match.group(1)), remainder
    return "", text


def _clean_lead(lead: str) -> str:
    return lead.strip().rstrip(":：").strip()


def _clean_step(step: str) -> str:
    step = step.strip().strip("。.;；,，").strip()
    return step[:1].upper() + step[1:] if step else step


def _topic_of(lead: str) -> str:
    for pattern in _TOPIC_PATTERNS:
        match = pattern.match(lead.strip())
        if match:
            return match.group(1).strip()
    return ""


def _topic_words(topic: str) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9+#.-]*|[\u4e00-\u9fff]+", topic)
    kept = [w.lower() for w in words if w.lower() not in _FILLER]
    return kept[:4]


def _renamed_like(candidate: Candidate, withdrawn: Candidate) -> Candidate:
    """A correction without its own lead keeps the name of the procedure it corrects."""
    skill = candidate.skill
    renamed = skill.evolve(name=withdrawn.skill.name, display_name=withdrawn.skill.display_name,
                           triggers=tuple(dict.fromkeys([*withdrawn.skill.triggers, *skill.triggers])),
                           tags=withdrawn.skill.tags)
    return Candidate(skill=renamed, confidence=candidate.confidence, evidence=candidate.evidence, kind=candidate.kind)


def _as_kind(candidate: Candidate, kind: str, evidence: str) -> Candidate:
    return Candidate(skill=candidate.skill, confidence=candidate.confidence, evidence=(evidence,), kind=kind)


def _is_question(text: str) -> bool:
    stripped = text.strip()
    return stripped.endswith(("?", "？")) or bool(_QUESTION_START.match(stripped) and len(stripped) < 200 and "->" not in stripped)


_NEGATIVE = re.compile(
    r"^\s*(?:no\b|nope\b|nah\b|wrong\b|incorrect\b|not quite\b|actually,? no\b|that'?s (?:not right|wrong)|"
    r"that (?:is|was) (?:not right|wrong)|this is wrong|that didn'?t work|it didn'?t work|doesn'?t work|"
    r"don'?t do that|不对|错了|不是这样)",
    re.I,
)
_NEGATIVE_PREFIX = re.compile(
    r"^\s*(?:(?:no|nope|nah|wrong|incorrect|not quite|actually)\b[,.!;:\s]*|"
    r"(?:that'?s|that (?:is|was)|this is) (?:not right|wrong)[,.!;:\s]*|"
    r"(?:that|it) didn'?t work[,.!;:\s]*|不对[，,。\s]*|错了[，,。\s]*)+",
    re.I,
)
_POSITIVE = re.compile(
    r"^\s*(?:yes\b|yep\b|yeah\b|exactly\b|correct\b|right\b|perfect\b|great\b|thanks?\b|thank you\b|"
    r"that (?:worked|works)|it worked|lgtm\b|looks good|对的|没错|好的|谢谢)",
    re.I,
)


def is_negative_reaction(text: str) -> bool:
    """Whether a user turn rejects what came before ("no, that's wrong")."""
    return bool(_NEGATIVE.match(text))


def is_positive_reaction(text: str) -> bool:
    """Whether a user turn confirms what came before ("yes, exactly", "thanks, that worked")."""
    return bool(_POSITIVE.match(text)) and not is_negative_reaction(text)


def _strip_reaction(text: str) -> str:
    stripped = _NEGATIVE_PREFIX.sub("", text).strip()
    stripped = re.sub(r"^(?:do|use|it'?s|it is|the right way is|instead,?)\s+(?=\S)", "", stripped, flags=re.I)
    return re.sub(r"\s+instead[.!]?$", "", stripped, flags=re.I).strip()


class HeuristicExtractor:
    """Extracts skills from conversations with rules (the offline ``mock`` provider).

    Evidence is what the user said or confirmed: a procedure the assistant proposed
    counts only when the next user turn confirms it; a negative reaction withdraws the
    candidate it reacts to, and a correction in it replaces that candidate.
    """

    def extract(self, messages: Sequence[dict[str, str]], *, user_id: str | None = None) -> list[Candidate]:
        """Candidates from one conversation, in the order they were stated."""
        accepted: list[tuple[int, Candidate]] = []
        proposal: Candidate | None = None  # the assistant's last unconfirmed procedure
        last_user_turn = -1
        for position, message in enumerate(messages):
            role = message.get("role")
            text = str(message.get("content") or "")
            if role == "assistant":
                proposal = self._procedure(text, user_id)
                continue
            if role != "user":
                continue
            if is_negative_reaction(text):
                withdrawn = None
                if accepted and accepted[-1][0] == last_user_turn:
                    withdrawn = accepted.pop()[1]
                proposal = None
                corrected_text = _strip_reaction(text)
                correction = self._from_user_text(corrected_text, user_id)
                if correction is not None:
                    found = split_steps(corrected_text)
                    if withdrawn is not None and (found is None or not found[0]):
                        correction = _renamed_like(correction, withdrawn)
                    accepted.append((position, _as_kind(correction, "correction", text)))
                last_user_turn = position
                continue
            if proposal is not None and is_positive_reaction(text):
                confirmed = Candidate(skill=proposal.skill, confidence=min(0.8, proposal.confidence),
                                      evidence=(*proposal.evidence, text), kind="confirmed")
                accepted.append((position, confirmed))
            proposal = None
            candidate = self._from_user_text(text, user_id)
            if candidate is not None:
                accepted.append((position, candidate))
            last_user_turn = position
        return [candidate for _, candidate in accepted]

    def _from_user_text(self, text: str, user_id: str | None) -> Candidate | None:
        return self._procedure(text, user_id) or self._rule(text, user_id)

    def _procedure(self, text: str, user_id: str | None) -> Candidate | None:
        if _is_question(text):
            return None
        found = split_steps(text)
        if found is None:
            return None
        lead, steps = found
        steps = [s for s in steps if len(s) >= _MIN_STEP_CHARS]
        if len(steps) < 2:
            return None
        topic = _topic_of(lead) if lead else ""
        words = _topic_words(topic or lead) or _topic_words(" ".join(steps[:2]))
        kind = next((v for k, v in _KIND_WORDS.items() if k in lead.lower()), "workflow")
        if re.search(r"[\u4e00-\u9fff]", topic or lead):
            display = f"{topic or lead}流程" if not (topic or lead).endswith("流程") else (topic or lead)
            name = display
        else:
            display = None
            name = "-".join(words + [kind]) if words else kind
        topic_text = " ".join(words) if words else (topic or lead or "this task")
        instructions = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
        description = f"Step-by-step {kind} for {topic_text}: " + " \u2192 ".join(steps)
        triggers = [t for t in (lead, f"how to do {topic_text}", f"{topic_text} {kind}") if t]
        skill = Skill(
            name=name,
            display_name=display,
            description=description,
            instructions=instructions,
            triggers=triggers,
            tags=[*words, kind],
            user_id=user_id,
            scope="user",
        )
        confidence = min(0.95, 0.55 + 0.1 * len(steps) + (0.1 if lead else 0.0))
        return Candidate(skill=skill, confidence=confidence, evidence=(text,), kind="procedure")

    def _rule(self, text: str, user_id: str | None) -> Candidate | None:
        sentences = [s.strip() for s in re.split(r"(?<=[.!。！])\s+|\n", text) if s.strip()]
        rules = [_clean_step(s) for s in sentences if _RULE.match(s) and not _is_question(s)]
        if not rules:
            return None
        words = _topic_words(" ".join(_RULE.sub("", r) for r in rules))[:3]
        name = "-".join(words + ["preferences"]) if words else "user-preferences"
        skill = Skill(
            name=name,
            description="Rules the user asked to follow: " + " ".join(rules),
            instructions="\n".join(f"- {r}" for r in rules),
            triggers=[", ".join(words)] if words else [],
            tags=[*words, "preferences"],
            user_id=user_id,
            scope="user",
        )
        return Candidate(skill=skill, confidence=0.6 + 0.05 * min(len(rules), 4), evidence=(text,), kind="rule")
