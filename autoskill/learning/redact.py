"""Redaction: remove secrets and personal contact data before text reaches an LLM or the disk.

A :class:`Redactor` is a pure function over text. It finds spans with a catalogue of rules
(one or more per *kind*), keeps the first rule's claim when spans overlap (rules run from the
most specific kind to the most generic), and replaces each span with ``[REDACTED:<kind>]``.
Only the secret part of a match is replaced: ``password=hunter2`` becomes
``password=[REDACTED:password]`` and ``postgres://bob:pw@db/x`` keeps its scheme and host.

Kinds: ``private_key``, ``url_credentials``, ``jwt``, ``api_key``, ``bearer``, ``password``,
``generic_secret``, ``email``, ``phone``. Ordinary text survives byte for byte: years,
dates, times, versions, ports, counts, IP addresses, short git SHAs, UUIDs, paths, issue
numbers. Redaction is idempotent (placeholders are never redacted again, and a pass that
exposes a new match is repeated until nothing changes).
"""

from __future__ import annotations

import bisect
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from autoskill.errors import ConfigError

__all__ = [
    "KINDS",
    "Finding",
    "RedactionResult",
    "Redactor",
    "default_redactor",
]

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = (
    "private_key",
    "url_credentials",
    "jwt",
    "api_key",
    "bearer",
    "password",
    "generic_secret",
    "email",
    "phone",
)

_PLACEHOLDER = re.compile(r"\[REDACTED:[A-Za-z0-9_\-]+\]")
_KIND_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_MAX_PASSES = 4
_CONFIG_KEYS = frozenset({"enabled", "kinds", "extra_patterns", "allow"})


@dataclass(frozen=True)
class Finding:
    """Where a secret was: ``text[start:end]`` of the *input* text. Never holds the secret."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class RedactionResult:
    """Redacted text and what was removed from it."""

    text: str
    findings: tuple[Finding, ...] = ()

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds that were found."""
        return frozenset(f.kind for f in self.findings)

    def __bool__(self) -> bool:
        return bool(self.findings)


# A check sees (value, whole text, value start) and says whether the span is a secret.
_Check = Callable[[str, str, int], bool]


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    group: int | str = 0  # the group holding the secret (the first that took part)
    groups: tuple[int | str, ...] = ()  # alternative groups, tried in order
    hints: tuple[str, ...] = ()  # lowercase substrings one of which must occur (fast skip)
    check: _Check | None = None
    trim: bool = False  # drop trailing sentence punctuation from unquoted values


# --- checks -------------------------------------------------------------------------------

_TRAILING = ".,;:!?"
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _trim_end(text: str, start: int, end: int) -> int:
    """Drop sentence punctuation after an unquoted value (a closer only when unbalanced)."""
    while end > start:
        last = text[end - 1]
        if last in _TRAILING or (last in _CLOSERS and _CLOSERS[last] not in text[start : end - 1]):
            end -= 1
        else:
            break
    return end


# Values that are references or placeholders, not secrets: $VAR, ${VAR}, %VAR%,
# os.environ[...], settings.X, getpass(), fetch("..."), <your-key>, {{ secret }}, ***, xxx.
_CODE_REF = re.compile(
    r"""^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%[A-Za-z_][A-Za-z0-9_]*%|"""
    r"""(?:os|process|env|ENV|secrets|settings|config|self|cls|vault)[.\[].*|"""
    r"""[A-Za-z_][A-Za-z0-9_.]*(?:\((?:\)|["'$A-Za-z_].*)?|\[(?:["'].*)?)|"""
    r"""<[^<>]*>|\{\{.*\}\}|\*+|x{3,}|X{3,}|\.{3,}|…|null|None|none|true|false|"""
    r"""(?i:your[-_ ].*|changeme|redacted|placeholder|example|required|optional|str|string|secret|password))$"""
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F\-]+$")
_PATH_WORD = re.compile(r"^(?:[A-Za-z][a-z0-9_\-=+]*|[A-Z0-9_\-]{1,12})$")
_SECRET_LABEL = re.compile(
    r"(?i)(?:key|token|secret|credential|passw|passphrase|auth|bearer|signature|private|api)"
)
_PASSWORD_WORDS = re.compile(
    r"(?i)^(?:wrong|incorrect|invalid|correct|required|missing|empty|not|too|expired|set|the|a|an|"
    r"still|now|being|reset|changed|weak|strong|stored|saved|hidden|encrypted|hashed|in|on|at|for|"
    r"same|different|long|short|case|protected|managed|shared|known|unknown|my|your|our|their)$"
)


