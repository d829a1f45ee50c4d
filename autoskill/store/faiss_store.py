"""The FAISS skill store: a SQLite ledger for truth, a partitioned FAISS index for speed.

The same class serves the ``inmemory`` backend (ledger in memory, no files) and the
``local`` backend (ledger file, SKILL.md tree, index cache; see ``local.py``). Each user
and each shared library is its own index partition, so a user-scoped search is an exact
search over that user's skills plus the libraries, and can never return another user's
private skill.

Several processes may share one local store: writes take a file lock plus a SQLite
``BEGIN IMMEDIATE`` transaction; every write logs its vector id in ``changes``, and each
process replays new changes into its in-memory index before it reads.

Crash safety: the ledger commit is the moment a write happens. The same transaction logs
what the write will do to the SKILL.md tree (``tree_jobs``); the tree is written after the
commit, still under the file lock, and the log row is cleared. A writer killed in between
leaves the row, and the next writer (or the next open) finishes the job from the ledger.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoskill.embeddings.base import Embedder, float32_vector
from autoskill.errors import (
    EmbeddingError,
    ReadOnlyScopeError,
    SkillConflictError,
    SkillValidationError,
    StoreError,
)
from autoskill.retrieval.bm25 import BM25Index
from autoskill.retrieval.fields import skill_embedding_text, skill_lexical_fields
from autoskill.retrieval.vector_index import APPROX_THRESHOLD, VectorIndex
from autoskill.skill.model import Skill
from autoskill.skill.normalize import utc_timestamp
from autoskill.skill.skillmd import render_skill_md
from autoskill.store.base import Record, SkillFilter, StoreStats, VectorHit, write_expectation
from autoskill.store._crash import _crash_point
from autoskill.store.ledger import Ledger, dumps, vector_to_blob
from autoskill.store.ledger_bookkeeping import LedgerBookkeeping
from autoskill.store.tree import SkillTree, file_hash

__all__ = ["FaissSkillStore"]

logger = logging.getLogger(__name__)

_HEAD_COLUMNS = "vector_id, id, scope, owner, name, status"
# A record's user (when its metadata names a string user_id), read by SQLite's JSON functions.
_RECORD_USER = "CASE json_type(metadata, '$.user_id') WHEN 'text' THEN json_extract(metadata, '$.user_id') END"
_RECORD_COLUMNS = f"namespace, id, vector_id, text, metadata, {_RECORD_USER}"
# Parsed skills kept in memory (least recently used dropped first); the rest are read
# from the ledger when a search or lookup returns them.
_PARSED_SKILLS = 20_000
_FETCH_CHUNK = 500
_CACHE_WRITES_UP_TO = 256  # a write of more skills than this is not kept in the parsed cache


def _partition(skill: Skill) -> str:
    if skill.scope == "user":
        return f"user:{skill.user_id or ''}"
    return f"library:{skill.library or ''}"


def _in_tree(folder: str) -> bool:
    """Whether a ledger folder is one of ours (relative to the store root), not a library
    folder read in place (absolute)."""
    return not os.path.isabs(folder) and not folder.startswith(("/", "\\"))


@functools.lru_cache(maxsize=65_536)
def _user_record_partition(namespace: str, user: str) -> str:
    return "records:" + json.dumps([namespace, user], ensure_ascii=False)


def _record_partition(namespace: str, user: object = None) -> str:
    # Records whose metadata names a (string) user_id get a partition per user, so that a
    # search filtered by that user scans only their records, contiguous in memory; an
    # unfiltered search covers every partition of the namespace at once (VectorIndex
    # merges many small exact partitions into one scan).
    if isinstance(user, str):
        return _user_record_partition(namespace, user)
    return f"records:{namespace}"


# What filters need of a skill, read from ledger columns without parsing the skill:
# (id, scope, owner, name, status). Kept as plain tuples (cheap to load by the 100k).
HeadRow = tuple[str, str, str, str, str]


def _head_row(skill: Skill) -> HeadRow:
    return (skill.id, skill.scope, skill.owner or "", skill.name, skill.status)


def _head_partition(row: HeadRow) -> str:
    return f"user:{row[2]}" if row[1] == "user" else f"library:{row[2]}"


class _Head:
    """A head row with the attributes :meth:`SkillFilter.admits` reads (tags aside)."""

    __slots__ = ("id", "name", "owner", "scope", "status")

    def __init__(self, skill_id: str, scope: str, owner: str, name: str, status: str) -> None:
        self.id, self.scope, self.owner, self.name, self.status = skill_id, scope, owner, name, status

    @property
    def user_id(self) -> str | None:
        return self.owner if self.scope == "user" else None

    @property
    def library(self) -> str | None:
        return self.owner if self.scope == "library" else None


def _admits_head(flt: SkillFilter, row: HeadRow | None) -> bool:
    return row is not None and flt.admits(_Head(*row))


class FaissSkillStore(LedgerBookkeeping):
    """Skills and plain records with vectors, history and usage (see :class:`SkillStore`)."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        ledger: Ledger | None = None,
        tree: SkillTree | None = None,
        write_lock: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        approx_threshold: int | None = APPROX_THRESHOLD,
        nprobe: int | None = None,
        records_approx_threshold: int | None = None,
    ) -> None:
        """Create a store over ``ledger`` (in memory when None).

        Args:
            embedder: Embeds skills whose vector the caller does not pass.
            ledger: The SQLite ledger.
            tree: SKILL.md tree to mirror skills into (local store only).
            write_lock: Cross-process lock factory held around every write.
            approx_threshold: Index partitions (one user's skills, one library, one record
                namespace) of this many vectors get an approximate IVF index, built in the
                background (None: always exact). See :class:`VectorIndex`.
            nprobe: IVF lists searched per query (None: scaled with the partition).
            records_approx_threshold: The same for plain record namespaces (the framework
                vector stores): None (default) keeps them exact, as LangChain's and
                LlamaIndex's own stores are.
        """
        self.embedder = embedder
        self._ledger = ledger or Ledger(None)
        self._tree = tree
        self._write_lock = write_lock or contextlib.nullcontext
        self._lock = threading.RLock()
        self._index_options: dict[str, Any] = {"approx_threshold": approx_threshold, "nprobe": nprobe,
                                               "prefix_thresholds": {"records:": records_approx_threshold}}
        self._index = VectorIndex(embedder.dims, **self._index_options)
        # Skills: a head per vector id (from ledger columns) and a bounded cache of parsed
        # skills; the rest stay in the ledger until asked for, so opening is cheap.
        self._heads: dict[int, HeadRow] = {}
        self._parsed: OrderedDict[int, Skill] = OrderedDict()
        self._skill_vid: dict[str, int] = {}
        self._records: dict[int, Record] = {}
        self._record_vid: dict[tuple[str, str], int] = {}
        self._record_partitions: dict[str, set[str]] = {}  # namespace -> its partitions
        self._seq = 0
        self._data_version = -1
        # Loaded (or built) on the first lexical query, then kept in step with every change:
        # building it means tokenising every skill, which opening a large store should not
        # pay for. "Dirty" means it holds changes its saved copy (if any) lacks.
        self._lexical: BM25Index | None = None
        self._lexical_dirty = False
        self._library_partitions: set[str] = set()
        self._load_all()

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
    def index(self) -> VectorIndex:
        """The in-memory FAISS index (read it, do not write it)."""
        self._sync()
        return self._index

    # -- loading and syncing ----------------------------------------------------------------

    def _load_all(self) -> None:
        """Read heads and records from the ledger and build (or adopt) the index."""
        with self._lock:
            self._seq = self._ledger.last_change()
            self._data_version = self._ledger.data_version()
            index = self._cached_index()
            self._heads.clear()
            self._parsed.clear()
            self._skill_vid.clear()
            self._lexical = None
            rows = self._ledger.query(f"SELECT {_HEAD_COLUMNS} FROM skills")
            self._heads = {row[0]: row[1:] for row in rows}
            self._skill_vid = {row[1]: row[0] for row in rows}
            del rows
            self._records.clear()
            self._record_vid.clear()
            self._record_partitions.clear()
            for row in self._ledger.query(f"SELECT {_RECORD_COLUMNS} FROM records"):
                self._remember_record(int(row[2]), self._record_from_row(row), row[5])
            self._library_partitions = {f"library:{h[2]}" for h in self._heads.values() if h[1] == "library"}
            if index is not None:
                cached, since = index
                self._index = cached
                # Bring the saved index up to the ledger: the writes (deletes included) made
                # since it was saved; anything else that differs means the save is not ours.
                self._reload_vector_ids(vid for _, vid, _ in self._ledger.changes_since(since))
                if self._index.id_partitions() != self._expected_partitions():
                    logger.warning("the saved vector index disagrees with the ledger; rebuilding it")
                    index = None
            if index is None:
                self._index = self._index_from_ledger()
                self._index_rebuilt()

    def _expected_partitions(self) -> dict[int, str]:
        """``vector id -> partition`` as the heads and records say it should be."""
        expected = {vid: _head_partition(head) for vid, head in self._heads.items()}
        expected.update((vid, _record_partition(record.namespace, record.metadata.get("user_id")))
                        for vid, record in self._records.items())
        return expected

    def _cached_index(self) -> tuple[VectorIndex, int] | None:
        """An index saved earlier and the change seq it reflects (the local store keeps one)."""
        return None

    def _index_rebuilt(self) -> None:
        """Called after the index was rebuilt from the ledger (the local store saves it)."""

    def _index_from_ledger(self) -> VectorIndex:
        """Build the index from the vectors in the ledger, one partition at a time."""
        index = VectorIndex(self.dims, **self._index_options)
        groups: dict[str, tuple[list[int], list[bytes]]] = {}
        for vid, scope, owner, blob in self._ledger.query("SELECT vector_id, scope, owner, vector FROM skills"):
            ids, blobs = groups.setdefault(f"user:{owner}" if scope == "user" else f"library:{owner}", ([], []))
            ids.append(int(vid))
            blobs.append(blob)
        for namespace, vid, user, blob in self._ledger.query(
                f"SELECT namespace, vector_id, {_RECORD_USER}, vector FROM records"):
            ids, blobs = groups.setdefault(_record_partition(namespace, user), ([], []))
            ids.append(int(vid))
            blobs.append(blob)
        for partition, (ids, blobs) in groups.items():
            matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), self.dims)
            index.add(np.asarray(ids, dtype=np.int64), matrix, partition)
        return index

    def _record_from_row(self, row: Sequence[Any]) -> Record:
        return Record(id=row[1], text=row[3], metadata=json.loads(row[4]), namespace=row[0])

    def _remember_skill(self, vid: int, skill: Skill, *, cache: bool = True) -> None:
        self._heads[vid] = _head_row(skill)
        self._skill_vid[skill.id] = vid
        if cache:
            self._cache_skill(vid, skill)
        if self._lexical is not None:
            self._lexical.add(vid, skill_lexical_fields(skill))
            self._lexical_dirty = True

    def _cache_skill(self, vid: int, skill: Skill) -> None:
        self._parsed[vid] = skill
        self._parsed.move_to_end(vid)
        if len(self._parsed) > _PARSED_SKILLS:
            self._parsed.popitem(last=False)

    def _forget_skill(self, vid: int) -> None:
        head = self._heads.pop(vid, None)
        self._parsed.pop(vid, None)
        if head is not None:
            self._skill_vid.pop(head[0], None)
            if self._lexical is not None:
                self._lexical.remove(vid)
                self._lexical_dirty = True

    def _skill(self, vid: int) -> Skill | None:
        """The skill behind a vector id: from the cache, else parsed from its ledger row."""
        skill = self._parsed.get(vid)
        if skill is not None:
            self._parsed.move_to_end(vid)
            return skill
        if vid not in self._heads:
            return None
        return self._fetch_skills([vid]).get(vid)

    def _skills_of(self, vids: Sequence[int]) -> dict[int, Skill]:
        """Skills of many vector ids (cached ones plus one ledger query per chunk of the rest)."""
        found: dict[int, Skill] = {}
        missing = []
        for vid in vids:
            skill = self._parsed.get(vid)
            if skill is not None:
                found[vid] = skill
            elif vid in self._heads:
                missing.append(vid)
        for start in range(0, len(missing), _FETCH_CHUNK):
            found.update(self._fetch_skills(missing[start:start + _FETCH_CHUNK]))
        return found

    def _fetch_skills(self, vids: Sequence[int]) -> dict[int, Skill]:
        marks = ",".join("?" * len(vids))
        rows = self._ledger.query(f"SELECT vector_id, data, {_HEAD_COLUMNS} FROM skills WHERE vector_id IN ({marks})",
                                  tuple(vids))
        out: dict[int, Skill] = {}
        for row in rows:
            vid, head = int(row[0]), self._heads.get(int(row[0]))
            if head is None or head != tuple(row[3:]):
                # Another process rewrote the row since we last caught up: catch up, so the
                # skill returned agrees with the index it was found in.
                self._apply_changes()
                return {v: s for v in vids if (s := self._skill_uncached(v)) is not None}
            # Rows were written from normalised Skills: skip normalising them again.
            skill = Skill.from_trusted_dict(json.loads(row[1]))
            self._cache_skill(vid, skill)
            out[vid] = skill
        return out

    def _skill_uncached(self, vid: int) -> Skill | None:
        if vid not in self._heads:
            return None
        rows = self._ledger.query("SELECT data FROM skills WHERE vector_id = ?", (vid,))
        if not rows:
            return None
        skill = Skill.from_trusted_dict(json.loads(rows[0][0]))
        self._cache_skill(vid, skill)
        return skill

    def _iter_skills(self) -> Iterator[tuple[int, Skill]]:
        """Every skill in the ledger, parsed chunk by chunk (memory stays bounded)."""
        last = -1
        while True:
            rows = self._ledger.query("SELECT vector_id, data FROM skills WHERE vector_id > ? ORDER BY vector_id"
                                      f" LIMIT {_FETCH_CHUNK * 4}", (last,))
            if not rows:
                return
            for vid, data in rows:
                yield int(vid), Skill.from_trusted_dict(json.loads(data))
            last = int(rows[-1][0])

    def _remember_record(self, vid: int, record: Record, user: str | None) -> str:
        """Keep a record in memory; returns its index partition."""
        self._records[vid] = record
        self._record_vid[(record.namespace, record.id)] = vid
        partition = _record_partition(record.namespace, user)
        self._record_partitions.setdefault(record.namespace, set()).add(partition)
        return partition

    def _forget_record(self, vid: int) -> None:
        record = self._records.pop(vid, None)
        if record is not None:
            self._record_vid.pop((record.namespace, record.id), None)

    def _sync(self) -> None:
        """Replay writes other processes made since we last looked."""
        if self._ledger.path is None:  # an in-memory ledger has no other writers
            return
        with self._lock:
            version = self._ledger.data_version()
            if version == self._data_version:
                return
            self._data_version = version
            self._apply_changes()

    def _apply_changes(self) -> None:
        changes = self._ledger.changes_since(self._seq)
        if not changes:
            return
        self._seq = changes[-1][0]
        self._reload_vector_ids(vid for _, vid, _ in changes)

    def _reload_vector_ids(self, vids: Iterable[int]) -> dict[int, Skill]:
        """Bring vector ids in memory in line with the ledger (add, update or remove), in bulk.

        Returns the skills it read. A large batch (an import) is not kept in the parsed
        cache: it would only push out the skills searches are returning.
        """
        vids = sorted(set(vids))
        read: dict[int, Skill] = {}
        if not vids:
            return read
        cache = len(vids) <= _CACHE_WRITES_UP_TO
        for vid in vids:
            self._forget_skill(vid)
            self._forget_record(vid)
        groups: dict[str, tuple[list[int], list[bytes]]] = {}
        for start in range(0, len(vids), _FETCH_CHUNK):
            chunk = tuple(vids[start:start + _FETCH_CHUNK])
            marks = ",".join("?" * len(chunk))
            for vid, data, blob in self._ledger.query(
                    f"SELECT vector_id, data, vector FROM skills WHERE vector_id IN ({marks})", chunk):
                skill = Skill.from_trusted_dict(json.loads(data))
                self._remember_skill(int(vid), skill, cache=cache)
                read[int(vid)] = skill
                partition = _partition(skill)
                if skill.scope == "library":
                    self._library_partitions.add(partition)
                ids, blobs = groups.setdefault(partition, ([], []))
                ids.append(int(vid))
                blobs.append(blob)
            for row in self._ledger.query(
                    f"SELECT {_RECORD_COLUMNS}, vector FROM records WHERE vector_id IN ({marks})", chunk):
                partition = self._remember_record(int(row[2]), self._record_from_row(row), row[5])
                ids, blobs = groups.setdefault(partition, ([], []))
                ids.append(int(row[2]))
                blobs.append(row[6])
        kept = {vid for ids, _ in groups.values() for vid in ids}
        self._index.remove([vid for vid in vids if vid not in kept])
        for partition, (ids, blobs) in groups.items():
            # add() replaces ids already stored, moving them between partitions if need be.
            matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), self.dims)
            self._index.add(np.asarray(ids, dtype=np.int64), matrix, partition)
        return read

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Any]:
        """Hold the cross-process lock and a ledger transaction; catch up first.

        Tree jobs a dead writer left are finished before the transaction starts.
        """
        with self._lock, self._write_lock():
            if self._tree is not None:
                self._replay_tree_jobs()
            with self._ledger.transaction() as conn:
                self._apply_changes()
                yield conn
                _crash_point("before-ledger-commit")

    # -- the SKILL.md tree's intent log --------------------------------------------------------

    @staticmethod
    def _log_tree_job(conn: Any, op: str, skill_id: str, folder: str, source: Any = None,
                      resources: Mapping[str, str | bytes] | None = None) -> None:
        # In-memory resources live nowhere but in the tree once written, so the job keeps
        # them until the files are down (text as is, bytes as base64).
        packed = None
        if resources:
            packed = dumps({rel: ["b", base64.b64encode(bytes(c)).decode("ascii")] if not isinstance(c, str)
                            else ["t", c] for rel, c in resources.items()})
        conn.execute("INSERT INTO tree_jobs (op, skill_id, folder, source, resources) VALUES (?, ?, ?, ?, ?)",
                     (op, skill_id, folder, None if source is None else str(source), packed))

    @staticmethod
    def _unpack_resources(packed: str | None) -> dict[str, str | bytes]:
        if not packed:
            return {}
        return {rel: base64.b64decode(value) if kind == "b" else value
                for rel, (kind, value) in json.loads(packed).items()}

    def _clear_tree_jobs(self) -> None:
        # Called under the write lock after our own tree work: every row left is ours.
        with self._ledger.transaction() as conn:
            conn.execute("DELETE FROM tree_jobs")

    def _replay_tree_jobs(self) -> list[str]:
        """Finish the tree writes of writers that died after their ledger commit.

        Call under the write lock. A ``write`` job rewrites the skill's folder from the
        ledger (when the skill still lives there); a ``remove`` job deletes a folder no
        skill owns any more. Returns one line per file change.
        """
        rows = self._ledger.query("SELECT seq, op, skill_id, folder, source, resources FROM tree_jobs ORDER BY seq")
        if not rows or self._tree is None:
            return []
        report: list[str] = []
        for _, op, skill_id, folder, source, packed in rows:
            try:
                if op == "write":
                    found = self._ledger.query("SELECT data, folder FROM skills WHERE id = ?", (skill_id,))
                    if not found or found[0][1] != folder:
                        continue  # deleted or moved since: a later job or write covers it
                    skill = Skill.from_trusted_dict(json.loads(found[0][0]))
                    resources = self._unpack_resources(packed)
                    if resources:
                        skill = skill.evolve(resources=resources)
                    text = render_skill_md(skill)
                    path = self._tree.skill_md(folder)
                    origin = Path(source) if source and Path(source).is_dir() else None
                    if (not path.is_file() or path.read_bytes() != text.encode("utf-8") or origin is not None
                            or resources):
                        self._tree.write(skill, skill_md=text, source=origin)
                        report.append(f"{folder}: finished an interrupted write")
                elif op == "remove":
                    owned = self._ledger.query("SELECT 1 FROM skills WHERE folder = ?", (folder,))
                    if not owned and (self._tree.root / folder).exists():
                        self._tree.remove(folder)
                        report.append(f"{folder}: finished an interrupted delete")
            except (OSError, ValueError) as exc:
                logger.warning("could not finish tree job %s %s: %s", op, folder, exc)
            _crash_point("tree-job-replayed")  # recovery itself may be interrupted: it is idempotent
        with self._ledger.transaction() as conn:
            conn.execute("DELETE FROM tree_jobs WHERE seq <= ?", (rows[-1][0],))
        for line in report:
            logger.info("store: %s", line)
        return report

    def _after_commit(self, vids: Iterable[int]) -> dict[int, Skill]:
        """Apply our own committed writes to memory (same path other processes take);
        returns the skills written, as read back from the ledger."""
        with self._lock:
            read = self._reload_vector_ids(vids)
            self._seq = max(self._seq, self._ledger.last_change())
            self._data_version = self._ledger.data_version()
            return read

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

    def _check_query(self, vector: np.ndarray) -> np.ndarray:
        """One query vector as a unit float32 row (the lean path of :meth:`_check_vectors`)."""
        query = float32_vector(vector)
        if query.shape != (self.dims,):
            return self._check_vectors(query, 1)[0]  # its errors name the shape
        norm = math.sqrt(float(query @ query))
        if not math.isfinite(norm):  # NaN or infinity in it (or an overflow): the checking path
            return self._check_vectors(query, 1)[0]
        return query / norm if norm > 0 else query

    def _embed_skills(self, skills: Sequence[Skill]) -> np.ndarray:
        return self.embedder.embed_documents([skill_embedding_text(s) for s in skills])

    # -- skills -----------------------------------------------------------------------------

    def upsert(self, skill: Skill, vector: np.ndarray | None = None, *, reason: str = "upsert",
               allow_library: bool = False, write_file: bool = True, expected: Skill | None = None,
               create_only: bool = False) -> Skill:
        """Insert or replace ``skill`` (by id) and record a version when its content changed.

        ``expected`` is the stored skill this write was built from (a merge, a rollback):
        when another writer changed the skill since, the write is refused rather than
        overwriting that change. ``create_only`` makes the write a creation, refused when a
        skill with this id is stored (a new skill whose derived id a renamed one holds).

        Raises:
            ReadOnlyScopeError: A library skill without ``allow_library`` (only an explicit
                library import writes shared libraries).
            SkillValidationError: Another skill of the same owner already has this name.
            SkillConflictError: ``expected`` is no longer what is stored, or ``create_only``
                and the id is taken.
        """
        vectors = None if vector is None else np.asarray(vector, dtype=np.float32).reshape(1, -1)
        return self.upsert_many([skill], vectors, reason=reason, allow_library=allow_library,
                                write_files=write_file,
                                expected=write_expectation(skill.id, expected, create_only))[0]

    def upsert_many(self, skills: Sequence[Skill], vectors: np.ndarray | None = None, *,
                    reason: str = "import", allow_library: bool = False,
                    write_files: bool = True,
                    placed_files: Mapping[str, tuple[str, str]] | None = None,
                    expected: Mapping[str, Skill | None] | None = None) -> list[Skill]:
        """Insert or replace many skills in one transaction (the bulk path).

        Args:
            skills: The skills.
            vectors: Their vectors (embedded here when None).
            reason: Why, recorded in each new version.
            allow_library: Permit writing shared-library skills (explicit imports only).
            write_files: Mirror the skills into the SKILL.md tree (local store).
            placed_files: ``skill id -> (folder, file hash)`` for skills whose SKILL.md is
                somebody else's file (a library read in place): recorded, never written.
            expected: ``skill id -> the stored skill the write was built from`` (None: no
                skill may be stored under the id); checked under the write lock after
                catching up with other writers.
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
        touched: list[int] = []
        file_jobs: list[tuple[Skill, str | None, str, Path | None]] = []
        names_in_batch = [(s.scope, s.owner or "", s.name) for s in skills]
        if len(set(names_in_batch)) != len(names_in_batch) and len({s.id for s in skills}) == len(skills):
            raise SkillValidationError("name", "two skills of one owner in this batch share a name")
        # The file lock is held from the transaction to the end of the tree write, so no
        # other process sees the tree between our commit and our files (see _writing).
        with self._lock, self._write_lock():
            with self._writing() as conn:
                now = utc_timestamp()
                for skill, vec in zip(skills, matrix):
                    key = (skill.scope, skill.owner or "", skill.name)
                    found = conn.execute("SELECT id FROM skills WHERE scope = ? AND owner = ? AND name = ?",
                                         key).fetchall()
                    holder = found[0][0] if found else None
                    if holder is not None and holder != skill.id:
                        raise SkillValidationError(
                            "name", f"{skill.name!r} is already used by skill {holder} of the same owner"
                        )
                    old_vid = self._skill_vid.get(skill.id)
                    old = self._skill(old_vid) if old_vid is not None else None
                    if expected is not None and skill.id in expected and old != expected[skill.id]:
                        raise SkillConflictError(skill.id)
                    if old is not None and old.scope == "library" and not allow_library:
                        # A user-scope skill reusing a library skill's id would turn the
                        # library's skill into the user's (and move its folder).
                        raise ReadOnlyScopeError(
                            f"skill id {skill.id} belongs to shared library {old.library!r}; "
                            "shared libraries are written only by an explicit library import"
                        )
                    vid = old_vid if old_vid is not None else self._ledger.allocate_vector_ids(1)[0]
                    old_folder = None
                    if old is not None:
                        rows = conn.execute("SELECT folder FROM skills WHERE id = ?", (skill.id,)).fetchall()
                        old_folder = rows[0][0] if rows else None
                    folder, fhash, text = None, None, ""
                    placed = bool(placed_files and skill.id in placed_files)
                    if placed:
                        folder, fhash = placed_files[skill.id]  # type: ignore[index]
                    elif self._tree is not None and write_files:
                        folder = self._tree.folder_for(skill).as_posix()
                        text = render_skill_md(skill)
                        fhash = file_hash(text)
                    elif old_folder and self._tree is None:
                        folder = old_folder
                    conn.execute(
                        "INSERT INTO skills (id, vector_id, scope, owner, name, status, version, data, content_hash,"
                        " folder, file_hash, vector, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                        " ON CONFLICT(id) DO UPDATE SET scope=excluded.scope, owner=excluded.owner, name=excluded.name,"
                        " status=excluded.status, version=excluded.version, data=excluded.data,"
                        " content_hash=excluded.content_hash, folder=excluded.folder, file_hash=excluded.file_hash,"
                        " vector=excluded.vector, updated_at=excluded.updated_at",
                        (skill.id, vid, skill.scope, skill.owner or "", skill.name, skill.status, skill.version,
                         dumps(skill.to_dict()), skill.content_hash(), folder, fhash, vector_to_blob(vec), now),
                    )
                    if old is None or old != skill:
                        self._add_version(conn, skill, reason)
                    self._ledger.log_change(vid, "upsert")
                    touched.append(vid)
                    if folder is not None and not placed and self._tree is not None:
                        stale = old_folder if old_folder and old_folder != folder and _in_tree(old_folder) else None
                        # Resources live in the tree only: a skill moving folders (renamed,
                        # or adopted from a hand-named folder) takes them from the old one.
                        source = skill.source_dir
                        if source is None and stale is not None:
                            source = self._tree.root / stale
                        file_jobs.append((skill, stale, text, source))
                        self._log_tree_job(conn, "write", skill.id, folder, source, skill.resources)
                        if stale is not None:
                            self._log_tree_job(conn, "remove", skill.id, stale)
                # Commit happens on leaving the block; the tree is written after it, so a
                # crash in between leaves the ledger (the truth) ahead and the job logged.
            _crash_point("after-ledger-commit")
            read = self._after_commit(touched)
            _crash_point("after-index-update")
            stored = [read.get(vid) or self._skill(vid) for vid in (self._skill_vid[s.id] for s in skills)]
            if file_jobs:
                self._write_tree(file_jobs, fsync=len(file_jobs) < 64)
                _crash_point("after-tree-write")
                self._clear_tree_jobs()
        return stored

    def _write_tree(self, jobs: Sequence[tuple[Skill, str | None, str, Path | None]], *, fsync: bool) -> None:
        if self._tree is None:
            return
        for skill, stale_folder, text, source in jobs:
            try:
                self._tree.write(skill, fsync=fsync, skill_md=text or None,
                                 source=source if source is not None and source.is_dir() else None)
                if stale_folder:
                    self._tree.remove(stale_folder)
            except OSError as exc:  # the ledger has it; `refresh` rewrites the tree later
                logger.warning("could not write SKILL.md for %s: %s", skill.id, exc)
        if not fsync and jobs and hasattr(os, "sync"):
            os.sync()

    def _add_version(self, conn: Any, skill: Skill, reason: str) -> None:
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE skill_id = ?", (skill.id,)).fetchone()[0]
        conn.execute(
            "INSERT INTO versions (skill_id, seq, version, data, reason, provenance, created_at) VALUES (?,?,?,?,?,?,?)",
            (skill.id, seq, skill.version, dumps(skill.to_dict()), reason,
             dumps([dict(p) for p in skill.provenance]), utc_timestamp()),
        )

    def get(self, skill_id: str) -> Skill | None:
        """The skill with ``skill_id``, or None."""
        self._sync()
        with self._lock:
            vid = self._skill_vid.get(skill_id)
            return self._skill(vid) if vid is not None else None

    def get_by_name(self, name: str, *, scope: str, owner: str | None) -> Skill | None:
        """The skill of ``owner`` in ``scope`` called ``name``, or None."""
        self._sync()
        with self._lock:
            found = self._ledger.query("SELECT vector_id FROM skills WHERE scope = ? AND owner = ? AND name = ?",
                                       (scope, owner or "", name))
            return self._skill(int(found[0][0])) if found else None

    def delete(self, skill_id: str, *, allow_library: bool = False) -> bool:
        """Remove a skill (its history stays in the ledger). False when absent."""
        self._sync()
        with self._lock, self._write_lock():
            with self._writing() as conn:
                vid = self._skill_vid.get(skill_id)
                if vid is None:
                    return False
                _, scope, _, name, _ = self._heads[vid]
                if scope == "library" and not allow_library:
                    raise ReadOnlyScopeError(f"skill {name!r} belongs to a shared library; it is read-only here")
                rows = conn.execute("SELECT folder FROM skills WHERE id = ?", (skill_id,)).fetchall()
                folder = rows[0][0] if rows else None
                conn.execute("DELETE FROM skills WHERE id = ?", (skill_id,))
                conn.execute("DELETE FROM usage WHERE skill_id = ?", (skill_id,))
                self._ledger.log_change(vid, "delete")
                ours = self._tree is not None and bool(folder) and _in_tree(folder)
                if ours:
                    self._log_tree_job(conn, "remove", skill_id, folder)
            _crash_point("delete-after-commit")
            self._after_commit([vid])
            if ours:
                try:
                    self._tree.remove(folder)  # type: ignore[union-attr]
                except OSError as exc:  # the job stays logged; the next writer finishes it
                    logger.warning("could not remove %s: %s", folder, exc)
                else:
                    self._clear_tree_jobs()
        return True

    def list(self, flt: SkillFilter) -> list[Skill]:
        """Every skill ``flt`` admits: users' skills first, then libraries, each by owner and name."""
        self._sync()
        with self._lock:
            # Heads answer every filter but tags; only the admitted skills are parsed.
            vids = [vid for vid, head in self._heads.items() if flt.tags is not None or _admits_head(flt, head)]
            found = [s for s in self._skills_of(vids).values() if flt.admits(s)]
        return sorted(found, key=lambda s: (s.scope != "user", s.owner or "", s.name))

    def count(self) -> int:
        """Number of skills (all users, all statuses)."""
        self._sync()
        return len(self._heads)

    def vector(self, skill_id: str) -> np.ndarray | None:
        """The stored vector of a skill."""
        self._sync()
        with self._lock:
            vid = self._skill_vid.get(skill_id)
            return None if vid is None else self._index.reconstruct(vid)

    def search(self, vector: np.ndarray, k: int, flt: SkillFilter) -> list[VectorHit]:
        """The ``k`` skills ``flt`` admits nearest to ``vector``.

        Exact within partitions below the store's ``approx_threshold``; a larger partition
        (a big shared library) is searched through its IVF index.
        """
        if k <= 0:
            return []
        query = self._check_vectors(vector, 1)[0]
        self._sync()
        with self._lock:
            partitions = self._partitions_for(flt)
            if not partitions:
                return []
            available = sum(self._index.partition_size(p) for p in partitions)
            fetch = min(available, max(k * 2, k + 8))
            while True:
                found = self._index.search(query, fetch, partitions)
                hits = self._admitted(found, k, flt)
                # Filters beyond the partition (status, tags) removed some: widen until
                # k are found or the partitions are exhausted, so a filtered search still
                # returns k results whenever k exist.
                if len(hits) == k or fetch >= available or len(found) < fetch:
                    return hits
                fetch = min(available, fetch * 4)

    def search_many(self, vectors: np.ndarray, k: int, flt: SkillFilter) -> list[list[VectorHit]]:
        """:meth:`search` for each row of ``vectors``, as one batched FAISS call.

        The batch runs on every core with the GIL released (threads calling :meth:`search`
        also run in parallel); a lone :meth:`search` uses one OpenMP thread.
        """
        if k <= 0:
            return [[] for _ in range(len(vectors))]
        queries = self._check_vectors(vectors, len(vectors))
        self._sync()
        with self._lock:
            partitions = self._partitions_for(flt)
            if not partitions:
                return [[] for _ in range(len(queries))]
            available = sum(self._index.partition_size(p) for p in partitions)
            fetch = min(available, max(k * 2, k + 8))
            batches = self._index.search_batch(queries, fetch, partitions)
            out = []
            for query, found in zip(queries, batches):
                hits = self._admitted(found, k, flt)
                if len(hits) < k and fetch < available and len(found) == fetch:
                    hits = self.search(query, k, flt)  # the filter refused many: widen this one alone
                out.append(hits)
            return out

    def _admitted(self, found: Sequence[tuple[int, float]], k: int, flt: SkillFilter) -> list[VectorHit]:
        """The first ``k`` of ``found`` that ``flt`` admits, as hits (parsing only those)."""
        heads = self._heads
        if flt.tags is None:  # heads decide: parse just the k returned
            chosen = [(vid, score) for vid, score in found if _admits_head(flt, heads.get(vid))][:k]
            skills = self._skills_of([vid for vid, _ in chosen])
            return [VectorHit(skills[vid], float(score)) for vid, score in chosen if vid in skills]
        skills = self._skills_of([vid for vid, _ in found])
        return [VectorHit(skills[vid], float(score)) for vid, score in found
                if vid in skills and flt.admits(skills[vid])][:k]

    def _lexical_index(self) -> BM25Index:
        """The BM25 index over every skill: a saved one brought up to date, else built."""
        if self._lexical is None:
            index = None
            saved = self._saved_lexical()
            if saved is not None:
                index = self._caught_up_lexical(*saved)
            if index is None:
                index = BM25Index()
                for vid, skill in self._iter_skills():
                    if vid in self._heads:  # the ledger may be ahead of us; _sync brings the rest
                        index.add(vid, skill_lexical_fields(skill))
                self._lexical_dirty = True
            self._lexical = index
        return self._lexical

    def _saved_lexical(self) -> tuple[BM25Index, int] | None:
        """A lexical index saved earlier and the change seq it reflects (the local store keeps one)."""
        return None

    def _caught_up_lexical(self, index: BM25Index, since: int) -> BM25Index | None:
        """``index`` (saved at change ``since``) with the skills changed since then re-indexed;
        None when rebuilding is the better (or the only right) way."""
        self._apply_changes()  # our heads as of the ledger's latest change
        if since > self._seq:
            return None  # saved from a ledger that has since gone back (a restored backup)
        # Changes after _seq (a writer elsewhere, just now) reach it through _sync later.
        changes = [change for change in self._ledger.changes_since(since) if change[0] <= self._seq]
        if len(changes) > max(1_000, len(self._heads) // 2):
            return None  # re-reading most skills anyway: build afresh
        vids = {vid for _, vid, _ in changes}
        for vid in vids:
            index.remove(vid)
        present = [vid for vid in vids if vid in self._heads]
        skills = self._skills_of(present)
        for vid in present:
            if vid in skills:
                index.add(vid, skill_lexical_fields(skills[vid]))
        if index.doc_ids() != self._heads.keys():
            logger.warning("the saved lexical index disagrees with the ledger; rebuilding it")
            return None
        self._lexical_dirty = bool(vids)
        return index

    def lexical_search(self, query: str, k: int, flt: SkillFilter) -> list[tuple[Skill, float]]:
        """The ``k`` best BM25 matches ``flt`` admits, with scores in [0, 1].

        Scores are divided by the query's doc-independent maximum (a fixed scale per
        query, not the best hit), so they stay absolute.
        """
        self._sync()
        with self._lock:
            index = self._lexical_index()
            ceiling = index.max_score(query)
            if ceiling <= 0 or k <= 0:
                return []
            partitions = self._partitions_for(flt)
            size = sum(self._index.partition_size(p) for p in partitions)
            if size * 5 < len(self._heads):
                # A small slice (one user's skills plus small libraries): score just those.
                allowed = self._admitted_vids([vid for p in partitions for vid in self._index.ids(p)], flt)
                ranked = index.top(query, k, doc_ids=allowed)
            else:
                # Most of the store is visible: rank globally and drop what the filter refuses.
                fetch = k * 2
                while True:
                    top = index.top(query, fetch)
                    admitted = set(self._admitted_vids([int(vid) for vid, _ in top], flt))
                    ranked = [(vid, sc) for vid, sc in top if int(vid) in admitted][:k]
                    if len(ranked) >= k or len(top) < fetch:
                        break
                    fetch *= 4
            skills = self._skills_of([int(vid) for vid, _ in ranked])
            return [(skills[int(vid)], min(1.0, score / ceiling)) for vid, score in ranked if int(vid) in skills]

    def _admitted_vids(self, vids: Sequence[int], flt: SkillFilter) -> list[int]:
        if flt.tags is None:
            return [vid for vid in vids if _admits_head(flt, self._heads.get(vid))]
        skills = self._skills_of(vids)
        return [vid for vid in vids if vid in skills and flt.admits(skills[vid])]

    def lexical_scores(self, query: str, skill_ids: Iterable[str]) -> dict[str, float]:
        """BM25 scores in [0, 1] (see :meth:`lexical_search`) of chosen skills."""
        self._sync()
        with self._lock:
            index = self._lexical_index()
            ceiling = index.max_score(query)
            vids = {self._skill_vid[i]: i for i in skill_ids if i in self._skill_vid}
            if ceiling <= 0 or not vids:
                return {}
            return {vids[v]: min(1.0, score / ceiling) for v, score in index.score(query, list(vids)).items()}

    def _partitions_for(self, flt: SkillFilter) -> list[str]:
        """The non-empty partitions ``flt`` may search, without scanning every user's name."""
        if flt.all_users:
            known = (p for p in self._index.partitions() if not p.startswith("records:"))
            return [p for p in flt.partitions(known) if self._index.partition_size(p)]
        chosen = []
        if flt.scope in ("all", "user") and flt.user_id is not None:
            mine = f"user:{flt.user_id}"
            if self._index.partition_size(mine):
                chosen.append(mine)
        if flt.scope in ("all", "library"):
            chosen.extend(p for p in flt.partitions(sorted(self._library_partitions))
                          if self._index.partition_size(p))
        return chosen

    # -- plain records ----------------------------------------------------------------------

    def upsert_records(self, records: Sequence[Record], vectors: np.ndarray) -> list[str]:
        """Insert or replace plain records by (namespace, id); returns their ids."""
        records = list(records)
        if not records:
            return []
        matrix = self._check_vectors(vectors, len(records))
        touched: list[int] = []
        with self._writing() as conn:
            for record, vec in zip(records, matrix):
                vid = self._record_vid.get((record.namespace, record.id))
                if vid is None:
                    vid = self._ledger.allocate_vector_ids(1)[0]
                try:
                    metadata = dumps(dict(record.metadata))
                except (TypeError, ValueError) as exc:
                    raise StoreError(f"record {record.id!r}: metadata is not JSON-serialisable ({exc})") from None
                conn.execute(
                    "INSERT INTO records (namespace, id, vector_id, text, metadata, vector) VALUES (?,?,?,?,?,?)"
                    " ON CONFLICT(namespace, id) DO UPDATE SET text=excluded.text, metadata=excluded.metadata,"
                    " vector=excluded.vector",
                    (record.namespace, record.id, vid, record.text, metadata, vector_to_blob(vec)),
                )
                self._ledger.log_change(vid, "upsert")
                touched.append(vid)
        self._after_commit(touched)
        return [r.id for r in records]

    def get_records(self, ids: Sequence[str], *, namespace: str = "default") -> list[Record]:
        """Records with these ids, in the given order; unknown ids are skipped."""
        self._sync()
        with self._lock:
            out = []
            for record_id in ids:
                vid = self._record_vid.get((namespace, record_id))
                if vid is not None:
                    out.append(self._records[vid])
            return out

    def list_records(self, *, namespace: str = "default") -> list[Record]:
        """All records of a namespace (in insertion order of their vector ids)."""
        self._sync()
        with self._lock:
            return [r for vid, r in sorted(self._records.items()) if r.namespace == namespace]

    def delete_records(self, ids: Sequence[str] | None, *, namespace: str = "default") -> int:
        """Delete records by id (None: the whole namespace). Returns how many were deleted."""
        self._sync()
        with self._writing() as conn:
            if ids is None:
                keys = [key for key in self._record_vid if key[0] == namespace]
            else:
                keys = [(namespace, i) for i in ids if (namespace, i) in self._record_vid]
            vids = [self._record_vid[key] for key in keys]
            for (ns, record_id), vid in zip(keys, vids):
                conn.execute("DELETE FROM records WHERE namespace = ? AND id = ?", (ns, record_id))
                self._ledger.log_change(vid, "delete")
        self._after_commit(vids)
        return len(vids)

    def record_vector(self, record_id: str, *, namespace: str = "default") -> np.ndarray | None:
        """The stored vector of a record."""
        self._sync()
        with self._lock:
            vid = self._record_vid.get((namespace, record_id))
            return None if vid is None else self._index.reconstruct(vid)

    def search_records(self, vector: np.ndarray, k: int, *, namespace: str = "default",
                       where: Mapping[str, Any] | Callable[[Record], bool] | None = None) -> list[tuple[Record, float]]:
        """Nearest records of a namespace, optionally filtered by metadata equality or a predicate.

        ``where={"user_id": u, ...}`` with a string ``u`` searches only that user's record
        partition (exact, no scan of other users' records). Without it every partition of
        the namespace is searched at once.
        """
        if k <= 0:
            return []
        query = self._check_query(vector)
        self._sync()
        user = where.get("user_id") if isinstance(where, Mapping) else None
        if callable(where):
            admits = where
        elif where and not (len(where) == 1 and isinstance(user, str)):
            rest = {key: value for key, value in where.items() if not (key == "user_id" and isinstance(user, str))}
            admits = (lambda r: all(r.metadata.get(key) == value for key, value in rest.items())) if rest else None  # noqa: E731
        else:
            admits = None
        with self._lock:
            if isinstance(user, str):
                partitions = [_record_partition(namespace, user)]
            else:
                partitions = list(self._record_partitions.get(namespace, ()))
            fetch = k if admits is None else max(k * 4, 32)
            while True:
                out = []
                found = self._index.search_unit(query, fetch, partitions)  # Python ints and floats
                for vid, score in found:
                    record = self._records.get(vid)
                    if record is not None and (admits is None or admits(record)):
                        out.append((record, score))
                        if len(out) == k:
                            return out
                # Fewer than asked for means the partitions are exhausted.
                if len(found) < fetch:
                    return out
                fetch *= 4

    # -- housekeeping -----------------------------------------------------------------------

    def check_consistency(self) -> list[str]:
        """Compare this process's index and skill cache with the ledger (one snapshot).

        Returns one line per disagreement (empty when they agree): a partition whose
        vector ids differ from the ledger's, a skill whose cached content differs from
        its row. ``autoskill doctor`` and the concurrency tests call it.
        """
        problems: list[str] = []
        with self._lock, self._ledger.snapshot():
            self._apply_changes()
            expected: dict[str, set[int]] = {}
            rows = self._ledger.query("SELECT vector_id, scope, owner, content_hash, id FROM skills")
            for vid, scope, owner, chash, skill_id in rows:
                partition = f"user:{owner}" if scope == "user" else f"library:{owner}"
                expected.setdefault(partition, set()).add(int(vid))
                head = self._heads.get(int(vid))
                if head is None or head[0] != skill_id:
                    problems.append(f"skill {skill_id}: in the ledger, missing from the in-memory index")
                elif (cached := self._parsed.get(int(vid))) is not None and cached.content_hash() != chash:
                    problems.append(f"skill {skill_id}: in-memory content differs from the ledger")
            for namespace, vid, user in self._ledger.query(f"SELECT namespace, vector_id, {_RECORD_USER} FROM records"):
                expected.setdefault(_record_partition(namespace, user), set()).add(int(vid))
            if len(self._heads) != len(rows):
                problems.append(f"{len(self._heads)} skills in memory, {len(rows)} in the ledger")
            for partition in sorted(set(expected) | set(self._index.partitions())):
                have = set(self._index.ids(partition)) if partition in self._index.partitions() else set()
                want = expected.get(partition, set())
                if have != want:
                    problems.append(f"index partition {partition}: {len(have)} vectors, the ledger has {len(want)}"
                                    f" ({len(have - want)} extra, {len(want - have)} missing)")
        return problems

    def refresh(self) -> None:
        """Catch up with other processes' writes (the local store also re-reads hand edits)."""
        self._sync()

    def stats(self) -> StoreStats:
        """Counts of skills, owners, records and versions."""
        self._sync()
        with self._lock:
            skills = list(self._heads.values())
            by_status: dict[str, int] = {}
            for _, _, _, _, status in skills:
                by_status[status] = by_status.get(status, 0) + 1
            users = {owner for _, scope, owner, _, _ in skills if scope == "user"}
            libraries = {owner for _, scope, owner, _, _ in skills if scope == "library"}
            records = len(self._records)
        versions = int(self._ledger.query("SELECT COUNT(*) FROM versions")[0][0])
        path = str(self._ledger.path.parent) if self._ledger.path else None
        return StoreStats(skills=len(skills), users=len(users), libraries=len(libraries), records=records,
                          versions=versions, by_status=by_status, embedder=self.embedder_identity,
                          dims=self.dims, path=path)

    def close(self) -> None:
        """Release the ledger connection."""
        self._ledger.close()

    def __enter__(self) -> FaissSkillStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
