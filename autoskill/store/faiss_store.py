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
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoskill.embeddings.base import Embedder
from autoskill.errors import (
    EmbeddingError,
    ReadOnlyScopeError,
    SkillConflictError,
    SkillValidationError,
    StoreError,
)
from autoskill.retrieval.bm25 import BM25Index
from autoskill.retrieval.fields import skill_embedding_text, skill_lexical_fields
from autoskill.retrieval.vector_index import VectorIndex
from autoskill.skill.model import Skill
from autoskill.skill.normalize import utc_timestamp
from autoskill.skill.skillmd import render_skill_md
from autoskill.store.base import (
    Record,
    SkillFilter,
    SkillVersion,
    StoreStats,
    UsageStats,
    VectorHit,
    Window,
    changed_fields,
)
from autoskill.store._crash import _crash_point
from autoskill.store.ledger import Ledger, blob_to_vector, dumps, vector_to_blob
from autoskill.store.tree import SkillTree, file_hash

__all__ = ["FaissSkillStore"]

logger = logging.getLogger(__name__)

_SKILL_COLUMNS = "id, vector_id, data, vector, folder, file_hash"
_RECORD_COLUMNS = "namespace, id, vector_id, text, metadata, vector"


def _partition(skill: Skill) -> str:
    if skill.scope == "user":
        return f"user:{skill.user_id or ''}"
    return f"library:{skill.library or ''}"


def _in_tree(folder: str) -> bool:
    """Whether a ledger folder is one of ours (relative to the store root), not a library
    folder read in place (absolute)."""
    return not os.path.isabs(folder) and not folder.startswith(("/", "\\"))


def _record_partition(namespace: str, user_id: object = None) -> str:
    # Records whose metadata names a (string) user_id get a partition per user, so that a
    # search filtered by that user scans only their records, exactly, instead of every
    # record of the namespace through a Python predicate.
    if isinstance(user_id, str):
        return "records:" + json.dumps([namespace, user_id], ensure_ascii=False)
    return f"records:{namespace}"