def _not_placeholder(value: str) -> bool:
    return bool(value.strip()) and not _PLACEHOLDER.fullmatch(value.strip()) and not _CODE_REF.match(value)


def _long_value(value: str, _text: str = "", _start: int = 0) -> bool:
    """A token/secret/api_key assignment: long enough, not a reference or placeholder."""
    return len(value) >= 8 and _not_placeholder(value) and not value.isdigit()


def _any_value(value: str, _text: str = "", _start: int = 0) -> bool:
    """A password assignment: any real value counts, however short."""
    return _not_placeholder(value)


def _spoken_password(value: str, _text: str, _start: int) -> bool:
    return _not_placeholder(value) and not _PASSWORD_WORDS.match(value)


def _digit_count(value: str) -> int:
    return sum(c.isdigit() for c in value)


def _phone_digits(low: int, high: int) -> _Check:
    def check(value: str, _text: str, _start: int) -> bool:
        return low <= _digit_count(value) <= high

    return check


def _labelled_phone(value: str, _text: str, _start: int) -> bool:
    if not 7 <= _digit_count(value) <= 15:
        return False
    # A labelled value that is really a date, version or time stays.
    return not re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d+(?:\.\d+){1,3}|\d{1,2}:\d{2}(?::\d{2})?", value.strip())


def _email_ok(value: str, _text: str, _start: int) -> bool:
    local, _, domain = value.partition("@")
    if local.lower() == "git":  # git@github.com:org/repo is an SSH remote, not a person
        return False
    first = domain.split(".", 1)[0]
    return not re.fullmatch(r"\d+(?:\.\d+)?x", first)  # icon@2x.png is an image name


