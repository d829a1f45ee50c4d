"""The learning loop end to end: secrets never stored, and an LLM-driven loop with a fake model."""

from __future__ import annotations

import json
from pathlib import Path

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from autoskill import AutoSkill, AutoSkillConfig

SECRETS = {
    "api_key": "sk-proj-4fJ8kLmN2pQ7rS9tUvWx3yZa1bCdEfGh5iJkLmNo",
    "password": "Tr0ub4dor&3-horse",
    "email": "jane.doe@example.com",
    "phone": "+1 (415) 555-0132",
}


def test_planted_secrets_appear_nowhere_in_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    sdk = AutoSkill(AutoSkillConfig(store={"provider": "local", "path": str(store)}))
    text = (f"Before each deploy: export OPENAI_API_KEY={SECRETS['api_key']} -> log in with password="
            f"{SECRETS['password']} -> mail {SECRETS['email']} -> call {SECRETS['phone']} if it fails -> ship it in 2024")
    [skill] = sdk.ingest(messages=[{"role": "user", "content": text}], user_id="u1")
    sdk.capture([{"type": "tool_call", "run_id": "r1", "thread_id": "t", "user_id": "u1", "tool": "login",
                  "input": {"password": SECRETS["password"]}, "output": SECRETS["email"], "status": "ok"}])
    sdk.feedback("r1", True, comment=f"worked, ping {SECRETS['phone']}")
    sdk.close()
    assert "2024" in skill.instructions  # ordinary numbers survive
    blobs = [p.read_bytes() for p in store.rglob("*") if p.is_file()]
    assert blobs
    for kind, secret in SECRETS.items():
        assert not any(secret.encode() in blob for blob in blobs), kind


EXTRACTION = json.dumps({"skills": [{
    "name": "release-workflow", "description": "How we release safely",
    "instructions": ["Run regression tests", "Canary rollout", "Monitor", "Full rollout"],
    "triggers": ["how do I release"], "tags": ["release"], "confidence": 0.9, "kind": "procedure",
    "evidence": ["run regression tests -> canary rollout -> monitor -> full rollout"]}]})
PARAPHRASE = json.dumps({"skills": [{
    "name": "shipping-process", "description": "Our flow for shipping releases",
    "instructions": ["Regression tests first", "Canary release", "Keep monitoring", "Roll out to everyone",
                     "Announce in the changelog"],
    "triggers": ["ship a release"], "tags": ["release"], "confidence": 0.8, "kind": "procedure",
    "evidence": ["regression tests first, then a canary release"]}]})
JUDGE_SAME = json.dumps({"same": True, "reason": "both describe the release procedure"})
MERGED = json.dumps({"description": "How we release safely",
                     "instructions": ["Run regression tests", "Canary rollout", "Monitor", "Full rollout",
                                      "Announce in the changelog"],
                     "triggers": ["how do I release", "ship a release"]})


def test_an_llm_drives_extraction_repair_judge_and_merge() -> None:
    model = FakeListChatModel(responses=[
        EXTRACTION,
        "Sure! {not json",  # broken: the extractor asks once for a repair
        PARAPHRASE,
        JUDGE_SAME,
        MERGED,
    ])
    sdk = AutoSkill(AutoSkillConfig(llm=model, maintenance_strategy="llm"))
    [first] = sdk.ingest(messages=[{"role": "user", "content":
        "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."}], user_id="u1")
    assert first.instructions.splitlines()[0] == "1. Run regression tests"
    changed = sdk.ingest(messages=[{"role": "user", "content":
        "Our release flow: regression tests first, then a canary release, keep monitoring, and finally roll out "
        "to everyone and announce it in the changelog."}], user_id="u1")
    [skill] = sdk.list("u1")
    assert changed == [skill] and skill.id == first.id
    assert "Announce in the changelog" in skill.instructions
    assert skill.version == "0.2.0"
    assert "judged the same by the LLM" in sdk.history(skill.id)[-1].reason
