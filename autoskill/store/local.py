"""The local store: a folder anyone can read, several processes can share.

Layout::

    <root>/
      autoskill.json          manifest: schema version, embedder identity, dimensions
      ledger.sqlite3          the ledger (WAL): skills, versions, usage, records, changes
      .index/                 the saved vector index and the ledger change it reflects, and
                              the saved BM25 index (lexical.bin) once a hybrid search built it
                              (derived data: deleted or stale, they are rebuilt from the ledger)
      .write.lock             held by the process that is writing (flock)
      .trash/                 deleted skill folders, parked for a moment before removal
      Users/<user>/<name>/SKILL.md            users' skills (hand edits become versions)
      Common/[<library>/]<name>/SKILL.md      shared libraries (read-only for users)

SKILL.md files are the human-editable truth for a skill's content: opening the store, or
``refresh()``, notices a changed file (by content hash) and records it as a new version.
Opening is fast at any size: the saved index is memory-mapped and brought up to date from
the ledger's change log, skills are parsed when first used, and a large tree (over
``SYNC_CHECK_LIMIT`` skill files) is checked in a background thread.
A skill folder placed by hand under ``Users/<user>/`` becomes that user's skill; one placed
under ``Common/`` becomes a shared-library skill. Extra library folders given as
``library_dirs`` are indexed in place and never written.

Opening the store (and ``refresh()``) also finishes what a writer killed mid-write left:
logged tree jobs, temporary files of atomic writes, parked folders (see
``docs/reliability.md``; ``autoskill doctor`` checks and repairs the rest).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from autoskill._fs import atomic_write_text
from autoskill.embeddings.base import Embedder
from autoskill.errors import EmbedderMismatchError, SkillParseError, StoreCorruptError, StoreError
from autoskill.skill.folder import find_skill_file, load_skill_dir
from autoskill.skill.model import Skill, free_skill_id
from autoskill.retrieval.bm25 import BM25Index
from autoskill.retrieval.vector_index import APPROX_THRESHOLD, VectorIndex
from autoskill.skill.normalize import utc_timestamp
from autoskill.store.faiss_store import FaissSkillStore
from autoskill.store.ledger import SCHEMA_VERSION, Ledger
from autoskill.store.tree import COMMON_DIR, USERS_DIR, SkillTree, decode_owner, file_hash

__all__ = ["LEDGER", "MANIFEST", "LocalSkillStore", "StoreLock", "library_name_for"]

logger = logging.getLogger(__name__)

MANIFEST = "autoskill.json"
LEDGER = "ledger.sqlite3"
INDEX_DIR = ".index"
_INDEX_STATE = "state.json"
_LEXICAL_FILE = "lexical.bin"
# With check_files="auto", trees up to this many skill files are checked while opening;
# larger ones in a background thread (hashing 100k files takes seconds).
SYNC_CHECK_LIMIT = 5_000
# A store rebuilt from the ledger with at least this many vectors saves its index at once.
_SAVE_AFTER_REBUILD = 5_000
_CHECK_CHUNK = 500  # skill files checked per hold of the write lock


def library_name_for(path: Path) -> str:
    """The library name a folder of skills gets: its own folder name."""
    return path.resolve().name or "library"


class StoreLock:
    """The store's cross-process write lock: ``flock`` on ``<root>/.write.lock``.

    Re-entrant within one object (a write may run inside a reconciliation that already
    holds it) and exclusive across processes and across separate objects, because each
    object opens its own file description. The kernel drops the lock when its holder
    dies, so a killed writer never leaves the store locked.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._guard = threading.RLock()
        self._depth = 0
        self._handle: Any = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._guard:
            if self._depth == 0:
                handle = open(self.path, "a+b")  # noqa: SIM115 - held across the block
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                except BaseException:
                    handle.close()
                    raise
                self._handle = handle
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    handle, self._handle = self._handle, None
                    try:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                    finally:
                        handle.close()


