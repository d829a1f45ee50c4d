"""The interactive chat (``autoskill chat``, ``python -m examples.interactive_chat``)."""

from autoskill.interactive.app import ChatSession, main

__all__ = ["ChatSession", "main"]