def _entropy(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _char_class(c: str) -> int:
    if c.isupper():
        return 0
    if c.islower():
        return 1
    if c.isdigit():
        return 2
    return 3


def _looks_like_path(value: str) -> bool:
    if "/" not in value:
        return False
    parts = [p for p in value.split("/") if p]
    if value.startswith(("/", "~/", "./", "../")) or "//" in value:
        return True
    words = sum(1 for p in parts if len(p) <= 24 and _PATH_WORD.match(p))
    return words * 2 >= len(parts)


def _generic_secret(value: str, text: str, start: int) -> bool:
    """Long high-entropy tokens: standalone from 40 chars, from 32 near a secret-ish label."""
    if len(value) < 32 or _UUID.match(value) or value.isdigit():
        return False
    classes = {_char_class(c) for c in value} & {0, 1, 2}
    if len(classes) < 2 or _looks_like_path(value):
        return False
    entropy = _entropy(value)
    window = text[max(0, start - 40) : start]
    window = window.rsplit("\n", 1)[-1]
    if _SECRET_LABEL.search(window) and entropy >= 3.3:
        return True
    if len(value) < 40 or _HEX.match(value):  # long hex strings are hashes and digests
        return False
    switches = sum(1 for a, b in zip(value, value[1:]) if _char_class(a) != _char_class(b))
    # Random tokens switch character class often; CamelCase identifiers rarely do.
    return entropy >= 3.8 and switches / (len(value) - 1) >= 0.3


# --- the rule catalogue -------------------------------------------------------------------

_TOK = r"A-Za-z0-9_\-"  # characters of API-key style tokens
_LB = rf"(?<![{_TOK}])"  # not inside a longer token
_RB = rf"(?![{_TOK}])"
_QUOTED_VALUE = r"""(?:"(?P<dq>(?:[^"\\\n]|\\.){1,512})"|'(?P<sq>[^'\n]{1,512})'|\\"(?P<eq>(?:(?!\\").){1,512})\\")"""
_BARE_VALUE = r"""(?P<bare>(?!\[REDACTED:)[^\s"'&<>`]{1,512})"""
_PASSWORD_LABEL = r"(?:password|passwd|passphrase|pwd)"
_SECRET_LABELS = (
    r"(?:client[_\-]?secret|secret[_\-]?key|secret|access[_\-]?token|refresh[_\-]?token|auth[_\-]?token|"
    r"id[_\-]?token|session[_\-]?token|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|"
    r"credentials?|x-api-key)"
)
_ASSIGN = r"""\\?["']?\s{0,3}(?:[:=]|=>|:=)\s{0,3}"""
_VALUE_GROUPS: tuple[int | str, ...] = ("dq", "sq", "eq", "bare")


def _rules() -> list[_Rule]:
    rules: list[_Rule] = []

    def add(kind: str, pattern: str, *, flags: int = 0, group: int | str = 0,
            groups: tuple[int | str, ...] = (), hints: tuple[str, ...] = (),
            check: _Check | None = None, trim: bool = False) -> None:
        rules.append(_Rule(kind, re.compile(pattern, flags), group, groups, hints, check, trim))

    # private_key: whole PEM blocks (PKCS#1/#8, OpenSSH, EC, DSA, PGP), or a truncated one.
    add("private_key",
        r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----.*?"
        r"-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----",
        flags=re.S, hints=("private key",))
    add("private_key",
        r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----[A-Za-z0-9+/=\s:,\-]*",
        hints=("private key",))

    # url_credentials: scheme://user:pass@host -> the user:pass part only.
    add("url_credentials",
        r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,20}://(?P<cred>[^\s:/?#@\[\]]{1,256}:[^\s/?#]{1,256})@"
        r"(?=[A-Za-z0-9\[])",
        group="cred", hints=("://",),
        check=lambda v, t, s: not _PLACEHOLDER.fullmatch(v.split(":", 1)[1]))

    # jwt: header.payload.signature, the first two base64url JSON objects.
    add("jwt", rf"{_LB}eyJ[A-Za-z0-9_\-]{{5,}}\.eyJ[A-Za-z0-9_\-]{{5,}}\.[A-Za-z0-9_\-]*{_RB}", hints=("eyj",))

    # api_key: vendor formats with fixed prefixes.
    vendor: list[tuple[str, tuple[str, ...]]] = [
        (r"sk-[A-Za-z0-9_\-]{20,}", ("sk-",)),                          # OpenAI sk-/sk-proj-, Anthropic sk-ant-
        (r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}", ("k_live_", "k_test_")),  # Stripe
        (r"(?:AKIA|ASIA)[A-Z0-9]{16}", ("akia", "asia")),                # AWS access key id
        (r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}", ("gh",)),          # GitHub
        (r"github_pat_[A-Za-z0-9_]{22,}", ("github_pat_",)),
        (r"glpat-[A-Za-z0-9_\-]{20,}", ("glpat-",)),                     # GitLab
        (r"xox[abprse]-[A-Za-z0-9\-]{10,}", ("xox",)),                   # Slack
        (r"AIza[A-Za-z0-9_\-]{35}", ("aiza",)),                          # Google
        (r"hf_[A-Za-z0-9]{30,}", ("hf_",)),                              # Hugging Face
        (r"npm_[A-Za-z0-9]{36,}", ("npm_",)),                            # npm
        (r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}", ("sg.",)),     # SendGrid
        (r"gsk_[A-Za-z0-9]{40,}", ("gsk_",)),                            # Groq
        (r"r8_[A-Za-z0-9]{30,}", ("r8_",)),                              # Replicate
    ]
    for pattern, hints in vendor:
        add("api_key", rf"{_LB}{pattern}{_RB}", hints=hints)
    add("api_key", r"hooks\.slack\.com/services/(?P<hook>[A-Za-z0-9/]{20,})", group="hook",
        hints=("hooks.slack.com",))
    # AWS secret access key after an aws ... secret label.
    add("api_key",
        r"(?i:aws[_\-\s.]{0,3}secret(?:[_\-\s.]{0,3}access)?(?:[_\-\s.]{0,3}key)?(?:[_\-\s.]{0,3}id)?)"
        r"""\\?["']?\s{0,3}(?:[:=]|=>|\s)\s{0,3}\\?["']?(?P<aws>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])""",
        group="aws", hints=("aws",))
    # BigModel / ZhipuAI keys (<id>.<secret>) when labelled.
    add("api_key",
        r"(?i:zhipu(?:ai)?|bigmodel|glm|api)[_\-\s]{0,3}(?i:api[_\-\s]{0,3})?(?i:key)"
        r"""\\?["']?\s{0,3}(?:[:=]|=>|\s|is)\s{0,3}\\?["']?"""
        r"(?P<zp>[A-Za-z0-9]{20,64}\.[A-Za-z0-9]{10,64})(?![A-Za-z0-9.])",
        group="zp", hints=("key",))

    # bearer: Authorization headers and "Bearer <token>".
    token_value = r"(?!\[REDACTED:)[A-Za-z0-9\-._~+/]{8,}=*"
    add("bearer",
        rf"(?i:\bbearer)\s{{1,3}}(?P<tok>(?=[A-Za-z0-9\-._~+/]*\d){token_value})",
        group="tok", hints=("bearer",))
    add("bearer",
        r"""(?i:\b(?:proxy-)?authorization)\\?["']?\s{0,3}[:=]\s{0,3}\\?["']?"""
        r"(?i:(?:bearer|basic|token|digest|bot|negotiate|apikey|sso-key)\s{1,3})?"
        rf"(?P<tok>{token_value})",
        group="tok", hints=("authorization",), check=_long_value)

    # password: assignments, JSON fields, CLI flags, and "my password is X".
    add("password",
        rf"(?i:{_PASSWORD_LABEL})(?![A-Za-z])" + _ASSIGN +
        rf"(?:{_QUOTED_VALUE}|{_BARE_VALUE})",
        groups=_VALUE_GROUPS, hints=("pass", "pwd"), check=_any_value, trim=True)
    add("password",
        rf"(?i:{_SECRET_LABELS})(?![A-Za-z])" + _ASSIGN +
        rf"(?:{_QUOTED_VALUE}|{_BARE_VALUE})",
        groups=_VALUE_GROUPS, hints=("secret", "token", "key", "credential"), check=_long_value, trim=True)
    add("password",
        rf"(?i:--{_PASSWORD_LABEL})[ =](?:{_QUOTED_VALUE}|{_BARE_VALUE})",
        groups=_VALUE_GROUPS, hints=("--pass", "--pwd"), check=_any_value, trim=True)
    add("password",
        rf"(?i:--(?:token|secret|api-key|apikey|access-token|client-secret))[ =](?:{_QUOTED_VALUE}|{_BARE_VALUE})",
        groups=_VALUE_GROUPS, hints=("--",), check=_long_value, trim=True)
    add("password",
        rf"(?i:\b{_PASSWORD_LABEL}\s{{1,3}}(?:is|was|are|would be|will be)\s{{0,3}}:?\s{{1,3}})"
        rf"(?:{_QUOTED_VALUE}|{_BARE_VALUE})",
        groups=_VALUE_GROUPS, hints=("pass", "pwd"), check=_spoken_password, trim=True)
    add("password",
        r"(?:密码|口令)\s{0,3}(?:是|为|:|：|=)\s{0,3}(?P<bare>(?!\[REDACTED:)[^\s，。,;；\"'“”]{1,128})",
        group="bare", hints=("密码", "口令"), check=_any_value)

    # generic_secret: long high-entropy tokens (see _generic_secret for when they count).
    add("generic_secret", r"(?<![A-Za-z0-9+/_=\-])[A-Za-z0-9+/_=\-]{32,}", check=_generic_secret)

    # email
    add("email",
        r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
        r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?){0,8}"
        r"\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])",
        hints=("@",), check=_email_ok)

    # phone: international +<cc> numbers, then national formats with separators.
    add("phone",
        r"(?<![\w+])\+\d{1,3}(?:[ \-.]?\(\d{1,4}\))?(?:[ \-.]\d{1,6}){1,5}(?![\d.\-]?\d)(?!\.\d)",
        hints=("+",), check=_phone_digits(8, 15))
    add("phone", r"(?<![\w+])\+\d{8,15}(?![\d.])", hints=("+",), check=_phone_digits(8, 15))
    add("phone",  # (555) 123-4567, 555-123-4567, 555.123.4567
        r"(?<![\w.+\-/:#])(?:\(\d{3}\)[ \-]?\d{3}[\-. ]\d{4}|\d{3}([\-.])\d{3}\1\d{4})(?![\w\-/:]|\.\d)")
    add("phone",  # 138-0013-8000 (mainland China mobile; spaced digits are too often counts)
        r"(?<![\w.+\-/:#])1[3-9]\d-\d{4}-\d{4}(?![\w.\-/:])")
    add("phone",  # 020 7946 0958, 07700 900123 (trunk prefix 0)
        r"(?<![\w.+\-/:#])0\d{2,4}([ \-])\d{3,6}(?:\1\d{3,4})?(?![\w.\-/:])",
        check=_phone_digits(10, 11))
    add("phone",
        r"(?i:\b(?:phone|tel|telephone|mobile|cell|whatsapp|fax|call me at|text me at)\b|电话|手机|联系方式)"
        r"[^\d+\n]{0,12}(?P<num>\+?\d[\d ().\-]{5,22}\d)(?![\d])",
        group="num", hints=("phone", "tel", "mobile", "cell", "whatsapp", "fax", "call me", "text me",
                            "电话", "手机", "联系方式"),
        check=_labelled_phone)
    return rules


