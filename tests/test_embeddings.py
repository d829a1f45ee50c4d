"""Embedders: the hashing embedder, framework adapters, the factory and the provider registry."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest

from autoskill.embeddings import (
    BaseEmbedder,
    Embedder,
    HashingEmbedder,
    LangChainEmbedder,
    LlamaIndexEmbedder,
    create_embedder,
)
from autoskill.errors import (
    ConfigError,
    EmbeddingError,
    MissingDependencyError,
    ProviderNotFoundError,
)
from autoskill.providers import (
    available_providers,
    create_provider,
    register_provider,
    unregister_provider,
)
from autoskill.retrieval.text import STOPWORDS, tokenize, words

TEXTS = [
    "Deploy the web service to production with a canary rollout",
    "Before each release: run regression tests -> canary rollout -> monitor",
    "Write a polite follow-up email to a customer",
    "如何把服务部署到生产环境",
]


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))


# -- tokenizer ---------------------------------------------------------------------------


def test_words_normalises_case_width_and_contractions() -> None:
    assert words("Don't DEPLOY ｆｕｌｌｗｉｄｔｈ user_id") == [  # noqa: RUF001
        "dont",
        "deploy",
        "fullwidth",
        "user",
        "id",
    ]


def test_tokenize_splits_cjk_into_unigrams_and_bigrams() -> None:
    assert tokenize("部署服务") == ["部", "部署", "署", "署服", "服", "服务", "务"]
    mixed = tokenize("用python部署")
    assert "python" in mixed and "部署" in mixed


def test_tokenize_drops_stopwords_on_request() -> None:
    assert tokenize("how to deploy the service", drop_stopwords=True) == ["deploy", "service"]
    assert "the" in tokenize("the service")
    assert {"not", "never", "always"}.isdisjoint(STOPWORDS)


# -- hashing embedder --------------------------------------------------------------------


def test_hashing_shape_dtype_and_unit_rows() -> None:
    emb = HashingEmbedder(dims=128)
    matrix = emb.embed_documents(TEXTS)
    assert matrix.shape == (len(TEXTS), 128)
    assert matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    query = emb.embed_query(TEXTS[0])
    assert query.shape == (128,) and query.dtype == np.float32
    np.testing.assert_allclose(query, matrix[0], atol=1e-6)


def test_hashing_empty_inputs() -> None:
    emb = HashingEmbedder(dims=64)
    assert emb.embed_documents([]).shape == (0, 64)
    blank = emb.embed_documents(["", "  ?! "])
    assert blank.shape == (2, 64) and not blank.any()  # no tokens: zero rows, not NaN


def test_hashing_batches_agree_with_single_calls() -> None:
    emb = HashingEmbedder(dims=64, batch_size=2)
    batched = emb.embed_documents(TEXTS)
    singles = np.stack([emb.embed_query(t) for t in TEXTS])
    np.testing.assert_array_equal(batched, singles)


def test_hashing_identity_and_protocol() -> None:
    emb = HashingEmbedder(dims=256)
    assert emb.identity == "hashing-v1:256"
    assert emb.dims == 256
    assert isinstance(emb, Embedder)
    assert HashingEmbedder(dims=256, bigram_weight=0.0).identity != emb.identity


def test_hashing_rejects_bad_config() -> None:
    with pytest.raises(ConfigError):
        HashingEmbedder(dims=4)
    with pytest.raises(ConfigError):
        HashingEmbedder(char_ngrams=(5, 3))
    with pytest.raises(TypeError):
        HashingEmbedder().embed_documents("a single string")  # type: ignore[arg-type]


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    emb = HashingEmbedder()
    a, b, c = emb.embed_documents(
        [
            "deploy the web service to production",
            "deploying web services in production",
            "bake a chocolate cake with eggs and flour",
        ]
    )
    assert cos(a, b) > 0.4
    assert cos(a, b) > cos(a, c) + 0.3
    # Character n-grams make inflections close even with no shared whole word.
    x, y, z = emb.embed_documents(
        ["deploying services", "deployment of a service", "chocolate recipes"]
    )
    assert cos(x, y) > cos(x, z) + 0.2


def test_word_order_matters_through_bigrams() -> None:
    emb = HashingEmbedder()
    a, b, c = emb.embed_documents(
        ["unit tests then deploy", "unit tests then deploy", "deploy then tests unit"]
    )
    assert cos(a, b) == pytest.approx(1.0, abs=1e-6)
    assert cos(a, c) < 0.99


def test_cjk_texts() -> None:
    emb = HashingEmbedder()
    a, b, c = emb.embed_documents(
        ["如何把服务部署到生产环境", "部署服务到生产环境的步骤", "写一封礼貌的邮件给客户"]
    )
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert cos(a, b) > 0.4
    assert cos(a, b) > cos(a, c) + 0.3


def test_fullwidth_and_case_are_normalised() -> None:
    emb = HashingEmbedder()
    a, b = emb.embed_documents(["ＤＥＰＬＯＹ Service", "deploy service"])  # noqa: RUF001
    np.testing.assert_array_equal(a, b)


_SUBPROCESS_SCRIPT = """
import json, sys
from autoskill.embeddings import HashingEmbedder
m = HashingEmbedder(dims=64).embed_documents(json.loads(sys.argv[1]))
print(m.tobytes().hex())
"""


def test_hashing_is_deterministic_across_processes() -> None:
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", _SUBPROCESS_SCRIPT, json.dumps(TEXTS)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        )
        outputs.append(proc.stdout.strip())
    assert outputs[0] == outputs[1]
    here = HashingEmbedder(dims=64).embed_documents(TEXTS).tobytes().hex()
    assert outputs[0] == here


def test_hashing_is_fast_enough() -> None:
    # 100k short texts must take well under a minute; 20k here keeps the suite quick.
    rng = random.Random(0)
    letters = "abcdefghijklmnop"
    vocab = ["".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(5000)]
    texts = [" ".join(rng.choices(vocab, k=rng.randint(4, 11))) for _ in range(20_000)]
    start = time.perf_counter()
    HashingEmbedder().embed_documents(texts)
    assert time.perf_counter() - start < 10.0


async def test_async_methods_match_sync() -> None:
    emb = HashingEmbedder(dims=64)
    docs = await emb.aembed_documents(TEXTS)
    query = await emb.aembed_query(TEXTS[1])
    np.testing.assert_array_equal(docs, emb.embed_documents(TEXTS))
    np.testing.assert_array_equal(query, emb.embed_query(TEXTS[1]))


# -- adapters ----------------------------------------------------------------------------


def test_langchain_adapter_learns_dims_and_normalises() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    fake = DeterministicFakeEmbedding(size=16)
    emb = LangChainEmbedder(fake)
    assert isinstance(emb, BaseEmbedder)
    matrix = emb.embed_documents(["alpha", "beta"])
    assert matrix.shape == (2, 16) and matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    raw = np.asarray(fake.embed_documents(["alpha"])[0], dtype=np.float32)
    np.testing.assert_allclose(matrix[0], raw / np.linalg.norm(raw), atol=1e-6)
    assert emb.dims == 16
    assert emb.identity == "langchain:DeterministicFakeEmbedding:16"
    assert emb.embed_query("alpha").shape == (16,)
    assert emb.embed_documents([]).shape == (0, 16)


async def test_langchain_adapter_async() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    emb = LangChainEmbedder(DeterministicFakeEmbedding(size=8))
    docs = await emb.aembed_documents(["a", "b", "c"])
    query = await emb.aembed_query("a")
    assert docs.shape == (3, 8)
    np.testing.assert_allclose(query, docs[0], atol=1e-6)


def test_langchain_adapter_dims_probe_when_unknown() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    emb = LangChainEmbedder(DeterministicFakeEmbedding(size=12))
    assert emb.dims == 12  # probed with one query


class _BadEmbeddings:
    """A LangChain-shaped model that misbehaves in configurable ways."""

    model = "bad-model"

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def embed_documents(self, texts: list[str]) -> Any:
        if self.mode == "rows":
            return [[1.0, 0.0, 0.0]] * (len(texts) + 1)
        if self.mode == "nan":
            return [[float("nan"), 1.0, 0.0] for _ in texts]
        if self.mode == "ragged":
            return [[1.0, 0.0, 0.0], [1.0]][: len(texts)]
        if self.mode == "boom":
            raise RuntimeError("service unavailable")
        return [[1.0, 2.0, 2.0] for _ in texts]

    def embed_query(self, text: str) -> Any:
        if self.mode == "query2d":
            return [[1.0, 0.0, 0.0]]
        return [1.0, 2.0, 2.0]


@pytest.mark.parametrize(
    ("mode", "texts", "message"),
    [
        ("rows", ["a", "b"], "3 vectors for 2 texts"),
        ("nan", ["a"], "NaN"),
        ("ragged", ["a", "b"], "not numeric arrays"),
        ("boom", ["a"], "service unavailable"),
    ],
)
def test_langchain_adapter_shape_errors(mode: str, texts: list[str], message: str) -> None:
    emb = LangChainEmbedder(_BadEmbeddings(mode))
    with pytest.raises(EmbeddingError, match=message):
        emb.embed_documents(texts)


def test_adapter_checks_declared_dims_and_query_shape() -> None:
    with pytest.raises(EmbeddingError, match="expected 8"):
        LangChainEmbedder(_BadEmbeddings("ok"), dims=8).embed_documents(["a"])
    with pytest.raises(EmbeddingError):
        LangChainEmbedder(_BadEmbeddings("query2d")).embed_query("a")
    emb = LangChainEmbedder(_BadEmbeddings("ok"))
    np.testing.assert_allclose(emb.embed_query("q"), [1 / 3, 2 / 3, 2 / 3], atol=1e-6)
    assert emb.identity == "langchain:_BadEmbeddings/bad-model:3"


def test_llamaindex_adapter() -> None:
    from llama_index.core.embeddings import MockEmbedding

    emb = LlamaIndexEmbedder(MockEmbedding(embed_dim=8))
    assert emb.dims == 8  # from embed_dim, without calling the model
    assert emb.identity == "llamaindex:MockEmbedding:8"
    matrix = emb.embed_documents(["a", "b", "c"])
    assert matrix.shape == (3, 8) and matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    assert emb.embed_query("q").shape == (8,)

    async def run() -> tuple[np.ndarray, np.ndarray]:
        return await emb.aembed_documents(["a", "b"]), await emb.aembed_query("q")

    docs, query = asyncio.run(run())
    assert docs.shape == (2, 8) and query.shape == (8,)


def test_adapters_reject_objects_without_methods() -> None:
    with pytest.raises(TypeError):
        LangChainEmbedder(object())
    with pytest.raises(TypeError):
        LlamaIndexEmbedder(object())


# -- factory -----------------------------------------------------------------------------


def test_create_embedder_from_config_and_name() -> None:
    emb = create_embedder({"provider": "hashing", "dims": 128})
    assert isinstance(emb, HashingEmbedder) and emb.dims == 128
    assert create_embedder("hashing").identity == "hashing-v1:256"
    assert create_embedder({"provider": "HASHING"}).dims == 256
    assert create_embedder(emb) is emb


def test_create_embedder_wraps_framework_objects() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from llama_index.core.embeddings import MockEmbedding

    assert isinstance(create_embedder(DeterministicFakeEmbedding(size=8)), LangChainEmbedder)
    assert isinstance(create_embedder(MockEmbedding(embed_dim=8)), LlamaIndexEmbedder)


def test_create_embedder_errors() -> None:
    with pytest.raises(ProviderNotFoundError, match="hashing"):
        create_embedder({"provider": "nope"})
    with pytest.raises(ConfigError, match="dimz"):
        create_embedder({"provider": "hashing", "dimz": 3})
    with pytest.raises(ConfigError, match="provider"):
        create_embedder({"dims": 3})
    with pytest.raises(ConfigError):
        create_embedder(42)


_HAS_LANGCHAIN_OPENAI = importlib.util.find_spec("langchain_openai") is not None


@pytest.mark.skipif(_HAS_LANGCHAIN_OPENAI, reason="langchain-openai is installed")
@pytest.mark.parametrize("provider", ["openai", "glm"])
def test_missing_langchain_openai_gives_install_hint(provider: str) -> None:
    with pytest.raises(MissingDependencyError) as info:
        create_embedder({"provider": provider, "api_key": "sk-test"})
    assert 'pip install "autoskill[openai]"' in str(info.value)
    assert info.value.package == "langchain-openai"
    assert isinstance(info.value, ImportError)


def test_bigmodel_jwt_is_well_formed() -> None:
    import base64

    from autoskill.embeddings.factory import bigmodel_jwt

    token = bigmodel_jwt("myid.mysecret", ttl_seconds=60)
    _header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded["api_key"] == "myid" and decoded["exp"] > decoded["timestamp"]
    assert signature
    with pytest.raises(ConfigError):
        bigmodel_jwt("no-dot")


# -- provider registry -------------------------------------------------------------------


@pytest.fixture
def temp_provider() -> Any:
    names: list[tuple[str, str]] = []
    yield names
    for kind, name in names:
        unregister_provider(kind, name)


def test_registry_lists_builtins() -> None:
    assert {"glm", "hashing", "openai"} <= set(available_providers("embeddings"))


def test_registry_third_party_provider(temp_provider: list[tuple[str, str]]) -> None:
    temp_provider.append(("embeddings", "tiny"))

    @register_provider("embeddings", "tiny")
    def tiny(dims: int = 16, flavour: str = "plain") -> HashingEmbedder:
        return HashingEmbedder(dims=dims)

    assert "tiny" in available_providers("embeddings")
    assert create_embedder({"provider": "tiny", "dims": 32}).dims == 32
    with pytest.raises(ConfigError, match="colour"):
        create_provider("embeddings", {"provider": "tiny", "colour": "red"})
    with pytest.raises(ConfigError, match="already registered"):
        register_provider("embeddings", "tiny", lambda: None)
    register_provider("embeddings", "tiny", lambda: HashingEmbedder(dims=64), replace=True)
    assert create_embedder({"provider": "tiny"}).dims == 64


def test_registry_other_kinds_and_errors(temp_provider: list[tuple[str, str]]) -> None:
    temp_provider.append(("store", "dict-store"))
    register_provider("store", "dict-store", lambda path="x": {"path": path})
    assert create_provider("store", {"provider": "dict-store", "path": "p"}) == {"path": "p"}
    with pytest.raises(ProviderNotFoundError) as info:
        create_provider("llm", {"provider": "nope"})
    assert info.value.kind == "llm" and info.value.name == "nope"
    with pytest.raises(ConfigError, match="kind"):
        available_providers("embedding")
    with pytest.raises(ConfigError):
        create_provider("store", ["not", "a", "mapping"])  # type: ignore[arg-type]
    assert unregister_provider("store", "never-registered") is False


def test_importing_embeddings_stays_light() -> None:
    code = (
        "import sys, autoskill.embeddings, autoskill.providers, autoskill.retrieval;"
        "from autoskill.embeddings import create_embedder;"
        "create_embedder({'provider': 'hashing'}).embed_query('x');"
        "bad = [m for m in ('langchain_core', 'langchain', 'llama_index') if m in sys.modules];"
        "print(','.join(bad))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert proc.stdout.strip() == ""


def test_public_names_are_pinned() -> None:
    import autoskill.embeddings
    import autoskill.providers
    import autoskill.retrieval

    assert autoskill.embeddings.__all__ == [
        "BaseEmbedder",
        "Embedder",
        "HashingEmbedder",
        "LangChainEmbedder",
        "LlamaIndexEmbedder",
        "create_embedder",
    ]
    assert autoskill.providers.__all__ == [
        "KINDS",
        "ProviderFactory",
        "available_providers",
        "create_provider",
        "get_provider_factory",
        "register_provider",
        "unregister_provider",
    ]
    assert autoskill.retrieval.__all__ == ["BM25Index", "VectorIndex", "tokenize"]
    for module in (autoskill.embeddings, autoskill.providers, autoskill.retrieval):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_float32_vector_reads_lists_like_asarray() -> None:
    from autoskill.embeddings.base import float32_vector

    flat = [0.1, 2, -3.5, np.float64(1e-3)]
    assert float32_vector(flat).dtype == np.float32
    assert np.array_equal(float32_vector(flat), np.asarray(flat, dtype=np.float32))
    assert float32_vector([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)  # nested: asarray keeps the shape
    row = np.ones(3, dtype=np.float32)
    assert float32_vector(row) is row
    with pytest.raises(ValueError):
        float32_vector(["not", "numbers"])
