"""SkillToolkit and the optional dependencies of autoskill_lc."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from langchain_core.tools import BaseTool, BaseToolkit

from autoskill import AutoSkill, AutoSkillConfig
from autoskill_lc import SkillToolkit

from ._support import DEPLOY_STEPS, make_sdk


def sdk_with_script(tmp_path: Path) -> AutoSkill:
    folder = tmp_path / "library" / "greet"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text('---\nname: greet\ndescription: "Greet someone by name"\n---\n\n'
                                     "Run scripts/hello.py with the name.\n")
    (folder / "references").mkdir()
    (folder / "references" / "tone.md").write_text("Be warm.\n")
    (folder / "scripts" / "hello.py").write_text("import sys\nprint('hello', ' '.join(sys.argv[1:]))\n")
    sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 256},
                                    store={"provider": "local", "path": str(tmp_path / "store")}))
    sdk.import_skill_dirs(tmp_path / "library", user_id="alice")
    return sdk


def test_toolkit_offers_the_skill_tools_without_scripts_by_default() -> None:
    toolkit = SkillToolkit(sdk=make_sdk(), user_id="alice")
    assert isinstance(toolkit, BaseToolkit)
    tools = toolkit.get_tools()
    assert all(isinstance(t, BaseTool) for t in tools)
    assert [t.name for t in tools] == ["load_skill", "list_skill_resources", "read_skill_resource"]
    assert DEPLOY_STEPS in tools[0].invoke({"name": "deploy-service"})


def test_toolkit_reads_resources_and_runs_scripts_only_when_allowed(tmp_path: Path) -> None:
    sdk = sdk_with_script(tmp_path)
    tools = {t.name: t for t in SkillToolkit(sdk=sdk, user_id="alice").get_tools()}
    assert "references/tone.md" in tools["list_skill_resources"].invoke({"name": "greet"})
    assert tools["read_skill_resource"].invoke({"name": "greet", "path": "references/tone.md"}).startswith("Be warm.")
    assert "execute_skill_script" not in tools

    enabled = {t.name: t for t in SkillToolkit(sdk=sdk, user_id="alice", allow_scripts=True, timeout=20).get_tools()}
    result = enabled["execute_skill_script"].invoke({"name": "greet", "script": "hello.py", "args": ["Ada"]})
    assert result["returncode"] == 0 and result["stdout"].strip() == "hello Ada"
    escape = enabled["read_skill_resource"].invoke({"name": "greet", "path": "../../etc/passwd"})
    assert escape.startswith("Error:")


def test_importing_autoskill_lc_needs_neither_langchain_nor_langchain_classic() -> None:
    code = textwrap.dedent("""
        import sys
        for name in ("langchain", "langchain.agents", "langchain.agents.middleware",
                     "langchain_classic", "langchain_classic.base_memory"):
            sys.modules[name] = None  # as if not installed
        import autoskill_lc
        from autoskill import AutoSkill, AutoSkillConfig
        from autoskill.errors import MissingDependencyError
        from langchain_core.runnables import Runnable

        sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64}))
        memory = autoskill_lc.SkillMemory(sdk=sdk, user_id="u1")
        assert isinstance(memory, Runnable) and type(memory) is autoskill_lc.SkillMemory
        assert memory.invoke("anything") == ""
        for attempt in (lambda: autoskill_lc.SkillMemory.classic(sdk=sdk),
                        lambda: autoskill_lc.SkillMiddleware):
            try:
                attempt()
            except MissingDependencyError as exc:
                print(exc)
            else:
                raise SystemExit("expected MissingDependencyError")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert 'pip install "autoskill[classic]"' in lines[0]
    assert 'pip install "autoskill[agents]"' in lines[1]


def test_importing_autoskill_lc_loads_no_optional_package() -> None:
    code = ("import sys, autoskill_lc\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('langchain', 'langchain_classic', 'langgraph'))))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == ""
