"""The partitioned FAISS index: stable ids, exact filtered search, persistence, threads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoskill.errors import StoreCorruptError
from autoskill.retrieval import VectorIndex
from autoskill.retrieval.vector_index import MANIFEST_NAME

DIMS = 16


def unit(rng: np.random.Generator, n: int, dims: int = DIMS) -> np.ndarray:
    x = rng.standard_normal((n, dims)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(
    vectors: dict[int, np.ndarray], query: np.ndarray, k: int, allowed: set[int]
) -> list[tuple[int, float]]:
    scored = [(i, float(vectors[i] @ query)) for i in allowed]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:k]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_add_search_and_scores_are_cosine(rng: np.random.Generator) -> None:
    index = VectorIndex(DIMS)
    vecs = unit(rng, 20)
    index.add(range(100, 120), vecs * 3.0, "user:u1")  # unnormalised input is normalised
    assert len(index) == 20 and index.partitions() == ["user:u1"]
    hits = index.search(vecs[5], k=3)
    assert hits[0][0] == 105
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    expected = brute_force(dict(zip(range(100, 120), vecs)), vecs[5], 3, set(range(100, 120)))
    assert [h[0] for h in hits] == [e[0] for e in expected]
    np.testing.assert_allclose([h[1] for h in hits], [e[1] for e in expected], atol=1e-5)
    np.testing.assert_allclose(index.reconstruct(107), vecs[7], atol=1e-6)


def test_ids_stay_stable_after_deletes(rng: np.random.Generator) -> None:
    index = VectorIndex(DIMS)
    vecs = unit(rng, 10)
    index.add(np.arange(10), vecs, "p")
    assert index.remove([3, 5, 999]) == 2
    assert len(index) == 8
    assert not index.contains(3) and index.contains(4)
    for i in (0, 1, 2, 4, 6, 7, 8, 9):
        np.testing.assert_allclose(index.reconstruct(i), vecs[i], atol=1e-6)
        assert index.search(vecs[i], 1)[0][0] == i
    with pytest.raises(KeyError):
        index.reconstruct(3)


def test_remove_then_add_does_not_reuse_ids(rng: np.random.Generator) -> None:
    # The store hands out ids from a persisted counter; the index must keep them apart
    # (the classic bug: new id = ntotal, which collides after a delete).
    index = VectorIndex(DIMS)
    vecs = unit(rng, 6)
    next_id = 0
    for v in vecs[:4]:
        index.add([next_id], v[None, :], "p")
        next_id += 1
    index.remove([1])
    index.add([next_id], vecs[4][None, :], "p")  # id 4, while ntotal was 3
    assert index.ids() == [0, 2, 3, 4]
    assert not index.contains(1)
    assert all(hit[0] != 1 for hit in index.search(vecs[1], k=10))
    np.testing.assert_allclose(index.reconstruct(4), vecs[4], atol=1e-6)
    np.testing.assert_allclose(index.reconstruct(3), vecs[3], atol=1e-6)


def test_add_existing_id_replaces_and_can_move_partition(rng: np.random.Generator) -> None:
    index = VectorIndex(DIMS)
    a, b = unit(rng, 2)
    index.add([7], a[None, :], "user:u1")
    index.add([7], b[None, :], "user:u2")
    assert len(index) == 1
    assert index.partition_of(7) == "user:u2"
    assert index.partitions() == ["user:u2"]  # the emptied partition is gone
    np.testing.assert_allclose(index.reconstruct(7), b, atol=1e-6)
    assert index.search(a, 5, partitions=["user:u1"]) == []


def test_validation_errors(rng: np.random.Generator) -> None:
    index = VectorIndex(DIMS)
    with pytest.raises(ValueError, match="shape"):
        index.add([1, 2], unit(rng, 3), "p")
    with pytest.raises(ValueError, match="duplicates"):
        index.add([1, 1], unit(rng, 2), "p")
    with pytest.raises(ValueError, match="non-negative"):
        index.add([-1], unit(rng, 1), "p")
    with pytest.raises(ValueError, match="partition"):
        index.add([1], unit(rng, 1), "")
    with pytest.raises(ValueError):
        index.add([1], np.full((1, DIMS), np.nan), "p")
    with pytest.raises(ValueError):
        index.search(np.zeros(DIMS + 1, dtype=np.float32), 1)
    with pytest.raises(ValueError):
        VectorIndex(0)
    assert len(index) == 0
    assert index.search(unit(rng, 1)[0], 5) == []
    assert index.search(unit(rng, 1)[0], 0) == []


def test_partition_search_returns_k_and_only_allowed(rng: np.random.Generator) -> None:
    index = VectorIndex(DIMS)
    vecs = unit(rng, 300)
    owners = {i: f"user:u{i % 30}" for i in range(300)}
    for user in sorted(set(owners.values())):
        ids = [i for i, o in owners.items() if o == user]
        index.add(ids, vecs[ids], user)
    index.add([1000, 1001], unit(rng, 2), "library:shared")
    hits = index.search(vecs[0], k=12, partitions=["user:u0", "library:shared"])
    assert len(hits) == 12
    assert {index.partition_of(i) for i, _ in hits} <= {"user:u0", "library:shared"}
    # A lone string is one partition, not an iterable of characters.
    assert len(index.search(vecs[0], k=50, partitions="user:u0")) == 10
    assert index.search(vecs[0], k=5, partitions=["user:nobody"]) == []
    assert len(index.search(vecs[0], k=400)) == 302


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[int], list[int], list[int], int, int]:
    n = draw(st.integers(1, 60))
    owners = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    removed = draw(st.lists(st.integers(0, n - 1), max_size=n // 2, unique=True))
    chosen = draw(st.lists(st.integers(0, 6), min_size=1, max_size=4, unique=True))
    k = draw(st.integers(1, 25))
    seed = draw(st.integers(0, 2**31 - 1))
    return owners, removed, chosen, k, seed


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_property_filtered_search_is_exact(
    scenario: tuple[list[int], list[int], list[int], int, int],
) -> None:
    owners, removed, chosen, k, seed = scenario
    rng = np.random.default_rng(seed)
    vecs = unit(rng, len(owners))
    ids = [10 * i + 3 for i in range(len(owners))]  # sparse, caller-chosen ids
    index = VectorIndex(DIMS)
    for owner in sorted(set(owners)):
        members = [j for j, o in enumerate(owners) if o == owner]
        index.add([ids[j] for j in members], vecs[members], f"user:u{owner}")
    index.remove([ids[j] for j in removed])
    alive = {ids[j]: vecs[j] for j in range(len(owners)) if j not in set(removed)}
    allowed_parts = {f"user:u{c}" for c in chosen}
    allowed = {
        ids[j] for j, o in enumerate(owners) if f"user:u{o}" in allowed_parts and ids[j] in alive
    }
    query = unit(rng, 1)[0]
    hits = index.search(query, k, partitions=sorted(allowed_parts))
    assert len(hits) == min(k, len(allowed))
    assert {i for i, _ in hits} <= allowed
    expected = brute_force(alive, query, k, allowed)
    np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], atol=1e-5)
    batch = index.search_batch(np.stack([query, query]), k, partitions=sorted(allowed_parts))
    assert batch[0] == hits and batch[1] == hits


def test_search_batch_matches_single_searches(rng: np.random.Generator) -> None:
    index = VectorIndex(DIMS)
    vecs = unit(rng, 50)
    index.add(range(50), vecs, "a")
    index.add(range(50, 60), unit(rng, 10), "b")
    queries = unit(rng, 7)
    batch = index.search_batch(queries, 5, partitions=["a", "b"])
    assert batch == [index.search(q, 5, partitions=["a", "b"]) for q in queries]
    # Large batches go through FAISS's blocked BLAS path: same ids, scores to float precision.
    many = unit(rng, 40)
    big = index.search_batch(many, 5)
    for row, q in zip(big, many):
        single = index.search(q, 5)
        assert [i for i, _ in row] == [i for i, _ in single]
        np.testing.assert_allclose([s for _, s in row], [s for _, s in single], atol=1e-5)


def _build(rng: np.random.Generator) -> VectorIndex:
    index = VectorIndex(DIMS)
    vecs = unit(rng, 200)
    for p in range(5):
        ids = list(range(p, 200, 5))
        index.add(ids, vecs[ids], f"user:u{p}/x")  # odd characters in names are fine
    index.remove([0, 7, 42])
    return index


def test_save_load_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    index = _build(rng)
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / MANIFEST_NAME).read_text())
    assert manifest["dims"] == DIMS and len(manifest["partitions"]) == 5
    queries = unit(rng, 10)
    for mmap in (False, True):
        loaded = VectorIndex.load(tmp_path / "idx", mmap=mmap)
        assert len(loaded) == len(index) and loaded.partitions() == index.partitions()
        assert loaded.ids() == index.ids()
        for parts in (None, ["user:u1/x", "user:u3/x"]):
            assert loaded.search_batch(queries, 8, parts) == index.search_batch(queries, 8, parts)
        assert loaded.partition_of(12) == index.partition_of(12)


def test_mmap_loaded_index_can_change_without_touching_files(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    index = _build(rng)
    index.save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    loaded = VectorIndex.load(tmp_path, mmap=True)
    new = unit(rng, 1)
    loaded.add([5000], new, "user:u1/x")
    loaded.remove([1, 2])
    assert loaded.search(new[0], 1)[0][0] == 5000
    assert not loaded.contains(1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # Saving elsewhere and reloading keeps the changes.
    loaded.save(tmp_path / "copy")
    again = VectorIndex.load(tmp_path / "copy")
    assert again.contains(5000) and not again.contains(2)


def test_resave_rewrites_only_changed_partitions(tmp_path: Path, rng: np.random.Generator) -> None:
    index = _build(rng)
    index.save(tmp_path)
    files1 = json.loads((tmp_path / MANIFEST_NAME).read_text())["partitions"]
    index.add([9000], unit(rng, 1), "user:u2/x")
    index.remove(list(range(4, 200, 5)))  # empties user:u4/x
    index.save(tmp_path)
    files2 = json.loads((tmp_path / MANIFEST_NAME).read_text())["partitions"]
    assert files2["user:u1/x"]["file"] == files1["user:u1/x"]["file"]
    assert files2["user:u2/x"]["file"] != files1["user:u2/x"]["file"]
    assert "user:u4/x" not in files2
    on_disk = {p.name for p in tmp_path.glob("*.faiss")}
    assert on_disk == {entry["file"] for entry in files2.values()}  # stale files removed
    loaded = VectorIndex.load(tmp_path)
    assert loaded.ids() == index.ids()
    queries = unit(rng, 3)
    assert loaded.search_batch(queries, 5) == index.search_batch(queries, 5)


def test_load_errors(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(FileNotFoundError):
        VectorIndex.load(tmp_path / "missing")
    index = _build(rng)
    index.save(tmp_path)
    manifest_path = tmp_path / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    first = next(iter(manifest["partitions"].values()))
    (tmp_path / first["file"]).unlink()
    with pytest.raises(StoreCorruptError, match="missing"):
        VectorIndex.load(tmp_path)
    manifest_path.write_text("{not json")
    with pytest.raises(StoreCorruptError):
        VectorIndex.load(tmp_path)
    manifest_path.write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(StoreCorruptError, match="unsupported"):
        VectorIndex.load(tmp_path)


def test_concurrent_searches_and_writes(rng: np.random.Generator) -> None:
    index = VectorIndex(DIMS)
    base = unit(rng, 500)
    index.add(range(500), base, "shared")
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                hits = index.search(unit(local, 1)[0], 10, partitions=["shared", "user:w"])
                assert len(hits) == 10
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    def writer() -> None:
        local = np.random.default_rng(99)
        try:
            for i in range(300):
                index.add([10_000 + i], unit(local, 1), "user:w")
                if i % 3 == 0:
                    index.remove([10_000 + i])
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader, args=(s,)) for s in range(3)]
    for t in readers:
        t.start()
    w = threading.Thread(target=writer)
    w.start()
    w.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors
    assert len(index) == 500 + 200
    assert index.partition_size("user:w") == 200


# -- index selection by size ------------------------------------------------------------------

def _clustered(rng: np.random.Generator, n: int, dims: int = 32, clusters: int = 20) -> np.ndarray:
    centres = unit(rng, clusters, dims)
    x = centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, dims)).astype(np.float32) * 0.1
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _recall(index: VectorIndex, vectors: dict[int, np.ndarray], queries: np.ndarray, partition: str) -> float:
    ids = np.fromiter(vectors, dtype=np.int64)
    matrix = np.vstack([vectors[i] for i in ids.tolist()])
    found = 0
    for q in queries:
        truth = set(ids[np.argsort(-(matrix @ q), kind="stable")[:10]].tolist())
        found += len(truth & {i for i, _ in index.search(q, 10, partition)})
    return found / (10 * len(queries))


def test_large_partition_becomes_ivf_in_background_and_keeps_writes(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoskill.retrieval import vector_index

    # Hold the build after it copied the partition, so the writes below land mid-build
    # and must be replayed onto the new index; searches must not wait for it.
    copied, release = threading.Event(), threading.Event()
    real_train = vector_index._train_ivf

    def slow_train(*args):  # type: ignore[no-untyped-def]
        copied.set()
        assert release.wait(30)
        return real_train(*args)

    monkeypatch.setattr(vector_index, "_train_ivf", slow_train)
    index = VectorIndex(32, approx_threshold=3000)
    data = _clustered(rng, 4000)
    index.add(np.arange(2999), data[:2999], "library:big")
    index.add(np.arange(10_000, 10_050), data[3500:3550], "user:u1")
    assert index.partition_kind("library:big") == "flat"
    index.add([2999], data[2999:3000], "library:big")  # crosses the threshold: build starts
    assert copied.wait(30)
    assert len(index.search(data[0], 10, "library:big")) == 10  # readers are not blocked
    # Writes while the build may be running: adds, a replacement, a move, removes.
    index.add(np.arange(3000, 3400), data[3000:3400], "library:big")
    index.add([5], data[3990:3991], "library:big")
    index.add([6], data[3991:3992], "user:u1")
    assert index.remove([7, 8, 3001]) == 3
    assert index.partition_kind("library:big") == "flat"
    release.set()
    assert index.wait_for_builds(60)
    assert index.partition_kind("library:big") == "ivf"
    assert index.partition_kind("user:u1") == "flat"
    expected = {i: data[i] for i in range(3400) if i not in (6, 7, 8, 3001)}
    expected[5] = data[3990]
    assert index.partition_size("library:big") == len(expected)
    assert sorted(index.ids("library:big")) == sorted(expected)
    assert index.partition_of(6) == "user:u1"
    np.testing.assert_allclose(index.reconstruct(5), data[3990], atol=1e-6)
    queries = data[3600:3700]
    assert _recall(index, expected, queries, "library:big") >= 0.9
    # exact=True scans every list: the same result as brute force.
    q = data[3700]
    exact = index.search(q, 10, "library:big", exact=True)
    assert [i for i, _ in exact] == [i for i, _ in brute_force(expected, q, 10, set(expected))]
    # Removal and re-adding stay cheap and correct on the IVF partition.
    assert index.remove([0, 1, 2]) == 3
    assert not index.contains(0) and index.partition_size("library:big") == len(expected) - 3
    index.add([0], data[3800:3801], "library:big")
    assert index.search(data[3800], 1, "library:big")[0][0] == 0


def test_inline_build_and_ivf_persistence_with_mmap(tmp_path: Path, rng: np.random.Generator) -> None:
    index = VectorIndex(32, approx_threshold=2000, background=False)
    data = _clustered(rng, 2500)
    index.add(np.arange(2500), data, "library:big")
    assert index.partition_kind("library:big") == "ivf"  # built inside the add
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / MANIFEST_NAME).read_text())
    assert manifest["partitions"]["library:big"]["kind"] == "ivf"
    for mmap in (False, True):
        loaded = VectorIndex.load(tmp_path / "idx", mmap=mmap)
        assert loaded.partition_kind("library:big") == "ivf" and len(loaded) == 2500
        q = data[17]
        assert loaded.search(q, 5, "library:big") == index.search(q, 5, "library:big")
        loaded.remove([17])
        loaded.add([9999], data[18:19], "library:big")
        assert loaded.search(q, 1, "library:big")[0][0] != 17
        np.testing.assert_allclose(loaded.reconstruct(9999), data[18], atol=1e-6)
    # The files were not changed by the mmap-loaded index's writes.
    again = VectorIndex.load(tmp_path / "idx")
    assert again.contains(17) and not again.contains(9999)


def test_threshold_none_keeps_everything_exact(rng: np.random.Generator) -> None:
    index = VectorIndex(32, approx_threshold=None)
    index.add(np.arange(3000), _clustered(rng, 3000), "p")
    assert index.wait_for_builds(1) and index.partition_kind("p") == "flat"


def test_growth_during_a_build_triggers_a_retrain(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    from autoskill.retrieval import vector_index

    entered, release = threading.Event(), threading.Event()
    sizes: list[int] = []
    real_train = vector_index._train_ivf

    def held_train(ids, vectors, dims):  # type: ignore[no-untyped-def]
        sizes.append(len(ids))
        if len(sizes) == 1:
            entered.set()
            assert release.wait(30)
        return real_train(ids, vectors, dims)

    monkeypatch.setattr(vector_index, "_train_ivf", held_train)
    index = VectorIndex(32, approx_threshold=1000)
    data = _clustered(rng, 5000)
    index.add(np.arange(1000), data[:1000], "library:big")  # first build, held
    assert entered.wait(30)
    index.add(np.arange(1000, 5000), data[1000:], "library:big")  # grows 5x meanwhile
    release.set()
    assert index.wait_for_builds(60)  # waits for the retrain the first build started too
    assert sizes == [1000, 5000]
    assert index.partition_kind("library:big") == "ivf" and index.partition_size("library:big") == 5000
    assert index.search(data[4321], 1, "library:big")[0][0] == 4321


def test_store_search_many_matches_single_searches() -> None:
    from autoskill.embeddings import HashingEmbedder
    from autoskill.skill import Skill
    from autoskill.store import InMemorySkillStore, SkillFilter

    embedder = HashingEmbedder(dims=64)
    store = InMemorySkillStore(embedder)
    store.upsert_many([Skill(name=f"s{i}", description=f"topic {i % 9} item {i}", user_id=f"u{i % 3}",
                             status="draft" if i % 5 == 0 else "active") for i in range(120)])
    queries = embedder.embed_documents([f"topic {i} item {i * 7}" for i in range(40)])
    flt = SkillFilter(user_id="u1")
    batched = store.search_many(queries, 6, flt)
    singles = [store.search(q, 6, flt) for q in queries]
    assert [[h.skill.id for h in hits] for hits in batched] == [[h.skill.id for h in hits] for hits in singles]
    assert all(h.skill.user_id == "u1" and h.skill.status == "active" for hits in batched for h in hits)
    assert store.search_many(queries[:2], 0, flt) == [[], []]


def test_search_over_many_partitions_uses_a_merged_view_that_stays_current(rng: np.random.Generator) -> None:
    index = VectorIndex(DIMS)
    vectors: dict[int, np.ndarray] = {}
    for p in range(20):  # more than the merge threshold
        vecs = unit(rng, 10)
        index.add(range(p * 100, p * 100 + 10), vecs, f"user:{p}")
        vectors.update(zip(range(p * 100, p * 100 + 10), vecs))
    queries = unit(rng, 5)

    def check() -> None:
        for q in queries:
            got = index.search(q, 7)
            expected = brute_force(vectors, q, 7, set(vectors))
            assert [g[0] for g in got] == [e[0] for e in expected]

    check()
    assert len(index._merged) == 1
    new = unit(rng, 1)
    index.add([5000], new, "user:3")  # a write to one member partition
    vectors[5000] = new[0]
    check()
    index.remove([100, 101])
    del vectors[100], vectors[101]
    check()
    index.add([200], unit(rng, 1) * 0 + queries[0], "user:9")  # replaced in place
    vectors[200] = queries[0] / np.linalg.norm(queries[0])
    assert index.search(queries[0], 1)[0][0] == 200


def test_ties_across_many_partitions_break_by_ascending_id(rng: np.random.Generator) -> None:
    index = VectorIndex(DIMS)
    same = unit(rng, 1)
    for p in range(20):  # merged into one scan
        index.add([1000 - p * 10, 1000 - p * 10 + 1], np.vstack([same, unit(rng, 1)]), f"user:{p}")
    hits = index.search(same[0], 5)
    assert [h[0] for h in hits] == sorted(1000 - p * 10 for p in range(20))[:5]


def test_search_unit_matches_search_on_every_path(rng: np.random.Generator) -> None:
    # search_unit scores one cached flat partition directly; it must agree with search()
    # there, after writes (the view is rebuilt), and fall back for IVF and many partitions.
    index = VectorIndex(16, approx_threshold=None, prefix_thresholds={"lib:": 200})
    index.add(np.arange(0, 30), unit(rng, 30, 16), "user:a")
    index.add(np.arange(100, 400), unit(rng, 300, 16), "lib:big")
    index.wait_for_builds()
    assert index.partition_kind("lib:big") == "ivf"

    def agree() -> None:
        for query in unit(rng, 5, 16):
            for k in (1, 5, 30, 50):
                for parts in (["user:a"], ["lib:big"], ["user:a", "lib:big"], ["nobody"]):
                    lean = index.search_unit(query, k, parts)
                    full = index.search(query, k, parts, exact=False)
                    assert [i for i, _ in lean] == [i for i, _ in full], (k, parts)
                    assert [s for _, s in lean] == pytest.approx([s for _, s in full], abs=1e-6)

    agree()
    index.remove([3, 4, 5])
    index.add(np.arange(30, 35), unit(rng, 5, 16), "user:a")
    agree()
    assert index.search_unit(unit(rng, 1, 16)[0], 0, ["user:a"]) == []


@pytest.mark.parametrize("k", [1, 10, 40, 41, 299, 300, 400])
def test_kernel_scan_returns_the_best_rows_and_every_tie_with_the_kth(rng: np.random.Generator, k: int) -> None:
    # Large flat scans go through FAISS's kernel; it must pick what a full scoring picks,
    # ties with the k-th score included: here 40 copies of the query share the top score,
    # more than the kernel's first request past k.
    from autoskill.retrieval.vector_index import _best_rows, _kernel_best_rows

    matrix = unit(rng, 300)
    matrix[100:139] = matrix[7]
    ids = np.arange(1000, 1300, dtype=np.int64)
    query = matrix[7]
    full = matrix @ query
    kth = np.sort(full)[::-1][min(k, 300) - 1]
    expected = set(ids[full >= kth].tolist())
    assert len(expected) == (40 if k <= 40 else min(k, 300))
    for scores, got in (_kernel_best_rows(matrix, ids, query, min(k, 300)), _best_rows(matrix, ids, query, k)):
        assert set(got.tolist()) == expected
        np.testing.assert_allclose(scores, full[got - 1000], atol=1e-6)


def test_large_exact_partitions_match_brute_force_single_and_batched(
        rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    from autoskill.retrieval import vector_index

    monkeypatch.setattr(vector_index, "_KERNEL_MIN_ROWS", 500)  # the kernel path at test size
    index = VectorIndex(DIMS, approx_threshold=None)
    vectors: dict[int, np.ndarray] = {}
    for p in range(20):  # one big partition, and many small ones scanned as a merged copy
        count = 600 if p == 0 else 30
        vecs = unit(rng, count)
        vecs[:5] = vecs[0]  # ties inside every partition
        start = p * 1000
        index.add(range(start, start + count), vecs, f"user:{p}")
        vectors.update(zip(range(start, start + count), vecs))
    queries = unit(rng, 6)
    queries[0] = vectors[0]  # a query tied with five rows
    for partitions in (["user:0"], None):
        allowed = set(range(600)) if partitions else set(vectors)
        singles = [index.search(q, 7, partitions) for q in queries]
        for q, got in zip(queries, singles):
            expected = brute_force(vectors, q, 7, allowed)
            assert [g[0] for g in got] == [e[0] for e in expected]
            np.testing.assert_allclose([g[1] for g in got], [e[1] for e in expected], atol=1e-5)
        assert index.search_batch(queries, 7, partitions) == singles  # bit-identical scores


def test_kernel_scans_a_read_only_memory_mapped_partition(
        tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    from autoskill.retrieval import vector_index

    monkeypatch.setattr(vector_index, "_KERNEL_MIN_ROWS", 500)
    vecs = unit(rng, 800)
    index = VectorIndex(DIMS, approx_threshold=None)
    index.add(range(800), vecs, "library:big")
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, mmap=True)
    vectors = dict(zip(range(800), vecs))
    for q in unit(rng, 4):
        got = loaded.search(q, 10)
        assert [g[0] for g in got] == [e[0] for e in brute_force(vectors, q, 10, set(vectors))]
        assert loaded.search_batch(q[None, :], 10) == [got]