class FaissSkillStore:
    """Skills and plain records with vectors, history and usage (see :class:`SkillStore`)."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        ledger: Ledger | None = None,
        tree: SkillTree | None = None,
        write_lock: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        """Create a store over ``ledger`` (in memory when None).

        Args:
            embedder: Embeds skills whose vector the caller does not pass.
            ledger: The SQLite ledger.
            tree: SKILL.md tree to mirror skills into (local store only).
            write_lock: Cross-process lock factory held around every write.
        """
        self.embedder = embedder
        self._ledger = ledger or Ledger(None)
        self._tree = tree
        self._write_lock = write_lock or contextlib.nullcontext
        self._lock = threading.RLock()
        self._index = VectorIndex(embedder.dims)
        self._skills: dict[int, Skill] = {}
        self._skill_vid: dict[str, int] = {}
        self._names: dict[tuple[str, str, str], str] = {}
        self._records: dict[int, Record] = {}
        self._record_vid: dict[tuple[str, str], int] = {}
        self._record_partitions: dict[str, set[str]] = {}  # namespace -> its partitions
        self._seq = 0
        self._data_version = -1
        # Built on the first lexical query, then kept in step with every change: building
        # it means tokenising every skill, which opening a large store should not pay for.
        self._lexical: BM25Index | None = None
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
        with self._lock:
            self._seq = self._ledger.last_change()
            self._data_version = self._ledger.data_version()
            rows = self._ledger.query(f"SELECT {_SKILL_COLUMNS} FROM skills")
            self._index = VectorIndex(self.dims)
            self._skills.clear()
            self._skill_vid.clear()
            self._names.clear()
            groups: dict[str, tuple[list[int], list[np.ndarray]]] = {}
            for row in rows:
                skill = self._skill_from_row(row)
                vid = int(row[1])
                self._remember_skill(vid, skill)
                ids, vecs = groups.setdefault(_partition(skill), ([], []))
                ids.append(vid)
                vecs.append(blob_to_vector(row[3]))
            self._lexical = None
            self._records.clear()
            self._record_vid.clear()
            self._record_partitions.clear()
            for row in self._ledger.query(f"SELECT {_RECORD_COLUMNS} FROM records"):
                record = self._record_from_row(row)
                vid = int(row[2])
                self._remember_record(vid, record)
                partition = self._note_record_partition(record)
                ids, vecs = groups.setdefault(partition, ([], []))
                ids.append(vid)
                vecs.append(blob_to_vector(row[5]))
            self._library_partitions = {p for p in groups if p.startswith("library:")}
            for partition, (ids, vecs) in groups.items():
                self._index.add(np.asarray(ids, dtype=np.int64), np.vstack(vecs), partition)

    def _skill_from_row(self, row: Sequence[Any]) -> Skill:
        # Rows were written from normalised Skills: skip normalising them again on load.
        return Skill.from_trusted_dict(json.loads(row[2]))

    def _record_from_row(self, row: Sequence[Any]) -> Record:
        return Record(id=row[1], text=row[3], metadata=json.loads(row[4]), namespace=row[0])

    def _remember_skill(self, vid: int, skill: Skill) -> None:
        old = self._skills.get(vid)
        if old is not None:
            self._names.pop((old.scope, old.owner or "", old.name), None)
        self._skills[vid] = skill
        self._skill_vid[skill.id] = vid
        self._names[(skill.scope, skill.owner or "", skill.name)] = skill.id
        if self._lexical is not None:
            self._lexical.add(vid, skill_lexical_fields(skill))

    def _forget_skill(self, vid: int) -> None:
        skill = self._skills.pop(vid, None)
        if skill is not None:
            self._skill_vid.pop(skill.id, None)
            self._names.pop((skill.scope, skill.owner or "", skill.name), None)
            if self._lexical is not None:
                self._lexical.remove(vid)

    def _remember_record(self, vid: int, record: Record) -> None:
        self._records[vid] = record
        self._record_vid[(record.namespace, record.id)] = vid

    def _note_record_partition(self, record: Record) -> str:
        partition = _record_partition(record.namespace, record.metadata.get("user_id"))
        self._record_partitions.setdefault(record.namespace, set()).add(partition)
        return partition

    def _forget_record(self, vid: int) -> None:
        record = self._records.pop(vid, None)
        if record is not None:
            self._record_vid.pop((record.namespace, record.id), None)

    def _sync(self) -> None:
        """Replay writes other processes made since we last looked."""
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
        touched = sorted({vid for _, vid, _ in changes})
        self._seq = changes[-1][0]
        for vid in touched:
            self._reload_vector_id(vid)

    def _reload_vector_id(self, vid: int) -> None:
        """Bring one vector id in memory in line with the ledger (add, update or remove)."""
        if self._index.contains(vid):
            self._index.remove([vid])
        self._forget_skill(vid)
        self._forget_record(vid)
        rows = self._ledger.query(f"SELECT {_SKILL_COLUMNS} FROM skills WHERE vector_id = ?", (vid,))
        if rows:
            skill = self._skill_from_row(rows[0])
            self._remember_skill(vid, skill)
            partition = _partition(skill)
            if skill.scope == "library":
                self._library_partitions.add(partition)
            self._index.add(np.asarray([vid], dtype=np.int64), blob_to_vector(rows[0][3])[None, :], partition)
            return
        rows = self._ledger.query(f"SELECT {_RECORD_COLUMNS} FROM records WHERE vector_id = ?", (vid,))
        if rows:
            record = self._record_from_row(rows[0])
            self._remember_record(vid, record)
            self._index.add(np.asarray([vid], dtype=np.int64), blob_to_vector(rows[0][5])[None, :],
                            self._note_record_partition(record))

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

    def _after_commit(self, vids: Iterable[int]) -> None:
        """Apply our own committed writes to memory (same path other processes take)."""
        with self._lock:
            for vid in sorted(set(vids)):
                self._reload_vector_id(vid)
            self._seq = max(self._seq, self._ledger.last_change())
            self._data_version = self._ledger.data_version()

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

    # -- skills -----------------------------------------------------------------------------

    def upsert(self, skill: Skill, vector: np.ndarray | None = None, *, reason: str = "upsert",
               allow_library: bool = False, write_file: bool = True, expected: Skill | None = None) -> Skill:
        """Insert or replace ``skill`` (by id) and record a version when its content changed.

        ``expected`` is the stored skill this write was built from (a merge, a rollback):
        when another writer changed the skill since, the write is refused rather than
        overwriting that change.

        Raises:
            ReadOnlyScopeError: A library skill without ``allow_library`` (only an explicit
                library import writes shared libraries).
            SkillValidationError: Another skill of the same owner already has this name.
            SkillConflictError: ``expected`` is no longer what is stored.
        """
        vectors = None if vector is None else np.asarray(vector, dtype=np.float32).reshape(1, -1)
        return self.upsert_many([skill], vectors, reason=reason, allow_library=allow_library,
                                write_files=write_file,
                                expected=None if expected is None else {skill.id: expected})[0]

    def upsert_many(self, skills: Sequence[Skill], vectors: np.ndarray | None = None, *,
                    reason: str = "import", allow_library: bool = False,
                    write_files: bool = True,
                    placed_files: Mapping[str, tuple[str, str]] | None = None,
                    expected: Mapping[str, Skill] | None = None) -> list[Skill]:
        """Insert or replace many skills in one transaction (the bulk path).

        Args:
            skills: The skills.
            vectors: Their vectors (embedded here when None).
            reason: Why, recorded in each new version.
            allow_library: Permit writing shared-library skills (explicit imports only).
            write_files: Mirror the skills into the SKILL.md tree (local store).
            placed_files: ``skill id -> (folder, file hash)`` for skills whose SKILL.md is
                somebody else's file (a library read in place): recorded, never written.
            expected: ``skill id -> the stored skill the write was built from``; checked
                under the write lock after catching up with other writers.
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
                    holder = self._names.get(key)
                    if holder is not None and holder != skill.id:
                        raise SkillValidationError(
                            "name", f"{skill.name!r} is already used by skill {holder} of the same owner"
                        )
                    old_vid = self._skill_vid.get(skill.id)
                    old = self._skills.get(old_vid) if old_vid is not None else None
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
            self._after_commit(touched)
            _crash_point("after-index-update")
            stored = [self._skills[self._skill_vid[s.id]] for s in skills]
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
            return self._skills.get(vid) if vid is not None else None

    def get_by_name(self, name: str, *, scope: str, owner: str | None) -> Skill | None:
        """The skill of ``owner`` in ``scope`` called ``name``, or None."""
        self._sync()
        with self._lock:
            skill_id = self._names.get((scope, owner or "", name))
            return self.get(skill_id) if skill_id else None

    def delete(self, skill_id: str, *, allow_library: bool = False) -> bool:
        """Remove a skill (its history stays in the ledger). False when absent."""
        self._sync()
        with self._lock, self._write_lock():
            with self._writing() as conn:
                vid = self._skill_vid.get(skill_id)
                if vid is None:
                    return False
                skill = self._skills[vid]
                if skill.scope == "library" and not allow_library:
                    raise ReadOnlyScopeError(f"skill {skill.name!r} belongs to a shared library; it is read-only here")
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
            found = [s for s in self._skills.values() if flt.admits(s)]
        return sorted(found, key=lambda s: (s.scope != "user", s.owner or "", s.name))

    def count(self) -> int:
        """Number of skills (all users, all statuses)."""
        self._sync()
        return len(self._skills)

    def vector(self, skill_id: str) -> np.ndarray | None:
        """The stored vector of a skill."""
        self._sync()
        with self._lock:
            vid = self._skill_vid.get(skill_id)
            return None if vid is None else self._index.reconstruct(vid)

    def search(self, vector: np.ndarray, k: int, flt: SkillFilter) -> list[VectorHit]:
        """The ``k`` skills ``flt`` admits nearest to ``vector`` (exact within partitions)."""
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
                hits: list[VectorHit] = []
                for vid, score in self._index.search(query, fetch, partitions):
                    skill = self._skills.get(int(vid))
                    if skill is not None and flt.admits(skill):
                        hits.append(VectorHit(skill, float(score)))
                        if len(hits) == k:
                            return hits
                # Filters beyond the partition (status, tags) removed some: widen until
                # k are found or the partitions are exhausted, so a filtered search still
                # returns k results whenever k exist.
                if fetch >= available:
                    return hits
                fetch = min(available, fetch * 4)

    def _lexical_index(self) -> BM25Index:
        if self._lexical is None:
            index = BM25Index()
            for vid, skill in self._skills.items():
                index.add(vid, skill_lexical_fields(skill))
            self._lexical = index
        return self._lexical

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
            if size * 5 < len(self._skills):
                # A small slice (one user's skills plus small libraries): score just those.
                allowed = [vid for p in partitions for vid in self._index.ids(p) if flt.admits(self._skills[vid])]
                ranked = index.top(query, k, doc_ids=allowed)
            else:
                # Most of the store is visible: rank globally and drop what the filter refuses.
                fetch = k * 2
                while True:
                    top = index.top(query, fetch)
                    ranked = [(vid, sc) for vid, sc in top if flt.admits(self._skills[int(vid)])][:k]
                    if len(ranked) >= k or len(top) < fetch:
                        break
                    fetch *= 4
            return [(self._skills[int(vid)], min(1.0, score / ceiling)) for vid, score in ranked]

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

    # -- history and usage ------------------------------------------------------------------

    def history(self, skill_id: str) -> list[SkillVersion]:
        """Every recorded version of a skill, oldest first."""
        rows = self._ledger.query(
            "SELECT seq, version, data, reason, provenance, created_at FROM versions WHERE skill_id = ? ORDER BY seq",
            (skill_id,),
        )
        versions: list[SkillVersion] = []
        previous: Skill | None = None
        for seq, version, data, reason, prov, created in rows:
            snapshot = Skill.from_dict(json.loads(data))
            versions.append(SkillVersion(skill_id=skill_id, seq=int(seq), version=version, skill=snapshot,
                                         reason=reason, provenance=tuple(json.loads(prov)), created_at=created,
                                         changes=changed_fields(previous, snapshot)))
            previous = snapshot
        return versions

    def record_usage(self, skill_ids: Iterable[str], *, retrievals: int = 0, injections: int = 0,
                     successes: int = 0, failures: int = 0) -> None:
        """Add to the usage counters of some skills."""
        ids = [i for i in dict.fromkeys(skill_ids) if i]
        if not ids:
            return
        now = utc_timestamp()
        with self._lock, self._ledger.transaction() as conn:
            for skill_id in ids:
                conn.execute(
                    "INSERT INTO usage (skill_id, retrievals, injections, successes, failures, last_used)"
                    " VALUES (?,?,?,?,?,?) ON CONFLICT(skill_id) DO UPDATE SET"
                    " retrievals = retrievals + excluded.retrievals, injections = injections + excluded.injections,"
                    " successes = successes + excluded.successes, failures = failures + excluded.failures,"
                    " last_used = excluded.last_used",
                    (skill_id, retrievals, injections, successes, failures, now),
                )

    def usage(self, skill_id: str) -> UsageStats:
        """Usage counters of a skill (zeros when never used)."""
        rows = self._ledger.query(
            "SELECT retrievals, injections, successes, failures, last_used FROM usage WHERE skill_id = ?", (skill_id,)
        )
        if not rows:
            return UsageStats()
        r, i, s, f, last = rows[0]
        return UsageStats(int(r), int(i), int(s), int(f), last)

    # -- pending learning windows ------------------------------------------------------------

    def add_window(self, window: Window) -> None:
        """Persist a new pending window (and index its run ids for feedback by run)."""
        now = time.time()
        with self._lock, self._ledger.transaction() as conn:
            conn.execute(
                "INSERT INTO windows (id, thread_id, user_id, events, used_skills, status, feedback, result,"
                " claimed_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,NULL,?,?)",
                (window.id, window.thread_id, window.user_id, dumps([dict(e) for e in window.events]),
                 dumps(list(window.used_skills)), window.status,
                 dumps(dict(window.feedback)) if window.feedback is not None else None,
                 dumps(dict(window.result)) if window.result is not None else None,
                 window.created_at or now, now),
            )
            for run_id in window.run_ids():
                conn.execute("INSERT OR REPLACE INTO window_runs (run_id, window_id) VALUES (?, ?)", (run_id, window.id))

    @staticmethod
    def _window_from_row(row: Sequence[Any]) -> Window:
        wid, thread, user, events, used, status, feedback, result, created, updated = row
        return Window(id=wid, thread_id=thread, user_id=user, events=tuple(json.loads(events)),
                      used_skills=tuple(json.loads(used)), status=status,
                      feedback=json.loads(feedback) if feedback else None,
                      result=json.loads(result) if result else None, created_at=created, updated_at=updated)

    _WINDOW_COLUMNS = "id, thread_id, user_id, events, used_skills, status, feedback, result, created_at, updated_at"

    def get_window(self, window_id: str) -> Window | None:
        """A window by id."""
        rows = self._ledger.query(f"SELECT {self._WINDOW_COLUMNS} FROM windows WHERE id = ?", (window_id,))
        return self._window_from_row(rows[0]) if rows else None

    def window_for_run(self, run_id: str) -> Window | None:
        """The window holding a run (root or child run id)."""
        rows = self._ledger.query("SELECT window_id FROM window_runs WHERE run_id = ?", (run_id,))
        return self.get_window(rows[0][0]) if rows else None

    def list_windows(self, *, thread_id: str | None = None, user_id: str | None = None,
                     statuses: Sequence[str] | None = None, created_before: float | None = None,
                     limit: int | None = None) -> list[Window]:
        """Windows matching every given condition, oldest first."""
        clauses, params = [], []
        if thread_id is not None:
            clauses.append("thread_id = ?")
            params.append(thread_id)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if created_before is not None:
            clauses.append("created_at < ?")
            params.append(created_before)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit else ""
        rows = self._ledger.query(f"SELECT {self._WINDOW_COLUMNS} FROM windows{where} ORDER BY created_at, rowid{tail}", params)
        return [self._window_from_row(r) for r in rows]

    def transition_window(self, window_id: str, *, from_statuses: Sequence[str], to_status: str,
                          feedback: Mapping[str, Any] | None = None, result: Mapping[str, Any] | None = None,
                          claimed_by: str | None = None) -> bool:
        """Move a window to ``to_status`` only if it is in one of ``from_statuses``.

        The check and the write are one SQLite statement inside a write transaction, so
        of two threads or processes racing for a window exactly one wins.
        """
        sets = ["status = ?", "updated_at = ?"]
        params: list[Any] = [to_status, time.time()]
        if feedback is not None:
            sets.append("feedback = ?")
            params.append(dumps(dict(feedback)))
        if result is not None:
            sets.append("result = ?")
            params.append(dumps(dict(result)))
        if claimed_by is not None:
            sets.append("claimed_by = ?")
            params.append(claimed_by)
        params.extend([window_id, *from_statuses])
        with self._lock, self._ledger.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE windows SET {', '.join(sets)} WHERE id = ? AND status IN ({','.join('?' * len(from_statuses))})",
                params,
            )
            return cursor.rowcount == 1

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
        partition (exact, no scan of other users' records).
        """
        if k <= 0:
            return []
        query = self._check_vectors(vector, 1)[0]
        self._sync()
        user = where.get("user_id") if isinstance(where, Mapping) else None
        if callable(where):
            admits = where
        elif where:
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
                found = self._index.search(query, fetch, partitions)
                for vid, score in found:
                    record = self._records.get(int(vid))
                    if record is not None and (admits is None or admits(record)):
                        out.append((record, float(score)))
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
                cached = self._skills.get(int(vid))
                if cached is None or cached.id != skill_id:
                    problems.append(f"skill {skill_id}: in the ledger, missing from the in-memory index")
                elif cached.content_hash() != chash:
                    problems.append(f"skill {skill_id}: in-memory content differs from the ledger")
            for namespace, rid, vid, metadata in self._ledger.query(
                    "SELECT namespace, id, vector_id, metadata FROM records"):
                try:
                    user = json.loads(metadata).get("user_id")
                except (ValueError, AttributeError):
                    user = None
                expected.setdefault(_record_partition(namespace, user), set()).add(int(vid))
            if len(self._skills) != len(rows):
                problems.append(f"{len(self._skills)} skills in memory, {len(rows)} in the ledger")
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
            skills = list(self._skills.values())
            by_status: dict[str, int] = {}
            for skill in skills:
                by_status[skill.status] = by_status.get(skill.status, 0) + 1
            users = {s.user_id for s in skills if s.scope == "user"}
            libraries = {s.library for s in skills if s.scope == "library"}
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
