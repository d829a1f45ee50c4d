"""One of several processes writing and searching one local store at once (run as a script).

    python _concurrent_worker.py STORE_DIR INDEX PROCESSES THREADS OPS SYNC_DIR

Each thread adds skills for its process's own user and for the shared user ``team``,
ingests paraphrases for ``team`` (merges racing across processes), updates skills, and
searches after every write, checking each hit. Then the process waits until every
process is done and checks, without reopening the store, that every write any process
reported as returned is visible here. The result goes to ``SYNC_DIR/result-INDEX.json``.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import traceback
from pathlib import Path

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.skill import Skill

PARAPHRASES = [
    "Before each release: run regression tests -> canary rollout -> monitor -> full rollout.",
    "For every release we do: regression tests -> canary rollout -> monitor errors -> full rollout -> announce it.",
    "Our release steps: run the regression tests -> canary rollout to 5% -> monitor dashboards -> full rollout.",
    "For a database migration: back up the database -> run the migration on staging -> verify -> run it in production.",
]


def main() -> int:
    root, index, processes, threads, ops, sync = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                                  int(sys.argv[4]), int(sys.argv[5]), Path(sys.argv[6]))
    me = f"p{index}"
    sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                    store={"provider": "local", "path": root}))
    writes: list[dict] = []
    errors: list[str] = []
    searches = [0]
    lock = threading.Lock()

    def check_hits(user: str, query: str) -> None:
        for hit in sdk.search(query, user_id=user, limit=5):
            skill = hit.skill
            if skill.scope == "user" and skill.user_id != user:
                errors.append(f"search as {user} returned {skill.user_id}'s skill {skill.name}")
            if sdk.get(skill.id) is None:
                errors.append(f"search returned {skill.id}, which does not exist")
            elif skill.content_hash() not in {v.skill.content_hash() for v in sdk.history(skill.id)}:
                errors.append(f"search returned {skill.name} with content no version of it has")
            if not 0.0 <= hit.score <= 1.0:
                errors.append(f"score {hit.score} outside [0, 1]")
        with lock:
            searches[0] += 1

    def worker(thread: int) -> None:
        rng = random.Random(index * 100 + thread)
        try:
            for step in range(ops):
                user = me if rng.random() < 0.6 else "team"
                roll = rng.random()
                done: list[Skill] = []
                if roll < 0.55:
                    name = f"{me}-t{thread}-{step}"
                    done = [sdk.add(Skill(name=name, description=f"How {me} handles case {step} of {thread}",
                                          instructions=f"1. open case {step}\n2. resolve case {step}", user_id=user))]
                elif roll < 0.8:
                    done = sdk.ingest(messages=[{"role": "user", "content": rng.choice(PARAPHRASES)}],
                                      user_id="team")
                else:
                    mine = sdk.list(user)
                    if mine:
                        target = rng.choice(mine)
                        major, minor, patch = (int(x) for x in target.version.split("."))
                        done = [sdk.add(target.evolve(instructions=target.instructions + f"\n- note {me} {step}",
                                                      version=f"{major}.{minor}.{patch + 1}"), reason="update")]
                with lock:
                    writes.extend({"id": s.id, "version": s.version, "user": s.user_id} for s in done)
                check_hits(user, rng.choice(["release canary rollout", f"case {step}", "database migration"]))
                if step % 5 == 4:  # exports read the tree while other processes write it
                    out = sync / f"export-{index}-{thread}-{step}"
                    for folder in sdk.write_skill_dirs(user, out):
                        if not (folder / "SKILL.md").is_file():
                            errors.append(f"export wrote {folder} without SKILL.md")
        except Exception:  # noqa: BLE001 - the test wants every escaped exception reported
            errors.append(traceback.format_exc())

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    (sync / f"done-{index}.json").write_text(json.dumps(writes))

    deadline = time.monotonic() + 120
    while len(list(sync.glob("done-*.json"))) < processes and time.monotonic() < deadline:
        time.sleep(0.05)
    everyone = [w for p in sync.glob("done-*.json") for w in json.loads(p.read_text())]
    # Without reopening or refresh(): reads catch up with other processes by themselves.
    for item in everyone:
        skill = sdk.get(item["id"])
        if skill is None:
            errors.append(f"{item} returned in another process, invisible here")
            continue
        if item["version"] not in [v.version for v in sdk.history(item["id"])]:
            errors.append(f"{item}: version missing from the history")
    listed = {s.id for s in sdk.list(me)} | {s.id for s in sdk.list("team")}
    missing = {w["id"] for w in everyone if w["user"] in (me, "team")} - listed
    if missing:
        errors.append(f"list() misses {sorted(missing)[:5]}")
    errors.extend(sdk.store.check_consistency())
    for user in (me, "team"):
        check_hits(user, "release canary rollout")
    (sync / f"result-{index}.json").write_text(json.dumps(
        {"writes": len(writes), "seen": len(everyone), "searches": searches[0], "errors": errors[:20]}))
    sdk.close()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
