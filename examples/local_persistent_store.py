"""A local store survives the process: write, reopen, search, see the SKILL.md files.

    python -m examples.local_persistent_store [--store-dir Skills]
"""

import argparse
import tempfile
from pathlib import Path

from autoskill import AutoSkill, AutoSkillConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-dir", help="store folder (default: a temporary one)")
    args = parser.parse_args()
    store_dir = Path(args.store_dir or tempfile.mkdtemp(prefix="autoskill-store-"))
    config = AutoSkillConfig(store={"provider": "local", "path": str(store_dir)})

    with AutoSkill(config) as sdk:
        sdk.ingest(messages=[{"role": "user", "content":
            "Database migration checklist:\n1. Back up the database\n2. Run the migration on staging\n"
            "3. Verify the schema\n4. Apply it to production"}], user_id="alice")
        print(f"wrote {store_dir}:")
        for path in sorted(store_dir.rglob("SKILL.md")):
            print(f"  {path.relative_to(store_dir)}")

    with AutoSkill(config) as reopened:  # a fresh object reads the same folder back
        for hit in reopened.search("how do I migrate the database?", user_id="alice"):
            print(f"after reopening: {hit.skill.name} v{hit.skill.version} score={hit.score:.3f}")
        print(f"bob sees {len(reopened.search('migrate the database', user_id='bob'))} of alice's skills")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
