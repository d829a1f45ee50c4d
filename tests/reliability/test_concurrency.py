"""Concurrency: processes and threads writing and searching one local store at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from concurrently import run_concurrently
from reliability_helpers import EMBEDDER

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.skill import Skill
from autoskill.store.doctor import check_store

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_concurrent_worker.py"
PROCESSES, THREADS, OPS = 4, 3, 20


def _sdk(path: Path) -> AutoSkill:
    return AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                     store={"provider": "local", "path": str(path)}))


def test_four_processes_with_threads_lose_nothing_and_never_see_a_torn_index(tmp_path: Path) -> None:
    store, sync = tmp_path / "store", tmp_path / "sync"
    sync.mkdir()
    _sdk(store).close()  # create it first, so the workers race on writes, not on creation
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(store), str(i), str(PROCESSES), str(THREADS),
                               str(OPS), str(sync)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(PROCESSES)]
    outputs = [p.communicate(timeout=300) for p in procs]
    results = []
    for i, (proc, (_, err)) in enumerate(zip(procs, outputs)):
        path = sync / f"result-{i}.json"
        assert path.exists(), f"worker {i} died ({proc.returncode}):\n{err[-3000:]}"
        result = json.loads(path.read_text())
        assert result["errors"] == [], f"worker {i}: {result['errors']}"
        assert proc.returncode == 0, err[-3000:]
        results.append(result)
    writes = [w for p in sync.glob("done-*.json") for w in json.loads(p.read_text())]
    assert len(writes) >= PROCESSES * THREADS * OPS * 0.6
    assert all(r["seen"] == len(writes) for r in results)
    assert sum(r["searches"] for r in results) >= PROCESSES * THREADS * OPS

    # A fresh process agrees, the store is healthy, and the merged team skill kept every
    # racing version in its history.
    report = check_store(store, embedder=EMBEDDER)
    assert report.ok and not report.notes, (report.problems, report.notes)
    with _sdk(store) as sdk:
        for item in writes:
            assert item["version"] in [v.version for v in sdk.history(item["id"])]
        team = {s.name for s in sdk.list("team")}
        assert "release-workflow" in team


READER = textwrap.dedent(
    """
    import sys, time
    from autoskill import AutoSkill, AutoSkillConfig
    sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                    store={"provider": "local", "path": sys.argv[1]}))
    print("READY", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        hits = sdk.search("rotate the signing keys", user_id="u1", limit=3)
        if any(h.skill.name == "rotate-keys" for h in hits) and sdk.get(sys.argv[2]) is not None:
            print("SEEN", flush=True)
            break
        time.sleep(0.01)
    """
)


def test_a_running_reader_sees_a_new_skill_without_restarting(tmp_path: Path) -> None:
    with _sdk(tmp_path) as writer:
        skill = Skill(name="rotate-keys", description="Rotate the signing keys", user_id="u1",
                      instructions="1. create new keys\n2. deploy\n3. revoke old keys")
        reader = subprocess.Popen([sys.executable, "-c", READER, str(tmp_path), skill.id],
                                  stdout=subprocess.PIPE, text=True)
        assert reader.stdout is not None and reader.stdout.readline().strip() == "READY"
        started = time.monotonic()
        writer.add(skill)
        line = reader.stdout.readline().strip()
        reader.wait(timeout=30)
        assert line == "SEEN" and time.monotonic() - started < 10
        # ... and this process sees a write made in another one.
        subprocess.run([sys.executable, "-c", textwrap.dedent(
            """
            import sys
            from autoskill import AutoSkill, AutoSkillConfig
            from autoskill.skill import Skill
            with AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                           store={"provider": "local", "path": sys.argv[1]})) as sdk:
                sdk.add(Skill(name="from-elsewhere", description="Written by another process", user_id="u1"))
            """), str(tmp_path)], check=True, timeout=60)
        assert "from-elsewhere" in {s.name for s in writer.list("u1")}
        assert writer.search("written by another process", user_id="u1")[0].skill.name == "from-elsewhere"


def test_threads_of_one_process_share_one_sdk(tmp_path: Path) -> None:
    with _sdk(tmp_path) as sdk:
        def work(t: int) -> None:
            for i in range(15):
                sdk.add(Skill(name=f"t{t}-s{i}", description=f"thread {t} skill {i}", user_id=f"u{t % 2}"))
                for hit in sdk.search(f"thread {t} skill", user_id=f"u{t % 2}"):
                    assert hit.skill.user_id == f"u{t % 2}"
                    assert sdk.get(hit.skill.id) is not None
                sdk.render_context("thread skill", user_id=f"u{t % 2}", max_tokens=200)

        run_concurrently(work, 6)
        assert len(sdk.list("u0")) == len(sdk.list("u1")) == 45
        assert sdk.store.check_consistency() == []
    assert check_store(tmp_path, embedder=EMBEDDER).ok
