"""Framework-neutral skill tools: load a skill, list and read its files, run its scripts.

:class:`SkillTools` offers the four tools agents use with Agent Skills as plain methods
taking and returning strings, lists and dicts; the LangChain and LlamaIndex integrations
wrap :meth:`SkillTools.tool_specs`. The tools only see skills the ``resolve`` callable
returns, and nothing outside a skill's own folder.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, Concatenate, ParamSpec, TypeVar

from autoskill._fs import contained_path
from autoskill.errors import (
    AutoSkillError,
    ConfigError,
    ResourceAccessError,
    ScriptExecutionError,
    SkillNotFoundError,
)
from autoskill.skill.folder import SKIPPED_DIRS, find_skill_file, iter_resource_files
from autoskill.skill.model import Skill
from autoskill.tools import scripts as _scripts
from autoskill.tools.scripts import ScriptResult

__all__ = ["SkillTools", "clean_relpath"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# load_skill lists at most this many files; list_skill_resources gives them all.
_LISTED_RESOURCES = 200
# Bytes inspected for NUL to call a file binary (what git and grep do).
_BINARY_SNIFF = 8192

LOAD_SKILL_DESCRIPTION = (
    "Load a skill by name and return its full instructions, with its description, version "
    "and the list of resource files it provides. Call this before following a skill."
)
LIST_RESOURCES_DESCRIPTION = (
    "List the resource files of a skill (paths relative to the skill folder, such as "
    "'references/guide.md' or 'scripts/tool.py')."
)
READ_RESOURCE_DESCRIPTION = (
    "Read one resource file of a skill as text. 'path' is relative to the skill folder, "
    "as listed by load_skill or list_skill_resources."
)
EXECUTE_SCRIPT_DESCRIPTION = (
    "Run a script from a skill's scripts/ folder and return its returncode, stdout, stderr, "
    "timed_out and truncated. 'script' is e.g. 'scripts/tool.py' or just 'tool.py'; 'args' "
    "is a list of separate command-line arguments (no shell: quoting and pipes are not "
    "interpreted); 'stdin' is optional text fed to the script. The script runs in the skill "
    "folder with a time limit."
)
_DISABLED = (
    "running skill scripts is disabled; enable it explicitly with "
    "SkillTools(..., allow_scripts=True) if you trust the skills' scripts"
)


def clean_relpath(path: object) -> str:
    """Return ``path`` as a clean POSIX path relative to a skill folder.

    Raises:
        ResourceAccessError: Not a string, empty, NUL bytes, absolute, or with ``..``.
    """
    if not isinstance(path, str) or not path.strip():
        raise ResourceAccessError(f"a resource path must be a non-empty string, got {path!r}")
    if "\x00" in path:
        raise ResourceAccessError(f"NUL bytes are not allowed in resource paths: {path!r}")
    text = path.strip().replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise ResourceAccessError(f"absolute paths are not allowed: {path!r}")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ResourceAccessError(f"'..' is not allowed in resource paths: {path!r}")
    if not parts:
        raise ResourceAccessError(f"{path!r} names the skill folder, not a file")
    return "/".join(parts)


def _tool(method: Callable[Concatenate[SkillTools, P], R]) -> Callable[Concatenate[SkillTools, P], R | str]:
    """Turn AutoSkill errors into an ``"Error: ..."`` string when the tools ask for that."""

    @functools.wraps(method)
    def wrapper(self: SkillTools, /, *args: P.args, **kwargs: P.kwargs) -> R | str:
        try:
            return method(self, *args, **kwargs)
        except AutoSkillError as exc:
            if not self.errors_as_text:
                raise
            logger.debug("%s failed: %s", method.__name__, exc)
            return f"Error: {exc}"

    return wrapper


class SkillTools:
    """The skill tools an agent calls: load, list, read, and (when enabled) execute.

    Args:
        resolve: Maps a skill name, alias or id to a Skill, or None. The caller decides
            which skills a user may see; the tools see nothing else.
        allow_scripts: Whether :meth:`execute_skill_script` may run anything.
        timeout: Seconds a script may run before its process group is killed.
        max_output_chars: Cap on each of a script's stdout and stderr.
        max_resource_chars: Cap on a resource (and on instructions) returned as text.
        suggest: Maps an unknown name to a "did you mean" name, or None.
        errors_as_text: Return ``"Error: ..."`` strings instead of raising AutoSkill errors
            (agents handle strings better than exceptions).

    Raises:
        ConfigError: A limit is not positive.
    """

    def __init__(
        self,
        resolve: Callable[[str], Skill | None],
        *,
        allow_scripts: bool = False,
        timeout: float = 30.0,
        max_output_chars: int = 20_000,
        max_resource_chars: int = 100_000,
        suggest: Callable[[str], str | None] | None = None,
        errors_as_text: bool = False,
    ) -> None:
        for label, value in (
            ("timeout", timeout),
            ("max_output_chars", max_output_chars),
            ("max_resource_chars", max_resource_chars),
        ):
            if not value > 0:
                raise ConfigError(f"SkillTools {label} must be positive, got {value!r}")
        self._resolve = resolve
        self._suggest = suggest
        self.allow_scripts = bool(allow_scripts)
        self.timeout = float(timeout)
        self.max_output_chars = int(max_output_chars)
        self.max_resource_chars = int(max_resource_chars)
        self.errors_as_text = bool(errors_as_text)

    def __repr__(self) -> str:
        return (
            f"SkillTools(allow_scripts={self.allow_scripts}, timeout={self.timeout}, "
            f"errors_as_text={self.errors_as_text})"
        )

    # -- tools ------------------------------------------------------------------------------

    @_tool
    def load_skill(self, name: str) -> str:
        """Return a skill's full instructions as an agent reads them.

        A header (name, description, version, when to use), the instructions body (cut at
        ``max_resource_chars``) and the skill's resource files.

        Raises:
            SkillNotFoundError: No skill by that name (with a suggestion when there is one).
        """
        skill = self._skill(name)
        lines = [f"# Skill: {skill.title}", "", f"Name: {skill.name}"]
        lines.append(f"Description: {skill.description_full or skill.description}")
        lines.append(f"Version: {skill.version}")
        if skill.when_to_use:
            lines.append(f"When to use: {skill.when_to_use}")
        if skill.allowed_tools:
            lines.append(f"Allowed tools: {', '.join(skill.allowed_tools)}")
        if skill.compatibility:
            lines.append(f"Compatibility: {skill.compatibility}")
        body = skill.instructions or "(This skill has no instructions beyond its description.)"
        if len(body) > self.max_resource_chars:
            body = body[: self.max_resource_chars] + (
                f"\n\n[instructions truncated at {self.max_resource_chars} characters]"
            )
        lines += ["", "## Instructions", "", body, "", "## Resources", ""]
        lines += self._resource_section(skill)
        return "\n".join(lines).rstrip() + "\n"

    @_tool
    def list_skill_resources(self, name: str) -> list[str]:
        """Return the skill's resource files, paths relative to its folder, sorted.

        Files in the skill's folder (SKILL.md, links leaving the folder and nested skills
        left out) and in-memory resources.

        Raises:
            SkillNotFoundError: No skill by that name.
        """
        return self._resources(self._skill(name))

    @_tool
    def read_skill_resource(self, name: str, path: str) -> str:
        """Return the text of one resource file of a skill.

        In-memory resources come first, then files in the skill's folder. A binary file gives
        a short note instead of its bytes; long text is cut at ``max_resource_chars``.

        Raises:
            SkillNotFoundError: No skill by that name.
            ResourceAccessError: The path is absolute, has ``..`` or NUL bytes, leads out of
                the skill folder (also through a link), or names no resource.
        """
        rel = clean_relpath(path)  # before resolving: a bad path never reaches the disk
        skill = self._skill(name)
        memory = _memory_resources(skill)
        if rel in memory:
            return _render_content(memory[rel], rel, self.max_resource_chars)
        source = skill.source_dir
        if source is None or not source.is_dir():
            raise ResourceAccessError(self._no_resource(skill, rel))
        target = contained_path(source, rel)
        _refuse_foreign(source, rel)
        if not target.is_file():
            raise ResourceAccessError(self._no_resource(skill, rel))
        logger.debug("reading resource %s of skill %s", rel, skill.name)
        return _read_file(target, source, rel, self.max_resource_chars)

    @_tool
    def execute_skill_script(
        self,
        name: str,
        script: str,
        args: list[str] | None = None,
        stdin: str | None = None,
    ) -> ScriptResult:
        """Run a script from the skill's ``scripts/`` folder and return what it produced.

        Off unless ``allow_scripts=True``. The script runs through the interpreter its
        extension (or ``#!`` line) names, never a shell, in the skill folder, with a minimal
        environment (PATH, HOME, LANG, SKILL_DIR) and ``timeout`` seconds. Each argument
        reaches the script as one argv string, whatever characters it holds.

        Returns:
            A dict with ``returncode``, ``stdout``, ``stderr``, ``timed_out``, ``truncated``.

        Raises:
            ScriptExecutionError: Disabled, not under ``scripts/``, no such script, no
                usable interpreter, or bad arguments.
            ResourceAccessError: The path leaves the skill's ``scripts/`` folder.
            SkillNotFoundError: No skill by that name.
        """
        if not self.allow_scripts:
            raise ScriptExecutionError(_DISABLED)
        rel = _scripts.script_relpath(clean_relpath(script))
        argv = _check_args(args)
        if stdin is not None and not isinstance(stdin, str):
            raise ScriptExecutionError(f"stdin must be text, got {type(stdin).__name__}")
        skill = self._skill(name)
        with _scripts.skill_workdir(skill, rel, _memory_resources(skill)) as workdir:
            target = _scripts.locate_script(workdir, rel, skill_name=skill.name)
            env = _scripts.minimal_env(workdir)
            command = _scripts.build_command(target, argv, path=env["PATH"])
            logger.info("running %s of skill %s", rel, skill.name)
            return _scripts.run_process(
                command,
                cwd=workdir,
                env=env,
                stdin=stdin,
                timeout=self.timeout,
                max_output_chars=self.max_output_chars,
            )

    def tool_specs(self) -> list[dict[str, Any]]:
        """Describe the tools for framework wrappers.

        Returns:
            One dict per tool: ``name``, ``description``, ``callable`` (a bound method) and
            ``parameters`` (a JSON-schema object). ``execute_skill_script`` is included only
            when scripts are allowed.
        """
        name_param = {"type": "string", "description": "The skill's name (as listed among available skills)."}
        specs: list[dict[str, Any]] = [
            _spec("load_skill", LOAD_SKILL_DESCRIPTION, self.load_skill, {"name": name_param}, ["name"]),
            _spec(
                "list_skill_resources", LIST_RESOURCES_DESCRIPTION, self.list_skill_resources,
                {"name": name_param}, ["name"],
            ),
            _spec(
                "read_skill_resource", READ_RESOURCE_DESCRIPTION, self.read_skill_resource,
                {
                    "name": name_param,
                    "path": {"type": "string", "description": "Resource path relative to the skill folder."},
                },
                ["name", "path"],
            ),
        ]
        if self.allow_scripts:
            specs.append(_spec(
                "execute_skill_script", EXECUTE_SCRIPT_DESCRIPTION, self.execute_skill_script,
                {
                    "name": name_param,
                    "script": {"type": "string", "description": "Script path, e.g. 'scripts/tool.py' or 'tool.py'."},
                    "args": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Command-line arguments, one string each.",
                    },
                    "stdin": {"type": "string", "description": "Text to feed to the script's standard input."},
                },
                ["name", "script"],
            ))
        return specs

    # -- helpers ----------------------------------------------------------------------------

    def _skill(self, name: str) -> Skill:
        if not isinstance(name, str) or not name.strip():
            raise SkillNotFoundError(repr(name))
        key = name.strip()
        skill = self._resolve(key)
        if skill is None:
            suggestion = self._suggest(key) if self._suggest is not None else None
            raise SkillNotFoundError(key, suggestion)
        return skill

    def _resources(self, skill: Skill) -> list[str]:
        found = set(_memory_resources(skill))
        if skill.source_dir is not None:
            found.update(iter_resource_files(skill.source_dir))
        return sorted(found)

    def _resource_section(self, skill: Skill) -> list[str]:
        resources = self._resources(skill)
        if not resources:
            return ["This skill has no resource files."]
        lines = [f'Read a file with read_skill_resource("{skill.name}", "<path>").']
        if any(r.startswith(f"{_scripts.SCRIPTS_DIR}/") for r in resources):
            lines.append(
                f'Run a script with execute_skill_script("{skill.name}", "scripts/<file>", args).'
                if self.allow_scripts
                else "Running scripts is disabled here; read a script to follow what it does."
            )
        lines.append("")
        lines += [f"- {r}" for r in resources[:_LISTED_RESOURCES]]
        if len(resources) > _LISTED_RESOURCES:
            lines.append(f"- ... and {len(resources) - _LISTED_RESOURCES} more (see list_skill_resources)")
        return lines

    def _no_resource(self, skill: Skill, rel: str) -> str:
        available = self._resources(skill)
        shown = ", ".join(available[:20]) + (", ..." if len(available) > 20 else "")
        return f"skill {skill.name!r} has no resource {rel!r}; available: {shown or 'none'}"


def _spec(
    name: str,
    description: str,
    function: Callable[..., Any],
    properties: dict[str, Any],
    required: list[str],
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "callable": function,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
    }


def _memory_resources(skill: Skill) -> dict[str, str | bytes]:
    """The skill's in-memory resources under clean keys (unusable keys left out)."""
    out: dict[str, str | bytes] = {}
    for key, content in skill.resources.items():
        try:
            rel = clean_relpath(key)
        except ResourceAccessError:
            logger.warning("skill %s: ignoring in-memory resource with unusable path %r", skill.name, key)
            continue
        if rel.lower() != "skill.md":
            out[rel] = content
    return out


def _check_args(args: object) -> list[str]:
    if args is None:
        return []
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise ScriptExecutionError("args must be a list of strings, one per argument")
    out: list[str] = []
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, (str, int, float)):
            raise ScriptExecutionError(f"each argument must be a string, got {arg!r}")
        text = str(arg)
        if "\x00" in text:
            raise ScriptExecutionError("arguments may not contain NUL bytes")
        out.append(text)
    return out


