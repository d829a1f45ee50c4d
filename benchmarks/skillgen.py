"""Synthetic but realistic-looking skills for store benchmarks (deterministic per seed)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import islice

from autoskill.skill import Skill

__all__ = ["batched_synthetic_skills", "iter_synthetic_skills", "synthetic_queries", "synthetic_skills"]

_VERBS = ["deploy", "review", "migrate", "back up", "restore", "profile", "debug", "document", "test",
          "release", "audit", "monitor", "rotate", "clean", "index", "summarise", "translate", "validate",
          "benchmark", "refactor", "package", "schedule", "archive", "triage"]
_OBJECTS = ["postgres database", "kubernetes service", "python package", "react component", "csv export",
            "api gateway", "terraform module", "s3 bucket", "ml model", "invoice batch", "support ticket",
            "marketing email", "pull request", "incident report", "docker image", "kafka topic",
            "search index", "mobile app build", "data pipeline", "access policy", "slack channel",
            "sales forecast", "design spec", "test suite", "log archive", "ssl certificate"]
_QUALIFIERS = ["safely", "on a schedule", "with zero downtime", "for compliance", "before a launch",
               "after an outage", "for a new hire", "at scale", "with a checklist", "in staging first"]
_STEPS = ["check the current state", "write down the plan", "run the dry run", "ask for a review",
          "apply the change", "watch the dashboards", "confirm with the owner", "record the outcome",
          "roll back if errors rise", "notify the channel", "update the runbook", "close the ticket"]


def synthetic_skills(n: int, *, n_users: int, seed: int = 7, library: str | None = None) -> list[Skill]:
    """``n`` skills spread round-robin over ``n_users`` users (or one shared library)."""
    return list(iter_synthetic_skills(n, n_users=n_users, seed=seed, library=library))


def iter_synthetic_skills(n: int, *, n_users: int, seed: int = 7, library: str | None = None) -> Iterator[Skill]:
    """:func:`synthetic_skills` one at a time (memory stays flat for large ``n``)."""
    rng = random.Random(seed)
    for i in range(n):
        verb, obj, qual = rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_QUALIFIERS)
        steps = rng.sample(_STEPS, 4)
        name = f"{verb}-{obj}-{i}".replace(" ", "-")
        common = {
            "name": name,
            "description": f"How to {verb} a {obj} {qual}.",
            "instructions": "\n".join(f"{k}. {s.capitalize()}" for k, s in enumerate(steps, 1)),
            "triggers": (f"{verb} {obj}", f"how do I {verb} the {obj}"),
            "tags": (verb.split()[0], obj.split()[-1]),
            "created_at": "2026-01-01T00:00:00Z",
        }
        if library is None:
            yield Skill(**common, user_id=f"user-{i % n_users}", scope="user")
        else:
            yield Skill(**common, library=library, scope="library")


def synthetic_queries(n: int, *, seed: int = 11) -> list[str]:
    """``n`` request texts in the same vocabulary."""
    rng = random.Random(seed)
    return [f"how should I {rng.choice(_VERBS)} our {rng.choice(_OBJECTS)} {rng.choice(_QUALIFIERS)}?"
            for _ in range(n)]


def batched_synthetic_skills(n: int, batch: int, **options: object) -> Iterator[list[Skill]]:
    """:func:`synthetic_skills` in lists of ``batch``."""
    skills = iter_synthetic_skills(n, **options)  # type: ignore[arg-type]
    while chunk := list(islice(skills, batch)):
        yield chunk
