"""Tests for autoskill.tokens: offline tiktoken loading, fallback, truncation."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoskill import tokens

SAMPLE = (
    "AutoSkill turns agent runs into reusable skills.\n"
    "Each skill is a folder with a SKILL.md file; retrieval injects the right ones.\n"
    "Non-ASCII text too: naïve café, 東京の天気, emoji 🚀, and code `x = f(y) + 1`."
)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Every test starts without loaded encodings or issued warnings."""
    tokens._clear_cache()
    yield
    tokens._clear_cache()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make any socket use fail loudly (pytest-socket when installed)."""
    try:
        import pytest_socket
    except ImportError:
        pytest_socket = None
    if pytest_socket is not None:
        pytest_socket.disable_socket()
        try:
            yield
        finally:
            pytest_socket.enable_socket()
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


@pytest.fixture
def hidden_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide every place an encoding could come from."""
    import tiktoken.registry

    monkeypatch.setattr(tokens, "_find_bundled_cache_dir", lambda: None)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})


def test_bundled_cache_dir_is_found_on_disk() -> None:
    folder = tokens._find_bundled_cache_dir()
    assert folder is not None
    # sha1 of the cl100k_base download URL, the name tiktoken's cache uses.
    assert (folder / "9b5ad71b2ce5302211f9c61530b329a4922fc6a4").is_file()


@pytest.mark.usefixtures("no_network")
def test_known_counts_offline() -> None:
    env_before = dict(os.environ)
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("hello world", "o200k_base") == 2
    assert tokens.count_tokens("") == 0
    enc = tokens.get_encoding("cl100k_base")
    assert enc is not None and enc.name == "cl100k_base"
    assert enc.encode("hello world") == [15339, 1917]
    assert tokens.count_tokens(SAMPLE) == len(enc.encode_ordinary(SAMPLE))
    assert enc.decode(enc.encode(SAMPLE)) == SAMPLE
    # The user's environment is left alone.
    assert dict(os.environ) == env_before


@pytest.mark.usefixtures("no_network")
def test_encoding_is_cached_and_model_names_resolve() -> None:
    first = tokens.get_encoding("cl100k_base")
    assert tokens.get_encoding("cl100k_base") is first
    assert tokens.get_encoding("gpt-4") is first
    o200k = tokens.get_encoding("gpt-4o")
    assert o200k is not None and o200k.name == "o200k_base"


def test_unknown_encoding_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown tiktoken encoding"):
        tokens.count_tokens("x", "no_such_encoding")


def test_special_token_text_is_counted_not_rejected() -> None:
    assert tokens.count_tokens("<|endoftext|>") > 1


def test_matches_tiktoken_itself(tmp_path: Path) -> None:
    """Our offline build tokenizes exactly like tiktoken reading the same files."""
    folder = tokens._find_bundled_cache_dir()
    assert folder is not None
    code = (
        "import json, sys, tiktoken\n"
        "text = sys.stdin.read()\n"
        "print(json.dumps({n: tiktoken.get_encoding(n).encode_ordinary(text)"
        " for n in ('cl100k_base', 'o200k_base')}))\n"
    )
    # TIKTOKEN_CACHE_DIR is set only in the child, pointing at the read-only bundled files.
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(folder)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=SAMPLE,
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    expected = json.loads(out.stdout)
    for name, ids in expected.items():
        enc = tokens.get_encoding(name)
        assert enc is not None
        assert enc.encode_ordinary(SAMPLE) == ids