def _refuse_foreign(source: Path, rel: str) -> None:
    """Refuse files inside another skill's folder or tool folders (.git, node_modules)."""
    current = source
    for part in PurePosixPath(rel).parts[:-1]:
        current = current / part
        if part in SKIPPED_DIRS or find_skill_file(current) is not None:
            raise ResourceAccessError(f"{rel!r} is not a resource of this skill")


def _read_file(target: Path, source: Path, rel: str, limit: int) -> str:
    """Read at most what ``limit`` characters need from the regular file ``target``."""
    try:
        real = target.resolve(strict=True)
        if not real.is_relative_to(source.resolve()):  # contained_path checked; re-check the final path
            raise ResourceAccessError(f"{rel!r} leads outside the skill folder")
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(real, flags)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):  # a FIFO or device swapped in: never read it
                raise ResourceAccessError(f"{rel!r} is not a regular file")
            data = handle.read(limit * 4 + 4)
    except ResourceAccessError:
        raise
    except OSError as exc:
        raise ResourceAccessError(f"cannot read {rel!r}: {exc.strerror or exc}") from None
    return _render_bytes(data, rel, info.st_size, limit)


def _render_content(content: str | bytes, rel: str, limit: int) -> str:
    if isinstance(content, str):
        return _cut(content, rel, limit, len(content.encode("utf-8")))
    return _render_bytes(bytes(content[: limit * 4 + 4]), rel, len(content), limit)


def _render_bytes(data: bytes, rel: str, size: int, limit: int) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data[:_BINARY_SNIFF]:
        return f"[{rel} is a binary file ({size} bytes); its content is not shown as text]"
    else:
        text = data.decode("utf-8-sig", errors="replace")
    return _cut(text, rel, limit, size)


def _cut(text: str, rel: str, limit: int, size: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n\n[truncated: showing the first {limit} characters of {rel} ({size} bytes)]"
