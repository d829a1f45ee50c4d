"""``SkillDirectoryLoader``: the skills of a folder as LangChain Documents."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from autoskill.registry import SkillRegistry
from autoskill_lc.documents import skill_to_document

__all__ = ["SkillDirectoryLoader"]

logger = logging.getLogger(__name__)


class SkillDirectoryLoader(BaseLoader):
    """Load every skill folder (a ``SKILL.md`` with its files) under a directory.

    Uses the core :class:`~autoskill.SkillRegistry` scan, so files are read as agents read
    them: a file that cannot be parsed is skipped and logged (a warning naming it), never
    raised. Each Document is a skill document (see :mod:`autoskill_lc.documents`) plus a
    ``source`` metadata key with the skill's folder.

    Args:
        path: The directory.
        recursive: Search every folder below ``path`` (else ``path`` and its children only).
    """

    def __init__(self, path: str | os.PathLike[str], recursive: bool = True) -> None:
        self.path = Path(path)
        self.recursive = recursive

    def lazy_load(self) -> Iterator[Document]:
        """Yield the skills, sorted by name (the folder is scanned on the first ``next``).

        Raises:
            ConfigError: ``path`` does not exist or is not a folder.
        """
        registry = SkillRegistry(warn=False)
        registry.scan_skills(self.path, recursive=self.recursive)
        for problem in registry.warnings:
            level = logging.DEBUG if problem.kind == "parse" else logging.WARNING
            logger.log(level, "skill loader: %s", problem)
        for skill in registry:
            source = str(skill.source_dir) if skill.source_dir is not None else str(self.path)
            yield skill_to_document(skill, source=source)
