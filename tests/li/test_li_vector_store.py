"""SkillVectorStore: faithful records, skills, filters, user privacy, the LlamaIndex routes in."""

from __future__ import annotations

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from autoskill.errors import ConfigError
from autoskill_li import HashingEmbedding, SkillVectorStore, session

from ._support import DIMS, make_sdk

EMBED = HashingEmbedding(DIMS)


def by_user(user: str) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key="user_id", value=user)])


def embedded(node: TextNode) -> TextNode:
    node.embedding = EMBED.get_text_embedding(node.get_content())
    return node


def query(store: SkillVectorStore, text: str, k: int = 10, **fields: object) -> list[tuple[str, float]]:
    result = store.query(VectorStoreQuery(query_embedding=EMBED.get_query_embedding(text), similarity_top_k=k,
                                          **fields))  # type: ignore[arg-type]
    assert result.nodes is not None and result.similarities is not None and result.ids is not None
    assert [n.node_id for n in result.nodes] == result.ids
    return [(n.metadata.get("name") or n.node_id, s) for n, s in zip(result.nodes, result.similarities)]


def names(store: SkillVectorStore, text: str, **fields: object) -> list[str]:
    return [name for name, _ in query(store, text, **fields)]


@pytest.fixture
def store() -> SkillVectorStore:
    return SkillVectorStore(sdk=make_sdk())


def test_no_argument_store_sizes_itself_from_the_first_embeddings() -> None:
    bare = SkillVectorStore()
    assert bare.stores_text and bare.query(VectorStoreQuery(query_embedding=[1.0] * 8)).nodes == []
    small = HashingEmbedding(32)
    node = TextNode(text="deploy the service", id_="n1")
    node.embedding = small.get_text_embedding(node.text)
    assert bare.add([node]) == ["n1"]
    assert bare.sdk.embedder.identity == "hashing-v1:32"
    assert SkillVectorStore(dims=48).sdk.embedder.dims == 48
    assert SkillVectorStore(embed_model=EMBED).sdk.embedder.identity == f"hashing-v1:{DIMS}"


def test_constructor_rejects_contradictions() -> None:
    sdk = make_sdk()
    with pytest.raises(ConfigError):
        SkillVectorStore(sdk=sdk, dims=DIMS + 1)
    with pytest.raises(ConfigError):
        SkillVectorStore(sdk=sdk, embed_model=HashingEmbedding(64))
    with pytest.raises(ConfigError):
        SkillVectorStore(embed_model=EMBED, dims=DIMS)
    with pytest.raises(ConfigError):
        SkillVectorStore(scope="everyone")
    assert SkillVectorStore(sdk=sdk, embed_model=EMBED).sdk is sdk


