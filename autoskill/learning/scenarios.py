"""A scripted set of conversations and event logs with the skills each should (not) yield.

Used by the tests and by ``benchmarks/bench_extraction.py`` to measure an extractor's
precision and recall. Each expected skill is described by words its name must contain
and, optionally, steps its instructions must hold in order. Shipped in the package so
users can score their own extractor (an LLM, say) on the same cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCENARIOS", "Expected", "Scenario", "score_extraction"]


@dataclass(frozen=True)
class Expected:
    """One skill a scenario should produce."""

    name_words: tuple[str, ...]
    steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A conversation (or event log) and what it should teach."""

    id: str
    kind: str
    messages: tuple[dict[str, str], ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    expected: tuple[Expected, ...] = field(default=())


def _u(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _a(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def _tool_run(run: str, tools: Sequence[tuple[str, str]], *, fail: str | None = None, user: str = "u1",
              question: str = "") -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"type": "run_start", "run_id": run, "thread_id": run, "user_id": user,
                                     "name": "agent", "inputs": {"input": question}}]
    for i, (tool, arg) in enumerate(tools):
        status = "error" if tool == fail else "ok"
        events.append({"type": "tool_call", "run_id": f"{run}-t{i}", "parent_run_id": run, "thread_id": run,
                       "user_id": user, "tool": tool, "input": {"query": arg},
                       "output": "boom" if status == "error" else f"result of {tool}", "status": status})
    events.append({"type": "run_end", "run_id": run, "thread_id": run, "user_id": user,
                   "status": "error" if fail else "ok"})
    return events


_RESEARCH = [("search_docs", "retry policy"), ("read_page", "retry.md"), ("summarize", "retry policy")]

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("chit-chat", "nothing", (_u("hey, how's it going?"), _a("All good!"), _u("nice, have a good day"))),
    Scenario("one-off question", "nothing", (_u("What's the capital of Australia?"), _a("Canberra."))),
    Scenario("procedure question", "nothing", (_u("How should I do a release?"), _a("Usually: test, then ship."))),
    Scenario("assistant only", "nothing",
             (_u("any tips for deploys?"), _a("Deploy: build -> test -> ship -> monitor"), _u("ok"))),
    Scenario("thanks only", "nothing", (_u("thanks!"),)),
    Scenario("arrow procedure", "procedure",
             (_u("Before each release: run regression tests -> canary rollout -> monitor -> full rollout."), _a("Got it.")),
             expected=(Expected(("release",), ("regression", "canary", "monitor", "full rollout")),)),
    Scenario("numbered procedure", "procedure",
             (_u("Database migration checklist:\n1. Back up the database\n2. Run the migration on staging\n"
                 "3. Verify the schema\n4. Apply it to production"),),
             expected=(Expected(("database", "migration"), ("back up", "staging", "verify", "production")),)),
    Scenario("bulleted procedure", "procedure",
             (_u("Our onboarding checklist:\n- create the accounts\n- send the welcome email\n- book the intro call"),),
             expected=(Expected(("onboarding",), ("accounts", "welcome", "intro call")),)),
    Scenario("sequence sentence", "procedure",
             (_u("Our backup routine: stop the writers first, then snapshot the volume, then restart the writers, "
                 "and finally verify the snapshot."),),
             expected=(Expected(("backup",), ("stop the writers", "snapshot", "restart", "verify")),)),
    Scenario("preferences", "rule",
             (_u("Always use type hints in Python code. Never commit directly to main."), _a("Noted.")),
             expected=(Expected(("preferences",), ("type hints", "never commit")),)),
    Scenario("preference phrasing", "rule",
             (_u("I prefer short answers with a code example first."),),
             expected=(Expected(("preferences",),),)),
    Scenario("confirmed proposal", "procedure",
             (_u("how do we cut a hotfix?"),
              _a("Hotfix: branch from the release tag -> cherry-pick the fix -> run smoke tests -> deploy"),
              _u("yes, exactly that")),
             expected=(Expected(("hotfix",), ("branch", "cherry-pick", "smoke", "deploy")),)),
    Scenario("negative reaction", "nothing",
             (_u("Deploy: build -> ship -> test"), _a("OK, saved."), _u("no, that was wrong"))),
    Scenario("rejected proposal", "nothing",
             (_u("how do I rotate keys?"), _a("Rotate: delete old key -> create new key"), _u("no, that's wrong"))),
    Scenario("correction", "procedure",
             (_u("Before each deploy: build -> ship -> test"), _a("OK."),
              _u("no, that's wrong: build -> test -> ship instead")),
             expected=(Expected(("deploy",), ("build", "test", "ship")),)),
    Scenario("two procedures", "procedure",
             (_u("Before each release: run tests -> tag -> publish."),
              _u("For incidents: page the on-call -> open a channel -> write the timeline.")),
             expected=(Expected(("release",), ("tests", "tag", "publish")),
                       Expected(("incident",), ("page", "channel", "timeline")))),
    Scenario("chinese procedure", "procedure",
             (_u("发布前：回归测试 -> 灰度发布 -> 监控 -> 全量发布"),),
             expected=(Expected(("skill",), ("回归测试", "灰度发布", "监控", "全量发布")),)),
    Scenario("repeated tool runs", "workflow",
             events=tuple(_tool_run("r1", _RESEARCH, question="what is our retry policy?")
                          + _tool_run("r2", _RESEARCH, question="how do timeouts work?")
                          + _tool_run("r3", _RESEARCH, question="what is the cache policy?")),
             expected=(Expected(("search", "summarize"),),)),
    Scenario("single tool run", "nothing", events=tuple(_tool_run("s1", _RESEARCH, question="q"))),
    Scenario("failed tool runs", "nothing",
             events=tuple(_tool_run("f1", _RESEARCH, fail="read_page") + _tool_run("f2", _RESEARCH, fail="read_page"))),
    Scenario("message events", "procedure",
             events=({"type": "message", "run_id": "m1", "thread_id": "t9", "user_id": "u1", "role": "user",
                      "content": "Code review steps: check the tests -> read the diff -> run it locally"},),
             expected=(Expected(("code", "review"), ("tests", "diff", "locally")),)),
)


def _matches(skill: Any, expected: Expected) -> bool:
    name = f"{skill.name} {skill.display_name or ''}".lower()
    if not all(word in name for word in expected.name_words):
        return False
    text = skill.instructions.lower()
    position = 0
    for step in expected.steps:
        found = text.find(step.lower(), position)
        if found < 0:
            return False
        position = found + len(step)
    return True


def score_extraction(scenario: Scenario, skills: Sequence[Any]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of extracted skills on a scenario."""
    unmatched = list(scenario.expected)
    tp = fp = 0
    for skill in skills:
        hit = next((e for e in unmatched if _matches(skill, e)), None)
        if hit is None:
            fp += 1
        else:
            unmatched.remove(hit)
            tp += 1
    return tp, fp, len(unmatched)
