"""Copy one skill store into another: skills with full history, usage, records, windows.

``autoskill migrate --from local:PATH --to postgres:DSN`` (and back) calls :func:`migrate`.
Everything is copied as it is, never re-embedded and never re-versioned: a skill's
history rows (sequence numbers, reasons, provenance, timestamps) arrive unchanged.

Resumable: before writing a batch, the target's copy of each item is compared with the
source's by content hash (and vectors to float precision); what is already there is
skipped, so re-running after an interruption continues where it stopped. Progress is
recorded in the target's meta table. At the end both stores are read again and compared
by counts and content hashes (:class:`MigrationReport`).

The FAISS stores have no public API for raw history rows, so this module reads their
SQLite ledger for versions, usage, windows and records, and writes the history, usage
and window tables of a local target directly (skills and records go through the public
upserts, which keep the in-memory index and the SKILL.md tree in step).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoskill.errors import ConfigError, StoreError
from autoskill.skill.model import Skill
from autoskill.skill.normalize import utc_timestamp
from autoskill.store.base import Record, SkillFilter

__all__ = ["KINDS", "IdentityEmbedder", "MigrationReport", "migrate", "open_store_spec", "store_identity"]

logger = logging.getLogger(__name__)

#: What a migration copies, in order.
KINDS = ("skills", "versions", "usage", "records", "windows", "window_runs")

Progress = Callable[[str, int, int], None]

# Vectors are re-normalised on the way into a FAISS store: equal to float32 precision.
_VECTOR_TOLERANCE = 1e-5


@dataclass
class MigrationReport:
    """What :func:`migrate` copied and what the final comparison found.

    Attributes:
        source: The source store, as a label.
        target: The target store, as a label.
        copied: Items written, per kind.
        skipped: Items already in the target with the same content, per kind.
        counts: ``kind -> (source count, target count)`` after the copy.
        hashes: ``kind -> (source content hash, target content hash)`` after the copy.
        mismatches: One line per difference found (empty when the copy is exact).
    """

    source: str
    target: str
    copied: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    hashes: dict[str, tuple[str, str]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether counts and content hashes agree for every kind."""
        return not self.mismatches and all(a == b for a, b in self.counts.values()) and all(
            a == b for a, b in self.hashes.values())

    def summary(self) -> list[str]:
        """Human-readable lines (the CLI prints them)."""
        lines = [f"migrated {self.source} -> {self.target}"]
        for kind in KINDS:
            src, dst = self.counts.get(kind, (0, 0))
            same = self.hashes.get(kind, ("", ""))
            verdict = "ok" if src == dst and same[0] == same[1] else "MISMATCH"
            lines.append(f"  {kind:<12} {self.copied[kind]:>7} copied {self.skipped[kind]:>7} already there"
                         f"   source {src:>7} target {dst:>7}   hash {same[0][:12]} {verdict}")
        lines.extend(f"  mismatch: {line}" for line in self.mismatches[:50])
        if len(self.mismatches) > 50:
            lines.append(f"  ... and {len(self.mismatches) - 50} more")
        lines.append("verified: counts and content hashes match" if self.ok else "verification FAILED")
        return lines


# -- digests ---------------------------------------------------------------------------------


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()


def _version_key(row: Mapping[str, Any]) -> list[Any]:
    return [row["seq"], row["version"], row["data"], row["reason"], list(row["provenance"]), row["created_at"]]


def _skill_digest(skill: Skill, history: Sequence[Mapping[str, Any]]) -> str:
    return _digest([skill.to_dict(), [_version_key(r) for r in history]])


def _record_digest(record: Record) -> str:
    return _digest([record.namespace, record.id, record.text, dict(record.metadata)])


def _close(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is not None and b is not None and a.shape == b.shape and bool(
        np.max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)), initial=0.0) <= _VECTOR_TOLERANCE)


def _aggregate(digests: Iterator[str]) -> str:
    return hashlib.sha256("\n".join(sorted(digests)).encode("ascii")).hexdigest()


# -- the two kinds of store --------------------------------------------------------------------


