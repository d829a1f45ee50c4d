"""A partitioned FAISS index with caller-owned stable ids and index selection by size.

Each partition ("user:u1", "library:anthropic-skills", ...) is its own FAISS index. A
search names the partitions it may see, so per-user filtering is exact by construction:
it never returns a vector from another partition (no post-filtering of a global top-k,
which silently returns fewer results).

Index selection by size, per partition:

* below ``approx_threshold`` vectors (default 50,000) a partition is an exact
  ``IndexIDMap2(IndexFlatIP)``; for a few queries at a time it is scanned with one BLAS
  matrix-vector product over a zero-copy view of the FAISS storage (about twice as fast
  as FAISS's per-vector kernel for one query);
* at ``approx_threshold`` it becomes an inverted-file index (``IndexIVFFlat``, about
  ``4 * sqrt(n)`` lists, ``nprobe`` lists searched per query). IVF supports removal (with
  a hash-table direct map), so deletes stay cheap at a million vectors with no tombstones.
  The IVF index is trained and filled in a background thread from a copy of the
  partition; readers and writers go on with the exact index meanwhile, and the writes
  made during the build are replayed onto the new index before it is swapped in. It is
  retrained the same way when the partition has grown four-fold since its training.

Ids are int64 values chosen by the caller (the store keeps a persisted counter); the index
never derives ids from ``ntotal``, which would reuse ids after a delete.

Vectors are L2-normalised on the way in, so inner product is cosine similarity.
FAISS releases the GIL while it searches or trains, so searches in threads (and
``asyncio.to_thread``) run in parallel; a single query runs on one OpenMP thread (its
start-up costs more than a second core saves), a batch on all cores.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from autoskill.errors import StoreCorruptError

__all__ = ["APPROX_THRESHOLD", "VectorIndex", "ivf_lists_for", "ivf_nprobe_for"]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "vector_index.json"
_FORMAT = "autoskill-vector-index"
_FORMAT_VERSION = 2  # 2 added IVF partitions; version 1 files (all flat) still load
# Up to this many queries per call, flat partitions are searched with numpy (see below).
_NUMPY_MAX_QUERIES = 16
# Partitions of at least this many vectors get an approximate (IVF) index by default.
APPROX_THRESHOLD = 50_000
# An IVF partition is retrained once it holds this many times the vectors it was trained on.
_RETRAIN_GROWTH = 4
# k-means for the IVF lists trains on at most this many points per list (FAISS warns
# below 39 and gains little above a few dozen).
_TRAIN_POINTS_PER_LIST = 40
_CPUS = os.cpu_count() or 1
# A search over at least this many exact partitions (every user's records, say) scans one
# merged copy of them instead of each in turn (Python overhead per partition adds up).
_MERGE_MIN_PARTITIONS = 16
_MERGED_VIEWS = 4  # merged copies kept (least recently used dropped)
_EAGER_VIEW_MAX = 10_000  # partitions up to this size get their view rebuilt at write time
# A lone query over at least this many exact vectors (more than the caches hold) is scored
# by FAISS's SIMD kernel, one pass keeping a running top k. Here, over numpy arrays of
# 24k-1M vectors (huge pages), it ran 1.4-1.7x faster than a BLAS matrix-vector product
# plus a partition, and as fast over FAISS's own storage (4 KB pages, TLB-bound); below it
# they are even and numpy has less call overhead.
_KERNEL_MIN_ROWS = 16_384
_TIE_SLACK = 8  # extra rows the kernel returns past the k-th, to see ties with it
_SMALL_RANK = 64  # up to this many candidates are ranked as Python pairs (no numpy calls)


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
        owned = self.acquire_read()
        try:
            yield
        finally:
            self.release_read(owned)

    # The hot search paths call these two directly (a generator-based context manager
    # costs a few microseconds, a sizeable share of a 50 us search).
    def acquire_read(self) -> bool:
        """Take a read hold; returns whether the caller already holds the write lock."""
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:  # a writer may read what it holds
                self._depth += 1
                return True
            while self._writer is not None:
                self._cond.wait()
            self._readers += 1
            return False

    def release_read(self, owned: bool) -> None:
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


def ivf_lists_for(n: int) -> int:
    """Number of IVF lists for a partition of ``n`` vectors (about ``4 * sqrt(n)``, with
    enough points per list to train k-means)."""
    return max(1, min(int(4 * np.sqrt(max(n, 1))), n // _TRAIN_POINTS_PER_LIST))


def ivf_nprobe_for(nlist: int) -> int:
    """Lists searched per query by default: 1/64 of the lists, at least 32.

    Measured on 384-d clustered vectors (``benchmarks/bench_vector_index.py``): at 1M
    vectors (2,529 lists) 32 to 48 probes gave recall@10 1.000 in 1.2-1.6 ms per query on
    one core of this machine; at 200k (1,788 lists) 16 probes gave 0.93 and 32 gave 0.96.
    """
    return min(nlist, max(32, nlist // 64))


def _is_ivf(index: Any) -> bool:
    return isinstance(index, faiss.IndexIVF)


def _ivf_ids(index: Any) -> np.ndarray:
    """Every id stored in an IVF index (list by list)."""
    invlists = index.invlists
    parts = []
    for list_no in range(index.nlist):
        size = invlists.list_size(list_no)
        if size:
            parts.append(faiss.rev_swig_ptr(invlists.get_ids(list_no), size).copy())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _ivf_vectors(index: Any, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies of every (id, vector) of an IVF-Flat index, list by list."""
    invlists = index.invlists
    ids, vecs = [], []
    for list_no in range(index.nlist):
        size = invlists.list_size(list_no)
        if size:
            ids.append(faiss.rev_swig_ptr(invlists.get_ids(list_no), size).copy())
            codes = faiss.rev_swig_ptr(invlists.get_codes(list_no), size * dims * 4)
            vecs.append(np.frombuffer(codes.tobytes(), dtype=np.float32).reshape(size, dims))
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, dims), dtype=np.float32)
    return np.concatenate(ids), np.vstack(vecs)


