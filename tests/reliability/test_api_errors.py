"""Bad input to the API gets a clear ``AutoSkillError`` subclass naming the problem.

Wrong types, empty or huge messages, unknown providers, missing optional packages,
corrupt config files, corrupt ledgers and manifests, a store built by another embedder.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.errors import (
    AutoSkillError,
    ConfigError,
    EmbedderMismatchError,
    InvalidEventError,
    MissingDependencyError,
    ProviderNotFoundError,
    ReadOnlyScopeError,
    SkillNotFoundError,
    StoreCorruptError,
    StoreError,
)
from autoskill.skill import Skill

HASHING = {"provider": "hashing", "dims": 64}


@pytest.fixture(scope="module")
def sdk() -> AutoSkill:
    client = AutoSkill(AutoSkillConfig(embeddings=HASHING))
    client.add(Skill(name="known", description="A known skill", user_id="u1"))
    client.capture([{"type": "message", "role": "user", "content": "Deploy: a -> b -> c", "run_id": "r1"}],
                   thread_id="t1", user_id="u1")
    return client


CASES: list[tuple[str, Callable[[AutoSkill], Any], type[AutoSkillError], str]] = [
    ("ingest text", lambda s: s.ingest(messages="hello"), ConfigError, "list of messages"),
    ("ingest dict", lambda s: s.ingest(messages={"role": "user", "content": "x"}), ConfigError, "list of messages"),
    ("ingest nothing", lambda s: s.ingest(), ConfigError, "messages=... or events=..."),
    ("ingest list of str", lambda s: s.ingest(messages=["hello"]), InvalidEventError, "messages[0]"),
    ("ingest bad role", lambda s: s.ingest(messages=[{"role": 3, "content": "x"}]), InvalidEventError, "role"),
    ("ingest bad content", lambda s: s.ingest(messages=[{"role": "user", "content": 3}]), InvalidEventError,
     "content"),
    ("ingest events text", lambda s: s.ingest(events="x"), ConfigError, "list of event dicts"),
    ("ingest user 5", lambda s: s.ingest(messages=[], user_id=5), ConfigError, "user_id"),
    ("capture text", lambda s: s.capture("hello"), ConfigError, "list of event dicts"),
    ("search 123", lambda s: s.search(123), ConfigError, "query must be a string"),
    ("search None", lambda s: s.search(None), ConfigError, "query must be a string"),
    ("search user 5", lambda s: s.search("x", user_id=5), ConfigError, "user_id"),
    ("search limit -1", lambda s: s.search("x", limit=-1), ConfigError, "limit"),
    ("search limit 2.5", lambda s: s.search("x", limit=2.5), ConfigError, "limit"),
    ("search limit True", lambda s: s.search("x", limit=True), ConfigError, "limit"),
    ("search scope", lambda s: s.search("x", scope="everything"), ConfigError, "scope"),
    ("search min_score", lambda s: s.search("x", min_score=2), ConfigError, "min_score"),
    ("render max_tokens", lambda s: s.render_context("x", max_tokens=-5), ConfigError, "max_tokens"),
    ("render query", lambda s: s.render_context(b"x"), ConfigError, "query must be a string"),
    ("list user", lambda s: s.list(user_id=["u1"]), ConfigError, "user_id"),
    ("get int", lambda s: s.get(5), ConfigError, "skill id must be a string"),
    ("delete None", lambda s: s.delete(None), ConfigError, "skill id must be a string"),
    ("add dict", lambda s: s.add({"name": "x"}), ConfigError, "takes a Skill"),
    ("add library", lambda s: s.add(Skill(name="x", description="d", scope="library", library="l")),
     ReadOnlyScopeError, "explicit library import"),
    ("history unknown", lambda s: s.history("nope"), SkillNotFoundError, "nope"),
    ("rollback unknown version", lambda s: s.rollback(s.list("u1")[0].id, "9.9.9"), SkillNotFoundError, "9.9.9"),
    ("feedback unknown run", lambda s: s.feedback("no-such-run", score=1), AutoSkillError, "no-such-run"),
    ("feedback bad score", lambda s: s.feedback("r1", score="great"), ConfigError, "score"),
    ("feedback out of range", lambda s: s.feedback("r1", score=3), ConfigError, "[-1, 1]"),
    ("import missing", lambda s: s.import_skill_dirs("/no/such/folder"), ConfigError, "does not exist"),
    ("import scope", lambda s: s.import_skill_dirs(".", scope="world"), ConfigError, "scope"),
    ("tools timeout", lambda s: s.tools(timeout=0), ConfigError, "timeout"),
    ("tools user", lambda s: s.tools(user_id=7), ConfigError, "user_id"),
    ("resolve int", lambda s: s.resolve(7), ConfigError, "string"),
]


@pytest.mark.parametrize(("label", "call", "error", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_calls_raise_a_named_autoskill_error(sdk: AutoSkill, label: str, call: Callable[[AutoSkill], Any],
                                                 error: type[AutoSkillError], words: str) -> None:
    with pytest.raises(error) as info:
        call(sdk)
    assert words.lower() in str(info.value).lower(), str(info.value)


CONFIGS: list[tuple[str, Callable[[], Any], type[AutoSkillError], str]] = [
    ("config dict", lambda: AutoSkill(config={"store": {"provider": "inmemory"}}), ConfigError, "AutoSkillConfig"),
    ("store section string", lambda: AutoSkill(store="local"), ConfigError, "'store'"),
    ("store section list", lambda: AutoSkillConfig(store=["local"]), ConfigError, "'store'"),
    ("section without provider", lambda: AutoSkillConfig(store={"path": "x"}), ConfigError, "provider"),
    ("unknown store", lambda: AutoSkill(store={"provider": "redis"}), ProviderNotFoundError, "redis"),
    ("unknown llm", lambda: AutoSkill(llm={"provider": "gpt-9"}), ProviderNotFoundError, "gpt-9"),
    ("unknown embeddings", lambda: AutoSkill(embeddings={"provider": "nope"}), ProviderNotFoundError, "nope"),
    ("missing package", lambda: AutoSkill(llm={"provider": "anthropic", "api_key": "x"}), MissingDependencyError,
     "pip install"),
    ("bad store option", lambda: AutoSkill(store={"provider": "local", "path": "x", "colour": 1}), ConfigError,
     "colour"),
    ("unknown keyword", lambda: AutoSkill(colour="red"), ConfigError, "colour"),
    ("strategy", lambda: AutoSkill(maintenance_strategy="magic"), ConfigError, "maintenance_strategy"),
    ("learning option", lambda: AutoSkill(learning={"window_ttl_seconds": "soon"}), ConfigError, "learning"),
    ("redaction kind", lambda: AutoSkill(redaction={"kinds": ["nope"]}), ConfigError, "redaction kind"),
    ("dims", lambda: AutoSkill(embeddings={"provider": "hashing", "dims": "big"}), ConfigError, "dims"),
    ("yaml garbage", lambda: AutoSkillConfig.from_yaml("store: [1, 2"), ConfigError, "YAML"),
    ("yaml list", lambda: AutoSkillConfig.from_yaml("- 1\n- 2\n"), ConfigError, "mapping"),
    ("yaml unknown key", lambda: AutoSkillConfig.from_yaml("stores: {provider: local}\n"), ConfigError, "stores"),
]


@pytest.mark.parametrize(("label", "call", "error", "words"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_bad_configuration_raises_a_named_error(label: str, call: Callable[[], Any], error: type[AutoSkillError],
                                                words: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert words.lower() in str(info.value).lower(), str(info.value)


def test_corrupt_config_files(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage\x00")
    with pytest.raises(ConfigError, match="UTF-8"):
        AutoSkillConfig.from_yaml(binary)
    truncated = tmp_path / "truncated.yaml"
    truncated.write_text("store:\n  provider: local\n  path: [unclosed\n")
    with pytest.raises(ConfigError, match="YAML"):
        AutoSkillConfig.from_yaml(truncated)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("llm: 5\n")
    with pytest.raises(ConfigError, match="'llm'"):
        AutoSkillConfig.from_yaml(wrong)


def _local(path: Path, **embeddings: Any) -> AutoSkill:
    return AutoSkill(AutoSkillConfig(embeddings={**HASHING, **embeddings},
                                     store={"provider": "local", "path": str(path)}))


@pytest.fixture
def filled_store(tmp_path: Path) -> Path:
    with _local(tmp_path / "store") as sdk:
        for i in range(150):
            sdk.add(Skill(name=f"skill-{i}", description="d " * 200, instructions="x " * 400, user_id="u1"))
    return tmp_path / "store"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "scrambled pages", "empty-manifest", "list-manifest",
                                    "broken-manifest"])
def test_corrupt_store_files_raise_store_corrupt_error(filled_store: Path, damage: str) -> None:
    ledger, manifest = filled_store / "ledger.sqlite3", filled_store / "autoskill.json"
    data = ledger.read_bytes()
    if damage == "garbage":
        ledger.write_bytes(b"this is not a database " * 500)
    elif damage == "truncated":
        ledger.write_bytes(data[: len(data) // 2])
    elif damage == "scrambled pages":
        ledger.write_bytes(data[:4096] + os.urandom(len(data) - 4096))
    elif damage == "empty-manifest":
        manifest.write_text("")
    elif damage == "list-manifest":
        manifest.write_text("[1, 2]")
    else:
        manifest.write_text('{"embedder": ')
    with pytest.raises(StoreCorruptError) as info:
        _local(filled_store).list("u1")
    assert ("ledger" in str(info.value)) or ("manifest" in str(info.value))


def test_a_store_of_another_embedder_is_refused_with_the_way_out(filled_store: Path) -> None:
    with pytest.raises(EmbedderMismatchError, match="reembed"):
        _local(filled_store, dims=128)
    assert json.loads((filled_store / "autoskill.json").read_text())["dims"] == 64  # nothing was changed


def test_a_store_path_that_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot be used"):
        _local(tmp_path / "file")
    with pytest.raises(StoreError):
        _local(tmp_path / "file" / "below")


def test_empty_and_huge_messages_neither_fail_nor_stall(sdk: AutoSkill) -> None:
    assert sdk.ingest(messages=[]) == []
    assert sdk.ingest(messages=[{"role": "user", "content": ""}, {"role": "user", "content": None}]) == []
    huge = "Deploy: " + " -> ".join(f"step {i}" for i in range(1_500_000))  # about 15 MB
    started = time.monotonic()
    learned = sdk.ingest(messages=[{"role": "user", "content": huge}], user_id="big")
    assert time.monotonic() - started < 10
    assert all(len(s.instructions) <= 200_000 for s in learned)  # bounded by the cap
    started = time.monotonic()
    assert isinstance(sdk.search(huge, user_id="big"), list)
    assert isinstance(sdk.render_context(huge, user_id="big", max_tokens=200), str)
    sdk.capture([{"type": "message", "role": "user", "content": huge, "run_id": "huge-run"}], user_id="big")
    assert time.monotonic() - started < 10


def test_a_corrupt_ledger_is_named_by_the_doctor_too(filled_store: Path) -> None:
    from autoskill.store.doctor import check_store

    ledger = filled_store / "ledger.sqlite3"
    data = ledger.read_bytes()
    ledger.write_bytes(data[:8192] + b"\x00" * 4096 + data[12288:])
    report = check_store(filled_store)
    assert not report.ok
    assert any(f.kind == "ledger" and not f.repairable for f in report.problems), report.problems
    with sqlite3.connect(str(ledger)) as conn:  # the doctor changed nothing
        assert conn is not None
