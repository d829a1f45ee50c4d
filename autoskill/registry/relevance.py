"""Relevance of a skill to a request: pure scoring, no I/O.

A port of the R registry's scoring (name/alias exact 300+len, name/alias substring 220+len,
``when_to_use`` terms 80+len, description terms 30+len only when nothing else matched, a
``paths`` glob match 140; the best signal wins) with three changes:

1. common English words (and words every skill description uses: "use", "when", "user")
   never count as matching terms;
2. terms match on word boundaries, not as raw substrings ("pdf" matches "two PDFs" but
   not "pdfminer"), with ``-``/``_``/spaces treated alike ("code review" finds
   ``code-review``);
3. the reported score is absolute, in [0, 1]: ``raw / 365`` capped at 1, so scores are
   comparable across queries (an exact name match scores about 0.85-1, a ``paths`` match
   0.38, a lone description word under 0.12).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from autoskill.registry.globs import matches_any_path
from autoskill.skill.model import Skill

__all__ = [
    "MATCH_DESCRIPTION",
    "MATCH_NAME_EXACT",
    "MATCH_NAME_SUBSTRING",
    "MATCH_PATHS",
    "MATCH_WHEN_TO_USE",
    "RAW_SCORE_SCALE",
    "STOPWORDS",
    "RelevanceScore",
    "contains_term",
    "extract_terms",
    "levenshtein",
    "normalize_score",
    "score_skill",
]

MATCH_NAME_EXACT = "name_or_alias_exact"
MATCH_NAME_SUBSTRING = "name_or_alias_substring"
MATCH_WHEN_TO_USE = "when_to_use"
MATCH_DESCRIPTION = "description"
MATCH_PATHS = "paths"

# An exact match on a 64-character name (the longest a spec name can be) scores 364, so
# 365 keeps every raw score below 1 and fixed across queries and libraries.
RAW_SCORE_SCALE = 365.0

_EXACT_BASE = 300
_SUBSTRING_BASE = 220
_WHEN_BASE = 80
_DESCRIPTION_BASE = 30
_PATHS_SCORE = 140

# Function words plus the vocabulary every skill description shares ("Use when the user
# asks to ..."): matching on them would make every skill relevant to every request.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are aren't as ask asked asks at
    be because been before being below between both but by can cannot could did do does doing
    done down during each else etc even ever every few for from further get gets getting given
    had has have having he her here hers him his how however i if in into is isn't it its itself
    just let like likely made make makes making many may me might more most much must my need
    needed needs new no nor not now of off often on once one only or other our ours out over own
    per please same shall she should so some such than that the their theirs them then there
    these they this those through thus to too under until up upon us use used useful uses using
    very via want wanted wants was way we well were what whatever when whenever where whether
    which while who whom whose why will with within without would yes yet you your yours
    help helps helping user users skill skills task tasks request requests work works working
    """.split()
)

