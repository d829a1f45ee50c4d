"""The framework-neutral skill tools, on real folders and real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autoskill.errors import ConfigError, ResourceAccessError, ScriptExecutionError, SkillNotFoundError
from autoskill.skill.folder import load_skill_dir
from autoskill.skill.model import Skill
from autoskill.tools import SkillTools

posix_only = pytest.mark.skipif(os.name != "posix", reason="process groups and symlinks are POSIX here")

SKILL_MD = """\
---
name: demo-skill
description: "A demo skill for the tools tests."
---
# Demo

Follow the steps.
"""


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def resolver(*skills: Skill) -> Callable[[str], Skill | None]:
    by_name = {s.name: s for s in skills}
    return by_name.get


@pytest.fixture
def skill_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "skills" / "demo-skill"
    write(folder / "SKILL.md", SKILL_MD)
    write(folder / "references" / "guide.md", "# Guide\nUse it well.\n")
    write(folder / "assets" / "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    write(folder / "helper.py", "print('not a script location')\n")
    write(folder / "scripts" / "echo.py", """\
        import json, os, sys
        print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "stdin": sys.stdin.read(),
                          "skill_dir": os.environ.get("SKILL_DIR"), "env": sorted(os.environ)}))
        """)
    (tmp_path / "outside.txt").write_text("SECRET outside the skill\n", encoding="utf-8")
    return folder


@pytest.fixture
def folder_skill(skill_dir: Path) -> Skill:
    return load_skill_dir(skill_dir).skill


@pytest.fixture
def memory_skill() -> Skill:
    return Skill(
        name="memory-skill",
        description="Lives only in memory.",
        instructions="Do the in-memory thing.",
        resources={
            "references/notes.md": "in-memory notes",
            "assets/blob.bin": b"\x00\x01\x02",
            "scripts/hello.py": "import os, sys\nprint('hello', *sys.argv[1:]); print(os.getcwd())\n",
        },
    )


def tools_for(*skills: Skill, **options: object) -> SkillTools:
    return SkillTools(resolver(*skills), **options)  # type: ignore[arg-type]


# -- load / list / read ---------------------------------------------------------------------


def test_load_skill_from_folder(folder_skill: Skill) -> None:
    text = tools_for(folder_skill).load_skill("demo-skill")
    assert text.startswith("# Skill: demo-skill\n")
    assert "Description: A demo skill for the tools tests." in text
    assert "Version: 0.1.0" in text
    assert "Follow the steps." in text
    for rel in ("references/guide.md", "assets/logo.png", "scripts/echo.py", "helper.py"):
        assert f"- {rel}" in text
    assert "- SKILL.md" not in text
    assert "disabled" in text  # scripts exist but cannot run here


def test_list_and_read_folder_skill(folder_skill: Skill) -> None:
    tools = tools_for(folder_skill)
    assert tools.list_skill_resources("demo-skill") == [
        "assets/logo.png", "helper.py", "references/guide.md", "scripts/echo.py",
    ]
    assert tools.read_skill_resource("demo-skill", "references/guide.md") == "# Guide\nUse it well.\n"
    assert tools.read_skill_resource("demo-skill", "./references//guide.md").startswith("# Guide")
    note = tools.read_skill_resource("demo-skill", "assets/logo.png")
    assert "binary" in note and "PNG" not in note


def test_memory_skill_load_list_read(memory_skill: Skill) -> None:
    tools = tools_for(memory_skill)
    assert tools.list_skill_resources("memory-skill") == [
        "assets/blob.bin", "references/notes.md", "scripts/hello.py",
    ]
    text = tools.load_skill("memory-skill")
    assert "Do the in-memory thing." in text and "- references/notes.md" in text
    assert tools.read_skill_resource("memory-skill", "references/notes.md") == "in-memory notes"
    assert "binary" in tools.read_skill_resource("memory-skill", "assets/blob.bin")


def test_in_memory_resource_wins_over_folder(folder_skill: Skill) -> None:
    skill = folder_skill.evolve(resources={"references/guide.md": "newer text"})
    assert tools_for(skill).read_skill_resource("demo-skill", "references/guide.md") == "newer text"


def test_long_resource_is_cut_with_a_note(skill_dir: Path) -> None:
    write(skill_dir / "references" / "long.md", "x" * 5000)
    tools = tools_for(load_skill_dir(skill_dir).skill, max_resource_chars=100)
    text = tools.read_skill_resource("demo-skill", "references/long.md")
    assert text.startswith("x" * 100) and "x" * 101 not in text
    assert "truncated" in text


def test_unknown_skill_and_resource(folder_skill: Skill) -> None:
    tools = SkillTools(resolver(folder_skill), suggest=lambda n: "demo-skill")
    with pytest.raises(SkillNotFoundError, match="did you mean 'demo-skill'"):
        tools.load_skill("demo-skil")
    with pytest.raises(ResourceAccessError, match="no resource"):
        tools.read_skill_resource("demo-skill", "references/missing.md")


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "references/../../outside.txt", "/etc/passwd", "references/guide.md\x00.png", "..", ""],
)
def test_escaping_paths_are_refused(folder_skill: Skill, path: str) -> None:
    with pytest.raises(ResourceAccessError):
        tools_for(folder_skill).read_skill_resource("demo-skill", path)


def test_absolute_path_into_the_skill_is_still_refused(folder_skill: Skill, skill_dir: Path) -> None:
    with pytest.raises(ResourceAccessError, match="absolute"):
        tools_for(folder_skill).read_skill_resource("demo-skill", str(skill_dir / "references" / "guide.md"))


@posix_only
def test_symlinks_leaving_the_folder_are_refused(tmp_path: Path, skill_dir: Path) -> None:
    outside_dir = tmp_path / "elsewhere"
    write(outside_dir / "secret.md", "SECRET directory content")
    (skill_dir / "references" / "leak.md").symlink_to(tmp_path / "outside.txt")
    (skill_dir / "linked").symlink_to(outside_dir, target_is_directory=True)
    (skill_dir / "references" / "inside.md").symlink_to(skill_dir / "references" / "guide.md")
    tools = tools_for(load_skill_dir(skill_dir).skill, errors_as_text=False)

    listed = tools.list_skill_resources("demo-skill")
    assert "references/leak.md" not in listed and "linked/secret.md" not in listed
    for path in ("references/leak.md", "linked/secret.md"):
        with pytest.raises(ResourceAccessError, match="outside"):
            tools.read_skill_resource("demo-skill", path)
    # A link that stays inside the folder is an ordinary resource.
    assert tools.read_skill_resource("demo-skill", "references/inside.md").startswith("# Guide")


def test_nested_skill_files_are_not_resources(skill_dir: Path) -> None:
    write(skill_dir / "nested" / "SKILL.md", "---\nname: nested\ndescription: x\n---\nbody\n")
    write(skill_dir / "nested" / "notes.md", "nested notes")
    tools = tools_for(load_skill_dir(skill_dir).skill)
    assert "nested/notes.md" not in tools.list_skill_resources("demo-skill")
    with pytest.raises(ResourceAccessError):
        tools.read_skill_resource("demo-skill", "nested/notes.md")


def test_errors_as_text(folder_skill: Skill) -> None:
    tools = tools_for(folder_skill, errors_as_text=True)
    assert tools.load_skill("nope").startswith("Error: no skill 'nope'")
    assert tools.list_skill_resources("nope").startswith("Error: ")  # type: ignore[union-attr]
    assert tools.read_skill_resource("demo-skill", "../outside.txt").startswith("Error: ")
    assert "SECRET" not in tools.read_skill_resource("demo-skill", "../outside.txt")
    disabled = tools.execute_skill_script("demo-skill", "echo.py")
    assert isinstance(disabled, str) and disabled.startswith("Error: ") and "allow_scripts=True" in disabled


def test_bad_limits_are_a_config_error() -> None:
    with pytest.raises(ConfigError):
        SkillTools(resolver(), timeout=0)


# -- tool specs ------------------------------------------------------------------------------


def test_tool_specs(folder_skill: Skill) -> None:
    specs = tools_for(folder_skill).tool_specs()
    assert [s["name"] for s in specs] == ["load_skill", "list_skill_resources", "read_skill_resource"]
    for spec in specs:
        assert spec["description"] and callable(spec["callable"])
        assert spec["parameters"]["type"] == "object"
    assert specs[2]["parameters"]["required"] == ["name", "path"]
    assert specs[2]["callable"]("demo-skill", "references/guide.md").startswith("# Guide")

    enabled = tools_for(folder_skill, allow_scripts=True).tool_specs()
    assert enabled[-1]["name"] == "execute_skill_script"
    assert enabled[-1]["parameters"]["properties"]["args"]["type"] == "array"


# -- execution -----------------------------------------------------------------------------


def test_execution_is_disabled_by_default(folder_skill: Skill) -> None:
    with pytest.raises(ScriptExecutionError, match="allow_scripts=True"):
        tools_for(folder_skill).execute_skill_script("demo-skill", "scripts/echo.py")


def test_python_script_runs_with_args_stdin_in_skill_folder(folder_skill: Skill, skill_dir: Path) -> None:
    tools = tools_for(folder_skill, allow_scripts=True)
    result = tools.execute_skill_script("demo-skill", "scripts/echo.py", args=["a", "b c"], stdin="piped")
    assert result["returncode"] == 0, result["stderr"]
    assert result["timed_out"] is False and result["truncated"] is False
    data = json.loads(result["stdout"])
    assert data["argv"] == ["a", "b c"]
    assert data["stdin"] == "piped"
    assert os.path.realpath(data["cwd"]) == os.path.realpath(skill_dir)
    assert os.path.realpath(data["skill_dir"]) == os.path.realpath(skill_dir)
    # A minimal environment: nothing of the caller's beyond the basics.
    assert set(data["env"]) <= {"PATH", "HOME", "LANG", "SKILL_DIR", "PYTHONDONTWRITEBYTECODE", "LC_CTYPE"}
    # The bare file name means scripts/<name>; stdin is closed (empty) when not given.
    again = tools.execute_skill_script("demo-skill", "echo.py")
    assert json.loads(again["stdout"])["stdin"] == ""


def test_shell_metacharacters_are_literal(folder_skill: Skill, skill_dir: Path) -> None:
    victim = skill_dir / "x"
    victim.mkdir()
    tricky = ["; rm -rf x", "$(touch pwned)", "`id`", "a | b", "*", "&& echo hi", "'\"quoted\"'"]
    result = tools_for(folder_skill, allow_scripts=True).execute_skill_script("demo-skill", "echo.py", args=tricky)
    assert json.loads(result["stdout"])["argv"] == tricky
    assert victim.is_dir() and not (skill_dir / "pwned").exists()


def test_scripts_outside_scripts_folder_are_refused(tmp_path: Path, skill_dir: Path) -> None:
    write(skill_dir / "references" / "run.py", "print('no')\n")
    tools = tools_for(load_skill_dir(skill_dir).skill, allow_scripts=True)
    with pytest.raises(ScriptExecutionError, match="scripts/"):
        tools.execute_skill_script("demo-skill", "references/run.py")
    with pytest.raises(ScriptExecutionError, match="no script 'scripts/helper.py'"):
        tools.execute_skill_script("demo-skill", "helper.py")  # means scripts/helper.py
    with pytest.raises(ResourceAccessError):
        tools.execute_skill_script("demo-skill", "scripts/../helper.py")
    with pytest.raises(ResourceAccessError):
        tools.execute_skill_script("demo-skill", str(skill_dir / "scripts" / "echo.py"))


@posix_only
def test_script_links_leaving_scripts_folder_are_refused(tmp_path: Path, skill_dir: Path) -> None:
    marker = tmp_path / "ran"
    write(tmp_path / "evil.py", f"open({str(marker)!r}, 'w').write('x')\n")
    (skill_dir / "scripts" / "evil.py").symlink_to(tmp_path / "evil.py")
    (skill_dir / "scripts" / "up.py").symlink_to(skill_dir / "helper.py")
    tools = tools_for(load_skill_dir(skill_dir).skill, allow_scripts=True)
    for script in ("scripts/evil.py", "up.py"):
        with pytest.raises(ResourceAccessError):
            tools.execute_skill_script("demo-skill", script)
    assert not marker.exists()


def _state(pid: int) -> str | None:
    """The process state letter from /proc, or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@posix_only
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_timeout_kills_the_whole_process_group(tmp_path: Path, skill_dir: Path) -> None:
    pids = tmp_path / "pids.json"
    write(skill_dir / "scripts" / "sleepy.py", f"""\
        import json, os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open({str(pids)!r}, "w") as f:
            json.dump({{"pid": os.getpid(), "child": child.pid, "pgid": os.getpgid(0)}}, f)
        print("started", flush=True)
        time.sleep(60)
        """)
    tools = tools_for(load_skill_dir(skill_dir).skill, allow_scripts=True, timeout=1.5)
    started = time.monotonic()
    result = tools.execute_skill_script("demo-skill", "sleepy.py")
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 3
    assert result["timed_out"] is True
    assert result["returncode"] != 0
    assert "started" in result["stdout"]
    info = json.loads(pids.read_text())
    assert info["pgid"] == info["pid"] != os.getpgid(0)  # its own group, not ours
    deadline = time.monotonic() + 3
    while _state(info["child"]) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(info["child"]) in (None, "Z")  # the grandchild died with the group
    assert _state(info["pid"]) is None  # the script itself was reaped


