"""SkillRegistry: discover skill folders on disk, resolve them by name, rank them for a request.

A port of the R ``SkillRegistry`` (scan flat or recursive, refresh, roots, get/has/count,
name and alias resolution, closest-name recovery, list, relevance, prompt section) that
reads real-world libraries leniently: a file that cannot be read is skipped with a
:class:`ScanWarning` naming it, and the scan goes on.
"""

from __future__ import annotations

import logging
import math
import os
import warnings as _warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Union

from autoskill._fs import is_within
from autoskill.errors import AutoSkillError, ConfigError, SkillParseError
from autoskill.registry import relevance
from autoskill.registry.roots import RootKind, SkillRoot, default_skill_roots
from autoskill.skill import normalize as norm
from autoskill.skill.folder import (
    MAX_SKILL_MD_BYTES,
    SKIPPED_DIRS,
    decode_skill_bytes,
    find_skill_file,
    iter_skill_dirs,
    load_skill_dir,
)
from autoskill.skill.model import Skill
from autoskill.skill.skillmd import ParsedSkill, read_skill_md

__all__ = [
    "ScanWarning",
    "SkillMatch",
    "SkillRegistry",
    "SkillScanWarning",
    "SkillSummary",
    "coerce_skill_registry",
    "create_auto_skill_registry",
    "create_skill_registry",
    "scan_skills",
]

logger = logging.getLogger(__name__)

PathInput = Union[str, os.PathLike[str], SkillRoot]
WarningKind = Literal["skipped", "shadowed", "parse", "root"]

# Per-file failures a scan survives. AutoSkillError covers parse and validation errors;
# the rest are what hostile or odd files raise from the OS, decoders and the YAML parser.
_PER_FILE_ERRORS = (AutoSkillError, OSError, UnicodeError, RecursionError, MemoryError, ValueError, TypeError)

# A symlink checked out where links are not supported (core.symlinks=false, Windows, a
# GitHub zip) becomes a small text file holding the target path. Real libraries ship
# these; anything longer than this cannot be such a stub.
_TEXT_LINK_MAX_BYTES = 1024
_SKILL_DEFAULTS = {"scope": "library"}

_PROMPT_HEADER = (
    "## Available Skills",
    "",
    "The following skills are available.",
    "You must proactively choose and use a relevant skill when the user's task matches a skill "
    "description, even if the user does not know the skill name or never mentions skills explicitly.",
    "When a request involves a recognizable domain such as PDFs, OCR, files, reports, APIs, data "
    "analysis, or document handling, inspect likely matching skills before answering from memory.",
    "Use `load_skill` to read the chosen skill before acting. Then use `read_skill_resource` or "
    "`execute_skill_script` when the skill instructions call for them.",
    "If the user is asking to add a reusable new capability, teach the assistant a workflow, or an "
    "obvious repeated task is missing from the skill set, look for a skill-creation capability such "
    "as `skill-creator` and use it instead of only improvising a one-off answer.",
    "",
)


class SkillScanWarning(UserWarning):
    """A skill file was skipped, shadowed by another, or read leniently during a scan."""


@dataclass(frozen=True)
class ScanWarning:
    """One problem met while scanning.

    Attributes:
        path: The file or folder concerned.
        reason: What was wrong (and what the registry did about it).
        kind: ``skipped`` (file not loaded), ``shadowed`` (same name as another skill),
            ``parse`` (loaded, but read leniently) or ``root`` (a root could not be walked).
    """

    path: str
    reason: str
    kind: WarningKind = "skipped"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class SkillSummary:
    """One row of :meth:`SkillRegistry.list_skills`."""

    name: str
    description: str
    aliases: tuple[str, ...]
    when_to_use: str
    paths: tuple[str, ...]
    path: str
    root: str = ""


@dataclass(frozen=True)
class SkillMatch:
    """A skill relevant to a request, from :meth:`SkillRegistry.find_relevant_skills`.

    Attributes:
        name: Canonical skill name.
        score: Absolute relevance in [0, 1] (comparable across queries).
        matched_by: Signals that matched, e.g. ``["name_or_alias_substring", "paths"]``.
        skill: The skill itself.
    """

    name: str
    score: float
    matched_by: list[str]
    description: str
    when_to_use: str
    aliases: tuple[str, ...]
    paths: tuple[str, ...]
    skill: Skill = field(repr=False, compare=False)


