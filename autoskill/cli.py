"""The ``autoskill`` command line.

Subcommands print plain text meant for people; exit status is 0 on success, 1 when the
command found problems (``validate``), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from autoskill.errors import AutoSkillError

__all__ = ["main"]


def _bundled_library() -> Path:
    from importlib.resources import files

    return Path(str(files("autoskill") / "library"))


def _registry(roots: Sequence[str], recursive: bool):  # type: ignore[no-untyped-def]
    from autoskill.registry import SkillRegistry

    registry = SkillRegistry()
    for root in roots:
        registry.scan_skills(root, recursive=recursive, warn=False)
    return registry


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from autoskill.skill.folder import iter_skill_dirs
    from autoskill.skill.validate import validate_skill_dir

    root = Path(args.dir)
    if not root.is_dir():
        raise AutoSkillError(f"not a folder: {root}")
    checked = failed = 0
    for folder in iter_skill_dirs(root):
        result = validate_skill_dir(folder)
        checked += 1
        if not result.ok:
            failed += 1
            print(f"FAIL {folder}", file=out)
            for problem in result.problems:
                print(f"     - {problem}", file=out)
        elif args.verbose:
            print(f"ok   {folder}", file=out)
    print(f"{checked} skill folder(s) checked, {failed} with problems", file=out)
    return 1 if failed or checked == 0 else 0


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    if not args.root:
        return _cmd_store_list(args, out)
    registry = _registry(args.root, args.recursive)
    rows = registry.list_skills()
    for row in rows:
        print(f"{row.name:<40} {_short(row.description)}", file=out)
    print(f"{len(rows)} skill(s); {len(registry.warnings)} file(s) skipped", file=out)
    for warning in registry.warnings if args.verbose else ():
        print(f"  skipped {warning.path}: {warning.reason}", file=out)
    return 0


def _cmd_store_list(args: argparse.Namespace, out: TextIO) -> int:
    sdk = _sdk(args)
    statuses = ("draft",) if getattr(args, "drafts", False) else ("active", "draft", "archived")
    skills = sdk.list(args.user_id, scope="all", statuses=statuses)
    from autoskill.learning.screen import flag_reasons

    for skill in skills:
        where = "mine" if skill.scope == "user" else f"library:{skill.library or '-'}"
        print(f"{skill.name:<36} v{skill.version:<8} {skill.status:<8} {where:<22} {_short(skill.description, 60)}",
              file=out)
        if flag_reasons(skill):
            print(f"{'':<36} flagged: {flag_reasons(skill)}", file=out)
    print(f"{len(skills)} skill(s) visible to user {args.user_id!r} in {_store_dir(args)}", file=out)
    return 0


def _short(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"


def _cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    from autoskill.errors import SkillNotFoundError
    from autoskill.skill import render_skill_md

    if not args.root:
        return _cmd_store_show(args, out)
    registry = _registry(args.root, args.recursive)
    skill = registry.get_skill(args.name)
    if skill is None:
        raise SkillNotFoundError(args.name, registry.find_closest_skill_name(args.name))
    print(render_skill_md(skill) if args.raw else _describe(skill), file=out, end="")
    return 0


def _describe(skill) -> str:  # type: ignore[no-untyped-def]
    lines = [f"{skill.title}  ({skill.name}, v{skill.version}, {skill.status})", "", skill.description, ""]
    for label, values in (("Triggers", skill.triggers), ("Tags", skill.tags), ("Aliases", skill.aliases), ("Paths", skill.paths)):
        if values:
            lines.append(f"{label}: {', '.join(values)}")
    if skill.when_to_use:
        lines.append(f"When to use: {skill.when_to_use}")
    if skill.source_dir is not None:
        lines.append(f"Folder: {skill.source_dir}")
    lines += ["", skill.instructions, ""]
    return "\n".join(lines)


DEMO_CONVERSATION = (
    {"role": "user", "content": "Before each release: run regression tests -> canary rollout -> monitor -> full rollout."},
    {"role": "assistant", "content": "Got it."},
)


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    import tempfile

    from autoskill import AutoSkill, AutoSkillConfig
    from autoskill.skill.validate import validate_skill_dir

    with tempfile.TemporaryDirectory(prefix="autoskill-demo-") as scratch:
        store_dir = Path(args.store_dir) if args.store_dir else Path(scratch) / "store"
        print(f"1. A local store in {store_dir} (offline: hashing embeddings, mock extractor)", file=out)
        sdk = AutoSkill(AutoSkillConfig(store={"provider": "local", "path": str(store_dir)}))
        library = _bundled_library()
        report = sdk.import_skill_dirs(library, scope="common", library="bundled")
        print(f"2. Imported the bundled library ({len(report.imported)} new, {report.unchanged} unchanged):", file=out)
        for skill in sdk.list("demo-user", scope="library"):
            print(f"     {skill.name:<32} {skill.description[:70]}", file=out)
        print("3. Learned from a conversation:", file=out)
        print(f"     user: {DEMO_CONVERSATION[0]['content']}", file=out)
        for skill in sdk.ingest(messages=list(DEMO_CONVERSATION), user_id="demo-user"):
            print(f"     -> skill {skill.name!r} v{skill.version}: {len(skill.instructions.splitlines())} steps", file=out)
        for query in (args.query, "How should I do a release?"):
            print(f"4. search({query!r}):", file=out)
            for hit in sdk.search(query, user_id="demo-user", limit=3):
                print(f"     {hit.score:.3f}  {hit.skill.name:<32} matched by {', '.join(hit.matched_by)}", file=out)
        print(f"5. render_context('How should I do a release?', max_tokens={args.max_tokens}):", file=out)
        context = sdk.render_context("How should I do a release?", user_id="demo-user", limit=2,
                                     max_tokens=args.max_tokens)
        print("     " + context.replace("\n", "\n     "), file=out)
        exported = sdk.write_skill_dirs("demo-user", Path(scratch) / "export")
        verdicts = ["valid" if validate_skill_dir(p).ok else "INVALID" for p in exported]
        print(f"6. Exported {len(exported)} SKILL.md folder(s): {', '.join(verdicts)}", file=out)
        sdk.close()
    return 0


def _store_dir(args: argparse.Namespace) -> Path:
    from autoskill.store.factory import default_store_path

    return Path(args.store_dir).expanduser() if getattr(args, "store_dir", None) else default_store_path()


def _sdk(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from autoskill import AutoSkill, AutoSkillConfig

    libraries = tuple(getattr(args, "library_dir", None) or ())
    return AutoSkill(AutoSkillConfig(store={"provider": "local", "path": str(_store_dir(args))},
                                     library_dirs=libraries))


class _Progress:
    """A one-line progress counter on stderr (only when it is a terminal, or for long runs)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            print(f"\r{self.label}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif done == total or done % 500 == 0:
            print(f"{self.label}: {done}/{total}", file=sys.stderr, flush=True)


def _cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    sdk = _sdk(args)
    report = sdk.import_skill_dirs(args.dir, scope=args.scope, user_id=args.user_id, library=args.library,
                                   recursive=not args.flat, progress=_Progress("importing"))
    print(f"imported {len(report.imported)} skill(s), {report.unchanged} unchanged, "
          f"{len(report.skipped)} file(s) skipped into {_store_dir(args)}", file=out)
    for path, reason in report.skipped if args.verbose else ():
        print(f"  skipped {path}: {reason}", file=out)
    return 0


def _cmd_search(args: argparse.Namespace, out: TextIO) -> int:
    sdk = _sdk(args)
    hits = sdk.search(args.query, user_id=args.user_id, limit=args.limit, scope=args.scope)
    for hit in hits:
        owner = hit.skill.user_id if hit.skill.scope == "user" else f"library:{hit.skill.library or '-'}"
        print(f"{hit.score:.3f}  {hit.skill.name:<36} {owner:<24} {', '.join(hit.matched_by)}", file=out)
    if not hits:
        print("no skills found", file=out)
    return 0


def _find_in_store(sdk, key: str, user_id: str | None):  # type: ignore[no-untyped-def]
    from autoskill.errors import SkillNotFoundError

    skill = sdk.get(key) or sdk.resolve(key, user_id=user_id)
    if skill is None:
        names = [s.name for s in sdk.list(user_id, scope="all")]
        from autoskill.registry.relevance import levenshtein

        close = min(names, key=lambda n: levenshtein(n, key), default=None)
        raise SkillNotFoundError(key, close if close and levenshtein(close, key) <= 4 else None)
    return skill


def _cmd_store_show(args: argparse.Namespace, out: TextIO) -> int:
    sdk = _sdk(args)
    skill = _find_in_store(sdk, args.name, args.user_id)
    print(sdk.export_skill_md(skill.id) if args.raw else _describe(skill), file=out, end="")
    return 0


def _cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    sdk = _sdk(args)
    paths = sdk.write_skill_dirs(args.user_id, args.dir, scope=args.scope)
    print(f"wrote {len(paths)} skill folder(s) to {args.dir}", file=out)
    return 0


def _cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    stats = _sdk(args).stats()
    print(f"store      {stats.path}", file=out)
    print(f"skills     {stats.skills} ({', '.join(f'{k} {v}' for k, v in sorted(stats.by_status.items())) or 'none'})", file=out)
    print(f"users      {stats.users}", file=out)
    print(f"libraries  {stats.libraries}", file=out)
    print(f"versions   {stats.versions}", file=out)
    print(f"records    {stats.records}", file=out)
    print(f"embedder   {stats.embedder} ({stats.dims} dims)", file=out)
    return 0


def _cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    from autoskill.store.migrate import IdentityEmbedder, migrate, open_store_spec, store_identity

    identity = store_identity(args.source, schema=args.schema)
    if identity is None:
        raise AutoSkillError(f"{args.source}: no store there to migrate from")
    found = store_identity(args.target, schema=args.schema)
    if found is not None and found != identity:
        raise AutoSkillError(f"{args.target} holds vectors of {found[0]!r} ({found[1]} dims), the source "
                             f"{identity[0]!r} ({identity[1]} dims); migrate into an empty store")
    embedder = IdentityEmbedder(*identity)  # vectors are copied, never re-embedded
    source = open_store_spec(args.source, embedder, schema=args.schema)
    try:
        target = open_store_spec(args.target, embedder, schema=args.schema)
        try:
            bars: dict[str, _Progress] = {}

            def progress(kind: str, done: int, total: int) -> None:
                bars.setdefault(kind, _Progress(f"migrating {kind}"))(done, total)

            report = migrate(source, target, progress=progress, batch_size=args.batch_size)
        finally:
            target.close()
    finally:
        source.close()
    for line in report.summary():
        print(line, file=out)
    return 0 if report.ok else 1


def _cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    from autoskill.store.doctor import check_store

    report = check_store(_store_dir(args), repair=args.repair)
    print(f"store {report.path}", file=out)
    for finding in report.found:
        print(f"  problem: {finding}", file=out)
    for line in report.repairs:
        print(f"  repaired: {line}", file=out)
    for line in report.notes:
        print(f"  note: {line}", file=out)
    if report.ok:
        print("healthy" if not report.found else f"healthy after {len(report.repairs)} repair(s)", file=out)
        return 0
    if args.repair:
        for finding in report.problems:
            print(f"  remains: {finding}", file=out)
    hint = "" if args.repair or not any(f.repairable for f in report.problems) else "; run with --repair to fix them"
    print(f"{len(report.problems)} problem(s){hint}", file=out)
    return 1


def _cmd_ingest(args: argparse.Namespace, out: TextIO) -> int:
    from autoskill.learning.events import read_jsonl

    sdk = _sdk(args)
    batch = read_jsonl(args.file)
    learned = []
    total = len(batch.conversations) + len(batch.trajectories)
    progress = _Progress("ingesting")
    for position, conversation in enumerate(batch.conversations, 1):
        learned += sdk.ingest(messages=conversation.messages, user_id=conversation.user_id or args.user_id,
                              thread_id=conversation.thread_id)
        progress(position, total)
    events = [e.to_dict() for t in batch.trajectories for e in t.events]
    if events:
        learned += sdk.ingest(events=events, user_id=None if args.keep_users else args.user_id)
        progress(total, total)
    for line, message in batch.errors:
        print(f"  line {line}: skipped ({message})", file=out)
    print(f"{len(learned)} skill(s) added or changed from {len(batch.conversations)} conversation(s) and "
          f"{len(batch.trajectories)} event thread(s); {len(batch.errors)} bad line(s)", file=out)
    for skill in learned:
        print(f"  {skill.name} v{skill.version}", file=out)
    return 0


def _cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    sdk = _sdk(args)
    skill = _find_in_store(sdk, args.name, args.user_id)
    for version in sdk.history(skill.id):
        changes = ", ".join(version.changes)
        print(f"v{version.version:<8} {version.created_at}  {version.reason}  [{changes}]", file=out)
    return 0


def _cmd_rollback(args: argparse.Namespace, out: TextIO) -> int:
    sdk = _sdk(args)
    skill = _find_in_store(sdk, args.name, args.user_id)
    restored = sdk.rollback(skill.id, args.version)
    print(f"{restored.name}: restored v{args.version} as v{restored.version}", file=out)
    return 0


def _cmd_review(args: argparse.Namespace, out: TextIO) -> int:
    sdk = _sdk(args)
    skill = _find_in_store_any(sdk, args.name, args.user_id)
    if args.command == "promote":
        print(f"{sdk.promote(skill.id).name}: active", file=out)
    else:
        sdk.drop(skill.id)
        print(f"{skill.name}: dropped", file=out)
    return 0


def _find_in_store_any(sdk, key: str, user_id: str | None):  # type: ignore[no-untyped-def]
    """Like _find_in_store, but drafts and archived skills count too."""
    for skill in sdk.list(user_id, scope="all", statuses=("draft", "active", "archived")):
        if key in (skill.id, skill.name):
            return skill
    return _find_in_store(sdk, key, user_id)


def _add_store_args(cmd: argparse.ArgumentParser, *, user: bool = True) -> None:
    cmd.add_argument("--store-dir", help="store folder (default: $AUTOSKILL_STORE_DIR or ~/.autoskill/store)")
    cmd.add_argument("--library-dir", action="append", help="extra shared skill library (repeatable)")
    if user:
        cmd.add_argument("--user-id", default="default", help="act for this user (default: 'default')")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="autoskill", description="Reusable Agent Skills learned from use.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="offline tour on the bundled skill library")
    demo.add_argument("--query", default="review this pull request before merging")
    demo.add_argument("--max-tokens", type=int, default=400)
    demo.add_argument("--store-dir", help="keep the demo store here (default: a temporary folder)")
    demo.set_defaults(run=_cmd_demo)

    imp = sub.add_parser("import", help="import the skill folders under DIR into the store")
    imp.add_argument("dir")
    imp.add_argument("--scope", choices=("user", "common"), default="common",
                     help="'common': a shared, read-only library (default); 'user': a user's own skills")
    imp.add_argument("--library", help="library name (default: the folder name)")
    imp.add_argument("--flat", action="store_true", help="only DIR/*/SKILL.md, not nested folders")
    imp.add_argument("-v", "--verbose", action="store_true", help="list skipped files")
    _add_store_args(imp)
    imp.set_defaults(run=_cmd_import)

    search = sub.add_parser("search", help="search the store")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=5)
    search.add_argument("--scope", choices=("all", "user", "common", "library"), default="all")
    _add_store_args(search)
    search.set_defaults(run=_cmd_search)

    export = sub.add_parser("export", help="write a user's skills as SKILL.md folders under DIR")
    export.add_argument("dir")
    export.add_argument("--scope", choices=("user", "all"), default="user")
    _add_store_args(export)
    export.set_defaults(run=_cmd_export)

    ingest = sub.add_parser("ingest", help="learn from a JSONL file of events or conversations")
    ingest.add_argument("file")
    ingest.add_argument("--keep-users", action="store_true",
                        help="learn for the user ids in the file (default: --user-id for events without one)")
    _add_store_args(ingest)
    ingest.set_defaults(run=_cmd_ingest)

    history = sub.add_parser("history", help="versions of a skill with what changed and why")
    history.add_argument("name")
    _add_store_args(history)
    history.set_defaults(run=_cmd_history)

    rollback = sub.add_parser("rollback", help="restore a version of a skill as a new version")
    rollback.add_argument("name")
    rollback.add_argument("version")
    _add_store_args(rollback)
    rollback.set_defaults(run=_cmd_rollback)

    for name, helptext in (("promote", "make a reviewed draft active"), ("drop", "delete a draft")):
        review = sub.add_parser(name, help=helptext)
        review.add_argument("name", help="skill name or id")
        _add_store_args(review)
        review.set_defaults(run=_cmd_review)

    # Listed for --help; main() hands `chat ...` to autoskill.interactive before parsing.
    sub.add_parser("chat", help="interactive chat that retrieves skills and learns from feedback (chat --help)")

    stats = sub.add_parser("stats", help="counts of the store")
    _add_store_args(stats, user=False)
    stats.set_defaults(run=_cmd_stats)

    migrate = sub.add_parser("migrate", help="copy a store (skills, history, usage, records, windows) into another")
    migrate.add_argument("--from", dest="source", required=True, metavar="SPEC", help="local:PATH or postgres:DSN")
    migrate.add_argument("--to", dest="target", required=True, metavar="SPEC", help="local:PATH or postgres:DSN")
    migrate.add_argument("--schema", default="autoskill", help="PostgreSQL schema of a postgres store (default: autoskill)")
    migrate.add_argument("--batch-size", type=int, default=500)
    migrate.set_defaults(run=_cmd_migrate)

    doctor = sub.add_parser("doctor", help="check the store's files and ledger (exit 1 when problems remain)")
    doctor.add_argument("--repair", action="store_true", help="repair what can be repaired, then check again")
    doctor.add_argument("--store-dir", help="store folder (default: $AUTOSKILL_STORE_DIR or ~/.autoskill/store)")
    doctor.set_defaults(run=_cmd_doctor)

    validate = sub.add_parser("validate", help="check every SKILL.md under DIR against the spec")
    validate.add_argument("dir")
    validate.add_argument("-v", "--verbose", action="store_true", help="also list valid folders")
    validate.set_defaults(run=_cmd_validate)

    for name, helptext, runner in (("list", "list the store's skills (or those under --root)", _cmd_list),
                                   ("show", "show one skill by name, alias or id", _cmd_show)):
        cmd = sub.add_parser(name, help=helptext)
        if name == "show":
            cmd.add_argument("name")
            cmd.add_argument("--raw", action="store_true", help="print the SKILL.md text")
        cmd.add_argument("--root", action="append",
                         help="read skill folders under this root (repeatable) instead of the store")
        cmd.add_argument("--recursive", action="store_true", help="scan roots recursively")
        cmd.add_argument("-v", "--verbose", action="store_true")
        if name == "list":
            cmd.add_argument("--drafts", action="store_true", help="only drafts (flagged skills waiting for review)")
        _add_store_args(cmd)
        cmd.set_defaults(run=runner)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    stream = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["chat"]:  # the chat owns its options (argparse cannot pass them through)
        from autoskill.interactive import main as chat_main

        return chat_main(argv[1:], out=stream)
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args, stream))
    except AutoSkillError as exc:
        print(f"autoskill: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
