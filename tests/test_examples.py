"""Every example runs as a user runs it (``python -m examples.<name>`` from the repo root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OFFLINE = ["basic_ingest_search", "local_persistent_store", "personalized_email_demo"]
PROVIDERS = ["openai_provider", "anthropic_provider", "bigmodel_glm_persistent_store", "bigmodel_glm_embed_extract"]


def run_module(module: str, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
               cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    environment.update(env or {})
    environment["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", module, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=environment, timeout=300)


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_examples_run(name: str, tmp_path: Path) -> None:
    args = ["--store-dir", str(tmp_path / "store")] if name == "local_persistent_store" else []
    result = run_module(f"examples.{name}", *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_personalized_email_demo_shows_the_skill_evolving() -> None:
    result = run_module("examples.personalized_email_demo")
    assert "v0.1.0: learned" in result.stdout and "v0.2.0: merged" in result.stdout
    assert "Mention the deadline" in result.stdout


def test_import_agent_skills_example(tmp_path: Path) -> None:
    library = REPO / "autoskill" / "library"
    result = run_module("examples.import_agent_skills", "--root-dir", str(library), "--scope", "common",
                        "--store-dir", str(tmp_path / "store"))
    assert result.returncode == 0, result.stderr
    assert "imported 6 skill(s)" in result.stdout


@pytest.mark.parametrize("name", PROVIDERS)
def test_provider_examples_without_a_key_exit_with_a_clear_message(name: str) -> None:
    result = run_module(f"examples.{name}")
    assert result.returncode == 2
    assert "_API_KEY" in result.stderr and "pip install" in result.stderr


@pytest.mark.parametrize("name", ["openai_provider", "bigmodel_glm_embed_extract"])
def test_provider_examples_with_a_key_but_no_package_say_what_to_install(name: str) -> None:
    key = "OPENAI_API_KEY" if "openai" in name else "ZHIPUAI_API_KEY"
    result = run_module(f"examples.{name}", env={key: "not-a-real-key"})
    assert result.returncode == 2
    assert "pip install" in result.stderr and "langchain-openai" in result.stderr


CHAT_SCRIPT = ("Before each release: run regression tests -> canary rollout -> monitor -> full rollout.\n"
               "thanks, that worked\nHow should I do a release?\n/skills\n/quit\n")


@pytest.mark.parametrize("command", [["-m", "examples.interactive_chat"], ["-m", "autoskill.cli", "chat"]])
def test_piped_chat_learns_the_release_skill_and_retrieves_it(command: list[str], tmp_path: Path) -> None:
    result = run_module(command[1], *command[2:], "--llm-provider", "mock", "--store-dir", "./chat-store",
                        stdin=CHAT_SCRIPT, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[learned skill release-workflow v0.1.0]" in out
    last_question = out.split("user> How should I do a release?")[1]
    assert "[retrieved: release-workflow" in last_question
    assert "1. Run regression tests" in last_question
    assert (tmp_path / "chat-store" / "Users" / "default" / "release-workflow" / "SKILL.md").exists()


def test_chat_with_a_missing_provider_package_exits_clearly(tmp_path: Path) -> None:
    result = run_module("examples.interactive_chat", "--llm-provider", "openai", "--store-dir", "s",
                        stdin="/quit\n", cwd=tmp_path, env={"OPENAI_API_KEY": "x"})
    assert result.returncode == 2 and "pip install" in result.stderr


def test_chat_commands(tmp_path: Path) -> None:
    script = ("Before each deploy: build -> test -> ship\n/pending\n/extract\n/list\n/pause\n/resume\n"
              f"/export {tmp_path / 'out'}\n/bogus\n/help\n/quit\n")
    result = run_module("examples.interactive_chat", "--store-dir", "s", stdin=script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 turn(s) waiting for feedback" in result.stdout
    assert "[learned 1 skill(s): deploy-workflow]" in result.stdout
    assert "[wrote 1 skill folder(s)" in result.stdout and "unknown command /bogus" in result.stdout
    assert (tmp_path / "out" / "deploy-workflow" / "SKILL.md").exists()