@dataclass(frozen=True)
class _Entry:
    skill: Skill
    folder: Path
    file: Path  # the real SKILL.md read (links resolved), to tell a re-read from a clash
    root: SkillRoot
    precedence: int


@dataclass(frozen=True)
class _RootRecord:
    root: SkillRoot
    precedence: int


@dataclass(frozen=True)
class _NameIndex:
    names: dict[str, str]
    aliases: dict[str, str]
    display: dict[str, str]


class SkillRegistry:
    """A collection of skills read from skill roots, keyed by name.

    Args:
        path: Optional root (or roots) to scan right away.
        recursive: Whether that scan searches every folder below the root.
        warn: Whether scan problems are also emitted with :func:`warnings.warn`
            (category :class:`SkillScanWarning`); they are always kept in
            :attr:`warnings` and logged.

    Attributes:
        warnings: Every :class:`ScanWarning` of the scans so far (cleared by
            ``refresh(clear=True)``).
    """

    def __init__(
        self,
        path: PathInput | Sequence[PathInput] | None = None,
        recursive: bool = False,
        *,
        warn: bool = True,
    ) -> None:
        self._skills: dict[str, _Entry] = {}
        self._roots: dict[Path, _RootRecord] = {}
        self._precedence = 0
        self._index: _NameIndex | None = None
        self.warn = warn
        self.warnings: list[ScanWarning] = []
        if path is not None:
            self.scan_skills(path, recursive=recursive)

    # -- scanning ---------------------------------------------------------------------

    def scan_skills(
        self,
        path: PathInput | Sequence[PathInput],
        recursive: bool | Sequence[bool] = False,
        remember: bool = True,
        precedence: int | None = None,
        *,
        kind: RootKind = "configured",
        warn: bool | None = None,
    ) -> SkillRegistry:
        """Load the skills under one root or several.

        Flat: ``root/SKILL.md`` and ``root/*/SKILL.md``. Recursive: every folder below the
        root, skipping ``.git``, ``node_modules`` and the like but not other dot-folders,
        following linked folders once each (loops end). ``SKILL.md`` is matched in any
        letter case.

        Args:
            path: A folder, a :class:`SkillRoot` (its ``recursive``/``kind`` are used), or a
                list of them (scanned in order, each one outranking the previous).
            recursive: One flag, or one per path.
            remember: Remember the root for :meth:`refresh` and :meth:`list_roots`.
            precedence: Rank of these skills against same-named ones already loaded: a
                skill replaces another when its precedence is at least as high. By default
                each scan outranks every earlier one ("later wins").
            kind: What the root is (``bundled``, ``user``, ``project``, ``configured``).
            warn: Override the registry's ``warn`` for this scan.

        Returns:
            The registry, for chaining.

        Raises:
            ConfigError: A root does not exist or is not a folder (checked for every
                root before any is scanned).
        """
        items: list[PathInput] = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        if isinstance(recursive, bool):
            flags = [recursive] * len(items)
        else:
            flags = [bool(f) for f in recursive]
            if len(flags) != len(items):
                flags = [flags[0] if flags else False] * len(items)
        roots = [self._make_root(item, flag, kind) for item, flag in zip(items, flags)]
        emit = self.warn if warn is None else warn
        for root in roots:
            if precedence is None:
                self._precedence += 1
                rank = self._precedence
            else:
                rank = precedence
                self._precedence = max(self._precedence, precedence)
            if remember:
                # A root scanned again keeps its place in the list (as in R) with its new rank.
                self._roots[root.path] = _RootRecord(root=root, precedence=rank)
            self._scan_root(root, rank, emit)
        return self

    def refresh(self, clear: bool = True) -> SkillRegistry:
        """Re-scan the remembered roots, in their original order, to see changes on disk.

        Args:
            clear: Forget the loaded skills (and warnings) first, so removed skills go away.
        """
        if clear:
            self._skills.clear()
            self.warnings.clear()
            self._index = None
        for record in list(self._roots.values()):
            if not record.root.path.is_dir():
                self._record(ScanWarning(str(record.root.path), "skill root no longer exists", "root"), self.warn)
                continue
            self._scan_root(record.root, record.precedence, self.warn)
        return self

    def list_roots(self) -> list[SkillRoot]:
        """The remembered roots, in the order they were first scanned."""
        return [record.root for record in self._roots.values()]

    def _make_root(self, item: PathInput, recursive: bool, kind: RootKind) -> SkillRoot:
        if isinstance(item, SkillRoot):
            raw, recursive, kind = item.path, item.recursive, item.kind
        else:
            raw = Path(os.fspath(item))
        candidate = Path(raw).expanduser()
        if not candidate.exists():
            raise ConfigError(f"skill root does not exist: {os.fspath(raw)}")
        if not candidate.is_dir():
            raise ConfigError(f"skill root is not a folder: {os.fspath(raw)}")
        return SkillRoot(path=candidate.resolve(), recursive=bool(recursive), kind=kind)

    def _scan_root(self, root: SkillRoot, precedence: int, emit: bool) -> None:
        loaded = 0
        folders = self._walk(root, emit) if root.recursive else self._flat(root, emit)
        try:
            for folder in folders:
                loaded += self._load(folder, root, precedence, emit)
        except RecursionError:
            self._record(ScanWarning(str(root.path), "folders nest too deeply; scan stopped", "root"), emit)
        self._index = None
        logger.debug("scanned %s (recursive=%s): %d skills", root.path, root.recursive, loaded)

    def _flat(self, root: SkillRoot, emit: bool) -> Iterator[Path]:
        """``root`` and its direct sub-folders that hold a SKILL.md entry."""
        seen: set[tuple[int, int]] = set()
        candidates = [root.path]
        try:
            entries = sorted(os.scandir(root.path), key=lambda e: e.name)
        except OSError as exc:
            self._record(ScanWarning(str(root.path), f"cannot list folder: {exc.strerror or exc}", "root"), emit)
            entries = []
        for entry in entries:
            try:
                if entry.name not in SKIPPED_DIRS and entry.is_dir():
                    candidates.append(Path(entry.path))
            except OSError:
                continue
        for folder in candidates:
            key = _dir_key(folder)
            if key is None or key in seen:
                continue
            seen.add(key)
            if _has_skill_entry(folder):
                yield folder

    def _walk(self, root: SkillRoot, emit: bool) -> Iterator[Path]:
        """Every folder under ``root`` holding a SKILL.md entry, each real folder once."""

        def on_error(exc: OSError) -> None:
            where = exc.filename or root.path
            self._record(ScanWarning(str(where), f"cannot list folder: {exc.strerror or exc}", "root"), emit)

        return iter_skill_dirs(root.path, onerror=on_error)

    def _load(self, folder: Path, root: SkillRoot, precedence: int, emit: bool) -> int:
        """Load one skill folder; return 1 if a skill was added or replaced another."""
        try:
            parsed, real_file = self._read_folder(folder, root)
        except SkillParseError as exc:
            where = exc.path or str(_skill_file_guess(folder))
            self._record(ScanWarning(where, f"skipped: {exc.reason}", "skipped"), emit)
            return 0
        except _PER_FILE_ERRORS as exc:
            reason = f"skipped: {type(exc).__name__}: {exc}"
            self._record(ScanWarning(str(_skill_file_guess(folder)), reason, "skipped"), emit)
            return 0

        skill = parsed.skill
        prefix = f"{folder}{os.sep}"
        for message in parsed.warnings:
            where, reason = str(folder), message
            if message.startswith(prefix):
                where, _, reason = message.partition(": ")
            self._record(ScanWarning(where, reason, "parse"), emit)

        existing = self._skills.get(skill.name)
        entry = _Entry(skill=skill, folder=folder, file=real_file, root=root, precedence=precedence)
        if existing is None:
            self._skills[skill.name] = entry
            return 1
        if existing.file == real_file or _same_folder(existing.folder, folder):
            # The same file reached again (a re-scan, or a link to a skill scanned
            # elsewhere in the root): not a clash, only precedence decides.
            if precedence >= existing.precedence:
                self._skills[skill.name] = entry
                return 1
            return 0
        if precedence >= existing.precedence:
            reason = f"skill {skill.name!r} from {folder} overrides the one from {existing.folder}"
            self._record(ScanWarning(str(folder), reason, "shadowed"), emit)
            self._skills[skill.name] = entry
            return 1
        reason = f"skill {skill.name!r} from {folder} is shadowed by the one from {existing.folder}"
        self._record(ScanWarning(str(folder), reason, "shadowed"), emit)
        return 0

    def _read_folder(self, folder: Path, root: SkillRoot) -> tuple[ParsedSkill, Path]:
        """Parse the folder's SKILL.md; return it with the real path of the file read."""
        try:
            parsed = load_skill_dir(folder, root=root.path, defaults=_SKILL_DEFAULTS)
        except SkillParseError:
            skill_file = find_skill_file(folder)
            target = _text_link_target(skill_file) if skill_file is not None else None
            if skill_file is None or target is None:
                raise
            return _read_text_link(folder, skill_file, target, root.path)
        skill_file = find_skill_file(folder) or folder / "SKILL.md"
        return parsed, skill_file.resolve()

    def _record(self, item: ScanWarning, emit: bool) -> None:
        self.warnings.append(item)
        # INFO, not WARNING: with no logging configured, WARNING records reach stderr
        # through logging's last-resort handler, doubling warnings.warn (or spamming a
        # CLI that asked for warn=False and reports the list itself).
        logger.log(logging.DEBUG if item.kind == "parse" else logging.INFO, "%s", item)
        if emit:
            _warnings.warn(str(item), SkillScanWarning, stacklevel=5)  # the caller of scan_skills

    # -- lookup -----------------------------------------------------------------------

    def get_skill(self, name: str) -> Skill | None:
        """The skill called ``name`` (exact, then as resolved by :meth:`resolve_skill_name`)."""
        entry = self._entry(name)
        return entry.skill if entry is not None else None

    def get_skill_root(self, name: str) -> SkillRoot | None:
        """The root the skill called ``name`` was loaded from."""
        entry = self._entry(name)
        return entry.root if entry is not None else None

    def has_skill(self, name: str) -> bool:
        """Whether :meth:`get_skill` finds a skill for ``name``."""
        return self._entry(name) is not None

    def count(self) -> int:
        """Number of skills loaded."""
        return len(self._skills)

    def resolve_skill_name(self, name: str | None) -> str | None:
        """Canonical name for a name, alias or display name (case-insensitive), else None.

        Order: exact name, name ignoring case, alias, display name, then the name the
        text slugs to (``"PDF Processing"`` -> ``pdf-processing``).
        """
        if name is None or not str(name).strip():
            return None
        target = str(name).strip()
        if target in self._skills:
            return target
        index = self._name_index()
        folded = target.casefold()
        for table in (index.names, index.aliases, index.display):
            if folded in table:
                return table[folded]
        slug = norm.slugify(target)
        return slug if slug in self._skills else None

    def find_closest_skill_name(self, name: str | None) -> str | None:
        """Closest canonical name to a mistyped name or alias ("did you mean ...?").

        Levenshtein distance ignoring case over names and aliases; accepted when at most
        ``min(4, max(3, 0.3 * len(name)))``, as in the R registry.
        """
        if name is None or not str(name).strip() or not self._skills:
            return None
        target = str(name).strip().casefold()
        threshold = min(4.0, max(3.0, len(target) * 0.3))
        limit = int(math.floor(threshold))
        best_name: str | None = None
        best = limit + 1
        for skill_name in sorted(self._skills):
            skill = self._skills[skill_name].skill
            terms = dict.fromkeys(t.casefold() for t in (skill_name, *skill.aliases, skill.display_name or "") if t)
            for term in terms:
                distance = relevance.levenshtein(target, term, max_distance=min(limit, best))
                if distance < best:
                    best_name, best = skill_name, distance
        return best_name if best <= threshold else None

    def _entry(self, name: str) -> _Entry | None:
        if not isinstance(name, str):
            return None
        entry = self._skills.get(name)
        if entry is not None:
            return entry
        resolved = self.resolve_skill_name(name)
        return self._skills.get(resolved) if resolved is not None else None

    def _name_index(self) -> _NameIndex:
        if self._index is None:
            names: dict[str, str] = {}
            aliases: dict[str, str] = {}
            display: dict[str, str] = {}
            # Higher precedence first, so an alias two skills share resolves to the one
            # that would win a name clash.
            ordered = sorted(self._skills.values(), key=lambda e: (-e.precedence, e.skill.name))
            for entry in ordered:
                skill = entry.skill
                names.setdefault(skill.name.casefold(), skill.name)
                for alias in skill.aliases:
                    aliases.setdefault(alias.casefold(), skill.name)
                if skill.display_name:
                    display.setdefault(skill.display_name.casefold(), skill.name)
            self._index = _NameIndex(names=names, aliases=aliases, display=display)
        return self._index

    # -- listing and relevance ----------------------------------------------------------

    def list_skills(self) -> list[SkillSummary]:
        """One summary per skill, sorted by name."""
        return [
            SkillSummary(
                name=entry.skill.name,
                description=entry.skill.description,
                aliases=entry.skill.aliases,
                when_to_use=entry.skill.when_to_use,
                paths=entry.skill.paths,
                path=str(entry.folder),
                root=str(entry.root.path),
            )
            for _, entry in sorted(self._skills.items())
        ]

    def find_relevant_skills(
        self,
        query: str | None = None,
        file_paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] = (),
        cwd: str | os.PathLike[str] | None = None,
        limit: int | None = 3,
    ) -> list[SkillMatch]:
        """Skills relevant to a request text and/or the files it touches.

        Args:
            query: The request.
            file_paths: Files involved, absolute or relative to ``cwd``; matched against
                each skill's ``paths`` globs.
            cwd: Working directory for relative paths (the current directory by default).
            limit: Most results to return (``None`` or ``<= 0``: all).

        Returns:
            Matches sorted by score (absolute, in [0, 1]) then name.
        """
        if isinstance(file_paths, (str, os.PathLike)):
            paths: list[str | os.PathLike[str]] = [file_paths]
        else:
            paths = list(file_paths or ())
        base = cwd if cwd is not None else (os.getcwd() if paths else None)
        matches: list[SkillMatch] = []
        for entry in self._skills.values():
            result = relevance.score_skill(entry.skill, query, paths, base)
            if result.raw <= 0:
                continue
            skill = entry.skill
            matches.append(
                SkillMatch(
                    name=skill.name,
                    score=result.score,
                    matched_by=list(result.matched_by),
                    description=skill.description,
                    when_to_use=skill.when_to_use,
                    aliases=skill.aliases,
                    paths=skill.paths,
                    skill=skill,
                )
            )
        matches.sort(key=lambda m: (-m.score, m.name))
        if limit is not None and limit > 0:
            matches = matches[:limit]
        return matches

    # -- prompt -------------------------------------------------------------------------

    def generate_prompt_section(
        self,
        max_tokens: int | None = None,
        skills: Iterable[str | Skill | SkillSummary | SkillMatch] | None = None,
    ) -> str:
        """The "## Available Skills" catalog to put in a system prompt.

        Args:
            max_tokens: Token budget (``cl100k_base``). Skills that do not fit are left
                out, and a last line says how many.
            skills: Which skills to list, in that order (names, skills, summaries or
                matches); all skills sorted by name by default.

        Returns:
            The section text, or ``""`` when there is nothing to list or the budget
            cannot hold even the header.
        """
        chosen = self._select(skills)
        if not chosen:
            return ""
        header = "\n".join(_PROMPT_HEADER)
        lines = [_catalog_line(skill) for skill in chosen]
        full = header + "\n" + "\n".join(lines)
        if max_tokens is None:
            return full

        from autoskill.tokens import count_tokens

        budget = int(max_tokens)
        if budget <= 0:
            return ""
        if count_tokens(full) <= budget:
            return full
        used = count_tokens(header)
        reserve = count_tokens("\n" + _omitted_line(len(lines)))
        if used + reserve > budget:
            logger.debug("prompt section: budget %d cannot hold the header", budget)
            return ""
        kept: list[str] = []
        # Later, shorter lines may still fit after a long one is dropped; every left-out
        # skill is counted in the last line.
        for line in lines:
            cost = count_tokens("\n" + line)
            if used + cost + reserve <= budget:
                kept.append(line)
                used += cost
        text = _join_section(header, kept, len(lines) - len(kept))
        # Token counts of pieces do not always add up exactly; trim until the whole fits.
        while kept and count_tokens(text) > budget:
            kept.pop()
            text = _join_section(header, kept, len(lines) - len(kept))
        return text if count_tokens(text) <= budget else ""

    def _select(self, skills: Iterable[str | Skill | SkillSummary | SkillMatch] | None) -> list[Skill]:
        if skills is None:
            return [entry.skill for _, entry in sorted(self._skills.items())]
        if isinstance(skills, (str, Skill, SkillSummary, SkillMatch)):
            skills = [skills]
        chosen: dict[str, Skill] = {}
        for item in skills:
            if isinstance(item, Skill):
                skill: Skill | None = item
            elif isinstance(item, (SkillSummary, SkillMatch)):
                skill = self.get_skill(item.name)
            else:
                skill = self.get_skill(str(item))
            if skill is None:
                logger.debug("prompt section: no skill %r", item)
                continue
            chosen.setdefault(skill.name, skill)
        return list(chosen.values())

    # -- container protocol -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._skills)

    def __iter__(self) -> Iterator[Skill]:
        """Iterate the skills, sorted by name."""
        return iter([entry.skill for _, entry in sorted(self._skills.items())])

    def __contains__(self, item: object) -> bool:
        if isinstance(item, Skill):
            item = item.name
        return isinstance(item, str) and self.has_skill(item)

    def __repr__(self) -> str:
        names = sorted(self._skills)
        roots = len(self._roots)
        lines = ["<SkillRegistry>", f"  Skills: {len(names)} registered from {roots} root{'' if roots == 1 else 's'}"]
        lines.extend(f"  - {name}" for name in names[:5])
        if len(names) > 5:
            lines.append(f"  ... and {len(names) - 5} more")
        return "\n".join(lines)


