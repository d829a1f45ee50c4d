"""Scan and import skill roots in a child process, report what happened as JSON (a script).

    python _scan_probe.py full|quick STORE_DIR ROOT [ROOT ...]

For each root: ``SkillRegistry.scan_skills`` flat and recursive, then
``AutoSkill.import_skill_dirs`` as a user's skills and as a shared library (``quick``:
the recursive scan and the import as a user only). Prints one JSON
object with the warnings, the skills loaded and imported, the time taken and the peak
resident memory of this process (Linux ``VmHWM``, reset when the probe starts: a forked
child's ``ru_maxrss`` starts at its parent's size, which would measure pytest, not us).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from autoskill import AutoSkill, AutoSkillConfig
from autoskill.registry import SkillRegistry


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    _reset_peak()
    quick = sys.argv[1] == "quick"
    store, roots = Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]]
    started = time.monotonic()
    out: dict = {"roots": {}}
    sdk = AutoSkill(AutoSkillConfig(embeddings={"provider": "hashing", "dims": 64},
                                    store={"provider": "local", "path": str(store)}))
    for index, root in enumerate(roots):
        entry: dict = {}
        for recursive in (True,) if quick else (False, True):
            registry = SkillRegistry()
            registry.scan_skills(root, recursive=recursive, warn=False)
            entry["recursive" if recursive else "flat"] = {
                "loaded": sorted(s.name for s in registry),
                "warnings": [[w.kind, w.path, w.reason] for w in registry.warnings],
            }
        as_user = sdk.import_skill_dirs(root, scope="user", user_id=f"importer{index}")
        entry["import_user"] = {"imported": len(as_user.imported), "skipped": as_user.skipped}
        if not quick:
            as_library = sdk.import_skill_dirs(root, scope="common", library=f"lib{index}")
            entry["import_library"] = {"imported": len(as_library.imported), "skipped": as_library.skipped}
        entry["folders"] = sorted({str(s.source_dir) for s in as_user.imported})
        out["roots"][str(root)] = entry
    out["store_files"] = sorted(str(p) for p in store.rglob("SKILL.md"))
    sdk.close()
    out["seconds"] = time.monotonic() - started
    out["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
