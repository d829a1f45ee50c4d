"""``AutoSkill``: the facade the seed README's quickstart uses.

Sync methods do the work; each async twin runs the same method in a worker thread (the
work is CPU-bound FAISS/SQLite calls that release the GIL), so there is one copy of the
logic.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from autoskill.config import AutoSkillConfig
from autoskill.errors import ConfigError, SkillNotFoundError
from autoskill.learning.heuristic import HeuristicExtractor
from autoskill.learning.maintain import Decision, bump_version, decide, merge_skills, thresholds_for
from autoskill.retrieval.context import render_skills_context
from autoskill.retrieval.fields import skill_embedding_text
from autoskill.retrieval.hybrid import HybridSearcher, SkillHit
from autoskill.skill.model import Skill
from autoskill.skill.normalize import utc_timestamp
from autoskill.store.base import SkillFilter, SkillVersion

__all__ = ["AutoSkill", "ImportReport", "IngestOutcome"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one extracted candidate."""

    candidate: Skill
    decision: Decision
    skill: Skill | None


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
    return {"role": role, "content": content}


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
            config = AutoSkillConfig(**overrides)
        elif overrides:
            raise ConfigError("pass either a config or keyword overrides, not both")
        if not isinstance(config, AutoSkillConfig):
            raise ConfigError(f"config must be an AutoSkillConfig, got {type(config).__name__}")
        self.config = config
        from autoskill.embeddings.factory import create_embedder

        self.embedder = create_embedder(config.embeddings)
        self.store = self._build_store(config)
        self.searcher = HybridSearcher(self.store, self.embedder)
        self.extractor = HeuristicExtractor()
        self.thresholds = thresholds_for(self.embedder.identity)
        # An LLM judge for the ambiguous similarity band (set when an LLM maintains skills).
        self.judge = None
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

        Returns the skills that were added or changed (an empty list when nothing was
        learned or everything was already known). Details of each decision are in
        :attr:`last_ingest`.
        """
        if messages is None and events is None:
            raise ConfigError("ingest needs messages=... or events=...")
        uid = user_id or "default"
        turns = [_message_dict(m) for m in (messages or [])]
        for event in events or []:
            if isinstance(event, Mapping) and event.get("type") == "message":
                turns.append({"role": str(event.get("role", "")), "content": str(event.get("content", ""))})
        candidates = self.extractor.extract(turns, user_id=uid)
        provenance = ({"source": "messages" if messages is not None else "events",
                       "ref": thread_id or "", "ts": utc_timestamp()},)
        outcomes: list[IngestOutcome] = []
        changed: list[Skill] = []
        for candidate in candidates:
            skill = candidate.skill.evolve(provenance=provenance)
            neighbours = self.searcher.search(
                skill_embedding_text(skill), self._filter(uid, statuses=("active", "draft")), limit=5,
                query_vector=self.embedder.embed_query(skill_embedding_text(skill)),
            )
            decision = decide(skill, neighbours, self.thresholds, judge=self.judge)
            stored: Skill | None = None
            if decision.action == "add":
                stored = self.store.upsert(skill, reason=f"learned: {decision.reason}")
                changed.append(stored)
            elif decision.action == "merge" and decision.target is not None:
                merged = merge_skills(decision.target, skill, provenance=provenance,
                                      correction=candidate.kind == "correction")
                if merged is not decision.target:
                    stored = self.store.upsert(merged, reason=f"merged: {decision.reason}")
                    changed.append(stored)
                else:
                    decision = Decision("discard", f"already known as {decision.target.name!r}", decision.target)
            outcomes.append(IngestOutcome(candidate=skill, decision=decision, skill=stored))
            logger.info("ingest %s: %s (%s)", skill.name, decision.action, decision.reason)
        self.last_ingest = outcomes
        return changed

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
        return self.store.upsert(restored, reason=f"rollback to {version}")

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
        if not isinstance(query, str):
            raise ConfigError(f"query must be a string, got {type(query).__name__}")
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
        hits = self.searcher.search(query, self._filter(user_id or "default", scope), limit, min_score=min_score)
        rendered = render_skills_context(hits, max_tokens=max_tokens)
        self.store.record_usage([s.id for s in rendered.skills], retrievals=1, injections=1)
        return rendered.text

    # -- CRUD ---------------------------------------------------------------------------------

    def get(self, skill_id: str) -> Skill | None:
        """The skill with this id, or None."""
        return self.store.get(skill_id)

    def list(self, user_id: str | None = None, *, scope: str = "user",
             statuses: Sequence[str] = ("active",)) -> list[Skill]:
        """A user's skills (``scope="all"`` adds the shared libraries)."""
        return self.store.list(self._filter(user_id or "default", scope, statuses=statuses))

    def delete(self, skill_id: str) -> bool:
        """Delete a user's skill (history stays in the ledger); False when absent."""
        return self.store.delete(skill_id)

    def add(self, skill: Skill, *, reason: str = "added") -> Skill:
        """Store a hand-made skill for its owner."""
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
        source = Path(root)
        registry = SkillRegistry()
        registry.scan_skills(source, recursive=recursive, warn=False)
        report = ImportReport(skipped=[(str(w.path), w.reason) for w in registry.warnings])
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
        """Release the store."""
        self.store.close()

    def __enter__(self) -> AutoSkill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    aingest = _asyncify(ingest)
    asearch = _asyncify(search)
    arender_context = _asyncify(render_context)
    aget = _asyncify(get)
    alist = _asyncify(list)
    adelete = _asyncify(delete)
    aadd = _asyncify(add)
    aimport_skill_dirs = _asyncify(import_skill_dirs)
    awrite_skill_dirs = _asyncify(write_skill_dirs)
