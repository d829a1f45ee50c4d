"""The packed array file behind the saved lexical index: round trip, framing, damage."""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import pytest

from autoskill.retrieval.packed_file import read_packed, write_packed


def sections() -> dict:  # type: ignore[type-arg]
    return {
        "bytes": np.frombuffer("héllo\n部署".encode(), dtype=np.uint8),
        "floats": np.linspace(0, 1, 7),
        "flags": np.array([True, False, True]),
        "empty": np.zeros(0, dtype=np.int64),
        "streamed": [array("i", [1, 2, 3]), None, array("i"), array("i", [-4])],
        "strided": np.arange(20, dtype=np.int32)[::3],
    }


def test_round_trip_keeps_names_dtypes_values_and_the_trailer(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    write_packed(path, sections(), {"meta": {"seq": 3}, "format": "x/1"})
    arrays, trailer = read_packed(path)
    assert trailer["meta"] == {"seq": 3} and trailer["format"] == "x/1"
    assert list(arrays) == list(sections())
    assert bytes(arrays["bytes"]).decode() == "héllo\n部署"
    assert arrays["floats"].tolist() == np.linspace(0, 1, 7).tolist()
    assert arrays["flags"].tolist() == [True, False, True] and arrays["flags"].dtype == bool
    assert arrays["empty"].size == 0 and arrays["empty"].dtype == np.int64
    assert arrays["streamed"].tolist() == [1, 2, 3, -4] and arrays["streamed"].dtype == np.int32
    assert arrays["strided"].tolist() == list(range(0, 20, 3))
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


@pytest.mark.parametrize("damage", ["flip-body", "flip-trailer", "truncate", "append", "empty", "foreign"])
def test_damaged_files_are_refused_with_the_path(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "f.bin"
    write_packed(path, sections(), {"format": "x/1"})
    data = bytearray(path.read_bytes())
    if damage == "flip-body":
        data[20] ^= 0x01
    elif damage == "flip-trailer":
        data[-40] ^= 0x20
    elif damage == "truncate":
        del data[-30:]
    elif damage == "append":
        data += b"more"
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"PK\x03\x04" + bytes(100))
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="f.bin"):
        read_packed(path)
