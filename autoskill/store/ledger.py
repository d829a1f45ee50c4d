"""The ledger: SQLite tables that hold the truth about skills, history, usage and records.

One file (WAL mode) shared by every process that opens the store, or ``:memory:`` for the
in-memory store. Each write adds a row to ``changes`` so other processes can bring their
in-memory indexes up to date without reloading everything.

``tree_jobs`` is the SKILL.md tree's intent log: a write that will touch the tree records
what it will do in the same transaction as the ledger change, and clears the row once the
files are written. A row still there when the next writer takes the lock was left by a
writer that died in between, and is replayed (see ``FaissSkillStore._replay_tree_jobs``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from autoskill.errors import StoreCorruptError

__all__ = ["SCHEMA_VERSION", "Ledger"]

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS skills (
    id TEXT PRIMARY KEY,
    vector_id INTEGER NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    version TEXT NOT NULL,
    data TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    folder TEXT,
    file_hash TEXT,
    vector BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (scope, owner, name)
);
CREATE INDEX IF NOT EXISTS skills_owner ON skills (scope, owner);
-- Covers what opening a store reads of every skill, so it never touches the large rows.
CREATE INDEX IF NOT EXISTS skills_heads ON skills (vector_id, id, scope, owner, name, status);
CREATE TABLE IF NOT EXISTS versions (
    skill_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    version TEXT NOT NULL,
    data TEXT NOT NULL,
    reason TEXT NOT NULL,
    provenance TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (skill_id, seq)
);
CREATE TABLE IF NOT EXISTS usage (
    skill_id TEXT PRIMARY KEY,
    retrievals INTEGER NOT NULL DEFAULT 0,
    injections INTEGER NOT NULL DEFAULT 0,
    successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    last_used TEXT
);
CREATE TABLE IF NOT EXISTS records (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    vector_id INTEGER NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (namespace, id)
);
CREATE TABLE IF NOT EXISTS windows (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    events TEXT NOT NULL,
    used_skills TEXT NOT NULL,
    status TEXT NOT NULL,
    feedback TEXT,
    result TEXT,
    claimed_by TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS windows_thread ON windows (thread_id, status);
CREATE INDEX IF NOT EXISTS windows_status ON windows (status, created_at);
CREATE TABLE IF NOT EXISTS window_runs (run_id TEXT PRIMARY KEY, window_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    vector_id INTEGER NOT NULL,
    op TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tree_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL,
    skill_id TEXT NOT NULL,
    folder TEXT NOT NULL,
    source TEXT,
    resources TEXT
);
"""


def vector_to_blob(vector: np.ndarray) -> bytes:
    """float32 bytes of a vector (data, never pickle)."""
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def blob_to_vector(blob: bytes) -> np.ndarray:
    """The float32 vector stored by :func:`vector_to_blob`."""
    return np.frombuffer(blob, dtype=np.float32).copy()


class Ledger:
    """A thread-safe wrapper around one SQLite connection with the store's schema."""

    def __init__(self, path: str | Path | None) -> None:
        """Open (creating if needed) the ledger at ``path``, or in memory when None."""
        self.path = None if path is None else Path(path)
        target = ":memory:" if path is None else str(path)
        self._lock = threading.RLock()
        self._closed = False
        try:
            self._conn = sqlite3.connect(target, timeout=60.0, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout = 60000")
            if path is not None:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(f"{target}: not a usable ledger ({exc})") from None
        try:
            self._check_schema(target)
        except BaseException:
            self._conn.close()
            raise

    def _check_schema(self, target: str) -> None:
        with self.transaction():
            stored = self.get_meta("schema_version")
            if stored is None:
                self.set_meta("schema_version", str(SCHEMA_VERSION))
                self.set_meta("next_vector_id", "1")
            elif int(stored) > SCHEMA_VERSION:
                raise StoreCorruptError(
                    f"{target}: ledger schema {stored} is newer than this AutoSkill ({SCHEMA_VERSION}); upgrade autoskill"
                )
            elif int(stored) < SCHEMA_VERSION:
                # Migrations so far only add tables, which the schema script above created.
                self.set_meta("schema_version", str(SCHEMA_VERSION))

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``: one writer across processes)."""
        with self._lock:
            with self._corruption_named():
                self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                with self._corruption_named():
                    self._conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one committed state (WAL snapshot)."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query and return all rows."""
        with self._lock, self._corruption_named():
            return self._conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement (inside :meth:`transaction` for writes)."""
        with self._lock, self._corruption_named():
            return self._conn.execute(sql, params)

    @contextmanager
    def _corruption_named(self) -> Iterator[None]:
        # A damaged file raises the bare DatabaseError ("database disk image is
        # malformed", "file is not a database"); its subclasses (locked, constraint) are
        # ordinary failures and pass through unchanged.
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:
                raise
            where = self.path or ":memory:"
            raise StoreCorruptError(
                f"{where}: the ledger is damaged ({exc}); run `autoskill doctor` on the store, "
                "or restore the ledger from a backup"
            ) from None

    def data_version(self) -> int:
        """Changes whenever another connection commits (cheap staleness check)."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    # -- meta and ids -----------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def allocate_vector_ids(self, count: int) -> list[int]:
        """Take ``count`` fresh vector ids from the persisted counter (call inside a transaction).

        Ids are never reused, even after deletes: FAISS ids must stay stable.
        """
        start = int(self.get_meta("next_vector_id") or "1")
        self.set_meta("next_vector_id", str(start + count))
        return list(range(start, start + count))

    def log_change(self, vector_id: int, op: str) -> None:
        self.execute("INSERT INTO changes (vector_id, op) VALUES (?, ?)", (vector_id, op))

    def changes_since(self, seq: int) -> list[tuple[int, int, str]]:
        return [(int(s), int(v), str(o)) for s, v, o in
                self.query("SELECT seq, vector_id, op FROM changes WHERE seq > ? ORDER BY seq", (seq,))]

    def last_change(self) -> int:
        rows = self.query("SELECT COALESCE(MAX(seq), 0) FROM changes")
        return int(rows[0][0])

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()


def dumps(value: Any) -> str:
    """Compact JSON for ledger columns."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
