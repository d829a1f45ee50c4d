"""Pure text helpers that make every Skill field fit the Agent Skills spec.

Normalisation is idempotent: applying it to its own output changes nothing. That property
is what makes ``parse(render(skill)) == skill`` hold, because parsing normalises too.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timezone

NAME_MAX = 64
DESCRIPTION_MAX = 1024
COMPATIBILITY_MAX = 500

# Characters PyYAML refuses in a stream plus the C0/C1 controls we never want in skill text.
# Tab and newline are kept: they are ordinary in Markdown.
_UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff\ufffe\uffff]"
)
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_LOOSE_VERSION = re.compile(r"^[vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_TOOL_TOKEN = re.compile(r"(?:[^\s(]+(?:\([^)]*\))?)+")


def clean_text(value: object) -> str:
    """Return ``value`` as text with unified newlines and without control characters."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE_CHARS.sub("", text)


def clean_line(value: object) -> str:
    """Return a one-paragraph field: cleaned and stripped (inner newlines are kept)."""
    return clean_text(value).strip()


def clean_block(value: object) -> str:
    """Return a Markdown body: cleaned, trailing whitespace and leading blank lines removed.

    Leading spaces of the first real line are kept: they can be meaningful (indented code).
    """
    text = clean_text(value).rstrip()
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def slugify(value: str, *, max_length: int = NAME_MAX) -> str:
    """Turn any name into a spec name: ``a-z 0-9`` and single inner hyphens.

    Non-ASCII letters are transliterated where Unicode allows (``é`` -> ``e``); text with
    no ASCII equivalent at all (Chinese, say) gets a short stable hash so it still has a name.
    """
    text = clean_line(value)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_JUNK.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    if slug:
        return slug
    if not text:
        return ""
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"skill-{digest}"


def is_valid_name(name: str) -> bool:
    """Whether ``name`` already satisfies the spec's name rules (ASCII form)."""
    return bool(name) and len(name) <= NAME_MAX and slugify(name) == name


def spec_description(text: str) -> str:
    """Cut a description to the spec: at most 1,024 characters, no ``<`` or ``>``."""
    text = text.replace("<", "\u2039").replace(">", "\u203a")
    if len(text) <= DESCRIPTION_MAX:
        return text
    cut = text[: DESCRIPTION_MAX - 1].rstrip()
    # Prefer ending on a word boundary when that costs little.
    space = cut.rfind(" ")
    if space > DESCRIPTION_MAX * 0.8:
        cut = cut[:space].rstrip()
    return cut + "\u2026"


def normalize_version(value: object) -> str | None:
    """Return a semver string for ``value`` (``"1.2"`` -> ``"1.2.0"``), or None if hopeless."""
    text = clean_line(value)
    if _SEMVER.match(text):
        return text
    match = _LOOSE_VERSION.match(text)
    if not match:
        return None
    parts = [str(int(p)) if p else "0" for p in match.groups()]
    return ".".join(parts)


def unique_strings(values: Iterable[object], *, casefold: bool = False) -> tuple[str, ...]:
    """Strip, drop empties and duplicates, keep first-seen order."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        item = clean_line(value)
        key = item.casefold() if casefold else item
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return tuple(out)


def split_allowed_tools(value: object) -> tuple[str, ...]:
    """Split an ``allowed-tools`` value into tool patterns.

    The spec writes them space-separated; a pattern such as ``Bash(git status:*)`` may
    contain spaces inside parentheses, so those stay together.
    """
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        value = " ".join(clean_line(v) for v in value)
    text = clean_line(value).replace(",", " ") if "(" not in str(value) else clean_line(value)
    return unique_strings(m.group(0) for m in _TOOL_TOKEN.finditer(text))


def coerce_string_list(value: object, *, separator: str = ",") -> tuple[str, ...]:
    """Read a list written the ways people write lists in frontmatter.

    Accepts a YAML list, a JSON array in a string, or a ``separator``-joined string.
    """
    if value is None:
        return ()
    if isinstance(value, (list, tuple, set)):
        return unique_strings(_scalar_text(v) for v in value)
    text = clean_line(value)
    if not text:
        return ()
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, list):
            return unique_strings(_scalar_text(v) for v in loaded)
    if separator == "\n":
        return unique_strings(line.lstrip("-* ").strip() for line in text.split("\n"))
    return unique_strings(text.split(separator))


def _scalar_text(value: object) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return clean_line(value)


def metadata_value(value: object) -> str:
    """Turn any frontmatter value into the string the spec's metadata map requires."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if isinstance(value, datetime):
        return value.isoformat()
    return clean_line(value)


def utc_timestamp(value: object | None = None) -> str:
    """Return an ISO-8601 UTC timestamp (seconds precision) for ``value`` or now."""
    if value is None or value == "":
        moment = datetime.now(timezone.utc)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(float(value), tz=timezone.utc)
    else:
        text = clean_line(value)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