@posix_only
@pytest.mark.skipif(not hasattr(os, "waitid"), reason="without waitid only a timeout kills the group")
def test_leftover_background_children_are_killed(tmp_path: Path, skill_dir: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    write(skill_dir / "scripts" / "bg.py", f"""\
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("done")
        """)
    result = tools_for(load_skill_dir(skill_dir).skill, allow_scripts=True).execute_skill_script("demo-skill", "bg.py")
    assert result["returncode"] == 0 and result["stdout"].strip() == "done"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while _state(child) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(child) in (None, "Z")


def test_huge_output_is_truncated(skill_dir: Path) -> None:
    write(skill_dir / "scripts" / "loud.py", """\
        import sys
        sys.stdout.write("o" * 2_000_000)
        sys.stderr.write("e" * 2_000_000)
        """)
    tools = tools_for(load_skill_dir(skill_dir).skill, allow_scripts=True, max_output_chars=1000)
    result = tools.execute_skill_script("demo-skill", "loud.py")
    assert result["returncode"] == 0
    assert result["truncated"] is True and result["timed_out"] is False
    assert result["stdout"].startswith("o" * 1000) and "o" * 1001 not in result["stdout"]
    assert result["stderr"].startswith("e" * 1000) and len(result["stderr"]) < 1100
    assert "truncated" in result["stdout"]


def test_nonzero_exit_is_reported_not_raised(skill_dir: Path) -> None:
    write(skill_dir / "scripts" / "fail.py", "import sys\nprint('bad input', file=sys.stderr)\nsys.exit(3)\n")
    result = tools_for(load_skill_dir(skill_dir).skill, allow_scripts=True).execute_skill_script("demo-skill", "fail.py")
    assert result["returncode"] == 3 and "bad input" in result["stderr"]


def test_memory_skill_script_runs_in_a_private_temp_folder(memory_skill: Skill) -> None:
    tools = tools_for(memory_skill, allow_scripts=True)
    result = tools.execute_skill_script("memory-skill", "hello.py", args=["world"])
    assert result["returncode"] == 0, result["stderr"]
    first, cwd = result["stdout"].splitlines()
    assert first == "hello world"
    assert Path(cwd).name == "memory-skill"
    assert not Path(cwd).exists()  # cleaned up


def test_shebang_and_extensions(skill_dir: Path) -> None:
    write(skill_dir / "scripts" / "noext", "#!/usr/bin/env python3\nimport sys\nprint('py', sys.argv[1])\n")
    write(skill_dir / "scripts" / "rmme", "#!/bin/rm -rf\n")
    write(skill_dir / "scripts" / "plain.txt", "print('x')\n")
    tools = tools_for(load_skill_dir(skill_dir).skill, allow_scripts=True)
    assert tools.execute_skill_script("demo-skill", "noext", args=["ok"])["stdout"].strip() == "py ok"
    with pytest.raises(ScriptExecutionError, match="not allowed"):
        tools.execute_skill_script("demo-skill", "rmme")
    assert (skill_dir / "scripts" / "rmme").exists()
    with pytest.raises(ScriptExecutionError, match="cannot tell how to run"):
        tools.execute_skill_script("demo-skill", "plain.txt")


@pytest.mark.skipif(shutil.which("bash") is None and shutil.which("sh") is None, reason="needs a shell")
def test_shell_script_runs_through_an_interpreter(skill_dir: Path) -> None:
    script = write(skill_dir / "scripts" / "hi.sh", 'echo "hi $1 from $(basename "$PWD")"\n')
    script.chmod(0o644)  # not executable: it still runs, through bash/sh
    result = tools_for(load_skill_dir(skill_dir).skill, allow_scripts=True).execute_skill_script(
        "demo-skill", "scripts/hi.sh", args=["there; ls"]
    )
    assert result["stdout"].strip() == "hi there; ls from demo-skill"


def test_bad_args_are_refused(folder_skill: Skill) -> None:
    tools = tools_for(folder_skill, allow_scripts=True)
    with pytest.raises(ScriptExecutionError, match="list of strings"):
        tools.execute_skill_script("demo-skill", "echo.py", args="a b")  # type: ignore[arg-type]
    with pytest.raises(ScriptExecutionError, match="NUL"):
        tools.execute_skill_script("demo-skill", "echo.py", args=["a\x00b"])


def test_import_does_not_load_frameworks() -> None:
    import subprocess

    code = (
        "import sys, autoskill.tools\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('langchain', 'langchain_core', 'llama_index')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
