"""The PostgreSQL skill store: the same contract as the FAISS stores, on pgvector tables.

``store={"provider": "postgres", "dsn": "postgresql://..."}`` (or ``pool=`` a psycopg
``ConnectionPool`` or any connection factory). Many processes on many hosts may share one
schema: every write is a transaction, so versions, usage and pending windows stay exactly
right under concurrency.

* **Skills** are rows (content as JSONB, plus columns for owner, scope, name, status,
  version, casefolded tags and a ``vector(dims)`` embedding). A version row is written
  only when the content changed, numbered under the skill's row lock. A write built from
  a stale read (another process changed the skill after this store last read it) is
  refused with :class:`SkillConflictError` instead of silently overwriting the other
  change; re-read and retry.
* **Search** is exact per user (the user's rows through a B-tree on ``owner``, ranked by
  inner product) and HNSW over shared libraries (a partial index the per-user query can
  never use); scope ``"all"`` runs both and merges. Lexical scores come from the same
  in-process :class:`~autoskill.retrieval.bm25.BM25Index` the FAISS store builds, kept in
  step through a change log, so hybrid scores are identical across backends.
* **Windows** move between statuses with one ``UPDATE ... WHERE status = ANY(...)``
  (compare-and-set): of racing processes exactly one wins.

psycopg is imported when a store is created, never at import time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from autoskill.embeddings.base import Embedder
from autoskill.errors import SkillConflictError as _SharedSkillConflictError
from autoskill.errors import (
    EmbeddingError,
    MissingDependencyError,
    ReadOnlyScopeError,
    SkillValidationError,
    StoreError,
)
from autoskill.providers.registry import register_provider
from autoskill.retrieval.bm25 import BM25Index
from autoskill.retrieval.fields import skill_embedding_text, skill_lexical_fields
from autoskill.skill.model import Skill
from autoskill.skill.normalize import utc_timestamp
from autoskill.store.base import (
    Record,
    SkillFilter,
    SkillVersion,
    StoreStats,
    UsageStats,
    VectorHit,
    Window,
    changed_fields,
    window_changes,
    write_expectation,
)
from autoskill.store.postgres_schema import Names, PgVector, ensure_schema, register_vector

__all__ = ["PostgresSkillStore", "SkillConflictError"]

logger = logging.getLogger(__name__)

_SKILL_COLUMNS = "id, scope, owner, name, status, version, tags, data, content_hash, embedding, updated_at"
_SKILL_VALUES = "%s, %s, %s, %s, %s, %s, %s, %s, %s, %b, %s"
# Keep this many change-log rows; a process further behind rebuilds its lexical index.
_CHANGE_LOG_KEEP = 100_000
# How long the vectors of a lexical search's hits are served from one read (see ``vector``).
_PREFETCH_SECONDS = 1.0
# Forget read revisions beyond this many (optimistic checks then fall back to last-writer-wins).
_SEEN_LIMIT = 500_000


# Shared with the FAISS stores (autoskill.errors); re-exported here for compatibility.
SkillConflictError = _SharedSkillConflictError


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise MissingDependencyError("psycopg", "the postgres store", extra="postgres") from None
    return psycopg


def _partition(skill: Skill) -> str:
    if skill.scope == "user":
        return f"user:{skill.user_id or ''}"
    return f"library:{skill.library or ''}"


def _newer(version: str, than: str) -> bool:
    """Whether semver ``version`` is above ``than`` (unparseable ones: whether they differ)."""
    try:
        return tuple(int(p) for p in version.split(".")) > tuple(int(p) for p in than.split("."))
    except ValueError:
        return version != than


def _jsonable(value: Any) -> Any:
    """``value`` as psycopg's JSONB wrapper."""
    from psycopg.types.json import Jsonb

    return Jsonb(value)


# -- connections -------------------------------------------------------------------------------


class _Connections:
    """Connections for one store: a psycopg pool, a factory, or a DSN (own small pool).

    Connections are used in autocommit mode; transactions are explicit. Each one learns
    the ``vector`` type on first use.
    """

    def __init__(self, target: Any, *, max_idle: int = 8, session_sql: str = "") -> None:
        self._session_sql = session_sql
        self._pool = None
        self._factory: Callable[[], Any] | None = None
        if isinstance(target, str):
            psycopg = _import_psycopg()
            dsn = target
            self._factory = lambda: psycopg.connect(dsn, autocommit=True)
        elif hasattr(target, "connection") and callable(target.connection):
            self._pool = target
        elif callable(target):
            self._factory = target
        else:
            raise StoreError(f"postgres store needs a DSN, a ConnectionPool or a connection factory, got {target!r}")
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle
        self._closed = False
        self._ready: weakref.WeakSet[Any] = weakref.WeakSet()
        self.vector_oid: int | None = None

    def _prepare(self, conn: Any) -> Any:
        from psycopg.pq import TransactionStatus

        if not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
            conn.autocommit = True
        if self.vector_oid is not None and conn not in self._ready:
            register_vector(conn, self.vector_oid)
            if self._session_sql:
                conn.execute(self._session_sql)
            self._ready.add(conn)
        return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        if self._closed:
            raise StoreError("the postgres store is closed")
        if self._pool is not None:
            with self._pool.connection() as conn:
                yield self._prepare(conn)
            return
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            conn = self._factory()  # type: ignore[misc]
        try:
            yield self._prepare(conn)
        finally:
            from psycopg.pq import TransactionStatus

            healthy = not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
            with self._lock:
                keep = healthy and not self._closed and len(self._idle) < self._max_idle
                if keep:
                    self._idle.append(conn)
            if not keep:
                with contextlib.suppress(Exception):
                    conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()


class _VectorIds(Mapping[str, int]):
    """``skill id -> vector id`` read from the table (the FAISS stores' ``_skill_vid``)."""

    def __init__(self, store: PostgresSkillStore) -> None:
        self._store = store

    def __getitem__(self, skill_id: str) -> int:
        rows = self._store._rows(f"SELECT vector_id FROM {self._store._n.skills} WHERE id = %s", (skill_id,))
        if not rows:
            raise KeyError(skill_id)
        return int(rows[0][0])

    def __iter__(self) -> Iterator[str]:
        return iter([r[0] for r in self._store._rows(f"SELECT id FROM {self._store._n.skills} ORDER BY vector_id")])

    def __len__(self) -> int:
        return self._store.count()


# -- the store ---------------------------------------------------------------------------------