def _dir_key(folder: Path) -> tuple[int, int] | None:
    try:
        stat = folder.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _has_skill_entry(folder: Path) -> bool:
    """Whether ``folder`` has an entry named SKILL.md in any case (a dangling link counts:
    the load then reports it instead of ignoring it silently)."""
    try:
        return any(name.lower() == "skill.md" for name in os.listdir(folder))
    except OSError:
        return False


def _skill_file_guess(folder: Path) -> Path:
    try:
        for name in sorted(os.listdir(folder)):
            if name.lower() == "skill.md":
                return folder / name
    except OSError:
        pass
    return folder / "SKILL.md"


def _text_link_target(skill_file: Path) -> str | None:
    """The path a SKILL.md "text link" (a symlink checked out as a file) names, else None."""
    try:
        if skill_file.is_symlink() or not 0 < skill_file.stat().st_size <= _TEXT_LINK_MAX_BYTES:
            return None
        text = skill_file.read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeError):
        return None
    if not text or "\n" in text or text.startswith("---") or not text.lower().endswith(".md"):
        return None
    return text


def _read_text_link(folder: Path, skill_file: Path, target: str, root: Path) -> tuple[ParsedSkill, Path]:
    """Read what a text link points at, under the same rule as a real link: inside ``root``.

    The skill keeps the link's folder (name check, resources), as a real link would.
    """
    destination = skill_file.parent / target
    if not is_within(destination, root):
        raise SkillParseError(skill_file, f"SKILL.md is a link stored as text to {target!r}, outside {root}")
    if not destination.is_file():
        raise SkillParseError(skill_file, f"SKILL.md is a link stored as text to {target!r}, which does not exist")
    real = destination.resolve()
    if real.stat().st_size > MAX_SKILL_MD_BYTES:
        raise SkillParseError(real, f"file is over the {MAX_SKILL_MD_BYTES} byte limit")
    text, notes = decode_skill_bytes(real.read_bytes(), str(real))
    try:
        parsed = read_skill_md(text, source=real, dir_name=folder.name, defaults=_SKILL_DEFAULTS)
    except SkillParseError as exc:
        raise SkillParseError(skill_file, f"SKILL.md is a link stored as text to {target!r}: {exc.reason}") from None
    note = f"{skill_file}: SKILL.md is a link stored as text (a symlink checked out as a file); read {target!r}"
    skill = parsed.skill.evolve(source_dir=folder)
    return ParsedSkill(skill=skill, warnings=(note, *notes, *parsed.warnings)), real


