"""The interactive chat: retrieve before every answer, learn from what worked.

Each user turn:

1. retrieves the relevant skills and shows them;
2. answers with the LLM, the skills rendered into its system prompt (the offline ``mock``
   LLM answers by applying the best skill's steps);
3. captures the turn as a pending window. The *next* user message is its feedback: "thanks,
   that worked" (or simply moving on) releases it for learning, "no, that's wrong" blocks
   it, and a correction in that message is learned instead.

It reads a terminal or piped standard input alike. Commands start with ``/`` (``/help``).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from autoskill.client import AutoSkill
from autoskill.config import AutoSkillConfig
from autoskill.errors import AutoSkillError

__all__ = ["ChatSession", "main"]

HELP = """Commands:
  /help             this list
  /skills           the skills retrieved for the last message
  /list             your skills (and shared libraries)
  /pending          turns still waiting for feedback
  /extract          learn from the waiting turns now (treat them as confirmed)
  /pause, /resume   stop or restart learning from this conversation
  /export DIR       write your skills as SKILL.md folders under DIR
  /quit             leave (waiting turns stay pending in the store)"""


class ChatSession:
    """One user's chat over an :class:`AutoSkill` instance."""

    def __init__(self, sdk: AutoSkill, *, user_id: str = "default", out: TextIO = sys.stdout,
                 limit: int = 3, max_tokens: int = 1200) -> None:
        self.sdk = sdk
        self.user_id = user_id
        self.out = out
        self.limit = limit
        self.max_tokens = max_tokens
        self.thread_id = f"chat-{uuid.uuid4().hex[:12]}"
        self.learning = True
        self.history: list[dict[str, str]] = []
        self.last_hits: list = []  # type: ignore[type-arg]
        self._previous_window: str | None = None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- turns --------------------------------------------------------------------------------

    def turn(self, text: str) -> str:
        """Answer one user message (retrieval, answer, capture for deferred learning)."""
        hits = self.sdk.search(text, user_id=self.user_id, limit=self.limit)
        self.last_hits = hits
        if hits:
            names = ", ".join(f"{h.skill.name} ({h.score:.2f})" for h in hits)
            self.say(f"[retrieved: {names}]")
        context = self.sdk.render_context(text, user_id=self.user_id, limit=self.limit, max_tokens=self.max_tokens)
        system = "You are a helpful assistant." + (f"\n\n{context}" if context else "")
        messages = [{"role": "system", "content": system}, *self.history[-8:], {"role": "user", "content": text}]
        try:
            answer = self.sdk.llm.complete(messages)
        except AutoSkillError as exc:
            answer = f"(the model failed: {exc})"
        self.say(f"assistant> {answer}")
        self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
        if self.learning:
            self._capture(text, answer, [h.skill.id for h in hits])
        return answer

    def _capture(self, text: str, answer: str, used: Sequence[str]) -> None:
        run_id = uuid.uuid4().hex
        events = [
            {"type": "message", "run_id": run_id, "role": "user", "content": text},
            {"type": "message", "run_id": run_id, "role": "assistant", "content": answer},
        ]
        window_id = self.sdk.capture(events, thread_id=self.thread_id, user_id=self.user_id, used_skill_ids=used)
        self._report(self._previous_window)
        self._previous_window = window_id

    def _report(self, window_id: str | None) -> None:
        """Say what the feedback did to the previous turn."""
        if window_id is None:
            return
        window = self.sdk.store.get_window(window_id)
        if window is None:
            return
        if window.status == "processed":
            for skill_id in (window.result or {}).get("skills", []):
                skill = self.sdk.get(skill_id)
                if skill is not None:
                    self.say(f"[learned skill {skill.name} v{skill.version}]")
        elif window.status == "blocked":
            self.say("[not learned: your reply rejected the previous answer]")

    # -- commands -----------------------------------------------------------------------------

    def command(self, line: str) -> bool:
        """Run a ``/command``; returns False when the session should end."""
        name, _, arg = line[1:].strip().partition(" ")
        name = name.lower()
        if name in ("quit", "exit", "q"):
            waiting = len(self.sdk.pending(thread_id=self.thread_id))
            if waiting:
                self.say(f"[{waiting} turn(s) wait for feedback in the store]")
            self.say("bye")
            return False
        if name == "help":
            self.say(HELP)
        elif name == "skills":
            if not self.last_hits:
                self.say("no skills retrieved for the last message")
            for hit in self.last_hits:
                self.say(f"  {hit.score:.2f}  {hit.skill.name} v{hit.skill.version} ({', '.join(hit.matched_by)})")
                for step in hit.skill.instructions.splitlines()[:8]:
                    self.say(f"        {step}")
        elif name == "list":
            skills = self.sdk.list(self.user_id, scope="all")
            for skill in skills:
                where = "mine" if skill.scope == "user" else f"library:{skill.library or '-'}"
                self.say(f"  {skill.name:<36} v{skill.version:<8} {where}")
            self.say(f"{len(skills)} skill(s)")
        elif name == "pending":
            self.say(f"{len(self.sdk.pending(thread_id=self.thread_id))} turn(s) waiting for feedback")
        elif name == "extract":
            learned = self.sdk.flush(release_pending=True)
            self._previous_window = None
            self.say(f"[learned {len(learned)} skill(s)" + (": " + ", ".join(s.name for s in learned) if learned else "") + "]")
        elif name == "pause":
            self.learning = False
            self.say("[learning paused]")
        elif name == "resume":
            self.learning = True
            self.say("[learning resumed]")
        elif name == "export":
            if not arg:
                self.say("usage: /export DIR")
            else:
                paths = self.sdk.write_skill_dirs(self.user_id, arg.strip())
                self.say(f"[wrote {len(paths)} skill folder(s) to {arg.strip()}]")
        else:
            self.say(f"unknown command /{name}; /help lists them")
        return True

    def run(self, lines: Iterable[str], *, prompt: bool = False) -> None:
        """Drive the session from lines of input until ``/quit`` or the end of input."""
        if prompt:
            self.say("AutoSkill chat. /help for commands, /quit to leave.")
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if not prompt:
                self.say(f"user> {line}")
            if line.startswith("/"):
                if not self.command(line):
                    return
                continue
            self.turn(line)


