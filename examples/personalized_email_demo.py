"""Offline: a user teaches an email style over several turns, and the skill evolves.

A scripted session (no network): each turn is captured, the next message is its feedback,
and the version history shows how the skill grew.

    python -m examples.personalized_email_demo
"""

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.interactive import ChatSession

SCRIPT = [
    "When I write emails to clients: greet them by first name -> one short paragraph -> end with a clear next step.",
    "thanks, that worked",
    "When I write emails to clients: greet them by first name -> one short paragraph -> mention the deadline "
    "-> end with a clear next step -> sign off with just my initials.",
    "perfect, that's how I like them",
    "Write an email to a client about the delayed invoice",
    "/skills",
]


def main() -> int:
    sdk = AutoSkill(AutoSkillConfig())
    session = ChatSession(sdk, user_id="dana")
    session.run(SCRIPT)
    [skill] = sdk.list("dana")
    print(f"\nThe skill after the session: {skill.name} v{skill.version}")
    for version in sdk.history(skill.id):
        print(f"  v{version.version}: {version.reason} [{', '.join(version.changes)}]")
    print("\n" + skill.instructions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