def _same_folder(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _catalog_line(skill: Skill) -> str:
    extras: list[str] = []
    if skill.aliases:
        extras.append(f"Aliases: {', '.join(skill.aliases)}")
    if skill.when_to_use:
        extras.append(f"When to use: {_one_line(skill.when_to_use)}")
    if skill.paths:
        extras.append(f"Paths: {', '.join(skill.paths)}")
    suffix = "".join(f" | {extra}" for extra in extras)
    return f"- **{skill.name}**: {_one_line(skill.description)}{suffix}"


def _omitted_line(count: int) -> str:
    noun = "skill" if count == 1 else "skills"
    return f"({count} more {noun} not shown: token budget)"


def _join_section(header: str, kept: list[str], omitted: int) -> str:
    lines = [header, *kept]
    if omitted:
        lines.append(_omitted_line(omitted))
    return "\n".join(lines)


# -- convenience constructors (R: create_skill_registry, scan_skills, ...) ---------------


def create_skill_registry(
    path: PathInput | Sequence[PathInput],
    recursive: bool = False,
    *,
    warn: bool = True,
) -> SkillRegistry:
    """Create a registry and scan ``path`` (one root or a list, later roots winning)."""
    return SkillRegistry(warn=warn).scan_skills(path, recursive=recursive)


def scan_skills(
    path: PathInput | Sequence[PathInput],
    recursive: bool = False,
    *,
    warn: bool = True,
) -> SkillRegistry:
    """Scan ``path`` into a new registry (the same as :func:`create_skill_registry`)."""
    return create_skill_registry(path, recursive=recursive, warn=warn)


def create_auto_skill_registry(
    project_dir: str | os.PathLike[str] | None = None,
    recursive: bool = True,
    *,
    env: Mapping[str, str] | None = None,
    warn: bool = True,
) -> SkillRegistry:
    """A registry of every existing default root (:func:`default_skill_roots`), in order."""
    registry = SkillRegistry(warn=warn)
    for root in default_skill_roots(project_dir=project_dir, include_missing=False, env=env):
        registry.scan_skills(root.path, recursive=recursive, kind=root.kind)
    return registry


def coerce_skill_registry(
    skills: SkillRegistry | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    recursive: bool = True,
    project_dir: str | os.PathLike[str] | None = None,
) -> SkillRegistry:
    """Turn what a caller passed as ``skills`` into a registry.

    A registry is returned as is; ``"auto"`` builds :func:`create_auto_skill_registry`;
    a path or list of paths is scanned.

    Raises:
        ConfigError: ``skills`` is none of those, or a path does not exist.
    """
    if isinstance(skills, SkillRegistry):
        return skills
    if isinstance(skills, str) and skills == "auto":
        return create_auto_skill_registry(project_dir=project_dir, recursive=recursive)
    if isinstance(skills, (str, os.PathLike)) or (
        isinstance(skills, Sequence) and all(isinstance(s, (str, os.PathLike)) for s in skills)
    ):
        return create_skill_registry(skills, recursive=recursive)
    raise ConfigError("skills must be a path, a list of paths, 'auto', or a SkillRegistry")