def test_plain_nodes_round_trip_exactly(store: SkillVectorStore) -> None:
    node = TextNode(text="lunch menu: pizza", id_="r1", metadata={"n": 2, "tags": ["food"], "nested": {"a": 1}},
                    excluded_llm_metadata_keys=["n"], start_char_idx=3, end_char_idx=20,
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-1")})
    original = node.model_copy(deep=True)
    store.add([embedded(node)])
    assert node.model_dump(exclude={"embedding"}) == original.model_dump(exclude={"embedding"})  # not mutated
    [back] = store.get_nodes(node_ids=["r1"])
    assert back.model_dump(exclude={"embedding"}) == original.model_dump(exclude={"embedding"})
    assert back.ref_doc_id == "doc-1"
    assert query(store, "pizza lunch", k=1)[0][0] == "r1"


def test_skill_nodes_become_skills_of_the_acting_user(store: SkillVectorStore) -> None:
    sdk = store.sdk
    node = TextNode(text="1. Draft\n2. Review\n3. Publish", id_="x",
                    metadata={"autoskill_skill": True, "name": "blog-post", "description": "Publish a blog post"})
    with session(user_id="carol"):
        [skill_id] = store.add([embedded(node)])
    skill = sdk.get(skill_id)
    assert skill is not None and (skill.name, skill.user_id, skill.scope) == ("blog-post", "carol", "user")
    # Re-adding the node it came back as keeps the skill (same id, same version).
    [again] = store.get_nodes(node_ids=[skill_id], filters=by_user("carol"))
    assert again.metadata["skill_id"] == skill_id and again.metadata["scope"] == "user"
    with session(user_id="carol"):
        assert store.add([embedded(again)]) == [skill_id]
    assert sdk.get(skill_id).version == skill.version  # type: ignore[union-attr]
    # A chunk of a longer document is a fragment, not a skill: it is stored as a record.
    chunk = TextNode(text="part two", id_="c2", metadata={"autoskill_skill": True, "name": "half"},
                     relationships={NodeRelationship.PREVIOUS: RelatedNodeInfo(node_id="c1")})
    assert store.add([embedded(chunk)]) == ["c2"]
    assert sdk.resolve("half", user_id="default") is None and store.get_nodes(node_ids=["c2"])


def test_user_scoped_queries_never_return_another_users_private_skill(store: SkillVectorStore) -> None:
    store.add([embedded(TextNode(text="deploy the service notes", id_="r-alice", metadata={"user_id": "alice"})),
               embedded(TextNode(text="deploy the service log", id_="r-bob", metadata={"user_id": "bob"}))])
    for_alice = names(store, "deploy the service", filters=by_user("alice"))
    assert "deploy-service" in for_alice and "r-alice" in for_alice
    assert "bob-private-deploy" not in for_alice and "r-bob" not in for_alice
    assert "code-review" not in for_alice  # library skills carry no user_id: the filter excludes them
    # A store fixed to alice stays alice's even when a filter names bob.
    fixed = SkillVectorStore(sdk=store.sdk, user_id="alice")
    assert "bob-private-deploy" not in names(fixed, "deploy the service", filters=by_user("bob"))
    assert "bob-private-deploy" not in names(fixed, "deploy the service")
    # Without any user, only the libraries' skills and the records are visible.
    anonymous = names(store, "deploy the service")
    assert "code-review" in anonymous and not {"deploy-service", "bob-private-deploy"} & set(anonymous)
    # The acting user can come per query (vector_store_kwargs) or from a session.
    as_bob = store.query(VectorStoreQuery(query_embedding=EMBED.get_query_embedding("deploy the service"),
                                          similarity_top_k=10), user_id="bob")
    assert "bob-private-deploy" in [n.metadata.get("name") for n in as_bob.nodes or []]
    assert "bob-private-deploy" in names_for(store, "bob")


def names_for(store: SkillVectorStore, user: str) -> list[str]:
    with session(user_id=user):
        return names(store, "deploy the service")


def test_scope_and_operator_filters(store: SkillVectorStore) -> None:
    library = SkillVectorStore(sdk=store.sdk, user_id="alice", scope="library")
    assert names(library, "deploy the service") == ["code-review"]
    mine = SkillVectorStore(sdk=store.sdk, user_id="alice", scope="user")
    assert set(names(mine, "deploy the service")) == {"deploy-service", "rotate-api-keys", "write-release-notes"}
    alice = SkillVectorStore(sdk=store.sdk, user_id="alice")
    library_only = MetadataFilters(filters=[MetadataFilter(key="scope", value="library")])
    assert names(alice, "deploy", filters=library_only) == ["code-review"]
    tagged = MetadataFilters(filters=[MetadataFilter(key="tags", value="ops", operator=FilterOperator.CONTAINS)])
    assert names(alice, "deploy", filters=tagged) == ["deploy-service"]
    either = MetadataFilters(condition=FilterCondition.OR, filters=[
        MetadataFilter(key="name", value="rotate-api-keys"),
        MetadataFilters(filters=[MetadataFilter(key="scope", value="library")]),
    ])
    assert set(names(alice, "deploy", filters=either)) == {"rotate-api-keys", "code-review"}
    neither = MetadataFilters(condition=FilterCondition.NOT, filters=[MetadataFilter(key="scope", value="user")])
    assert names(alice, "deploy", filters=neither) == ["code-review"]


def test_node_ids_doc_ids_top_k_and_mmr(store: SkillVectorStore) -> None:
    alice = SkillVectorStore(sdk=store.sdk, user_id="alice")
    docs = [TextNode(text=f"deploy note {i}", id_=f"n{i}",
                     relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc{i % 2}")})
            for i in range(6)]
    alice.add([embedded(d) for d in docs])
    everything = names(alice, "deploy note", k=50)
    assert names(alice, "deploy note", k=50, node_ids=[]) == everything  # empty list: no restriction
    assert sorted(names(alice, "deploy note", node_ids=["n1", "n2", "missing"])) == ["n1", "n2"]
    skill_id = store.sdk.resolve("deploy-service", user_id="alice").id  # type: ignore[union-attr]
    assert names(alice, "deploy", node_ids=[skill_id, "n3"])[0] in ("deploy-service", "n3")
    bob_skill = store.sdk.resolve("bob-private-deploy", user_id="bob").id  # type: ignore[union-attr]
    assert names(alice, "deploy", node_ids=[bob_skill]) == []  # ids do not open other users' skills
    assert sorted(names(alice, "deploy note", doc_ids=["doc1"])) == ["n1", "n3", "n5"]
    assert len(query(alice, "deploy note", k=3)) == 3
    scored = query(alice, "deploy note", k=3)
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)
    mmr = query(alice, "deploy note", k=3, mode=VectorStoreQueryMode.MMR)
    assert len(mmr) == 3 and all(-1.0 <= s <= 1.0 for _, s in mmr)
    with pytest.raises(ValueError):
        query(alice, "deploy", mode=VectorStoreQueryMode.SVM)
    text_only = alice.query(VectorStoreQuery(query_str="deploy the service", similarity_top_k=1))
    assert text_only.nodes and text_only.nodes[0].metadata["name"] == "deploy-service"


def test_delete_by_ref_doc_delete_nodes_and_clear(store: SkillVectorStore) -> None:
    alice = SkillVectorStore(sdk=store.sdk, user_id="alice")
    nodes = [embedded(TextNode(text=f"note {i}", id_=f"n{i}", metadata={"n": i},
                               relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc{i % 2}")}))
             for i in range(4)]
    alice.add(nodes)
    alice.delete("doc0")
    assert sorted(n.node_id for n in alice.get_nodes() if n.node_id.startswith("n")) == ["n1", "n3"]
    alice.delete_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="n", value=3)]))
    assert [n.node_id for n in alice.get_nodes(node_ids=["n1", "n3"])] == ["n1"]
    deploy = store.sdk.resolve("deploy-service", user_id="alice")
    bob = store.sdk.resolve("bob-private-deploy", user_id="bob")
    library = store.sdk.resolve("code-review", user_id="alice")
    alice.delete_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="scope", value="user")]))
    assert store.sdk.get(deploy.id) is not None  # type: ignore[union-attr]  # a filter alone never deletes skills
    alice.delete_nodes(node_ids=[deploy.id, bob.id, library.id])  # type: ignore[union-attr]
    assert store.sdk.get(deploy.id) is None  # type: ignore[union-attr]
    assert store.sdk.get(bob.id) is not None and store.sdk.get(library.id) is not None  # type: ignore[union-attr]
    alice.clear()
    assert [n.metadata.get("name") for n in alice.get_nodes()] == ["rotate-api-keys", "write-release-notes",
                                                                   "code-review"]


