"""A partitioned, exact FAISS index with caller-owned stable ids.

Each partition ("user:u1", "library:anthropic-skills", ...) is its own
``IndexIDMap2(IndexFlatIP)``. A search names the partitions it may see, so per-user
filtering is exact by construction: it returns ``k`` results whenever ``k`` vectors exist
in those partitions, and never a vector from another partition (no post-filtering of a
global top-k, which silently returns fewer results).

Ids are int64 values chosen by the caller (the store keeps a persisted counter); the index
never derives ids from ``ntotal``, which would reuse ids after a delete.

Vectors are L2-normalised on the way in, so inner product is cosine similarity.
FAISS owns storage, deletion and persistence; for a few queries at a time a flat
partition is scanned with one BLAS matrix-vector product over a zero-copy view of the
FAISS storage, which is about twice as fast as FAISS's per-vector kernel for one query.

Note:
    Every partition is a flat (exact) index today. Choosing the index type by partition
    size (HNSW or IVF for large shared libraries) comes later; the API does not change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from autoskill.errors import StoreCorruptError

__all__ = ["VectorIndex"]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "vector_index.json"
_FORMAT = "autoskill-vector-index"
_FORMAT_VERSION = 1
# Up to this many queries per call, flat partitions are searched with numpy (see below).
_NUMPY_MAX_QUERIES = 16


class _RWLock:
    """Many concurrent readers or one (re-entrant) writer.

    Searches only read the FAISS indexes, and FAISS releases the GIL while searching, so
    readers run in parallel; adds and removes reallocate index memory and need exclusivity.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._depth = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:  # a writer may read what it holds
                self._depth += 1
                owned = True
            else:
                while self._writer is not None:
                    self._cond.wait()
                self._readers += 1
                owned = False
        try:
            yield
        finally:
            with self._cond:
                if owned:
                    self._depth -= 1
                else:
                    self._readers -= 1
                    if self._readers == 0:
                        self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
            else:
                while self._writer is not None or self._readers:
                    self._cond.wait()
                self._writer = me
                self._depth = 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._writer = None
                    self._cond.notify_all()


