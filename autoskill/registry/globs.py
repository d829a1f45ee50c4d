"""File glob matching for a skill's ``paths`` (pure string work, no file-system access).

Python 3.11 has no ``glob.translate`` and :func:`fnmatch.fnmatch` lets ``*`` cross ``/``, so
the globs skills declare (``**/*.py``, ``src/*.R``, ``Dockerfile``, ``**/*.{ts,tsx}``) are
translated here with the rules agents and ``.gitignore`` use:

- ``*`` matches within one path segment, ``?`` one character, ``[...]`` / ``[!...]`` a class;
- ``**`` as a whole segment matches zero or more directories (``**/*.py`` matches ``c.py``
  and ``a/b/c.py``; ``src/**`` matches everything under ``src``);
- ``{a,b}`` is an alternation (nesting allowed);
- a pattern without ``/`` matches the file name at any depth (``*.py``, ``Dockerfile``);
  a pattern with ``/`` is anchored to the working directory (a leading ``/`` or ``./`` is
  dropped).

Matching is case-sensitive, as on POSIX file systems.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Iterable

__all__ = ["glob_to_regex", "glob_match", "matches_any_path", "relative_posix_path"]


def _split_braces(body: str) -> list[str]:
    """Split the inside of ``{...}`` on top-level commas."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in body:
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        current.append(char)
    parts.append("".join(current))
    return parts


def _find_closing(pattern: str, start: int, opening: str, closing: str) -> int:
    """Index of the bracket closing the one at ``start`` (nesting-aware), or -1."""
    depth = 0
    for index in range(start, len(pattern)):
        char = pattern[index]
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return index
    return -1


def _translate_segment(segment: str) -> str:
    """Regex for one path segment (no ``/`` inside, not ``**``)."""
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            # Runs of stars inside a segment behave like one star.
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = segment.find("]", i + 2 if segment[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = segment[i + 1 : end]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\")
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = end
        elif char == "{":
            end = _find_closing(segment, i, "{", "}")
            if end == -1:
                out.append(re.escape(char))
            else:
                options = [_translate_segment(part) for part in _split_braces(segment[i + 1 : end])]
                out.append("(?:" + "|".join(options) + ")")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _expand_path_braces(pattern: str) -> list[str]:
    """Expand braces whose options contain ``/`` (``{src,lib}/**``) into whole patterns."""
    start = pattern.find("{")
    while start != -1:
        end = _find_closing(pattern, start, "{", "}")
        if end == -1:
            return [pattern]
        body = pattern[start + 1 : end]
        if "/" in body:
            head, tail = pattern[:start], pattern[end + 1 :]
            expanded: list[str] = []
            for option in _split_braces(body):
                expanded.extend(_expand_path_braces(head + option + tail))
            return expanded
        start = pattern.find("{", end + 1)
    return [pattern]


def _translate(pattern: str) -> str:
    segments = pattern.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            # Zero or more whole directories; at the end, anything below.
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        out.append(_translate_segment(segment) + ("" if last else "/"))
    return "".join(out)


def _clean_pattern(pattern: str) -> tuple[str, bool]:
    """Normalise a pattern; return it and whether it is anchored (contains a ``/``)."""
    text = pattern.strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    anchored = "/" in text.rstrip("/")
    if text.startswith("/") and not text.startswith("//"):
        text = text[1:]
    text = text.rstrip("/") or text
    # Collapse "a/**/**/b" and duplicate slashes: they mean the same thing.
    text = re.sub(r"/{2,}", "/", text)
    while "**/**" in text:
        text = text.replace("**/**", "**")
    return text, anchored


@functools.lru_cache(maxsize=4096)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a skill path glob into a regex matched against a POSIX relative path.

    Unanchored patterns (no ``/``) are prefixed with ``(?:.*/)?`` so they match a file
    name at any depth.
    """
    text, anchored = _clean_pattern(pattern)
    alternatives = [_translate(option) for option in _expand_path_braces(text)]
    body = "(?:" + "|".join(alternatives) + ")"
    if not anchored:
        body = "(?:.*/)?" + body
    return re.compile(body, re.DOTALL)


def relative_posix_path(path: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None) -> str:
    """Return ``path`` as a normalised POSIX path, relative to ``cwd`` when it lies under it.

    Pure string work: links are not resolved and nothing is read from disk.
    """
    text = os.fspath(path).replace("\\", "/")
    absolute = text.startswith("/") or (len(text) > 2 and text[1] == ":" and text[2] == "/")
    if cwd is not None:
        base = os.fspath(cwd).replace("\\", "/").rstrip("/") or "/"
        if absolute:
            normal = posixpath.normpath(text)
            base_norm = posixpath.normpath(base)
            if normal == base_norm:
                return "."
            prefix = base_norm if base_norm.endswith("/") else base_norm + "/"
            if normal.startswith(prefix):
                return normal[len(prefix) :]
            return normal
    normal = posixpath.normpath(text) if text else text
    while normal.startswith("./"):
        normal = normal[2:]
    return normal


def glob_match(pattern: str, path: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None) -> bool:
    """Whether the file ``path`` (absolute, or relative to ``cwd``) matches ``pattern``."""
    if not pattern or not pattern.strip():
        return False
    rel = relative_posix_path(path, cwd)
    if not rel:
        return False
    regex = glob_to_regex(pattern)
    if regex.fullmatch(rel):
        return True
    # Patterns lose their leading "/" when compiled, so an absolute pattern
    # ("/srv/app/*.py") is compared with an absolute path (outside cwd) without its "/".
    return rel.startswith("/") and bool(regex.fullmatch(rel.lstrip("/")))


def matches_any_path(
    patterns: Iterable[str],
    file_paths: Iterable[str | os.PathLike[str]],
    cwd: str | os.PathLike[str] | None = None,
) -> bool:
    """Whether any of ``file_paths`` matches any of ``patterns``."""
    pattern_list = [p for p in patterns if p and p.strip()]
    if not pattern_list:
        return False
    for path in file_paths:
        for pattern in pattern_list:
            if glob_match(pattern, path, cwd):
                return True
    return False