async def test_async_twins(store: SkillVectorStore) -> None:
    node = embedded(TextNode(text="async deploy note", id_="a1"))
    assert await store.async_add([node]) == ["a1"]
    result = await store.aquery(VectorStoreQuery(query_embedding=EMBED.get_query_embedding("async deploy note"),
                                                 similarity_top_k=1))
    assert result.ids == ["a1"]
    assert [n.node_id for n in await store.aget_nodes(node_ids=["a1"])] == ["a1"]
    await store.adelete_nodes(node_ids=["a1"])
    assert await store.aget_nodes(node_ids=["a1"]) == []
    await store.async_add([node])
    await store.aclear()
    assert await store.aget_nodes(node_ids=["a1"]) == []
    await store.async_add([embedded(TextNode(text="x", id_="b1", relationships={
        NodeRelationship.SOURCE: RelatedNodeInfo(node_id="d")}))])
    await store.adelete("d")
    assert await store.aget_nodes(node_ids=["b1"]) == []


def test_index_retriever_and_query_engine_end_to_end_with_user_filters() -> None:
    sdk = make_sdk()
    store = SkillVectorStore(sdk=sdk)
    index = VectorStoreIndex.from_vector_store(store, embed_model=EMBED)
    index.insert(Document(text="The service deploy runbook lives in ops/runbook.md", id_="kb-1",
                          metadata={"user_id": "alice"}))
    index.insert(Document(text="Bob keeps deploy secrets in his notes", id_="kb-2", metadata={"user_id": "bob"}))
    retriever = index.as_retriever(similarity_top_k=5, filters=by_user("alice"))
    found = retriever.retrieve("How do I deploy the service?")
    found_names = [n.node.metadata.get("name") or n.node.get_content() for n in found]
    assert "deploy-service" in found_names and any("runbook" in str(x) for x in found_names)
    assert not any("Bob" in str(x) or x == "bob-private-deploy" for x in found_names)
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=5, filters=by_user("alice"))
    response = engine.query("How do I deploy the service?")
    sources = [n.node.get_content() for n in response.source_nodes]
    assert any("Roll out with kubectl apply" in s for s in sources)
    assert not any("BOB-ONLY" in s or "Bob keeps" in s for s in sources)
    assert "Roll out with kubectl apply" in str(response)  # MockLLM echoes the prompt it got
    # The user can also come through vector_store_kwargs, without a filter.
    as_bob = index.as_retriever(similarity_top_k=10, vector_store_kwargs={"user_id": "bob"})
    assert "bob-private-deploy" in [n.node.metadata.get("name") for n in as_bob.retrieve("deploy the service")]
    index.delete_ref_doc("kb-1")
    assert not any("runbook" in n.node.get_content() for n in retriever.retrieve("deploy runbook"))


def test_storage_context_and_ingestion_pipeline_routes() -> None:
    store = SkillVectorStore()
    docs = [Document(text="Rotate the database password every quarter. " * 3, id_="d1"),
            Document(text="Lunch is served at noon in the cafeteria.", id_="d2")]
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store),
                                            embed_model=EMBED)
    top = index.as_retriever(similarity_top_k=1).retrieve("database password rotation")
    assert top[0].node.ref_doc_id == "d1"
    pipeline_store = SkillVectorStore(embed_model=EMBED, namespace="kb")
    pipeline = IngestionPipeline(transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), EMBED],
                                 vector_store=pipeline_store)
    nodes = pipeline.run(documents=docs)
    assert len(nodes) >= 2 and len(pipeline_store.get_nodes()) == len(nodes)
    again = VectorStoreIndex.from_vector_store(pipeline_store, embed_model=EMBED)
    assert again.as_retriever(similarity_top_k=1).retrieve("lunch at noon")[0].node.ref_doc_id == "d2"
