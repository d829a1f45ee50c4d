"""Default skill roots: order, kinds, environment parsing, de-duplication."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoskill.registry import SkillRoot, create_auto_skill_registry, default_skill_roots
from autoskill.registry.roots import bundled_skill_root, split_path_list


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("AUTOSKILL_SKILL_PATHS", raising=False)
    monkeypatch.delenv("AUTOSKILL_LIBRARY_DIRS", raising=False)
    return home


def test_split_path_list_on_pathsep_and_commas() -> None:
    value = f"/a{os.pathsep}/b,/c{os.pathsep}{os.pathsep} , /d"
    assert split_path_list(value) == ["/a", "/b", "/c", "/d"]
    assert split_path_list("") == [] and split_path_list(None) == []


def test_all_roots_in_increasing_precedence(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    configured = [tmp_path / "conf1", tmp_path / "conf2", tmp_path / "lib1"]
    monkeypatch.setenv("AUTOSKILL_SKILL_PATHS", f"{configured[0]}{os.pathsep}{configured[1]}")
    monkeypatch.setenv("AUTOSKILL_LIBRARY_DIRS", f"{configured[2]}")
    roots = default_skill_roots(project_dir=project, include_missing=True)
    assert all(isinstance(r, SkillRoot) and not r.recursive for r in roots)
    assert [r.kind for r in roots] == ["bundled"] + ["user"] * 2 + ["project"] * 3 + ["configured"] * 3
    expected = [
        home / ".agents/skills",
        home / ".claude/skills",
        project / "skills",
        project / ".claude/skills",
        project / ".agents/skills",
        *configured,
    ]
    assert [r.path for r in roots[1:]] == [p.resolve() for p in expected]
    assert roots[0].path == bundled_skill_root().resolve()
    assert roots[0].path.parts[-2:] == ("autoskill", "library")


def test_missing_roots_are_left_out_by_default(tmp_path: Path, home: Path) -> None:
    project = tmp_path / "project"
    (home / ".claude" / "skills").mkdir(parents=True)
    (project / ".agents" / "skills").mkdir(parents=True)
    env = {"HOME": str(home), "AUTOSKILL_SKILL_PATHS": str(tmp_path / "missing")}
    roots = [r for r in default_skill_roots(project_dir=project, env=env) if r.kind != "bundled"]
    assert [(r.kind, r.path) for r in roots] == [
        ("user", (home / ".claude/skills").resolve()),
        ("project", (project / ".agents/skills").resolve()),
    ]


def test_env_mapping_replaces_os_environ_and_expands_home(tmp_path: Path, home: Path) -> None:
    other_home = tmp_path / "other-home"
    env = {"HOME": str(other_home), "AUTOSKILL_LIBRARY_DIRS": "~/libs, ~/more"}
    roots = default_skill_roots(project_dir=tmp_path / "p", include_missing=True, env=env)
    user = [r.path for r in roots if r.kind == "user"]
    assert user == [(other_home / ".agents/skills").resolve(), (other_home / ".claude/skills").resolve()]
    assert [r.path for r in roots if r.kind == "configured"] == [
        (other_home / "libs").resolve(),
        (other_home / "more").resolve(),
    ]


def test_duplicate_roots_are_listed_once_at_first_position(tmp_path: Path, home: Path) -> None:
    # The project is the home folder: ~/.agents/skills is both a user and a project root.
    (home / ".agents" / "skills").mkdir(parents=True)
    env = {"HOME": str(home), "AUTOSKILL_SKILL_PATHS": f"{home / '.agents' / 'skills'},{home}/./.agents/skills"}
    roots = [r for r in default_skill_roots(project_dir=home, env=env) if r.kind != "bundled"]
    assert [(r.kind, r.path) for r in roots] == [("user", (home / ".agents/skills").resolve())]


def test_auto_registry_scans_in_precedence_order(tmp_path: Path, home: Path, make_skill,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    make_skill(home / ".claude" / "skills", "deploy", description="User deploy.")
    make_skill(home / ".claude" / "skills", "user-only")
    make_skill(project / ".claude" / "skills", "deploy", description="Project deploy.")
    make_skill(project / "skills" / "group", "nested-project")
    make_skill(tmp_path / "configured", "deploy", description="Configured deploy.")
    monkeypatch.setenv("AUTOSKILL_SKILL_PATHS", str(tmp_path / "configured"))
    registry = create_auto_skill_registry(project_dir=project, warn=False)
    assert registry.get_skill("deploy").description == "Configured deploy."
    assert registry.has_skill("user-only") and registry.has_skill("nested-project")  # recursive
    kinds = [r.kind for r in registry.list_roots()]
    assert kinds == sorted(kinds, key=["bundled", "user", "project", "configured"].index)
    assert len([w for w in registry.warnings if w.kind == "shadowed"]) == 2
