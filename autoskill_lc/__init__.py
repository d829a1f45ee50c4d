"""LangChain integration for AutoSkill (vector store, retriever, memory, callbacks, tools)."""

__all__: list[str] = []
