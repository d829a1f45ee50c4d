"""The scripted conversation set: each scenario yields exactly the skills it should."""

from __future__ import annotations

import pytest

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.learning.scenarios import SCENARIOS, Scenario, score_extraction


def learn(scenario: Scenario) -> list:  # type: ignore[type-arg]
    sdk = AutoSkill(AutoSkillConfig())
    if scenario.messages:
        sdk.ingest(messages=list(scenario.messages), user_id="u1")
    if scenario.events:
        sdk.ingest(events=list(scenario.events), user_id="u1")
    return sdk.list("u1")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_scenario_outcome(scenario: Scenario) -> None:
    skills = learn(scenario)
    tp, fp, fn = score_extraction(scenario, skills)
    assert (fp, fn) == (0, 0), [(s.name, s.instructions) for s in skills]
    assert tp == len(scenario.expected)
