"""The skill store contract every backend honours (inmemory, local, and later postgres).

A store holds skills (with version history and usage counts) and plain records (documents
added through a framework vector store that carry no skill fields), each with a vector,
and answers filtered nearest-neighbour queries. Scoring beyond cosine similarity, and
every decision about what to write, live outside the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from autoskill.skill.model import Skill

__all__ = [
    "TRACKED_FIELDS",
    "Record",
    "SkillFilter",
    "SkillStore",
    "SkillVersion",
    "StoreStats",
    "UsageStats",
    "VectorHit",
    "WINDOW_STATUSES",
    "Window",
    "changed_fields",
    "window_changes",
    "write_expectation",
]


@dataclass(frozen=True)
class SkillFilter:
    """Which skills a query or listing may see.

    Attributes:
        user_id: The acting user. Their own skills are visible; other users' never are.
            None means no user: only shared libraries are visible (or everything, for
            maintenance code that sets ``all_users``).
        scope: ``"all"`` (the user's skills and shared libraries), ``"user"`` or
            ``"library"`` (``"common"`` is accepted as the seed README's word for it).
        libraries: Restrict shared libraries to these names (None: all).
        statuses: Skill statuses to include (default: active only).
        tags: When given, a skill must carry at least one of these tags.
        names: When given, only skills with these names.
        all_users: Maintenance view across every user (never used for a user's request).
    """

    user_id: str | None = None
    scope: str = "all"
    libraries: tuple[str, ...] | None = None
    statuses: tuple[str, ...] = ("active",)
    tags: tuple[str, ...] | None = None
    names: tuple[str, ...] | None = None
    all_users: bool = False

    def __post_init__(self) -> None:
        scope = "library" if self.scope == "common" else self.scope
        if scope not in ("all", "user", "library"):
            from autoskill.errors import ConfigError

            raise ConfigError(f"scope must be 'all', 'user' or 'library', got {self.scope!r}")
        object.__setattr__(self, "scope", scope)

    def partitions(self, known: Iterable[str]) -> list[str]:
        """The index partitions this filter may search, out of the ``known`` ones."""
        chosen: list[str] = []
        for partition in known:
            kind, _, owner = partition.partition(":")
            if kind == "user" and self.scope in ("all", "user"):
                if self.all_users or owner == (self.user_id or ""):
                    chosen.append(partition)
            elif kind == "library" and self.scope in ("all", "library"):
                if self.libraries is None or owner in self.libraries:
                    chosen.append(partition)
        return chosen

    def admits(self, skill: Skill) -> bool:
        """Whether ``skill`` passes this filter (the exact check behind every result)."""
        if skill.scope == "user":
            if self.scope == "library":
                return False
            if not self.all_users and (skill.user_id or "") != (self.user_id or ""):
                return False
            if not self.all_users and self.user_id is None:
                return False
        else:
            if self.scope == "user":
                return False
            if self.libraries is not None and (skill.library or "") not in self.libraries:
                return False
        if self.statuses and skill.status not in self.statuses:
            return False
        if self.tags is not None:
            wanted = {t.casefold() for t in self.tags}
            if not wanted.intersection(t.casefold() for t in skill.tags):
                return False
        if self.names is not None and skill.name not in self.names:
            return False
        return True


@dataclass(frozen=True)
class VectorHit:
    """A skill and its cosine similarity to the query vector."""

    skill: Skill
    similarity: float


@dataclass(frozen=True, slots=True)
class Record:
    """A plain document stored beside skills (from a framework vector store).

    Attributes:
        id: Caller's id (string).
        text: The document text.
        metadata: JSON-ready metadata, stored and returned exactly.
        namespace: Groups records (one framework store instance, say).
    """

    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    namespace: str = "default"


WINDOW_STATUSES = ("pending", "released", "blocked", "processing", "processed", "expired")


@dataclass(frozen=True)
class Window:
    """A captured run or turn waiting for feedback before anything is learned from it.

    Attributes:
        id: Window id.
        thread_id: Conversation thread; the next user turn in it is the feedback.
        user_id: Whose run it was.
        events: The run's events (already redacted), as event dicts.
        used_skills: Ids of skills that were retrieved or injected for the run.
        status: ``pending`` -> ``released`` or ``blocked`` (or ``expired``) ->
            ``processing`` -> ``processed``.
        feedback: What released or blocked it (score, comment, source).
        result: What processing did (skills added or changed, decisions).
        created_at: Epoch seconds.
        updated_at: Epoch seconds.
    """

    id: str
    thread_id: str
    user_id: str
    events: tuple[Mapping[str, Any], ...]
    used_skills: tuple[str, ...] = ()
    status: str = "pending"
    feedback: Mapping[str, Any] | None = None
    result: Mapping[str, Any] | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def run_ids(self) -> list[str]:
        """Every run id its events mention (roots and children)."""
        ids = [str(e.get("run_id")) for e in self.events if e.get("run_id")]
        return list(dict.fromkeys(ids))


@dataclass(frozen=True)
class SkillVersion:
    """One snapshot in a skill's history."""

    skill_id: str
    version: str
    seq: int
    skill: Skill
    reason: str
    created_at: str
    provenance: tuple[Mapping[str, str], ...] = ()
    changes: tuple[str, ...] = ()


# Fields whose change a person would want to see in a history listing.
TRACKED_FIELDS = ("name", "description", "instructions", "triggers", "examples", "tags", "status",
                  "aliases", "when_to_use", "paths", "allowed_tools", "license", "compatibility", "metadata")


def changed_fields(before: Skill | None, after: Skill) -> tuple[str, ...]:
    """Which tracked fields differ between two snapshots (all non-empty ones for the first)."""
    if before is None:
        return ("created",)
    return tuple(f for f in TRACKED_FIELDS if getattr(before, f) != getattr(after, f))


def window_changes(to_status: str, *, feedback: Mapping[str, Any] | None, result: Mapping[str, Any] | None,
                   claimed_by: str | None, placeholder: str,
                   encode: Callable[[dict[str, Any]], Any]) -> tuple[list[str], list[Any]]:
    """The ``SET`` assignments and their values for a window transition, in a backend's
    placeholder style (``?`` or ``%s``), JSON fields passed through ``encode``."""
    sets = [f"status = {placeholder}", f"updated_at = {placeholder}"]
    params: list[Any] = [to_status, time.time()]
    for column, value in (("feedback", feedback), ("result", result)):
        if value is not None:
            sets.append(f"{column} = {placeholder}")
            params.append(encode(dict(value)))
    if claimed_by is not None:
        sets.append(f"claimed_by = {placeholder}")
        params.append(claimed_by)
    return sets, params


def write_expectation(skill_id: str, expected: Skill | None,
                      create_only: bool) -> dict[str, Skill | None] | None:
    """The ``expected`` map of a single-skill write: what must be stored under its id first.

    ``None`` in the map means nothing may be (a creation); no map means no check.
    """
    if create_only:
        if expected is not None:
            raise ValueError("a write cannot both create a skill and expect a stored one")
        return {skill_id: None}
    return None if expected is None else {skill_id: expected}


@dataclass(frozen=True)
class UsageStats:
    """How a skill has been used."""

    retrievals: int = 0
    injections: int = 0
    successes: int = 0
    failures: int = 0
    last_used: str | None = None


@dataclass(frozen=True)
class StoreStats:
    """Counts for ``autoskill stats``."""

    skills: int
    users: int
    libraries: int
    records: int
    versions: int
    by_status: Mapping[str, int]
    embedder: str
    dims: int
    path: str | None


@runtime_checkable
class SkillStore(Protocol):
    """What every skill store backend provides. See the conformance tests."""

    @property
    def embedder_identity(self) -> str: ...

    @property
    def dims(self) -> int: ...

    # skills
    def upsert(self, skill: Skill, vector: np.ndarray, *, reason: str = "upsert",
               allow_library: bool = False) -> Skill: ...

    def upsert_many(self, items: Sequence[tuple[Skill, np.ndarray]], *, reason: str = "import",
                    allow_library: bool = False) -> list[Skill]: ...

    def get(self, skill_id: str) -> Skill | None: ...

    def get_by_name(self, name: str, *, scope: str, owner: str | None) -> Skill | None: ...

    def delete(self, skill_id: str, *, allow_library: bool = False) -> bool: ...

    def list(self, flt: SkillFilter) -> list[Skill]: ...

    def search(self, vector: np.ndarray, k: int, flt: SkillFilter) -> list[VectorHit]: ...

    def vector(self, skill_id: str) -> np.ndarray | None: ...

    # history and usage
    def history(self, skill_id: str) -> list[SkillVersion]: ...

    def record_usage(self, skill_ids: Iterable[str], *, retrievals: int = 0, injections: int = 0,
                     successes: int = 0, failures: int = 0) -> None: ...

    def usage(self, skill_id: str) -> UsageStats: ...

    # plain records
    def upsert_records(self, records: Sequence[Record], vectors: np.ndarray) -> list[str]: ...

    def get_records(self, ids: Sequence[str], *, namespace: str = "default") -> list[Record]: ...

    def delete_records(self, ids: Sequence[str] | None, *, namespace: str = "default") -> int: ...

    def search_records(self, vector: np.ndarray, k: int, *, namespace: str = "default",
                       where: Mapping[str, Any] | None = None) -> list[tuple[Record, float]]: ...

    def record_vector(self, record_id: str, *, namespace: str = "default") -> np.ndarray | None: ...

    # housekeeping
    def refresh(self) -> None: ...

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...