class LocalSkillStore(FaissSkillStore):
    """A FAISS skill store persisted in a folder (see the module docstring for the layout)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        embedder: Embedder,
        *,
        library_dirs: Sequence[str | os.PathLike[str]] = (),
        on_embedder_change: str = "error",
        check_files: bool | str = "auto",
        approx_threshold: int | None = APPROX_THRESHOLD,
        nprobe: int | None = None,
        records_approx_threshold: int | None = None,
    ) -> None:
        """Open or create the store at ``path``.

        Args:
            path: Store folder (created when missing).
            embedder: Must be the embedder the store was built with, unless
                ``on_embedder_change="reembed"``.
            library_dirs: Extra skill libraries indexed in place (read-only).
            on_embedder_change: ``"error"`` (default) or ``"reembed"`` every skill.
            check_files: Look for hand edits and hand-placed skills: ``True`` while
                opening, ``"background"`` in a background thread (see
                :meth:`wait_for_file_check`), ``False`` only when :meth:`refresh` or
                :meth:`scan_files` is called, ``"auto"`` (default) while opening up to
                ``SYNC_CHECK_LIMIT`` skill files, in the background above.
            approx_threshold: Partition size at which search becomes approximate (IVF);
                None keeps every search exact. See :class:`~autoskill.retrieval.VectorIndex`.
            nprobe: IVF lists searched per query (None: scaled with the partition).
            records_approx_threshold: The same for plain record namespaces (None: exact).

        Raises:
            EmbedderMismatchError: The store was built with another embedder.
            StoreCorruptError: The manifest or ledger is unreadable.
        """
        self.root = Path(path).expanduser()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store folder {self.root} cannot be used: {exc.strerror or exc}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"store folder {self.root} is not writable")
        if check_files not in (True, False, "auto", "background"):
            raise ValueError(f"check_files must be True, False, 'auto' or 'background', got {check_files!r}")
        self.library_dirs = [Path(p).expanduser() for p in library_dirs]
        self._saved_seq: int | None = None
        self._file_check: threading.Thread | None = None
        self._closing = threading.Event()
        self._lock_path = self.root / ".write.lock"
        store_lock = StoreLock(self._lock_path)
        reembed = self._check_manifest(embedder, on_embedder_change)
        try:
            ledger = Ledger(self.root / LEDGER)
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(f"{self.root / LEDGER}: the ledger is damaged ({exc}); run `autoskill doctor "
                                    f"--store-dir {self.root}`, or restore it from a backup") from None
        try:
            if reembed:
                with store_lock():
                    _reembed_ledger(ledger, embedder)
            super().__init__(embedder, ledger=ledger, tree=SkillTree(self.root), write_lock=store_lock,
                             approx_threshold=approx_threshold, nprobe=nprobe,
                             records_approx_threshold=records_approx_threshold)
            # What opening repaired or recorded (a dead writer's unfinished files, hand
            # edits, placed folders), one line each; also logged.
            self.recovered: list[str] = []
            if check_files == "auto":
                check_files = True if len(self._heads) <= SYNC_CHECK_LIMIT else "background"
            if check_files is True:
                self.recovered = self.scan_files()
            else:
                with self._lock, self._write_lock():
                    self.recovered = self._replay_tree_jobs()
                if check_files == "background":
                    self._file_check = threading.Thread(target=self._background_check, daemon=True,
                                                        name=f"autoskill-file-check-{self.root.name}")
                    self._file_check.start()
        except sqlite3.DatabaseError as exc:
            ledger.close()
            raise StoreCorruptError(
                f"{self.root / LEDGER}: the ledger is damaged ({exc}); run `autoskill doctor --store-dir "
                f"{self.root}` to see what can be repaired, or restore it from a backup"
            ) from None

    # -- the saved index --------------------------------------------------------------------

    def _cached_index(self) -> tuple[VectorIndex, int] | None:
        state_path = self.root / INDEX_DIR / _INDEX_STATE
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
            seq = int(state["seq"])
            matches = (state.get("embedder") == self.embedder.identity and state.get("dims") == self.dims
                       and state.get("store_uid") == self._ledger.get_meta("store_uid") and seq <= self._seq)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s: unreadable (%s); rebuilding the index from the ledger", state_path, exc)
            return None
        if not matches:  # another ledger (restored, migrated) or another embedder
            return None
        try:
            index = VectorIndex.load(self.root / INDEX_DIR, mmap=True, **self._index_options)
        except (OSError, ValueError, KeyError, StoreCorruptError) as exc:
            logger.warning("%s: %s; rebuilding the index from the ledger", self.root / INDEX_DIR, exc)
            return None
        if index.dims != self.dims:
            return None
        self._saved_seq = seq
        return index, seq

    def _index_rebuilt(self) -> None:
        if len(self._index) >= _SAVE_AFTER_REBUILD:
            self.save_index()

    def _saved_lexical(self) -> tuple[BM25Index, int] | None:
        path = self.root / INDEX_DIR / _LEXICAL_FILE
        try:
            index, meta = BM25Index.load(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("%s: %s; rebuilding the lexical index from the ledger", path, exc)
            return None
        seq = meta.get("seq")
        if meta.get("store_uid") != self._ledger.get_meta("store_uid") or type(seq) is not int:
            return None  # another ledger's (restored, migrated)
        return index, seq

    def _store_uid(self) -> str:
        uid = self._ledger.get_meta("store_uid")
        if uid is None:
            with self._ledger.transaction():
                uid = uuid.uuid4().hex
                self._ledger.set_meta("store_uid", uid)
        return uid

    def save_index(self) -> None:
        """Save the vector index (with the ledger change it reflects) for fast opening, and
        the lexical index if one was built or changed here.

        Called by :meth:`close` when the index changed, and after a large rebuild.
        """
        with self._lock, self._write_lock():
            self._apply_changes()  # under the write lock: the index is exactly the ledger at _seq
            uid = self._store_uid()
            self._index.save(self.root / INDEX_DIR)
            # The state goes last: a crash before it leaves an older seq, and replaying
            # changes onto a newer index is harmless (each reload reads the ledger).
            state = {"seq": self._seq, "store_uid": uid, "embedder": self.embedder.identity, "dims": self.dims,
                     "vectors": len(self._index), "saved_at": utc_timestamp()}
            atomic_write_text(self.root / INDEX_DIR / _INDEX_STATE, json.dumps(state, indent=2))
            self._saved_seq = self._seq
            self._save_lexical(uid)

    def _save_lexical(self, uid: str) -> None:
        """Save the lexical index when it holds changes its file lacks (call under both locks)."""
        if self._lexical is None or not self._lexical_dirty:
            return
        self._lexical.save(self.root / INDEX_DIR / _LEXICAL_FILE, {"seq": self._seq, "store_uid": uid})
        self._lexical_dirty = False

    def close(self) -> None:
        """Stop the background file check, save the index if it changed, release the ledger.

        An IVF build still running is not waited for: the exact partition is saved, and
        the next open builds again.
        """
        self._closing.set()
        if self._file_check is not None:
            self._file_check.join()
        try:
            if not self._ledger.closed:
                with self._lock:
                    self._sync()
                    changed = self._saved_seq != self._seq or self._index.has_unsaved_changes()
                if changed and len(self._index):
                    self.save_index()
                elif self._lexical is not None and self._lexical_dirty:
                    with self._lock, self._write_lock():
                        self._apply_changes()
                        self._save_lexical(self._store_uid())
        except (OSError, StoreError, sqlite3.Error) as exc:  # the index is derived data: never fail a close
            logger.warning("could not save the vector index of %s: %s", self.root, exc)
        super().close()

    # -- manifest ---------------------------------------------------------------------------

    def _check_manifest(self, embedder: Embedder, on_change: str) -> bool:
        manifest_path = self.root / MANIFEST
        current = {"schema_version": SCHEMA_VERSION, "embedder": embedder.identity, "dims": embedder.dims}
        if not manifest_path.exists():
            atomic_write_text(manifest_path, json.dumps({**current, "created_at": utc_timestamp()}, indent=2))
            return False
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreCorruptError(f"{manifest_path}: unreadable manifest ({exc})") from None
        if not isinstance(manifest, dict):
            raise StoreCorruptError(f"{manifest_path}: the manifest is not a JSON object")
        if manifest.get("embedder") == embedder.identity and manifest.get("dims") == embedder.dims:
            return False
        if on_change != "reembed":
            raise EmbedderMismatchError(
                f"store {self.root} holds vectors of embedder {manifest.get('embedder')!r} "
                f"({manifest.get('dims')} dims) but was opened with {embedder.identity!r} ({embedder.dims} dims); "
                "open it with the same embedder, or pass on_embedder_change='reembed' to re-embed every skill"
            )
        atomic_write_text(manifest_path, json.dumps({**manifest, **current, "reembedded_at": utc_timestamp()}, indent=2))
        return True

    # -- files ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Catch up with other processes and with edits made to the SKILL.md files."""
        super().refresh()
        self.scan_files()

    def _background_check(self) -> None:
        try:
            self.recovered.extend(self.scan_files(stop=self._closing))
        except Exception:  # a background check must not die silently
            if not self._closing.is_set():
                logger.exception("checking the SKILL.md files of %s failed", self.root)

    def wait_for_file_check(self, timeout: float | None = None) -> bool:
        """Wait for the background SKILL.md check (if any); True when it has finished."""
        if self._file_check is not None:
            self._file_check.join(timeout)
            return not self._file_check.is_alive()
        return True

    def scan_files(self, stop: threading.Event | None = None) -> list[str]:
        """Reconcile the SKILL.md tree and library folders with the ledger.

        Args:
            stop: Stop early when set (closing the store stops a background check).

        Returns one line per change made (for ``autoskill doctor`` and logs).
        """
        # Under the write lock: no other process is between its ledger commit and its
        # files, so a difference seen here is a hand edit or a dead writer's leftover,
        # never a write in progress.
        # The lock is taken per chunk of files, so a background check of a large tree never
        # holds writers up for long; a file is compared with the ledger as it is then.
        known_sql = "SELECT id, folder, file_hash FROM skills WHERE folder IS NOT NULL"
        with self._lock, self._write_lock():
            report = self._replay_tree_jobs()
            report.extend(self._tree.remove_leftovers())  # type: ignore[union-attr]
            self._sync()
            folders = [folder for _, folder, _ in self._ledger.query(known_sql)]
        for start in range(0, len(folders), _CHECK_CHUNK):
            if stop is not None and stop.is_set():
                return report
            chunk = folders[start:start + _CHECK_CHUNK]
            with self._lock, self._write_lock():
                self._sync()
                marks = ",".join("?" * len(chunk))
                for skill_id, folder, fhash in self._ledger.query(
                        f"SELECT id, folder, file_hash FROM skills WHERE folder IN ({marks})", chunk):
                    try:
                        report.extend(self._check_known_file(skill_id, folder, fhash))
                    except (OSError, SkillParseError) as exc:
                        report.append(f"{folder}: {exc}")
                        logger.warning("skill file %s: %s", folder, exc)
        if stop is not None and stop.is_set():
            return report
        with self._lock, self._write_lock():
            known = {folder for _, folder, _ in self._ledger.query(known_sql)}
            report.extend(self._adopt_placed_skills(known))
        for line in report:
            logger.info("store %s: %s", self.root, line)
        return report

    def _folder_path(self, folder: str) -> Path:
        return Path(folder) if os.path.isabs(folder) else self.root / folder

    def _check_known_file(self, skill_id: str, folder: str, expected_hash: str | None) -> list[str]:
        if skill_id not in self._skill_vid:
            return []
        path = self._folder_path(folder)
        skill_file = find_skill_file(path)
        if skill_file is not None and expected_hash is not None:
            # The common case, a file as we wrote it: decided by its hash, without parsing.
            text = skill_file.read_bytes().decode("utf-8", errors="replace")
            if file_hash(text) == expected_hash:
                return []
        skill = self.get(skill_id)
        if skill is None:
            return []
        ours = not os.path.isabs(folder) and folder.startswith(USERS_DIR + "/")
        if skill_file is None:
            if ours or (not os.path.isabs(folder) and skill.scope == "library"):
                # The ledger is the truth for existence: put the file back.
                self._tree.write(skill)  # type: ignore[union-attr]
                return [f"{folder}: SKILL.md was missing; restored from the ledger"]
            self.delete(skill_id, allow_library=True)
            return [f"{folder}: library skill folder is gone; removed from the index"]
        text = skill_file.read_bytes().decode("utf-8", errors="replace")
        actual = file_hash(text)
        if actual == expected_hash:
            return []
        defaults = {"scope": skill.scope, "user_id": skill.user_id, "library": skill.library}
        edited = load_skill_dir(path, defaults=defaults).skill
        if edited.content_hash() == skill.content_hash():
            self._set_file_hash(skill_id, actual)
            return []
        if ours and any(v.skill.content_hash() == edited.content_hash() for v in self.history(skill_id)[:-1]):
            # An older version on disk: a crash between the ledger commit and the file write.
            self._tree.write(skill)  # type: ignore[union-attr]
            return [f"{folder}: stale SKILL.md rewritten from the ledger"]
        if ours:
            updated = _as_new_version(skill, edited, source=f"hand-edit:{folder}")
            self.upsert(updated, reason="hand edit of SKILL.md")
            return [f"{folder}: hand edit recorded as version {updated.version}"]
        # A library file changed upstream: re-index it as it is now, never rewrite it.
        updated = _as_new_version(skill, edited, source=f"library-file:{folder}", bump=False)
        self.upsert_many([updated], reason="library file changed", allow_library=True,
                         placed_files={updated.id: (folder, actual)})
        return [f"{folder}: library skill re-read"]

    def _set_file_hash(self, skill_id: str, fhash: str) -> None:
        with self._lock, self._write_lock(), self._ledger.transaction() as conn:
            conn.execute("UPDATE skills SET file_hash = ? WHERE id = ?", (fhash, skill_id))

    def _adopt_placed_skills(self, known: set[str]) -> list[str]:
        """Index skill folders that appeared without going through the API."""
        report: list[str] = []
        users = self.root / USERS_DIR
        if users.is_dir():
            for owner_dir in sorted(p for p in users.iterdir() if p.is_dir()):
                for skill_dir in sorted(p for p in owner_dir.iterdir() if p.is_dir()):
                    rel = skill_dir.relative_to(self.root).as_posix()
                    if rel not in known and find_skill_file(skill_dir) is not None:
                        report.extend(self._adopt(skill_dir, rel, scope="user", owner=decode_owner(owner_dir.name)))
        for library_root, relative in self._library_roots():
            for skill_dir, library in _library_skill_dirs(library_root):
                rel = (skill_dir.relative_to(self.root).as_posix() if relative else str(skill_dir.resolve()))
                if rel not in known:
                    report.extend(self._adopt(skill_dir, rel, scope="library", owner=library))
        return report

    def _library_roots(self) -> list[tuple[Path, bool]]:
        roots = [(self.root / COMMON_DIR, True)] if (self.root / COMMON_DIR).is_dir() else []
        roots.extend((p, False) for p in self.library_dirs if p.is_dir())
        return roots

    def _adopt(self, skill_dir: Path, rel: str, *, scope: str, owner: str | None) -> list[str]:
        defaults: dict[str, Any] = {"scope": scope}
        defaults["user_id" if scope == "user" else "library"] = owner
        try:
            parsed = load_skill_dir(skill_dir, defaults=defaults)
        except SkillParseError as exc:
            return [f"{rel}: skipped ({exc.reason})"]
        skill = parsed.skill
        # The owner is where the folder sits, whatever the file claims.
        skill = skill.evolve(scope=scope, user_id=owner if scope == "user" else None,
                             library=owner if scope == "library" else None)
        if self.get_by_name(skill.name, scope=scope, owner=owner) is not None:
            return [f"{rel}: skipped, a skill named {skill.name!r} already exists for {owner!r}"]
        # A found folder is a new skill: never one that replaces a stored skill by id (a
        # copied SKILL.md keeps its id; a renamed skill keeps the id of its first name).
        skill = skill.evolve(id=free_skill_id(skill, lambda skill_id: self.get(skill_id) is not None))
        text = find_skill_file(skill_dir).read_bytes().decode("utf-8", errors="replace")  # type: ignore[union-attr]
        placed = {skill.id: (rel, file_hash(text))}
        if scope == "user":
            self.upsert_many([skill], reason="skill folder placed by hand", placed_files=placed,
                             expected={skill.id: None})
        else:
            self.upsert_many([skill], reason="library skill found", allow_library=True, placed_files=placed,
                             expected={skill.id: None})
        return [f"{rel}: indexed as {scope} skill {skill.name!r}"]


