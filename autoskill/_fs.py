"""Small file-system helpers: atomic writes and contained path resolution."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from autoskill.errors import ResourceAccessError


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half of one.

    The data goes to a temporary file in the same folder, is flushed (and fsync'd unless
    ``fsync`` is False, for bulk paths that sync once at the end), then renamed over.
    """
    atomic_write_with(path, lambda handle: handle.write(data), fsync=fsync)


def atomic_write_with(path: str | Path, write: Callable[[BinaryIO], object], *, fsync: bool = True) -> None:
    """:func:`atomic_write_bytes` for content that ``write`` streams into an open file
    (large content never held in memory whole)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = True) -> None:
    """Atomically write UTF-8 text (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def is_within(path: Path, root: Path) -> bool:
    """Whether the real location of ``path`` lies inside the real location of ``root``."""
    try:
        path.resolve(strict=False).relative_to(root.resolve(strict=False))
    except ValueError:
        return False
    return True


def contained_path(root: str | Path, relative: str | os.PathLike[str]) -> Path:
    """Resolve ``relative`` under ``root``, refusing anything that leaves ``root``.

    Refused: absolute paths, ``..`` components, and links (anywhere on the way) whose
    target lies outside ``root``.

    Raises:
        ResourceAccessError: The path escapes ``root``.
    """
    text = os.fspath(relative)
    if not text or "\x00" in text:
        raise ResourceAccessError(f"invalid resource path {text!r}")
    rel = Path(text)
    if rel.is_absolute() or text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":"):
        raise ResourceAccessError(f"absolute paths are not allowed: {text!r}")
    if any(part == ".." for part in rel.parts) or ".." in text.replace("\\", "/").split("/"):
        raise ResourceAccessError(f"'..' is not allowed in resource paths: {text!r}")
    base = Path(root)
    candidate = base / rel
    if not is_within(candidate, base):
        raise ResourceAccessError(f"{text!r} leads outside the skill folder {base}")
    return candidate
