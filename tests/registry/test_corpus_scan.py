"""Scan the real skill corpus (../shared/corpus): never crash, load most, write back valid files.

Skipped when the corpus is absent (a user's clone has no ../shared).
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest

from autoskill.registry import SkillRegistry
from autoskill.skill import write_skill_dir

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
OPENAI_DOT_FOLDERS = (".system", ".curated", ".experimental")

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"{CORPUS} is absent (it ships beside the checkout in CI, not in a user's clone)"
)


def _libraries() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_dir())


def _reason_kind(reason: str) -> str:
    """Group skip reasons for the report (quoted targets and paths removed)."""
    return re.sub(r"'[^']*'|/\S+", "…", reason)


def test_corpus_scans_without_crashing_and_everything_loaded_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    validator = pytest.importorskip("skills_ref.validator", reason="skills-ref is a test dependency")

    # Names collide across libraries, so each top-level library gets its own registry.
    registries = {lib.name: SkillRegistry(lib, recursive=True, warn=False) for lib in _libraries()}
    total = sum(r.count() for r in registries.values())
    skipped = [w for r in registries.values() for w in r.warnings if w.kind == "skipped"]

    failures: list[str] = []
    for lib_name, registry in registries.items():
        out = tmp_path / lib_name
        for skill in registry:
            folder = write_skill_dir(skill, out, fsync=False)
            errors = validator.validate(folder)
            if errors:
                failures.append(f"{skill.source_dir}: {errors}")

    with capsys.disabled():
        print(f"\n[corpus] {total} skills loaded from {len(registries)} libraries; {len(skipped)} files skipped")
        for lib_name, registry in registries.items():
            print(f"[corpus]   {lib_name}: {registry.count()} loaded")
        for reason, count in collections.Counter(_reason_kind(w.reason) for w in skipped).most_common():
            print(f"[corpus]   {count:4d} x {reason}")
        for warning in skipped:
            print(f"[corpus] skipped {warning.path}: {warning.reason}")

    assert total >= 1500
    assert not failures, f"{len(failures)} written skills fail validation; first 10:\n" + "\n".join(failures[:10])


def test_openai_dot_folder_skills_are_found() -> None:
    library = CORPUS / "openai-skills"
    if not library.is_dir():
        pytest.skip("openai-skills is not in this corpus")
    on_disk = [p.parent for p in library.rglob("*") if p.name.lower() == "skill.md"
               and any(part in OPENAI_DOT_FOLDERS for part in p.parts)]
    registry = SkillRegistry(library, recursive=True, warn=False)
    found = [s for s in registry if any(part in OPENAI_DOT_FOLDERS for part in Path(s.source_dir).parts)]
    assert on_disk, "expected skills under .system/.curated/.experimental"
    assert len(found) == len(on_disk)
    assert {part for s in found for part in Path(s.source_dir).parts} >= set(OPENAI_DOT_FOLDERS)


def test_whole_corpus_in_one_registry_resolves_and_ranks() -> None:
    registry = SkillRegistry(CORPUS, recursive=True, warn=False)
    assert registry.count() >= 1400  # fewer than the sum: same names across libraries
    assert any(w.kind == "shadowed" for w in registry.warnings)
    name = registry.list_skills()[0].name
    assert registry.get_skill(name.upper()) is not None
    for match in registry.find_relevant_skills("write a changelog from git commits", limit=10):
        assert 0.0 < match.score <= 1.0
    section = registry.generate_prompt_section(max_tokens=2000)
    assert section.endswith("not shown: token budget)")
