"""LangChain's standard retriever suite, unmodified, on SkillRetriever."""

from __future__ import annotations

import functools
from typing import Any

from langchain_tests.integration_tests import RetrieversIntegrationTests

from autoskill import AutoSkill
from autoskill_lc import SkillRetriever

from ._support import make_sdk


@functools.lru_cache(maxsize=1)
def _sdk() -> AutoSkill:
    return make_sdk()


class TestSkillRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[SkillRetriever]:
        return SkillRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"sdk": _sdk(), "user_id": "alice"}

    @property
    def retriever_query_example(self) -> str:
        return "How do I deploy the service?"