_BUILTIN_RULES: tuple[_Rule, ...] = ()


def _builtin_rules() -> tuple[_Rule, ...]:
    global _BUILTIN_RULES
    if not _BUILTIN_RULES:  # compiled on first use: importing does nothing
        _BUILTIN_RULES = tuple(_rules())
    return _BUILTIN_RULES


# --- span bookkeeping ---------------------------------------------------------------------

_Span = tuple[int, int, str]


def _render(text: str, spans: list[_Span]) -> tuple[str, list[tuple[int, int, int, int, bool]]]:
    """Replace ``spans`` (sorted, disjoint) and map output segments back to the input."""
    pieces: list[str] = []
    segments: list[tuple[int, int, int, int, bool]] = []  # out_start, out_end, in_start, in_end, replaced
    pos = out = 0
    for start, end, kind in spans:
        if start > pos:
            pieces.append(text[pos:start])
            segments.append((out, out + start - pos, pos, start, False))
            out += start - pos
        placeholder = f"[REDACTED:{kind}]"
        pieces.append(placeholder)
        segments.append((out, out + len(placeholder), start, end, True))
        out += len(placeholder)
        pos = end
    if pos < len(text):
        pieces.append(text[pos:])
        segments.append((out, out + len(text) - pos, pos, len(text), False))
    return "".join(pieces), segments


