"""Secrets planted in conversations, events, tool outputs and feedback never reach the
store folder (any file's bytes, the ledger included), an exported SKILL.md, a log line or
an LLM prompt.

Two stores learn from the same material: one with the offline heuristic extractor, one
with an LLM (``maintenance_strategy="llm"``) that is a recording fake which echoes the
user's words back as a skill, the way a careless model would copy whatever it is shown.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from pydantic import Field

from autoskill import AutoSkill, AutoSkillConfig

# (kind, text, secret): the style of tests/learning/test_redact.py.
PLANTED = [
    ("private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2v\n-----END RSA PRIVATE KEY-----",
     "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2v"),
    ("api_key", "export OPENAI_API_KEY=sk-proj-4fKq9ZtR2mXw7LpB8sVn3HcY6dJe1TgUaQiOoP0",
     "4fKq9ZtR2mXw7LpB8sVn3HcY6dJe1TgUaQiOoP0"),
    ("api_key", "ANTHROPIC_API_KEY: sk-ant-api03-Qw3rTy7UiOp1AsDfGh9JkLzXcVbNm5-aBcDeF_2gHiJ",
     "Qw3rTy7UiOp1AsDfGh9JkLzXcVbNm5"),
    ("api_key", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("api_key", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("api_key", "git clone with ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s12", "R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s12"),
    ("api_key", "slack bot xoxb-2048-1024-aBcDeFgHiJkLmNoPqRsTuVwX", "aBcDeFgHiJkLmNoPqRsTuVwX"),
    ("api_key", "charge with sk_live_51HqLyjWDarjtT1zdp7dcXkq0", "51HqLyjWDarjtT1zdp7dcXkq0"),
    ("api_key", "maps key AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI", "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"),
    ("api_key", "HF_TOKEN hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("api_key", "ZHIPUAI_API_KEY=4f8a2b1c9d3e7f6a5b4c3d2e1f0a9b8c.Xk9mP2qR7sT4vW1y",
     "4f8a2b1c9d3e7f6a5b4c3d2e1f0a9b8c.Xk9mP2qR7sT4vW1y"),
    ("jwt", "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
     "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
    ("bearer", "curl -H 'Authorization: Bearer 8f3kd92jfla0s9d8f7g6h5j4k3' https://api.example.com",
     "8f3kd92jfla0s9d8f7g6h5j4k3"),
    ("password", "db password=Tr0ub4dor&3x then connect", "Tr0ub4dor"),
    ("password", "mysql -u root pwd=s3cr3tP@ss", "s3cr3tP@ss"),
    ("password", "my password is correct-horse-battery-staple", "correct-horse-battery-staple"),
    ("password", "PGPASSWORD=Zx9!qLm2 psql -h db", "Zx9!qLm2"),
    ("password", "client_secret=Q2xpZW50U2VjcmV0VmFsdWU", "Q2xpZW50U2VjcmV0VmFsdWU"),
    ("password", "数据库密码是Abc12345，请保存", "Abc12345"),
    ("url_credentials", "DATABASE_URL=postgres://admin:S3cure!Pass@db.internal:5432/prod", "S3cure!Pass"),
    ("url_credentials", "pip install from https://deploy:gl-tok3n-xyz@gitlab.example.com/simple", "gl-tok3n-xyz"),
    ("generic_secret", "the signing key Zk3Lm9Qp2Rx7Wv4Ty8Bn6Hc1Jd5Fg0Sa", "Zk3Lm9Qp2Rx7Wv4Ty8Bn6Hc1Jd5Fg0Sa"),
    ("email", "write to jane.doe+alerts@example.co.uk today", "jane.doe+alerts@example.co.uk"),
    ("phone", "call +44 20 7946 0958 after lunch", "7946 0958"),
    ("phone", "US office (555) 123-4567", "123-4567"),
]
SECRETS = [secret for _, _, secret in PLANTED]


class EchoChatModel(FakeListChatModel):
    """A fake chat model that records every prompt and echoes the user's words back as a
    skill (extraction), says "same" (judge) and merges by copying (merger)."""

    responses: list[str] = Field(default_factory=lambda: ['{"skills": []}'])
    prompts: list[str] = Field(default_factory=list)

    def _call(self, *args: Any, **kwargs: Any) -> str:
        messages = args[0] if args else kwargs.get("messages", [])
        text = "\n".join(str(m.content) for m in messages)
        self.prompts.append(text)
        if "You find reusable skills" in text:
            users = [line[len("USER: "):] for line in text.split("\n") if line.startswith("USER: ")]
            if not users:
                return '{"skills": []}'
            steps = [s.strip() for s in users[0].split("->") if s.strip()]
            return json.dumps({"skills": [{"name": f"echoed-{len(self.prompts)}", "description": users[0][:200],
                                           "instructions": steps, "evidence": [users[0]], "confidence": 0.9,
                                           "triggers": [users[0][:80]], "tags": ["echo"], "kind": "procedure"}]})
        if "You compare two skills" in text:
            return '{"same": true, "reason": "the same words"}'
        if "You merge two versions" in text:
            lines = [line for line in text.split("\n") if line.strip()][-8:]
            return json.dumps({"description": "merged by the echo model", "instructions": lines, "triggers": []})
        return "{}"


def _material(index: int, text: str) -> tuple[list[dict], list[dict]]:
    """A conversation and an event log, both carrying one planted text."""
    messages = [{"role": "user", "content": f"Deploy procedure {index}: {text} -> run the deploy -> verify health"},
                {"role": "assistant", "content": f"Noted, I will remember: {text}"},
                {"role": "user", "content": "thanks, that worked"}]
    events = []
    for run in range(2):  # a tool sequence that succeeds twice becomes a workflow skill
        rid = f"run-{index}-{run}"
        events += [
            {"type": "run_start", "run_id": rid, "thread_id": f"th-{index}"},
            {"type": "message", "role": "user", "content": f"release it, {text}", "run_id": rid},
            {"type": "tool_call", "tool": "fetch_credentials", "input": {"query": text}, "output": text,
             "status": "ok", "run_id": rid},
            {"type": "tool_call", "tool": "deploy", "input": {"token": text, "env": "prod"},
             "output": f"deployed using {text}", "status": "ok", "run_id": rid},
            {"type": "error", "error": f"warning: leaked {text}", "run_id": rid} if run == 1 and index % 5 == 0
            else {"type": "run_end", "run_id": rid, "output": f"done {text}"},
        ]
    return messages, events


def _exercise(sdk: AutoSkill, tag: str) -> None:
    for index, (_, text, _) in enumerate(PLANTED):
        messages, events = _material(index, text)
        user = f"{tag}-u{index % 3}"
        sdk.ingest(messages=messages, user_id=user)
        sdk.ingest(events=events, user_id=user)
        # Deferred learning: captured runs, feedback comments and corrections with secrets.
        run = f"{tag}-cap-{index}"
        sdk.capture([{"type": "message", "role": "user", "content": f"set it up: {text}", "run_id": run},
                     {"type": "tool_call", "tool": "vault", "input": text, "output": f"ok {text}", "run_id": run},
                     {"type": "message", "role": "assistant", "content": f"used {text}", "run_id": run}],
                    thread_id=f"{tag}-t{index}", user_id=user)
        if index % 2:
            sdk.feedback(run, score=1, comment=f"thanks, it worked with {text}")
        else:
            sdk.feedback(run, score=-1, comment=f"no: login with {text} -> deploy -> verify")
        sdk.search(f"how to deploy with {text}", user_id=user)
        sdk.render_context(f"deploy {text}", user_id=user, max_tokens=500)
    sdk.flush(release_pending=True)


def _leaks(data: str | bytes, where: str) -> list[str]:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    found = []
    for secret in SECRETS:
        escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
        ascii_escaped = json.dumps(secret)[1:-1]
        if secret in text or escaped in text or ascii_escaped in text:
            found.append(f"{where}: {secret!r}")
    return found


@pytest.mark.parametrize("mode", ["heuristic", "llm"])
def test_planted_secrets_reach_no_file_export_log_or_prompt(mode: str, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = tmp_path / "store"
    llm = EchoChatModel() if mode == "llm" else {"provider": "mock"}
    sdk = AutoSkill(AutoSkillConfig(llm=llm, embeddings={"provider": "hashing", "dims": 64},
                                    store={"provider": "local", "path": str(store)},
                                    maintenance_strategy="llm" if mode == "llm" else "heuristic"))
    _exercise(sdk, mode)
    skills = sdk.list(None, scope="user", statuses=("active", "draft", "archived"))
    users = {f"{mode}-u{i}" for i in range(3)}
    learned = [s for u in users for s in sdk.list(u, statuses=("active", "draft", "archived"))]
    exported_md = [sdk.export_skill_md(s.id) for s in learned]
    export_dirs = [p for u in users for p in sdk.write_skill_dirs(u, tmp_path / "export" / u)]
    sdk.close()

    leaks: list[str] = []
    files = [p for p in store.rglob("*") if p.is_file()]
    assert any(p.name == "ledger.sqlite3" for p in files)
    for path in files:
        leaks += _leaks(path.read_bytes(), str(path.relative_to(store)))
    for text in exported_md:
        leaks += _leaks(text, "export_skill_md")
    for folder in export_dirs:
        for path in folder.rglob("*"):
            if path.is_file():
                leaks += _leaks(path.read_bytes(), f"export {path.relative_to(tmp_path)}")
    for record in caplog.records:
        leaks += _leaks(record.getMessage(), f"log {record.name}:{record.levelname}")
    leaks += _leaks(caplog.text, "captured log text")
    if isinstance(llm, EchoChatModel):
        assert llm.prompts, "the LLM was never asked"
        for prompt in llm.prompts:
            leaks += _leaks(prompt, "LLM prompt")
    assert not leaks, "\n".join(sorted(set(leaks))[:40])

    # The material did go through: skills were learned, with the redaction placeholders.
    assert learned and not skills
    stored = " ".join(s.instructions + " " + s.description for s in learned)
    assert "[REDACTED:" in stored
    assert len(set(re.findall(r"\[REDACTED:(\w+)\]", stored))) >= 4
