"""Pluggable providers: one registry for LLMs, embedders and stores."""

from autoskill.providers.registry import (
    KINDS,
    ProviderFactory,
    available_providers,
    create_provider,
    get_provider_factory,
    register_provider,
    unregister_provider,
)

__all__ = [
    "KINDS",
    "ProviderFactory",
    "available_providers",
    "create_provider",
    "get_provider_factory",
    "register_provider",
    "unregister_provider",
]