_TERM = re.compile(r"[A-Za-z][A-Za-z0-9_-]{2,}|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_SEPARATORS = re.compile(r"[\s_\-]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Letters and digits that continue a word (Latin incl. accented); a term must not be
# glued to one on either side.
_WORD_CHAR = "0-9a-z\u00c0-\u024f"
_EDGE_PUNCTUATION = " .,;:!?\"'`()[]{}<>"


@dataclass(frozen=True)
class RelevanceScore:
    """How well one skill matches a request.

    Attributes:
        raw: The R registry's integer score (0 when nothing matched).
        matched_by: Which signals matched, strongest first.
    """

    raw: int
    matched_by: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        """The absolute score in [0, 1]."""
        return normalize_score(self.raw)


def normalize_score(raw: float) -> float:
    """Map a raw score onto [0, 1] with a fixed scale (``raw / 365``, capped at 1)."""
    if raw <= 0:
        return 0.0
    return min(1.0, raw / RAW_SCORE_SCALE)


@functools.lru_cache(maxsize=65536)
def _normalize(text: str) -> str:
    """Lower-case and treat runs of spaces, ``-`` and ``_`` as one space."""
    return _SEPARATORS.sub(" ", text.lower()).strip()


def extract_terms(text: str | None, max_chars: int = 16) -> list[str]:
    """Return the distinct content words of ``text`` (lower-case, in order).

    Words are ASCII words of 3+ characters or runs of 2+ Han characters, as in the R
    registry, at most ``max_chars`` long; stopwords are left out.
    """
    if not text or not text.strip():
        return []
    return list(_extract_terms(text, max_chars))


# Skills are scored against every query; their texts repeat, so their terms are cached.
@functools.lru_cache(maxsize=16384)
def _extract_terms(text: str, max_chars: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for match in _TERM.findall(text):
        term = match.lower().strip("-_")
        if len(term) < 2 or len(term) > max_chars or term in STOPWORDS:
            continue
        seen.setdefault(term, None)
    return tuple(seen)


@functools.lru_cache(maxsize=8192)
def _term_regex(term_norm: str) -> re.Pattern[str] | None:
    if not term_norm:
        return None
    # A trailing plural ("pdfs", "boxes") still counts as the word.
    plural = "" if _HAN.search(term_norm[-1]) else "(?:e?s)?"
    lead = "" if _HAN.match(term_norm[0]) else f"(?<![{_WORD_CHAR}])"
    tail = "" if _HAN.search(term_norm[-1]) else f"(?![{_WORD_CHAR}])"
    return re.compile(lead + re.escape(term_norm) + plural + tail)


_NON_WORD = re.compile(f"[^{_WORD_CHAR}]+")
_PLAIN_TERM = re.compile(f"^[{_WORD_CHAR}]+(?: [{_WORD_CHAR}]+)*$")


@functools.lru_cache(maxsize=256)
def _padded(text_norm: str) -> str:
    """`` word word `` form of a text: whole-word tests become substring tests."""
    return f" {_NON_WORD.sub(' ', text_norm).strip()} "


@functools.lru_cache(maxsize=256)
def _words(text_norm: str) -> frozenset[str]:
    """The whole words of a text, for one-word terms (a set lookup, not a scan)."""
    return frozenset(_padded(text_norm).split())


def contains_term(text_norm: str, term: str) -> bool:
    """Whether ``term`` occurs in the normalised text ``text_norm`` as a whole word.

    ``text_norm`` must come from the same normalisation this module applies to queries
    (lower-case, separators folded); Han terms match anywhere, as Chinese has no spaces.
    """
    term_norm = _normalize(term)
    if term_norm and " " not in term_norm and _PLAIN_TERM.match(term_norm):
        words = _words(text_norm)
        return term_norm in words or f"{term_norm}s" in words or f"{term_norm}es" in words
    if term_norm and _PLAIN_TERM.match(term_norm):
        # Plain words: a substring test on the padded text (a trailing plural still counts).
        # Far cheaper than a regex per term when many skills are scored per query.
        padded = _padded(text_norm)
        return any(f" {term_norm}{suffix} " in padded for suffix in ("", "s", "es"))
    regex = _term_regex(term_norm)
    return bool(regex and regex.search(text_norm))


def _name_terms(skill: Skill) -> list[str]:
    terms = [skill.name, *skill.aliases]
    if skill.display_name:
        terms.append(skill.display_name)
    seen: dict[str, None] = {}
    for term in terms:
        norm = _normalize(term)
        if norm:
            seen.setdefault(norm, None)
    return list(seen)


def score_skill(
    skill: Skill,
    query: str | None = None,
    file_paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] = (),
    cwd: str | os.PathLike[str] | None = None,
) -> RelevanceScore:
    """Score ``skill`` against a request text and/or the files it touches.

    Args:
        skill: The skill to score.
        query: The user's request (may be empty).
        file_paths: Files the request is about, absolute or relative to ``cwd``.
        cwd: Working directory for relative file paths.

    Returns:
        The raw score and the signals that matched (``raw == 0`` when none did).
    """
    score = 0
    matched: list[str] = []

    def hit(value: int, signal: str) -> None:
        nonlocal score
        score = max(score, value)
        if signal not in matched:
            matched.append(signal)

    query_norm = _normalize(query or "")
    if query_norm:
        # "code-review?" is still the exact name; punctuation around it is not part of it.
        bare_query = query_norm.strip(_EDGE_PUNCTUATION)
        for term in _name_terms(skill):
            if bare_query == term:
                hit(_EXACT_BASE + len(term), MATCH_NAME_EXACT)
            elif contains_term(query_norm, term):
                hit(_SUBSTRING_BASE + len(term), MATCH_NAME_SUBSTRING)
        for term in extract_terms(skill.when_to_use, max_chars=20):
            if contains_term(query_norm, term):
                hit(_WHEN_BASE + len(term), MATCH_WHEN_TO_USE)
        if score == 0:
            for term in extract_terms(skill.description, max_chars=12):
                if contains_term(query_norm, term):
                    hit(_DESCRIPTION_BASE + len(term), MATCH_DESCRIPTION)

    if isinstance(file_paths, (str, os.PathLike)):
        file_paths = [file_paths]
    if skill.paths and matches_any_path(skill.paths, file_paths, cwd=cwd):
        hit(_PATHS_SCORE, MATCH_PATHS)

    order = (MATCH_NAME_EXACT, MATCH_NAME_SUBSTRING, MATCH_PATHS, MATCH_WHEN_TO_USE, MATCH_DESCRIPTION)
    return RelevanceScore(raw=score, matched_by=tuple(s for s in order if s in matched))


def levenshtein(a: str, b: str, max_distance: int | None = None) -> int:
    """Edit distance (insertions, deletions, substitutions) between ``a`` and ``b``.

    With ``max_distance``, stops early and returns ``max_distance + 1`` once the distance
    is known to exceed it (a fuzzy lookup over thousands of names only needs "close or not").
    """
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    if max_distance is not None and len(a) - len(b) > max_distance:
        return max_distance + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        if max_distance is not None and min(current) > max_distance:
            return max_distance + 1
        previous = current
    return previous[-1]
