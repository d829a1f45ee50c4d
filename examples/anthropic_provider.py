"""AutoSkill with Anthropic as the LLM (hashing embeddings), as in the seed README.

Needs the integration package and a key; without them it exits with a clear message.

    pip install "autoskill[anthropic]"
    export ANTHROPIC_API_KEY=...
    python -m examples.anthropic_provider
"""

import sys

from examples._provider import run_provider_example

if __name__ == "__main__":
    sys.exit(run_provider_example("anthropic"))
