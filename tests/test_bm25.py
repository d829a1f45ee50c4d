"""BM25 over weighted fields: ranking, incremental updates, bounds, speed."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoskill.retrieval import BM25Index
from autoskill.retrieval.text import tokenize

DOCS = {
    "release": {
        "name": "release-checklist",
        "description": "Run regression tests, then a canary rollout, then monitor.",
        "tags": ["release", "deploy"],
        "instructions": "1. Run regression tests\n2. Canary rollout\n3. Monitor\n4. Full rollout",
    },
    "email": {
        "name": "polite-email",
        "description": "Write short, polite follow-up emails to customers.",
        "tags": ["writing"],
        "instructions": "Keep it under five sentences. Mention the release date if asked.",
    },
    "pdf": {
        "name": "pdf-tools",
        "description": "Extract text and tables from PDF files.",
        "instructions": "Use pdfplumber for tables.",
    },
    "zh": {"name": "deploy-zh", "description": "如何把服务部署到生产环境"},
}


def build(docs: Mapping[str, Mapping[str, object]] = DOCS, **kwargs: object) -> BM25Index:
    index = BM25Index(**kwargs)  # type: ignore[arg-type]
    for doc_id, fields in docs.items():
        index.add(doc_id, fields)
    return index


def test_ranks_field_matches_by_weight() -> None:
    index = build()
    top = index.top("release", 3)
    # "release" is in the name/tags of one doc and only the instructions of another.
    assert [d for d, _ in top] == ["release", "email"]
    assert top[0][1] > top[1][1] > 0


def test_score_only_returns_matching_docs() -> None:
    index = build()
    scores = index.score("extract tables from a pdf")
    assert set(scores) == {"pdf"}
    assert index.score("") == {} and index.score("the of and") == {}
    assert index.score("zzzz unknown words") == {}


def test_cjk_query() -> None:
    index = build()
    assert index.top("服务部署", 1)[0][0] == "zh"


def test_normalised_score_is_absolute_and_bounded() -> None:
    index = build()
    for query in ("release rollout", "polite email", "pdf tables", "monitor canary tests"):
        bound = index.max_score(query)
        assert bound > 0
        for value in index.score(query).values():
            assert 0 < value / bound < 1
    # Unknown terms do not count against the bound.
    assert index.max_score("pdf xyzzy") == pytest.approx(index.max_score("pdf"))
    assert index.max_score("xyzzy") == 0.0
    # A doc matching every query term scores higher, relative to the bound, than a partial match.
    full = index.score("canary rollout")["release"] / index.max_score("canary rollout")
    partial = index.score("canary email")["release"] / index.max_score("canary email")
    assert full > partial


def test_rare_terms_weigh_more() -> None:
    docs = {i: {"description": "common words here"} for i in range(20)}
    docs[100] = {"description": "common rare"}
    docs[101] = {"description": "common words"}
    index = build(docs)
    scores = index.score("common rare")
    assert max(scores, key=scores.__getitem__) == 100


def test_incremental_add_remove_and_replace() -> None:
    index = build()
    assert len(index) == 4 and "pdf" in index
    assert index.remove("pdf") is True
    assert index.remove("pdf") is False
    assert "pdf" not in index.score("pdf tables")
    assert len(index) == 3
    index.add("email", {"name": "pdf-email", "description": "send pdf files by email"})
    assert len(index) == 3
    assert set(index.score("pdf")) == {"email"}
    assert "email" not in index.score("polite customers")
    index.add("pdf", DOCS["pdf"])  # a freed slot is reused safely
    assert set(index.score("pdf")) == {"email", "pdf"}


def test_doc_id_restriction_matches_full_scoring() -> None:
    rng = np.random.default_rng(7)
    vocab = [f"w{i}" for i in range(60)]
    index = BM25Index()
    for i in range(600):
        index.add(
            i,
            {
                "name": " ".join(rng.choice(vocab, 2)),
                "instructions": " ".join(rng.choice(vocab, 12)),
            },
        )
    query = "w1 w2 w3 w40"
    full = index.score(query)
    few = [*range(0, 600, 37), 99999]  # direct path; unknown ids ignored
    many = list(range(0, 600, 2))  # array path
    for subset in (few, many):
        restricted = index.score(query, subset)
        expected = {d: s for d, s in full.items() if d in set(subset)}
        assert restricted.keys() == expected.keys()
        for d in expected:
            assert restricted[d] == pytest.approx(expected[d])
    top = index.top(query, 5)
    best = sorted(full.items(), key=lambda item: -item[1])[:5]
    assert [s for _, s in top] == pytest.approx([s for _, s in best])
    assert (
        index.top(query, 3, doc_ids=few)
        == sorted(index.score(query, few).items(), key=lambda item: -item[1])[:3]
    )


def test_custom_field_weights_and_ignored_fields() -> None:
    index = BM25Index({"name": 1.0, "secret": 0.0}, default_weight=0.0)
    index.add("a", {"name": "alpha", "secret": "beta", "other": "gamma"})
    assert index.score("alpha") and not index.score("beta") and not index.score("gamma")
    with pytest.raises(ValueError):
        BM25Index(b=2.0)


def reference_bm25(
    docs: dict[int, dict[str, str]], weights: Mapping[str, float], query: str, k1: float, b: float
) -> dict[int, float]:
    """BM25F-simple computed from scratch."""
    tfs: dict[int, dict[str, float]] = {}
    lengths: dict[int, float] = {}
    for d, fields in docs.items():
        counts: dict[str, float] = {}
        length = 0.0
        for field, text in fields.items():
            w = weights.get(field, 1.0)
            terms = tokenize(text, drop_stopwords=True)
            length += w * len(terms)
            for t in terms:
                counts[t] = counts.get(t, 0.0) + w
        tfs[d], lengths[d] = counts, length
    n = len(docs)
    avg = (sum(lengths.values()) / n) or 1.0
    out: dict[int, float] = {}
    for t in dict.fromkeys(tokenize(query, drop_stopwords=True)):
        df = sum(1 for c in tfs.values() if t in c)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for d, c in tfs.items():
            if t in c:
                norm = k1 * (1 - b + b * lengths[d] / avg)
                out[d] = out.get(d, 0.0) + idf * c[t] * (k1 + 1) / (c[t] + norm)
    return out


_words = st.sampled_from(
    ["alpha", "beta", "gamma", "delta", "deploy", "release", "the", "部署", "服务"]
)
_text = st.lists(_words, max_size=8).map(" ".join)
_doc = st.fixed_dictionaries({"name": _text, "description": _text, "instructions": _text})


@settings(max_examples=80, deadline=None)
@given(
    docs=st.lists(_doc, min_size=1, max_size=12),
    removed=st.sets(st.integers(0, 11), max_size=4),
    query=_text,
)
def test_property_matches_reference(
    docs: list[dict[str, str]], removed: set[int], query: str
) -> None:
    index = BM25Index()
    for i, fields in enumerate(docs):
        index.add(i, fields)
    for i in removed:
        index.remove(i)
    alive = {i: f for i, f in enumerate(docs) if i not in removed}
    got = index.score(query)
    if not alive:
        assert got == {}
        return
    expected = reference_bm25(alive, index.field_weights, query, index.k1, index.b)
    assert got.keys() == expected.keys()
    for d, value in expected.items():
        assert got[d] == pytest.approx(value, rel=1e-9)
        assert value < index.max_score(query)


def test_top_is_fast_on_a_large_index() -> None:
    # 20k docs with Zipf-distributed words; the 100k-doc figure is in the benchmarks.
    rng = np.random.default_rng(3)
    vocab = np.array([f"term{i}" for i in range(20_000)])
    probs = 1.0 / np.arange(1, len(vocab) + 1)
    probs /= probs.sum()
    index = BM25Index()
    all_words = rng.choice(vocab, (20_000, 25), p=probs)
    for i, words in enumerate(all_words):
        index.add(i, {"name": " ".join(words[:3]), "instructions": " ".join(words[3:])})
    queries = [" ".join(rng.choice(vocab, 5, p=probs)) for _ in range(100)]
    for q in queries:  # first use builds the posting arrays
        index.top(q, 10)
    timings = []
    for q in queries:
        start = time.perf_counter()
        index.top(q, 10)
        timings.append(time.perf_counter() - start)
    assert float(np.median(timings)) < 0.01


def test_churn_through_compaction_matches_reference() -> None:
    # Enough removals to cross the tombstone compaction several times (and reuse slots and
    # term ids), with weights float32 cannot hold exactly; every scoring path is checked.
    rng = np.random.default_rng(11)
    vocab = [f"w{i}" for i in range(60)] + ["部署", "服务"]
    weights = {"name": 3.0, "description": 0.3, "instructions": 1.0}
    index = BM25Index(weights)
    docs: dict[int, dict[str, str]] = {}

    def random_doc() -> dict[str, str]:
        return {f: " ".join(rng.choice(vocab, int(rng.integers(0, 9)))) for f in weights}

    next_id = 0
    for step in range(1_500):
        if docs and rng.random() < 0.35:
            victim = int(rng.choice(list(docs)))
            assert index.remove(victim)
            del docs[victim]
        elif docs and rng.random() < 0.2:  # re-adding an id replaces the document
            target = int(rng.choice(list(docs)))
            docs[target] = random_doc()
            index.add(target, docs[target])
        else:
            docs[next_id] = random_doc()
            index.add(next_id, docs[next_id])
            next_id += 1
        if step % 150 == 149 and docs:
            assert len(index) == len(docs)
            query = " ".join(rng.choice(vocab, 4))
            expected = reference_bm25(docs, weights, query, index.k1, index.b)
            got = index.score(query)
            assert got.keys() == expected.keys()
            for d, value in expected.items():
                assert got[d] == pytest.approx(value, rel=1e-6)
            few = [int(d) for d in rng.choice(list(docs), min(len(docs), 40), replace=False)]
            assert index.score(query, few) == pytest.approx({d: expected[d] for d in few if d in expected}, rel=1e-6)
            many = list(docs)[: max(300, len(docs))]  # above the direct-scoring limit
            assert index.score(query, many) == pytest.approx(
                {d: v for d, v in expected.items() if d in set(many)}, rel=1e-6)
            best = sorted(expected.values(), reverse=True)[:5]
            assert [s for _, s in index.top(query, 5)] == pytest.approx(best, rel=1e-6)
            assert max(expected.values(), default=0.0) < index.max_score(query) or not expected
    assert not index.remove(-1)
    for d in list(docs):
        index.remove(d)
    assert len(index) == 0 and index.score("w1 w2") == {} and index.max_score("w1") == 0.0


def test_index_keeps_a_few_hundred_bytes_per_document() -> None:
    # The packed postings: 2,000 documents of 30 distinct words each (one unique) stay
    # well under what dict postings took (3.6 KB a document here; about 940 bytes now).
    import tracemalloc

    rng = np.random.default_rng(5)
    vocab = [f"word{i}" for i in range(500)]
    docs = [{"name": f"unique{i}", "instructions": " ".join(rng.choice(vocab, 29, replace=False))}
            for i in range(2_000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = BM25Index()
    for i, fields in enumerate(docs):
        index.add(i, fields)
    per_doc = (tracemalloc.get_traced_memory()[0] - before) / len(docs)
    tracemalloc.stop()
    assert len(index) == 2_000
    assert per_doc < 1_200, per_doc


def _churned_index(seed: int) -> tuple[BM25Index, dict[int, dict[str, str]]]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(80)] + ["部署", "服务", "déploiement"]
    index = BM25Index()
    docs: dict[int, dict[str, str]] = {}
    for i in range(400):
        docs[i] = {"name": " ".join(rng.choice(vocab, 2)), "instructions": " ".join(rng.choice(vocab, 12))}
        index.add(i, docs[i])
    for i in range(0, 400, 3):  # tombstones, some compacted, some not
        index.remove(i)
        del docs[i]
    return index, docs


def test_save_and_load_give_the_same_scores_and_stay_writable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    index, docs = _churned_index(1)
    path = tmp_path / "lexical.bin"
    index.save(path, {"seq": 42})
    loaded, meta = BM25Index.load(path)
    assert meta == {"seq": 42} and len(loaded) == len(docs) and loaded.doc_ids() == set(docs)
    for query in ["w1 w2 w3", "部署 服务", "w79 déploiement w5", "absent"]:
        assert loaded.score(query) == pytest.approx(index.score(query), rel=1e-12)
        assert loaded.max_score(query) == pytest.approx(index.max_score(query), rel=1e-12)
        assert loaded.score(query, list(docs)[:20]) == pytest.approx(index.score(query, list(docs)[:20]))
    # Both go on the same way after more writes (reused slots and term ids included).
    for target in (index, loaded):
        target.remove(1)
        target.add(1000, {"name": "w1 fresh", "instructions": "w2 部署"})
        target.add(2, {"name": "w3"})
    assert loaded.score("w1 w2 w3 fresh 部署") == pytest.approx(index.score("w1 w2 w3 fresh 部署"), rel=1e-12)
    empty = BM25Index()
    empty.save(tmp_path / "empty.bin")
    again, _ = BM25Index.load(tmp_path / "empty.bin")
    assert len(again) == 0 and again.score("w1") == {}
    again.add(5, {"name": "w1"})
    assert list(again.score("w1")) == [5]


def test_load_refuses_damaged_foreign_or_mismatched_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    index, _ = _churned_index(2)
    path = tmp_path / "lexical.bin"
    index.save(path)
    with pytest.raises(ValueError, match="other parameters"):
        BM25Index.load(path, k1=2.0)
    with pytest.raises(ValueError, match="other parameters"):
        BM25Index.load(path, {"name": 1.0})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "flipped.bin").write_bytes(bytes(data))
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "flipped.bin")
    (tmp_path / "cut.bin").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "cut.bin")
    (tmp_path / "other.bin").write_bytes(b"not an index")
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "other.bin")
    with pytest.raises(OSError):
        BM25Index.load(tmp_path / "absent.bin")
    # A well-formed file (checksum and all) with out-of-range content is refused by the checks.
    from autoskill.retrieval.packed_file import read_packed, write_packed

    arrays, trailer = read_packed(path)
    forged = {name: value.copy() for name, value in arrays.items()}
    forged["postings"][0] = 10**6
    write_packed(tmp_path / "forged.bin", forged, {k: v for k, v in trailer.items() if k != "sections"})
    with pytest.raises(ValueError, match="missing document"):
        BM25Index.load(tmp_path / "forged.bin")
    retyped = {**arrays, "lengths": arrays["lengths"].astype(np.float32)}
    write_packed(tmp_path / "retyped.bin", retyped, {k: v for k, v in trailer.items() if k != "sections"})
    with pytest.raises(ValueError, match="not a autoskill-bm25"):
        BM25Index.load(tmp_path / "retyped.bin")
    with pytest.raises(TypeError, match="int document ids"):
        build().save(tmp_path / "str-ids.bin")


def test_ties_rank_by_id_whatever_the_insertion_order() -> None:
    docs = {i: {"name": "deploy", "instructions": "step"} for i in range(30)}
    forward, backward = BM25Index(), BM25Index()
    for i in docs:
        forward.add(i, docs[i])
    for i in reversed(list(docs)):
        backward.add(i, docs[i])
    backward.remove(3)
    backward.add(3, docs[3])  # into a reused slot
    expected = [(i, forward.top("deploy", 1)[0][1]) for i in range(5)]
    for index in (forward, backward):
        assert index.top("deploy", 5) == expected
        assert index.top("deploy", 5, doc_ids=range(29, -1, -1)) == expected
    mixed = BM25Index()
    mixed.add("a", {"name": "deploy"})
    mixed.add(1, {"name": "deploy"})
    assert len(mixed.top("deploy", 2)) == 2  # ids that do not compare: still ranked
