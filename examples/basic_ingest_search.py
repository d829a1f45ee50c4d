"""The seed quickstart: learn a skill from one message, then find it.

    python -m examples.basic_ingest_search
"""

from autoskill import AutoSkill, AutoSkillConfig


def main() -> int:
    sdk = AutoSkill(
        AutoSkillConfig(
            llm={"provider": "mock"},
            embeddings={"provider": "hashing", "dims": 256},
            store={"provider": "inmemory"},
        )
    )
    learned = sdk.ingest(
        messages=[
            {"role": "user", "content": "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."},
            {"role": "assistant", "content": "Got it."},
        ],
        user_id="u1",
    )
    for skill in learned:
        print(f"learned {skill.name} v{skill.version}:\n{skill.instructions}\n")
    for hit in sdk.search("How should I do a release?", user_id="u1", limit=5):
        print(f"search hit: {hit.skill.name} score={hit.score:.3f} matched_by={hit.matched_by}")
    print("\n" + sdk.render_context("How should I do a release?", user_id="u1", max_tokens=300))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
