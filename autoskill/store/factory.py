"""Built-in store providers: ``inmemory`` and ``local``.

A store factory receives the embedder (the store needs its identity and dimensions) plus
the options of the config section.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoskill.embeddings.base import Embedder
from autoskill.providers.registry import register_provider
from autoskill.retrieval.vector_index import APPROX_THRESHOLD
from autoskill.store.local import LocalSkillStore
from autoskill.store.memory import InMemorySkillStore

__all__ = ["DEFAULT_STORE_ENV", "default_store_path"]

DEFAULT_STORE_ENV = "AUTOSKILL_STORE_DIR"


def default_store_path() -> Path:
    """The store folder the CLI uses: ``$AUTOSKILL_STORE_DIR``, else ``~/.autoskill/store``."""
    configured = os.environ.get(DEFAULT_STORE_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".autoskill" / "store"


def _library_dirs_from_env() -> list[str]:
    raw = os.environ.get("AUTOSKILL_LIBRARY_DIRS", "")
    parts = [p for chunk in raw.split(os.pathsep) for p in chunk.split(",")]
    return [p.strip() for p in parts if p.strip()]


@register_provider("store", "inmemory")
def _inmemory(*, embedder: Embedder, approx_threshold: int | None = APPROX_THRESHOLD, nprobe: int | None = None,
              records_approx_threshold: int | None = None) -> InMemorySkillStore:
    return InMemorySkillStore(embedder, approx_threshold=approx_threshold, nprobe=nprobe,
                              records_approx_threshold=records_approx_threshold)


@register_provider("store", "local")
def _local(
    *,
    embedder: Embedder,
    path: str | os.PathLike[str] | None = None,
    library_dirs: Sequence[str] = (),
    on_embedder_change: str = "error",
    check_files: bool | str = "auto",
    approx_threshold: int | None = APPROX_THRESHOLD,
    nprobe: int | None = None,
    records_approx_threshold: int | None = None,
) -> LocalSkillStore:
    dirs: list[Any] = [*library_dirs, *_library_dirs_from_env()]
    return LocalSkillStore(
        path if path is not None else default_store_path(),
        embedder,
        library_dirs=list(dict.fromkeys(str(d) for d in dirs)),
        on_embedder_change=on_embedder_change,
        check_files=check_files,
        approx_threshold=approx_threshold,
        nprobe=nprobe,
        records_approx_threshold=records_approx_threshold,
    )
