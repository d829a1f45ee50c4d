"""AutoSkill with Openai as the LLM (and embeddings), as in the seed README.

Needs the integration package and a key; without them it exits with a clear message.

    pip install "autoskill[openai]"
    export OPENAI_API_KEY=...
    python -m examples.openai_provider
"""

import sys

from examples._provider import run_provider_example

if __name__ == "__main__":
    sys.exit(run_provider_example("openai"))
