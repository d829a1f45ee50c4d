"""The PostgreSQL store's schema: tables, indexes, migrations and the pgvector adapters.

Everything lives in one schema (``autoskill`` by default), so several stores can share a
database. The ``meta`` table records the schema version and the embedder identity and
dimensions; :func:`ensure_schema` creates or migrates the schema idempotently under an
advisory lock (several processes may open a fresh database at once), one migration
function per version.

Search layout (see ``docs/benchmarks.md``):

* ``skills_user_owner`` — a B-tree on ``owner``, partial on ``scope = 'user'``: a user's
  search reads only that user's rows and ranks them exactly.
* ``skills_library_hnsw`` — HNSW (``vector_ip_ops``) partial on ``scope = 'library'``:
  shared libraries are large and approximate search pays off there. Being partial, the
  planner can never pick it for a per-user query (whose ``scope = 'user'`` cannot imply
  the index predicate).

This module imports psycopg only inside functions: importing it costs nothing.
"""

from __future__ import annotations

import re
import struct
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from autoskill.errors import EmbedderMismatchError, StoreCorruptError, StoreError

__all__ = [
    "SCHEMA_VERSION",
    "PgVector",
    "Names",
    "check_schema_name",
    "ensure_schema",
    "register_vector",
]

#: The schema version this code writes. Bump it and add a function to ``MIGRATIONS``.
SCHEMA_VERSION = 1

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    """A schema name we can interpolate safely (letters, digits, underscore)."""
    if not isinstance(schema, str) or not _IDENT.match(schema):
        raise StoreError(f"schema must be a plain identifier (letters, digits, _), got {schema!r}")
    return schema


class Names:
    """Quoted, schema-qualified names used to build the store's SQL."""

    def __init__(self, schema: str, extension_schema: str = "public") -> None:
        check_schema_name(schema)
        self.schema = schema
        self.ext = extension_schema
        q = f'"{schema}"'
        e = '"' + extension_schema.replace('"', '""') + '"'
        self.q = q
        self.meta = f"{q}.meta"
        self.skills = f"{q}.skills"
        self.versions = f"{q}.versions"
        self.usage = f"{q}.usage"
        self.records = f"{q}.records"
        self.windows = f"{q}.windows"
        self.window_runs = f"{q}.window_runs"
        self.changes = f"{q}.skill_changes"
        self.vector_ids = f"{q}.vector_ids"
        # Qualified so that queries work whatever search_path a pooled connection has.
        self.vector_type = f"{e}.vector"
        self.ip = f"OPERATOR({e}.<#>)"
        self.ip_ops = f"{e}.vector_ip_ops"


# -- vectors on the wire ---------------------------------------------------------------------