class PostgresSkillStore:
    """Skills and plain records in PostgreSQL + pgvector (see the module docstring).

    Example::

        store = PostgresSkillStore("postgresql://app@db/skills", HashingEmbedder())
        sdk = AutoSkill(AutoSkillConfig(store=store))
    """

    def __init__(
        self,
        dsn: Any = None,
        embedder: Embedder | None = None,
        *,
        pool: Any = None,
        schema: str = "autoskill",
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 64,
        hnsw_ef_search: int = 40,
    ) -> None:
        """Open (creating or migrating) the store in ``schema``.

        Args:
            dsn: A connection string, or a pool / connection factory (same as ``pool``).
            embedder: The embedder whose identity and dimensions the store holds.
            pool: A psycopg ``ConnectionPool`` (anything with a ``connection()`` context
                manager) or a callable returning a new connection.
            schema: The PostgreSQL schema holding the tables.
            hnsw_m: HNSW ``m`` of the library index (16 or 32; used when it is created).
            hnsw_ef_construction: HNSW ``ef_construction`` (used when it is created).
            hnsw_ef_search: Minimum HNSW ``ef_search`` (raised to ``k`` per query).

        Raises:
            MissingDependencyError: psycopg is not installed.
            EmbedderMismatchError: The schema holds vectors of another embedder.
            StoreError: The database cannot be reached or lacks pgvector.
        """
        psycopg = _import_psycopg()
        if embedder is None:
            raise StoreError("PostgresSkillStore needs an embedder")
        target = pool if pool is not None else dsn
        if target is None:
            raise StoreError("PostgresSkillStore needs dsn=... or pool=...")
        if dsn is not None and pool is not None:
            raise StoreError("pass either dsn or pool, not both")
        self.embedder = embedder
        self.schema = schema
        self._ef_search = int(hnsw_ef_search)
        # Session defaults for HNSW scans; a query needing more raises ef_search locally.
        # strict_order: with a filter, keep walking the graph until k rows pass it.
        self._conns = _Connections(target, session_sql=f"SET hnsw.ef_search = {self._ef_search};"
                                                       " SET hnsw.iterative_scan = strict_order")
        try:
            with self._conns.connection() as conn:
                self._n, oid = ensure_schema(conn, schema, identity=embedder.identity, dims=embedder.dims,
                                             options={"hnsw_m": hnsw_m, "hnsw_ef_construction": hnsw_ef_construction})
                info = conn.info
                self._where = f"postgresql://{info.user}@{info.host or 'localhost'}:{info.port}/{info.dbname} ({schema})"
        except psycopg.Error as exc:
            self._conns.close()
            raise StoreError(f"could not open the postgres store: {exc}") from None
        except BaseException:
            self._conns.close()
            raise
        self._conns.vector_oid = oid
        self._local = threading.local()
        self._seen: dict[str, int] = {}
        self._seen_lock = threading.Lock()
        # The lexical side: built on the first lexical query (like the FAISS store) and
        # kept in step through the change log.
        self._lex_lock = threading.RLock()
        self._lexical: BM25Index | None = None
        self._lex_skills: dict[int, Skill] = {}
        self._lex_revs: dict[int, int] = {}
        self._lex_vid: dict[str, int] = {}
        self._lex_parts: dict[str, set[int]] = {}
        self._lex_libraries: set[str] = set()
        self._lex_seq = 0

    # -- identity ---------------------------------------------------------------------------

    @property
    def embedder_identity(self) -> str:
        """The identity of the embedder whose vectors this store holds."""
        return self.embedder.identity

    @property
    def dims(self) -> int:
        """Vector dimensions."""
        return self.embedder.dims

    @property
    def names(self) -> Names:
        """The schema-qualified table names (for tools and tests that read the tables)."""
        return self._n

    @property
    def _skill_vid(self) -> Mapping[str, int]:
        return _VectorIds(self)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection of the store's pool (autocommit; vectors adapted)."""
        with self._conns.connection() as conn:
            yield conn

    # -- SQL helpers ------------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] | None = None, *, binary: bool = False) -> list[tuple[Any, ...]]:
        psycopg = _import_psycopg()
        try:
            with self._conns.connection() as conn:
                return conn.execute(sql, params, binary=binary).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"postgres store: {exc}") from None

    def _transact(self, work: Callable[[Any], Any], *, attempts: int = 6, transaction: bool = True) -> Any:
        """Run ``work(conn)`` in one transaction, retrying deadlocks and serialization failures."""
        psycopg = _import_psycopg()
        errors = psycopg.errors
        for attempt in range(attempts):
            try:
                with self._conns.connection() as conn:
                    if not transaction:
                        return work(conn)
                    with conn.transaction():
                        return work(conn)
            except (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable) as exc:
                if attempt == attempts - 1:
                    raise StoreError(f"postgres store: gave up after {attempts} attempts ({exc})") from None
                time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
            except errors.UniqueViolation as exc:
                if exc.diag.constraint_name == "skills_name_per_owner":
                    raise SkillValidationError(
                        "name", f"already used by another skill of the same owner ({exc.diag.message_detail})"
                    ) from None
                raise StoreError(f"postgres store: {exc}") from None
            except errors.UntranslatableCharacter as exc:
                raise StoreError(f"postgres store: text with a NUL character cannot be stored as JSON ({exc})") from None
            except psycopg.Error as exc:
                raise StoreError(f"postgres store: {exc}") from None
        raise AssertionError("unreachable")

    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        """One atomic write statement (autocommit: no transaction round trips); its rowcount."""
        return int(self._transact(lambda conn: conn.execute(sql, params).rowcount, transaction=False))

    def _log_changes(self, conn: Any, skill_ids: Iterable[str]) -> None:
        """Append to the skill change log (the last statement of a write transaction)."""
        ids = sorted(set(skill_ids))
        if not ids:
            return
        n = self._n
        seq = int(conn.execute(f"UPDATE {n.meta} SET value = (value::bigint + 1)::text WHERE key = 'change_seq'"
                               " RETURNING value::bigint").fetchone()[0])
        conn.execute(f"INSERT INTO {n.changes} (seq, skill_id) SELECT %s, unnest(%s::text[])", (seq, ids))
        if seq % 1000 == 0:
            conn.execute(f"DELETE FROM {n.changes} WHERE seq <= %s", (seq - _CHANGE_LOG_KEEP,))

    def _note_seen(self, pairs: Iterable[tuple[str, int]], *, overwrite: bool = True) -> None:
        """Remember which revision of each skill this store last handed out.

        ``overwrite=False`` (lexical hits, served from the in-process cache) keeps an
        earlier SQL read: a hybrid search reads a skill twice, and the caller builds on
        the vector hit's copy, read first.
        """
        with self._seen_lock:
            if len(self._seen) > _SEEN_LIMIT:
                self._seen.clear()
            for skill_id, rev in pairs:
                if overwrite or skill_id not in self._seen:
                    self._seen[skill_id] = int(rev)

    # -- vectors ----------------------------------------------------------------------------

    def _check_vectors(self, vectors: np.ndarray, count: int) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim == 1:
            array = array[None, :]
        if array.shape != (count, self.dims):
            raise EmbeddingError(f"expected {count} vector(s) of {self.dims} dims, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise EmbeddingError("vectors contain NaN or infinity")
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return array / norms

    def _embed_skills(self, skills: Sequence[Skill]) -> np.ndarray:
        return self.embedder.embed_documents([skill_embedding_text(s) for s in skills])

    @staticmethod
    def _stored_form(skill: Skill) -> Skill:
        """``skill`` as :meth:`get` will return it (JSON round trip, no resources)."""
        return Skill.from_trusted_dict(json.loads(json.dumps(skill.to_dict(), ensure_ascii=False)))

    # -- skills -----------------------------------------------------------------------------

    def upsert(self, skill: Skill, vector: np.ndarray | None = None, *, reason: str = "upsert",
               allow_library: bool = False, expected: Skill | None = None,
               create_only: bool = False) -> Skill:
        """Insert or replace ``skill`` (by id) and record a version when its content changed.

        ``expected`` is the stored skill this write was built from (a merge, a rollback):
        when another writer changed the skill since, the write is refused rather than
        overwriting that change. Without it, the store checks against the revision it last
        handed out for the skill (see :class:`~autoskill.errors.SkillConflictError`).
        ``create_only`` makes the write a creation, refused when a skill with this id is
        stored (a new skill whose derived id a renamed one holds).

        Raises:
            ReadOnlyScopeError: A library skill without ``allow_library``.
            SkillValidationError: Another skill of the same owner already has this name.
            SkillConflictError: Another writer changed the skill after it was read, or
                ``create_only`` and the id is taken.
        """
        vectors = None if vector is None else np.asarray(vector, dtype=np.float32).reshape(1, -1)
        return self.upsert_many([skill], vectors, reason=reason, allow_library=allow_library,
                                expected=write_expectation(skill.id, expected, create_only))[0]

    def upsert_many(self, skills: Sequence[Skill], vectors: np.ndarray | None = None, *,
                    reason: str = "import", allow_library: bool = False,
                    expected: Mapping[str, Skill | None] | None = None) -> list[Skill]:
        """Insert or replace many skills in one transaction (see :meth:`upsert`).

        ``expected`` maps skill ids to the stored skills the writes were built from (None:
        no skill may be stored under the id); each is compared with the row under its lock.
        """
        skills = list(skills)
        if not skills:
            return []
        for skill in skills:
            if skill.scope == "library" and not allow_library:
                raise ReadOnlyScopeError(
                    f"skill {skill.name!r} belongs to shared library {skill.library!r}; "
                    "shared libraries are written only by an explicit library import"
                )
        matrix = self._check_vectors(self._embed_skills(skills) if vectors is None else vectors, len(skills))
        names_in_batch = [(s.scope, s.owner or "", s.name) for s in skills]
        if len(set(names_in_batch)) != len(names_in_batch) and len({s.id for s in skills}) == len(skills):
            raise SkillValidationError("name", "two skills of one owner in this batch share a name")
        stored = [self._stored_form(s) for s in skills]
        with self._seen_lock:
            seen = {s.id: self._seen.get(s.id) for s in skills}
        n = self._n

        def work(conn: Any) -> dict[str, int]:
            ids = sorted({s.id for s in skills})
            current = self._lock_skills(conn, ids)
            scopes, owners, names = (list(col) for col in zip(*names_in_batch))
            holders = {
                (row[0], row[1], row[2]): row[3]
                for row in conn.execute(
                    f"SELECT s.scope, s.owner, s.name, s.id FROM {n.skills} s"
                    " JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k(scope, owner, name)"
                    " ON s.scope = k.scope AND s.owner = k.owner AND s.name = k.name", (scopes, owners, names))
            }
            batch_ids = set(ids)
            for skill, key in zip(skills, names_in_batch):
                holder = holders.get(key)
                if holder is not None and holder != skill.id and holder not in batch_ids:
                    raise SkillValidationError(
                        "name", f"{skill.name!r} is already used by skill {holder} of the same owner"
                    )
            stamp = utc_timestamp()
            rows = [(s.id, s.scope, s.owner or "", s.name, s.status, s.version, [t.casefold() for t in s.tags],
                     _jsonable(after.to_dict()), s.content_hash(), PgVector(vec), stamp)
                    for s, after, vec in zip(skills, stored, matrix)]
            # Skills new to us are inserted with DO NOTHING: one that another writer inserted
            # meanwhile is then locked and checked like any existing row.
            first = {}
            for position, skill in enumerate(skills):
                if skill.id not in current:
                    first.setdefault(skill.id, position)
            inserted: set[str] = set()
            if first:
                with conn.cursor() as cur:
                    cur.executemany(f"INSERT INTO {n.skills} ({_SKILL_COLUMNS}, rev) VALUES ({_SKILL_VALUES}, 1)"
                                    " ON CONFLICT (id) DO NOTHING RETURNING id",
                                    [rows[p] for p in first.values()], returning=True)
                    while True:
                        found = cur.fetchone()
                        if found is not None:
                            inserted.add(found[0])
                        if not cur.nextset():
                            break
                raced = sorted(set(first) - inserted)
                if raced:
                    current.update(self._lock_skills(conn, raced))
            checked: set[str] = set()
            for skill, after in zip(skills, stored):
                now = current.get(skill.id)
                if skill.id in checked:
                    continue  # a skill twice in one batch: the later copy replaces the earlier
                checked.add(skill.id)
                if now is not None and now[1].scope == "library" and not allow_library:
                    # A user-scope skill reusing a library skill's id would take it over.
                    raise ReadOnlyScopeError(
                        f"skill id {skill.id} belongs to shared library {now[1].library!r}; "
                        "shared libraries are written only by an explicit library import"
                    )
                if expected is not None and skill.id in expected:
                    base = expected[skill.id]
                    if (None if now is None else now[1]) != base:
                        raise SkillConflictError(skill.id, seen.get(skill.id) or 0, 0 if now is None else now[0])
                    continue  # built on exactly what is stored: no further check needed
                if now is not None and now[1] != after:
                    read = seen.get(skill.id)
                    # Built on a read another writer has overtaken, or written blind over
                    # somebody's row without moving its version on: either way the stored
                    # change would be lost, and its version recorded twice.
                    if (read is not None and now[0] != read) or (read is None and not _newer(skill.version,
                                                                                             now[1].version)):
                        raise SkillConflictError(skill.id, read or 0, now[0])
            updates: list[tuple[Any, ...]] = []
            versions: list[tuple[Any, ...]] = []
            revs: dict[str, int] = {}
            changed: list[str] = []
            for position, (skill, after) in enumerate(zip(skills, stored)):
                before = current.get(skill.id)
                if first.get(skill.id) == position and skill.id in inserted:
                    before, rev = None, 1
                elif before is None or before[1] != after:
                    rev = 1 if before is None else before[0] + 1
                else:
                    rev = before[0]
                if before is None or before[1] != after:
                    versions.append((skill.id, skill.version, _jsonable(after.to_dict()), reason,
                                     _jsonable([dict(p) for p in skill.provenance]), stamp, skill.id))
                    changed.append(skill.id)
                if not (first.get(skill.id) == position and skill.id in inserted):
                    updates.append((*rows[position], rev))
                current[skill.id] = (rev, after)
                revs[skill.id] = rev
            with conn.cursor() as cur:
                if updates:
                    cur.executemany(
                        f"INSERT INTO {n.skills} ({_SKILL_COLUMNS}, rev) VALUES ({_SKILL_VALUES}, %s)"
                        " ON CONFLICT (id) DO UPDATE SET scope = excluded.scope, owner = excluded.owner,"
                        " name = excluded.name, status = excluded.status, version = excluded.version,"
                        " tags = excluded.tags, data = excluded.data, content_hash = excluded.content_hash,"
                        " embedding = excluded.embedding, rev = excluded.rev, updated_at = excluded.updated_at",
                        updates,
                    )
                if versions:
                    # Numbered under the skill's row lock (held since the insert or the
                    # lock above), so two writers never record one sequence number twice.
                    cur.executemany(
                        f"INSERT INTO {n.versions} (skill_id, seq, version, data, reason, provenance, created_at)"
                        f" SELECT %s, COALESCE(MAX(seq), 0) + 1, %s, %s, %s, %s, %s FROM {n.versions}"
                        " WHERE skill_id = %s",
                        versions,
                    )
            self._log_changes(conn, changed)
            return revs

        revs = self._transact(work)
        self._note_seen(revs.items())
        final = {s.id: after for s, after in zip(skills, stored)}
        return [final[s.id] for s in skills]

    def _lock_skills(self, conn: Any, ids: Sequence[str]) -> dict[str, tuple[int, Skill]]:
        """``id -> (rev, skill)`` of existing rows, locked (in id order: no deadlocks)."""
        rows = conn.execute(f"SELECT id, rev, data FROM {self._n.skills} WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                            (list(ids),))
        return {row[0]: (int(row[1]), Skill.from_trusted_dict(row[2])) for row in rows}

    def get(self, skill_id: str) -> Skill | None:
        """The skill with ``skill_id``, or None."""
        rows = self._rows(f"SELECT rev, data FROM {self._n.skills} WHERE id = %s", (skill_id,))
        if not rows:
            return None
        self._note_seen([(skill_id, rows[0][0])])
        return Skill.from_trusted_dict(rows[0][1])

    def get_by_name(self, name: str, *, scope: str, owner: str | None) -> Skill | None:
        """The skill of ``owner`` in ``scope`` called ``name``, or None."""
        rows = self._rows(f"SELECT id, rev, data FROM {self._n.skills} WHERE scope = %s AND owner = %s AND name = %s",
                          (scope, owner or "", name))
        if not rows:
            return None
        self._note_seen([(rows[0][0], rows[0][1])])
        return Skill.from_trusted_dict(rows[0][2])

    def delete(self, skill_id: str, *, allow_library: bool = False) -> bool:
        """Remove a skill (its history stays). False when absent."""
        n = self._n

        def work(conn: Any) -> bool:
            row = conn.execute(f"SELECT scope, name FROM {n.skills} WHERE id = %s FOR UPDATE", (skill_id,)).fetchone()
            if row is None:
                return False
            if row[0] == "library" and not allow_library:
                raise ReadOnlyScopeError(f"skill {row[1]!r} belongs to a shared library; it is read-only here")
            conn.execute(f"DELETE FROM {n.skills} WHERE id = %s", (skill_id,))
            conn.execute(f"DELETE FROM {n.usage} WHERE skill_id = %s", (skill_id,))
            self._log_changes(conn, [skill_id])
            return True

        return bool(self._transact(work))

    @staticmethod
    def _filter_parts(flt: SkillFilter) -> list[tuple[str, str, list[Any]]]:
        """SQL conditions equivalent to ``flt.admits``: one per part (``user``, ``library``)."""
        common: list[str] = []
        common_params: list[Any] = []
        if flt.statuses:
            common.append("status = ANY(%s)")
            common_params.append(list(flt.statuses))
        if flt.tags is not None:
            common.append("tags && %s::text[]")
            common_params.append([t.casefold() for t in flt.tags])
        if flt.names is not None:
            common.append("name = ANY(%s)")
            common_params.append(list(flt.names))
        parts: list[tuple[str, str, list[Any]]] = []
        if flt.scope in ("all", "user"):
            if flt.all_users:
                parts.append(("user", "scope = 'user'", []))
            elif flt.user_id is not None:
                parts.append(("user", "scope = 'user' AND owner = %s", [flt.user_id]))
        if flt.scope in ("all", "library"):
            if flt.libraries is None:
                parts.append(("library", "scope = 'library'", []))
            else:
                parts.append(("library", "scope = 'library' AND owner = ANY(%s)", [list(flt.libraries)]))
        return [(kind, " AND ".join([cond, *common]), [*params, *common_params]) for kind, cond, params in parts]

    def list(self, flt: SkillFilter) -> list[Skill]:
        """Every skill ``flt`` admits: users' skills first, then libraries, each by owner and name."""
        parts = self._filter_parts(flt)
        if not parts:
            return []
        where = " OR ".join(f"({cond})" for _, cond, _ in parts)
        params = [p for _, _, ps in parts for p in ps]
        rows = self._rows(f"SELECT id, rev, data FROM {self._n.skills} WHERE {where}"
                          " ORDER BY scope <> 'user', owner COLLATE \"C\", name COLLATE \"C\"", params)
        self._note_seen((r[0], r[1]) for r in rows)
        return [s for s in (Skill.from_trusted_dict(r[2]) for r in rows) if flt.admits(s)]

    def count(self) -> int:
        """Number of skills (all users, all statuses)."""
        return int(self._rows(f"SELECT count(*) FROM {self._n.skills}")[0][0])

    def vector(self, skill_id: str) -> np.ndarray | None:
        """The stored vector of a skill.

        Right after a lexical search in the same thread, the vectors of all its hits are
        read in one query at the first such call (a hybrid search asks for each lexical-only
        hit's vector in turn), and served from that read for a moment.
        """
        batch = getattr(self._local, "lexical_hits", None)
        if batch is not None and skill_id in batch[1] and time.monotonic() - batch[0] < _PREFETCH_SECONDS:
            vectors = getattr(self._local, "vectors", None)
            if vectors is None:
                rows = self._rows(f"SELECT id, embedding FROM {self._n.skills} WHERE id = ANY(%s)",
                                  (sorted(batch[1]),), binary=True)
                vectors = self._local.vectors = {r[0]: r[1] for r in rows}
            return vectors.get(skill_id)
        rows = self._rows(f"SELECT embedding FROM {self._n.skills} WHERE id = %s", (skill_id,), binary=True)
        return rows[0][0] if rows else None

    def search(self, vector: np.ndarray, k: int, flt: SkillFilter) -> list[VectorHit]:
        """The ``k`` skills ``flt`` admits nearest to ``vector``.

        One statement: the user's skills ranked exactly (their rows, through the owner
        B-tree) ``UNION ALL`` the libraries' top ``k`` through the HNSW index (exact
        while they are small, when the planner prefers a scan), merged here. When a
        filter leaves HNSW short of ``k``, the libraries are ranked exactly instead.
        """
        if k <= 0:
            return []
        query = PgVector(self._check_vectors(vector, 1)[0])
        statement = self._search_statement(query, k, flt)
        if statement is None:
            return []
        sql, params, library = statement
        psycopg = _import_psycopg()
        try:
            with self._conns.connection() as conn:
                if library is not None and k > self._ef_search:
                    with conn.transaction():
                        conn.execute(f"SET LOCAL hnsw.ef_search = {min(1000, k)}")
                        rows = conn.execute(sql, params, binary=True).fetchall()
                else:
                    rows = conn.execute(sql, params, binary=True).fetchall()
                if library is not None:
                    found = sum(1 for r in rows if r[4] == "library")
                    exact = self._exact_library(conn, query, k, found, *library) if found < k else None
                    if exact is not None:
                        rows = [r for r in rows if r[4] != "library"] + exact
                skills = self._resolve(conn, rows)
        except psycopg.Error as exc:
            raise StoreError(f"postgres store: {exc}") from None
        rows.sort(key=lambda r: (r[0], r[1]))
        hits: list[VectorHit] = []
        seen: list[tuple[str, int]] = []
        for row in rows:
            resolved = skills.get(row[2])
            if resolved is None:
                continue  # deleted between the two reads
            rev, skill = resolved
            if flt.admits(skill):  # the SQL filter is exact; this is a belt-and-braces check
                hits.append(VectorHit(skill, float(np.float32(-row[0]))))
                seen.append((skill.id, rev))
                if len(hits) == k:
                    break
        self._note_seen(seen)
        return hits

    def _search_statement(self, query: PgVector, k: int,
                          flt: SkillFilter) -> tuple[str, list[Any], tuple[str, list[Any]] | None] | None:
        """The search SQL and parameters for ``flt``, and the library condition (if any).

        Rows carry the skill's JSON only while there is no lexical cache to take it from.
        """
        parts = self._filter_parts(flt)
        if not parts:
            return None
        n = self._n
        data = ", NULL AS data" if self._lexical is not None else ", data"
        selects: list[str] = []
        params: list[Any] = []
        library: tuple[str, list[Any]] | None = None
        for kind, cond, cond_params in parts:
            if kind == "user":
                # Two ORDER BY keys: no vector index can serve this; an exact ranking.
                selects.append(f"(SELECT embedding {n.ip} %b AS distance, vector_id, id, rev, 'user' AS part{data}"
                               f" FROM {n.skills} WHERE {cond} ORDER BY distance, vector_id LIMIT %s)")
                params += [query, *cond_params, k]
            else:
                library = (cond, cond_params)
                selects.append(f"(SELECT embedding {n.ip} %b AS distance, vector_id, id, rev, 'library' AS part{data}"
                               f" FROM {n.skills} WHERE {cond} ORDER BY embedding {n.ip} %b LIMIT %s)")
                params += [query, *cond_params, query, k]
        return " UNION ALL ".join(selects), params, library

    def explain_search(self, vector: np.ndarray, k: int, flt: SkillFilter, *settings: str,
                       analyze: bool = False) -> str:
        """The query plan of the statement :meth:`search` sends for ``flt`` (for operators
        and tests). ``settings`` are ``SET LOCAL`` statements applied first."""
        query = PgVector(self._check_vectors(vector, 1)[0])
        statement = self._search_statement(query, k, flt)
        if statement is None:
            return ""
        with self._conns.connection() as conn, conn.transaction():
            for setting in settings:
                conn.execute(setting)
            verb = "EXPLAIN (ANALYZE, BUFFERS)" if analyze else "EXPLAIN"
            return "\n".join(r[0] for r in conn.execute(f"{verb} {statement[0]}", statement[1]).fetchall())

    def _exact_library(self, conn: Any, query: PgVector, k: int, found: int, cond: str,
                       params: list[Any]) -> list[tuple[Any, ...]] | None:
        """The libraries' top ``k`` ranked exactly when more rows qualify than HNSW found
        (None: it found them all)."""
        n = self._n
        available = conn.execute(f"SELECT count(*) FROM {n.skills} WHERE {cond}", params).fetchone()[0]
        if available <= found:
            return None
        with conn.transaction():
            conn.execute("SET LOCAL enable_indexscan = off")
            return conn.execute(f"SELECT embedding {n.ip} %b AS distance, vector_id, id, rev, 'library' AS part,"
                                f" data FROM {n.skills} WHERE {cond} ORDER BY distance, vector_id LIMIT %s",
                                [query, *params, k], binary=True).fetchall()

    def _resolve(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> dict[str, tuple[int, Skill]]:
        """``id -> (rev, skill)`` for search rows: from the lexical cache when it holds that
        revision, else read (one query for the rest)."""
        out: dict[str, tuple[int, Skill]] = {}
        missing: list[str] = []
        cached = self._lexical is not None
        for _, vid, skill_id, rev, _, data in rows:
            skill = self._lex_skills.get(int(vid)) if cached else None
            if data is not None:
                out[skill_id] = (int(rev), Skill.from_trusted_dict(data))
            elif skill is not None and skill.id == skill_id and self._lex_revs.get(int(vid)) == rev:
                out[skill_id] = (int(rev), skill)
            else:
                missing.append(skill_id)
        if missing:
            for skill_id, rev, data in conn.execute(f"SELECT id, rev, data FROM {self._n.skills} WHERE id = ANY(%s)",
                                                    (missing,), binary=True):
                out[skill_id] = (int(rev), Skill.from_trusted_dict(data))
        return out

    # -- lexical ----------------------------------------------------------------------------

    def _lex_remember(self, vid: int, rev: int, skill: Skill) -> None:
        self._lex_forget(skill.id)
        self._lex_skills[vid] = skill
        self._lex_revs[vid] = rev
        self._lex_vid[skill.id] = vid
        partition = _partition(skill)
        self._lex_parts.setdefault(partition, set()).add(vid)
        if skill.scope == "library":
            self._lex_libraries.add(partition)
        if self._lexical is not None:
            self._lexical.add(vid, skill_lexical_fields(skill))

    def _lex_forget(self, skill_id: str) -> None:
        vid = self._lex_vid.pop(skill_id, None)
        if vid is None:
            return
        skill = self._lex_skills.pop(vid)
        self._lex_revs.pop(vid, None)
        self._lex_parts.get(_partition(skill), set()).discard(vid)
        if self._lexical is not None:
            self._lexical.remove(vid)

    def _lex_rebuild(self) -> None:
        n = self._n
        # The change-log position first: changes racing with the load are replayed after it.
        seq = int(self._rows(f"SELECT value::bigint FROM {n.meta} WHERE key = 'change_seq'")[0][0])
        rows = self._rows(f"SELECT vector_id, id, rev, data FROM {n.skills} ORDER BY vector_id")
        self._lexical = None
        self._lex_skills.clear()
        self._lex_revs.clear()
        self._lex_vid.clear()
        self._lex_parts.clear()
        self._lex_libraries.clear()
        index = BM25Index()
        for vid, _, rev, data in rows:
            skill = Skill.from_trusted_dict(data)
            self._lex_remember(int(vid), int(rev), skill)
            index.add(int(vid), skill_lexical_fields(skill))
        self._lexical = index
        self._lex_seq = seq

    def _lex_sync(self) -> BM25Index:
        """The BM25 index, brought up to date with every committed skill change."""
        with self._lex_lock:
            if self._lexical is None:
                self._lex_rebuild()
                return self._lexical  # type: ignore[return-value]
            n = self._n
            changes = self._rows(f"SELECT seq, skill_id FROM {n.changes} WHERE seq > %s ORDER BY seq",
                                 (self._lex_seq,))
            if not changes:
                return self._lexical
            if int(changes[0][0]) != self._lex_seq + 1:  # the log was trimmed past us
                self._lex_rebuild()
                return self._lexical  # type: ignore[return-value]
            ids = sorted({str(c[1]) for c in changes})
            rows = {r[1]: r for r in self._rows(f"SELECT vector_id, id, rev, data FROM {n.skills} WHERE id = ANY(%s)",
                                                (ids,))}
            for skill_id in ids:
                row = rows.get(skill_id)
                if row is None:
                    self._lex_forget(skill_id)
                else:
                    self._lex_remember(int(row[0]), int(row[2]), Skill.from_trusted_dict(row[3]))
            self._lex_seq = int(changes[-1][0])
            return self._lexical

    def _lex_partitions(self, flt: SkillFilter) -> list[str]:
        if flt.all_users:
            return [p for p in flt.partitions(list(self._lex_parts)) if self._lex_parts[p]]
        chosen = []
        if flt.scope in ("all", "user") and flt.user_id is not None:
            mine = f"user:{flt.user_id}"
            if self._lex_parts.get(mine):
                chosen.append(mine)
        if flt.scope in ("all", "library"):
            chosen.extend(p for p in flt.partitions(sorted(self._lex_libraries)) if self._lex_parts.get(p))
        return chosen

    def lexical_search(self, query: str, k: int, flt: SkillFilter) -> list[tuple[Skill, float]]:
        """The ``k`` best BM25 matches ``flt`` admits, with scores in [0, 1] (as the FAISS store)."""
        with self._lex_lock:
            index = self._lex_sync()
            ceiling = index.max_score(query)
            if ceiling <= 0 or k <= 0:
                return []
            partitions = self._lex_partitions(flt)
            size = sum(len(self._lex_parts[p]) for p in partitions)
            if size * 5 < len(self._lex_skills):
                allowed = sorted(vid for p in partitions for vid in self._lex_parts[p]
                                 if flt.admits(self._lex_skills[vid]))
                ranked = index.top(query, k, doc_ids=allowed)
            else:
                fetch = k * 2
                while True:
                    top = index.top(query, fetch)
                    ranked = [(vid, sc) for vid, sc in top if flt.admits(self._lex_skills[int(vid)])][:k]
                    if len(ranked) >= k or len(top) < fetch:
                        break
                    fetch *= 4
            out = [(self._lex_skills[int(vid)], min(1.0, score / ceiling)) for vid, score in ranked]
            self._local.lexical_hits = (time.monotonic(), {s.id for s, _ in out})
            self._local.vectors = None
            self._note_seen(((s.id, self._lex_revs[self._lex_vid[s.id]]) for s, _ in out), overwrite=False)
            return out

    def lexical_scores(self, query: str, skill_ids: Iterable[str]) -> dict[str, float]:
        """BM25 scores in [0, 1] (see :meth:`lexical_search`) of chosen skills."""
        with self._lex_lock:
            recent = getattr(self._local, "lexical_hits", None)
            if self._lexical is not None and recent is not None and time.monotonic() - recent[0] < _PREFETCH_SECONDS:
                index = self._lexical  # this thread's lexical search just synced it (one hybrid search)
            else:
                index = self._lex_sync()
            ceiling = index.max_score(query)
            vids = {self._lex_vid[i]: i for i in skill_ids if i in self._lex_vid}
            if ceiling <= 0 or not vids:
                return {}
            return {vids[v]: min(1.0, score / ceiling) for v, score in index.score(query, list(vids)).items()}

    # -- history and usage ------------------------------------------------------------------

    def history(self, skill_id: str) -> list[SkillVersion]:
        """Every recorded version of a skill, oldest first."""
        rows = self._rows(f"SELECT seq, version, data, reason, provenance, created_at FROM {self._n.versions}"
                          " WHERE skill_id = %s ORDER BY seq", (skill_id,))
        versions: list[SkillVersion] = []
        previous: Skill | None = None
        for seq, version, data, reason, prov, created in rows:
            snapshot = Skill.from_dict(data)
            versions.append(SkillVersion(skill_id=skill_id, seq=int(seq), version=version, skill=snapshot,
                                         reason=reason, provenance=tuple(prov), created_at=created,
                                         changes=changed_fields(previous, snapshot)))
            previous = snapshot
        return versions

    def record_usage(self, skill_ids: Iterable[str], *, retrievals: int = 0, injections: int = 0,
                     successes: int = 0, failures: int = 0) -> None:
        """Add to the usage counters of some skills (atomic increments)."""
        ids = sorted(i for i in dict.fromkeys(skill_ids) if i)  # sorted: one lock order, no deadlocks
        if not ids:
            return
        n = self._n
        now = utc_timestamp()
        self._execute(
            f"INSERT INTO {n.usage} AS u (skill_id, retrievals, injections, successes, failures, last_used)"
            " SELECT unnest(%s::text[]), %s, %s, %s, %s, %s ON CONFLICT (skill_id) DO UPDATE SET"
            " retrievals = u.retrievals + excluded.retrievals, injections = u.injections + excluded.injections,"
            " successes = u.successes + excluded.successes, failures = u.failures + excluded.failures,"
            " last_used = excluded.last_used",
            (ids, retrievals, injections, successes, failures, now))

    def usage(self, skill_id: str) -> UsageStats:
        """Usage counters of a skill (zeros when never used)."""
        rows = self._rows(f"SELECT retrievals, injections, successes, failures, last_used FROM {self._n.usage}"
                          " WHERE skill_id = %s", (skill_id,))
        if not rows:
            return UsageStats()
        r, i, s, f, last = rows[0]
        return UsageStats(int(r), int(i), int(s), int(f), last)

    # -- pending learning windows -----------------------------------------------------------

    _WINDOW_COLUMNS = "id, thread_id, user_id, events, used_skills, status, feedback, result, created_at, updated_at"

    def add_window(self, window: Window) -> None:
        """Persist a new pending window (and index its run ids for feedback by run)."""
        now = time.time()
        n = self._n

        def work(conn: Any) -> None:
            conn.execute(
                f"INSERT INTO {n.windows} (id, thread_id, user_id, events, used_skills, status, feedback, result,"
                " claimed_by, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s)",
                (window.id, window.thread_id, window.user_id,
                 json.dumps([dict(e) for e in window.events], ensure_ascii=False),
                 _jsonable(list(window.used_skills)), window.status,
                 _jsonable(dict(window.feedback)) if window.feedback is not None else None,
                 _jsonable(dict(window.result)) if window.result is not None else None,
                 window.created_at or now, now))
            runs = window.run_ids()
            if runs:
                conn.execute(f"INSERT INTO {n.window_runs} (run_id, window_id) SELECT unnest(%s::text[]), %s"
                             " ON CONFLICT (run_id) DO UPDATE SET window_id = excluded.window_id", (runs, window.id))

        self._transact(work)

    @staticmethod
    def _window_from_row(row: Sequence[Any]) -> Window:
        wid, thread, user, events, used, status, feedback, result, created, updated = row
        return Window(id=wid, thread_id=thread, user_id=user, events=tuple(json.loads(events)),
                      used_skills=tuple(used), status=status, feedback=feedback or None, result=result or None,
                      created_at=created, updated_at=updated)

    def get_window(self, window_id: str) -> Window | None:
        """A window by id."""
        rows = self._rows(f"SELECT {self._WINDOW_COLUMNS} FROM {self._n.windows} WHERE id = %s", (window_id,))
        return self._window_from_row(rows[0]) if rows else None

    def window_for_run(self, run_id: str) -> Window | None:
        """The window holding a run (root or child run id)."""
        rows = self._rows(f"SELECT w.{self._WINDOW_COLUMNS.replace(', ', ', w.')} FROM {self._n.window_runs} r"
                          f" JOIN {self._n.windows} w ON w.id = r.window_id WHERE r.run_id = %s", (run_id,))
        return self._window_from_row(rows[0]) if rows else None

    def list_windows(self, *, thread_id: str | None = None, user_id: str | None = None,
                     statuses: Sequence[str] | None = None, created_before: float | None = None,
                     limit: int | None = None) -> list[Window]:
        """Windows matching every given condition, oldest first."""
        clauses: list[str] = []
        params: list[Any] = []
        if thread_id is not None:
            clauses.append("thread_id = %s")
            params.append(thread_id)
        if user_id is not None:
            clauses.append("user_id = %s")
            params.append(user_id)
        if statuses:
            clauses.append("status = ANY(%s)")
            params.append(list(statuses))
        if created_before is not None:
            clauses.append("created_at < %s")
            params.append(created_before)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit else ""
        rows = self._rows(f"SELECT {self._WINDOW_COLUMNS} FROM {self._n.windows}{where} ORDER BY created_at, ord{tail}",
                          params)
        return [self._window_from_row(r) for r in rows]

    def transition_window(self, window_id: str, *, from_statuses: Sequence[str], to_status: str,
                          feedback: Mapping[str, Any] | None = None, result: Mapping[str, Any] | None = None,
                          claimed_by: str | None = None) -> bool:
        """Move a window to ``to_status`` only if it is in one of ``from_statuses``.

        One ``UPDATE ... WHERE id = %s AND status = ANY(%s)``: of racing processes, the
        one whose update matches the row (rowcount 1) wins.
        """
        sets, params = window_changes(to_status, feedback=feedback, result=result, claimed_by=claimed_by,
                                      placeholder="%s", encode=_jsonable)
        params.extend([window_id, list(from_statuses)])
        sql = f"UPDATE {self._n.windows} SET {', '.join(sets)} WHERE id = %s AND status = ANY(%s)"
        return self._execute(sql, params) == 1

    # -- plain records ----------------------------------------------------------------------

    def upsert_records(self, records: Sequence[Record], vectors: np.ndarray) -> list[str]:
        """Insert or replace plain records by (namespace, id); returns their ids."""
        records = list(records)
        if not records:
            return []
        matrix = self._check_vectors(vectors, len(records))
        self._write_records(records, matrix)
        return [r.id for r in records]

    def _write_records(self, records: Sequence[Record], matrix: np.ndarray) -> None:
        rows = []
        for record, vec in zip(records, matrix):
            try:
                metadata = json.dumps(dict(record.metadata), ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise StoreError(f"record {record.id!r}: metadata is not JSON-serialisable ({exc})") from None
            user = record.metadata.get("user_id")
            rows.append((record.namespace, record.id, record.text, metadata,
                         user if isinstance(user, str) else None, PgVector(vec)))
        n = self._n

        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {n.records} (namespace, id, text, metadata, user_id, embedding)"
                    " VALUES (%s, %s, %s, %s::jsonb, %s, %b) ON CONFLICT (namespace, id) DO UPDATE SET"
                    " text = excluded.text, metadata = excluded.metadata, user_id = excluded.user_id,"
                    " embedding = excluded.embedding", rows)

        self._transact(work)

    @staticmethod
    def _record_from_row(row: Sequence[Any]) -> Record:
        return Record(id=row[1], text=row[2], metadata=row[3], namespace=row[0])

    def get_records(self, ids: Sequence[str], *, namespace: str = "default") -> list[Record]:
        """Records with these ids, in the given order; unknown ids are skipped."""
        ids = list(ids)
        if not ids:
            return []
        rows = self._rows(f"SELECT namespace, id, text, metadata FROM {self._n.records}"
                          " WHERE namespace = %s AND id = ANY(%s)", (namespace, ids))
        found = {r[1]: self._record_from_row(r) for r in rows}
        return [found[i] for i in ids if i in found]

    def list_records(self, *, namespace: str = "default") -> list[Record]:
        """All records of a namespace (in insertion order)."""
        rows = self._rows(f"SELECT namespace, id, text, metadata FROM {self._n.records} WHERE namespace = %s"
                          " ORDER BY vector_id", (namespace,))
        return [self._record_from_row(r) for r in rows]

    def delete_records(self, ids: Sequence[str] | None, *, namespace: str = "default") -> int:
        """Delete records by id (None: the whole namespace). Returns how many were deleted."""
        n = self._n
        if ids is None:
            return self._execute(f"DELETE FROM {n.records} WHERE namespace = %s", (namespace,))
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return 0
        return self._execute(f"DELETE FROM {n.records} WHERE namespace = %s AND id = ANY(%s)", (namespace, wanted))

    def record_vector(self, record_id: str, *, namespace: str = "default") -> np.ndarray | None:
        """The stored vector of a record."""
        rows = self._rows(f"SELECT embedding FROM {self._n.records} WHERE namespace = %s AND id = %s",
                          (namespace, record_id), binary=True)
        return rows[0][0] if rows else None

    def search_records(self, vector: np.ndarray, k: int, *, namespace: str = "default",
                       where: Mapping[str, Any] | Callable[[Record], bool] | None = None) -> list[tuple[Record, float]]:
        """Nearest records of a namespace, optionally filtered by metadata equality or a predicate.

        ``where={"user_id": u, ...}`` with a string ``u`` reads only that user's records
        (an indexed column); other string values are matched in SQL too, and every
        condition is checked in Python with ``==`` exactly as the FAISS store does.
        """
        if k <= 0:
            return []
        query = PgVector(self._check_vectors(vector, 1)[0])
        clauses = ["namespace = %s"]
        params: list[Any] = [namespace]
        admits: Callable[[Record], bool] | None = None
        if callable(where):
            admits = where
        elif where:
            rest: dict[str, Any] = {}
            for key, value in where.items():
                if key == "user_id" and isinstance(value, str):
                    clauses.append("user_id = %s")
                    params.append(value)
                    continue
                rest[key] = value
                if isinstance(value, str):
                    clauses.append("metadata -> %s = to_jsonb(%s::text)")
                    params.extend([key, value])
            if rest:
                admits = lambda r: all(r.metadata.get(key) == value for key, value in rest.items())  # noqa: E731
        n = self._n
        sql = (f"SELECT embedding {n.ip} %b AS distance, vector_id, namespace, id, text, metadata FROM {n.records}"
               f" WHERE {' AND '.join(clauses)} ORDER BY distance, vector_id LIMIT %s")
        fetch = k if admits is None else max(k * 4, 32)
        while True:
            rows = self._rows(sql, [query, *params, fetch], binary=True)
            out: list[tuple[Record, float]] = []
            for row in rows:
                record = Record(id=row[3], text=row[4], metadata=row[5], namespace=row[2])
                if admits is None or admits(record):
                    out.append((record, float(np.float32(-row[0]))))
                    if len(out) == k:
                        return out
            if len(rows) < fetch:
                return out
            fetch *= 4

    # -- raw rows, for ``autoskill migrate`` --------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value of the store's meta table."""
        rows = self._rows(f"SELECT value FROM {self._n.meta} WHERE key = %s", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the store's meta table (migration progress, say)."""
        self._execute(f"INSERT INTO {self._n.meta} (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET"
                      " value = excluded.value", (key, value))

    def export_skills(self, *, ids: Sequence[str] | None = None,
                      batch_size: int = 500) -> Iterator[list[tuple[Skill, np.ndarray]]]:
        """Skills with their vectors (all, or those of ``ids`` that exist), in batches by id."""
        n = self._n
        if ids is not None:
            wanted = sorted(set(ids))
            for start in range(0, len(wanted), batch_size):
                rows = self._rows(f"SELECT id, data, embedding FROM {n.skills} WHERE id = ANY(%s) ORDER BY id",
                                  (wanted[start:start + batch_size],), binary=True)
                if rows:
                    yield [(Skill.from_trusted_dict(r[1]), r[2]) for r in rows]
            return
        after = ""
        while True:
            rows = self._rows(f"SELECT id, data, embedding FROM {n.skills} WHERE id > %s ORDER BY id LIMIT %s",
                              (after, batch_size), binary=True)
            if not rows:
                return
            yield [(Skill.from_trusted_dict(r[1]), r[2]) for r in rows]
            after = rows[-1][0]

    def export_versions(self, skill_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Raw history rows (all, or of some skills), ordered by skill and sequence number."""
        sql = f"SELECT skill_id, seq, version, data, reason, provenance, created_at FROM {self._n.versions}"
        if skill_ids is None:
            rows = self._rows(sql + " ORDER BY skill_id, seq")
        else:
            rows = self._rows(sql + " WHERE skill_id = ANY(%s) ORDER BY skill_id, seq", (list(skill_ids),))
        return [{"skill_id": r[0], "seq": int(r[1]), "version": r[2], "data": r[3], "reason": r[4],
                 "provenance": r[5], "created_at": r[6]} for r in rows]

    def export_usage(self) -> list[dict[str, Any]]:
        """Raw usage rows."""
        rows = self._rows(f"SELECT skill_id, retrievals, injections, successes, failures, last_used FROM {self._n.usage}"
                          " ORDER BY skill_id")
        return [{"skill_id": r[0], "retrievals": int(r[1]), "injections": int(r[2]), "successes": int(r[3]),
                 "failures": int(r[4]), "last_used": r[5]} for r in rows]

    def export_windows(self) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """Raw window rows (oldest first) and ``(run_id, window_id)`` pairs."""
        rows = self._rows(f"SELECT id, thread_id, user_id, events, used_skills, status, feedback, result, claimed_by,"
                          f" created_at, updated_at FROM {self._n.windows} ORDER BY created_at, ord")
        windows = [{"id": r[0], "thread_id": r[1], "user_id": r[2], "events": json.loads(r[3]), "used_skills": r[4],
                    "status": r[5], "feedback": r[6], "result": r[7], "claimed_by": r[8], "created_at": r[9],
                    "updated_at": r[10]} for r in rows]
        runs = [(r[0], r[1]) for r in self._rows(f"SELECT run_id, window_id FROM {self._n.window_runs} ORDER BY run_id")]
        return windows, runs

    def export_records(self, *, keys: Sequence[tuple[str, str]] | None = None,
                       batch_size: int = 1000) -> Iterator[list[tuple[Record, np.ndarray]]]:
        """Records with their vectors (all, or those of ``(namespace, id)`` keys that exist), in
        batches by namespace and insertion order."""
        n = self._n
        columns = "namespace, id, text, metadata, embedding, vector_id"
        if keys is not None:
            wanted = list(dict.fromkeys(keys))
            for start in range(0, len(wanted), batch_size):
                chunk = wanted[start:start + batch_size]
                rows = self._rows(f"SELECT {columns} FROM {n.records} r JOIN unnest(%s::text[], %s::text[]) AS"
                                  " k(namespace, id) USING (namespace, id) ORDER BY namespace, vector_id",
                                  ([k[0] for k in chunk], [k[1] for k in chunk]), binary=True)
                if rows:
                    yield [(Record(id=r[1], text=r[2], metadata=r[3], namespace=r[0]), r[4]) for r in rows]
            return
        after: tuple[str, int] = ("", -1)
        while True:
            rows = self._rows(f"SELECT {columns} FROM {n.records} WHERE (namespace, vector_id) > (%s, %s)"
                              " ORDER BY namespace, vector_id LIMIT %s", (after[0], after[1], batch_size), binary=True)
            if not rows:
                return
            yield [(Record(id=r[1], text=r[2], metadata=r[3], namespace=r[0]), r[4]) for r in rows]
            after = (rows[-1][0], int(rows[-1][5]))

    def import_skills(self, items: Sequence[tuple[Skill, np.ndarray]],
                      versions: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Write skills and their complete history exactly as given (a migration's write).

        Each skill's row and history rows are replaced in one transaction; ``versions``
        may also hold the history of skills that no longer exist (kept, as on delete).
        No version is added and no library check applies: this copies a store.
        """
        n = self._n
        stamp = utc_timestamp()
        rows = []
        for skill, vec in items:
            rows.append((skill.id, skill.scope, skill.owner or "", skill.name, skill.status, skill.version,
                         [t.casefold() for t in skill.tags], _jsonable(skill.to_dict()), skill.content_hash(),
                         PgVector(np.asarray(vec, dtype=np.float32)), stamp))
        history = [(r["skill_id"], int(r["seq"]), r["version"], _jsonable(r["data"]), r["reason"],
                    _jsonable(list(r["provenance"])), r["created_at"]) for rs in versions.values() for r in rs]
        touched = sorted({s.id for s, _ in items} | set(versions))

        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                if rows:
                    cur.executemany(
                        f"INSERT INTO {n.skills} (id, scope, owner, name, status, version, tags, data, content_hash,"
                        " embedding, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %b, %s)"
                        " ON CONFLICT (id) DO UPDATE SET scope = excluded.scope, owner = excluded.owner,"
                        " name = excluded.name, status = excluded.status, version = excluded.version,"
                        " tags = excluded.tags, data = excluded.data, content_hash = excluded.content_hash,"
                        f" embedding = excluded.embedding, rev = {n.skills}.rev + 1, updated_at = excluded.updated_at",
                        rows)
                cur.execute(f"DELETE FROM {n.versions} WHERE skill_id = ANY(%s)", (sorted(versions),))
                if history:
                    cur.executemany(f"INSERT INTO {n.versions} (skill_id, seq, version, data, reason, provenance,"
                                    " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)", history)
            self._log_changes(conn, [s.id for s, _ in items])

        if touched:
            self._transact(work)

    def import_usage(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Set usage rows exactly as given."""
        n = self._n
        data = [(r["skill_id"], r["retrievals"], r["injections"], r["successes"], r["failures"], r["last_used"])
                for r in rows]
        if not data:
            return

        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {n.usage} (skill_id, retrievals, injections, successes, failures, last_used)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (skill_id) DO UPDATE SET"
                    " retrievals = excluded.retrievals, injections = excluded.injections,"
                    " successes = excluded.successes, failures = excluded.failures, last_used = excluded.last_used",
                    data)

        self._transact(work)

    def import_windows(self, windows: Sequence[Mapping[str, Any]], runs: Sequence[tuple[str, str]]) -> None:
        """Set window rows and run links exactly as given."""
        n = self._n
        data = [(w["id"], w["thread_id"], w["user_id"], json.dumps(w["events"], ensure_ascii=False),
                 _jsonable(list(w["used_skills"])), w["status"],
                 None if w["feedback"] is None else _jsonable(w["feedback"]),
                 None if w["result"] is None else _jsonable(w["result"]), w["claimed_by"], w["created_at"],
                 w["updated_at"]) for w in windows]

        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                if data:
                    cur.executemany(
                        f"INSERT INTO {n.windows} (id, thread_id, user_id, events, used_skills, status, feedback,"
                        " result, claimed_by, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                        " %s, %s) ON CONFLICT (id) DO UPDATE SET thread_id = excluded.thread_id,"
                        " user_id = excluded.user_id, events = excluded.events, used_skills = excluded.used_skills,"
                        " status = excluded.status, feedback = excluded.feedback, result = excluded.result,"
                        " claimed_by = excluded.claimed_by, created_at = excluded.created_at,"
                        " updated_at = excluded.updated_at", data)
                if runs:
                    cur.executemany(f"INSERT INTO {n.window_runs} (run_id, window_id) VALUES (%s, %s)"
                                    " ON CONFLICT (run_id) DO UPDATE SET window_id = excluded.window_id", list(runs))

        if data or runs:
            self._transact(work)

    def import_records(self, items: Sequence[tuple[Record, np.ndarray]]) -> None:
        """Write records with their vectors exactly as given."""
        if items:
            self._write_records([r for r, _ in items], np.vstack([np.asarray(v, dtype=np.float32) for _, v in items]))

    # -- housekeeping -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Catch up with other processes' writes (the lexical index, when built)."""
        with self._lex_lock:
            if self._lexical is not None:
                self._lex_sync()

    def stats(self) -> StoreStats:
        """Counts of skills, owners, records and versions."""
        n = self._n
        row = self._rows(
            f"SELECT (SELECT count(*) FROM {n.skills}),"
            f" (SELECT count(DISTINCT owner) FROM {n.skills} WHERE scope = 'user'),"
            f" (SELECT count(DISTINCT owner) FROM {n.skills} WHERE scope = 'library'),"
            f" (SELECT count(*) FROM {n.records}), (SELECT count(*) FROM {n.versions})")[0]
        by_status = {str(s): int(c) for s, c in self._rows(f"SELECT status, count(*) FROM {n.skills} GROUP BY status")}
        return StoreStats(skills=int(row[0]), users=int(row[1]), libraries=int(row[2]), records=int(row[3]),
                          versions=int(row[4]), by_status=by_status, embedder=self.embedder_identity,
                          dims=self.dims, path=self._where)

    def close(self) -> None:
        """Close the store's own connections (a pool passed in stays open)."""
        self._conns.close()

    def __enter__(self) -> PostgresSkillStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@register_provider("store", "postgres")
def _postgres(
    *,
    embedder: Embedder,
    dsn: str | None = None,
    pool: Any = None,
    schema: str = "autoskill",
    hnsw_m: int = 16,
    hnsw_ef_construction: int = 64,
    hnsw_ef_search: int = 40,
) -> PostgresSkillStore:
    _import_psycopg()
    return PostgresSkillStore(dsn, embedder, pool=pool, schema=schema, hnsw_m=hnsw_m,
                              hnsw_ef_construction=hnsw_ef_construction, hnsw_ef_search=hnsw_ef_search)