def _to_input(segments: list[tuple[int, int, int, int, bool]], start: int, end: int) -> tuple[int, int]:
    """Map an output span to the input span it came from (placeholders map whole)."""
    starts = [s[0] for s in segments]
    first = segments[bisect.bisect_right(starts, start) - 1]
    last = segments[bisect.bisect_right(starts, end - 1) - 1]
    in_start = first[2] if first[4] else first[2] + (start - first[0])
    in_end = last[3] if last[4] else last[2] + (end - last[0])
    return in_start, in_end


def _merge(spans: Iterable[_Span]) -> list[_Span]:
    """Union overlapping spans; a merged span takes the kind of its widest member."""
    merged: list[list[Any]] = []
    for start, end, kind in sorted(spans):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            if end - start > last[3]:
                last[2], last[3] = kind, end - start
            last[1] = max(last[1], end)
        else:
            merged.append([start, end, kind, end - start])
    return [(s, e, k) for s, e, k, _ in merged]


def _intervals(text: str, literals: Iterable[str]) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for literal in literals:
        pos = text.find(literal)
        while pos >= 0:
            found.append((pos, pos + len(literal)))
            pos = text.find(literal, pos + 1)
    return sorted(found)


# --- the redactor -------------------------------------------------------------------------

_SENSITIVE_KEY = re.compile(
    r"(?:^|[_\-.])(?:password|passwd|pwd|passphrase|secret|token|api[_\-]?key|apikey|access[_\-]?key|"
    r"secret[_\-]?key|private[_\-]?key|client[_\-]?secret|access[_\-]?token|refresh[_\-]?token|"
    r"auth[_\-]?token|id[_\-]?token|credentials?|authorization|cookie|set[_\-]cookie)$",
    re.I,
)
_PASSWORD_KEY = re.compile(r"(?:^|[_\-.])(?:password|passwd|pwd|passphrase)$", re.I)


