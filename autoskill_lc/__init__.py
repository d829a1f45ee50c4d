"""LangChain integration for AutoSkill (vector store, retriever, loader, embeddings, tools).

Conventions (see ``docs/langchain.md``): adapters that act on a library take the
:class:`~autoskill.AutoSkill` as ``sdk=`` and the user as ``user_id=``; per call, the user
and thread may come from ``config["configurable"]["user_id"/"thread_id"]``. Skill Documents
carry the metadata keys ``skill_id``, ``name``, ``version``, ``user_id``, ``scope``, ``tags``.
"""

from autoskill_lc.documents import document_to_skill, hit_to_document, is_skill_document, skill_to_document
from autoskill_lc.embeddings import AutoSkillEmbeddings, HashingEmbeddings, LangChainEmbedder
from autoskill_lc.loader import SkillDirectoryLoader
from autoskill_lc.retriever import SkillRetriever
from autoskill_lc.tools import make_skill_tools
from autoskill_lc.vectorstore import SkillVectorStore

__all__ = [
    "AutoSkillEmbeddings",
    "HashingEmbeddings",
    "LangChainEmbedder",
    "SkillDirectoryLoader",
    "SkillRetriever",
    "SkillVectorStore",
    "document_to_skill",
    "hit_to_document",
    "is_skill_document",
    "make_skill_tools",
    "skill_to_document",
]
