"""One binary file of named arrays plus a JSON trailer, streamed out and written atomically.

Layout: an 8-byte magic, the arrays' raw bytes one after another (each padded to 8
bytes), the trailer as UTF-8 JSON (the arrays' names, dtypes, counts and offsets, a
BLAKE2b checksum of everything before it, and the caller's own values), the trailer's
length as a little-endian uint64, and the magic again.

Sections are written from numpy arrays or from lists of ``array('i')`` objects (written
one after another, never joined in memory), so saving a large index costs no second copy
of it. Reading checks the framing, the offsets and the checksum before returning any
array: a torn, truncated or foreign file is a :class:`ValueError`, never garbage.
"""

from __future__ import annotations

import hashlib
import json
import struct
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Union

import numpy as np

from autoskill._fs import atomic_write_with

__all__ = ["Section", "read_packed", "write_packed"]

#: A numpy array, or int32 arrays to write back to back (``None`` entries are skipped).
Section = Union[np.ndarray, Sequence[Union[array, None]]]

_MAGIC = b"ASKPACK1"
_LENGTH = struct.Struct("<Q")
_ALIGN = 8


def write_packed(path: str | Path, sections: Mapping[str, Section], trailer: Mapping[str, Any], *,
                 fsync: bool = False) -> None:
    """Write ``sections`` and ``trailer`` to ``path`` atomically (see the module docstring)."""

    def write(handle: BinaryIO) -> None:
        digest = hashlib.blake2b(digest_size=16)

        def put(data: Any) -> int:
            view = memoryview(data).cast("B")
            handle.write(view)
            digest.update(view)
            return len(view)

        offset = 0
        table = []
        for name, section in sections.items():
            if isinstance(section, np.ndarray):
                chunk = np.ascontiguousarray(section)
                dtype, size = chunk.dtype.str, put(chunk) if chunk.size else 0
            else:
                dtype, size = "<i4", sum(put(part) for part in section if part is not None and len(part))
            table.append([name, dtype, size // np.dtype(dtype).itemsize, offset])
            offset += size
            pad = -offset % _ALIGN
            if pad:
                offset += put(bytes(pad))
        encoded = json.dumps({**trailer, "sections": table, "body": offset,
                              "checksum": digest.hexdigest()}).encode("utf-8")
        handle.write(encoded)
        handle.write(_LENGTH.pack(len(encoded)))
        handle.write(_MAGIC)

    def framed(handle: BinaryIO) -> None:
        handle.write(_MAGIC)
        write(handle)

    atomic_write_with(path, framed, fsync=fsync)


def read_packed(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays (read-only views of one buffer) and the trailer of a packed file.

    Raises:
        ValueError: The file is not a packed file, is truncated or damaged (names it).
        OSError: It cannot be read.
    """
    data = Path(path).read_bytes()
    tail = len(_MAGIC) + _LENGTH.size
    if len(data) < len(_MAGIC) + tail or data[:len(_MAGIC)] != _MAGIC or data[-len(_MAGIC):] != _MAGIC:
        raise ValueError(f"{path}: not a packed index file (or cut short)")
    (length,) = _LENGTH.unpack_from(data, len(data) - tail)
    body_end = len(data) - tail - length
    if length <= 0 or body_end < len(_MAGIC):
        raise ValueError(f"{path}: bad trailer length")
    try:
        trailer = json.loads(data[body_end:len(data) - tail].decode("utf-8"))
        table = trailer["sections"]
        body = memoryview(data)[len(_MAGIC):body_end]
        if not isinstance(trailer, dict) or trailer.get("body") != len(body):
            raise ValueError("the body's length disagrees with the trailer")
        if hashlib.blake2b(body, digest_size=16).hexdigest() != trailer.get("checksum"):
            raise ValueError("checksum mismatch (damaged or partly written)")
        arrays: dict[str, np.ndarray] = {}
        for name, dtype, count, offset in table:
            kind = np.dtype(dtype)
            if kind.hasobject or not (0 <= offset and 0 <= count and offset + count * kind.itemsize <= len(body)):
                raise ValueError(f"section {name!r} is out of range")
            arrays[str(name)] = np.frombuffer(body, dtype=kind, count=count, offset=offset)
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return arrays, trailer
