"""Interactive chat: retrieval before every answer, deferred learning from the next message.

    python -m examples.interactive_chat --llm-provider mock --store-dir Skills
    printf 'Before each release: a -> b -> c\\nthanks, that worked\\nHow do I release?\\n/quit\\n' | \\
        python -m examples.interactive_chat --llm-provider mock --store-dir ./chat-store
"""

from autoskill.interactive import main

if __name__ == "__main__":
    raise SystemExit(main())
