"""The AutoSkill exception tree.

Every error the package raises on purpose derives from :class:`AutoSkillError`, so callers
can catch one root. Each subclass names the thing that was wrong (a file, a field, an id,
a provider) in its message and keeps it as an attribute for programs.

::

    AutoSkillError
    ├── ConfigError                 bad or unknown configuration
    │   ├── ProviderNotFoundError   unknown provider name
    │   └── MissingDependencyError  optional package not installed (message has the pip command)
    ├── SkillError
    │   ├── SkillValidationError    a Skill field breaks the contract (names the field)
    │   ├── SkillParseError         a SKILL.md cannot be read (names the file)
    │   └── SkillNotFoundError      no skill with that id or name
    ├── StoreError
    │   ├── EmbedderMismatchError   a store opened with a different embedder
    │   ├── ReadOnlyScopeError      a write to a shared library through a user handle
    │   ├── SkillConflictError      a write built on a stale read of a skill (re-read, retry)
    │   └── StoreCorruptError       files on disk disagree in a way that cannot be repaired
    ├── InvalidEventError           an event breaks the event contract (names the field and line)
    ├── ResourceAccessError         a skill resource path leaves the skill's folder
    ├── ScriptExecutionError        running a skill script failed or is disabled
    ├── EmbeddingError              an embedder returned something unusable
    └── LLMError                    a language model call failed or gave unusable output
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AutoSkillError",
    "ConfigError",
    "EmbedderMismatchError",
    "EmbeddingError",
    "InvalidEventError",
    "LLMError",
    "MissingDependencyError",
    "ProviderNotFoundError",
    "ReadOnlyScopeError",
    "ResourceAccessError",
    "ScriptExecutionError",
    "SkillConflictError",
    "SkillError",
    "SkillNotFoundError",
    "SkillParseError",
    "SkillValidationError",
    "StoreCorruptError",
    "StoreError",
]


class AutoSkillError(Exception):
    """Root of every error AutoSkill raises on purpose."""


class ConfigError(AutoSkillError):
    """A configuration section or value is wrong."""


class ProviderNotFoundError(ConfigError):
    """No provider is registered under the requested name."""

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        super().__init__(
            f"unknown {kind} provider {name!r}; available: {', '.join(self.available) or 'none'}"
        )


class MissingDependencyError(ConfigError, ImportError):
    """An optional package is needed but not installed."""

    def __init__(self, package: str, feature: str, extra: str | None = None) -> None:
        self.package = package
        self.feature = feature
        hint = f'pip install "autoskill[{extra}]"' if extra else f"pip install {package}"
        super().__init__(f"{feature} needs the package {package!r}; install it with: {hint}")


class SkillError(AutoSkillError):
    """Something is wrong with a skill."""


class SkillValidationError(SkillError, ValueError):
    """A field of a Skill breaks the contract."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"skill field {field!r}: {message}")


class SkillParseError(SkillError):
    """A SKILL.md file cannot be parsed."""

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = str(path) if path is not None else None
        self.reason = reason
        where = self.path or "<text>"
        super().__init__(f"{where}: {reason}")


class SkillNotFoundError(SkillError, KeyError):
    """No skill with the given id or name."""

    def __init__(self, key: str, suggestion: str | None = None) -> None:
        self.key = key
        self.suggestion = suggestion
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        super().__init__(f"no skill {key!r}{hint}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class StoreError(AutoSkillError):
    """The skill store failed."""


class EmbedderMismatchError(StoreError):
    """A store was opened with an embedder other than the one that built it."""


class ReadOnlyScopeError(StoreError, PermissionError):
    """A write was attempted on a shared library outside an explicit library import."""


class SkillConflictError(StoreError):
    """A skill write would overwrite another writer's change to it: re-read and retry.

    Attributes:
        skill_id: The skill.
        read_rev: The revision the writer had read (0 when unknown or never read).
        current_rev: The revision stored now (0 when the backend has no revision numbers).
    """

    def __init__(self, skill_id: str, read_rev: int = 0, current_rev: int = 0) -> None:
        self.skill_id = skill_id
        self.read_rev = read_rev
        self.current_rev = current_rev
        super().__init__(
            f"skill {skill_id} was changed by another writer after it was read "
            f"(read revision {read_rev}, now {current_rev}); re-read it and retry"
        )


class StoreCorruptError(StoreError):
    """The store's files disagree in a way that could not be repaired."""


class InvalidEventError(AutoSkillError, ValueError):
    """An event dict (or a JSONL line) breaks the event contract.

    Attributes:
        field: The offending field (``"type"``, ``"score"``, ``"messages[2].role"``...).
        reason: What is wrong with it.
        line: The 1-based JSONL line the event came from, when known.
    """

    def __init__(self, field: str, reason: str, line: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}event field {field!r}: {reason}")


class ResourceAccessError(AutoSkillError, PermissionError):
    """A skill resource path points outside the skill's folder or does not exist."""


class ScriptExecutionError(AutoSkillError):
    """Running a skill script is disabled, refused, or failed."""


class EmbeddingError(AutoSkillError):
    """An embedder failed or returned vectors of the wrong shape."""


class LLMError(AutoSkillError):
    """A language model call failed or its answer could not be used."""
