"""Precision and recall of the extractor on the scripted conversation set.

Runs every scenario of ``autoskill.learning.scenarios`` through ``AutoSkill.ingest`` (a
fresh in-memory store each) and prints per-scenario outcomes and the totals.

Usage::

    python benchmarks/bench_extraction.py            # the offline mock (heuristic) extractor
"""

from __future__ import annotations

import argparse
import time

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.learning.scenarios import SCENARIOS, score_extraction


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    print("$ python benchmarks/bench_extraction.py")
    totals = [0, 0, 0]
    print(f"{'scenario':<22} {'kind':<10} {'expected':>8} {'learned':>8} {'tp':>3} {'fp':>3} {'fn':>3}")
    start = time.perf_counter()
    for scenario in SCENARIOS:
        sdk = AutoSkill(AutoSkillConfig())
        if scenario.messages:
            sdk.ingest(messages=list(scenario.messages), user_id="u1")
        if scenario.events:
            sdk.ingest(events=list(scenario.events), user_id="u1")
        skills = sdk.list("u1")
        tp, fp, fn = score_extraction(scenario, skills)
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
        print(f"{scenario.id:<22} {scenario.kind:<10} {len(scenario.expected):>8} {len(skills):>8} {tp:>3} {fp:>3} {fn:>3}")
    tp, fp, fn = totals
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"\n{len(SCENARIOS)} scenarios in {time.perf_counter() - start:.1f} s: "
          f"precision {precision:.3f}, recall {recall:.3f} (tp {tp}, fp {fp}, fn {fn})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
