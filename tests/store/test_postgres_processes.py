"""Several real processes share one PostgreSQL store through ``AutoSkill`` at once.

Each process ingests conversations that merge into the same users' skills, captures runs,
gives feedback and processes released windows, all concurrently. Afterwards: every write
a process was told succeeded is in the history exactly once, no skill records a version
twice, and every window was claimed by exactly one process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from postgres_server import drop_schema, fresh_schema, postgres_dsn

from autoskill.embeddings import HashingEmbedder
from autoskill.store import SkillFilter

WORKER = r"""
import json, logging, os, sys, time
from autoskill import AutoSkill, AutoSkillConfig

dsn, schema, index, go, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
conflicts = []

class Conflicts(logging.Handler):
    def emit(self, record):
        if record.exc_info and type(record.exc_info[1]).__name__ == "SkillConflictError":
            conflicts.append(str(record.exc_info[1]))

logging.getLogger("autoskill").addHandler(Conflicts())
sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                store={"provider": "postgres", "dsn": dsn, "schema": schema}))
sdk.windows.background = True  # released windows wait for the flush below (where processes race)
claims = []
transition = sdk.store.transition_window

def counting(window_id, **kwargs):
    won = transition(window_id, **kwargs)
    if won and kwargs.get("to_status") == "processing":
        claims.append(window_id)
    return won

sdk.store.transition_window = counting
while not os.path.exists(go):
    time.sleep(0.005)
writes = []
for round_ in range(5):
    for user in ("alice", "bob"):
        text = (f"When I ask how to release the app for host {index} round {round_}, do this: "
                "run the tests -> build the wheel -> upload it")
        sdk.ingest(messages=[{"role": "user", "content": text}], user_id=user)
        writes += [[o.skill.id, o.skill.version, o.skill.content_hash()] for o in sdk.last_ingest if o.skill]
windows = []
for j in range(6):
    run = f"run-{index}-{j}"
    windows.append(sdk.capture(
        [{"type": "message", "role": "user", "content": f"How do I roll out service {j}?", "run_id": run},
         {"type": "message", "role": "assistant", "content": "Build the image -> push it -> roll it out",
          "run_id": run}], thread_id=f"thread-{index}-{j}", user_id="carol"))
    sdk.feedback(run, score=1.0 if j % 3 else -1.0, comment="thanks, that worked" if j % 3 else None)
sdk.flush(release_pending=True)
sdk.close()
with open(out, "w") as f:
    json.dump({"writes": writes, "claims": claims, "windows": windows, "conflicts": conflicts}, f)
"""


def test_many_processes_keep_versions_and_windows_exact(tmp_path: Path) -> None:
    dsn = postgres_dsn()
    schema = fresh_schema()
    from autoskill.store.postgres import PostgresSkillStore

    PostgresSkillStore(dsn, HashingEmbedder(dims=64), schema=schema).close()  # created once, up front
    go = tmp_path / "go"
    procs = []
    for index in range(4):
        out = tmp_path / f"out-{index}.json"
        procs.append((subprocess.Popen([sys.executable, "-c", WORKER, dsn, schema, str(index), str(go), str(out)],
                                       stderr=subprocess.PIPE, text=True), out))
    time.sleep(1.0)  # let every process import and connect, then start them together
    go.touch()
    results = []
    for proc, out in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.read_text()))

    store = PostgresSkillStore(dsn, HashingEmbedder(dims=64), schema=schema)
    try:
        # Every skill's history is gap-free, never records a version twice, and ends at the row.
        skills = store.list(SkillFilter(all_users=True, statuses=()))
        assert {s.user_id for s in skills} >= {"alice", "bob"}
        histories = {s.id: store.history(s.id) for s in skills}
        for current in skills:
            history = histories[current.id]
            assert [v.seq for v in history] == list(range(1, len(history) + 1))
            versions = [v.version for v in history]
            assert len(versions) == len(set(versions)), versions
            assert history[-1].skill.content_hash() == current.content_hash()
            assert history[-1].version == current.version
        # Every write a process was told succeeded is in the history, exactly once.
        recorded = Counter((sid, v.version, v.skill.content_hash()) for sid, hs in histories.items() for v in hs)
        for result in results:
            for skill_id, version, chash in result["writes"]:
                assert recorded[(skill_id, version, chash)] == 1
        merged = [h for h in histories.values() if len(h) > 1]
        assert merged, "the workload should have merged into shared skills"
        # Each window was claimed (processed) by exactly one process.
        claims = [w for r in results for w in r["claims"]]
        assert len(claims) == len(set(claims))
        all_windows = [w for r in results for w in r["windows"]]
        final = {w: store.get_window(w) for w in all_windows}
        processed = {w for w, win in final.items() if win.status == "processed"}  # type: ignore[union-attr]
        blocked = {w for w, win in final.items() if win.status == "blocked"}  # type: ignore[union-attr]
        assert len(processed) == 16 and len(blocked) == 8
        assert set(claims) == processed
        claimed_by = {win.id: win.result for win in final.values() if win.status == "processed"}  # type: ignore[union-attr]
        assert all(result is not None for result in claimed_by.values())
    finally:
        store.close()
        drop_schema(dsn, schema)


MERGE = r"""
import sys
from autoskill import AutoSkill, AutoSkillConfig
sdk = AutoSkill(AutoSkillConfig(store={"provider": "postgres", "dsn": sys.argv[1], "schema": sys.argv[2]}))
text = ("Before each release: run regression tests -> canary rollout -> monitor -> full rollout -> " + sys.argv[3])
sdk.ingest(messages=[{"role": "user", "content": text}], user_id="u1")
sdk.close()
"""


def test_concurrent_merges_keep_every_writers_change() -> None:
    from autoskill import AutoSkill, AutoSkillConfig

    dsn = postgres_dsn()
    schema = fresh_schema()
    config = AutoSkillConfig(store={"provider": "postgres", "dsn": dsn, "schema": schema})
    try:
        with AutoSkill(config) as sdk:
            [skill] = sdk.ingest(messages=[{"role": "user", "content": "Before each release: run regression tests"
                                            " -> canary rollout -> monitor -> full rollout."}], user_id="u1")
        steps = ["announce in the changelog", "update the status page", "tag the release in git",
                 "notify the support team"]
        procs = [subprocess.Popen([sys.executable, "-c", MERGE, dsn, schema, step], stderr=subprocess.PIPE,
                                  text=True) for step in steps]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
        with AutoSkill(config) as sdk:
            final = sdk.get(skill.id)
            assert final is not None
            for step in steps:
                assert step in final.instructions.lower(), final.instructions
            versions = [v.version for v in sdk.history(skill.id)]
            assert len(versions) == len(set(versions)) == len(steps) + 1
    finally:
        drop_schema(dsn, schema)
