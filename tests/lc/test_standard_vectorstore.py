"""LangChain's standard vector store suite, unmodified, on SkillVectorStore.

Run twice: standalone (in memory, constructed like LangChain's own stores) and over an
AutoSkill whose store is a local folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from autoskill import AutoSkill, AutoSkillConfig
from autoskill_lc import SkillVectorStore


class TestSkillVectorStoreStandalone(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self) -> VectorStore:  # type: ignore[override]
        return SkillVectorStore(embedding=self.get_embeddings())


class TestSkillVectorStoreOnLocalSdk(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> VectorStore:  # type: ignore[override]
        sdk = AutoSkill(AutoSkillConfig(embeddings=self.get_embeddings(),
                                        store={"provider": "local", "path": str(tmp_path / "store")}))
        return SkillVectorStore(sdk=sdk, user_id="alice")