def _train_ivf(ids: np.ndarray, vectors: np.ndarray, dims: int) -> Any:
    """A filled IVF-Flat inner-product index over ``vectors`` (GIL released while training)."""
    nlist = ivf_lists_for(len(ids))
    index = faiss.index_factory(dims, f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
    sample = vectors
    limit = nlist * _TRAIN_POINTS_PER_LIST
    if len(vectors) > limit:
        # A fixed seed keeps builds reproducible.
        chosen = np.sort(np.random.default_rng(0).choice(len(vectors), limit, replace=False))
        sample = vectors[chosen]
    index.train(np.ascontiguousarray(sample))
    ivf = index  # index_factory returns the IndexIVFFlat itself (no downcast: that copy would not own it)
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
    ivf.add_with_ids(np.ascontiguousarray(vectors), ids)
    ivf.nprobe = ivf_nprobe_for(nlist)
    return ivf


class _OnDisk:
    """A saved partition not read yet: :meth:`VectorIndex.load` reads files on first use."""

    __slots__ = ("count", "flags", "kind", "path")

    def __init__(self, path: Path, count: int, kind: str, flags: int) -> None:
        self.path, self.count, self.kind, self.flags = path, count, kind, flags

    @property
    def ntotal(self) -> int:
        return self.count


class VectorIndex:
    """Cosine search over named partitions of vectors with caller-given int64 ids.

    Thread-safe: searches run concurrently with each other; adds and removes are exclusive;
    approximate indexes are built in background threads without blocking either.

    Args:
        dims: Vector length.
        approx_threshold: Partition size at which an IVF index replaces the exact one
            (None: always exact).
        nprobe: IVF lists searched per query (None: :func:`ivf_nprobe_for` of the
            partition's list count). More is slower and closer to exact.
        background: Build IVF indexes in a background thread (False: inline, in the
            write that crossed the threshold).
        prefix_thresholds: Per-partition overrides of ``approx_threshold`` by name prefix
            (``{"records:": None}`` keeps record partitions exact).
    """

    def __init__(self, dims: int, *, approx_threshold: int | None = APPROX_THRESHOLD,
                 nprobe: int | None = None, background: bool = True,
                 prefix_thresholds: Mapping[str, int | None] | None = None) -> None:
        if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or dims <= 0:
            raise ValueError(f"dims must be a positive integer, got {dims!r}")
        if approx_threshold is not None and approx_threshold < 1:
            raise ValueError(f"approx_threshold must be positive or None, got {approx_threshold!r}")
        self._dims = int(dims)
        self._threshold = approx_threshold
        self._prefix_thresholds = dict(prefix_thresholds or {})
        self._nprobe = nprobe
        self._background = background
        self._parts: dict[str, Any] = {}
        self._where: dict[int, str] = {}
        self._lock = _RWLock()
        # Per-partition zero-copy view of the flat vectors plus the id array; rebuilt after
        # the partition changes (an add may reallocate the FAISS storage).
        self._views: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        # Builds in progress: partition -> ids written since the build copied the partition.
        self._building: dict[str, set[int]] = {}
        self._builders: list[threading.Thread] = []
        self._trained_for: dict[str, int] = {}  # IVF partition -> size it was trained at
        # Save bookkeeping: which directory holds which partition file, and which
        # partitions changed since, so that a save rewrites only those.
        self._saved_dir: Path | None = None
        self._saved_files: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._save_lock = threading.Lock()
        self._read_lock = threading.Lock()  # one reader of a lazily loaded partition file
        self._disk_ids: dict[str, np.ndarray] = {}  # ids of partitions not read yet
        # Bumped on every change of a partition: merged views check them to stay current.
        self._versions: dict[str, int] = {}
        self._generation = 0  # bumped with any version: an unchanged index skips the per-partition check
        # frozenset(targets) -> [members merged, their versions, generation seen, matrix, ids]
        self._merged: OrderedDict[frozenset[str], list[Any]] = OrderedDict()
        self._merge_lock = threading.Lock()

    def _part(self, name: str) -> Any:
        """The FAISS index of a partition, read from its file on first use."""
        index = self._parts[name]
        if not isinstance(index, _OnDisk):
            return index
        with self._read_lock:
            index = self._parts[name]
            if isinstance(index, _OnDisk):
                index = self._read_partition(name, index)
                self._parts[name] = index
                self._disk_ids.pop(name, None)
        return index

    def _read_partition(self, name: str, entry: _OnDisk) -> Any:
        try:
            # read_index returns the concrete class (a downcast_index copy would not own it).
            part = faiss.read_index(str(entry.path), entry.flags)
        except RuntimeError as exc:
            raise StoreCorruptError(f"{entry.path}: unreadable FAISS index ({exc})") from None
        if part.d != self._dims or part.ntotal != entry.count:
            raise StoreCorruptError(
                f"{entry.path}: holds {part.ntotal} vectors of {part.d} dims; the manifest says "
                f"{entry.count} of {self._dims}"
            )
        if isinstance(part, faiss.IndexIVFFlat):
            if self._nprobe is not None:
                part.nprobe = self._nprobe
        elif not isinstance(part, faiss.IndexIDMap2):
            raise StoreCorruptError(f"{entry.path}: not an IndexIDMap2 or IndexIVFFlat ({type(part).__name__})")
        return part

    # -- introspection -------------------------------------------------------------------

    @property
    def dims(self) -> int:
        """Vector length."""
        return self._dims

    @property
    def approx_threshold(self) -> int | None:
        """Partition size at which the index becomes approximate (None: never)."""
        return self._threshold

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
        index = self._parts.get(partition)  # one dict read: atomic, no lock needed
        return int(index.ntotal) if index is not None else 0

    def partition_kind(self, partition: str) -> str | None:
        """``"flat"`` (exact), ``"ivf"`` (approximate) or None when the partition is empty."""
        index = self._parts.get(partition)
        if index is None:
            return None
        if isinstance(index, _OnDisk):
            return index.kind
        return "ivf" if _is_ivf(index) else "flat"

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

    def has_unsaved_changes(self) -> bool:
        """True when a partition changed since the last :meth:`save` (or was never saved)."""
        with self._lock.read():
            return bool(self._dirty) or (self._saved_dir is None and bool(self._parts))

    def id_partitions(self) -> dict[int, str]:
        """A copy of ``id -> partition`` for every stored vector."""
        with self._lock.read():
            return dict(self._where)

    def _ids_of(self, name: str) -> np.ndarray:
        index = self._parts[name]
        if isinstance(index, _OnDisk):
            return self._disk_ids[name]
        return self._partition_ids(index)

    def _partition_ids(self, index: Any) -> np.ndarray:
        return _ivf_ids(index) if _is_ivf(index) else faiss.vector_to_array(index.id_map)

    def ids(self, partition: str | None = None) -> list[int]:
        """Sorted ids, of one partition or of all."""
        with self._lock.read():
            if partition is None:
                return sorted(self._where)
            if partition not in self._parts:
                return []
            # The index holds the partition's ids: no scan over every id in the index.
            return sorted(self._ids_of(partition).tolist())

    def reconstruct(self, id: int) -> np.ndarray:  # noqa: A002
        """The stored (normalised) vector of ``id``.

        Raises:
            KeyError: No such id.
        """
        with self._lock.read():
            partition = self._where.get(int(id))
            if partition is None:
                raise KeyError(id)
            return np.asarray(self._part(partition).reconstruct(int(id)), dtype=np.float32)

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
            id_list = id_arr.tolist()
            where = self._where
            existing = [i for i in id_list if i in where]
            if existing:
                self._remove_locked(existing)
            if partition in self._parts:
                index = self._part(partition)
            else:
                index = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dims))
                self._parts[partition] = index
            index.add_with_ids(matrix, id_arr)
            self._changed(partition, id_list)
            where.update(dict.fromkeys(id_list, partition))
            self._maybe_build(partition)
            current = self._parts[partition]
            if not _is_ivf(current) and current.ntotal <= _EAGER_VIEW_MAX:
                # Searches are the hot path: rebuild a small partition's numpy view now
                # rather than in the first search after this write (a large one's view
                # costs a copy of its ids, left to the next search).
                self._flat_view(partition)

    def _changed(self, partition: str, ids: list[int]) -> None:
        self._versions[partition] = self._versions.get(partition, 0) + 1
        self._generation += 1
        self._views.pop(partition, None)
        self._dirty.add(partition)
        journal = self._building.get(partition)
        if journal is not None:
            journal.update(ids)

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
            index = self._part(partition)
            # IVF's hash-table direct map removes by id only through an IDSelectorArray.
            wanted = np.asarray(part_ids, dtype=np.int64)
            selector = (faiss.IDSelectorArray(wanted) if _is_ivf(index) else faiss.IDSelectorBatch(wanted))
            removed += int(index.remove_ids(selector))
            self._changed(partition, part_ids)
            for i in part_ids:
                del self._where[i]
            if index.ntotal == 0:
                del self._parts[partition]
                self._trained_for.pop(partition, None)
        return removed

    # -- approximate indexes -------------------------------------------------------------

    def threshold_for(self, partition: str) -> int | None:
        """The size at which ``partition`` becomes approximate (None: it stays exact)."""
        for prefix, threshold in self._prefix_thresholds.items():
            if partition.startswith(prefix):
                return threshold
        return self._threshold

    def _maybe_build(self, partition: str) -> None:
        """Start an IVF build for ``partition`` when its size calls for one (under the write lock)."""
        threshold = self.threshold_for(partition)
        if threshold is None or partition in self._building:
            return
        index = self._parts[partition]
        if isinstance(index, _OnDisk):
            if index.kind == "flat" and index.count < threshold:
                return  # nothing to build: leave the file unread
            index = self._part(partition)
        size = int(index.ntotal)
        if _is_ivf(index):
            if size < _RETRAIN_GROWTH * self._trained_for.get(partition, size):
                return
        elif size < threshold:
            return
        self._building[partition] = set()
        if not self._background:
            self._build(partition)
            return
        thread = threading.Thread(target=self._build, args=(partition,), name=f"autoskill-ivf-{partition}",
                                  daemon=True)
        self._builders = [t for t in self._builders if t.is_alive()]
        self._builders.append(thread)
        thread.start()

    def _build(self, partition: str) -> None:
        """Train an IVF index from a copy of ``partition`` and swap it in with the writes made meanwhile."""
        swapped = False
        try:
            with self._lock.read():
                if partition not in self._parts:
                    return
                index = self._part(partition)
                if _is_ivf(index):
                    ids, vectors = _ivf_vectors(index, self._dims)
                else:
                    matrix, view_ids = self._flat_view(partition)  # type: ignore[misc]
                    ids, vectors = view_ids.copy(), np.array(matrix)
            built = _train_ivf(ids, vectors, self._dims)  # the slow part, outside every lock
            del vectors
            with self._lock.write():
                touched = np.fromiter(self._building.get(partition, ()), dtype=np.int64)
                if partition not in self._parts:
                    return  # emptied meanwhile
                current = self._part(partition)
                now = self._partition_ids(current)
                # Replay the writes made during the build: drop what was removed or
                # rewritten since the copy, then add what is new or rewritten.
                stale = np.union1d(np.setdiff1d(ids, now), np.intersect1d(touched, ids))
                fresh = np.union1d(np.setdiff1d(now, ids), np.intersect1d(touched, now))
                if stale.size:
                    built.remove_ids(faiss.IDSelectorArray(stale))
                if fresh.size:
                    built.add_with_ids(self._vectors_of(partition, current, fresh), fresh)
                if self._nprobe is not None:
                    built.nprobe = self._nprobe
                self._parts[partition] = built
                self._versions[partition] = self._versions.get(partition, 0) + 1
                self._generation += 1
                self._trained_for[partition] = len(ids)
                self._views.pop(partition, None)
                self._dirty.add(partition)
                logger.debug("partition %s: IVF index with %d lists over %d vectors", partition,
                             built.nlist, built.ntotal)
                swapped = True
        except Exception:  # a failed build leaves the exact index in place
            logger.exception("building the approximate index of partition %s failed", partition)
        finally:
            with self._lock.write():
                self._building.pop(partition, None)
                if swapped and partition in self._parts:
                    # Writes during a long build may have grown the partition past the next
                    # retraining point already: check now, not at the next write.
                    self._maybe_build(partition)

    def _vectors_of(self, partition: str, index: Any, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (all in ``partition``), in order."""
        if _is_ivf(index):
            return index.reconstruct_batch(ids)
        matrix, view_ids = self._flat_view(partition)  # type: ignore[misc]
        order = np.argsort(view_ids, kind="stable")
        return matrix[order[np.searchsorted(view_ids[order], ids)]]

    def wait_for_builds(self, timeout: float | None = None) -> bool:
        """Wait until background index builds finish; True when none is left running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # A finished build may start another (see _build): loop until none is left.
        while running := [t for t in list(self._builders) if t.is_alive()]:
            for thread in running:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if deadline is not None and time.monotonic() >= deadline:
                break
        return not any(t.is_alive() for t in self._builders)

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
        index = self._part(name)
        if _is_ivf(index):
            return None
        inner = faiss.downcast_index(index.index)
        n = int(inner.ntotal)
        matrix = faiss.rev_swig_ptr(inner.get_xb(), n * self._dims).reshape(n, self._dims)
        matrix.flags.writeable = False  # may point into a read-only memory map
        ids = faiss.vector_to_array(index.id_map)
        # Concurrent readers may both build it; they build the same thing.
        self._views[name] = (matrix, ids)
        return matrix, ids

    def _ivf_params(self, index: Any, exact: bool) -> Any:
        return faiss.SearchParametersIVF(nprobe=int(index.nlist) if exact else int(index.nprobe))

    def _search_partition(
        self, name: str, queries: np.ndarray, k: int, exact: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        index = self._part(name)
        kk = min(k, int(index.ntotal))
        if _is_ivf(index):
            return index.search(queries, kk, params=self._ivf_params(index, exact))
        view = self._flat_view(name) if queries.shape[0] <= _NUMPY_MAX_QUERIES else None
        if view is None:
            return index.search(queries, kk)
        # For a few queries, scoring each one over the flat storage (see _best_rows) beats
        # FAISS's batched search, whose BLAS path pays off for batches. One query at a time,
        # so a batched search returns bit-identical scores to single searches.
        matrix, ids = view
        return _side_by_side([_best_rows(matrix, ids, q, kk) for q in queries])

    def search(
        self, query_vec: Any, k: int, partitions: Iterable[str] | str | None = None, *,
        exact: bool = False,
    ) -> list[tuple[int, float]]:
        """Top-``k`` by cosine similarity within the chosen partitions.

        Args:
            query_vec: Vector of length ``dims`` (normalised here).
            k: Number of results wanted.
            partitions: Partition names to search; None means all. Unknown names are empty.
            exact: Search IVF partitions exhaustively (every list) instead of ``nprobe`` lists.

        Returns:
            ``(id, score)`` pairs, best first (ties by ascending id); ``min(k, available)``
            of them from exact partitions (an IVF partition may return fewer when its
            probed lists hold fewer than ``k`` vectors).
        """
        query = np.asarray(query_vec, dtype=np.float32)
        if query.ndim != 1:
            raise ValueError(f"query_vec must be 1-D, got shape {query.shape}")
        return self.search_batch(query[None, :], k, partitions, exact=exact)[0]

    def search_batch(
        self, query_matrix: Any, k: int, partitions: Iterable[str] | str | None = None, *,
        exact: bool = False,
    ) -> list[list[tuple[int, float]]]:
        """:meth:`search` for each row of ``query_matrix``.

        Up to 16 queries give scores bit-identical to :meth:`search`; larger batches use
        FAISS's blocked BLAS kernel on all cores (same ranking, scores equal to float
        precision).
        """
        queries = np.asarray(query_matrix, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self._dims:
            raise ValueError(f"query_matrix must have shape (n, {self._dims}), got {queries.shape}")
        n_queries = queries.shape[0]
        if k <= 0 or n_queries == 0:
            return [[] for _ in range(n_queries)]
        queries = self._prepare_vectors(queries, n_queries)
        # Per calling thread: one OpenMP thread for a lone query (its overhead costs more
        # than a second core saves), every core for a batch.
        faiss.omp_set_num_threads(1 if n_queries == 1 else _CPUS)
        with self._lock.read():
            scores, found = self._search_locked(queries, k, self._targets(partitions), exact)
        if scores is None:
            return [[] for _ in range(n_queries)]
        return [_ranked(found[row], scores[row], k) for row in range(n_queries)]

    def search_unit(self, query: np.ndarray, k: int, partitions: Iterable[str] | str | None = None) -> list[tuple[int, float]]:
        """:meth:`search` for a caller that already holds a unit float32 query of ``dims``
        (the store's hot path: no second validation)."""
        if k <= 0:
            return []
        owned = self._lock.acquire_read()
        try:
            if type(partitions) is list and len(partitions) == 1:
                # One small exact partition (a user's records or skills): the hottest path
                # of all. Its numpy view is kept current at every write; score it directly.
                view = self._views.get(partitions[0])
                if view is not None:
                    scores, ids = _best_rows(view[0], view[1], query, k)
                    return _ranked(ids, scores, k)
            faiss.omp_set_num_threads(1)
            scores, found = self._search_locked(query[None, :], k, self._targets(partitions), False)
        finally:
            self._lock.release_read(owned)
        return [] if scores is None else _ranked(found[0], scores[0], k)

    def _search_locked(self, queries: np.ndarray, k: int, targets: list[str],
                       exact: bool) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """Top-``k`` candidates of every target partition, side by side (under the read lock)."""
        scores_parts: list[np.ndarray] = []
        ids_parts: list[np.ndarray] = []
        if len(targets) >= _MERGE_MIN_PARTITIONS and queries.shape[0] <= _NUMPY_MAX_QUERIES:
            view = self._merged_view(targets)
            if view is not None:
                members, matrix, ids = view
                top_scores, top_ids = _side_by_side([_best_rows(matrix, ids, q, k) for q in queries])
                scores_parts.append(top_scores)
                ids_parts.append(top_ids)
                if len(members) < len(targets):
                    merged = set(members)
                    targets = [name for name in targets if name not in merged]
                else:
                    targets = []
        for name in targets:
            scores, found = self._search_partition(name, queries, k, exact)
            scores_parts.append(scores)
            ids_parts.append(found)
        if not scores_parts:
            return None, None
        if len(scores_parts) == 1:
            return scores_parts[0], ids_parts[0]
        return np.concatenate(scores_parts, axis=1), np.concatenate(ids_parts, axis=1)

    def _merged_view(self, targets: list[str]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray] | None:
        """One copy of the flat partitions among ``targets`` (vectors and ids), rebuilt when
        one of them changes; None when fewer than ``_MERGE_MIN_PARTITIONS`` are flat."""
        key = frozenset(targets)
        entry = self._merged.get(key)
        if entry is not None:
            members, stamp, generation, matrix, ids = entry
            current = generation == self._generation or all(
                self._versions.get(name, 0) == v for name, v in zip(members, stamp))
            if current:
                with self._merge_lock:
                    entry[2] = self._generation
                    if key in self._merged:
                        self._merged.move_to_end(key)
                return members, matrix, ids
        members = tuple(name for name in targets if self.partition_kind(name) == "flat")
        if len(members) < _MERGE_MIN_PARTITIONS:
            return None
        views = [self._flat_view(name) for name in members]
        matrix = np.concatenate([v[0] for v in views])  # type: ignore[index]
        ids = np.concatenate([v[1] for v in views])  # type: ignore[index]
        stamp = tuple(self._versions.get(name, 0) for name in members)
        with self._merge_lock:
            self._merged[key] = [members, stamp, self._generation, matrix, ids]
            self._merged.move_to_end(key)
            while len(self._merged) > _MERGED_VIEWS:
                self._merged.popitem(last=False)
        return members, matrix, ids

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
            id_parts: list[np.ndarray] = []
            for name in sorted(self._parts):
                old = self._saved_files.get(name) if same_dir else None
                if old is not None and name not in self._dirty and (path / old).exists():
                    file_name = old
                else:
                    file_name = _file_name(name, generation)
                    tmp = path / (file_name + ".tmp")
                    faiss.write_index(self._part(name), str(tmp))
                    os.replace(tmp, path / file_name)
                kind = self.partition_kind(name)
                files[name] = file_name
                entries[name] = {"file": file_name, "count": int(self._parts[name].ntotal), "kind": kind,
                                 "bytes": (path / file_name).stat().st_size}
                if kind == "ivf":
                    entries[name]["trained_for"] = self._trained_for.get(name, int(self._parts[name].ntotal))
                id_parts.append(self._ids_of(name))
            # Every partition's ids in one file, so a load knows where each id lives
            # without reading the partition files (they are read on first use).
            ids_file = f"ids-{generation}.npy"
            with open(path / (ids_file + ".tmp"), "wb") as fh:
                np.save(fh, np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int64))
            os.replace(path / (ids_file + ".tmp"), path / ids_file)
            manifest = {
                "format": _FORMAT,
                "version": _FORMAT_VERSION,
                "dims": self._dims,
                "metric": "inner_product",
                "partitions": entries,
                "ids_file": ids_file,
            }
            _atomic_write_text(path / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True))
            self._saved_dir, self._saved_files = path, files
            self._dirty.clear()
            self._remove_stale_files(path, {*files.values(), ids_file})

    @staticmethod
    def _remove_stale_files(path: Path, keep: set[str]) -> None:
        for stale in [*path.glob("part-*.faiss"), *path.glob("ids-*.npy")]:
            if stale.name not in keep:
                try:
                    stale.unlink()
                except OSError:  # e.g. still memory-mapped on Windows; harmless to leave
                    logger.debug("could not delete stale index file %s", stale, exc_info=True)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], mmap: bool = False, *,
             approx_threshold: int | None = APPROX_THRESHOLD, nprobe: int | None = None,
             background: bool = True, prefix_thresholds: Mapping[str, int | None] | None = None) -> VectorIndex:
        """Load an index written by :meth:`save`.

        Args:
            directory: The directory given to :meth:`save`.
            mmap: Memory-map the partition files read-only instead of reading them into
                memory, so processes opening the same files share one copy in the page
                cache (later changes are copied on write; the files stay untouched). IVF
                partitions are always read into memory (FAISS maps them read-only).
            approx_threshold, nprobe, background, prefix_thresholds: As for the constructor.

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
        if manifest.get("format") != _FORMAT or manifest.get("version") not in (1, _FORMAT_VERSION):
            raise StoreCorruptError(
                f"{manifest_path}: unsupported format {manifest.get('format')!r} "
                f"version {manifest.get('version')!r}"
            )
        index = cls(int(manifest["dims"]), approx_threshold=approx_threshold, nprobe=nprobe,
                    background=background, prefix_thresholds=prefix_thresholds)
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        total = 0
        partitions = manifest.get("partitions", {})
        all_ids = None
        if manifest.get("ids_file"):
            try:
                all_ids = np.load(path / manifest["ids_file"], allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise StoreCorruptError(f"{path / manifest['ids_file']}: unreadable ({exc})") from None
            if all_ids.ndim != 1 or all_ids.size != sum(int(e["count"]) for e in partitions.values()):
                raise StoreCorruptError(f"{path / manifest['ids_file']}: does not match the manifest's counts")
        for name, entry in sorted(partitions.items()):
            file_path = path / entry["file"]
            try:
                size = file_path.stat().st_size
            except OSError:
                raise StoreCorruptError(
                    f"{manifest_path}: partition {name!r} file {entry['file']} is missing"
                ) from None
            # Files are read on first use; a size check here catches a truncated or
            # replaced file while the caller can still fall back (a store rebuilds).
            if "bytes" in entry and size != entry["bytes"]:
                raise StoreCorruptError(f"{file_path}: {size} bytes, the manifest says {entry['bytes']}")
            kind = entry.get("kind", "flat")
            # FAISS maps IVF lists read-only (no later writes), so only exact partitions
            # are memory-mapped.
            on_disk = _OnDisk(file_path, int(entry["count"]), kind, flags if kind == "flat" else 0)
            if kind == "ivf":
                index._trained_for[name] = int(entry.get("trained_for", entry["count"]))
            if all_ids is not None:
                part_ids = all_ids[total:total + on_disk.count]
                index._parts[name] = on_disk
                index._disk_ids[name] = part_ids
            else:  # a version 1 save: read the file now to learn its ids
                part = index._read_partition(name, on_disk)
                index._parts[name] = part
                part_ids = index._partition_ids(part)
            index._where.update(dict.fromkeys(part_ids.tolist(), name))
            total += len(part_ids)
        if len(index._where) != total:
            raise StoreCorruptError(f"{manifest_path}: {total - len(index._where)} ids are in more than one partition")
        index._saved_dir = path
        index._saved_files = {
            name: entry["file"] for name, entry in manifest.get("partitions", {}).items()
        }
        with index._lock.write():
            for name in list(index._parts):  # e.g. saved before a build finished
                index._maybe_build(name)
        return index


def _best_rows(matrix: np.ndarray, ids: np.ndarray, query: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and ids of the ``kk`` best rows of ``matrix`` for one query, plus every row
    tied with the ``kk``-th score (so the final id tie-break sees them all), unordered."""
    n = matrix.shape[0]
    if kk >= n:
        return matrix @ query, ids
    if n >= _KERNEL_MIN_ROWS:
        return _kernel_best_rows(matrix, ids, query, kk)
    row = matrix @ query
    kth = np.partition(row, n - kk)[n - kk]
    keep = (row >= kth).nonzero()[0]
    return row[keep], ids[keep]


