"""An offline sdk holding a few skills, shared by the LangChain and LlamaIndex tests.

``tests/`` is on ``sys.path`` under pytest (its conftest.py is rootdir-level), so the
integration test packages import this as ``sample_sdk``.
"""

from __future__ import annotations

from typing import Any

from autoskill import AutoSkill, AutoSkillConfig, Skill

DEPLOY_STEPS = "1. Run the test suite\n2. Build the image with make image\n3. Roll out with kubectl apply"
DIMS = 256


def make_sdk(store: Any = None) -> AutoSkill:
    """An offline AutoSkill (hashing embeddings) holding a few skills.

    alice: deploy-service, rotate-api-keys, write-release-notes; bob: bob-private-deploy;
    shared library ``team``: code-review.
    """
    sdk = AutoSkill(AutoSkillConfig(
        embeddings={"provider": "hashing", "dims": DIMS},
        store=store or {"provider": "inmemory"},
    ))
    sdk.add(Skill(name="deploy-service", description="Deploy the web service to production",
                  instructions=DEPLOY_STEPS, tags=("ops", "deploy"), user_id="alice"))
    sdk.add(Skill(name="rotate-api-keys", description="Rotate API keys for the service safely",
                  instructions="1. Create the new key\n2. Deploy it\n3. Revoke the old key", user_id="alice"))
    sdk.add(Skill(name="write-release-notes", description="Write release notes after a deploy",
                  instructions="List merged changes, group by area, link the deploy", user_id="alice"))
    sdk.add(Skill(name="bob-private-deploy", description="Bob's secret way to deploy the service",
                  instructions="BOB-ONLY: deploy the service from my laptop", user_id="bob"))
    sdk.store.upsert(Skill(name="code-review", description="Review code before you deploy the service",
                           instructions="Check tests, naming and error handling", scope="library",
                           library="team"), allow_library=True)
    return sdk
