"""The core store's per-user record ids behind ``filter={"user_id": ...}``: one index
partition per namespace, a user-filtered search scores only that user's records."""

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
    assert partitions == ["records:default"]  # one per namespace; users are id sets within it


def test_user_filter_scores_only_that_users_vectors(store, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    add(store)
    seen: list[list[int]] = []
    real = type(store.index).search_subset_unit

    def spy(self, query, k, partition, ids):  # type: ignore[no-untyped-def]
        seen.append(sorted(int(i) for i in ids))
        return real(self, query, k, partition, ids)

    monkeypatch.setattr(type(store.index), "search_subset_unit", spy)
    store.search_records(EMB.embed_query("deploy note"), 3, where={"user_id": "u4"})
    u4 = sorted(store._record_vid[("default", str(i))] for i in range(60) if i % 6 == 4)
    assert seen == [u4]


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
