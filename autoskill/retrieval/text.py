"""Unicode-aware tokenisation shared by the hashing embedder and BM25.

Text is NFKC-normalised and case-folded, then split into *units*: runs of letters and
digits for space-separated scripts, and single characters for CJK scripts (Han, kana,
Hangul), which have no spaces between words. Lexical indexes additionally get the
bigrams of adjacent CJK characters, the usual substitute for a word segmenter.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STOPWORDS", "is_cjk", "normalize_text", "tokenize", "words"]

# Han (incl. extensions and compatibility), Hiragana, Katakana, Hangul syllables and jamo.
_CJK_RANGES = (
    "\u1100-\u11ff"
    "\u3040-\u309f"
    "\u30a0-\u30ff"
    "\u3130-\u318f"
    "\u3400-\u4dbf"
    "\u4e00-\u9fff"
    "\uac00-\ud7af"
    "\uf900-\ufaff"
    "\U00020000-\U0002fa1f"
)
_CJK_RE = re.compile(f"[{_CJK_RANGES}]")
# A single CJK character, or a run of letters/digits that are neither CJK nor "_".
_UNIT_RE = re.compile(f"[{_CJK_RANGES}]|[^\\W_{_CJK_RANGES}]+")
# "don't" -> "dont", "user's" -> "users": keeps contractions one token.
_APOSTROPHE_RE = re.compile(r"(?<=\w)['\u2019](?=\w)")

#: A small English stopword set (plus the most frequent CJK function characters).
#: Negations and quantifiers such as "not", "never", "always" are kept on purpose:
#: they matter in procedural rules.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into
    is it its itself just let lets me more most my myself of off on once only or other our
    ours ourselves out over own please same she should so some such than that thats the
    their theirs them themselves then there these they this those through to too under
    until up upon us very was we were what when where which while who whom why will with
    would you your yours yourself yourselves im ive id youre shall may might must also
    的 了 是 在 和 吗 呢 吧 啊 之 の は が を に で と も へ
    """.split()
)


def normalize_text(text: str) -> str:
    """NFKC-normalise and case-fold ``text`` (full-width forms, ligatures, case)."""
    return unicodedata.normalize("NFKC", text).casefold()


def is_cjk(char: str) -> bool:
    """True when the single character ``char`` belongs to a CJK script."""
    return _CJK_RE.match(char) is not None


def words(text: str) -> list[str]:
    """Ordered units of ``text``: words, and single characters for CJK runs.

    Args:
        text: Any text.

    Returns:
        Normalised units in reading order (stopwords included).
    """
    return _UNIT_RE.findall(_APOSTROPHE_RE.sub("", normalize_text(text)))


def tokenize(text: str, *, drop_stopwords: bool = False) -> list[str]:
    """Lexical terms of ``text``: :func:`words` plus bigrams of adjacent CJK characters.

    Args:
        text: Any text.
        drop_stopwords: Remove :data:`STOPWORDS` (bigrams are built before removal, so
            a CJK bigram spanning a function character survives).

    Returns:
        Terms in reading order; each CJK bigram follows its first character.
    """
    units = words(text)
    if not units:
        return []
    out: list[str] = []
    prev_cjk = ""
    for unit in units:
        cjk = len(unit) == 1 and _CJK_RE.match(unit) is not None
        if cjk and prev_cjk:
            out.append(prev_cjk + unit)
        if not (drop_stopwords and unit in STOPWORDS):
            out.append(unit)
        prev_cjk = unit if cjk else ""
    return out
