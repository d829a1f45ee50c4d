"""``autoskill doctor``: check a local store and repair what can be repaired.

:func:`check_store` looks at everything the local store keeps on disk, under the store's
write lock (so a live writer is never caught half way):

* the manifest (readable, and naming the embedder the store is opened with);
* the ledger (``PRAGMA integrity_check``, readable rows, the vector id counter);
* the SKILL.md tree: every skill of the ledger has its SKILL.md with the expected hash,
  or a hand edit that the next open records as a version; library folders read in place
  still exist; no temporary files of interrupted atomic writes, no folders parked for
  deletion, no tree writes a dead writer left unfinished (``tree_jobs``);
* the index: one vector per skill and record, in the right partition;
* pending learning windows stuck in ``processing`` longer than a timeout;
* version histories without gaps, whose last version is the skill's current content.

With ``repair=True`` it fixes what it can (nothing is ever deleted from the ledger) and
checks again; :attr:`DoctorReport.problems` is what remains. The command line only prints
the report: exit status 0 when healthy, 1 when problems remain.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autoskill.embeddings.base import BaseEmbedder, Embedder
from autoskill.errors import AutoSkillError, EmbeddingError, SkillParseError
from autoskill.skill.folder import find_skill_file, load_skill_dir
from autoskill.skill.model import Skill
from autoskill.skill.skillmd import render_skill_md
from autoskill.store.local import LEDGER, MANIFEST, LocalSkillStore, StoreLock
from autoskill.store.tree import COMMON_DIR, USERS_DIR, SkillTree, decode_owner, file_hash

__all__ = ["DEFAULT_PROCESSING_TIMEOUT", "DoctorReport", "Finding", "check_store"]

logger = logging.getLogger(__name__)

# A window is claimed (``processing``) for as long as one extraction takes; one still
# claimed after this long belonged to a process that died.
DEFAULT_PROCESSING_TIMEOUT = 15 * 60.0


@dataclass(frozen=True)
class Finding:
    """One thing :func:`check_store` found.

    Attributes:
        kind: A short stable code (``missing-file``, ``temp-file``, ``stuck-window``...).
        message: What is wrong, naming the file, skill or window.
        repairable: Whether ``repair=True`` can fix it.
    """

    kind: str
    message: str
    repairable: bool = True

    def __str__(self) -> str:
        return self.message


@dataclass
class DoctorReport:
    """What :func:`check_store` found and did.

    Attributes:
        path: The store folder.
        found: Every problem found by the first check.
        repairs: What ``repair=True`` changed, one line each.
        problems: Problems that remain (the exit status of ``autoskill doctor``).
        notes: Things worth knowing that are not damage (a pending hand edit, a skill
            folder placed by hand that the next open adopts).
    """

    path: str
    found: list[Finding] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem remains."""
        return not self.problems


class _ManifestEmbedder(BaseEmbedder):
    """Stands in for an embedder the doctor cannot build: it knows the identity and
    dimensions from the manifest and refuses to embed."""

    def __init__(self, identity: str, dims: int) -> None:
        self._identity, self._dims = identity, dims

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def dims(self) -> int:
        return self._dims

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        raise EmbeddingError(
            f"the doctor cannot embed with {self._identity!r}; pass the store's embedder to repair this"
        )


_HASHING_IDENTITY = re.compile(r"^hashing-v1:(\d+)$")


def _embedder_for(manifest: dict[str, Any]) -> Embedder | None:
    identity, dims = manifest.get("embedder"), manifest.get("dims")
    if not isinstance(identity, str) or not isinstance(dims, int) or dims <= 0:
        return None
    match = _HASHING_IDENTITY.match(identity)
    if match and int(match.group(1)) == dims:
        from autoskill.embeddings import HashingEmbedder

        return HashingEmbedder(dims=dims)
    return _ManifestEmbedder(identity, dims)


def check_store(
    path: str | Path,
    embedder: Embedder | None = None,
    repair: bool = False,
    *,
    processing_timeout: float = DEFAULT_PROCESSING_TIMEOUT,
) -> DoctorReport:
    """Check (and with ``repair=True`` repair) the local store at ``path``.

    Args:
        path: The store folder.
        embedder: The embedder the store is used with. None: the one the manifest names
            when the doctor can build it (the hashing embedder), otherwise a stand-in
            that checks but cannot embed (hand edits are then left for the next open).
        repair: Fix what can be fixed, then check again.
        processing_timeout: Seconds after which a window still ``processing`` is stuck.

    Returns:
        The report; ``report.ok`` is True when no problem remains.
    """
    root = Path(path).expanduser()
    report = DoctorReport(path=str(root))
    report.found = _check(root, embedder, processing_timeout, report.notes)
    report.problems = list(report.found)
    if repair and (report.found or report.notes):
        report.repairs = _repair(root, embedder, report.found, processing_timeout)
        notes: list[str] = []
        report.problems = _check(root, embedder, processing_timeout, notes)
        report.notes = notes
    return report


