"""Names written by someone else, printed by us: a suggested command pasted into a shell
runs nothing and names exactly that file; a message carries no raw control character.

The attacks are committed files with hostile names, on real git, with the real console
script driven by git; the printed commands are run through ``sh -c`` (dash on Debian)
and bash.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gitext.codec.shellquote import c_quote, display, exact_pattern, has_unsafe, scrub, shell_arg
from tests.helpers import archives, git
from tests.helpers.repos import setup_repo

INJECT = "x' $(touch PWNED) '.dat"
NEWLINE = "a\n$(touch PWNED2)\n'$(touch PWNED3)'.dat"
HOSTILE = [
    INJECT,
    NEWLINE,
    "\\' ; touch PWNED4 ; '\n",
    "esc\x1b]0;owned\x07\x1b[2J.dat",
    "-rf $HOME `touch PWNED5`.dat",
    'dq"$(touch PWNED6)".dat',
    "tab\there\r.dat",
    "caf\u00e9 \u202eexe.dat",
    "bad\udcff.dat",  # a byte that is not UTF-8, as Python reads it from a file name
]
SHELLS = [s for s in ("sh", "bash", "dash", "zsh", "ksh") if shutil.which(s)]


def _raw(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _no_pwned(*dirs: Path) -> None:
    for d in dirs:
        assert not list(d.rglob("PWNED*")), f"a pasted command ran code in {d}"


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("shell", SHELLS)
def test_a_quoted_name_never_runs_code_in_any_shell(tmp_path: Path, shell: str,
                                                     name: str) -> None:
    quoted = shell_arg(name)
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in quoted)
    proc = subprocess.run([shell, "-c", f"printf %s {quoted}"], cwd=tmp_path,
                          capture_output=True, check=False)
    _no_pwned(tmp_path)
    if shell == "bash" or not has_unsafe(name):
        # bash reads $'…' back; plain names come back exactly in every POSIX shell.
        assert proc.stdout == _raw(name), (shell, quoted)


def test_display_and_c_quote_match_git_quoting(tmp_path: Path, repo: Path) -> None:
    for name in HOSTILE[:8]:
        (repo / name.replace("/", "_")).write_bytes(b"x")
    git(repo, "add", "-A")
    listed = git(repo, "ls-files").stdout.decode().splitlines()
    names = sorted(n.replace("/", "_") for n in HOSTILE[:8])
    by_git = sorted(listed, key=lambda q: names.index(_unquote(q)))
    assert [c_quote(n) for n in names] == by_git
    for name in HOSTILE:
        shown = display(name)
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or ord(c) == 0x202E
                       or 0xD800 <= ord(c) < 0xE000 for c in shown), repr(shown)
    assert display("plain name.dat") == "plain name.dat"
    assert display("caf\u00e9.dat") == "caf\u00e9.dat"
    assert display("a\nb") == '"a\\nb"'
    assert scrub("line\nbreak\x1b") == "line\\nbreak\\033"


def _unquote(quoted: str) -> str:
    if not quoted.startswith('"'):
        return quoted
    body = quoted[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    return body.encode("latin-1").decode("utf-8", "surrogateescape")


def test_exact_pattern_matches_only_that_file(repo: Path) -> None:
    names = ["a[1].dat", "a1.dat", "star*.dat", "starX.dat", "!bang.dat", "#hash.dat"]
    patterns = [exact_pattern(n) for n in names]
    (repo / ".gitattributes").write_text("".join(f"{p} filter=mine\n" for p in patterns[::2]))
    out = git(repo, "check-attr", "filter", "--", *names).stdout.decode()
    assert out.splitlines() == [
        "a[1].dat: filter: mine", "a1.dat: filter: unspecified",
        "star*.dat: filter: mine", "starX.dat: filter: unspecified",
        "!bang.dat: filter: mine", "#hash.dat: filter: unspecified"]


# -- pre-commit: the suggested 'git archives track … && git add --renormalize …' -----------

def _hint(err: str, prefix: str) -> str:
    for line in err.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):]
    raise AssertionError(f"no line starting {prefix!r} in:\n{err}")


def test_pre_commit_suggestion_tracks_the_hostile_file_and_runs_nothing(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text("[size]\n\tlimit = 100kb\n")
    git(repo, "add", ".archives/config")
    git(repo, "commit", "-q", "-m", "limit")
    data = b"z" * 300_000
    (repo / INJECT).write_bytes(data)
    git(repo, "add", "--", INJECT)
    proc = git(repo, "commit", "-q", "-m", "big", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert f"  {INJECT} (300.0 KB)" in err
    cmd = _hint(err, "hint: track them with: ")
    run = subprocess.run(["sh", "-c", cmd], cwd=repo, capture_output=True, check=False)
    _no_pwned(repo, tmp_path)
    assert run.returncode == 0, run.stderr.decode()
    assert cmd.startswith("git archives track -- ")
    attr = git(repo, "check-attr", "filter", "--", INJECT).stdout.decode()
    assert attr.strip().endswith("filter: archives")
    staged = git(repo, "cat-file", "blob", f":{INJECT}").stdout
    assert staged.startswith(b"version https://git-lfs.github.com/spec/v1\n")
    assert hashlib.sha256(data).hexdigest().encode() in staged
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "now a pointer")
    assert (repo / INJECT).read_bytes() == data


# -- clone: the 'fetch it with: git archives pull -- …' of a file left as a pointer --------

def _hostile_origin(tmp_path: Path, names: list[str]) -> Path:
    """What an attacker pushes: pointers (to content nobody has) under hostile names."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    (origin / ".gitattributes").write_text("*.dat filter=archives diff=archives "
                                           "merge=archives -text\n")
    for i, name in enumerate(names):
        digest = hashlib.sha256(f"never stored {i}".encode()).hexdigest()
        (origin / name).write_text("version https://git-lfs.github.com/spec/v1\n"
                                   f"oid sha256:{digest}\nsize {1000 + i}\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "data")
    return origin


def test_clone_hint_for_a_hostile_pointer_name_runs_nothing(tmp_path: Path) -> None:
    names = [INJECT, NEWLINE, "esc\x1b[2J\x1b]0;owned\x07.dat"]
    origin = _hostile_origin(tmp_path, names)
    archives(tmp_path, "install", "--global")  # the victim's filter config
    proc = git(tmp_path, "clone", "-q", str(origin), "victim")
    clone = tmp_path / "victim"
    err = proc.stderr.decode("utf-8", "surrogateescape")
    for name in names:
        assert (clone / name).read_bytes().startswith(b"version ")  # left as a pointer
        assert name not in err or ("\n" not in name and "\x1b" not in name)
    assert "\x1b" not in err and "\x07" not in err
    # Each of our lines is one line: a name cannot fake another line of output.
    ours = [ln for ln in err.splitlines() if ln.startswith("git-archives: ")]
    assert len(ours) == len(names) + 1, err  # one per file, plus the summary
    hints = [ln.split("Fetch it with: ", 1)[1] for ln in ours if "Fetch it with: " in ln]
    assert len(hints) == len(names)
    for cmd in hints:
        assert cmd.startswith("git archives pull -- ")
        subprocess.run(["sh", "-c", cmd], cwd=clone, capture_output=True, check=False)
        subprocess.run(["bash", "-c", cmd], cwd=clone, capture_output=True, check=False)
    _no_pwned(clone, tmp_path)
    # bash reads each suggested argument back as exactly that file's name.
    args = [cmd[len("git archives pull -- "):] for cmd in hints]
    echoed = [subprocess.run(["bash", "-c", f"printf %s {a}"], capture_output=True,
                             check=True).stdout.decode() for a in args]
    assert sorted(echoed) == sorted(names)


# -- ls-files and status print names as git does -------------------------------------------

def test_ls_files_quotes_like_git_and_z_and_json_stay_raw(tmp_path: Path) -> None:
    names = [NEWLINE, "esc\x1b[2J.dat", "caf\u00e9.dat", "plain.dat"]
    origin = _hostile_origin(tmp_path, names)
    archives(tmp_path, "install", "--global")
    git(tmp_path, "clone", "-q", str(origin), "victim")
    clone = tmp_path / "victim"
    out = archives(clone, "ls-files").stdout.decode()
    assert "\x1b" not in out and out.count("\n") == len(names)
    by_git = git(clone, "ls-files", "--", "*.dat").stdout.decode().splitlines()
    shown = [re.match(r"^\w{12} [-*] (.*) \(\d", ln).group(1)  # type: ignore[union-attr]
             for ln in out.splitlines()]
    assert sorted(shown) == sorted(by_git)
    git(clone, "config", "core.quotePath", "false")
    unquoted = archives(clone, "ls-files").stdout.decode()
    assert " caf\u00e9.dat (" in unquoted and '"a\\n$(touch PWNED2)' in unquoted
    raw = archives(clone, "ls-files", "-z").stdout
    records = [r for r in raw.split(b"\0") if r]
    assert sorted(re.match(rb"^\w{12} [-*] (.*) \(\d", r, re.S).group(1)  # type: ignore[union-attr]
                  for r in records) == sorted(_raw(n) for n in names)
    listed = json.loads(archives(clone, "ls-files", "--json").stdout)
    assert sorted(r["path"] for r in listed) == sorted(names)
    status = archives(clone, "status").stdout.decode()
    assert "\x1b" not in status and '  "a\\n$(touch PWNED2)' in status
    _no_pwned(clone, tmp_path)
