"""Safety screening: a skill whose text tries to hijack the agent is not made active.

A skill is instructions an agent follows, so a learned or imported skill is screened for
three things before it becomes active: prompt injection (ignore your instructions, reveal
the system prompt), data exfiltration (send files, keys or secrets somewhere), and
destructive commands (``rm -rf /``, ``DROP DATABASE``, disk wipes). A flagged skill stays a
draft with the reasons in its metadata until a person promotes or drops it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autoskill.skill.model import Skill

__all__ = ["FLAG_KEY", "SafetyFlag", "flag_reasons", "screen_skill", "screen_text"]

# Metadata key holding the reasons a skill was held back (visible in its SKILL.md).
FLAG_KEY = "autoskill-safety-flag"


@dataclass(frozen=True)
class SafetyFlag:
    """Why a skill was held back: the category and the phrase that triggered it."""

    category: str  # "injection" | "exfiltration" | "destructive"
    evidence: str

    def __str__(self) -> str:
        return f"{self.category}: {self.evidence!r}"


_I = re.IGNORECASE | re.DOTALL
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("injection", re.compile(
        r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|all|any|your|the system|system)\b"
        r"[^.\n]{0,20}\b(?:instructions?|prompts?|rules|guidelines|guardrails|directives)\b", _I)),
    ("injection", re.compile(r"\b(?:reveal|print|show|output|leak|repeat)\b[^.\n]{0,30}\b(?:system prompt|hidden instructions|developer message)\b", _I)),
    ("injection", re.compile(r"\byou are no longer\b|\bfrom now on,? you (?:are|will) (?:not|no longer|DAN)\b|\bjailbreak\b|\bdeveloper mode\b", _I)),
    ("injection", re.compile(r"\bdo not (?:tell|inform|let) the user\b|\bwithout (?:telling|informing|asking) the user\b|\bsecretly\b", _I)),
    ("exfiltration", re.compile(
        r"\b(?:send|upload|post|exfiltrate|transmit|forward|copy|email|leak)\b[^.\n]{0,60}"
        r"\b(?:files?|documents?|credentials?|passwords?|secrets?|api[ _-]?keys?|tokens?|ssh keys?|\.env|env(?:ironment)? variables|"
        r"cookies|history|conversation|data)\b[^.\n]{0,60}\b(?:to|at|into)\b\s*(?:https?://|ftp://|\S+@\S+|\S+\.\S+)", _I)),
    ("exfiltration", re.compile(r"\bcurl\b[^\n]{0,80}(?:-d|--data|-F|--upload-file|-T)\s*@?[^\n]{0,40}(?:~/?\.ssh|/etc/passwd|\.env|id_rsa|credentials)", _I)),
    ("exfiltration", re.compile(r"(?:cat|tar|zip)\b[^\n|]{0,80}(?:~/?\.ssh|id_rsa|\.aws/credentials|\.env\b|/etc/shadow)[^\n]{0,40}\|\s*(?:curl|nc|ncat|wget)\b", _I)),
    ("destructive", re.compile(r"\brm\s+-(?:[a-z]*r[a-z]*f|[a-z]*f[a-z]*r)[a-z]*\s+(?:--no-preserve-root\s+)?(?:/|~|\$HOME|\*|/\*)(?:\s|$|;|&)", _I)),
    ("destructive", re.compile(r"\b(?:mkfs(?:\.\w+)?\s+/dev/|dd\s+if=/dev/(?:zero|random|urandom)\s+of=/dev/(?:sd|nvme|hd|disk))", _I)),
    ("destructive", re.compile(r"\bDROP\s+(?:DATABASE|SCHEMA)\b|\bTRUNCATE\s+TABLE\b[^;\n]{0,40}\bCASCADE\b", _I)),
    ("destructive", re.compile(r":\(\)\s*\{\s*:\|:&\s*\};:|\bchmod\s+-R\s+0?777\s+/(?:\s|$)|\bformat\s+c:", _I)),
    ("destructive", re.compile(r"\bcurl\b[^\n|]{0,120}\|\s*(?:sudo\s+)?(?:ba|z)?sh\b|\bwget\b[^\n|]{0,120}\|\s*(?:sudo\s+)?(?:ba|z)?sh\b", _I)),
    ("destructive", re.compile(r"\bgit\s+push\s+(?:-f|--force)\b[^\n]{0,40}\b(?:main|master)\b|\bgit\s+reset\s+--hard\s+origin\b[^\n]{0,20}&&\s*git\s+push\s+-f", _I)),
)


def screen_text(text: str) -> list[SafetyFlag]:
    """Every safety concern in ``text`` (at most one per pattern)."""
    flags: list[SafetyFlag] = []
    for category, pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            evidence = " ".join(match.group(0).split())[:120]
            flags.append(SafetyFlag(category, evidence))
    return flags


def screen_skill(skill: Skill) -> list[SafetyFlag]:
    """Safety concerns anywhere an agent would read in ``skill``."""
    text = "\n".join([skill.title, skill.description_full or skill.description, skill.when_to_use,
                      *skill.triggers, *skill.examples, skill.instructions])
    return screen_text(text)


def flag_reasons(skill: Skill) -> str | None:
    """The recorded reasons a skill was held back, or None."""
    return skill.metadata.get(FLAG_KEY)
