"""LlamaIndex ``MetadataFilters`` as predicates over metadata dicts.

Leaf operators are evaluated by LlamaIndex's own ``build_metadata_filter_fn`` (the
semantics ``SimpleVectorStore`` has); nested ``MetadataFilters`` are supported on top.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters
from llama_index.core.vector_stores.utils import build_metadata_filter_fn

__all__ = ["MetadataPredicate", "compile_filters", "equality_where", "named_user"]

MetadataPredicate = Callable[[Mapping[str, Any]], bool]


def _identity(metadata: Any) -> Any:
    return metadata


def compile_filters(filters: MetadataFilters | None) -> MetadataPredicate | None:
    """A predicate equivalent to ``filters`` (None when there is nothing to filter)."""
    if filters is None or not filters.filters:
        return None
    if not any(isinstance(f, MetadataFilters) for f in filters.filters):
        return build_metadata_filter_fn(_identity, filters)  # type: ignore[arg-type]
    parts = [compile_filters(f) if isinstance(f, MetadataFilters)
             else build_metadata_filter_fn(_identity, MetadataFilters(filters=[f]))  # type: ignore[arg-type]
             for f in filters.filters]
    checks = [p for p in parts if p is not None]
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.OR:
        return lambda metadata: any(check(metadata) for check in checks)
    if condition == FilterCondition.NOT:
        return lambda metadata: not any(check(metadata) for check in checks)
    return lambda metadata: all(check(metadata) for check in checks)


def _top_level_equalities(filters: MetadataFilters | None) -> list[MetadataFilter] | None:
    if filters is None or not filters.filters:
        return []
    if (filters.condition or FilterCondition.AND) != FilterCondition.AND and len(filters.filters) > 1:
        return None
    if (filters.condition or FilterCondition.AND) == FilterCondition.NOT:
        return None
    return [f for f in filters.filters if isinstance(f, MetadataFilter) and f.operator == FilterOperator.EQ]


def named_user(filters: MetadataFilters | None) -> str | None:
    """The user a filter requires (a top-level ``user_id == "..."`` that must hold), else None."""
    for leaf in _top_level_equalities(filters) or []:
        if leaf.key == "user_id" and isinstance(leaf.value, str):
            return leaf.value
    return None


def equality_where(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """``filters`` as a ``{key: value}`` dict when it is nothing but ANDed equalities, else None.

    The core store answers such a dict without a Python predicate, and a string
    ``user_id`` in it searches only that user's records.
    """
    if filters is None or not filters.filters:
        return {}
    leaves = _top_level_equalities(filters)
    if leaves is None or len(leaves) != len(filters.filters):
        return None
    if any(leaf.value is None or isinstance(leaf.value, list) for leaf in leaves):
        return None  # LlamaIndex gives None and lists other semantics than a dict lookup
    keys = [leaf.key for leaf in leaves]
    if len(set(keys)) != len(keys):
        return None
    return {leaf.key: leaf.value for leaf in leaves}