# -- checking -----------------------------------------------------------------------------


@contextmanager
def _store_lock(root: Path) -> Iterator[None]:
    if (root / ".write.lock").exists() or (root / LEDGER).exists():
        with StoreLock(root / ".write.lock")():
            yield
    else:
        yield


def _read_manifest(root: Path, found: list[Finding]) -> dict[str, Any] | None:
    manifest_path = root / MANIFEST
    if not manifest_path.exists():
        found.append(Finding("manifest", f"{MANIFEST} is missing (it records the embedder the vectors came from)"))
        return None
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        found.append(Finding("manifest", f"{MANIFEST} is unreadable ({exc})"))
        return None
    if not isinstance(data, dict) or not isinstance(data.get("embedder"), str) or not isinstance(data.get("dims"), int):
        found.append(Finding("manifest", f"{MANIFEST} does not name an embedder and its dimensions"))
        return None
    return data


def _connect(ledger_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(ledger_path), timeout=60.0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 60000")
    return conn


def _check(root: Path, embedder: Embedder | None, timeout: float, notes: list[str]) -> list[Finding]:
    found: list[Finding] = []
    if not root.is_dir():
        return [Finding("not-a-store", f"{root} is not a folder", repairable=False)]
    if not (root / LEDGER).exists() and not (root / MANIFEST).exists():
        return [Finding("not-a-store", f"{root} holds no AutoSkill store ({MANIFEST}, {LEDGER})", repairable=False)]
    with _store_lock(root):
        manifest = _read_manifest(root, found)
        dims = manifest.get("dims") if manifest else (embedder.dims if embedder is not None else None)
        if manifest and embedder is not None and (manifest["embedder"], manifest["dims"]) != (embedder.identity,
                                                                                              embedder.dims):
            found.append(Finding(
                "embedder",
                f"the store's vectors come from {manifest['embedder']!r} ({manifest['dims']} dims), not from "
                f"{embedder.identity!r} ({embedder.dims} dims); open it with on_embedder_change='reembed' "
                "to re-embed every skill", repairable=False))
        tree = SkillTree(root)
        for leftover in tree.leftovers():
            found.append(Finding("leftover", f"{leftover.relative_to(root).as_posix()}: left by an interrupted write"))
        ledger_path = root / LEDGER
        if not ledger_path.exists():
            found.append(Finding("ledger", f"{LEDGER} is missing", repairable=False))
            return found
        try:
            conn = _connect(ledger_path)
            try:
                verdict = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
                if verdict != ["ok"]:
                    found.append(Finding("ledger", f"{LEDGER} fails its integrity check: {'; '.join(verdict[:5])}; "
                                                   "restore it from a backup", repairable=False))
                    return found
                _check_ledger(root, conn, dims, timeout, found, notes)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            found.append(Finding("ledger", f"{LEDGER} is not a usable SQLite database ({exc}); restore it from a "
                                           "backup", repairable=False))
            return found
        if manifest is not None and not any(f.kind in ("ledger", "row") for f in found):
            # The index holds the manifest's vectors: load it with the manifest's identity.
            found.extend(_check_index(root, _ManifestEmbedder(manifest["embedder"], manifest["dims"])))
    return found


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _check_ledger(root: Path, conn: sqlite3.Connection, dims: int | None, timeout: float,
                  found: list[Finding], notes: list[str]) -> None:
    tables = _tables(conn)
    missing = {"meta", "skills", "versions", "usage", "records", "windows", "changes"} - tables
    if missing:
        found.append(Finding("ledger", f"{LEDGER} lacks the tables {sorted(missing)}", repairable=False))
        return
    if "tree_jobs" in tables:
        for _, op, _, folder in conn.execute("SELECT seq, op, skill_id, folder FROM tree_jobs ORDER BY seq"):
            found.append(Finding("tree-job", f"{folder}: a {op} of the SKILL.md tree was committed but not finished"))

    # vector id counter: ids must never be reused
    counter = conn.execute("SELECT value FROM meta WHERE key = 'next_vector_id'").fetchone()
    highest = conn.execute("SELECT MAX(v) FROM (SELECT MAX(vector_id) AS v FROM skills UNION ALL "
                           "SELECT MAX(vector_id) FROM records)").fetchone()[0] or 0
    if counter is None or not str(counter[0]).isdigit() or int(counter[0]) <= int(highest):
        found.append(Finding("counter", f"the vector id counter ({counter[0] if counter else 'missing'}) is not above "
                                        f"the highest id in use ({highest}); new ids would collide"))

    # rows and versions
    versions: dict[str, list[tuple[int, str]]] = {}
    for skill_id, seq, data in conn.execute("SELECT skill_id, seq, data FROM versions ORDER BY skill_id, seq"):
        versions.setdefault(skill_id, []).append((int(seq), data))
    skills: dict[str, tuple[Skill, str | None, str | None]] = {}
    for skill_id, data, chash, folder, fhash, blob in conn.execute(
            "SELECT id, data, content_hash, folder, file_hash, vector FROM skills"):
        try:
            skill = Skill.from_dict(json.loads(data))
        except (ValueError, TypeError, AutoSkillError) as exc:
            found.append(Finding("row", f"skill {skill_id}: its ledger row is unreadable ({exc})", repairable=False))
            continue
        if skill.content_hash() != chash:
            found.append(Finding("row", f"skill {skill_id} ({skill.name}): stored content hash does not match its "
                                        "content", repairable=False))
        if dims is not None:
            vector = np.frombuffer(blob, dtype=np.float32) if len(blob) % 4 == 0 else np.zeros(0)
            if vector.size != dims or not np.all(np.isfinite(vector)):
                found.append(Finding("row", f"skill {skill_id} ({skill.name}): stored vector is not {dims} finite "
                                            "numbers", repairable=False))
        skills[skill_id] = (skill, folder, fhash)
        history = versions.get(skill_id, [])
        seqs = [seq for seq, _ in history]
        if seqs != list(range(1, len(seqs) + 1)):
            found.append(Finding("history", f"skill {skill_id} ({skill.name}): version sequence {seqs} has gaps",
                                 repairable=False))
        if not history:
            found.append(Finding("history", f"skill {skill_id} ({skill.name}): no version recorded for its content"))
        else:
            try:
                last = Skill.from_dict(json.loads(history[-1][1]))
            except (ValueError, TypeError, AutoSkillError):
                last = None
            if last is None or last.content_hash() != skill.content_hash() or last.status != skill.status:
                found.append(Finding("history", f"skill {skill_id} ({skill.name}): its current content is not its "
                                                "last recorded version"))

    # windows stuck in processing
    cutoff = time.time() - timeout
    for wid, updated in conn.execute("SELECT id, updated_at FROM windows WHERE status = 'processing'"):
        if float(updated) < cutoff:
            found.append(Finding("stuck-window", f"window {wid}: claimed for processing {time.time() - updated:.0f} s "
                                                 "ago by a process that did not finish"))

    # the SKILL.md tree
    known = set()
    for skill_id, (skill, folder, fhash) in skills.items():
        if not folder:
            continue
        known.add(folder)
        found.extend(_check_file(root, skill, folder, fhash, [h for _, h in versions.get(skill_id, [])[:-1]], notes))
    _note_unadopted(root, known, notes)


def _check_file(root: Path, skill: Skill, folder: str, fhash: str | None, older: list[str],
                notes: list[str]) -> list[Finding]:
    absolute = Path(folder).is_absolute()
    path = Path(folder) if absolute else root / folder
    skill_file = find_skill_file(path)
    label = f"{folder}/SKILL.md"
    if skill_file is None:
        if absolute:
            return [Finding("library-gone", f"{folder}: the library folder of {skill.name!r} is gone")]
        return [Finding("missing-file", f"{label}: missing (skill {skill.id}, {skill.name!r})")]
    try:
        text = skill_file.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        return [Finding("unreadable-file", f"{label}: unreadable ({exc})", repairable=False)]
    if file_hash(text) == fhash:
        return []
    defaults = {"scope": skill.scope, "user_id": skill.user_id, "library": skill.library}
    try:
        edited = load_skill_dir(path, defaults=defaults).skill
    except SkillParseError as exc:
        if absolute:
            notes.append(f"{label}: a library file that no longer parses ({exc.reason}); the index keeps the last "
                         "good version")
            return []
        return [Finding("unparseable-file", f"{label}: no longer parses ({exc.reason}); fix it by hand, or delete "
                                            "it to restore the ledger's version", repairable=False)]
    if edited.content_hash() == skill.content_hash():
        notes.append(f"{label}: rewritten with the same content; its hash is updated at the next open")
        return []
    if not absolute:
        old_hashes = set()
        for data in older:
            with suppress(ValueError, TypeError, AutoSkillError):
                old_hashes.add(Skill.from_dict(json.loads(data)).content_hash())
        if edited.content_hash() in old_hashes:
            return [Finding("stale-file", f"{label}: holds an older version of {skill.name!r} (a write interrupted "
                                          "before its files)")]
    notes.append(f"{label}: edited by hand; recorded as a new version at the next open (or with --repair)")
    return []


def _note_unadopted(root: Path, known: set[str], notes: list[str]) -> None:
    users = root / USERS_DIR
    if users.is_dir():
        for owner in sorted(p for p in users.iterdir() if p.is_dir()):
            for folder in sorted(p for p in owner.iterdir() if p.is_dir()):
                rel = folder.relative_to(root).as_posix()
                if rel not in known and find_skill_file(folder) is not None:
                    notes.append(f"{rel}: a skill folder placed by hand for user {decode_owner(owner.name)!r}; "
                                 "adopted at the next open")
    common = root / COMMON_DIR
    if common.is_dir():
        for skill_md in sorted(common.glob("*/SKILL.md")) + sorted(common.glob("*/*/SKILL.md")):
            rel = skill_md.parent.relative_to(root).as_posix()
            if rel not in known and not any(k.startswith(rel + "/") for k in known):
                notes.append(f"{rel}: a library skill placed by hand; indexed at the next open")


def _check_index(root: Path, embedder: Embedder | None) -> list[Finding]:
    if embedder is None:
        return []
    from autoskill.store.faiss_store import FaissSkillStore
    from autoskill.store.ledger import Ledger

    try:
        ledger = Ledger(root / LEDGER)
    except AutoSkillError as exc:
        return [Finding("ledger", str(exc), repairable=False)]
    try:
        store = FaissSkillStore(embedder, ledger=ledger)
        return [Finding("index", line, repairable=False) for line in store.check_consistency()]
    except (AutoSkillError, sqlite3.DatabaseError, ValueError, RuntimeError) as exc:
        return [Finding("index", f"the index cannot be built from the ledger ({exc})", repairable=False)]
    finally:
        ledger.close()


# -- repairing ----------------------------------------------------------------------------


def _repair(root: Path, embedder: Embedder | None, found: list[Finding], timeout: float) -> list[str]:
    if found and not any(f.repairable for f in found) and any(f.kind != "unparseable-file" for f in found):
        return []
    if any(f.kind in ("not-a-store", "ledger", "row") for f in found):
        return []  # the ledger itself is damaged: nothing below is safe to do
    repairs: list[str] = []
    manifest_problem = any(f.kind == "manifest" for f in found)
    if manifest_problem:
        if embedder is None:
            return []  # without a manifest or an embedder the vectors' meaning is unknown
        _rewrite_manifest(root, embedder, repairs)
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    chosen = embedder or _embedder_for(manifest)
    if chosen is None or any(f.kind == "embedder" for f in found):
        return repairs
    store = LocalSkillStore(root, chosen, check_files=False)  # opening finishes logged tree jobs
    try:
        repairs.extend(store.recovered)
        with store._lock, store._write_lock():
            repairs.extend(store._replay_tree_jobs())
            repairs.extend(store._tree.remove_leftovers())  # type: ignore[union-attr]
            _repair_ledger(store, timeout, repairs)
            _repair_files(store, chosen, repairs)
    finally:
        store.close()
    for line in repairs:
        logger.info("doctor %s: %s", root, line)
    return repairs


def _rewrite_manifest(root: Path, embedder: Embedder, repairs: list[str]) -> None:
    from autoskill._fs import atomic_write_text
    from autoskill.skill.normalize import utc_timestamp
    from autoskill.store.ledger import SCHEMA_VERSION

    ledger_path = root / LEDGER
    if ledger_path.exists():
        conn = _connect(ledger_path)
        try:
            sizes = {len(r[0]) for r in conn.execute("SELECT vector FROM skills LIMIT 100")}
        finally:
            conn.close()
        if sizes and sizes != {embedder.dims * 4}:
            return  # the vectors are not this embedder's: writing its name would mix them
    atomic_write_text(root / MANIFEST, json.dumps({"schema_version": SCHEMA_VERSION, "embedder": embedder.identity,
                                                   "dims": embedder.dims, "created_at": utc_timestamp(),
                                                   "rewritten_by": "autoskill doctor"}, indent=2))
    repairs.append(f"{MANIFEST}: rewritten for {embedder.identity!r}")


def _repair_ledger(store: LocalSkillStore, timeout: float, repairs: list[str]) -> None:
    ledger = store._ledger
    cutoff = time.time() - timeout
    with ledger.transaction() as conn:
        stuck = [r[0] for r in conn.execute("SELECT id FROM windows WHERE status = 'processing' AND updated_at < ?",
                                            (cutoff,))]
        for wid in stuck:
            conn.execute("UPDATE windows SET status = 'released', claimed_by = NULL, updated_at = ? WHERE id = ?",
                         (time.time(), wid))
            repairs.append(f"window {wid}: returned to 'released' (its processor died)")
        highest = conn.execute("SELECT MAX(v) FROM (SELECT MAX(vector_id) AS v FROM skills UNION ALL "
                               "SELECT MAX(vector_id) FROM records)").fetchone()[0] or 0
        counter = conn.execute("SELECT value FROM meta WHERE key = 'next_vector_id'").fetchone()
        if counter is None or not str(counter[0]).isdigit() or int(counter[0]) <= int(highest):
            ledger.set_meta("next_vector_id", str(int(highest) + 1))
            repairs.append(f"vector id counter set to {int(highest) + 1}")
        rows = conn.execute("SELECT id, data FROM skills").fetchall()
        for skill_id, data in rows:
            skill = Skill.from_dict(json.loads(data))
            last = conn.execute("SELECT data FROM versions WHERE skill_id = ? ORDER BY seq DESC LIMIT 1",
                                (skill_id,)).fetchone()
            current = last is not None and _same_version(last[0], skill)
            if not current:
                store._add_version(conn, skill, "recorded by autoskill doctor (the version was missing)")
                repairs.append(f"skill {skill_id} ({skill.name}): recorded its current content as a version")


def _same_version(data: str, skill: Skill) -> bool:
    try:
        last = Skill.from_dict(json.loads(data))
    except (ValueError, TypeError, AutoSkillError):
        return False
    return last.content_hash() == skill.content_hash() and last.status == skill.status


def _repair_files(store: LocalSkillStore, embedder: Embedder, repairs: list[str]) -> None:
    """Restore missing and stale files from the ledger; record hand edits and adopt
    placed folders when the embedder is real (both need new vectors)."""
    can_embed = not isinstance(embedder, _ManifestEmbedder)
    if can_embed:
        repairs.extend(store.scan_files())
        return
    tree = store._tree
    assert tree is not None
    rows = store._ledger.query("SELECT id, folder, file_hash FROM skills WHERE folder IS NOT NULL")
    for skill_id, folder, fhash in rows:
        skill = store.get(skill_id)
        if skill is None:
            continue
        if Path(folder).is_absolute():
            if find_skill_file(Path(folder)) is None:
                store.delete(skill_id, allow_library=True)
                repairs.append(f"{folder}: library folder gone; removed {skill.name!r} from the index")
            continue
        skill_file = find_skill_file(store.root / folder)
        text = render_skill_md(skill)
        if skill_file is None:
            tree.write(skill, skill_md=text)
            repairs.append(f"{folder}/SKILL.md: restored from the ledger")
            continue
        current = skill_file.read_bytes().decode("utf-8", errors="replace")
        if file_hash(current) == fhash:
            continue
        try:
            edited = load_skill_dir(store.root / folder, defaults={"scope": skill.scope, "user_id": skill.user_id,
                                                                   "library": skill.library}).skill
        except SkillParseError:
            continue
        if edited.content_hash() == skill.content_hash():
            store._set_file_hash(skill_id, file_hash(current))
            repairs.append(f"{folder}/SKILL.md: hash updated (same content)")
        elif any(v.skill.content_hash() == edited.content_hash() for v in store.history(skill_id)[:-1]):
            tree.write(skill, skill_md=text)
            repairs.append(f"{folder}/SKILL.md: stale version rewritten from the ledger")
