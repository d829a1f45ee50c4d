"""SkillVectorStore beyond the standard suite: skills vs records, users, filters, async."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

from autoskill.errors import ConfigError, SkillValidationError, StoreError
from autoskill_lc import HashingEmbeddings, SkillVectorStore, is_skill_document, skill_to_document

from ._support import DEPLOY_STEPS, make_sdk


@pytest.fixture
def sdk():  # type: ignore[no-untyped-def]
    return make_sdk()


@pytest.fixture
def alice(sdk) -> SkillVectorStore:  # type: ignore[no-untyped-def]
    return SkillVectorStore(sdk=sdk, user_id="alice")


def names(docs: list[Document]) -> list[str]:
    return [d.metadata.get("name") or d.page_content for d in docs]


def test_needs_embedding_or_sdk() -> None:
    with pytest.raises(ConfigError):
        SkillVectorStore()


def test_sdk_with_a_different_embedding_is_an_error(sdk) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="embedder"):
        SkillVectorStore(DeterministicFakeEmbedding(size=6), sdk=sdk)
    # The sdk's own embedder (or an equal one) is accepted.
    same = SkillVectorStore(HashingEmbeddings(dims=256), sdk=sdk)
    assert same.embeddings.embed_query("x") == HashingEmbeddings(dims=256).embed_query("x")
    assert SkillVectorStore(sdk=sdk).embeddings.embed_query("x") == same.embeddings.embed_query("x")


def test_search_merges_records_with_visible_skills(alice) -> None:  # type: ignore[no-untyped-def]
    alice.add_texts(["deploy checklist for the web service", "lunch menu for friday"],
                    metadatas=[{"kind": "note"}, {"kind": "note"}], ids=["n1", "n2"])
    found = alice.similarity_search("deploy the service", k=10)
    got = names(found)
    assert "deploy checklist for the web service" in got
    assert {"deploy-service", "code-review"} <= set(got)  # own skill + shared library
    assert "bob-private-deploy" not in got
    scored = alice.similarity_search_with_score("deploy the service", k=10)
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)
    # Skill documents carry exactly the contract keys; records exactly what was stored.
    skill_doc = next(d for d in found if d.metadata.get("name") == "deploy-service")
    assert sorted(skill_doc.metadata) == ["name", "scope", "skill_id", "tags", "user_id", "version"]
    assert skill_doc.id == skill_doc.metadata["skill_id"]
    assert "Build the image" in skill_doc.page_content
    note = next(d for d in found if d.id == "n1")
    assert note.metadata == {"kind": "note"}


def test_another_users_private_skill_never_appears(sdk) -> None:  # type: ignore[no-untyped-def]
    bob_id = next(s.id for s in sdk.list(user_id="bob"))
    for user in ("alice", "carol", None):
        store = SkillVectorStore(sdk=sdk, user_id=user)
        assert "bob-private-deploy" not in names(store.similarity_search("Bob's secret way to deploy", k=50))
        assert store.get_by_ids([bob_id]) == []
        assert "bob-private-deploy" not in names(store.max_marginal_relevance_search("deploy", k=10, fetch_k=50))
    bob = SkillVectorStore(sdk=sdk, user_id="bob")
    assert names(bob.similarity_search("Bob's secret way to deploy", k=1)) == ["bob-private-deploy"]
    # A per-call user overrides the store's user, with the same isolation.
    alice = SkillVectorStore(sdk=sdk, user_id="alice")
    assert "bob-private-deploy" in names(alice.similarity_search("Bob's secret deploy", k=50, user_id="bob"))
    assert "deploy-service" not in names(alice.similarity_search("deploy", k=50, user_id="bob"))


def test_skill_documents_become_the_users_skills(sdk, alice) -> None:  # type: ignore[no-untyped-def]
    doc = Document(page_content="1. Open the runbook\n2. Page the on-call",
                   metadata={"autoskill_skill": True, "name": "Escalate Incident",
                             "description": "Escalate a production incident", "tags": ["ops"]})
    plain = Document(page_content="a skill about escalation, as text", metadata={"name": "not-a-skill"})
    assert is_skill_document(doc) and not is_skill_document(plain)
    ids = alice.add_documents([doc, plain])
    skill = sdk.get(ids[0])
    assert skill is not None and skill.scope == "user" and skill.user_id == "alice"
    assert skill.name == "escalate-incident" and skill.tags == ("ops",)
    assert sdk.get(ids[1]) is None  # a plain record, not a skill
    assert alice.get_by_ids([ids[1]]) == [Document(id=ids[1], page_content=plain.page_content,
                                                   metadata={"name": "not-a-skill"})]
    # The same document again is an upsert (same id, version unchanged); new content bumps it.
    assert alice.add_documents([doc]) == [ids[0]]
    assert sdk.get(ids[0]).version == "0.1.0"
    changed = Document(page_content="1. Open the runbook\n2. Page the on-call\n3. Write it up",
                       metadata=dict(doc.metadata))
    assert alice.add_documents([changed]) == [ids[0]]
    assert sdk.get(ids[0]).version == "0.1.1"
    # Round trip: a skill document read back and added again changes nothing.
    read_back = alice.get_by_ids([ids[0]])[0]
    assert alice.add_documents([read_back]) == [ids[0]] and sdk.get(ids[0]).version == "0.1.1"


def test_skill_documents_never_write_a_library_or_another_user(sdk) -> None:  # type: ignore[no-untyped-def]
    carol = SkillVectorStore(sdk=sdk, user_id="carol")
    library = next(s for s in sdk.list(scope="all", user_id="carol") if s.scope == "library")
    bobs = sdk.list(user_id="bob")[0]
    ids = carol.add_documents([skill_to_document(library), skill_to_document(bobs)])
    assert library.id not in ids and bobs.id not in ids
    copies = [sdk.get(i) for i in ids]
    assert all(c.scope == "user" and c.user_id == "carol" for c in copies)
    assert sdk.get(library.id) == library and sdk.get(bobs.id) == bobs
    assert carol.delete([library.id, bobs.id]) is True  # not carol's: untouched
    assert sdk.get(library.id) is not None and sdk.get(bobs.id) is not None


def test_skill_document_without_a_name_is_refused(alice) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SkillValidationError):
        alice.add_documents([Document(page_content="steps", metadata={"autoskill_skill": True})])


def test_skill_document_as_skill_md(sdk, alice) -> None:  # type: ignore[no-untyped-def]
    text = ('---\nname: "tidy-logs"\ndescription: "Tidy noisy logs"\n---\n\n'
            '1. Find the noisy logger\n2. Lower its level\n')
    [skill_id] = alice.add_documents([Document(page_content=text, metadata={"autoskill_skill": True})])
    skill = sdk.get(skill_id)
    assert skill.name == "tidy-logs" and "Lower its level" in skill.instructions and skill.user_id == "alice"


def test_filters_dict_and_callable(alice) -> None:  # type: ignore[no-untyped-def]
    alice.add_texts([f"deploy note {i}" for i in range(30)],
                    metadatas=[{"user_id": f"u{i % 3}", "n": i} for i in range(30)])
    by_user = alice.similarity_search("deploy note", k=5, filter={"user_id": "u1"})
    assert len(by_user) == 5 and all(d.metadata["user_id"] == "u1" for d in by_user)
    both = alice.similarity_search("deploy note", k=20, filter={"user_id": "u2", "n": 5})
    assert [d.metadata for d in both] == [{"user_id": "u2", "n": 5}]
    odd = alice.similarity_search("deploy note", k=50, filter=lambda d: d.metadata.get("n", 0) % 2 == 1)
    assert len(odd) == 15 and all(d.metadata["n"] % 2 for d in odd)
    # A skill filter works the same way on skill metadata.
    skills = alice.similarity_search("deploy", k=10, filter={"scope": "library"})
    assert names(skills) == ["code-review"]
    assert alice.similarity_search("deploy", k=10, filter={"user_id": "alice"})[0].metadata["scope"] == "user"
    with pytest.raises(ConfigError):
        alice.similarity_search("deploy", filter=42)


def test_relevance_scores_are_in_unit_interval(alice) -> None:  # type: ignore[no-untyped-def]
    alice.add_texts(["zebra crossing", "deploy the service"])
    pairs = alice.similarity_search_with_relevance_scores("deploy the service", k=10)
    assert pairs and all(0.0 <= s <= 1.0 for _, s in pairs)
    assert pairs[0][1] == pytest.approx(1.0)
    strict = alice.as_retriever(search_type="similarity_score_threshold",
                                search_kwargs={"score_threshold": 0.99, "k": 10}).invoke("deploy the service")
    assert [d.page_content for d in strict] == ["deploy the service"]


def test_delete_none_clears_only_the_namespace_records(sdk) -> None:  # type: ignore[no-untyped-def]
    a = SkillVectorStore(sdk=sdk, user_id="alice", namespace="a")
    b = SkillVectorStore(sdk=sdk, user_id="alice", namespace="b")
    a.add_texts(["deploy alpha"], ids=["x"])
    b.add_texts(["deploy beta"], ids=["x"])
    assert a.get_by_ids(["x"])[0].page_content == "deploy alpha"
    a.delete()
    assert a.get_by_ids(["x"]) == [] and b.get_by_ids(["x"])[0].page_content == "deploy beta"
    assert "deploy-service" in names(a.similarity_search("deploy", k=10))  # skills stay


def test_inputs_are_not_mutated(alice) -> None:  # type: ignore[no-untyped-def]
    metadata = {"nested": {"a": [1, 2]}}
    doc = Document(page_content="deploy", metadata=metadata)
    [doc_id] = alice.add_documents([doc])
    assert doc.id is None and metadata == {"nested": {"a": [1, 2]}}
    out = alice.get_by_ids([doc_id])[0]
    out.metadata["nested"]["a"].append(3)
    assert alice.get_by_ids([doc_id])[0].metadata == {"nested": {"a": [1, 2]}}


def test_metadata_must_be_json(alice) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError):
        alice.add_texts(["x"], metadatas=[{"bad": object()}])


def test_mmr_and_retriever_modes(alice) -> None:  # type: ignore[no-untyped-def]
    alice.add_texts(["deploy the service", "deploy the service now", "rotate keys"])
    picked = alice.max_marginal_relevance_search("deploy the service", k=2, fetch_k=10, lambda_mult=0.3)
    assert len(picked) == 2 and picked[0].page_content == "deploy the service"
    by_vector = alice.similarity_search_by_vector(alice.embeddings.embed_query("rotate keys"), k=1)
    assert by_vector[0].page_content == "rotate keys"
    assert len(alice.as_retriever(search_type="mmr", search_kwargs={"k": 3}).invoke("deploy")) == 3
    assert len(alice.as_retriever(search_kwargs={"k": 2}).invoke("deploy")) == 2


def test_from_texts_and_from_documents() -> None:
    emb = HashingEmbeddings(dims=64)
    store = SkillVectorStore.from_texts(["alpha beta", "gamma delta"], emb, metadatas=[{"i": 1}, {"i": 2}],
                                        ids=["a", "g"])
    assert store.similarity_search("gamma", k=1) == [Document(id="g", page_content="gamma delta", metadata={"i": 2})]
    docs = [Document(id="d1", page_content="one"), Document(page_content="two", metadata={"n": 2})]
    again = SkillVectorStore.from_documents(docs, emb, namespace="docs")
    assert again.namespace == "docs" and again.get_by_ids(["d1"])[0].page_content == "one"


def test_unknown_keyword_is_an_error(alice) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="fliter"):
        alice.similarity_search("x", fliter={"a": 1})


async def test_async_methods(alice) -> None:  # type: ignore[no-untyped-def]
    ids = await alice.aadd_documents([Document(page_content="deploy the service"),
                                      Document(page_content="x", metadata={"autoskill_skill": True,
                                                                           "name": "async-skill"})])
    assert alice.sdk.get(ids[1]).name == "async-skill"
    found = await alice.asimilarity_search("deploy the service", k=1)
    assert found[0].page_content == "deploy the service"
    scored = await alice.asimilarity_search_with_relevance_scores("deploy the service", k=3)
    assert all(0 <= s <= 1 for _, s in scored)
    assert len(await alice.amax_marginal_relevance_search("deploy", k=2)) == 2
    assert (await alice.aget_by_ids([ids[0]]))[0].page_content == "deploy the service"
    await alice.adelete([ids[0], "missing"])
    assert await alice.aget_by_ids([ids[0]]) == []
    by_vector = await alice.asimilarity_search_by_vector(alice.embeddings.embed_query(DEPLOY_STEPS), k=1)
    assert by_vector[0].metadata["name"] == "deploy-service"


def test_records_come_back_as_documents_identical_to_validated_ones() -> None:
    # record_to_document skips pydantic validation when its self-check shows the result is
    # the same object Document(...) makes; on the pinned versions it must take that path.
    from langchain_core.load import dumpd

    from autoskill.store import Record
    from autoskill_lc import documents

    assert documents._build_document is documents._prebuilt_document
    metadata = {"user_id": "u1", "n": 3, "nested": {"a": [1, 2]}, 5: "int key"}
    record = Record(id="r1", text="deploy note", metadata=metadata)
    fast = documents.record_to_document(record)
    slow = Document(id="r1", page_content="deploy note", metadata=metadata)
    assert type(fast) is Document and fast == slow and repr(fast) == repr(slow)
    assert fast.model_fields_set == slow.model_fields_set and dumpd(fast) == dumpd(slow)
    assert fast.model_dump_json() == slow.model_dump_json()
    assert Document.model_validate(fast.model_dump()) == fast
    fast.metadata["nested"]["a"].append(3)  # a copy: the stored record is untouched
    fast.page_content = "changed"  # assignment works as on any Document
    assert record.metadata["nested"]["a"] == [1, 2] and fast.page_content == "changed"
    assert documents._validated_document("r1", "deploy note", dict(metadata)) == slow
