"""Helpers shared by the reliability tests: writer processes and their logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autoskill.embeddings import HashingEmbedder

HERE = Path(__file__).resolve().parent
WRITER = HERE / "_store_writer.py"
EMBEDDER = HashingEmbedder(dims=64)


@dataclass
class WriterLog:
    """What a writer process said before it died: returned writes and the one in flight."""

    done: list[dict] = field(default_factory=list)
    in_flight: dict | None = None
    ready: bool = False
    exited: bool = False


def parse_writer_output(text: str) -> WriterLog:
    """Read a writer's stdout; a torn last line (killed mid-print) is ignored."""
    log = WriterLog()
    for line in text.splitlines():
        kind, _, payload = line.partition(" ")
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            continue
        if kind == "READY":
            log.ready = True
        elif kind == "BEGIN":
            log.in_flight = data
        elif kind == "DONE" and "id" in data:
            log.done.append(data)
            if data.get("op") != "ingest":
                log.in_flight = None
        elif kind == "EXIT":
            log.exited = True
            log.in_flight = None
    return log


def writer_command(store: Path, seed: int, max_ops: int, users: str = "alice,bob") -> list[str]:
    return [sys.executable, str(WRITER), str(store), str(seed), str(max_ops), users]


def writer_env(crash_at: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AUTOSKILL_TEST_CRASH_AT", None)
    if crash_at:
        env["AUTOSKILL_TEST_CRASH_AT"] = crash_at
    return env


def run_writer(store: Path, seed: int, max_ops: int, *, crash_at: str | None = None,
               timeout: float = 120.0) -> tuple[int, WriterLog]:
    proc = subprocess.run(writer_command(store, seed, max_ops), env=writer_env(crash_at), capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode not in (0, -9):
        raise AssertionError(f"writer failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.returncode, parse_writer_output(proc.stdout)


def semver(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))
