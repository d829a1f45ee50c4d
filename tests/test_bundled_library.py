"""The sample skill library shipped inside the package is valid Agent Skills."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.resources import as_file, files
from pathlib import Path

import pytest
import yaml

skills_ref = pytest.importorskip("skills_ref")
from skills_ref.parser import read_properties  # noqa: E402
from skills_ref.validator import validate  # noqa: E402

EXPECTED = {
    "code-review-checklist",
    "conventional-commit-message",
    "csv-data-cleaning",
    "incident-postmortem",
    "postgres-migration-checklist",
    "python-traceback-triage",
}
ALLOWED_KEYS = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def _library() -> Path:
    root = files("autoskill") / "library"
    # The package is installed from a directory (editable or wheel), so this is a real path.
    with as_file(root) as path:
        return Path(path)


def _skill_dirs() -> list[Path]:
    root = _library()
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def _frontmatter(skill_dir: Path) -> tuple[dict, str]:
    text = (skill_dir / "SKILL.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    data = yaml.safe_load(head)
    assert isinstance(data, dict)
    return data, body


def test_library_found_through_importlib_resources() -> None:
    root = files("autoskill") / "library"
    assert root.is_dir()
    assert (root / "README.md").is_file()
    assert {p.name for p in _skill_dirs()} == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_skill_passes_reference_validator(name: str) -> None:
    skill_dir = _library() / name
    assert (skill_dir / "SKILL.md").is_file()
    assert validate(skill_dir) == []
    props = read_properties(skill_dir)
    assert props.name == name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_skill_frontmatter_contract(name: str) -> None:
    skill_dir = _library() / name
    data, body = _frontmatter(skill_dir)
    assert set(data) <= ALLOWED_KEYS
    assert data["name"] == name == skill_dir.name
    assert NAME_RE.match(name) and len(name) <= 64
    description = data["description"]
    assert 1 <= len(description) <= 1024
    assert "<" not in description and ">" not in description
    assert "Use when" in description  # says when to use it, not only what it does
    meta = data["metadata"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    assert meta["version"] == "0.1.0"
    assert [t.strip() for t in meta["tags"].split(",") if t.strip()]
    triggers = json.loads(meta["triggers"])
    assert isinstance(triggers, list) and triggers and all(isinstance(t, str) for t in triggers)
    raw_head = (skill_dir / "SKILL.md").read_text(encoding="utf-8").split("\n---\n", 1)[0]
    assert "---" not in raw_head[3:]  # no fence-like sequence inside any value
    lines = body.strip().splitlines()
    assert 15 <= len(lines) <= 60
    for key in ("license", "compatibility", "allowed-tools"):
        if key in data:
            assert isinstance(data[key], str) and data[key]


def test_optional_fields_and_resources_are_exercised() -> None:
    metas = {p.name: _frontmatter(p)[0] for p in _skill_dirs()}
    assert any("allowed-tools" in m for m in metas.values())
    assert any("compatibility" in m for m in metas.values())
    lib = _library()
    assert (lib / "csv-data-cleaning" / "scripts" / "profile_csv.py").is_file()
    assert (lib / "postgres-migration-checklist" / "references" / "lock-levels.md").is_file()
    assert (lib / "incident-postmortem" / "assets" / "postmortem-template.md").is_file()


def test_readme_lists_every_skill() -> None:
    readme = (_library() / "README.md").read_text(encoding="utf-8")
    for name in EXPECTED:
        assert f"`{name}`" in readme


def test_resource_references_exist() -> None:
    """Every `scripts/...`, `references/...` or `assets/...` path a SKILL.md names exists."""
    for skill_dir in _skill_dirs():
        _, body = _frontmatter(skill_dir)
        for rel in re.findall(r"`((?:scripts|references|assets)/[\w./-]+)", body):
            assert (skill_dir / rel).is_file(), f"{skill_dir.name}: {rel}"


def test_profile_csv_script(tmp_path: Path) -> None:
    script = _library() / "csv-data-cleaning" / "scripts" / "profile_csv.py"
    data = tmp_path / "people.csv"
    data.write_text(
        "id;Name;amount;joined;zip\n"
        "1;Ann;1.5;2024-01-02;01234\n"
        "2; Bob ;3;2024-02-03;00501\n"
        "3;Ann;N/A;2024-03-04;00999\n"
        "\n"
        "4;Zoë;7;2024-04-05\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, str(script), str(data)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "delimiter: ';'" in text
    assert "rows: 4  columns: 5" in text
    assert "rows with a different field count: 1" in text
    assert "'id': integer" in text
    assert "'amount': float" in text and "blank: 1 of 4" in text
    assert "'joined': date" in text and "earliest: 2024-01-02" in text
    assert "'zip': text" in text  # leading zeros: identifiers, not numbers
    assert "'Zoë'" in text

    missing = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "error:" in missing.stderr