def _reembed_ledger(ledger: Ledger, embedder: Embedder) -> None:
    """Replace every stored vector with one from ``embedder`` (after an embedder change)."""
    from autoskill.embeddings.base import unit_rows
    from autoskill.retrieval.fields import skill_embedding_text
    from autoskill.store.ledger import vector_to_blob

    with ledger.transaction() as conn:
        rows = conn.execute("SELECT id, data, vector_id FROM skills").fetchall()
        if rows:
            skills = [Skill.from_dict(json.loads(data)) for _, data, _ in rows]
            vectors = unit_rows(embedder.embed_documents([skill_embedding_text(s) for s in skills]))
            for (skill_id, _, vid), vec in zip(rows, vectors):
                conn.execute("UPDATE skills SET vector = ? WHERE id = ?", (vector_to_blob(vec), skill_id))
                ledger.log_change(int(vid), "upsert")
        records = conn.execute("SELECT namespace, id, text, vector_id FROM records").fetchall()
        if records:
            vectors = unit_rows(embedder.embed_documents([r[2] for r in records]))
            for (ns, rid, _, vid), vec in zip(records, vectors):
                conn.execute("UPDATE records SET vector = ? WHERE namespace = ? AND id = ?", (vector_to_blob(vec), ns, rid))
                ledger.log_change(int(vid), "upsert")


def _library_skill_dirs(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Skill folders of a library root: ``root/<skill>`` or ``root/<library>/<skill>``."""
    base_library = None if root.name == COMMON_DIR else library_name_for(root)
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if find_skill_file(child) is not None:
            yield child, base_library
            continue
        for grandchild in sorted(p for p in child.iterdir() if p.is_dir()):
            if find_skill_file(grandchild) is not None:
                yield grandchild, child.name if base_library is None else base_library


def _as_new_version(current: Skill, edited: Skill, *, source: str, bump: bool = True) -> Skill:
    """``edited`` content on top of ``current``'s identity, one patch version up."""
    version = current.version
    if bump:
        major, minor, patch = (int(x) for x in current.version.split("."))
        version = f"{major}.{minor}.{patch + 1}"
        edited_parts = tuple(int(x) for x in edited.version.split("."))
        if edited_parts > (major, minor, patch + 1):
            version = edited.version
    return edited.evolve(
        id=current.id, scope=current.scope, user_id=current.user_id, library=current.library,
        version=version, created_at=current.created_at, updated_at=utc_timestamp(),
        provenance=({"source": source, "ts": utc_timestamp()},),
    )
