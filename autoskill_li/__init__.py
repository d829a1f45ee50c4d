"""LlamaIndex integration for AutoSkill (vector store, retriever, memory block, instrumentation, tools)."""

__all__: list[str] = []
