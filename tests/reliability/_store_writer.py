"""A writer process for the crash and concurrency tests (run as a script, never imported).

    python _store_writer.py STORE_DIR SEED MAX_OPS [USERS]

Opens a local store through the ``AutoSkill`` facade and performs random writes: adds
(with in-memory resources), updates, renames, ingests of paraphrased procedures (merges),
rollbacks and deletes. Before each write it prints ``BEGIN <op> <id>`` and after it
returns ``DONE <json>``, flushed, so a test that SIGKILLs it knows exactly which writes
had returned.
"""

from __future__ import annotations

import json
import random
import sys

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.skill import Skill

PARAPHRASES = [
    "Before each release: run regression tests -> canary rollout -> monitor -> full rollout.",
    "For every release we do: regression tests -> canary rollout -> monitor errors -> full rollout -> announce it.",
    "Our release steps: run the regression tests -> canary rollout to 5% -> monitor dashboards -> full rollout.",
    "Before each release: run regression tests -> security scan -> canary rollout -> monitor -> full rollout.",
    "To onboard a new engineer: create accounts -> assign a buddy -> walk through the codebase -> first small ticket.",
    "When onboarding a new engineer: create their accounts -> assign a buddy -> pair on the first ticket.",
    "For a database migration: back up the database -> run the migration on staging -> verify -> run it in production.",
    "Database migration: take a backup -> migrate staging -> verify the data -> migrate production -> monitor.",
]


def emit(kind: str, **data: object) -> None:
    # One write call per line (a pipe write under 4 KiB is atomic): a kill never tears it.
    sys.stdout.write(f"{kind} {json.dumps(data)}\n")
    sys.stdout.flush()


def main() -> None:
    root, seed, max_ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    users = sys.argv[4].split(",") if len(sys.argv) > 4 else ["alice", "bob"]
    rng = random.Random(seed)
    sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                    store={"provider": "local", "path": root}))
    emit("READY", pid=seed)
    for step in range(max_ops):
        user = rng.choice(users)
        mine = sdk.list(user, statuses=("active", "draft", "archived"))
        roll = rng.random()
        if roll < 0.3 or not mine:
            name = f"s{seed}-{step}-{rng.randrange(10**6)}"
            skill = Skill(name=name, description=f"Procedure {name} for {user}", user_id=user,
                          instructions=f"1. prepare {name}\n2. run {name}\n3. check {name}",
                          resources={"references/notes.md": f"notes of {name}\n" * 20})
            emit("BEGIN", op="add", id=skill.id)
            stored = sdk.add(skill)
            emit("DONE", op="add", id=stored.id, version=stored.version)
        elif roll < 0.5:
            messages = [{"role": "user", "content": rng.choice(PARAPHRASES)}, {"role": "assistant", "content": "ok"}]
            emit("BEGIN", op="ingest", id="")
            for changed in sdk.ingest(messages=messages, user_id=user):
                emit("DONE", op="ingest", id=changed.id, version=changed.version)
        elif roll < 0.65:
            target = rng.choice(mine)
            major, minor, patch = (int(x) for x in target.version.split("."))
            updated = target.evolve(instructions=target.instructions + f"\n{step}. double-check step {step}",
                                    version=f"{major}.{minor}.{patch + 1}")
            emit("BEGIN", op="update", id=target.id)
            stored = sdk.add(updated, reason="update")
            emit("DONE", op="update", id=stored.id, version=stored.version)
        elif roll < 0.72:
            target = rng.choice(mine)
            major, minor, patch = (int(x) for x in target.version.split("."))
            renamed = target.evolve(name=f"{target.name[:40]}-r{step}", version=f"{major}.{minor}.{patch + 1}")
            emit("BEGIN", op="rename", id=target.id)
            stored = sdk.add(renamed, reason="rename")
            emit("DONE", op="rename", id=stored.id, version=stored.version)
        elif roll < 0.8:
            target = rng.choice(mine)
            history = sdk.history(target.id)
            if len(history) < 2:
                continue
            emit("BEGIN", op="rollback", id=target.id)
            stored = sdk.rollback(target.id, history[0].version)
            emit("DONE", op="rollback", id=stored.id, version=stored.version)
        else:
            target = rng.choice(mine)
            emit("BEGIN", op="delete", id=target.id)
            deleted = sdk.delete(target.id)
            emit("DONE", op="delete", id=target.id, deleted=deleted)
    sdk.close()
    emit("EXIT", ops=max_ops)


if __name__ == "__main__":
    main()
