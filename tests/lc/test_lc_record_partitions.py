"""The core store's per-user record partitions behind ``filter={"user_id": ...}``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoskill.embeddings import HashingEmbedder
from autoskill.store import InMemorySkillStore, LocalSkillStore, Record

EMB = HashingEmbedder(dims=64)


@pytest.fixture(params=["inmemory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    made = InMemorySkillStore(EMB) if request.param == "inmemory" else LocalSkillStore(tmp_path / "s", EMB)
    yield made
    made.close()


def add(store, n: int = 60) -> list[Record]:  # type: ignore[no-untyped-def]
    records = [Record(id=str(i), text=f"deploy note {i}", metadata={"user_id": f"u{i % 6}", "n": i})
               for i in range(n)]
    records.append(Record(id="anon", text="deploy note anon", metadata={"n": -1}))
    records.append(Record(id="int-user", text="deploy note int", metadata={"user_id": 7}))
    store.upsert_records(records, EMB.embed_documents([r.text for r in records]))
    return records


def test_user_filter_searches_only_that_users_partition(store) -> None:  # type: ignore[no-untyped-def]
    add(store)
    query = EMB.embed_query("deploy note")
    hits = store.search_records(query, 5, where={"user_id": "u2"})
    assert len(hits) == 5 and all(r.metadata["user_id"] == "u2" for r, _ in hits)
    assert len(store.search_records(query, 50, where={"user_id": "u2"})) == 10
    assert [r.id for r, _ in store.search_records(query, 50, where={"user_id": "u2", "n": 8})] == ["8"]
    assert store.search_records(query, 5, where={"user_id": "nobody"}) == []
    assert [r.id for r, _ in store.search_records(query, 5, where={"user_id": 7})] == ["int-user"]
    # Unfiltered and predicate searches see every partition of the namespace.
    assert len(store.search_records(query, 100)) == 62
    assert len(store.search_records(query, 100, where=lambda r: r.metadata.get("n", 0) < 0)) == 1
    assert store.search_records(query, 5, namespace="other") == []
    partitions = [p for p in store.index.partitions() if p.startswith("records:")]
    assert len(partitions) == 7  # six users, plus one for records without a string user_id


def test_unfiltered_search_over_many_user_partitions_is_exact(store) -> None:  # type: ignore[no-untyped-def]
    # 40 users: the index merges their partitions into one scan; the result must be the
    # exact top-k, and stay exact after writes change one partition.
    records = [Record(id=str(i), text=f"release step {i} of plan {i % 13}", metadata={"user_id": f"u{i % 40}"})
               for i in range(400)]
    vectors = EMB.embed_documents([r.text for r in records])
    store.upsert_records(records, vectors)
    query = EMB.embed_query("release step 77 of plan 12")

    def exact(vecs: np.ndarray, ids: list[str]) -> list[str]:
        scores = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))
        return [ids[j] for j in np.argsort(-scores, kind="stable")[:10]]

    assert [r.id for r, _ in store.search_records(query, 10)] == exact(vectors, [r.id for r in records])
    changed = Record(id="5", text="release step 77 of plan 12", metadata={"user_id": "u5"})
    store.upsert_records([changed], EMB.embed_documents([changed.text]))
    assert store.search_records(query, 1)[0][0].id in {"5", "77"}
    store.delete_records(["77", "5"])
    assert {"77", "5"}.isdisjoint(r.id for r, _ in store.search_records(query, 10))


def test_changing_user_moves_the_record_and_survives_reopening(store) -> None:  # type: ignore[no-untyped-def]
    add(store)
    moved = Record(id="3", text="deploy note 3", metadata={"user_id": "u0", "n": 3})
    store.upsert_records([moved], EMB.embed_documents([moved.text]))
    query = EMB.embed_query("deploy note 3")
    assert "3" not in [r.id for r, _ in store.search_records(query, 50, where={"user_id": "u3"})]
    assert store.search_records(query, 1, where={"user_id": "u0"})[0][0] == moved
    store.delete_records(["3"])
    assert "3" not in [r.id for r, _ in store.search_records(query, 50, where={"user_id": "u0"})]
    if isinstance(store, LocalSkillStore):
        again = LocalSkillStore(store.root, EMB)
        hits = again.search_records(query, 50, where={"user_id": "u0"})
        assert len(hits) == 10 and all(r.metadata["user_id"] == "u0" for r, _ in hits)
        assert np.allclose(again.record_vector("0"), store.record_vector("0"))
        again.close()