class PgVector:
    """A float32 vector sent to PostgreSQL in pgvector's binary format (``%b``)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.ascontiguousarray(array, dtype=np.float32)


_adapter_lock = threading.Lock()
_adapters: dict[int, tuple[type, type, type]] = {}


def _adapter_classes(oid: int) -> tuple[type, type, type]:
    """Dumper and loaders for the ``vector`` type with this OID (made once per OID)."""
    with _adapter_lock:
        found = _adapters.get(oid)
        if found is not None:
            return found
        from psycopg.adapt import Dumper, Loader
        from psycopg.pq import Format

        class VectorDumper(Dumper):
            format = Format.BINARY

            def dump(self, obj: PgVector) -> bytes:
                array = obj.array
                # pgvector binary: uint16 dims, uint16 unused, then big-endian float4s.
                return struct.pack(">HH", array.shape[0], 0) + array.astype(">f4").tobytes()

        VectorDumper.oid = oid

        class VectorBinaryLoader(Loader):
            format = Format.BINARY

            def load(self, data: Any) -> np.ndarray:
                raw = bytes(data)
                dims = struct.unpack_from(">H", raw)[0]
                return np.frombuffer(raw, dtype=">f4", count=dims, offset=4).astype(np.float32)

        class VectorTextLoader(Loader):
            format = Format.TEXT

            def load(self, data: Any) -> np.ndarray:
                text = bytes(data).decode("ascii").strip("[]")
                return np.array([float(x) for x in text.split(",")] if text else [], dtype=np.float32)

        found = (VectorDumper, VectorBinaryLoader, VectorTextLoader)
        _adapters[oid] = found
        return found


def register_vector(conn: Any, oid: int) -> None:
    """Teach one connection to send :class:`PgVector` and read ``vector`` columns as arrays."""
    dumper, binary_loader, text_loader = _adapter_classes(oid)
    conn.adapters.register_dumper(PgVector, dumper)
    conn.adapters.register_loader(oid, binary_loader)
    conn.adapters.register_loader(oid, text_loader)


# -- the schema --------------------------------------------------------------------------------


def _v1(conn: Any, n: Names, dims: int, options: dict[str, Any]) -> None:
    """Version 1: every table the store contract needs."""
    m = int(options.get("hnsw_m", 16))
    efc = int(options.get("hnsw_ef_construction", 64))
    statements = [
        f"CREATE SEQUENCE IF NOT EXISTS {n.vector_ids}",
        f"""CREATE TABLE IF NOT EXISTS {n.skills} (
            id text PRIMARY KEY,
            vector_id bigint NOT NULL UNIQUE DEFAULT nextval('{n.vector_ids}'),
            scope text NOT NULL CHECK (scope IN ('user', 'library')),
            owner text NOT NULL,
            name text NOT NULL,
            status text NOT NULL,
            version text NOT NULL,
            tags text[] NOT NULL DEFAULT '{{}}',
            data jsonb NOT NULL,
            content_hash text NOT NULL,
            embedding {n.vector_type}({dims}) NOT NULL,
            rev bigint NOT NULL DEFAULT 1,
            updated_at text NOT NULL,
            CONSTRAINT skills_name_per_owner UNIQUE (scope, owner, name)
        )""",
        f"CREATE INDEX IF NOT EXISTS skills_user_owner ON {n.skills} (owner) WHERE scope = 'user'",
        f"CREATE INDEX IF NOT EXISTS skills_library_hnsw ON {n.skills} USING hnsw (embedding {n.ip_ops})"
        f" WITH (m = {m}, ef_construction = {efc}) WHERE scope = 'library'",
        f"""CREATE TABLE IF NOT EXISTS {n.versions} (
            skill_id text NOT NULL,
            seq integer NOT NULL,
            version text NOT NULL,
            data jsonb NOT NULL,
            reason text NOT NULL,
            provenance jsonb NOT NULL,
            created_at text NOT NULL,
            PRIMARY KEY (skill_id, seq)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {n.usage} (
            skill_id text PRIMARY KEY,
            retrievals bigint NOT NULL DEFAULT 0,
            injections bigint NOT NULL DEFAULT 0,
            successes bigint NOT NULL DEFAULT 0,
            failures bigint NOT NULL DEFAULT 0,
            last_used text
        )""",
        f"""CREATE TABLE IF NOT EXISTS {n.records} (
            namespace text NOT NULL,
            id text NOT NULL,
            vector_id bigint NOT NULL UNIQUE DEFAULT nextval('{n.vector_ids}'),
            text text NOT NULL,
            metadata jsonb NOT NULL,
            user_id text,
            embedding {n.vector_type}({dims}) NOT NULL,
            PRIMARY KEY (namespace, id)
        )""",
        f"CREATE INDEX IF NOT EXISTS records_by_user ON {n.records} (namespace, user_id)",
        f"""CREATE TABLE IF NOT EXISTS {n.windows} (
            ord bigserial,
            id text PRIMARY KEY,
            thread_id text NOT NULL,
            user_id text NOT NULL,
            events text NOT NULL,
            used_skills jsonb NOT NULL,
            status text NOT NULL,
            feedback jsonb,
            result jsonb,
            claimed_by text,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL
        )""",
        f"CREATE INDEX IF NOT EXISTS windows_thread ON {n.windows} (thread_id, status)",
        f"CREATE INDEX IF NOT EXISTS windows_status ON {n.windows} (status, created_at)",
        f"CREATE INDEX IF NOT EXISTS windows_user ON {n.windows} (user_id, status)",
        f"CREATE TABLE IF NOT EXISTS {n.window_runs} (run_id text PRIMARY KEY, window_id text NOT NULL)",
        # The skill change log: each process keeps its BM25 index in step by replaying it.
        # Sequence numbers come from the meta row 'change_seq', taken as the last statement
        # of a write transaction, so they become visible in order (no gaps to wait out).
        f"CREATE TABLE IF NOT EXISTS {n.changes} (seq bigint NOT NULL, skill_id text NOT NULL, PRIMARY KEY (seq, skill_id))",
        f"INSERT INTO {n.meta} (key, value) VALUES ('change_seq', '0') ON CONFLICT (key) DO NOTHING",
    ]
    for statement in statements:
        conn.execute(statement)


#: version -> function bringing a schema from version - 1 to version.
MIGRATIONS: dict[int, Callable[[Any, Names, int, dict[str, Any]], None]] = {1: _v1}


def _extension_schema(conn: Any) -> str | None:
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'vector'"
    ).fetchone()
    return None if row is None else str(row[0])


def ensure_schema(conn: Any, schema: str, *, identity: str, dims: int,
                  options: dict[str, Any] | None = None) -> tuple[Names, int]:
    """Create or migrate the store's schema; returns its names and the vector type's OID.

    Idempotent and safe when several processes open a fresh database at once (an
    advisory lock serialises them).

    Raises:
        EmbedderMismatchError: The schema holds vectors of another embedder.
        StoreCorruptError: The schema was written by a newer AutoSkill.
        StoreError: pgvector is not available to this database user.
    """
    import psycopg

    check_schema_name(schema)
    options = dict(options or {})
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"autoskill-schema:{schema}",))
        ext = _extension_schema(conn)
        if ext is None:
            try:
                with conn.transaction():
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise StoreError(
                    f"the PostgreSQL store needs the pgvector extension and could not create it ({exc}); "
                    "install pgvector on the server and run `CREATE EXTENSION vector` as a superuser"
                ) from None
            ext = _extension_schema(conn) or "public"
        names = Names(schema, ext)
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {names.q}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {names.meta} (key text PRIMARY KEY, value text NOT NULL)")
        meta = dict(conn.execute(f"SELECT key, value FROM {names.meta}").fetchall())
        stored = meta.get("schema_version")
        if stored is None:
            for version in sorted(MIGRATIONS):
                MIGRATIONS[version](conn, names, dims, options)
            for key, value in (("schema_version", str(SCHEMA_VERSION)), ("embedder", identity), ("dims", str(dims))):
                conn.execute(f"INSERT INTO {names.meta} (key, value) VALUES (%s, %s)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
            conn.execute(f"INSERT INTO {names.meta} (key, value) VALUES ('created_at', now()::text)"
                         " ON CONFLICT (key) DO NOTHING")
        else:
            if int(stored) > SCHEMA_VERSION:
                raise StoreCorruptError(
                    f"PostgreSQL schema {schema!r} is at version {stored}, newer than this AutoSkill "
                    f"({SCHEMA_VERSION}); upgrade autoskill"
                )
            if meta.get("embedder") != identity or meta.get("dims") != str(dims):
                raise EmbedderMismatchError(
                    f"PostgreSQL schema {schema!r} holds vectors of embedder {meta.get('embedder')!r} "
                    f"({meta.get('dims')} dims) but was opened with {identity!r} ({dims} dims); "
                    "open it with the same embedder, or migrate into a new schema"
                )
            for version in range(int(stored) + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](conn, names, dims, options)
            if int(stored) < SCHEMA_VERSION:
                conn.execute(f"UPDATE {names.meta} SET value = %s WHERE key = 'schema_version'",
                             (str(SCHEMA_VERSION),))
        oid = conn.execute(
            "SELECT t.oid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE t.typname = 'vector' AND n.nspname = %s", (ext,)
        ).fetchone()[0]
    return names, int(oid)
