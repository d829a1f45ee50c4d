"""One registry for every pluggable provider kind (LLMs, embedders, stores).

A provider is a name plus a factory. A config section ``{"provider": name, **options}``
is turned into an object by calling ``factory(**options)``. Built-in providers register
through :func:`register_provider` exactly as third-party code does; the registry only
knows *where* the built-ins live, so importing :mod:`autoskill` stays cheap and the
provider modules (and their optional dependencies) load on first use.

Third-party packages can also register from an entry point in the group
``autoskill.providers``: the entry point names a module (or callable) that calls
:func:`register_provider` when loaded.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from autoskill.errors import ConfigError, ProviderNotFoundError

__all__ = [
    "KINDS",
    "ProviderFactory",
    "available_providers",
    "create_provider",
    "get_provider_factory",
    "register_provider",
    "unregister_provider",
]

logger = logging.getLogger(__name__)

ProviderFactory = Callable[..., Any]
_F = TypeVar("_F", bound=ProviderFactory)

#: The provider kinds the SDK knows. A fixed set, so that a typo ("embedding") fails loudly.
KINDS: tuple[str, ...] = ("embeddings", "llm", "store")

ENTRY_POINT_GROUP = "autoskill.providers"

# Modules whose import registers the built-in providers of a kind. They are imported on the
# first lookup of that kind, never at `import autoskill` time.
_BUILTIN_MODULES: dict[str, tuple[str, ...]] = {
    "embeddings": ("autoskill.embeddings.factory",),
    "llm": ("autoskill.llm.providers",),
    "store": ("autoskill.store.factory", "autoskill.store.postgres"),
}

_lock = threading.RLock()
_factories: dict[str, dict[str, ProviderFactory]] = {kind: {} for kind in KINDS}
_builtins_loaded: set[str] = set()
_entry_points_loaded = False


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown provider kind {kind!r}; expected one of: {', '.join(KINDS)}")
    return kind


def _normalize_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"provider name must be a non-empty string, got {name!r}")
    return name.strip().lower()


@overload
def register_provider(
    kind: str, name: str, factory: None = None, *, replace: bool = False
) -> Callable[[_F], _F]: ...


@overload
def register_provider(kind: str, name: str, factory: _F, *, replace: bool = False) -> _F: ...


def register_provider(
    kind: str, name: str, factory: ProviderFactory | None = None, *, replace: bool = False
) -> Any:
    """Register ``factory`` as the provider ``name`` of ``kind``.

    Can be called directly or used as a decorator (``@register_provider("llm", "mine")``).
    Names are case-insensitive.

    Args:
        kind: One of :data:`KINDS`.
        name: The value users write in ``{"provider": name}``.
        factory: A callable taking the config options as keyword arguments.
        replace: Allow overriding a different factory already registered under ``name``.

    Returns:
        The factory (so the decorator form leaves the function unchanged).

    Raises:
        ConfigError: Unknown kind, empty name, or a name already taken (without ``replace``).
    """
    _check_kind(kind)
    key = _normalize_name(name)
    # Built-ins load first, so a plugin registering with replace=True overrides them rather
    # than being overwritten when they load lazily later.
    _load_builtins(kind)

    def _register(fn: _F) -> _F:
        if not callable(fn):
            raise ConfigError(f"factory for {kind} provider {key!r} is not callable")
        with _lock:
            current = _factories[kind].get(key)
            if current is not None and current is not fn and not replace:
                raise ConfigError(
                    f"{kind} provider {key!r} is already registered; pass replace=True to override"
                )
            _factories[kind][key] = fn
        logger.debug("registered %s provider %r", kind, key)
        return fn

    if factory is None:
        return _register
    return _register(factory)  # type: ignore[type-var]


def unregister_provider(kind: str, name: str) -> bool:
    """Remove a provider; returns False when it was not registered."""
    _check_kind(kind)
    with _lock:
        return _factories[kind].pop(_normalize_name(name), None) is not None


def _load_builtins(kind: str) -> None:
    with _lock:
        if kind in _builtins_loaded:
            return
        # Mark first: a built-in module calling back into the registry must not recurse.
        _builtins_loaded.add(kind)
    try:
        for module in _BUILTIN_MODULES.get(kind, ()):
            importlib.import_module(module)
    except BaseException:
        with _lock:  # let the next lookup retry and show the real import error again
            _builtins_loaded.discard(kind)
        raise


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            if callable(loaded) and not inspect.ismodule(loaded):
                loaded()
        except Exception:  # one broken plugin must not disable the others
            logger.warning("could not load autoskill provider plugin %r", ep.name, exc_info=True)


def _ensure_loaded(kind: str) -> None:
    _load_builtins(kind)
    _load_entry_points()


def available_providers(kind: str) -> list[str]:
    """Sorted names of the providers registered for ``kind`` (built-ins included)."""
    _check_kind(kind)
    _ensure_loaded(kind)
    with _lock:
        return sorted(_factories[kind])


def get_provider_factory(kind: str, name: str) -> ProviderFactory:
    """Return the factory registered as ``name``.

    Raises:
        ProviderNotFoundError: No provider of that name.
    """
    _check_kind(kind)
    key = _normalize_name(name)
    _ensure_loaded(kind)
    with _lock:
        factory = _factories[kind].get(key)
        if factory is None:
            raise ProviderNotFoundError(kind, key, list(_factories[kind]))
        return factory


def create_provider(kind: str, config: Mapping[str, Any]) -> Any:
    """Build a provider object from a config section ``{"provider": name, **options}``.

    Args:
        kind: One of :data:`KINDS`.
        config: The section; every key but ``provider`` is passed to the factory as a keyword.

    Returns:
        Whatever the factory returns.

    Raises:
        ConfigError: The section is not a mapping, lacks ``provider``, or has options the
            factory does not accept.
        ProviderNotFoundError: No provider of that name.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"{kind} config must be a mapping like {{'provider': name, ...}}, "
            f"got {type(config).__name__}"
        )
    if "provider" not in config:
        raise ConfigError(f"{kind} config needs a 'provider' key, got keys {sorted(config)}")
    name = config["provider"]
    options = {str(k): v for k, v in config.items() if k != "provider"}
    factory = get_provider_factory(kind, name)
    _check_options(kind, _normalize_name(name), factory, options)
    return factory(**options)


def _check_options(
    kind: str, name: str, factory: ProviderFactory, options: Mapping[str, Any]
) -> None:
    # Binding first turns a misspelt option into a ConfigError naming it, instead of a
    # TypeError from deep inside the factory (and without catching the factory's own errors).
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins have no signature: let the call decide
        return
    try:
        signature.bind(**options)
    except TypeError as exc:
        accepted = [
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        raise ConfigError(
            f"bad options for {kind} provider {name!r}: {exc}; accepted: {', '.join(accepted)}"
        ) from exc
