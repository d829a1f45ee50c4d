"""BigModel GLM: embed and extract in one script (in-memory store).

    pip install "autoskill[openai]"
    export ZHIPUAI_API_KEY="YOUR_ID.YOUR_SECRET"
    python -m examples.bigmodel_glm_embed_extract
"""

import sys

from examples._provider import run_provider_example

if __name__ == "__main__":
    sys.exit(run_provider_example("glm"))
