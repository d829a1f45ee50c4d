"""``AutoSkillConfig``: one frozen configuration, serialisable when it holds only dicts.

Sections are plain dicts ``{"provider": name, ...options}`` as in the seed README, or live
objects (a LangChain chat model, a LlamaIndex embedding, an Embedder, a store) passed
directly. Precedence: an explicit argument, then the environment, then the default.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoskill.errors import ConfigError

__all__ = ["AutoSkillConfig"]

MAINTENANCE_STRATEGIES = ("heuristic", "llm")


def _default_llm() -> dict[str, Any]:
    return {"provider": "mock"}


def _default_embeddings() -> dict[str, Any]:
    return {"provider": "hashing", "dims": 256}


def _default_store() -> dict[str, Any]:
    return {"provider": "inmemory"}


def _freeze_section(name: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        if "provider" not in value:
            raise ConfigError(f"config section {name!r} needs a 'provider' key, got keys {sorted(value)}")
        return dict(value)
    if value is None or isinstance(value, (str, int, float, bool, list, tuple)):
        raise ConfigError(
            f"config section {name!r} must be a dict like {{'provider': ...}} or a provider object, got {value!r}"
        )
    return value  # a live object: a model, an embedder, a store


@dataclass(frozen=True)
class AutoSkillConfig:
    """How an :class:`~autoskill.AutoSkill` is built.

    Attributes:
        llm: LLM section (``mock``, ``openai``, ``anthropic``, ``glm``) or a chat model object.
        embeddings: Embeddings section (``hashing``, ``openai``, ``glm``) or an embeddings object.
        store: Store section (``inmemory``, ``local`` with ``path``) or a store object.
        maintenance_strategy: ``heuristic`` (offline) or ``llm`` (the LLM judges merges).
        library_dirs: Extra shared skill libraries, searched beside users' skills.
        redaction: Options of the redaction stage: ``enabled``, ``kinds``, ``extra_patterns``,
            ``allow`` (see :class:`autoskill.learning.redact.Redactor`).
        extraction: Options of the LLM extractor (``min_confidence``).
        learning: Deferred learning: ``window_ttl_seconds`` (default one day), ``on_expire``
            (``"drop"`` or ``"release"``), ``usage_prior`` (0 = off; at most 0.2).
    """

    llm: Any = field(default_factory=_default_llm)
    embeddings: Any = field(default_factory=_default_embeddings)
    store: Any = field(default_factory=_default_store)
    maintenance_strategy: str = "heuristic"
    library_dirs: tuple[str, ...] = ()
    redaction: Mapping[str, Any] = field(default_factory=dict)
    extraction: Mapping[str, Any] = field(default_factory=dict)
    learning: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("llm", "embeddings", "store"):
            object.__setattr__(self, name, _freeze_section(name, getattr(self, name)))
        if self.maintenance_strategy not in MAINTENANCE_STRATEGIES:
            raise ConfigError(
                f"maintenance_strategy must be one of {MAINTENANCE_STRATEGIES}, got {self.maintenance_strategy!r}"
            )
        if isinstance(self.library_dirs, (str, os.PathLike)):
            object.__setattr__(self, "library_dirs", (os.fspath(self.library_dirs),))
        else:
            object.__setattr__(self, "library_dirs", tuple(os.fspath(p) for p in self.library_dirs))
        for name in ("redaction", "extraction", "learning"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ConfigError(f"config field {name!r} must be a mapping, got {type(value).__name__}")
            object.__setattr__(self, name, dict(value))

    # -- serialisation ------------------------------------------------------------------------

    @property
    def is_serialisable(self) -> bool:
        """Whether every section is a plain dict (no live objects)."""
        return all(isinstance(getattr(self, n), Mapping) for n in ("llm", "embeddings", "store"))

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data.

        Raises:
            ConfigError: A section holds a live object, which cannot be serialised.
        """
        if not self.is_serialisable:
            live = [n for n in ("llm", "embeddings", "store") if not isinstance(getattr(self, n), Mapping)]
            raise ConfigError(f"config sections {live} hold live objects and cannot be serialised")
        data = dataclasses.asdict(self)
        data["library_dirs"] = list(self.library_dirs)
        return json.loads(json.dumps(data))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AutoSkillConfig:
        """Build a config from :meth:`to_dict` output (unknown keys are an error)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**dict(data))

    def to_yaml(self) -> str:
        """The config as YAML text."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> AutoSkillConfig:
        """Load a config from YAML text or a YAML file path."""
        import yaml

        text = str(source)
        path = Path(text)
        if "\n" not in text and path.suffix in (".yaml", ".yml", ".json") and path.exists():
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"config file {path} cannot be read as UTF-8 text: {exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config is not valid YAML: {exc}") from None
        return cls.from_dict(data or {})

    @classmethod
    def from_env(cls, **overrides: Any) -> AutoSkillConfig:
        """Defaults, then environment (``AUTOSKILL_STORE_DIR`` selects a local store,
        ``AUTOSKILL_LIBRARY_DIRS`` adds libraries), then ``overrides``."""
        values: dict[str, Any] = {}
        store_dir = os.environ.get("AUTOSKILL_STORE_DIR", "").strip()
        if store_dir:
            values["store"] = {"provider": "local", "path": store_dir}
        values.update(overrides)
        return cls(**values)
