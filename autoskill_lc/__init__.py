"""LangChain integration for AutoSkill: vector store, retriever, loader, embeddings, tools,
chain memory, agent middleware and a callback handler that captures runs for learning.

Conventions (see ``docs/langchain.md``): adapters that act on a library take the
:class:`~autoskill.AutoSkill` as ``sdk=`` and the user as ``user_id=``; per call, the user
and thread may come from ``config["configurable"]["user_id"/"thread_id"]``. Skill Documents
carry the metadata keys ``skill_id``, ``name``, ``version``, ``user_id``, ``scope``, ``tags``.

Optional packages are loaded only when used: ``SkillMiddleware`` needs ``langchain``
(``autoskill[agents]``), ``SkillMemory`` in classic chains needs ``langchain-classic``
(``autoskill[classic]``). Reusable offline fakes live in :mod:`autoskill_lc.testing`.
"""

from typing import TYPE_CHECKING, Any

from autoskill_lc.callbacks import AutoSkillCallbackHandler
from autoskill_lc.documents import document_to_skill, hit_to_document, is_skill_document, skill_to_document
from autoskill_lc.embeddings import AutoSkillEmbeddings, HashingEmbeddings, LangChainEmbedder
from autoskill_lc.loader import SkillDirectoryLoader
from autoskill_lc.memory import SkillMemory
from autoskill_lc.retriever import SkillRetriever
from autoskill_lc.tools import SkillToolkit, make_skill_tools
from autoskill_lc.vectorstore import SkillVectorStore

if TYPE_CHECKING:
    from autoskill_lc.middleware import SkillMiddleware

__all__ = [
    "AutoSkillCallbackHandler",
    "AutoSkillEmbeddings",
    "HashingEmbeddings",
    "LangChainEmbedder",
    "SkillDirectoryLoader",
    "SkillMemory",
    "SkillMiddleware",
    "SkillRetriever",
    "SkillToolkit",
    "SkillVectorStore",
    "document_to_skill",
    "hit_to_document",
    "is_skill_document",
    "make_skill_tools",
    "skill_to_document",
]


def __getattr__(name: str) -> Any:
    # SkillMiddleware subclasses langchain's AgentMiddleware: import it (and langchain,
    # about a second) only when asked for. Without langchain this raises
    # MissingDependencyError (an ImportError) naming the extra to install.
    if name == "SkillMiddleware":
        from autoskill_lc.middleware import SkillMiddleware

        return SkillMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
