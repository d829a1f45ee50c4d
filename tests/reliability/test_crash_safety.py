"""Crash safety: writers SIGKILLed at many points; the store always reopens whole.

Three campaigns run side by side, each on its own local store, each run a fresh writer
process (``_store_writer.py``: adds with resources, updates, renames, ingests of
paraphrases that merge, rollbacks, deletes):

* named points: ``AUTOSKILL_TEST_CRASH_AT`` kills the writer inside the write path at
  every crash point of ``autoskill.store._crash`` (first and fourth hit), recovery
  included (a writer killed while finishing what the previous one left);
* random moments (two stores): the test SIGKILLs the writer after a random delay.

After every kill the store must open, pass ``autoskill doctor`` with nothing left to
report (the open repaired what the kill left: unfinished tree writes, temp files,
parked folders), agree with its own index, and hold every write that had returned,
with its whole version history and its resource files.
"""

from __future__ import annotations

import random
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from reliability_helpers import EMBEDDER, parse_writer_output, run_writer, semver, writer_command, writer_env

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.store._crash import CRASH_POINTS
from autoskill.store.doctor import check_store
from autoskill.store.tree import is_temp_name

RANDOM_RUNS_PER_STORE = 14


@dataclass
class Expected:
    versions: list[str] = field(default_factory=list)
    present: bool = True


@dataclass
class Campaign:
    root: Path
    expected: dict[str, Expected] = field(default_factory=dict)
    kills: int = 0
    runs: int = 0
    damage_seen: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def record(self, log) -> None:  # type: ignore[no-untyped-def]
        for item in log.done:
            entry = self.expected.setdefault(item["id"], Expected())
            if item["op"] == "delete":
                entry.present = False
            else:
                entry.present = True
                entry.versions.append(item["version"])

    def audit(self, log, label: str) -> None:  # type: ignore[no-untyped-def]
        """Everything the task promises after a kill; failures are collected, not raised
        (the campaigns run in threads)."""
        before = check_store(self.root)
        self.damage_seen.update(f.kind for f in before.found)
        sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                        store={"provider": "local", "path": str(self.root)}))
        try:
            after = check_store(self.root, embedder=EMBEDDER)
            if not after.ok or after.notes:
                self.errors.append(f"{label}: doctor after open: {after.problems} {after.notes}")
            drift = sdk.store.check_consistency()
            if drift:
                self.errors.append(f"{label}: index vs ledger: {drift}")
            in_flight = log.in_flight or {}
            for skill_id, entry in self.expected.items():
                current = sdk.get(skill_id)
                flight_here = in_flight.get("id") in (skill_id, "")
                if not entry.present:
                    if current is not None:
                        if flight_here and in_flight.get("op") in ("add", "ingest"):
                            # The unreturned write re-created it: from now on it must stay.
                            entry.present, entry.versions = True, [current.version]
                        else:
                            self.errors.append(f"{label}: deleted skill {skill_id} is back")
                    continue
                if current is None:
                    if flight_here and in_flight.get("op") == "delete":
                        entry.present = False  # the delete committed before the kill
                        continue
                    self.errors.append(f"{label}: returned write of {skill_id} is lost")
                    continue
                history = [v.version for v in sdk.history(skill_id)]
                position = 0
                for version in entry.versions:
                    try:
                        position = history.index(version, position) + 1
                    except ValueError:
                        self.errors.append(f"{label}: {skill_id} history {history} lacks returned {version}")
                        break
                if semver(current.version) < semver(entry.versions[-1]):
                    self.errors.append(f"{label}: {skill_id} went back to {current.version}")
                if current.name.startswith("s") and current.name[1:2].isdigit():  # made by `add`: has resources
                    folder = self.root / "Users" / current.user_id / current.name
                    notes = folder / "references" / "notes.md"
                    if not notes.is_file():
                        self.errors.append(f"{label}: {current.name} lost its resource file")
                    if any(is_temp_name(p.name) for p in folder.rglob("*")):
                        self.errors.append(f"{label}: temp files left in {folder}")
        finally:
            sdk.close()


