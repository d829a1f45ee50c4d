"""SKILL.md rendering and parsing: spec validity, round trips, lenient reading."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skills_ref.validator import validate

from autoskill.errors import SkillParseError
from autoskill.skill import Skill, load_skill_dir, parse_skill_md, read_skill_md, render_skill_md, write_skill_dir
from autoskill.skill.model import RESERVED_METADATA_KEYS
from autoskill.skill.normalize import clean_line
from autoskill.skill.skillmd import SPEC_KEYS, split_frontmatter

# Text that deliberately includes the characters that break naive SKILL.md writers.
_pieces = st.one_of(
    st.characters(blacklist_categories=("Cs",)),
    st.sampled_from([":", ": ", "---", "#", "\n", "<", ">", '"', "'", "\\", "-", " ", "\t", "|", ">-", "\r\n"]),
)
tricky_text = st.lists(_pieces, max_size=25).map("".join)
short_list = st.lists(tricky_text, max_size=4)
metadata_keys = st.text(min_size=1, max_size=12).filter(lambda k: k.strip() not in RESERVED_METADATA_KEYS)

skills = st.builds(
    Skill,
    name=tricky_text.filter(lambda s: bool(clean_line(s))),
    description=tricky_text,
    instructions=st.text(max_size=200),
    triggers=short_list,
    examples=short_list,
    tags=short_list,
    version=st.sampled_from(["0.1.0", "1.2.3", "2.0", "v3"]),
    user_id=st.one_of(st.none(), tricky_text),
    status=st.sampled_from(["active", "draft", "archived"]),
    aliases=short_list,
    when_to_use=tricky_text,
    paths=st.lists(st.sampled_from(["**/*.py", "src/*.R", "Dockerfile", "docs/**"]), max_size=3),
    allowed_tools=st.lists(st.sampled_from(["Read", "Bash(git status:*)", "Write", "Grep"]), max_size=3),
    license=tricky_text,
    compatibility=st.text(max_size=700),
    metadata=st.dictionaries(metadata_keys, tricky_text, max_size=3),
    provenance=st.lists(st.dictionaries(st.sampled_from(["source", "ref", "ts"]), tricky_text, max_size=3), max_size=2),
)


def _skill_is_valid_file(skill: Skill, root: Path) -> list[str]:
    folder = write_skill_dir(skill, root, fsync=False)
    return validate(folder)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(skill=skills)
def test_render_parse_round_trip(skill: Skill) -> None:
    text = render_skill_md(skill)
    assert parse_skill_md(text) == skill
    assert Skill.from_trusted_dict(skill.to_dict()) == skill == Skill.from_dict(skill.to_dict())
    frontmatter, _ = split_frontmatter(text)
    keys = set(yaml.safe_load(frontmatter))
    assert keys <= set(SPEC_KEYS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(skill=skills)
def test_every_rendered_skill_passes_the_reference_validator(skill: Skill, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("render")
    assert _skill_is_valid_file(skill, root) == []


def test_normalisation_on_creation() -> None:
    skill = Skill(name="Release Flow!", description="a <b> " + "x" * 2000, compatibility="c" * 900)
    assert skill.name == "release-flow"
    assert skill.display_name == "Release Flow!"
    assert len(skill.description) <= 1024
    assert "<" not in skill.description and ">" not in skill.description
    assert skill.description_full is not None and skill.description_full.startswith("a <b> ")
    assert len(skill.compatibility) == 500
    assert skill.version == "0.1.0"


def test_non_ascii_name_is_slugged_and_kept_for_display(tmp_path: Path) -> None:
    skill = Skill(name="发布流程", description="发布前的步骤", instructions="1. 回归测试\n2. 灰度发布")
    assert skill.name.startswith("skill-") and skill.display_name == "发布流程"
    assert _skill_is_valid_file(skill, tmp_path) == []
    accented = Skill(name="Café Menü", description="d")
    assert accented.name == "cafe-menu"


def test_values_with_colons_and_dashes_survive(tmp_path: Path) -> None:
    skill = Skill(
        name="x",
        description="Use when: a --- b --- c",
        when_to_use="key: value\n---\nmore",
        metadata={"note": "---", "a: b": "c: d"},
    )
    assert parse_skill_md(render_skill_md(skill)) == skill
    assert _skill_is_valid_file(skill, tmp_path) == []


@pytest.mark.parametrize("key", ["00", "1.5", "true", "No", "null", "y", "~", "-x", ".5"])
def test_metadata_keys_yaml_would_retype_survive(key: str, tmp_path: Path) -> None:
    skill = Skill(name="k", description="d", metadata={key: "v"})
    assert parse_skill_md(render_skill_md(skill)).metadata == {key: "v"}
    assert _skill_is_valid_file(skill, tmp_path) == []


def test_reserved_metadata_key_is_an_error_naming_the_field() -> None:
    from autoskill.errors import SkillValidationError

    with pytest.raises(SkillValidationError, match="metadata.version"):
        Skill(name="x", description="d", metadata={"version": "1"})


def test_invalid_status_names_the_field() -> None:
    from autoskill.errors import SkillValidationError

    with pytest.raises(SkillValidationError, match="'status'"):
        Skill(name="x", description="d", status="bogus")


# -- lenient reading ------------------------------------------------------------------------


def test_unquoted_colon_gets_a_retry_with_a_warning() -> None:
    text = "---\nname: pdf\ndescription: Use when: the user has a PDF\n  and wants text\n---\nBody\n"
    parsed = read_skill_md(text, source="x/SKILL.md")
    assert parsed.skill.description == "Use when: the user has a PDF and wants text"
    assert any("quoting" in w for w in parsed.warnings)


def test_bom_and_crlf() -> None:
    text = "\ufeff---\r\nname: a\r\ndescription: b\r\n---\r\nline 1\r\nline 2\r\n"
    skill = parse_skill_md(text)
    assert skill.instructions == "line 1\nline 2"


def test_seed_older_layout() -> None:
    text = (
        '---\nid: "abc-123"\nname: "release flow"\ndescription: "Release safely"\nversion: "0.1.2"\n'
        'tags:\n  - "ops"\ntriggers:\n  - "how do I release"\n---\n\n# release flow\n\nRelease safely\n\n'
        "## Prompt\n\n1. run regression tests\n2. canary rollout\n\n## Triggers\n\n- how do I release\n"
    )
    skill = parse_skill_md(text)
    assert skill.id == "abc-123"
    assert skill.name == "release-flow"
    assert skill.version == "0.1.2"
    assert skill.tags == ("ops",)
    assert skill.triggers == ("how do I release",)
    assert skill.instructions == "1. run regression tests\n2. canary rollout"


def test_agent_extension_keys() -> None:
    text = (
        "---\nname: r-data\ndescription: R data work\naliases: [rdata, R Data]\n"
        "when-to-use: When the user edits R files\npaths:\n  - '**/*.R'\nallowed-tools: Read Bash(Rscript:*)\n"
        "author: someone\nrequires:\n  bins: [R]\n---\nDo it.\n"
    )
    skill = parse_skill_md(text)
    assert skill.aliases == ("rdata", "R Data")
    assert skill.when_to_use == "When the user edits R files"
    assert skill.paths == ("**/*.R",)
    assert skill.allowed_tools == ("Read", "Bash(Rscript:*)")
    assert skill.metadata["author"] == "someone"
    assert skill.metadata["requires"] == '{"bins": ["R"]}'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no frontmatter here", "no YAML frontmatter"),
        ("---\nname: x\n---\nbody", "missing description"),
        ("---\nname: [unclosed\ndescription: d\n---\n", "invalid YAML"),
        ("---\n- a\n- b\n---\n", "not a mapping"),
        ("---\na: &x [1]\nb: *x\ndescription: d\n---\n", "aliases are not allowed"),
    ],
)
def test_unusable_files_raise_naming_the_file(text: str, reason: str) -> None:
    with pytest.raises(SkillParseError, match=reason) as info:
        read_skill_md(text, source="lib/bad/SKILL.md")
    assert "lib/bad/SKILL.md" in str(info.value)


def test_missing_name_uses_the_folder_with_a_warning() -> None:
    parsed = read_skill_md("---\ndescription: d\n---\n", source="s", dir_name="my-skill")
    assert parsed.skill.name == "my-skill"
    assert any("folder name" in w for w in parsed.warnings)


def test_name_differing_from_folder_is_a_warning() -> None:
    parsed = read_skill_md("---\nname: other\ndescription: d\n---\n", source="s", dir_name="folder")
    assert parsed.skill.name == "other"
    assert any("differs from its folder" in w for w in parsed.warnings)


def test_lowercase_skill_md_and_resources(tmp_path: Path) -> None:
    folder = tmp_path / "lower"
    (folder / "scripts").mkdir(parents=True)
    (folder / "skill.md").write_text("---\nname: lower\ndescription: d\n---\nbody\n")
    (folder / "scripts" / "run.py").write_text("print('hi')\n")
    (folder / "references").mkdir()
    (folder / "references" / "guide.md").write_text("# guide\n")
    parsed = load_skill_dir(folder)
    assert parsed.skill.name == "lower"
    assert any("spelt" in w for w in parsed.warnings)
    exported = write_skill_dir(parsed.skill, tmp_path / "out")
    assert (exported / "scripts" / "run.py").read_text() == "print('hi')\n"
    assert (exported / "references" / "guide.md").read_text() == "# guide\n"
    assert validate(exported) == []
    # The library we only read is untouched.
    assert not (folder / "SKILL.md").exists() or (folder / "SKILL.md").samefile(folder / "skill.md")
    assert (folder / "skill.md").read_text() == "---\nname: lower\ndescription: d\n---\nbody\n"


def test_binary_and_oversized_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "bin"
    binary.mkdir()
    (binary / "SKILL.md").write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(SkillParseError, match="binary"):
        load_skill_dir(binary)


def test_in_memory_resources_are_written_and_contained(tmp_path: Path) -> None:
    from autoskill.errors import ResourceAccessError

    skill = Skill(name="s", description="d", resources={"scripts/a.sh": "echo hi\n"})
    out = write_skill_dir(skill, tmp_path)
    assert (out / "scripts" / "a.sh").read_text() == "echo hi\n"
    with pytest.raises(ResourceAccessError):
        write_skill_dir(Skill(name="t", description="d", resources={"../escape.txt": "x"}), tmp_path)
    assert not (tmp_path / "escape.txt").exists()