def test_import_does_not_load_frameworks() -> None:
    code = (
        "import sys, autoskill.tokens\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('llama_index', 'langchain', 'langchain_core'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_counting_does_not_load_frameworks() -> None:
    code = (
        "import sys, autoskill.tokens as t\n"
        "assert t.count_tokens('hello world') == 2\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('llama_index', 'langchain', 'langchain_core'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


@pytest.mark.usefixtures("hidden_cache", "no_network")
def test_fallback_estimates_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.warns(RuntimeWarning, match="cl100k_base") as record:
        assert tokens.get_encoding("cl100k_base") is None
        assert tokens.count_tokens("abcdefgh") == 2
        assert tokens.count_tokens("hello world") == tokens.estimate_tokens("hello world")
        assert not tokens.TokenCounter().exact
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert "BPE file" in str(record[0].message)
    assert any("estimates" in r.getMessage() for r in caplog.records)


@pytest.mark.usefixtures("hidden_cache", "no_network")
def test_fallback_truncation_respects_budget() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        text = "word " * 200
        cut = tokens.truncate_to_tokens(text, 10)
        assert 0 < tokens.count_tokens(cut) <= 10
        assert text.startswith(cut)
        cjk = "東京の天気は晴れです。" * 10
        cut = tokens.truncate_to_tokens(cjk, 7)
        assert tokens.estimate_tokens(cut) <= 7 and cjk.startswith(cut)


def test_estimate_counts_cjk_per_character() -> None:
    assert tokens.estimate_tokens("") == 0
    assert tokens.estimate_tokens("abcd") == 1
    assert tokens.estimate_tokens("abcde") == 2
    assert tokens.estimate_tokens("東京") == 2
    assert tokens.estimate_tokens("한국어 text") == 3 + 2


@pytest.mark.parametrize("budget", [0, 1, 3, 7, 15, 31, 1000])
def test_truncation_respects_budget(budget: int) -> None:
    cut = tokens.truncate_to_tokens(SAMPLE, budget)
    assert tokens.count_tokens(cut) <= budget
    assert SAMPLE.startswith(cut)
    assert "\ufffd" not in cut
    if budget >= tokens.count_tokens(SAMPLE):
        assert cut == SAMPLE


def test_truncation_prefers_line_boundary_when_cheap() -> None:
    first = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    text = first + "\n" + "and then a long tail of words " * 20
    cut = tokens.truncate_to_tokens(text, tokens.count_tokens(first + "\nand then"))
    assert cut == first  # the line break is within ~20% of the exact cut


def test_truncation_keeps_token_cut_when_boundary_is_far() -> None:
    text = "short.\n" + "many words without a break " * 50
    cut = tokens.truncate_to_tokens(text, 100)
    assert tokens.count_tokens(cut) > 80
    assert "\n" in cut


def test_truncation_prefers_sentence_end() -> None:
    first = "A fairly long first sentence that goes on for quite a while."
    text = first + " Then a second one starts and runs on for many more words."
    budget = tokens.count_tokens(first + " Then a")
    assert tokens.truncate_to_tokens(text, budget) == first


def test_truncation_never_splits_a_character() -> None:
    text = "🚀" * 30
    for budget in range(1, 20):
        cut = tokens.truncate_to_tokens(text, budget)
        assert "\ufffd" not in cut and text.startswith(cut)
        assert tokens.count_tokens(cut) <= budget


def test_negative_budget_is_an_error() -> None:
    with pytest.raises(ValueError):
        tokens.truncate_to_tokens("x", -1)


def test_token_counter_budget_helper() -> None:
    counter = tokens.TokenCounter()
    assert counter("hello world") == 2
    assert counter.fits("hello world", 2)
    assert not counter.fits("hello world", 1)
    assert counter.exact
    assert counter.truncate("hello world", 1) == "hello"
    assert "cl100k_base" in repr(counter)
    assert tokens.TokenCounter("o200k_base")("hello world") == 2


def test_concurrent_first_use_loads_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        encs = list(pool.map(lambda _: tokens.get_encoding("cl100k_base"), range(16)))
    assert all(e is encs[0] for e in encs) and encs[0] is not None


def test_public_names() -> None:
    assert tokens.__all__ == sorted(tokens.__all__)
    assert set(tokens.__all__) == {
        "DEFAULT_ENCODING",
        "TokenCounter",
        "count_tokens",
        "estimate_tokens",
        "get_encoding",
        "truncate_to_tokens",
    }