class IdentityEmbedder:
    """An embedder that only carries an identity: a migration copies vectors, never embeds."""

    def __init__(self, identity: str, dims: int) -> None:
        self._identity = identity
        self._dims = int(dims)

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def dims(self) -> int:
        return self._dims

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        raise StoreError("a migration copies stored vectors; nothing may be embedded with this embedder")

    def embed_query(self, text: str) -> np.ndarray:
        raise StoreError("a migration copies stored vectors; nothing may be embedded with this embedder")

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> np.ndarray:
        return self.embed_query(text)


class _Side:
    """Raw reads and writes of one store (see the two subclasses)."""

    label: str

    def skill_ids(self) -> list[str]: raise NotImplementedError
    def skills(self, ids: Sequence[str]) -> dict[str, tuple[Skill, np.ndarray]]: raise NotImplementedError
    def histories(self, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]: raise NotImplementedError
    def history_ids(self) -> list[str]: raise NotImplementedError
    def usage(self) -> list[dict[str, Any]]: raise NotImplementedError
    def windows(self) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]: raise NotImplementedError
    def record_keys(self) -> list[tuple[str, str]]: raise NotImplementedError
    def records(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[Record, np.ndarray]]:
        raise NotImplementedError
    def write_skills(self, items: Sequence[tuple[Skill, np.ndarray]],
                     histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> None: raise NotImplementedError
    def write_histories(self, histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> None: raise NotImplementedError
    def write_usage(self, rows: Sequence[Mapping[str, Any]]) -> None: raise NotImplementedError
    def write_windows(self, rows: Sequence[Mapping[str, Any]], runs: Sequence[tuple[str, str]]) -> None:
        raise NotImplementedError
    def write_records(self, items: Sequence[tuple[Record, np.ndarray]]) -> None: raise NotImplementedError
    def get_meta(self, key: str) -> str | None: raise NotImplementedError
    def set_meta(self, key: str, value: str) -> None: raise NotImplementedError
    def version_count(self) -> int: raise NotImplementedError


class _PostgresSide(_Side):
    def __init__(self, store: Any) -> None:
        self.store = store
        self.label = f"postgres:{store.stats().path}"

    def skill_ids(self) -> list[str]:
        return [r[0] for r in self.store._rows(f"SELECT id FROM {self.store.names.skills} ORDER BY id")]

    def skills(self, ids: Sequence[str]) -> dict[str, tuple[Skill, np.ndarray]]:
        return {s.id: (s, v) for batch in self.store.export_skills(ids=list(ids)) for s, v in batch}

    def histories(self, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for row in self.store.export_versions(list(ids)):
            out[row["skill_id"]].append(row)
        return out

    def history_ids(self) -> list[str]:
        return [r[0] for r in self.store._rows(f"SELECT DISTINCT skill_id FROM {self.store.names.versions}"
                                               " ORDER BY skill_id")]

    def usage(self) -> list[dict[str, Any]]:
        return self.store.export_usage()

    def windows(self) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        return self.store.export_windows()

    def record_keys(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.store._rows(f"SELECT namespace, id FROM {self.store.names.records}"
                                                       " ORDER BY namespace, vector_id")]

    def records(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[Record, np.ndarray]]:
        return {(r.namespace, r.id): (r, v) for batch in self.store.export_records(keys=list(keys)) for r, v in batch}

    def write_skills(self, items: Sequence[tuple[Skill, np.ndarray]],
                     histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self.store.import_skills(items, histories)

    def write_histories(self, histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self.store.import_skills([], histories)

    def write_usage(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.store.import_usage(rows)

    def write_windows(self, rows: Sequence[Mapping[str, Any]], runs: Sequence[tuple[str, str]]) -> None:
        self.store.import_windows(rows, runs)

    def write_records(self, items: Sequence[tuple[Record, np.ndarray]]) -> None:
        self.store.import_records(items)

    def get_meta(self, key: str) -> str | None:
        return self.store.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.store.set_meta(key, value)

    def version_count(self) -> int:
        return int(self.store._rows(f"SELECT count(*) FROM {self.store.names.versions}")[0][0])


class _FaissSide(_Side):
    """A FAISS store (local or in memory): public API plus read-only ledger queries, and
    direct writes of the ledger tables the store does not cache (history, usage, windows)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.ledger = store._ledger
        root = getattr(store, "root", None)
        self.label = f"local:{root}" if root is not None else "inmemory"

    def skill_ids(self) -> list[str]:
        return sorted(s.id for s in self.store.list(SkillFilter(all_users=True, statuses=())))

    def skills(self, ids: Sequence[str]) -> dict[str, tuple[Skill, np.ndarray]]:
        out = {}
        for skill_id in ids:
            skill = self.store.get(skill_id)
            if skill is not None:
                out[skill_id] = (skill, self.store.vector(skill_id))
        return out

    def histories(self, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            rows = self.ledger.query(
                "SELECT skill_id, seq, version, data, reason, provenance, created_at FROM versions"
                f" WHERE skill_id IN ({','.join('?' * len(chunk))}) ORDER BY skill_id, seq", chunk)
            for sid, seq, version, data, reason, prov, created in rows:
                out[sid].append({"skill_id": sid, "seq": int(seq), "version": version, "data": json.loads(data),
                                 "reason": reason, "provenance": json.loads(prov), "created_at": created})
        return out

    def history_ids(self) -> list[str]:
        return [r[0] for r in self.ledger.query("SELECT DISTINCT skill_id FROM versions ORDER BY skill_id")]

    def usage(self) -> list[dict[str, Any]]:
        rows = self.ledger.query("SELECT skill_id, retrievals, injections, successes, failures, last_used FROM usage"
                                 " ORDER BY skill_id")
        return [{"skill_id": r[0], "retrievals": int(r[1]), "injections": int(r[2]), "successes": int(r[3]),
                 "failures": int(r[4]), "last_used": r[5]} for r in rows]

    def windows(self) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        rows = self.ledger.query("SELECT id, thread_id, user_id, events, used_skills, status, feedback, result,"
                                 " claimed_by, created_at, updated_at FROM windows ORDER BY created_at, rowid")
        windows = [{"id": r[0], "thread_id": r[1], "user_id": r[2], "events": json.loads(r[3]),
                    "used_skills": json.loads(r[4]), "status": r[5],
                    "feedback": json.loads(r[6]) if r[6] else None, "result": json.loads(r[7]) if r[7] else None,
                    "claimed_by": r[8], "created_at": float(r[9]), "updated_at": float(r[10])} for r in rows]
        runs = [(r[0], r[1]) for r in self.ledger.query("SELECT run_id, window_id FROM window_runs ORDER BY run_id")]
        return windows, runs

    def record_keys(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.ledger.query("SELECT namespace, id FROM records"
                                                        " ORDER BY namespace, vector_id")]

    def records(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[Record, np.ndarray]]:
        out = {}
        for namespace, record_id in keys:
            found = self.store.get_records([record_id], namespace=namespace)
            if found:
                out[(namespace, record_id)] = (found[0], self.store.record_vector(record_id, namespace=namespace))
        return out

    def write_skills(self, items: Sequence[tuple[Skill, np.ndarray]],
                     histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        if items:
            self.store.upsert_many([s for s, _ in items], np.vstack([v for _, v in items]), reason="migrated",
                                   allow_library=True)
        self.write_histories(histories)

    def write_histories(self, histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        from autoskill.store.ledger import dumps

        if not histories:
            return
        with self.store._lock, self.store._write_lock(), self.ledger.transaction() as conn:
            for skill_id, rows in histories.items():
                conn.execute("DELETE FROM versions WHERE skill_id = ?", (skill_id,))
                conn.executemany(
                    "INSERT INTO versions (skill_id, seq, version, data, reason, provenance, created_at)"
                    " VALUES (?,?,?,?,?,?,?)",
                    [(skill_id, int(r["seq"]), r["version"], dumps(r["data"]), r["reason"],
                      dumps(list(r["provenance"])), r["created_at"]) for r in rows])

    def write_usage(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        with self.store._lock, self.store._write_lock(), self.ledger.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO usage (skill_id, retrievals, injections, successes, failures, last_used)"
                " VALUES (?,?,?,?,?,?)",
                [(r["skill_id"], r["retrievals"], r["injections"], r["successes"], r["failures"], r["last_used"])
                 for r in rows])

    def write_windows(self, rows: Sequence[Mapping[str, Any]], runs: Sequence[tuple[str, str]]) -> None:
        from autoskill.store.ledger import dumps

        if not rows and not runs:
            return
        with self.store._lock, self.store._write_lock(), self.ledger.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO windows (id, thread_id, user_id, events, used_skills, status, feedback,"
                " result, claimed_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(w["id"], w["thread_id"], w["user_id"], dumps(w["events"]), dumps(list(w["used_skills"])),
                  w["status"], None if w["feedback"] is None else dumps(w["feedback"]),
                  None if w["result"] is None else dumps(w["result"]), w["claimed_by"], w["created_at"],
                  w["updated_at"]) for w in rows])
            conn.executemany("INSERT OR REPLACE INTO window_runs (run_id, window_id) VALUES (?, ?)", list(runs))

    def write_records(self, items: Sequence[tuple[Record, np.ndarray]]) -> None:
        if items:
            self.store.upsert_records([r for r, _ in items], np.vstack([v for _, v in items]))

    def get_meta(self, key: str) -> str | None:
        return self.ledger.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        with self.store._lock, self.store._write_lock(), self.ledger.transaction():
            self.ledger.set_meta(key, value)

    def version_count(self) -> int:
        return int(self.ledger.query("SELECT COUNT(*) FROM versions")[0][0])


def _side(store: Any) -> _Side:
    from autoskill.store.faiss_store import FaissSkillStore

    if isinstance(store, FaissSkillStore):
        return _FaissSide(store)
    if hasattr(store, "import_skills") and hasattr(store, "export_versions"):
        return _PostgresSide(store)
    raise ConfigError(f"cannot migrate a {type(store).__name__}: only the local, inmemory and postgres stores")


# -- the migration ---------------------------------------------------------------------------


def migrate(source_store: Any, target_store: Any, progress: Progress | None = None, *,
            batch_size: int = 500) -> MigrationReport:
    """Copy everything from ``source_store`` into ``target_store``, then verify the copy.

    Args:
        source_store: A local, inmemory or postgres store (read only).
        target_store: A store of the same embedder (identity and dimensions).
        progress: Called as ``progress(kind, done, total)`` while copying.
        batch_size: Items per read and write.

    Returns:
        The report; ``report.ok`` says whether counts and content hashes agree.

    Raises:
        ConfigError: The stores hold vectors of different embedders.
    """
    if (source_store.embedder_identity, source_store.dims) != (target_store.embedder_identity, target_store.dims):
        raise ConfigError(
            f"cannot migrate vectors of {source_store.embedder_identity!r} ({source_store.dims} dims) into a store "
            f"of {target_store.embedder_identity!r} ({target_store.dims} dims)"
        )
    src, dst = _side(source_store), _side(target_store)
    report = MigrationReport(source=src.label, target=dst.label)
    key = f"migration:{src.label}"
    state = {"source": src.label, "started_at": utc_timestamp(), "phase": "skills", "done": {}, "completed": False}
    previous = dst.get_meta(key)
    if previous:
        logger.info("resuming migration from %s (last phase %s)", src.label, json.loads(previous).get("phase"))
        state["started_at"] = json.loads(previous).get("started_at", state["started_at"])

    def note(phase: str, done: int, total: int) -> None:
        state["phase"] = phase
        state["done"][phase] = done  # type: ignore[index]
        dst.set_meta(key, json.dumps(state))
        if progress is not None:
            progress(phase, done, total)

    # Skills with their history.
    ids = src.skill_ids()
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        mine, theirs = src.skills(chunk), dst.skills(chunk)
        mine_h, theirs_h = src.histories(chunk), dst.histories(chunk)
        todo = []
        for skill_id in chunk:
            skill, vec = mine[skill_id]
            there = theirs.get(skill_id)
            if (there is not None and _close(vec, there[1])
                    and _skill_digest(skill, mine_h[skill_id]) == _skill_digest(there[0], theirs_h[skill_id])):
                report.skipped["skills"] += 1
            else:
                todo.append(skill_id)
        if todo:
            dst.write_skills([mine[i] for i in todo], {i: mine_h[i] for i in todo})
            report.copied["skills"] += len(todo)
            report.copied["versions"] += sum(len(mine_h[i]) for i in todo)
        report.skipped["versions"] += sum(len(mine_h[i]) for i in chunk if i not in todo)
        note("skills", min(start + batch_size, len(ids)), len(ids))
    # History of skills that were deleted (kept, as a delete keeps it).
    live = set(ids)
    orphans = [i for i in src.history_ids() if i not in live]
    for start in range(0, len(orphans), batch_size):
        chunk = orphans[start:start + batch_size]
        mine_h, theirs_h = src.histories(chunk), dst.histories(chunk)
        todo_h = {i: mine_h[i] for i in chunk
                  if [_version_key(r) for r in mine_h[i]] != [_version_key(r) for r in theirs_h[i]]}
        dst.write_histories(todo_h)
        report.copied["versions"] += sum(len(rows) for rows in todo_h.values())
        report.skipped["versions"] += sum(len(mine_h[i]) for i in chunk if i not in todo_h)
        note("versions", min(start + batch_size, len(orphans)), len(orphans))
    # Usage counters.
    theirs_u = {r["skill_id"]: r for r in dst.usage()}
    usage = src.usage()
    todo_u = [r for r in usage if theirs_u.get(r["skill_id"]) != r]
    dst.write_usage(todo_u)
    report.copied["usage"], report.skipped["usage"] = len(todo_u), len(usage) - len(todo_u)
    note("usage", len(usage), len(usage))
    # Plain records.
    keys = src.record_keys()
    for start in range(0, len(keys), batch_size):
        chunk_k = keys[start:start + batch_size]
        mine_r, theirs_r = src.records(chunk_k), dst.records(chunk_k)
        todo_r = []
        for k in chunk_k:
            record, vec = mine_r[k]
            there = theirs_r.get(k)
            if there is not None and _close(vec, there[1]) and _record_digest(record) == _record_digest(there[0]):
                report.skipped["records"] += 1
            else:
                todo_r.append(mine_r[k])
        dst.write_records(todo_r)
        report.copied["records"] += len(todo_r)
        note("records", min(start + batch_size, len(keys)), len(keys))
    # Pending windows and their run links.
    windows, runs = src.windows()
    theirs_w, theirs_runs = dst.windows()
    known = {w["id"]: _digest(w) for w in theirs_w}
    todo_w = [w for w in windows if known.get(w["id"]) != _digest(w)]
    known_runs = set(theirs_runs)
    todo_runs = [r for r in runs if r not in known_runs]
    dst.write_windows(todo_w, todo_runs)
    report.copied["windows"], report.skipped["windows"] = len(todo_w), len(windows) - len(todo_w)
    report.copied["window_runs"], report.skipped["window_runs"] = len(todo_runs), len(runs) - len(todo_runs)
    note("windows", len(windows), len(windows))

    _verify(src, dst, report, batch_size, progress)
    state.update(phase="done", completed=report.ok, finished_at=utc_timestamp(),
                 verified={k: list(v) for k, v in report.counts.items()})
    dst.set_meta(key, json.dumps(state))
    return report


def _verify(src: _Side, dst: _Side, report: MigrationReport, batch_size: int, progress: Progress | None) -> None:
    """Read both stores again; fill counts, hashes and mismatches of ``report``."""
    digests: dict[str, tuple[list[str], list[str]]] = {kind: ([], []) for kind in KINDS}
    src_ids, dst_ids = src.skill_ids(), dst.skill_ids()
    for ids, side, slot in ((src_ids, src, 0), (dst_ids, dst, 1)):
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            skills, histories = side.skills(chunk), side.histories(chunk)
            for skill_id in chunk:
                digests["skills"][slot].append(_skill_digest(skills[skill_id][0], histories[skill_id]))
    extra = sorted(set(dst_ids) - set(src_ids))
    missing = sorted(set(src_ids) - set(dst_ids))
    report.mismatches += [f"skill {i} is in the target only" for i in extra[:20]]
    report.mismatches += [f"skill {i} is missing from the target" for i in missing[:20]]
    common = sorted(set(src_ids) & set(dst_ids))
    for start in range(0, len(common), batch_size):
        chunk = common[start:start + batch_size]
        mine, theirs = src.skills(chunk), dst.skills(chunk)
        for skill_id in chunk:
            if not _close(mine[skill_id][1], theirs[skill_id][1]):
                report.mismatches.append(f"skill {skill_id}: vectors differ")
        if progress is not None:
            progress("verify", min(start + batch_size, len(common)), len(common))
    for side, slot in ((src, 0), (dst, 1)):
        every = side.history_ids()
        for start in range(0, len(every), batch_size):
            for rows in side.histories(every[start:start + batch_size]).values():
                digests["versions"][slot].extend(_digest([r["skill_id"], *_version_key(r)]) for r in rows)
        digests["usage"][slot].extend(_digest(r) for r in side.usage())
        keys = side.record_keys()
        for start in range(0, len(keys), batch_size):
            for record, _ in side.records(keys[start:start + batch_size]).values():
                digests["records"][slot].append(_record_digest(record))
        windows, runs = side.windows()
        digests["windows"][slot].extend(_digest(w) for w in windows)
        digests["window_runs"][slot].extend(_digest(list(r)) for r in runs)
    src_keys, dst_keys = src.record_keys(), set(dst.record_keys())
    both = [k for k in src_keys if k in dst_keys]
    for start in range(0, len(both), batch_size):
        chunk_k = both[start:start + batch_size]
        mine_r, theirs_r = src.records(chunk_k), dst.records(chunk_k)
        for k in chunk_k:
            if not _close(mine_r[k][1], theirs_r[k][1]):
                report.mismatches.append(f"record {k[0]}/{k[1]}: vectors differ")
    for kind, (a, b) in digests.items():
        report.counts[kind] = (len(a), len(b))
        report.hashes[kind] = (_aggregate(iter(a)), _aggregate(iter(b)))


# -- store specs for the command line ----------------------------------------------------------


def store_identity(spec: str, *, schema: str = "autoskill") -> tuple[str, int] | None:
    """The embedder identity and dimensions an existing store records (None: a new store)."""
    kind, location = _split_spec(spec)
    if kind == "local":
        from pathlib import Path

        from autoskill.store.local import MANIFEST

        manifest = Path(location).expanduser() / MANIFEST
        if not manifest.is_file():
            return None
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return str(data["embedder"]), int(data["dims"])
    from autoskill.store.postgres import _import_psycopg
    from autoskill.store.postgres_schema import check_schema_name

    psycopg = _import_psycopg()
    check_schema_name(schema)
    try:
        with psycopg.connect(location, autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".meta',)).fetchone()[0]
            if exists is None:
                return None
            meta = dict(conn.execute(f'SELECT key, value FROM "{schema}".meta').fetchall())
    except psycopg.Error as exc:
        raise StoreError(f"could not read {spec}: {exc}") from None
    if "embedder" not in meta:
        return None
    return meta["embedder"], int(meta["dims"])


def _split_spec(spec: str) -> tuple[str, str]:
    if spec.startswith(("postgresql://", "postgres://")):
        return "postgres", spec
    kind, sep, location = spec.partition(":")
    if not sep or kind not in ("local", "postgres", "postgresql") or not location:
        raise ConfigError(f"store spec must be local:PATH or postgres:DSN, got {spec!r}"
                          + (" (an inmemory store has nothing to migrate)" if spec.startswith("inmemory") else ""))
    return ("postgres" if kind == "postgresql" else kind), location


def open_store_spec(spec: str, embedder: Any, *, schema: str = "autoskill") -> Any:
    """Open ``local:PATH`` or ``postgres:DSN`` with ``embedder``."""
    kind, location = _split_spec(spec)
    if kind == "local":
        from autoskill.store.local import LocalSkillStore

        return LocalSkillStore(location, embedder)
    from autoskill.store.postgres import PostgresSkillStore

    return PostgresSkillStore(location, embedder, schema=schema)