class Redactor:
    """Finds and replaces secrets and contact data in text and nested values.

    Args:
        kinds: The built-in kinds to apply (all of :data:`KINDS` when None).
        extra_patterns: More kinds, ``name -> regex``; a named group ``secret`` (or the
            first group) marks the part to replace, else the whole match.
        allow: Literal strings never redacted (a match lying inside one is kept).

    Raises:
        ConfigError: An unknown kind, a bad kind name, or a pattern that does not compile.
    """

    def __init__(
        self,
        kinds: Iterable[str] | None = None,
        extra_patterns: Mapping[str, str] | None = None,
        allow: Iterable[str] = (),
    ) -> None:
        if isinstance(kinds, str):
            kinds = [kinds]
        selected = tuple(KINDS if kinds is None else dict.fromkeys(kinds))
        unknown = [k for k in selected if k not in KINDS]
        if unknown:
            raise ConfigError(f"unknown redaction kind {unknown[0]!r}; known kinds: {', '.join(KINDS)}")
        self.kinds: tuple[str, ...] = selected
        self.allow: tuple[str, ...] = tuple(a for a in dict.fromkeys(allow) if a)
        self.extra_patterns: dict[str, str] = dict(extra_patterns or {})
        rules = [r for r in _builtin_rules() if r.kind in selected]
        # Extra patterns are the user's own definitions: they run before the generic kinds.
        for name, pattern in self.extra_patterns.items():
            rules.insert(self._generic_index(rules), self._extra_rule(name, pattern))
        self._rules: tuple[_Rule, ...] = tuple(rules)
        self._cache: dict[str, str] = {}

    @staticmethod
    def _generic_index(rules: list[_Rule]) -> int:
        for i, rule in enumerate(rules):
            if rule.kind in ("generic_secret", "email", "phone"):
                return i
        return len(rules)

    @staticmethod
    def _extra_rule(name: str, pattern: str) -> _Rule:
        if not isinstance(name, str) or not _KIND_NAME.match(name):
            raise ConfigError(f"redaction pattern name {name!r} must match [A-Za-z0-9_-]+")
        try:
            compiled = re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise ConfigError(f"redaction pattern {name!r} does not compile: {exc}") from None
        group: int | str = 0
        if "secret" in compiled.groupindex:
            group = "secret"
        elif compiled.groups:
            group = 1
        return _Rule(name, compiled, group)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Redactor:
        """Build from a config section: ``enabled``, ``kinds``, ``extra_patterns``, ``allow``.

        Raises:
            ConfigError: An unknown key or a value of the wrong type.
        """
        config = dict(config or {})
        unknown = sorted(set(config) - _CONFIG_KEYS)
        if unknown:
            raise ConfigError(f"unknown redaction option {unknown[0]!r}; known: {', '.join(sorted(_CONFIG_KEYS))}")
        if not config.get("enabled", True):
            return cls(kinds=())
        kinds = config.get("kinds")
        extra = config.get("extra_patterns") or {}
        allow = config.get("allow") or ()
        if kinds is not None and (isinstance(kinds, (str, bytes)) or not isinstance(kinds, Iterable)):
            raise ConfigError("redaction option 'kinds' must be a list of kind names")
        if not isinstance(extra, Mapping):
            raise ConfigError("redaction option 'extra_patterns' must map a name to a regex")
        if isinstance(allow, (str, bytes)) or not isinstance(allow, Iterable):
            raise ConfigError("redaction option 'allow' must be a list of strings")
        return cls(kinds=kinds, extra_patterns=extra, allow=[str(a) for a in allow])

    @property
    def enabled(self) -> bool:
        """Whether any rule is active."""
        return bool(self._rules)

    def __repr__(self) -> str:
        return f"Redactor(kinds={list(self.kinds)!r}, extra_patterns={sorted(self.extra_patterns)!r})"

    # -- text ------------------------------------------------------------------------------

    def redact(self, text: str) -> RedactionResult:
        """Redact one text. Finding offsets refer to ``text`` (the input)."""
        if not isinstance(text, str):
            raise TypeError(f"redact() takes a str, not {type(text).__name__}")
        if not text or not self._rules:
            return RedactionResult(text)
        spans = self._find(text)
        if not spans:
            return RedactionResult(text)
        out, segments = _render(text, spans)
        # A replacement can expose a new match (a label now close to a token, say);
        # repeat until a pass finds nothing, so redaction is idempotent.
        for _ in range(_MAX_PASSES):
            more = self._find(out)
            if not more:
                break
            spans = _merge([*spans, *((*_to_input(segments, s, e), k) for s, e, k in more)])
            out, segments = _render(text, spans)
        else:
            logger.debug("redaction did not settle after %d passes", _MAX_PASSES)
        return RedactionResult(out, tuple(Finding(k, s, e) for s, e, k in spans))

    def _find(self, text: str) -> list[_Span]:
        lower = text.lower()
        placeholders = [m.span() for m in _PLACEHOLDER.finditer(text)] if "[redacted:" in lower else []
        allowed = _intervals(text, self.allow)
        starts: list[int] = []
        ends: list[int] = []
        kinds: list[str] = []
        for rule in self._rules:
            if rule.hints and not any(h in lower for h in rule.hints):
                continue
            for match in rule.pattern.finditer(text):
                start, end = self._span(rule, match)
                if rule.trim:
                    end = _trim_end(text, start, end)
                if end <= start:
                    continue
                if rule.check is not None and not rule.check(text[start:end], text, start):
                    continue
                if _overlaps(placeholders, start, end) or _inside(allowed, start, end):
                    continue
                i = bisect.bisect_right(starts, start)
                if (i > 0 and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
                    continue  # an earlier (more specific) rule already claimed this text
                starts.insert(i, start)
                ends.insert(i, end)
                kinds.insert(i, rule.kind)
        return list(zip(starts, ends, kinds))

    @staticmethod
    def _span(rule: _Rule, match: re.Match[str]) -> tuple[int, int]:
        for group in rule.groups or (rule.group,):
            start, end = match.span(group)
            if start >= 0:
                return start, end
        return -1, -1

    # -- values ----------------------------------------------------------------------------

    def redact_value(self, value: Any) -> Any:
        """Return a redacted copy of a nested value (dicts, lists, tuples of strings).

        Strings are redacted as text; a string under a secret-looking key (``password``,
        ``api_key``, ``token``, ``authorization``...) is replaced whole. Keys are redacted as
        text too. Numbers, booleans, None and other objects are returned unchanged.
        """
        return self._value(value, None)

    def _text(self, text: str) -> str:
        """Redacted text, remembered for short strings: event payloads repeat the same keys,
        ids, roles and timestamps on every run, and the framework handlers redact each run."""
        if len(text) > _CACHED_TEXT_CHARS:
            return self.redact(text).text
        cache = self._cache
        hit = cache.get(text)
        if hit is None:
            hit = self.redact(text).text
            if len(cache) >= _CACHE_ENTRIES:
                cache.clear()  # a crude bound; refilling is cheap
            cache[text] = hit
        return hit

    def _value(self, value: Any, key: str | None) -> Any:
        if isinstance(value, str):
            if key is not None and self._rules and self._secret_under_key(key, value):
                kind = "bearer" if key.lower() == "authorization" else "password"
                return f"[REDACTED:{kind}]"
            return self._text(value)
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                new_key = self._text(k) if isinstance(k, str) else k
                out[new_key] = self._value(v, k if isinstance(k, str) else None)
            return out
        if isinstance(value, list):
            return [self._value(v, None) for v in value]
        if isinstance(value, tuple):
            items = [self._value(v, None) for v in value]
            return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
        return value

    def _secret_under_key(self, key: str, value: str) -> bool:
        if "password" not in self.kinds or not _SENSITIVE_KEY.search(key):
            return False
        if _PASSWORD_KEY.search(key):
            return _any_value(value) and not any(a == value for a in self.allow)
        return _long_value(value) and not any(a == value for a in self.allow)


def _overlaps(intervals: list[tuple[int, int]], start: int, end: int) -> bool:
    i = bisect.bisect_right(intervals, (start, float("inf")))
    return (i > 0 and intervals[i - 1][1] > start) or (i < len(intervals) and intervals[i][0] < end)


def _inside(intervals: list[tuple[int, int]], start: int, end: int) -> bool:
    # Allowed occurrences may overlap one another, so look at every one that starts early enough.
    i = bisect.bisect_right(intervals, (start, float("inf")))
    return any(s <= start and end <= e for s, e in intervals[:i])


_DEFAULT: Redactor | None = None
_CACHED_TEXT_CHARS = 200
_CACHE_ENTRIES = 4096


def default_redactor() -> Redactor:
    """A shared Redactor with every kind enabled."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Redactor()
    return _DEFAULT