def _as_ids(ids: Iterable[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"ids must be a 1-D sequence of integers, got dtype {arr.dtype} shape {arr.shape}"
        )
    if (arr < 0).any():  # FAISS uses -1 for "no result"
        raise ValueError("ids must be non-negative")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _file_name(partition: str, generation: str) -> str:
    # Partition names may hold ':' or '/', so file names derive from a digest.
    digest = hashlib.blake2b(partition.encode("utf-8"), digest_size=8).hexdigest()
    return f"part-{digest}-{generation}.faiss"


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class VectorIndex:
    """Exact cosine search over named partitions of vectors with caller-given int64 ids.

    Thread-safe: searches run concurrently with each other; adds and removes are exclusive.

    Args:
        dims: Vector length.
    """

    def __init__(self, dims: int) -> None:
        if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or dims <= 0:
            raise ValueError(f"dims must be a positive integer, got {dims!r}")
        self._dims = int(dims)
        self._parts: dict[str, Any] = {}
        self._where: dict[int, str] = {}
        self._lock = _RWLock()
        # Per-partition zero-copy view of the flat vectors plus the id array; rebuilt after
        # the partition changes (an add may reallocate the FAISS storage).
        self._views: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        # Save bookkeeping: which directory holds which partition file, and which
        # partitions changed since, so that a save rewrites only those.
        self._saved_dir: Path | None = None
        self._saved_files: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._save_lock = threading.Lock()

    # -- introspection -------------------------------------------------------------------

    @property
    def dims(self) -> int:
        """Vector length."""
        return self._dims

    def __len__(self) -> int:
        with self._lock.read():
            return len(self._where)

    def __repr__(self) -> str:
        return f"VectorIndex(dims={self._dims}, vectors={len(self)}, partitions={len(self._parts)})"

    def partitions(self) -> list[str]:
        """Names of the non-empty partitions, sorted."""
        with self._lock.read():
            return sorted(self._parts)

    def partition_size(self, partition: str) -> int:
        """Number of vectors in ``partition`` (0 when it does not exist)."""
        with self._lock.read():
            index = self._parts.get(partition)
            return int(index.ntotal) if index is not None else 0

    def contains(self, id: int) -> bool:  # noqa: A002 - the natural name for the contract
        """True when a vector with this id is stored."""
        with self._lock.read():
            return int(id) in self._where

    def __contains__(self, id: object) -> bool:  # noqa: A002
        return isinstance(id, (int, np.integer)) and self.contains(int(id))

    def partition_of(self, id: int) -> str | None:  # noqa: A002
        """The partition holding ``id``, or None."""
        with self._lock.read():
            return self._where.get(int(id))

    def ids(self, partition: str | None = None) -> list[int]:
        """Sorted ids, of one partition or of all."""
        with self._lock.read():
            if partition is None:
                return sorted(self._where)
            index = self._parts.get(partition)
            # The IDMap holds the partition's ids: no scan over every id in the index.
            return sorted(faiss.vector_to_array(index.id_map).tolist()) if index is not None else []

    def reconstruct(self, id: int) -> np.ndarray:  # noqa: A002
        """The stored (normalised) vector of ``id``.

        Raises:
            KeyError: No such id.
        """
        with self._lock.read():
            partition = self._where.get(int(id))
            if partition is None:
                raise KeyError(id)
            return np.asarray(self._parts[partition].reconstruct(int(id)), dtype=np.float32)

    # -- mutation ------------------------------------------------------------------------

    def _prepare_vectors(self, vectors: Any, rows: int) -> np.ndarray:
        matrix = np.array(vectors, dtype=np.float32, copy=True, ndmin=2)
        if matrix.shape != (rows, self._dims):
            raise ValueError(
                f"expected vectors of shape ({rows}, {self._dims}), got {matrix.shape}"
            )
        if not np.isfinite(matrix).all():
            raise ValueError("vectors contain NaN or infinity")
        matrix = np.ascontiguousarray(matrix)
        faiss.normalize_L2(matrix)  # in place; zero rows stay zero
        return matrix

    def add(self, ids: Sequence[int] | np.ndarray, vectors: Any, partition: str) -> None:
        """Add (or replace) vectors under caller-given ids in ``partition``.

        An id that is already stored is replaced, even if it lives in another partition
        (the vector moves), so re-embedding a changed item is a plain ``add``.

        Args:
            ids: Unique non-negative int64 ids, one per row.
            vectors: Array-like of shape ``(len(ids), dims)``.
            partition: Non-empty partition name.

        Raises:
            ValueError: Bad shapes, duplicate or negative ids, NaN, or an empty partition name.
        """
        if not isinstance(partition, str) or not partition:
            raise ValueError(f"partition must be a non-empty string, got {partition!r}")
        id_arr = _as_ids(ids)
        if id_arr.size == 0:
            return
        if np.unique(id_arr).size != id_arr.size:
            raise ValueError("ids contain duplicates")
        matrix = self._prepare_vectors(vectors, id_arr.size)
        with self._lock.write():
            existing = [int(i) for i in id_arr if int(i) in self._where]
            if existing:
                self._remove_locked(existing)
            index = self._parts.get(partition)
            if index is None:
                index = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dims))
                self._parts[partition] = index
            index.add_with_ids(matrix, id_arr)
            self._views.pop(partition, None)
            for i in id_arr.tolist():
                self._where[i] = partition
            self._dirty.add(partition)

    def remove(self, ids: Iterable[int] | np.ndarray) -> int:
        """Remove ids from whichever partitions hold them; unknown ids are ignored.

        Returns:
            How many vectors were removed.
        """
        id_arr = _as_ids(ids)
        if id_arr.size == 0:
            return 0
        with self._lock.write():
            return self._remove_locked(np.unique(id_arr).tolist())

    def _remove_locked(self, ids: list[int]) -> int:
        by_partition: dict[str, list[int]] = {}
        for i in ids:
            partition = self._where.get(i)
            if partition is not None:
                by_partition.setdefault(partition, []).append(i)
        removed = 0
        for partition, part_ids in by_partition.items():
            index = self._parts[partition]
            selector = faiss.IDSelectorBatch(np.asarray(part_ids, dtype=np.int64))
            removed += int(index.remove_ids(selector))
            self._views.pop(partition, None)
            for i in part_ids:
                del self._where[i]
            if index.ntotal == 0:
                del self._parts[partition]
            self._dirty.add(partition)
        return removed

    # -- search --------------------------------------------------------------------------

    def _targets(self, partitions: Iterable[str] | str | None) -> list[str]:
        if partitions is None:
            return list(self._parts)
        if isinstance(partitions, str):  # a lone name would otherwise iterate by character
            partitions = (partitions,)
        return [name for name in dict.fromkeys(partitions) if name in self._parts]

    def _flat_view(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Read-only view of a flat partition's vectors and its ids (None if not flat)."""
        cached = self._views.get(name)
        if cached is not None:
            return cached
        index = self._parts[name]
        inner = faiss.downcast_index(index.index)
        if not isinstance(inner, faiss.IndexFlat):
            return None
        n = int(inner.ntotal)
        matrix = faiss.rev_swig_ptr(inner.get_xb(), n * self._dims).reshape(n, self._dims)
        matrix.flags.writeable = False  # may point into a read-only memory map
        ids = faiss.vector_to_array(index.id_map)
        # Concurrent readers may both build it; they build the same thing.
        self._views[name] = (matrix, ids)
        return matrix, ids

    def _search_partition(
        self, name: str, queries: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        index = self._parts[name]
        kk = min(k, int(index.ntotal))
        view = self._flat_view(name) if queries.shape[0] <= _NUMPY_MAX_QUERIES else None
        if view is None:
            return index.search(queries, kk)
        # For a few queries, a BLAS matrix product over the flat storage is about twice as
        # fast as FAISS's per-vector kernel; FAISS's own blocked BLAS path wins for batches.
        matrix, ids = view
        if queries.shape[0] == 1:  # the common case, kept lean for many small partitions
            row = matrix @ queries[0]
            if kk < row.shape[0]:
                best = np.argpartition(row, row.shape[0] - kk)[-kk:]
                return row[best][None, :], ids[best][None, :]
            return row[None, :], ids[None, :]
        # One matrix-vector product per query (not one matrix product for all) so that a
        # batched search returns bit-identical scores to single searches.
        scores = np.stack([matrix @ q for q in queries])
        if kk < scores.shape[1]:
            top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        else:
            top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        return np.take_along_axis(scores, top, axis=1), ids[top]

    def search(
        self, query_vec: Any, k: int, partitions: Iterable[str] | str | None = None
    ) -> list[tuple[int, float]]:
        """Exact top-``k`` by cosine similarity within the chosen partitions.

        Args:
            query_vec: Vector of length ``dims`` (normalised here).
            k: Number of results wanted.
            partitions: Partition names to search; None means all. Unknown names are empty.

        Returns:
            ``(id, score)`` pairs, best first (ties by ascending id); ``min(k, available)``
            of them.
        """
        query = np.asarray(query_vec, dtype=np.float32)
        if query.ndim != 1:
            raise ValueError(f"query_vec must be 1-D, got shape {query.shape}")
        return self.search_batch(query[None, :], k, partitions)[0]

    def search_batch(
        self, query_matrix: Any, k: int, partitions: Iterable[str] | str | None = None
    ) -> list[list[tuple[int, float]]]:
        """:meth:`search` for each row of ``query_matrix``.

        Up to 16 queries give scores bit-identical to :meth:`search`; larger batches use
        FAISS's blocked BLAS kernel (same ranking, scores equal to float precision).
        """
        queries = np.asarray(query_matrix, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self._dims:
            raise ValueError(f"query_matrix must have shape (n, {self._dims}), got {queries.shape}")
        n_queries = queries.shape[0]
        if k <= 0 or n_queries == 0:
            return [[] for _ in range(n_queries)]
        queries = self._prepare_vectors(queries, n_queries)
        with self._lock.read():
            targets = self._targets(partitions)
            scores_parts: list[np.ndarray] = []
            ids_parts: list[np.ndarray] = []
            for name in targets:
                scores, found = self._search_partition(name, queries, k)
                scores_parts.append(scores)
                ids_parts.append(found)
        if not scores_parts:
            return [[] for _ in range(n_queries)]
        scores = np.concatenate(scores_parts, axis=1)
        found = np.concatenate(ids_parts, axis=1)
        results: list[list[tuple[int, float]]] = []
        for row in range(n_queries):
            row_ids, row_scores = found[row], scores[row]
            valid = row_ids >= 0
            row_ids, row_scores = row_ids[valid], row_scores[valid]
            # Sort by score descending, then id ascending, so ties are deterministic.
            order = np.lexsort((row_ids, -row_scores))[:k]
            results.append([(int(row_ids[j]), float(row_scores[j])) for j in order])
        return results

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write the index to ``directory`` atomically.

        Partition files get fresh names and the JSON manifest is replaced last
        (temp file + ``os.replace``), so a crash mid-save leaves the previous save
        readable. Partitions unchanged since the last save to the same directory are not
        rewritten; files no longer referenced are deleted afterwards.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        # The read lock keeps mutations out (so the files form one consistent state) while
        # searches go on; the save lock keeps two saves from racing on the bookkeeping.
        with self._save_lock, self._lock.read():
            same_dir = self._saved_dir is not None and self._saved_dir.resolve() == path.resolve()
            generation = uuid.uuid4().hex[:12]
            files: dict[str, str] = {}
            entries: dict[str, dict[str, Any]] = {}
            for name in sorted(self._parts):
                index = self._parts[name]
                old = self._saved_files.get(name) if same_dir else None
                if old is not None and name not in self._dirty and (path / old).exists():
                    file_name = old
                else:
                    file_name = _file_name(name, generation)
                    tmp = path / (file_name + ".tmp")
                    faiss.write_index(index, str(tmp))
                    os.replace(tmp, path / file_name)
                files[name] = file_name
                entries[name] = {"file": file_name, "count": int(index.ntotal)}
            manifest = {
                "format": _FORMAT,
                "version": _FORMAT_VERSION,
                "dims": self._dims,
                "metric": "inner_product",
                "partitions": entries,
            }
            _atomic_write_text(path / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True))
            self._saved_dir, self._saved_files = path, files
            self._dirty.clear()
            self._remove_stale_files(path, set(files.values()))

    @staticmethod
    def _remove_stale_files(path: Path, keep: set[str]) -> None:
        for stale in path.glob("part-*.faiss"):
            if stale.name not in keep:
                try:
                    stale.unlink()
                except OSError:  # e.g. still memory-mapped on Windows; harmless to leave
                    logger.debug("could not delete stale index file %s", stale, exc_info=True)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], mmap: bool = False) -> VectorIndex:
        """Load an index written by :meth:`save`.

        Args:
            directory: The directory given to :meth:`save`.
            mmap: Memory-map the partition files read-only instead of reading them into
                memory (later changes are copied on write; the files stay untouched).

        Raises:
            FileNotFoundError: No manifest in ``directory``.
            StoreCorruptError: The manifest or a partition file is inconsistent.
        """
        path = Path(directory)
        manifest_path = path / MANIFEST_NAME
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise StoreCorruptError(f"{manifest_path}: not valid JSON: {exc}") from exc
        if manifest.get("format") != _FORMAT or manifest.get("version") != _FORMAT_VERSION:
            raise StoreCorruptError(
                f"{manifest_path}: unsupported format {manifest.get('format')!r} "
                f"version {manifest.get('version')!r}"
            )
        index = cls(int(manifest["dims"]))
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        for name, entry in manifest.get("partitions", {}).items():
            file_path = path / entry["file"]
            if not file_path.is_file():
                raise StoreCorruptError(
                    f"{manifest_path}: partition {name!r} file {entry['file']} is missing"
                )
            part = faiss.read_index(str(file_path), flags)
            if part.d != index._dims or part.ntotal != entry.get("count", part.ntotal):
                raise StoreCorruptError(
                    f"{file_path}: holds {part.ntotal} vectors of {part.d} dims; manifest says "
                    f"{entry.get('count')} of {index._dims}"
                )
            if not isinstance(part, faiss.IndexIDMap2):
                raise StoreCorruptError(f"{file_path}: not an IndexIDMap2 ({type(part).__name__})")
            for i in faiss.vector_to_array(part.id_map).tolist():
                if i in index._where:
                    raise StoreCorruptError(
                        f"{manifest_path}: id {i} is in partitions {index._where[i]!r} and {name!r}"
                    )
                index._where[i] = name
            index._parts[name] = part
        index._saved_dir = path
        index._saved_files = {
            name: entry["file"] for name, entry in manifest.get("partitions", {}).items()
        }
        return index
