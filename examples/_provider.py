"""Shared body of the provider examples: build, learn, search; explain what is missing."""

from __future__ import annotations

import os
import sys

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.errors import AutoSkillError

KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "glm": "ZHIPUAI_API_KEY"}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-sonnet-latest", "glm": "glm-4.7"}
EMBEDDINGS = {"openai": {"provider": "openai", "model": "text-embedding-3-small"},
              "glm": {"provider": "glm", "model": "embedding-3"}}


def run_provider_example(provider: str, *, store_dir: str | None = None) -> int:
    """Run the example for ``provider``; exit status 2 with a clear message when unusable."""
    key_var = KEYS[provider]
    if not os.environ.get(key_var):
        print(f"{provider} example: set {key_var} (and install the integration: "
              f'pip install "autoskill[{"anthropic" if provider == "anthropic" else "openai"}]").', file=sys.stderr)
        return 2
    store = {"provider": "local", "path": store_dir} if store_dir else {"provider": "inmemory"}
    try:
        sdk = AutoSkill(AutoSkillConfig(
            llm={"provider": provider, "model": MODELS[provider], "api_key": os.environ[key_var]},
            embeddings=EMBEDDINGS.get(provider, {"provider": "hashing", "dims": 256}),
            store=store,
            maintenance_strategy="llm",
        ))
        sdk.ingest(messages=[{"role": "user", "content":
            "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."}], user_id="u1")
        for hit in sdk.search("How should I do a release?", user_id="u1"):
            print(hit.skill.name, round(hit.score, 3))
    except AutoSkillError as exc:
        print(f"{provider} example: {exc}", file=sys.stderr)
        return 2
    return 0
