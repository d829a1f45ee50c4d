"""LlamaIndex integration for AutoSkill (vector store, retriever, reader, memory block, instrumentation, tools).

Conventions (see ``docs/llamaindex.md``): adapters that act on a library take the
:class:`~autoskill.AutoSkill` as ``sdk=`` and the user as ``user_id=``; per call, the user
and thread come from keyword arguments where LlamaIndex passes them (``memory.get(...)``,
``agent.run(...)``, ``vector_store_kwargs``) or from :func:`session`. Skill nodes carry the
metadata keys ``skill_id``, ``name``, ``version``, ``user_id``, ``scope``, ``tags``.

Importing this package imports ``llama_index.core`` (seconds); ``import autoskill`` never does.
"""

from autoskill_li.context import session
from autoskill_li.embeddings import AutoSkillEmbedding, HashingEmbedding, LlamaIndexEmbedder
from autoskill_li.instrumentation import AutoSkillInstrumentation
from autoskill_li.memory import SkillMemoryBlock
from autoskill_li.nodes import hit_to_node, is_skill_node, node_to_skill, skill_to_node
from autoskill_li.reader import SkillDirectoryReader
from autoskill_li.retriever import SkillRetriever
from autoskill_li.tools import SkillToolSpec, make_skill_tools
from autoskill_li.vector_store import SkillVectorStore

__all__ = [
    "AutoSkillEmbedding",
    "AutoSkillInstrumentation",
    "HashingEmbedding",
    "LlamaIndexEmbedder",
    "SkillDirectoryReader",
    "SkillMemoryBlock",
    "SkillRetriever",
    "SkillToolSpec",
    "SkillVectorStore",
    "hit_to_node",
    "is_skill_node",
    "make_skill_tools",
    "node_to_skill",
    "session",
    "skill_to_node",
]
