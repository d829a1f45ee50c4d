"""The LangChain and LlamaIndex classes, unchanged, over an AutoSkill whose store is PostgreSQL.

LangChain's standard vector store suite runs unmodified; LlamaIndex's SkillVectorStore
answers queries (user-scoped, filtered, end to end through a VectorStoreIndex).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests
from postgres_server import drop_schema, fresh_schema, postgres_dsn

from autoskill import AutoSkill, AutoSkillConfig, Skill


def postgres_sdk(embeddings: object, schema: str) -> AutoSkill:
    return AutoSkill(AutoSkillConfig(embeddings=embeddings,
                                     store={"provider": "postgres", "dsn": postgres_dsn(), "schema": schema}))


class TestSkillVectorStoreOnPostgresSdk(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self) -> Iterator[VectorStore]:  # type: ignore[override]
        from autoskill_lc import SkillVectorStore

        schema = fresh_schema()
        sdk = postgres_sdk(self.get_embeddings(), schema)
        yield SkillVectorStore(sdk=sdk, user_id="alice")
        sdk.close()
        drop_schema(postgres_dsn(), schema)


@pytest.fixture
def li_sdk() -> Iterator[AutoSkill]:
    schema = fresh_schema()
    sdk = postgres_sdk({"provider": "hashing", "dims": 256}, schema)
    sdk.add(Skill(name="deploy-service", description="Deploy the web service to production",
                  instructions="1. Run the test suite\n2. Build the image\n3. Roll out with kubectl apply",
                  tags=("ops", "deploy"), user_id="alice"))
    sdk.add(Skill(name="bob-private-deploy", description="Bob's secret way to deploy the service",
                  instructions="BOB-ONLY: deploy the service from my laptop", user_id="bob"))
    sdk.store.upsert(Skill(name="code-review", description="Review code before you deploy the service",
                           instructions="Check tests, naming and error handling", scope="library", library="team"),
                     allow_library=True)
    yield sdk
    sdk.close()
    drop_schema(postgres_dsn(), schema)


def test_llamaindex_vector_store_queries_postgres(li_sdk: AutoSkill) -> None:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters, VectorStoreQuery

    from autoskill_li import HashingEmbedding, SkillVectorStore

    embed = HashingEmbedding(256)
    store = SkillVectorStore(sdk=li_sdk)
    note = TextNode(text="deploy the service runbook", id_="r-alice", metadata={"user_id": "alice", "n": 1})
    note.embedding = embed.get_text_embedding(note.text)
    assert store.add([note]) == ["r-alice"]
    result = store.query(VectorStoreQuery(query_embedding=embed.get_query_embedding("deploy the service"),
                                          similarity_top_k=10,
                                          filters=MetadataFilters(filters=[MetadataFilter(key="user_id",
                                                                                          value="alice")])))
    names = [n.metadata.get("name") or n.node_id for n in result.nodes or []]
    assert "deploy-service" in names and "r-alice" in names and "bob-private-deploy" not in names
    assert result.similarities == sorted(result.similarities or [], reverse=True)
    [back] = store.get_nodes(node_ids=["r-alice"])
    assert back.metadata == {"user_id": "alice", "n": 1} and back.get_content() == note.text
    anonymous = store.query(VectorStoreQuery(query_embedding=embed.get_query_embedding("deploy the service"),
                                             similarity_top_k=10))
    assert "code-review" in [n.metadata.get("name") for n in anonymous.nodes or []]
    assert "deploy-service" not in [n.metadata.get("name") for n in anonymous.nodes or []]


def test_llamaindex_index_end_to_end_on_postgres(li_sdk: AutoSkill) -> None:
    from llama_index.core import Document, StorageContext, VectorStoreIndex

    from autoskill_li import HashingEmbedding, SkillRetriever, SkillVectorStore

    store = SkillVectorStore(sdk=li_sdk, user_id="alice")
    index = VectorStoreIndex.from_documents([Document(text="Our deploy window is Tuesday", id_="doc-1")],
                                            storage_context=StorageContext.from_defaults(vector_store=store),
                                            embed_model=HashingEmbedding(256))
    nodes = index.as_retriever(similarity_top_k=5).retrieve("when do we deploy the service")
    texts = [n.node.get_content() for n in nodes]
    assert any("Tuesday" in t for t in texts) and not any("BOB-ONLY" in t for t in texts)
    skills = SkillRetriever(li_sdk, user_id="alice", k=2).retrieve("How do I deploy the service?")
    assert skills[0].node.metadata["name"] == "deploy-service"
