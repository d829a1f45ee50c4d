"""Hostile and broken SKILL.md files: scans and imports never crash, hang or balloon.

A corpus of broken files is built here (binary garbage, a 50 MB body, an alias bomb,
duplicate keys, climbing and absolute names, NUL and control characters, link loops,
wrong encodings, deep nesting, a folder and a FIFO named SKILL.md, ...). A child process
scans it flat and recursively and imports it as a user's skills and as a shared library,
with a time limit and its peak memory measured; every bad file must be reported with its
reason. The real libraries of ../shared/corpus go through the same probe. The parser is
fuzzed with hypothesis: arbitrary text, arbitrary bytes, and mutated real files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoskill.errors import SkillParseError
from autoskill.skill.folder import decode_skill_bytes
from autoskill.skill.skillmd import read_skill_md, render_skill_md

HERE = Path(__file__).resolve().parent
PROBE = HERE / "_scan_probe.py"
CORPUS = HERE.parents[1].parent / "shared" / "corpus"
MEMORY_LIMIT_MB = 500
TIME_LIMIT_S = 120

VALID = "---\nname: {name}\ndescription: A valid skill called {name}\n---\n1. do the thing\n"


def _skill(root: Path, folder: str, data: bytes | str, file: str = "SKILL.md") -> Path:
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / file).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def build_hostile_corpus(root: Path, outside: Path) -> dict[str, tuple[str, str]]:
    """Write the broken files; return folder -> (``skipped`` or ``loaded``, expected reason)."""
    cases: dict[str, tuple[str, str]] = {}

    def case(folder: str, data: bytes | str, outcome: str, reason: str) -> None:
        _skill(root, folder, data)
        cases[folder] = (outcome, reason)

    case("binary-garbage", b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 64, "skipped", "binary")
    case("empty", b"", "skipped", "no YAML frontmatter")
    big = root / "fifty-mb-body"
    big.mkdir()
    with open(big / "SKILL.md", "wb") as handle:
        handle.write(VALID.format(name="fifty-mb-body").encode())
        chunk = b"the same line of a huge body, over and over\n" * 1000
        while handle.tell() < 50 * 1024 * 1024:
            handle.write(chunk)
    cases["fifty-mb-body"] = ("skipped", "limit")
    bomb = ["---", "name: alias-bomb", "description: billion laughs", 'a: &a ["lol","lol","lol","lol","lol"]']
    bomb += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]"
             for i in range(9)]
    case("alias-bomb", "\n".join(bomb + ["---", "body"]), "skipped", "aliases")
    case("duplicate-keys", "---\nname: duplicate-keys\ndescription: first\ndescription: second\n---\nbody\n",
         "loaded", "duplicate keys")
    case("climbing-name", "---\nname: ../../../../etc/passwd\ndescription: a name that climbs\n---\nbody\n",
         "loaded", "differs from its folder")
    case("absolute-name", "---\nname: /etc/shadow\ndescription: an absolute path as a name\n---\nbody\n",
         "loaded", "differs from its folder")
    case("nul-bytes", "---\nname: nul\x00bytes\ndescription: d\n---\nbody\n", "skipped", "binary")
    case("control-characters", "---\nname: control-characters\ndescription: bell \x07 escape \x1b[31m\n---\n",
         "skipped", "invalid YAML")
    case("control-in-body", VALID.format(name="control-in-body") + "step \x01\x02 \x1b[2J done\n", "loaded", "")
    case("latin-1", "---\nname: latin-1\ndescription: caf\xe9 cr\xe8me br\xfbl\xe9e\n---\nbody\n".encode("latin-1"),
         "loaded", "not valid UTF-8")
    case("utf16-no-bom", VALID.format(name="utf16-no-bom").encode("utf-16-le"), "skipped", "binary")
    case("utf16-with-bom", VALID.format(name="utf16-with-bom").encode("utf-16"), "loaded", "")
    case("invalid-utf8", VALID.format(name="invalid-utf8").encode() + b"\xc3\x28 \xa0\xa1 \xf0\x28\x8c\xbc\n",
         "loaded", "not valid UTF-8")
    case("deep-flow-nesting", "---\nname: deep\ndescription: d\nx: " + "[" * 60000 + "]" * 60000 + "\n---\n",
         "skipped", "nests too deeply")
    case("deep-map-nesting", "---\nname: deepmap\ndescription: d\nx: " + "{a: " * 50000 + "1" + "}" * 50000
         + "\n---\n", "skipped", "nests too deeply")
    case("huge-frontmatter", "---\nname: huge\ndescription: d\n" + "".join(f"k{i}: {'v' * 60}\n" for i in range(5000))
         + "---\n", "skipped", "frontmatter larger")
    case("python-tag", f"---\nname: python-tag\ndescription: !!python/object/apply:os.system ['touch {outside}/pwned']\n"
         "---\n", "skipped", "invalid YAML")
    case("not-a-mapping", "---\n- a\n- b\n---\nbody\n", "skipped", "not a mapping")
    case("unterminated", "---\nname: unterminated\ndescription: never closed\n", "skipped", "no YAML frontmatter")
    case("no-description", "---\nname: no-description\n---\nbody\n", "skipped", "missing description")
    case("only-dashes", "---\n---\n", "skipped", "missing description")
    case("long-name", f"---\nname: {'n' * 5000}\ndescription: very long name\n---\n", "loaded", "")
    case("html-description", "---\nname: html-description\ndescription: <script>alert(1)</script> ok\n---\n",
         "loaded", "")

    (root / "folder-named-skill-md" / "SKILL.md").mkdir(parents=True)
    cases["folder-named-skill-md"] = ("skipped", "is a folder")
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "SKILL.md")
    cases["fifo"] = ("skipped", "FIFO")
    (root / "link-loop").mkdir()
    os.symlink(root / "link-loop" / "SKILL.md", root / "link-loop" / "SKILL.md")
    os.symlink(root / "link-loop", root / "link-loop" / "again")  # a folder loop too
    cases["link-loop"] = ("skipped", "link loop")
    (root / "dangling-link").mkdir()
    os.symlink(root / "nowhere" / "SKILL.md", root / "dangling-link" / "SKILL.md")
    cases["dangling-link"] = ("skipped", "broken link")
    (root / "device-link").mkdir()
    os.symlink("/dev/zero", root / "device-link" / "SKILL.md")
    cases["device-link"] = ("skipped", "character device")
    secret = _skill(outside, "secret", VALID.format(name="secret"))
    (root / "link-outside").mkdir()
    os.symlink(secret / "SKILL.md", root / "link-outside" / "SKILL.md")
    cases["link-outside"] = ("skipped", "links outside")

    # A good skill whose resources are hostile: none may be read or copied.
    good = _skill(root, "hostile-resources", VALID.format(name="hostile-resources"))
    (good / "scripts").mkdir()
    os.mkfifo(good / "scripts" / "pipe")
    os.symlink("/dev/zero", good / "scripts" / "zero")
    os.symlink(secret / "SKILL.md", good / "scripts" / "leak.md")
    os.symlink(good, good / "scripts" / "self")
    (good / "scripts" / "ok.sh").write_text("echo ok\n")
    cases["hostile-resources"] = ("loaded", "")
    return cases


def _probe(mode: str, store: Path, *roots: Path) -> dict:
    proc = subprocess.run([sys.executable, str(PROBE), mode, str(store), *map(str, roots)], capture_output=True,
                          text=True, timeout=TIME_LIMIT_S)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def test_hostile_files_are_reported_never_crash_hang_or_balloon(tmp_path: Path) -> None:
    root, outside, store = tmp_path / "hostile", tmp_path / "outside", tmp_path / "store"
    root.mkdir()
    outside.mkdir()
    cases = build_hostile_corpus(root, outside)
    result = _probe("full", store, root)
    assert result["peak_rss_mb"] < MEMORY_LIMIT_MB, result["peak_rss_mb"]
    entry = result["roots"][str(root)]
    for mode in ("flat", "recursive"):
        warnings = entry[mode]["warnings"]
        for folder, (outcome, reason) in cases.items():
            about = [w for w in warnings if f"/{folder}/" in w[1] + "/" or w[1].endswith(f"/{folder}")]
            if outcome == "skipped":
                skipped = [w for w in about if w[0] == "skipped"]
                assert skipped, f"{mode}: {folder} was not reported ({about})"
                assert any(reason.lower() in w[2].lower() for w in skipped), f"{mode}: {folder}: {skipped}"
            elif reason:
                assert any(reason.lower() in w[2].lower() for w in about), f"{mode}: {folder}: {about}"
    loaded = set(entry["recursive"]["loaded"])
    assert {"duplicate-keys", "latin-1", "utf16-with-bom", "invalid-utf8", "control-in-body", "hostile-resources",
            "html-description", "etc-passwd", "etc-shadow"} <= loaded
    assert not any("secret" in name for name in loaded)
    # The imports skipped exactly the bad files, each with its reason, and wrote nothing
    # outside the store.
    for kind in ("import_user", "import_library"):
        skipped_paths = " ".join(path for path, _ in entry[kind]["skipped"])
        for folder, (outcome, _) in cases.items():
            if outcome == "skipped":
                assert f"/{folder}/" in skipped_paths + " " or skipped_paths.endswith(folder), (kind, folder)
        assert entry[kind]["imported"] >= 9
    for path in result["store_files"]:
        assert Path(path).resolve().is_relative_to(store.resolve()), path
    assert not (outside / "pwned").exists()  # the YAML tag never ran
    copied = store / "Users" / "importer0" / "hostile-resources" / "scripts"
    assert sorted(p.name for p in copied.iterdir()) == ["ok.sh"]
    print(f"\nhostile corpus: {len(cases)} files, {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB")


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"{CORPUS} is absent (it ships beside the checkout in CI)")
def test_every_real_corpus_file_scans_and_imports_within_bounds(tmp_path: Path) -> None:
    result = _probe("quick", tmp_path / "store", CORPUS)
    entry = result["roots"][str(CORPUS)]
    files = sum(1 for _ in CORPUS.rglob("*") if _.name.lower() == "skill.md")
    assert len(entry["recursive"]["loaded"]) > files // 2
    assert entry["import_user"]["imported"] == len(entry["recursive"]["loaded"])
    assert all(reason for _, reason in entry["import_user"]["skipped"])
    assert result["peak_rss_mb"] < MEMORY_LIMIT_MB
    print(f"\nreal corpus: {files} SKILL.md files, {len(entry['recursive']['loaded'])} loaded, "
          f"{len(entry['import_user']['skipped'])} skipped with a reason, {result['seconds']:.1f} s, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB")


# -- fuzzing the parser -------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_yaml_bits = st.sampled_from(["name", "description", "metadata", "tags", "version", "id", ": ", ":", "- ", "---",
                              "\n", "  ", "'", '"', "&a", "*a", "!!str", "{", "}", "[", "]", "#", "|", ">", "\t",
                              "\x00", "\x07", "\ufeff", "\r\n", "\u2028", "é", "名字", "<", ">", "...", "%YAML 1.1"])
skillmd_like = st.builds(
    lambda head, body: "---\n" + head + "\n---\n" + body,
    st.lists(st.one_of(_yaml_bits, st.text(max_size=12)), max_size=40).map("".join),
    st.text(max_size=200),
)


def _parses_or_refuses(text: str) -> None:
    try:
        parsed = read_skill_md(text, source="fuzz.md", dir_name="fuzz")
    except SkillParseError:
        return
    again = read_skill_md(render_skill_md(parsed.skill), source="rendered.md")
    assert again.skill == parsed.skill


@FUZZ
@given(st.one_of(st.text(), skillmd_like))
def test_fuzz_text_parses_to_a_skill_or_a_parse_error(text: str) -> None:
    _parses_or_refuses(text)


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_bytes_decode_to_text_or_a_parse_error(data: bytes) -> None:
    try:
        text, _ = decode_skill_bytes(data, "fuzz.md")
    except SkillParseError:
        return
    _parses_or_refuses(text)


def _corpus_files() -> list[bytes]:
    if not CORPUS.is_dir():
        return []
    files = sorted(p for p in CORPUS.rglob("*") if p.name.lower() == "skill.md" and p.is_file())
    return [p.read_bytes()[:20000] for p in files[::7]]


CORPUS_SAMPLE = _corpus_files()


@pytest.mark.skipif(not CORPUS_SAMPLE, reason=f"{CORPUS} is absent (it ships beside the checkout in CI)")
@FUZZ
@given(st.data())
def test_fuzz_mutated_real_files_parse_or_fail_cleanly(data: st.DataObject) -> None:
    original = bytearray(data.draw(st.sampled_from(CORPUS_SAMPLE)))
    for _ in range(data.draw(st.integers(1, 6))):
        if not original:
            break
        where = data.draw(st.integers(0, len(original) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate", "dup"]))
        if action == "flip":
            original[where] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del original[where:where + data.draw(st.integers(1, 64))]
        elif action == "insert":
            original[where:where] = data.draw(st.binary(min_size=1, max_size=16))
        elif action == "truncate":
            del original[where:]
        else:
            original[where:where] = original[max(0, where - 40):where]
    try:
        text, _ = decode_skill_bytes(bytes(original), "mutated.md")
    except SkillParseError:
        return
    _parses_or_refuses(text)
