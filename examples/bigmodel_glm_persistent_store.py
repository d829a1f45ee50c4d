"""BigModel GLM (GLM-4.7 + embedding-3) with a local persistent store.

    pip install "autoskill[openai]"        # GLM is reached through its OpenAI-compatible API
    export ZHIPUAI_API_KEY="YOUR_ID.YOUR_SECRET"
    python -m examples.bigmodel_glm_persistent_store
"""

import sys

from examples._provider import run_provider_example

if __name__ == "__main__":
    sys.exit(run_provider_example("glm", store_dir="Skills-glm"))
