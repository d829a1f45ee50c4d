"""``SkillDirectoryReader``: the skills of a folder as LlamaIndex Documents."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document

from autoskill.registry import SkillRegistry
from autoskill_li.nodes import skill_to_node

__all__ = ["SkillDirectoryReader"]

logger = logging.getLogger(__name__)


class SkillDirectoryReader(BaseReader):
    """Read every skill folder (a ``SKILL.md`` with its files) under a directory.

    Uses the core :class:`~autoskill.SkillRegistry` scan, so files are read as agents read
    them: a file that cannot be parsed is skipped and logged (a warning naming it), never
    raised. Each Document is a skill node's content (the skill rendered for an agent, its
    id the skill id) with the metadata ``skill_id``, ``name``, ``version``, ``user_id``,
    ``scope``, ``tags`` and ``source`` (the skill's folder).

    Args:
        path: The directory.
        recursive: Search every folder below ``path`` (else ``path`` and its children only).
    """

    def __init__(self, path: str | os.PathLike[str], recursive: bool = True) -> None:
        self.path = Path(path)
        self.recursive = recursive

    def lazy_load_data(self, *args: Any, **load_kwargs: Any) -> Iterator[Document]:
        """Yield the skills, sorted by name (the folder is scanned on the first ``next``).

        Raises:
            ConfigError: ``path`` does not exist or is not a folder.
        """
        registry = SkillRegistry(warn=False)
        registry.scan_skills(self.path, recursive=self.recursive)
        for problem in registry.warnings:
            level = logging.DEBUG if problem.kind == "parse" else logging.WARNING
            logger.log(level, "skill reader: %s", problem)
        for skill in registry:
            source = str(skill.source_dir) if skill.source_dir is not None else str(self.path)
            node = skill_to_node(skill, source=source)
            yield Document(id_=node.id_, text=node.text, metadata=node.metadata,
                           excluded_embed_metadata_keys=node.excluded_embed_metadata_keys,
                           excluded_llm_metadata_keys=node.excluded_llm_metadata_keys)

    def load_data(self, *args: Any, **load_kwargs: Any) -> list[Document]:
        """Every skill under the folder as a Document (see :meth:`lazy_load_data`)."""
        return list(self.lazy_load_data(*args, **load_kwargs))