def _terminal_lines() -> Iterable[str]:
    while True:
        try:
            yield input("you> ")
        except EOFError:
            return


def build_parser() -> argparse.ArgumentParser:
    """Options of the chat (shared by ``autoskill chat`` and ``examples.interactive_chat``)."""
    parser = argparse.ArgumentParser(prog="autoskill chat", description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm-provider", default="mock", choices=("mock", "openai", "anthropic", "glm"))
    parser.add_argument("--model", help="model name for a real provider")
    parser.add_argument("--store-dir", default="Skills", help="local store folder (default: ./Skills)")
    parser.add_argument("--library-dir", action="append", default=[], help="shared skill library (repeatable)")
    parser.add_argument("--user-id", default="default")
    return parser


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Run the chat; returns the exit status (2 with a clear message when a provider is unusable)."""
    args = build_parser().parse_args(argv)
    stream_in, stream_out = stdin or sys.stdin, out or sys.stdout
    llm: dict[str, str] = {"provider": args.llm_provider}
    if args.model:
        llm["model"] = args.model
    try:
        sdk = AutoSkill(AutoSkillConfig(llm=llm, store={"provider": "local", "path": str(Path(args.store_dir))},
                                        library_dirs=tuple(args.library_dir)))
    except AutoSkillError as exc:
        print(f"autoskill chat: {exc}", file=sys.stderr)
        return 2
    session = ChatSession(sdk, user_id=args.user_id, out=stream_out)
    interactive = stream_in.isatty()
    with sdk:
        session.run(_terminal_lines() if interactive else stream_in, prompt=interactive)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