def _kernel_best_rows(matrix: np.ndarray, ids: np.ndarray, query: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_best_rows` by FAISS's exhaustive inner-product kernel (one thread)."""
    n, dims = matrix.shape
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32)
    threads = faiss.omp_get_max_threads()
    if threads != 1:  # a lone scan on two threads ran 2.6x slower here
        faiss.omp_set_num_threads(1)
    try:
        want = min(n, kk + _TIE_SLACK)
        while True:
            scores = np.empty(want, dtype=np.float32)
            labels = np.empty(want, dtype=np.int64)
            faiss.knn_inner_product(faiss.swig_ptr(query), faiss.swig_ptr(matrix), dims, 1, n, want,
                                    faiss.swig_ptr(scores), faiss.swig_ptr(labels))
            kth = scores[kk - 1]  # the kernel returns its rows best first
            # Every row tied with the kk-th is in hand once a lower score follows them (or
            # all rows are): else ask for more.
            if want == n or scores[want - 1] < kth:
                keep = scores >= kth
                return scores[keep], ids[labels[keep]]
            want = min(n, want * 4)
    finally:
        if threads != 1:
            faiss.omp_set_num_threads(threads)


def _side_by_side(rows: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-query (scores, ids) of different lengths as two matrices, padded with id -1."""
    if len(rows) == 1:
        scores, ids = rows[0]
        return scores[None, :], ids[None, :]
    width = max(len(ids) for _, ids in rows)
    out_scores = np.full((len(rows), width), -np.inf, dtype=np.float32)
    out_ids = np.full((len(rows), width), -1, dtype=np.int64)
    for r, (scores, ids) in enumerate(rows):
        out_scores[r, :len(ids)] = scores
        out_ids[r, :len(ids)] = ids
    return out_scores, out_ids


def _by_score_then_id(pair: tuple[int, float]) -> tuple[float, int]:
    return -pair[1], pair[0]


def _ranked(row_ids: np.ndarray, row_scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best ``k`` of one row, by score descending then id ascending (deterministic ties)."""
    if row_ids.size <= _SMALL_RANK:  # the common case: sorting a few Python pairs is cheapest
        pairs = [pair for pair in zip(row_ids.tolist(), row_scores.tolist()) if pair[0] >= 0]  # FAISS pads with -1
        pairs.sort(key=_by_score_then_id)
        return pairs[:k]
    valid = row_ids >= 0  # FAISS pads with -1
    if not valid.all():
        row_ids, row_scores = row_ids[valid], row_scores[valid]
    if row_ids.size > k:
        # Keep every candidate tied with the k-th score so the id tie-break stays exact.
        kth = np.partition(row_scores, row_ids.size - k)[row_ids.size - k]
        keep = row_scores >= kth
        row_ids, row_scores = row_ids[keep], row_scores[keep]
    order = np.lexsort((row_ids, -row_scores))[:k]
    return list(zip(row_ids[order].tolist(), row_scores[order].tolist()))
