"""Path safety of the skill tools through the facade, over a local store's real folders.

``sdk.tools(user_id=...)`` serves skills from ``Users/<user>/<skill>/`` and from imported
libraries under ``Common/``. Reading refuses ``..``, absolute paths and links leaving the
skill's folder; scripts are off by default and, when on, run without a shell, in the
skill's folder, with a timeout and an output cap.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.errors import ResourceAccessError, ScriptExecutionError, SkillNotFoundError
from autoskill.skill import Skill

SCRIPT = """\
import os, sys
print("cwd=" + os.getcwd())
print("args=" + "|".join(sys.argv[1:]))
print("stdin=" + sys.stdin.read())
"""
SPIN = "while True:\n    pass\n"
FLOOD = "import sys\nsys.stdout.write('x' * 2_000_000)\n"


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET outside the store")
    sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                    store={"provider": "local", "path": str(tmp_path / "store")}))
    mine = sdk.add(Skill(name="deploy-helper", description="Deploy with the helper scripts", user_id="alice",
                         instructions="1. run scripts/check.py", resources={
                             "scripts/check.py": SCRIPT, "scripts/spin.py": SPIN, "scripts/flood.py": FLOOD,
                             "references/guide.md": "the guide", "notes.txt": "top-level note"}))
    bobs = sdk.add(Skill(name="bobs-private", description="Bob's own", user_id="bob",
                         instructions="private", resources={"references/bob.md": "BOB PRIVATE"}))
    folder = tmp_path / "store" / "Users" / "alice" / "deploy-helper"
    # Links a hand (or an attacker with write access to the folder) might plant.
    os.symlink(outside / "secret.txt", folder / "references" / "leak.md")
    os.symlink(outside, folder / "references" / "outside-dir")
    os.symlink(tmp_path / "store" / "Users" / "bob" / "bobs-private" / "references" / "bob.md",
               folder / "references" / "bob-link.md")
    os.symlink(outside / "secret.txt", folder / "scripts" / "linked.py")
    # A library with its own script and a planted escaping link in the source folder.
    library = tmp_path / "lib-src"
    (library / "pdf-tools" / "scripts").mkdir(parents=True)
    (library / "pdf-tools" / "SKILL.md").write_text("---\nname: pdf-tools\ndescription: Work with PDF files\n---\n"
                                                    "Run scripts/info.py\n")
    (library / "pdf-tools" / "scripts" / "info.py").write_text(SCRIPT)
    (library / "pdf-tools" / "reference.md").write_text("library reference")
    os.symlink(outside / "secret.txt", library / "pdf-tools" / "leak.md")
    sdk.import_skill_dirs(library, scope="common", library="shared")
    yield sdk, mine, bobs, tmp_path
    sdk.close()


ESCAPES = ["../bobs-private/SKILL.md", "../../bob/bobs-private/references/bob.md", "../../../autoskill.json",
           "references/../../deploy-helper/../../../ledger.sqlite3", "/etc/passwd", "\\etc\\passwd",
           "C:\\Windows\\win.ini", "references/\x00guide.md", "references/leak.md", "references/outside-dir/secret.txt",
           "references/bob-link.md", "..", "", "   "]


def test_user_skill_resources_are_read_only_inside_its_folder(setup) -> None:  # type: ignore[no-untyped-def]
    sdk, mine, _, tmp_path = setup
    tools = sdk.tools(user_id="alice")
    assert tools.read_skill_resource("deploy-helper", "references/guide.md") == "the guide"
    assert tools.read_skill_resource("deploy-helper", "./notes.txt") == "top-level note"
    listed = tools.list_skill_resources("deploy-helper")
    assert "references/guide.md" in listed and not any("leak" in r or "outside" in r or "bob" in r for r in listed)
    absolute_inside = str(tmp_path / "store" / "Users" / "alice" / "deploy-helper" / "notes.txt")
    for path in [*ESCAPES, absolute_inside]:
        with pytest.raises(ResourceAccessError):
            tools.read_skill_resource("deploy-helper", path)
    text_tools = sdk.tools(user_id="alice", errors_as_text=True)
    for path in ESCAPES:
        answer = text_tools.read_skill_resource("deploy-helper", path)
        assert answer.startswith("Error:") and "TOP SECRET" not in answer and "BOB PRIVATE" not in answer


def test_other_users_skills_are_invisible_to_the_tools(setup) -> None:  # type: ignore[no-untyped-def]
    sdk, _, bobs, _ = setup
    tools = sdk.tools(user_id="alice")
    for key in ("bobs-private", bobs.id, "Bobs-Private"):
        with pytest.raises(SkillNotFoundError):
            tools.load_skill(key)
        with pytest.raises(SkillNotFoundError):
            tools.read_skill_resource(key, "references/bob.md")
    assert "BOB PRIVATE" in sdk.tools(user_id="bob").read_skill_resource("bobs-private", "references/bob.md")


def test_scripts_are_off_by_default(setup) -> None:  # type: ignore[no-untyped-def]
    sdk, *_ = setup
    with pytest.raises(ScriptExecutionError, match="disabled"):
        sdk.tools(user_id="alice").execute_skill_script("deploy-helper", "scripts/check.py")
    assert "execute_skill_script" not in {spec["name"] for spec in sdk.tools(user_id="alice").tool_specs()}


def test_enabled_scripts_run_without_a_shell_in_the_skill_folder_with_limits(setup) -> None:  # type: ignore[no-untyped-def]
    sdk, _, _, tmp_path = setup
    tools = sdk.tools(user_id="alice", allow_scripts=True, timeout=2, max_output_chars=5000)
    result = tools.execute_skill_script("deploy-helper", "scripts/check.py",
                                        args=["a b", "; rm -rf /", "$(whoami)", "`id`", "| cat"], stdin="hi")
    assert result["returncode"] == 0, result
    lines = dict(line.split("=", 1) for line in result["stdout"].splitlines() if "=" in line)
    folder = tmp_path / "store" / "Users" / "alice" / "deploy-helper"
    assert Path(lines["cwd"]).resolve() == folder.resolve()
    assert lines["args"] == "a b|; rm -rf /|$(whoami)|`id`|| cat"  # literal: no shell saw them
    assert lines["stdin"] == "hi"
    started = time.monotonic()
    spun = tools.execute_skill_script("deploy-helper", "spin.py")
    assert spun["timed_out"] and time.monotonic() - started < 15
    flooded = tools.execute_skill_script("deploy-helper", "scripts/flood.py")
    assert flooded["truncated"] and len(flooded["stdout"]) <= 5000 + 200
    for bad in ("../../bob/bobs-private/SKILL.md", "/bin/sh", "references/guide.md", "notes.txt",
                "scripts/../../bobs-private/x.py", "scripts/linked.py"):
        with pytest.raises((ResourceAccessError, ScriptExecutionError)):
            tools.execute_skill_script("deploy-helper", bad)


def test_imported_library_skill_is_served_from_common_and_stays_contained(setup) -> None:  # type: ignore[no-untyped-def]
    sdk, _, _, tmp_path = setup
    for user in ("alice", "bob", "someone-new"):
        tools = sdk.tools(user_id=user, allow_scripts=True, timeout=5)
        assert "Work with PDF files" in tools.load_skill("pdf-tools")
        assert tools.read_skill_resource("pdf-tools", "reference.md") == "library reference"
        assert "leak.md" not in tools.list_skill_resources("pdf-tools")  # the escaping link was not copied
        for path in ("leak.md", "../../../autoskill.json", "/etc/passwd", "../../../Users/bob/bobs-private/SKILL.md"):
            with pytest.raises(ResourceAccessError):
                tools.read_skill_resource("pdf-tools", path)
        result = tools.execute_skill_script("pdf-tools", "scripts/info.py", args=["x"])
        cwd = Path(result["stdout"].splitlines()[0].split("=", 1)[1]).resolve()
        assert cwd == (tmp_path / "store" / "Common" / "shared" / "pdf-tools").resolve()
    assert sys.executable  # scripts ran through an interpreter, never a shell
