"""``AutoSkill``: the facade the seed README's quickstart uses.

Sync methods do the work; each async twin runs the same method in a worker thread (the
work is CPU-bound FAISS/SQLite calls that release the GIL), so there is one copy of the
logic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from autoskill.config import AutoSkillConfig
from autoskill.errors import ConfigError, InvalidEventError, SkillNotFoundError
from autoskill.learning.loop import IngestOutcome, Learner
from autoskill.learning.maintain import bump_version, thresholds_for
from autoskill.learning.redact import Redactor
from autoskill.learning.screen import FLAG_KEY, screen_skill
from autoskill.learning.windows import ExpiryPolicy, FeedbackResult, LearningWorker, PendingWindows
from autoskill.retrieval.context import RenderedContext, render_skills_context
from autoskill.retrieval.hybrid import HybridSearcher, SkillHit
from autoskill.skill.model import Skill
from autoskill.skill.normalize import utc_timestamp
from autoskill.store.base import SkillFilter, SkillVersion

__all__ = ["AutoSkill", "ImportReport"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ImportReport:
    """The result of :meth:`AutoSkill.import_skill_dirs`."""

    imported: list[Skill] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.imported)


def _asyncify(method: Callable[..., T]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def runner(self: AutoSkill, *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(method, self, *args, **kwargs)

    runner.__doc__ = f"Async twin of :meth:`{method.__name__}` (same logic, run in a worker thread)."
    return runner


# Longer texts are cut (at a word boundary, with a log line) before anything else sees
# them: no real chat turn or tool output teaches more than this, and a multi-megabyte one
# would only cost time in redaction, extraction and embedding.
MAX_TEXT_CHARS = 100_000
MAX_QUERY_CHARS = 10_000


def _cap(text: str, limit: int, what: str) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit)  # never split a word (or a secret) in two
    logger.warning("%s is %d characters; only the first %d are used", what, len(text), cut if cut > 0 else limit)
    return text[: cut if cut > 0 else limit]


def _cap_value(value: Any, what: str) -> Any:
    """``value`` with every string inside it capped at :data:`MAX_TEXT_CHARS` (the same
    object when nothing is that long: capture is a hot path)."""
    if isinstance(value, str):
        return _cap(value, MAX_TEXT_CHARS, what)
    if isinstance(value, Mapping):
        changed = {k: c for k, v in value.items() if (c := _cap_value(v, what)) is not v}
        return {**value, **changed} if changed else value
    if isinstance(value, (list, tuple)):
        items = [_cap_value(v, what) for v in value]
        return items if any(a is not b for a, b in zip(items, value)) else value
    return value


def _check_user(user_id: object, name: str = "user_id") -> str | None:
    if user_id is None or isinstance(user_id, str):
        return user_id
    raise ConfigError(f"{name} must be a string (or None for the default user), got {type(user_id).__name__} "
                      f"{user_id!r}")


def _check_count(value: object, name: str, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")


def _check_query(query: object) -> str:
    if not isinstance(query, str):
        raise ConfigError(f"query must be a string, got {type(query).__name__}")
    return _cap(query, MAX_QUERY_CHARS, "the query")


def _check_min_score(min_score: object) -> None:
    if min_score is None:
        return
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0.0 <= min_score <= 1.0:
        raise ConfigError(f"min_score must be a number in [0, 1] or None, got {min_score!r}")


def _check_id(skill_id: object) -> str:
    if not isinstance(skill_id, str):
        raise ConfigError(f"a skill id must be a string, got {type(skill_id).__name__} {skill_id!r}")
    return skill_id


def _check_messages(messages: Sequence[Any]) -> None:
    for i, message in enumerate(messages):
        if isinstance(message, Mapping):
            role, content = message.get("role"), message.get("content")
        elif hasattr(message, "content") and (hasattr(message, "role") or hasattr(message, "type")):
            role = getattr(message, "role", None) or getattr(message, "type", None)
            content = message.content
        else:
            raise InvalidEventError(f"messages[{i}]", f"must be a dict with 'role' and 'content' (or a framework "
                                                      f"message), got {type(message).__name__}")
        if not isinstance(role, str) or not role:
            raise InvalidEventError(f"messages[{i}].role", f"must be a non-empty string, got {role!r}")
        if content is not None and not isinstance(content, (str, list, tuple)):
            raise InvalidEventError(f"messages[{i}].content", f"must be text, got {type(content).__name__}")


def _message_dict(message: Any) -> dict[str, str]:
    """Accept dicts and framework message objects (anything with ``type``/``role`` and ``content``)."""
    if isinstance(message, Mapping):
        role, content = message.get("role"), message.get("content")
    else:
        role = getattr(message, "role", None) or getattr(message, "type", None)
        content = getattr(message, "content", None)
    role = {"human": "user", "ai": "assistant"}.get(str(role), str(role or ""))
    if not isinstance(content, str):
        content = " ".join(str(p.get("text", "")) if isinstance(p, Mapping) else str(p) for p in (content or []))
    return {"role": role, "content": _cap(content, MAX_TEXT_CHARS, "a message")}


class AutoSkill:
    """Learn, keep and retrieve Agent Skills.

    Example::

        sdk = AutoSkill(AutoSkillConfig(store={"provider": "local", "path": "Skills"}))
        sdk.ingest(messages=[{"role": "user", "content": "Before each release: a -> b -> c"}], user_id="u1")
        for hit in sdk.search("How do I release?", user_id="u1"):
            print(hit.skill.name, hit.score)
    """

    def __init__(self, config: AutoSkillConfig | None = None, **overrides: Any) -> None:
        """Build the embedder, store and extractor that ``config`` names."""
        if config is None:
            try:
                config = AutoSkillConfig(**overrides)
            except TypeError as exc:  # an unknown keyword
                known = ", ".join(f.name for f in dataclasses.fields(AutoSkillConfig))
                raise ConfigError(f"{exc}; AutoSkill takes a config or these keywords: {known}") from None
        elif overrides:
            raise ConfigError("pass either a config or keyword overrides, not both")
        if not isinstance(config, AutoSkillConfig):
            raise ConfigError(f"config must be an AutoSkillConfig, got {type(config).__name__}")
        self.config = config
        from autoskill.embeddings.factory import create_embedder

        from autoskill.llm import LLMJudge, LLMMerger, create_extractor, create_llm

        self.embedder = create_embedder(config.embeddings)
        self.llm = create_llm(config.llm)
        self.store = self._build_store(config)
        learning = dict(config.learning)
        try:
            usage_prior = float(learning.get("usage_prior", 0.0))
            ttl = float(learning.get("window_ttl_seconds", 24 * 3600))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"learning options must be numbers: {exc}") from None
        self.searcher = HybridSearcher(self.store, self.embedder, usage_prior=usage_prior)
        # Redaction runs before anything reaches an LLM, the store or a log line.
        self.redactor = Redactor.from_config(config.redaction)
        use_llm = config.maintenance_strategy == "llm"
        self.learner = Learner(
            self.store, self.searcher, create_extractor(self.llm, **dict(config.extraction)),
            thresholds=thresholds_for(self.embedder.identity),
            judge=LLMJudge(self.llm) if use_llm else None,
            merger=LLMMerger(self.llm) if use_llm else None,
        )
        self.windows = PendingWindows(
            self.store, self.learner, self.redactor.redact_value,
            expiry=ExpiryPolicy(ttl_seconds=ttl,
                                action=str(learning.get("on_expire", "drop"))),
        )
        self._worker: LearningWorker | None = None
        self.last_ingest: list[IngestOutcome] = []

    def _build_store(self, config: AutoSkillConfig) -> Any:
        section = config.store
        if not isinstance(section, Mapping):
            return section
        import autoskill.store.factory  # noqa: F401  (registers the built-in stores)
        from autoskill.providers.registry import get_provider_factory

        options = {k: v for k, v in section.items() if k != "provider"}
        if config.library_dirs and section.get("provider") == "local":
            options["library_dirs"] = [*options.get("library_dirs", ()), *config.library_dirs]
        factory = get_provider_factory("store", section["provider"])
        try:
            return factory(embedder=self.embedder, **options)
        except TypeError as exc:
            raise ConfigError(f"bad options for store provider {section['provider']!r}: {exc}") from None

    # -- filters ------------------------------------------------------------------------------

    @staticmethod
    def _filter(user_id: str | None, scope: str = "all", *, statuses: Sequence[str] = ("active",),
                tags: Iterable[str] | None = None) -> SkillFilter:
        _check_user(user_id)
        if isinstance(tags, str):  # one tag, not its characters
            tags = (tags,)
        return SkillFilter(user_id=user_id, scope=scope, statuses=tuple(statuses),
                           tags=tuple(tags) if tags is not None else None)

    # -- learning -----------------------------------------------------------------------------

    def ingest(
        self,
        messages: Sequence[Any] | None = None,
        *,
        events: Sequence[Mapping[str, Any]] | None = None,
        user_id: str | None = None,
        thread_id: str | None = None,
    ) -> list[Skill]:
        """Extract skills from a conversation or event log and maintain the library at once.

        ``messages`` are chat turns (dicts with role/content, or framework message
        objects); ``events`` follow the event model (messages, tool calls, runs, errors).
        Everything is redacted first. Returns the skills that were added or changed (empty
        when nothing was learned or all of it was known); :attr:`last_ingest` says what
        happened to each candidate and why.
        """
        from autoskill.learning.events import group_events
        from autoskill.learning.toolflows import repeated_tool_sequences, toolflow_candidate

        if messages is None and events is None:
            raise ConfigError("ingest needs messages=... or events=...")
        if isinstance(messages, (str, bytes)) or (messages is not None and not isinstance(messages, Sequence)):
            raise ConfigError(f"messages must be a list of messages, got {type(messages).__name__}")
        if isinstance(events, (str, bytes, Mapping)) or (events is not None and not isinstance(events, Sequence)):
            raise ConfigError(f"events must be a list of event dicts, got {type(events).__name__}")
        if messages is not None:
            _check_messages(messages)
        _check_user(user_id)
        _check_user(thread_id, "thread_id")
        uid = user_id or "default"
        outcomes: list[IngestOutcome] = []
        source = {"source": "messages", "ref": thread_id or "", "ts": utc_timestamp()}
        if messages is not None:
            turns = [self.redactor.redact_value(_message_dict(m)) for m in messages]
            outcomes += self.learner.learn(self.learner.candidates(turns, user_id=uid), user_id=uid,
                                           provenance=(source,))
        if events is not None:
            from autoskill.learning.windows import _dict_events

            clean = [self.redactor.redact_value(_cap_value(e, "an event field")) for e in _dict_events(events)]
            for event in clean:
                event["user_id"] = event.get("user_id") or uid
            for trajectory in group_events(clean):
                owner = trajectory.user_id if user_id is None else uid
                provenance = ({"source": "events", "ref": trajectory.thread_id, "ts": utc_timestamp()},)
                found = self.learner.candidates(trajectory.messages(), user_id=owner)
                found += [toolflow_candidate(flow, self.redactor)
                          for flow in repeated_tool_sequences([trajectory], min_runs=2)]
                outcomes += self.learner.learn(found, user_id=owner, provenance=provenance)
            flows = repeated_tool_sequences(group_events(clean), min_runs=2)
            seen = {o.candidate.name for o in outcomes}
            extra = [toolflow_candidate(flow, self.redactor) for flow in flows]
            extra = [c for c in extra if c.skill.name not in seen]
            for candidate in extra:
                owner = candidate.skill.user_id or uid
                outcomes += self.learner.learn([candidate], user_id=owner,
                                               provenance=({"source": "tool_runs", "ref": "", "ts": utc_timestamp()},))
        self.last_ingest = outcomes
        return [o.skill for o in outcomes if o.skill is not None]

    # -- deferred, feedback-gated learning ---------------------------------------------------

    def capture(self, events: Sequence[Mapping[str, Any]], *, thread_id: str | None = None,
                user_id: str | None = None, used_skill_ids: Sequence[str] = ()) -> str:
        """Hold a captured run as a pending window; returns the window id.

        Nothing is learned yet: the next user message in the thread, or
        :meth:`feedback`, decides. This is what the framework handlers call.
        """
        if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Sequence):
            raise ConfigError(f"events must be a list of event dicts, got {type(events).__name__}")
        _check_user(user_id)
        _check_user(thread_id, "thread_id")
        events = [_cap_value(e, "an event field") if isinstance(e, Mapping) else e for e in events]
        return self.windows.capture(events, thread_id=thread_id, user_id=user_id,
                                    used_skill_ids=used_skill_ids).id

    def feedback(self, run_id: str, score: float | bool | None = None, *, comment: str | None = None) -> FeedbackResult:
        """Feedback on a captured run: a score in [-1, 1] (or True/False) and/or a comment.

        Positive or neutral-with-substance feedback releases the run for learning;
        negative feedback blocks it, and a correction in the comment is learned instead.
        Feedback is credited to the skills the run used.
        """
        return self.windows.feedback(run_id, score, comment)

    def pending(self, *, thread_id: str | None = None, user_id: str | None = None) -> list[Any]:
        """Windows still waiting for feedback."""
        return self.store.list_windows(thread_id=thread_id, user_id=user_id, statuses=("pending",))

    def flush(self, *, release_pending: bool = False) -> list[Skill]:
        """Expire old windows and learn from every released one now (optionally releasing
        all pending ones first); returns the skills added or changed."""
        return [o.skill for o in self.windows.flush(release_pending=release_pending) if o.skill is not None]

    def start_learning_worker(self, *, interval: float = 1.0) -> LearningWorker:
        """Process released windows in a background thread instead of in the caller."""
        if self._worker is None:
            self._worker = LearningWorker(self.windows, interval=interval).start()
        return self._worker

    def stop_learning_worker(self) -> None:
        """Stop the background worker after a last pass."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    # -- status: drafts, archive -------------------------------------------------------------

    def set_status(self, skill_id: str, status: str, *, reason: str) -> Skill:
        """Change a skill's status as a new version (nothing is ever silently deleted)."""
        skill = self._require(skill_id)
        if skill.status == status:
            return skill
        metadata = {k: v for k, v in skill.metadata.items() if not (status == "active" and k == FLAG_KEY)}
        updated = skill.evolve(status=status, metadata=metadata, version=bump_version(skill.version, minor=False),
                               updated_at=utc_timestamp())
        return self.store.upsert(updated, reason=reason, allow_library=skill.scope == "library")

    def drafts(self, user_id: str | None = None) -> list[Skill]:
        """Skills held back as drafts (flagged by screening, or made drafts by hand)."""
        return self.store.list(self._filter(user_id or "default", "all", statuses=("draft",)))

    def promote(self, skill_id: str) -> Skill:
        """Make a draft active (a person reviewed it); clears its safety flag."""
        return self.set_status(skill_id, "active", reason="promoted by a person")

    def drop(self, skill_id: str) -> bool:
        """Delete a draft (only drafts: active skills are archived, not dropped)."""
        skill = self._require(skill_id)
        if skill.status != "draft":
            raise ConfigError(f"skill {skill.name!r} is {skill.status}, not a draft; archive it instead")
        return self.store.delete(skill_id, allow_library=skill.scope == "library")

    def archive(self, skill_id: str, *, reason: str = "archived by hand") -> Skill:
        """Archive a skill (reversible with :meth:`unarchive`)."""
        return self.set_status(skill_id, "archived", reason=reason)

    def unarchive(self, skill_id: str) -> Skill:
        """Bring an archived skill back."""
        return self.set_status(skill_id, "active", reason="unarchived")

    def archive_stale(self, *, user_id: str | None = None, min_feedback: int = 3, failure_ratio: float = 0.6,
                      unused_days: float = 90.0) -> list[Skill]:
        """Archive users' skills that keep failing or were never used; returns them.

        Failing: at least ``min_feedback`` feedbacks and a failure share of
        ``failure_ratio`` or more. Unused: never retrieved and older than ``unused_days``.
        """
        from autoskill.learning.usage import stale_reason

        flt = SkillFilter(user_id=user_id, scope="user", all_users=user_id is None)
        archived = []
        for skill in self.store.list(flt):
            why = stale_reason(skill, self.store.usage(skill.id), min_feedback=min_feedback,
                               failure_ratio=failure_ratio, unused_days=unused_days)
            if why:
                archived.append(self.archive(skill.id, reason=f"archived: {why}"))
        return archived

    def history(self, skill_id: str) -> list[SkillVersion]:
        """Every version of a skill, oldest first, with what changed and why."""
        self._require(skill_id)
        return self.store.history(skill_id)

    def rollback(self, skill_id: str, version: str) -> Skill:
        """Restore the content of ``version`` as a new version (history is never rewritten).

        Raises:
            SkillNotFoundError: No such skill, or no snapshot with that version.
        """
        current = self._require(skill_id)
        snapshots = [v for v in self.store.history(skill_id) if v.version == version]
        if not snapshots:
            known = ", ".join(dict.fromkeys(v.version for v in self.store.history(skill_id)))
            raise SkillNotFoundError(f"{skill_id}@{version}", suggestion=known.split(", ")[-1] if known else None)
        restored = snapshots[-1].skill.evolve(
            id=current.id, version=bump_version(current.version, minor=False), created_at=current.created_at,
            updated_at=utc_timestamp(),
            provenance=({"source": "rollback", "ref": version, "ts": utc_timestamp()},),
        )
        return self.store.upsert(restored, reason=f"rollback to {version}", expected=current)

    # -- retrieval ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        limit: int = 5,
        scope: str = "all",
        tags: Iterable[str] | None = None,
        min_score: float | None = None,
        file_paths: Sequence[str | os.PathLike[str]] = (),
        cwd: str | os.PathLike[str] | None = None,
    ) -> list[SkillHit]:
        """Skills relevant to ``query`` that ``user_id`` may see, best first.

        Scores are absolute, in [0, 1]; there is no default threshold (pass ``min_score``).
        """
        query = _check_query(query)
        _check_count(limit, "limit")
        _check_min_score(min_score)
        uid = user_id or "default"
        hits = self.searcher.search(query, self._filter(uid, scope, tags=tags), limit,
                                    file_paths=file_paths, cwd=cwd, min_score=min_score)
        self.store.record_usage([h.skill.id for h in hits], retrievals=1)
        return hits

    def render_context(
        self,
        query: str,
        *,
        user_id: str | None = None,
        limit: int = 5,
        max_tokens: int | None = 1500,
        scope: str = "all",
        min_score: float | None = None,
    ) -> str:
        """Retrieved skills rendered as a context block that fits ``max_tokens``."""
        return self.build_context(query, user_id=user_id, limit=limit, max_tokens=max_tokens, scope=scope,
                                  min_score=min_score).text

    def build_context(
        self,
        query: str,
        *,
        user_id: str | None = None,
        limit: int = 5,
        max_tokens: int | None = 1500,
        scope: str = "all",
        min_score: float | None = None,
    ) -> RenderedContext:
        """:meth:`render_context` with what went into the block: ``text``, ``skills`` (the
        skills injected, for ``capture(..., used_skill_ids=...)``), ``omitted``, ``tokens``."""
        query = _check_query(query)
        _check_count(limit, "limit")
        _check_count(max_tokens, "max_tokens", allow_none=True)
        _check_min_score(min_score)
        hits = self.searcher.search(query, self._filter(user_id or "default", scope), limit, min_score=min_score)
        rendered = render_skills_context(hits, max_tokens=max_tokens)
        self.store.record_usage([s.id for s in rendered.skills], retrievals=1, injections=1)
        return rendered

    # -- CRUD ---------------------------------------------------------------------------------

    def get(self, skill_id: str) -> Skill | None:
        """The skill with this id, or None."""
        return self.store.get(_check_id(skill_id))

    def list(self, user_id: str | None = None, *, scope: str = "user",
             statuses: Sequence[str] = ("active",)) -> list[Skill]:
        """A user's skills (``scope="all"`` adds the shared libraries)."""
        return self.store.list(self._filter(user_id or "default", scope, statuses=statuses))

    def delete(self, skill_id: str) -> bool:
        """Delete a user's skill (history stays in the ledger); False when absent."""
        return self.store.delete(_check_id(skill_id))

    def add(self, skill: Skill, *, reason: str = "added") -> Skill:
        """Store a hand-made skill for its owner."""
        if not isinstance(skill, Skill):
            raise ConfigError(f"add takes a Skill, got {type(skill).__name__}")
        return self.store.upsert(skill, reason=reason)

    def _require(self, skill_id: str) -> Skill:
        skill = self.store.get(skill_id)
        if skill is None:
            raise SkillNotFoundError(skill_id)
        return skill

    # -- SKILL.md -----------------------------------------------------------------------------

    def export_skill_md(self, skill_id: str) -> str:
        """The SKILL.md text of a skill."""
        from autoskill.skill.skillmd import render_skill_md

        return render_skill_md(self._require(skill_id))

    def write_skill_dir(self, skill_id: str, root_dir: str | os.PathLike[str]) -> Path:
        """Write one skill as ``root_dir/<name>/SKILL.md`` (with its resources)."""
        from autoskill.skill.folder import write_skill_dir

        return write_skill_dir(self._with_resources(self._require(skill_id)), root_dir)

    def write_skill_dirs(self, user_id: str | None = None, root_dir: str | os.PathLike[str] = "Skills",
                         *, scope: str = "user") -> list[Path]:
        """Write every skill of a user (or, with ``scope="all"``, also the libraries)."""
        from autoskill.skill.folder import write_skill_dir

        skills = self.store.list(self._filter(user_id or "default", scope, statuses=("active", "draft", "archived")))
        return [write_skill_dir(self._with_resources(s), root_dir, fsync=False) for s in skills]

    def _with_resources(self, skill: Skill) -> Skill:
        """Point a stored skill at its folder in a local store so exports carry resources."""
        root = getattr(self.store, "root", None)
        tree = getattr(self.store, "_tree", None)
        if skill.source_dir is None and root is not None and tree is not None:
            folder = Path(root) / tree.folder_for(skill)
            if folder.is_dir():
                return skill.evolve(source_dir=folder)
        return skill

    def import_skill_dirs(
        self,
        root: str | os.PathLike[str],
        *,
        scope: str = "user",
        user_id: str | None = None,
        library: str | None = None,
        recursive: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportReport:
        """Import the skill folders under ``root`` for a user, or as a shared library.

        ``scope="common"`` (or ``"library"``) is the one explicit way to write a shared
        library; the files under ``root`` are read, never changed.
        """
        from autoskill.registry import SkillRegistry

        scope = "library" if scope == "common" else scope
        if scope not in ("user", "library"):
            raise ConfigError(f"scope must be 'user' or 'common', got {scope!r}")
        _check_user(user_id)
        _check_user(library, "library")
        source = Path(root)
        registry = SkillRegistry()
        registry.scan_skills(source, recursive=recursive, warn=False)
        # Shadowed names and parse notes are not failures: only files that could not be read count.
        report = ImportReport(skipped=[(str(w.path), w.reason) for w in registry.warnings
                                       if w.kind in ("skipped", "root")])
        owner = (user_id or "default") if scope == "user" else (library or source.resolve().name)
        batch: list[Skill] = []
        total = registry.count()
        for position, skill in enumerate(registry, 1):
            imported = skill.evolve(
                id="", scope=scope,
                user_id=owner if scope == "user" else None,
                library=owner if scope == "library" else None,
                provenance=({"source": "import", "ref": str(skill.source_dir or ""), "ts": utc_timestamp()},),
            )
            flags = screen_skill(imported)
            if flags:
                imported = imported.evolve(status="draft", metadata={**imported.metadata,
                                                                     FLAG_KEY: "; ".join(map(str, flags))})
            existing = self.store.get(imported.id)
            if existing is not None and existing.content_hash() == imported.content_hash():
                report.unchanged += 1
            else:
                if existing is not None:
                    imported = imported.evolve(version=existing.version, created_at=existing.created_at)
                batch.append(imported)
            if len(batch) >= 256 or position == total:
                report.imported.extend(self.store.upsert_many(batch, reason="import", allow_library=scope == "library"))
                batch = []
            if progress is not None:
                progress(position, total)
        if batch:
            report.imported.extend(self.store.upsert_many(batch, reason="import", allow_library=scope == "library"))
        return report

    # -- tools --------------------------------------------------------------------------------

    def resolve(self, name_or_id: str, *, user_id: str | None = None) -> Skill | None:
        """A skill the user may see, by id, name, alias or display name (case-insensitive)."""
        flt = self._filter(user_id or "default", "all", statuses=("active",))
        if not isinstance(name_or_id, str):
            raise ConfigError(f"a skill name or id must be a string, got {type(name_or_id).__name__}")
        skill = self.store.get(name_or_id)
        if skill is not None and flt.admits(skill):
            return skill
        wanted = name_or_id.strip().casefold()
        visible = self.store.list(flt)
        for key in (lambda s: s.name, lambda s: s.display_name or "", lambda s: s.title):
            for candidate in visible:
                if key(candidate).casefold() == wanted:
                    return candidate
        for candidate in visible:
            if wanted in (a.casefold() for a in candidate.aliases):
                return candidate
        return None

    def tools(self, *, user_id: str | None = None, allow_scripts: bool = False, **options: Any) -> Any:
        """Framework-neutral skill tools acting for ``user_id`` (see :class:`SkillTools`)."""
        from autoskill.tools import SkillTools

        _check_user(user_id)
        return SkillTools(lambda name: self._tool_skill(name, user_id), allow_scripts=allow_scripts, **options)

    def _tool_skill(self, name: str, user_id: str | None) -> Skill | None:
        skill = self.resolve(name, user_id=user_id)
        return None if skill is None else self._with_resources(skill)

    # -- housekeeping ---------------------------------------------------------------------------

    def stats(self) -> Any:
        """Counts of skills, users, libraries, versions."""
        return self.store.stats()

    def refresh(self) -> None:
        """Pick up other processes' writes and hand edits of SKILL.md files."""
        self.store.refresh()

    def close(self) -> None:
        """Stop the learning worker and release the store."""
        self.stop_learning_worker()
        self.store.close()

    def __enter__(self) -> AutoSkill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    aingest = _asyncify(ingest)
    asearch = _asyncify(search)
    arender_context = _asyncify(render_context)
    abuild_context = _asyncify(build_context)
    aget = _asyncify(get)
    alist = _asyncify(list)
    adelete = _asyncify(delete)
    aadd = _asyncify(add)
    aimport_skill_dirs = _asyncify(import_skill_dirs)
    acapture = _asyncify(capture)
    afeedback = _asyncify(feedback)
    aflush = _asyncify(flush)
    ahistory = _asyncify(history)
    arollback = _asyncify(rollback)
    awrite_skill_dirs = _asyncify(write_skill_dirs)
