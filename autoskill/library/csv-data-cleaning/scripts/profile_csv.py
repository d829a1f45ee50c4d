#!/usr/bin/env python3
"""Print a column profile of a CSV file (standard library only).

Usage: python profile_csv.py PATH [--delimiter CHAR] [--encoding NAME]

For each column: inferred type, blank cells, distinct values, min/max for numbers and dates,
longest value, and a few example values. Also reports the detected encoding and delimiter,
the row count, and rows whose field count differs from the header.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import re
import sys
from collections import Counter
from datetime import date, datetime

BLANKS = {"", "na", "n/a", "null", "none", "nan", "-"}
DISTINCT_CAP = 100_000  # stop tracking distinct values beyond this to bound memory
INT_RE = re.compile(r"^[+-]?\d+$")
FLOAT_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S")
BOOLS = {"true", "false", "yes", "no", "y", "n", "t", "f"}


def detect_encoding(path: str) -> str:
    """Return utf-8-sig when the file decodes as UTF-8, else cp1252, else latin-1."""
    for encoding in ("utf-8-sig", "cp1252"):
        # Incremental decoding streams big files and copes with a character split across chunks.
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"  # decodes any byte sequence


def detect_delimiter(sample: str, candidates: str = ",;\t|") -> str:
    """Pick the candidate that splits the header into most fields, consistently across rows.

    csv.Sniffer gives up or guesses wrong on files with a ragged or blank line; agreement
    with the header's field count is a sturdier signal.
    """
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may end mid-row
    best, best_score = ",", (0.0, 0)
    for candidate in candidates:
        rows = list(csv.reader(lines, delimiter=candidate))
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        agreement = sum(len(row) == width for row in rows) / len(rows)
        if (agreement, width) > best_score:
            best, best_score = candidate, (agreement, width)
    return best


def parse_date(value: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


class Column:
    """Running statistics for one column."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.blank = 0
        self.values: Counter[str] = Counter()
        self.capped = False
        self.kinds: Counter[str] = Counter()
        self.num_min: float | None = None
        self.num_max: float | None = None
        self.date_min: date | None = None
        self.date_max: date | None = None
        self.longest = ""

    def add(self, raw: str) -> None:
        value = raw.strip()
        if value.lower() in BLANKS:
            self.blank += 1
            return
        if value in self.values or len(self.values) < DISTINCT_CAP:
            self.values[value] += 1
        else:
            self.capped = True
        if len(value) > len(self.longest):
            self.longest = value
        self.kinds[self.classify(value)] += 1

    def classify(self, value: str) -> str:
        digits = value.lstrip("+-")
        if INT_RE.match(value) and len(digits) > 1 and digits.startswith("0"):
            return "text"  # leading zeros mean an identifier (zip code, SKU), not a number
        if FLOAT_RE.match(value):
            number = float(value)
            self.num_min = number if self.num_min is None else min(self.num_min, number)
            self.num_max = number if self.num_max is None else max(self.num_max, number)
            return "integer" if INT_RE.match(value) else "float"
        if value.lower() in BOOLS:
            return "boolean"
        parsed = parse_date(value)
        if parsed is not None:
            self.date_min = parsed if self.date_min is None else min(self.date_min, parsed)
            self.date_max = parsed if self.date_max is None else max(self.date_max, parsed)
            return "date"
        return "text"

    def inferred_type(self) -> str:
        if not self.kinds:
            return "empty"
        total = sum(self.kinds.values())
        kind, count = self.kinds.most_common(1)[0]
        if set(self.kinds) == {"integer", "float"}:
            return "float"
        # Call a column typed only when nearly all of its values agree.
        return kind if count / total >= 0.95 else f"mixed ({', '.join(sorted(self.kinds))})"

    def report(self, rows: int) -> list[str]:
        kind = self.inferred_type()
        distinct = f"{len(self.values)}{'+' if self.capped else ''}"
        lines = [
            f"{self.name!r}: {kind}",
            f"    blank: {self.blank} of {rows} ({(self.blank / rows * 100) if rows else 0:.1f}%)",
            f"    distinct: {distinct}",
        ]
        if kind in ("integer", "float") and self.num_min is not None:
            lines.append(f"    min: {self.num_min:g}  max: {self.num_max:g}")
        if kind == "date" and self.date_min is not None:
            lines.append(f"    earliest: {self.date_min}  latest: {self.date_max}")
        if self.longest:
            lines.append(f"    longest: {len(self.longest)} chars")
        examples = [value for value, _ in self.values.most_common(3)]
        if examples:
            lines.append(f"    top values: {', '.join(repr(v) for v in examples)}")
        return lines


def profile(path: str, delimiter: str | None = None, encoding: str | None = None) -> str:
    """Return the profile report of the CSV file at ``path`` as text."""
    encoding = encoding or detect_encoding(path)
    with open(path, newline="", encoding=encoding) as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        if delimiter is None:
            delimiter = detect_delimiter(sample)
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return f"{path}: empty file"
        names = [name.strip() or f"column_{i + 1}" for i, name in enumerate(header)]
        columns = [Column(name) for name in names]
        rows = 0
        ragged: list[int] = []
        for line_number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue  # skip blank lines
            rows += 1
            if len(row) != len(columns):
                ragged.append(line_number)
            for column, cell in zip(columns, row):
                column.add(cell)
            for column in columns[len(row):]:
                column.blank += 1

    out = [
        f"file: {path}",
        f"encoding: {encoding}  delimiter: {delimiter!r}",
        f"rows: {rows}  columns: {len(columns)}",
    ]
    duplicates = [name for name, count in Counter(names).items() if count > 1]
    if duplicates:
        out.append(f"duplicate header names: {', '.join(duplicates)}")
    if ragged:
        shown = ", ".join(str(n) for n in ragged[:10])
        out.append(f"rows with a different field count: {len(ragged)} (lines {shown})")
    out.append("")
    for column in columns:
        out.extend(column.report(rows))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print column statistics for a CSV file.")
    parser.add_argument("path", help="CSV file to profile")
    parser.add_argument("--delimiter", help="field separator (default: sniffed)")
    parser.add_argument("--encoding", help="text encoding (default: detected)")
    args = parser.parse_args(argv)
    try:
        print(profile(args.path, args.delimiter, args.encoding))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
