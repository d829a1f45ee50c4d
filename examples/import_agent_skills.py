"""Import existing Agent Skills (folders with a SKILL.md) into a local store.

    python -m examples.import_agent_skills --root-dir /path/to/skills --scope common --store-dir Skills
    python -m examples.import_agent_skills --root-dir /path/to/skills --scope user --user-id u1 --store-dir Skills
"""

import argparse
import sys

from autoskill import AutoSkill, AutoSkillConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root-dir", required=True, help="folder holding skill folders")
    parser.add_argument("--scope", choices=("common", "user"), default="common",
                        help="common: a shared read-only library (default); user: a user's own skills")
    parser.add_argument("--user-id", default="default")
    parser.add_argument("--library", help="library name (default: the folder's name)")
    parser.add_argument("--store-dir", default="Skills")
    args = parser.parse_args()

    def progress(done: int, total: int) -> None:
        if done == total or done % 200 == 0:
            print(f"  {done}/{total}", file=sys.stderr)

    with AutoSkill(AutoSkillConfig(store={"provider": "local", "path": args.store_dir})) as sdk:
        report = sdk.import_skill_dirs(args.root_dir, scope=args.scope, user_id=args.user_id,
                                       library=args.library, progress=progress)
        print(f"imported {len(report.imported)} skill(s), {report.unchanged} unchanged, "
              f"{len(report.skipped)} file(s) skipped, into {args.store_dir}")
        for path, reason in report.skipped[:10]:
            print(f"  skipped {path}: {reason}")
        drafts = [s for s in report.imported if s.status == "draft"]
        if drafts:
            print(f"{len(drafts)} held back as drafts for review (autoskill list --drafts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