def _named_campaign(campaign: Campaign, points: list[tuple[str, int]]) -> None:
    for seed, (point, nth) in enumerate(points, start=100):
        if point == "tree-job-replayed":
            # Leave a job behind (killed after a commit), then kill the next writer while
            # its open is finishing that job; the audit comes after both.
            code, first = run_writer(campaign.root, seed + 500, 120, crash_at="after-ledger-commit:2")
            campaign.runs += 1
            campaign.kills += code == -9
            campaign.record(first)
            code, log = run_writer(campaign.root, seed, 120, crash_at=f"{point}:{nth}")
            log.in_flight = first.in_flight
        else:
            code, log = run_writer(campaign.root, seed, 120, crash_at=f"{point}:{nth}")
        campaign.runs += 1
        campaign.kills += code == -9
        if code != -9:
            campaign.errors.append(f"{point}:{nth} was never reached in 120 writes")
        campaign.record(log)
        campaign.audit(log, f"{point}:{nth}")


def _random_campaign(campaign: Campaign, seed: int, runs: int) -> None:
    rng = random.Random(seed)
    for run in range(runs):
        with tempfile.TemporaryFile("w+") as errors:
            proc = subprocess.Popen(writer_command(campaign.root, seed * 1000 + run, 400), env=writer_env(),
                                    stdout=subprocess.PIPE, stderr=errors, text=True)
            assert proc.stdout is not None
            first = proc.stdout.readline()  # READY: the store is open, writes start now
            time.sleep(rng.uniform(0.01, 0.45))
            proc.send_signal(signal.SIGKILL)
            # Read the rest through the same buffered stream readline() used (communicate()
            # would read the raw pipe and drop what readline() had buffered).
            rest = proc.stdout.read()
            proc.wait(timeout=60)
            errors.seek(0)
            err = errors.read()
        campaign.runs += 1
        campaign.kills += proc.returncode == -9
        if proc.returncode not in (0, -9) or not first.startswith("READY"):
            campaign.errors.append(f"random run {run}: writer failed ({proc.returncode}): {err[-2000:]}")
            continue
        log = parse_writer_output(first + rest)
        campaign.record(log)
        campaign.audit(log, f"random run {run} (seed {seed})")


def test_sigkilled_writers_never_lose_a_returned_write(tmp_path: Path) -> None:
    named = Campaign(tmp_path / "named")
    random_a = Campaign(tmp_path / "random-a")
    random_b = Campaign(tmp_path / "random-b")
    # Recovery is a kill point too: it runs when a writer opens a store a killed writer
    # left jobs in, which the run before it (delete-after-trash) does; once per process.
    points = [(point, nth) for nth in (1, 4) for point in CRASH_POINTS
              if nth == 1 or point != "tree-job-replayed"]
    threads = [
        threading.Thread(target=_named_campaign, args=(named, points)),
        threading.Thread(target=_random_campaign, args=(random_a, 7, RANDOM_RUNS_PER_STORE)),
        threading.Thread(target=_random_campaign, args=(random_b, 11, RANDOM_RUNS_PER_STORE)),
    ]
    failures: list[BaseException] = []

    def guard(thread: threading.Thread) -> None:
        try:
            thread.run()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    runners = [threading.Thread(target=guard, args=(t,)) for t in threads]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=600)
    assert not failures, failures
    campaigns = (named, random_a, random_b)
    errors = [e for c in campaigns for e in c.errors]
    assert not errors, "\n".join(errors[:30])
    kills = sum(c.kills for c in campaigns)
    assert kills >= 40, f"only {kills} kills landed"
    # The kills really interrupted writes half way: the doctor saw the damage before the
    # open repaired it (unfinished tree jobs at least, temp files and stale files too).
    damage = sum((c.damage_seen for c in campaigns), Counter())
    assert damage["tree-job"] >= 10, damage
    assert damage["leftover"] >= 1, damage
    # Every store still works after all of it.
    for campaign in campaigns:
        with AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                       store={"provider": "local", "path": str(campaign.root)})) as sdk:
            assert sdk.list("alice") or sdk.list("bob")
            assert sdk.search("release canary rollout", user_id="alice") is not None
    print(f"\ncrash campaigns: {sum(c.runs for c in campaigns)} runs, {kills} SIGKILLs, damage seen {dict(damage)}")
