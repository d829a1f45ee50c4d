"""Running a skill's scripts: where they may live, which interpreter runs them, and how.

Only files under a skill's ``scripts/`` folder run, always through an interpreter found on
``PATH`` (never the file itself, never a shell), in the skill folder, with a minimal
environment, a time limit that kills the whole process group, and capped output.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, TypedDict

from autoskill._fs import contained_path
from autoskill.errors import ResourceAccessError, ScriptExecutionError
from autoskill.skill.folder import iter_resource_files, write_skill_dir
from autoskill.skill.model import Skill

__all__ = [
    "SCRIPTS_DIR",
    "ScriptResult",
    "build_command",
    "choose_interpreter",
    "locate_script",
    "minimal_env",
    "run_process",
    "script_relpath",
    "skill_workdir",
]

logger = logging.getLogger(__name__)

SCRIPTS_DIR = "scripts"

# Extension -> interpreter names to try in order ("python" means this very interpreter).
_BY_EXTENSION: dict[str, tuple[str, ...]] = {
    ".py": ("python",),
    ".sh": ("bash", "sh"),
    ".bash": ("bash",),
    ".js": ("node",),
    ".mjs": ("node",),
    ".cjs": ("node",),
    ".rb": ("ruby",),
    ".r": ("Rscript",),
    ".pl": ("perl",),
}

# Interpreters a shebang may name. A shebang is text in the skill, so it may only pick one of
# these, never an arbitrary program such as `#!/bin/rm`.
_SHEBANG_ALLOWED = re.compile(r"^(python(\d+(\.\d+)?)?|bash|sh|dash|zsh|node|nodejs|ruby|perl|Rscript)$")

# After the script's process has exited, how long to wait for leftover holders of its pipes.
_DRAIN_GRACE = 2.0
_READ_CHUNK = 65536


class ScriptResult(TypedDict):
    """What running a script produced (returned to agents as a plain dict).

    Attributes:
        returncode: Exit status; negative for a signal (``-9`` after a timeout kill).
        stdout: Standard output, cut at the output limit (with a note when cut).
        stderr: Standard error, cut the same way.
        timed_out: Whether the time limit was hit and the process group killed.
        truncated: Whether stdout or stderr was cut.
    """

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool


def script_relpath(rel: str) -> str:
    """Map a cleaned relative path to its place under ``scripts/``.

    ``x.py`` means ``scripts/x.py``; ``scripts/sub/x.py`` is kept; anything else is refused.

    Raises:
        ScriptExecutionError: The path names a file outside ``scripts/``.
    """
    parts = PurePosixPath(rel).parts
    if len(parts) == 1 and parts[0] != SCRIPTS_DIR:
        return f"{SCRIPTS_DIR}/{parts[0]}"
    if len(parts) >= 2 and parts[0] == SCRIPTS_DIR:
        return rel
    raise ScriptExecutionError(
        f"only files under the skill's {SCRIPTS_DIR}/ folder can run, not {rel!r} "
        f"(give e.g. '{SCRIPTS_DIR}/tool.py' or just 'tool.py')"
    )


@contextlib.contextmanager
def skill_workdir(skill: Skill, rel: str, memory: Mapping[str, str | bytes]) -> Iterator[Path]:
    """Yield the folder to run ``rel`` in: the skill's own folder, or a private copy.

    A script held in memory (``memory``, the skill's cleaned in-memory resources) wins,
    as it does on export: the skill is laid out in a private temporary folder (SKILL.md,
    folder resources, in-memory resources) which is removed afterwards.

    Raises:
        ScriptExecutionError: The skill has no such script anywhere.
    """
    if rel in memory:
        tmp = tempfile.mkdtemp(prefix="autoskill-run-")  # 0700: private to this user
        try:
            try:
                folder = write_skill_dir(skill, tmp, fsync=False).absolute()
            except ResourceAccessError:
                raise
            except OSError as exc:
                raise ScriptExecutionError(f"cannot lay out skill {skill.name!r} to run it: {exc}") from None
            yield folder
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    source = skill.source_dir
    if source is not None and source.is_dir():
        yield source.absolute()
        return
    raise ScriptExecutionError(_missing_script_message(skill.name, rel, sorted(memory)))


def locate_script(skill_dir: Path, rel: str, *, skill_name: str = "") -> Path:
    """Return the real path of the regular file ``rel`` (``scripts/...``) in ``skill_dir``.

    Resolution is contained twice: in the skill folder, then in its ``scripts/`` folder, so
    a link from ``scripts/`` to elsewhere in (or out of) the skill is refused.

    Raises:
        ResourceAccessError: The path leaves the skill or its ``scripts/`` folder.
        ScriptExecutionError: No such file.
    """
    scripts_dir = contained_path(skill_dir, SCRIPTS_DIR)
    inner = PurePosixPath(rel).relative_to(SCRIPTS_DIR)
    target = contained_path(scripts_dir, inner.as_posix())
    if not target.is_file():
        available = [p for p in iter_resource_files(skill_dir) if p.startswith(f"{SCRIPTS_DIR}/")]
        raise ScriptExecutionError(_missing_script_message(skill_name, rel, available))
    return target.resolve()


def _missing_script_message(skill_name: str, rel: str, available: Sequence[str]) -> str:
    scripts = [p for p in available if p.startswith(f"{SCRIPTS_DIR}/")]
    listing = ", ".join(scripts) if scripts else "none"
    return f"skill {skill_name!r} has no script {rel!r}; available scripts: {listing}"


def choose_interpreter(script: Path, *, path: str | None = None) -> list[str]:
    """Return the interpreter command (without the script) for ``script``.

    A known extension decides (``.py`` runs with this Python, ``.sh`` with bash or sh,
    ``.js`` node, ``.rb`` ruby, ``.R`` Rscript, ``.pl`` perl); otherwise the shebang line
    may name an allowed interpreter. Shebang arguments are ignored: they could point the
    interpreter at another file or at inline code.

    Raises:
        ScriptExecutionError: No known extension or usable shebang, or the interpreter is
            not installed.
    """
    names = _BY_EXTENSION.get(script.suffix.lower())
    origin = f"extension {script.suffix!r}"
    if names is None:
        program = _shebang_program(script)
        if program is None:
            raise ScriptExecutionError(
                f"cannot tell how to run {script.name!r}: use a known extension "
                f"({', '.join(sorted(_BY_EXTENSION))}) or a '#!' line naming an interpreter"
            )
        if not _SHEBANG_ALLOWED.match(program):
            raise ScriptExecutionError(f"interpreter {program!r} from the '#!' line of {script.name!r} is not allowed")
        names = (program,)
        origin = "'#!' line"
    for name in names:
        found = _which(name, path)
        if found:
            return [found]
    raise ScriptExecutionError(
        f"{script.name!r} needs {' or '.join(names)} ({origin}), which is not installed or not on PATH"
    )


def _which(name: str, path: str | None) -> str | None:
    # Python scripts run with this interpreter: the one whose packages the caller installed.
    if name in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}") and sys.executable:
        return sys.executable
    return shutil.which(name, path=path)


def _shebang_program(script: Path) -> str | None:
    """Return the interpreter name of a ``#!`` line (``/usr/bin/env python3`` -> ``python3``)."""
    try:
        with open(script, "rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise ScriptExecutionError(f"cannot read {script.name!r}: {exc.strerror or exc}") from None
    if not head.startswith(b"#!"):
        return None
    tokens = head[2:].split(b"\n", 1)[0].decode("utf-8", errors="replace").split()
    if not tokens:
        return None
    program, rest = PurePosixPath(tokens[0]).name, tokens[1:]
    if program == "env":
        # `env -S python3 -u`, `env VAR=1 python3`: skip options and assignments.
        rest = [t for t in rest if not t.startswith("-") and "=" not in t]
        if not rest:
            return None
        program = PurePosixPath(rest[0]).name
    return program or None


def build_command(script: Path, args: Sequence[str], *, path: str | None = None) -> list[str]:
    """Return the argv that runs ``script`` with ``args`` (no shell involved)."""
    return [*choose_interpreter(script, path=path), str(script), *args]


def minimal_env(skill_dir: Path) -> dict[str, str]:
    """Return the environment a script gets: PATH, HOME, LANG and SKILL_DIR, little else.

    The caller's secrets (API keys, tokens) live in its environment, so none of it is
    passed on beyond these names.
    """
    env = {
        "PATH": os.environ.get("PATH") or os.defpath,
        "HOME": os.environ.get("HOME") or str(skill_dir),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
        "SKILL_DIR": str(skill_dir),
        # Skill folders are often third-party files we only read: no __pycache__ in them.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if os.name == "nt":  # Windows processes cannot start without these
        for key in ("SYSTEMROOT", "SYSTEMDRIVE", "TEMP", "TMP", "PATHEXT", "COMSPEC"):
            if key in os.environ:
                env[key] = os.environ[key]
    return env


class _Drain(threading.Thread):
    """Read a pipe to its end, keeping at most ``cap`` bytes (the child never blocks on it)."""

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._cap = cap
        self.data = bytearray()
        self.dropped = 0

    def run(self) -> None:
        fd = self._stream.fileno()
        while True:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except OSError:
                break
            if not chunk:
                break
            room = self._cap - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            self.dropped += max(0, len(chunk) - max(room, 0))


def _feed(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass  # the script stopped reading (or was killed); that is its business
    finally:
        with contextlib.suppress(OSError, ValueError):
            stream.close()


def _wait_unreaped(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``proc`` to exit without reaping it; return False on timeout.

    An exited but unreaped leader keeps its process-group id reserved, so killing the group
    afterwards cannot hit an unrelated group that reused the id.
    """
    def wait() -> None:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    waiter.join(timeout)
    return not waiter.is_alive()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:
        with contextlib.suppress(OSError):
            proc.kill()


def _text(drain: _Drain, limit: int, label: str) -> tuple[str, bool]:
    text = bytes(drain.data).decode("utf-8", errors="replace")
    if len(text) <= limit and not drain.dropped:
        return text, False
    return text[:limit] + f"\n[{label} truncated at {limit} characters]", True


def run_process(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: str | None,
    timeout: float,
    max_output_chars: int,
) -> ScriptResult:
    """Run ``command`` (no shell) and collect its result within ``timeout`` seconds.

    The process starts in a new session; at the timeout the whole group is killed, and
    after a normal exit any children it left behind are killed too. stdin is closed unless
    ``stdin`` is given.

    Raises:
        ScriptExecutionError: The process could not be started.
    """
    posix = os.name == "posix"
    started = time.monotonic()
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv list, shell=False, interpreter checked
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=posix,
            close_fds=True,
        )
    except OSError as exc:
        raise ScriptExecutionError(f"cannot start {command[0]!r}: {exc.strerror or exc}") from None

    assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 - set by PIPE above
    cap = max_output_chars * 4 + 4  # enough bytes for max_output_chars characters of UTF-8
    drains = [_Drain(proc.stdout, cap), _Drain(proc.stderr, cap)]
    for drain in drains:
        drain.start()
    if stdin is not None and proc.stdin is not None:
        threading.Thread(target=_feed, args=(proc.stdin, stdin.encode("utf-8")), daemon=True).start()

    timed_out = False
    try:
        if posix and hasattr(os, "waitid"):
            timed_out = not _wait_unreaped(proc, timeout)
            # On timeout this stops the script; after an exit, the children it left behind.
            _kill_group(proc)
        else:
            # No waitid (Windows, older macOS): the leader is reaped on exit, so only a
            # timeout (leader still alive, group id still its own) kills the group.
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
    except BaseException:  # an interrupt must not leave the group running
        _kill_group(proc)
        raise
    finally:
        returncode = proc.wait()

    for drain, stream in zip(drains, (proc.stdout, proc.stderr)):
        drain.join(_DRAIN_GRACE)  # a child that escaped the group may still hold a pipe
        if drain.is_alive():
            # Closing under a blocked reader could hand its fd number to another file;
            # leave the pipe to the daemon thread, which ends when the holder exits.
            logger.warning("a process started by %s still holds its output open", command[1])
            continue
        with contextlib.suppress(OSError):
            stream.close()
    stdout, cut_out = _text(drains[0], max_output_chars, "stdout")
    stderr, cut_err = _text(drains[1], max_output_chars, "stderr")
    logger.info(
        "script %s exited with %s after %.2fs%s",
        command[1] if len(command) > 1 else command[0],
        returncode,
        time.monotonic() - started,
        " (timed out)" if timed_out else "",
    )
    return ScriptResult(
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out,
        truncated=cut_out or cut_err,
    )
