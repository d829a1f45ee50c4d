"""Pin each package's public surface, and keep the core free of framework imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import autoskill
import autoskill_lc
import autoskill_li

EXPECTED = {
    autoskill: [
        "AutoSkill",
        "AutoSkillConfig",
        "AutoSkillError",
        "ConfigError",
        "ImportReport",
        "MissingDependencyError",
        "ProviderNotFoundError",
        "Skill",
        "SkillHit",
        "SkillNotFoundError",
        "SkillParseError",
        "SkillRegistry",
        "SkillTools",
        "SkillValidationError",
        "StoreError",
        "default_skill_roots",
        "load_skill_dir",
        "parse_skill_md",
        "render_skill_md",
        "write_skill_dir",
    ],
    autoskill_lc: [
        "AutoSkillCallbackHandler",
        "AutoSkillEmbeddings",
        "HashingEmbeddings",
        "LangChainEmbedder",
        "SkillDirectoryLoader",
        "SkillMemory",
        "SkillMiddleware",
        "SkillRetriever",
        "SkillToolkit",
        "SkillVectorStore",
        "document_to_skill",
        "hit_to_document",
        "is_skill_document",
        "make_skill_tools",
        "skill_to_document",
    ],
    autoskill_li: [
        "AutoSkillEmbedding",
        "AutoSkillInstrumentation",
        "HashingEmbedding",
        "LlamaIndexEmbedder",
        "SkillDirectoryReader",
        "SkillMemoryBlock",
        "SkillRetriever",
        "SkillToolSpec",
        "SkillVectorStore",
        "hit_to_node",
        "is_skill_node",
        "make_skill_tools",
        "node_to_skill",
        "session",
        "skill_to_node",
    ],
}


@pytest.mark.parametrize("module", list(EXPECTED), ids=lambda m: m.__name__)
def test_all_is_pinned_sorted_and_importable(module) -> None:  # type: ignore[no-untyped-def]
    assert module.__all__ == EXPECTED[module]
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_import_autoskill_loads_no_framework() -> None:
    code = (
        "import sys, autoskill, autoskill.cli, autoskill.skill, autoskill.registry, autoskill.errors, autoskill.tools\n"
        "import autoskill.store, autoskill.store.factory, autoskill.embeddings, autoskill.learning, autoskill.tokens\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('langchain', 'langchain_core', 'llama_index'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_error_tree_has_one_root() -> None:
    import inspect

    from autoskill import errors

    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if obj.__module__ == errors.__name__]
    assert all(issubclass(cls, errors.AutoSkillError) for cls in classes)
    assert sorted(c.__name__ for c in classes) == errors.__all__
