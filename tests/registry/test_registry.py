"""SkillRegistry on real folders in tmp_path: scanning, resolution, relevance, prompt section."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

import autoskill.registry as registry_pkg
from autoskill.errors import AutoSkillError, ConfigError
from autoskill.registry import (
    ScanWarning,
    SkillMatch,
    SkillRegistry,
    SkillRoot,
    SkillScanWarning,
    SkillSummary,
    create_skill_registry,
    scan_skills,
)
from autoskill.registry.globs import glob_match
from autoskill.registry.relevance import extract_terms, levenshtein, normalize_score
from autoskill.skill import Skill
from autoskill.tokens import count_tokens

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="needs POSIX symlinks")


def quiet(path: Path | list[Path], recursive: bool = False) -> SkillRegistry:
    return SkillRegistry(path, recursive=recursive, warn=False)


def reasons(registry: SkillRegistry, kind: str | None = None) -> list[str]:
    return [str(w) for w in registry.warnings if kind is None or w.kind == kind]


# -- public surface ------------------------------------------------------------------------


def test_registry_all_is_pinned_and_sorted() -> None:
    assert registry_pkg.__all__ == [
        "ScanWarning",
        "SkillMatch",
        "SkillRegistry",
        "SkillRoot",
        "SkillScanWarning",
        "SkillSummary",
        "coerce_skill_registry",
        "create_auto_skill_registry",
        "create_skill_registry",
        "default_skill_roots",
        "scan_skills",
    ]
    assert issubclass(SkillScanWarning, UserWarning)


# -- scanning -------------------------------------------------------------------------------


def test_flat_scan_reads_root_and_direct_children_only(tmp_path: Path, make_skill) -> None:
    root = tmp_path / "skills"
    make_skill(tmp_path, "skills", name="root-skill")
    make_skill(root, "alpha")
    make_skill(root, "group/nested")
    make_skill(root, "lower", filename="skill.md")

    flat = quiet(root)
    assert sorted(s.name for s in flat) == ["alpha", "lower", "root-skill"]
    deep = quiet(root, recursive=True)
    assert sorted(s.name for s in deep) == ["alpha", "lower", "nested", "root-skill"]
    assert any("spelt 'skill.md'" in r for r in reasons(deep, "parse"))


def test_missing_root_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        SkillRegistry(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(AutoSkillError, match="not a folder"):
        create_skill_registry(tmp_path / "file.txt")


def test_missing_root_in_a_list_fails_before_scanning_any(tmp_path: Path, make_skill) -> None:
    make_skill(tmp_path / "a", "one")
    registry = SkillRegistry(warn=False)
    with pytest.raises(ConfigError):
        registry.scan_skills([tmp_path / "a", tmp_path / "missing"])
    assert registry.count() == 0


def test_dot_folders_are_scanned_but_vcs_and_dependency_folders_are_not(tmp_path: Path, make_skill) -> None:
    root = tmp_path / "lib"
    make_skill(root, ".curated/gh-fix-ci")
    make_skill(root, ".system/skill-creator")
    make_skill(root, ".git/hidden-one")
    make_skill(root, "node_modules/pkg/hidden-two")
    make_skill(root, "__pycache__/hidden-three")
    registry = quiet(root, recursive=True)
    assert sorted(registry.resolve_skill_name(n) or "-" for n in ("gh-fix-ci", "skill-creator")) == [
        "gh-fix-ci",
        "skill-creator",
    ]
    assert len(registry) == 2


@pytest.mark.parametrize("recursive", [False, True])
@needs_symlinks
def test_symlinked_skill_folder_is_followed(tmp_path: Path, make_skill, recursive: bool) -> None:
    elsewhere = make_skill(tmp_path / "elsewhere", "installed-skill")
    root = tmp_path / "skills"
    root.mkdir()
    (root / "installed-skill").symlink_to(elsewhere, target_is_directory=True)
    registry = quiet(root, recursive=recursive)
    assert registry.has_skill("installed-skill")
    assert registry.list_skills()[0].path == str(root.resolve() / "installed-skill")


@needs_symlinks
def test_symlink_loop_terminates_and_each_skill_loads_once(tmp_path: Path, make_skill) -> None:
    root = tmp_path / "skills"
    make_skill(root, "group/one")
    (root / "group" / "loop").symlink_to(root, target_is_directory=True)
    (root / "group" / "one" / "self").symlink_to(root / "group" / "one", target_is_directory=True)
    (root / "alias-of-group").symlink_to(root / "group", target_is_directory=True)
    registry = quiet(root, recursive=True)
    assert [s.name for s in registry] == ["one"]
    assert reasons(registry, "shadowed") == []


@needs_symlinks
def test_skill_md_symlink_outside_root_is_refused(tmp_path: Path, make_skill) -> None:
    outside = make_skill(tmp_path / "outside", "secret")
    root = tmp_path / "skills"
    make_skill(root, "fine")
    (root / "sneaky").mkdir()
    (root / "sneaky" / "SKILL.md").symlink_to(outside / "SKILL.md")
    registry = quiet(root, recursive=True)
    assert [s.name for s in registry] == ["fine"]
    skipped = [w for w in registry.warnings if w.kind == "skipped"]
    assert len(skipped) == 1
    assert "sneaky" in skipped[0].path and "outside" in skipped[0].reason


@needs_symlinks
def test_skill_md_symlink_inside_root_is_read(tmp_path: Path, make_skill) -> None:
    root = tmp_path / "skills"
    make_skill(root, "shared/source", name="linked", description="Shared text.")
    (root / "linked").mkdir()
    (root / "linked" / "SKILL.md").symlink_to(root / "shared" / "source" / "SKILL.md")
    registry = quiet(root)
    assert registry.get_skill("linked") is not None
    assert registry.get_skill("linked").description == "Shared text."


def test_symlink_stored_as_text_is_followed_inside_root(tmp_path: Path, make_skill) -> None:
    # A git symlink checked out without link support is a one-line file naming the target.
    root = tmp_path / "lib"
    make_skill(root, "engineering/real-skill", description="The real one.")
    make_skill(root, ".gemini/skills/real-skill", raw="../../../engineering/real-skill/SKILL.md")
    make_skill(root, ".gemini/skills/dangling", raw="../../../engineering/missing/SKILL.md")
    registry = quiet(root / ".gemini" / "skills")
    # Flat scan of the .gemini folder: the target lies outside that root, so it is refused.
    assert registry.count() == 0
    assert all(w.kind == "skipped" for w in registry.warnings)
    deep = quiet(root, recursive=True)
    assert [s.name for s in deep] == ["real-skill"]
    assert reasons(deep, "shadowed") == []  # the same file reached twice is no clash
    assert any("does not exist" in r for r in reasons(deep, "skipped"))


def test_bad_files_are_skipped_with_named_warnings_and_the_rest_load(tmp_path: Path, make_skill) -> None:
    root = tmp_path / "skills"
    make_skill(root, "good-one")
    make_skill(root, "broken-yaml", raw="---\nname: broken-yaml\ndescription: [unclosed\n---\nbody\n")
    make_skill(root, "no-description", description=None)
    make_skill(root, "binary", raw=b"\x00\x01\x02SKILL\x00")
    make_skill(root, "no-frontmatter", raw="# Just a heading\n")
    make_skill(root, "good-two")
    with pytest.warns(SkillScanWarning) as record:
        registry = SkillRegistry(root)
    assert sorted(s.name for s in registry) == ["good-one", "good-two"]
    skipped = {Path(w.path).parent.name: w.reason for w in registry.warnings if w.kind == "skipped"}
    assert set(skipped) == {"broken-yaml", "no-description", "binary", "no-frontmatter"}
    assert "YAML" in skipped["broken-yaml"]
    assert "description" in skipped["no-description"]
    assert "binary" in skipped["binary"]
    assert all(isinstance(w, ScanWarning) for w in registry.warnings)
    emitted = [str(r.message) for r in record]
    assert any("broken-yaml" in m for m in emitted)


def test_warn_false_keeps_warnings_without_emitting(tmp_path: Path, make_skill) -> None:
    root = tmp_path / "skills"
    make_skill(root, "bad", description=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry = SkillRegistry(root, warn=False)
    assert len(registry.warnings) == 1


def test_later_root_wins_with_a_warning_naming_both_paths(tmp_path: Path, make_skill) -> None:
    low = make_skill(tmp_path / "user", "deploy", description="User version.")
    high = make_skill(tmp_path / "project", "deploy", description="Project version.")
    with pytest.warns(SkillScanWarning, match="overrides"):
        registry = scan_skills([tmp_path / "user", tmp_path / "project"])
    assert registry.get_skill("deploy").description == "Project version."
    assert registry.get_skill_root("deploy").path == (tmp_path / "project").resolve()
    (shadow,) = [w for w in registry.warnings if w.kind == "shadowed"]
    assert low.name in shadow.reason and str(high.parent.resolve()) in shadow.reason
    assert str(low.parent.resolve()) in shadow.reason


def test_explicit_lower_precedence_does_not_override(tmp_path: Path, make_skill) -> None:
    make_skill(tmp_path / "project", "deploy", description="Project version.")
    make_skill(tmp_path / "bundled", "deploy", description="Bundled version.")
    registry = SkillRegistry(warn=False)
    registry.scan_skills(tmp_path / "project", precedence=10, kind="project")
    registry.scan_skills(tmp_path / "bundled", precedence=0, kind="bundled")
    assert registry.get_skill("deploy").description == "Project version."
    assert any("shadowed by" in r for r in reasons(registry, "shadowed"))
    assert [r.kind for r in registry.list_roots()] == ["project", "bundled"]
    # refresh keeps the same outcome
    registry.refresh()
    assert registry.get_skill("deploy").description == "Project version."


def test_refresh_sees_new_and_removed_skills(tmp_path: Path, make_skill) -> None:
    root = tmp_path / "skills"
    make_skill(root, "first")
    gone = make_skill(root, "second")
    registry = quiet(root)
    assert registry.count() == 2
    (gone / "SKILL.md").unlink()
    gone.rmdir()
    make_skill(root, "third")
    registry.refresh(clear=False)
    assert sorted(s.name for s in registry) == ["first", "second", "third"]
    registry.refresh()
    assert sorted(s.name for s in registry) == ["first", "third"]


def test_refresh_rescans_roots_in_order_and_tolerates_removed_roots(tmp_path: Path, make_skill) -> None:
    make_skill(tmp_path / "a", "same", description="From a.")
    make_skill(tmp_path / "b", "same", description="From b.")
    make_skill(tmp_path / "c", "other")
    registry = quiet([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    assert [r.path for r in registry.list_roots()] == [(tmp_path / x).resolve() for x in "abc"]
    for child in (tmp_path / "c").rglob("*"):
        if child.is_file():
            child.unlink()
    (tmp_path / "c" / "other").rmdir()
    (tmp_path / "c").rmdir()
    registry.refresh()
    assert registry.get_skill("same").description == "From b."
    assert not registry.has_skill("other")
    assert any(w.kind == "root" for w in registry.warnings)


def test_list_roots_and_skill_root_objects(tmp_path: Path, make_skill) -> None:
    make_skill(tmp_path / "lib", "group/deep")
    registry = SkillRegistry(warn=False)
    registry.scan_skills(SkillRoot(tmp_path / "lib", recursive=True, kind="user"))
    assert registry.list_roots() == [SkillRoot((tmp_path / "lib").resolve(), recursive=True, kind="user")]
    assert registry.has_skill("deep")
    registry.scan_skills(tmp_path / "lib", remember=False)
    assert len(registry.list_roots()) == 1


# -- lookup ------------------------------------------------------------------------------------


@pytest.fixture
def library(tmp_path: Path, make_skill) -> SkillRegistry:
    root = tmp_path / "skills"
    make_skill(root, "pdf-extractor", description="Extract text and tables from PDF files.",
               frontmatter={"aliases": ["PDF", "pdf-tools"], "when_to_use": "reading invoices or reports"})
    make_skill(root, "code-review", description="Review a diff for bugs and style.",
               frontmatter={"paths": ["**/*.py", "src/*.R"]})
    make_skill(root, "docker-helper", description="Write and debug Dockerfiles.",
               frontmatter={"paths": ["Dockerfile", "docker/**"], "when_to_use": "containers, images"})
    make_skill(root, "data-report", name="Data Report", description="Build a weekly data report.")
    return quiet(root)


def test_get_has_count_and_container_protocol(library: SkillRegistry) -> None:
    assert library.count() == len(library) == 4
    assert isinstance(library.get_skill("code-review"), Skill)
    assert library.get_skill("missing") is None
    assert "code-review" in library and "nope" not in library
    assert library.get_skill("code-review") in library
    assert [s.name for s in library] == sorted(s.name for s in library)
    text = repr(library)
    assert text.startswith("<SkillRegistry>") and "4 registered" in text


def test_resolution_by_alias_case_and_display_name(library: SkillRegistry) -> None:
    assert library.resolve_skill_name("pdf-extractor") == "pdf-extractor"
    assert library.resolve_skill_name("  PDF-Extractor ") == "pdf-extractor"
    assert library.resolve_skill_name("pdf") == "pdf-extractor"
    assert library.resolve_skill_name("PDF-TOOLS") == "pdf-extractor"
    assert library.resolve_skill_name("Data Report") == "data-report"
    assert library.resolve_skill_name("data report") == "data-report"
    assert library.resolve_skill_name("") is None
    assert library.resolve_skill_name("nothing-like-it") is None
    assert library.get_skill("Pdf").name == "pdf-extractor"
    assert library.has_skill("PDF")


def test_closest_name_recovers_typos(library: SkillRegistry) -> None:
    assert library.find_closest_skill_name("pdf-extracter") == "pdf-extractor"
    assert library.find_closest_skill_name("CODE-REVEIW") == "code-review"
    assert library.find_closest_skill_name("pdf-tool") == "pdf-extractor"  # via alias
    assert library.find_closest_skill_name("kubernetes-operator") is None
    assert library.find_closest_skill_name("") is None
    assert SkillRegistry(warn=False).find_closest_skill_name("x") is None


def test_levenshtein() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("same", "same") == 0
    assert levenshtein("abcdefgh", "zz", max_distance=2) == 3


def test_list_skills_sorted_with_summary_fields(library: SkillRegistry) -> None:
    rows = library.list_skills()
    assert [r.name for r in rows] == ["code-review", "data-report", "docker-helper", "pdf-extractor"]
    pdf = rows[-1]
    assert isinstance(pdf, SkillSummary)
    assert pdf.aliases == ("PDF", "pdf-tools")
    assert pdf.when_to_use == "reading invoices or reports"
    assert Path(pdf.path).name == "pdf-extractor"
    assert rows[0].paths == ("**/*.py", "src/*.R")


# -- relevance ----------------------------------------------------------------------------------


def test_relevance_scores_are_absolute_and_in_unit_interval(library: SkillRegistry) -> None:
    exact = library.find_relevant_skills("code-review")
    assert exact[0].name == "code-review"
    assert exact[0].matched_by == ["name_or_alias_exact"]
    assert exact[0].score == pytest.approx((300 + len("code review")) / 365)
    inside = library.find_relevant_skills("please do a code review of this diff")
    assert inside[0].name == "code-review"
    assert inside[0].matched_by == ["name_or_alias_substring"]
    assert inside[0].score == pytest.approx((220 + len("code review")) / 365)
    for query in ("pdf", "containers", "tables", "x" * 500, "a weekly report"):
        for match in library.find_relevant_skills(query, limit=None):
            assert isinstance(match, SkillMatch)
            assert 0.0 < match.score <= 1.0
    assert normalize_score(10_000) == 1.0 and normalize_score(0) == 0.0


def test_relevance_uses_when_to_use_and_description_terms(library: SkillRegistry) -> None:
    (match,) = library.find_relevant_skills("I am reading some invoices")
    assert match.name == "pdf-extractor" and match.matched_by == ["when_to_use"]
    (match,) = library.find_relevant_skills("a weekly summary")
    assert match.name == "data-report" and match.matched_by == ["description"]
    # plural forms still count; words glued to others do not
    assert library.find_relevant_skills("convert these pdfs")[0].name == "pdf-extractor"
    assert library.find_relevant_skills("install pdfminer") == []


def test_stopwords_never_match(tmp_path: Path, make_skill) -> None:
    make_skill(tmp_path / "s", "generic", description="Use this when the user wants help with any task.",
               frontmatter={"when_to_use": "Use when the user asks for it"})
    registry = quiet(tmp_path / "s")
    assert registry.find_relevant_skills("when should the user use this and what for?") == []
    assert extract_terms("Use when the user wants THE data") == ["data"]


def test_relevance_by_file_paths(library: SkillRegistry, tmp_path: Path) -> None:
    for paths in (["a/b/c.py"], ["c.py"], [str(tmp_path / "proj" / "src" / "x.R")]):
        names = [m.name for m in library.find_relevant_skills(file_paths=paths, cwd=tmp_path / "proj")]
        assert names == ["code-review"], paths
    (match,) = library.find_relevant_skills(file_paths="services/api/Dockerfile")
    assert match.name == "docker-helper" and match.matched_by == ["paths"]
    assert match.score == pytest.approx(140 / 365)
    both = library.find_relevant_skills("code review", file_paths=["x.py"])[0]
    assert both.matched_by == ["name_or_alias_exact", "paths"]
    assert library.find_relevant_skills(file_paths=["notes.txt"]) == []


def test_relevance_sort_and_limit(library: SkillRegistry) -> None:
    results = library.find_relevant_skills("docker images and a code review of pdf parsing", limit=None)
    assert [m.score for m in results] == sorted((m.score for m in results), reverse=True)
    assert len(library.find_relevant_skills("docker images and a code review of pdf", limit=2)) == 2


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/*.py", "a/b/c.py", True),
        ("**/*.py", "c.py", True),
        ("*.py", "a/b/c.py", True),
        ("src/*.R", "src/a.R", True),
        ("src/*.R", "src/sub/a.R", False),
        ("src/*.R", "other/src/a.R", False),
        ("src/**/test_*.py", "src/test_a.py", True),
        ("src/**/test_*.py", "src/x/y/test_a.py", True),
        ("docker/**", "docker/a/b.yml", True),
        ("Dockerfile", "deploy/Dockerfile", True),
        ("**/*.{ts,tsx}", "ui/App.tsx", True),
        ("{src,lib}/*.py", "lib/a.py", True),
        ("[!_]*.py", "_private.py", False),
        ("*.py", "a.pyc", False),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_glob_absolute_paths_relative_to_cwd(tmp_path: Path) -> None:
    assert glob_match("src/*.R", tmp_path / "src" / "a.R", cwd=tmp_path)
    assert not glob_match("src/*.R", tmp_path / "src" / "a.R", cwd=tmp_path / "elsewhere")
    assert glob_match("**/*.py", "/abs/c.py")


# -- prompt section -------------------------------------------------------------------------------


def test_prompt_section_lists_every_skill(library: SkillRegistry) -> None:
    text = library.generate_prompt_section()
    assert text.startswith("## Available Skills\n")
    for tool in ("load_skill", "read_skill_resource", "execute_skill_script"):
        assert f"`{tool}`" in text
    lines = [line for line in text.splitlines() if line.startswith("- **")]
    assert len(lines) == 4
    pdf = next(line for line in lines if "pdf-extractor" in line)
    assert "Aliases: PDF, pdf-tools" in pdf and "When to use: reading invoices" in pdf
    assert "Paths: **/*.py, src/*.R" in next(line for line in lines if "code-review" in line)
    assert "not shown" not in text
    assert SkillRegistry(warn=False).generate_prompt_section() == ""


def test_prompt_section_respects_token_budget(tmp_path: Path, make_skill) -> None:
    root = tmp_path / "many"
    for i in range(40):
        make_skill(root, f"skill-{i:02d}", description=f"Skill number {i} does a fairly specific job with files.")
    registry = quiet(root)
    full = registry.generate_prompt_section()
    assert count_tokens(full) > 300
    assert registry.generate_prompt_section(max_tokens=10_000) == full
    cut = registry.generate_prompt_section(max_tokens=300)
    assert count_tokens(cut) <= 300
    shown = [line for line in cut.splitlines() if line.startswith("- **")]
    last = cut.splitlines()[-1]
    assert last == f"({40 - len(shown)} more skills not shown: token budget)"
    assert 0 < len(shown) < 40
    assert registry.generate_prompt_section(max_tokens=5) == ""


def test_prompt_section_for_chosen_skills_keeps_their_order(library: SkillRegistry) -> None:
    matches = library.find_relevant_skills("docker images and a code review")
    text = library.generate_prompt_section(skills=[*matches, "PDF", "unknown-skill"])
    names = [line.split("**")[1] for line in text.splitlines() if line.startswith("- **")]
    assert names == [m.name for m in matches] + ["pdf-extractor"]


def test_exact_name_ignores_surrounding_punctuation(library: SkillRegistry) -> None:
    assert library.find_relevant_skills("Code-Review?")[0].matched_by == ["name_or_alias_exact"]


def test_coerce_and_root_kind_validation(tmp_path: Path, make_skill) -> None:
    from autoskill.registry import coerce_skill_registry

    make_skill(tmp_path / "s", "one")
    registry = coerce_skill_registry(str(tmp_path / "s"))
    assert registry.has_skill("one") and coerce_skill_registry(registry) is registry
    with pytest.raises(ConfigError):
        coerce_skill_registry(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SkillRoot(tmp_path, kind="global")  # type: ignore[arg-type]
    assert "from 1 root\n" in repr(registry)
