"""Data ``.dvc`` files track, seen by status, ls-files, pull/fetch/push, checkout, gc and the
hooks, judged by real DVC 3 on one repository and one directory remote. Both tools use
DVC's own cache (``.dvc/cache``) with no configuration step."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.peers import run_dvc
from tests.helpers.s3 import trust_globally

pytestmark = pytest.mark.slow


def dvc(exe: Path, cwd: Path, *args: str, check: bool = True) -> str:
    return run_dvc(exe, cwd, *args, check=check, with_stderr=True)


def _project(tmp_path: Path, exe: Path) -> tuple[Path, Path, Path]:
    """Alice's clone of a bare origin: DVC initialised, git-archives installed, one
    directory remote known to both tools (DVC's in .dvc/config, ours in .archives/config)."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    alice = tmp_path / "alice"
    git(tmp_path, "clone", "-q", str(origin), str(alice))
    remote = tmp_path / "remote"
    remote.mkdir()
    dvc(exe, alice, "init", "-q")
    dvc(exe, alice, "remote", "add", "-d", "store", str(remote))
    archives(alice, "install")
    archives(alice, "remote", "add", "--force", "-d", "storage", str(remote))
    trust_globally(alice, "storage", "url", str(remote))
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "dvc init, remotes")
    git(alice, "push", "-q", "origin", "main")
    return origin, alice, remote


def _clone(exe: Path, origin: Path, path: Path) -> Path:
    git(path.parent, "clone", "-q", str(origin), str(path))
    archives(path, "install")
    return path


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


RAW = {"data/one.csv": "id,v\n1,2\n", "data/raw/a.txt": "a\n", "data/raw/sub/b.txt": "b\n"}


def test_dvc_push_then_our_pull_brings_the_data_and_both_say_up_to_date(
        tmp_path: Path, dvc_exe: Path) -> None:
    origin, alice, _remote = _project(tmp_path, dvc_exe)
    _write(alice, RAW)
    dvc(dvc_exe, alice, "add", "-q", "data/one.csv", "data/raw")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "dvc add")
    dvc(dvc_exe, alice, "push", "-q")
    git(alice, "push", "-q", "origin", "main")

    bob = _clone(dvc_exe, origin, tmp_path / "bob")
    assert not (bob / "data/one.csv").exists()
    listed = archives(bob, "ls-files").stdout.decode()
    assert "- data/one.csv (9 B, missing)" in listed and "- data/raw (" in listed
    st = archives(bob, "status").stdout.decode()
    assert "data/one.csv.dvc: not in cache: data/one.csv" in st
    proc = archives(bob, "pull")
    assert "2 output(s) of dvc.lock and .dvc files restored" in proc.stdout.decode()
    for rel, text in RAW.items():
        assert (bob / rel).read_text() == text
    assert archives(bob, "status").stdout.decode().strip() == \
        "Large files: all 0 present.\nData and pipelines are up to date."
    assert "Data and pipelines are up to date" in dvc(dvc_exe, bob, "status")
    # nothing is uploaded again: DVC's push put it all where we look
    assert "push: 0 object(s) uploaded (0 B), 4 already there" in \
        archives(bob, "push").stdout.decode()
    rows = json.loads(archives(bob, "ls-files", "--json", "data").stdout)
    assert {(r["path"], r["cached"], r["checked_out"], r["dvc_file"]) for r in rows} == {
        ("data/one.csv", True, True, "data/one.csv.dvc"), ("data/raw", True, True, "data/raw.dvc")}
    # status as `dvc status` words it, once something changes
    (bob / "data/one.csv").unlink()
    (bob / "data/one.csv").write_text("changed\n")
    assert "data/one.csv.dvc: modified: data/one.csv" in archives(bob, "status").stdout.decode()
    assert "modified:           data/one.csv" in dvc(dvc_exe, bob, "status")


def test_our_push_then_dvc_pull_brings_the_data(tmp_path: Path, dvc_exe: Path) -> None:
    origin, alice, remote = _project(tmp_path, dvc_exe)
    _write(alice, RAW)
    dvc(dvc_exe, alice, "add", "-q", "data/one.csv", "data/raw")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "dvc add")
    proc = archives(alice, "push")  # not `dvc push`
    assert "push:" in proc.stdout.decode()
    assert len(list((remote / "files" / "md5").rglob("*"))) > 4
    git(alice, "push", "-q", "origin", "main")

    carol = tmp_path / "carol"  # a DVC-only teammate
    git(tmp_path, "clone", "-q", str(origin), str(carol))
    dvc(dvc_exe, carol, "pull", "-q")
    for rel, text in RAW.items():
        assert (carol / rel).read_text() == text
    assert "Data and pipelines are up to date" in dvc(dvc_exe, carol, "status")


def test_mixed_team_new_dvc_add_reaches_us_and_repro_keeps_it(tmp_path: Path,
                                                              dvc_exe: Path) -> None:
    """The issue's bug: a teammate `dvc add`s new data and re-runs the pipeline with DVC;
    our pull must bring both, status must not call the dependency modified, and repro must
    not put the old results back."""
    origin, alice, _remote = _project(tmp_path, dvc_exe)
    _write(alice, {"data/raw/a.txt": "1\n2\n"})
    dvc(dvc_exe, alice, "add", "-q", "data/raw")
    (alice / "dvc.yaml").write_text(json.dumps({"stages": {"count": {
        "cmd": "cat data/raw/*.txt | wc -l > count.txt", "deps": ["data/raw"],
        "outs": ["count.txt"]}}}))
    dvc(dvc_exe, alice, "repro", "-q")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "v1")
    dvc(dvc_exe, alice, "push", "-q")
    git(alice, "push", "-q", "origin", "main")

    bob = _clone(dvc_exe, origin, tmp_path / "bob")
    archives(bob, "pull")
    assert (bob / "count.txt").read_text().strip() == "2"
    assert "Data and pipelines are up to date." in archives(bob, "status").stdout.decode()

    # Alice adds rows, re-records and re-runs with DVC, pushes data and commits.
    (alice / "data/raw/b.txt").write_text("3\n4\n5\n")
    dvc(dvc_exe, alice, "add", "-q", "data/raw")
    dvc(dvc_exe, alice, "repro", "-q")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "v2: more data")
    dvc(dvc_exe, alice, "push", "-q")
    git(alice, "push", "-q", "origin", "main")

    proc = git(bob, "pull", "-q", "--no-rebase", "origin", "main")
    hook = proc.stderr.decode()
    assert "data/raw is not in the cache; run 'git archives pull'" in hook
    # Before the data arrives, repro refuses to record results of the old data.
    proc = archives(bob, "repro", check=False)
    assert proc.returncode != 0
    assert ("stage 'count': dependency 'data/raw': data/raw.dvc records data for 'data/raw' "
            "that is not in the cache") in proc.stderr.decode() + proc.stdout.decode()
    assert git(bob, "status", "--porcelain").stdout == b""  # dvc.lock untouched
    assert "data/raw.dvc: not in cache: data/raw" in archives(bob, "status").stdout.decode()
    archives(bob, "pull")
    assert (bob / "data/raw/b.txt").read_text() == "3\n4\n5\n"
    assert (bob / "count.txt").read_text().strip() == "5"
    status = archives(bob, "status").stdout.decode()
    assert "modified" not in status and "Data and pipelines are up to date." in status
    archives(bob, "repro")
    assert (bob / "count.txt").read_text().strip() == "5"
    assert git(bob, "status", "--porcelain").stdout == b""
    assert "Data and pipelines are up to date" in dvc(dvc_exe, bob, "status")


def test_checkout_places_dvc_data_and_keeps_a_file_the_user_changed(
        tmp_path: Path, dvc_exe: Path) -> None:
    _origin, alice, _remote = _project(tmp_path, dvc_exe)
    _write(alice, {"data/one.csv": "v1\n"})
    dvc(dvc_exe, alice, "add", "-q", "data/one.csv")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "v1")
    (alice / "data/one.csv").write_text("v2\n")
    dvc(dvc_exe, alice, "add", "-q", "data/one.csv")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "v2")
    proc = git(alice, "checkout", "-q", "HEAD~1")  # the post-checkout hook places v1
    assert "restored 1 output(s) of dvc.lock and .dvc files" in proc.stderr.decode()
    assert (alice / "data/one.csv").read_text() == "v1\n"
    git(alice, "checkout", "-q", "main")
    assert (alice / "data/one.csv").read_text() == "v2\n"

    (alice / "data/one.csv").unlink()
    (alice / "data/one.csv").write_text("my unsaved work\n")
    proc = git(alice, "checkout", "-q", "HEAD~1")
    assert "kept data/one.csv (changed here and not saved anywhere" in proc.stderr.decode()
    assert (alice / "data/one.csv").read_text() == "my unsaved work\n"
    proc = archives(alice, "checkout", check=False)
    assert proc.returncode == 1 and "use --force" in proc.stderr.decode()
    archives(alice, "checkout", "--force")
    assert (alice / "data/one.csv").read_text() == "v1\n"


def test_a_malformed_dvc_file_is_one_line_naming_it(tmp_path: Path, dvc_exe: Path) -> None:
    _origin, alice, _remote = _project(tmp_path, dvc_exe)
    _write(alice, {"data/one.csv": "v1\n"})
    dvc(dvc_exe, alice, "add", "-q", "data/one.csv")
    text = (alice / "data/one.csv.dvc").read_text()
    (alice / "data/one.csv.dvc").write_text(text.replace("hash: md5", "hash: md5\n  colour: x"))
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "broken")
    before = (alice / "data/one.csv").read_bytes()
    for verb in ("pull", "push", "fetch"):
        proc = archives(alice, verb, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1, verb
        assert err.startswith("git-archives: error: data/one.csv.dvc:5:3: unknown key "
                              "'colour' in an output"), err
        assert err.count("\n") == 2 and "hint: fix it" in err
    proc = archives(alice, "status", check=False)
    assert proc.returncode == 1
    assert "Unreadable .dvc file data/one.csv.dvc: data/one.csv.dvc:5:3: unknown key" in \
        proc.stdout.decode()
    bad_md5 = text.replace(text.split("md5: ")[1][:32], "not-an-md5")
    (alice / "data/one.csv.dvc").write_text(bad_md5)
    proc = archives(alice, "checkout", check=False)
    assert proc.returncode == 1
    assert "data/one.csv.dvc:2:8: bad md5 'not-an-md5'" in proc.stderr.decode()
    assert (alice / "data/one.csv").read_bytes() == before
    # Fixed in a new commit: the broken one in the pushed range must not trap `git push`.
    (alice / "data/one.csv.dvc").write_text(text)
    git(alice, "commit", "-qam", "fixed")
    proc = git(alice, "push", "-q", "origin", "main")
    assert ("git-archives: warning: data/one.csv.dvc:5:3: unknown key 'colour'"
            in proc.stderr.decode())
    proc = archives(alice, "push", "--all-commits")
    assert "warning: skipped data/one.csv.dvc:5:3: unknown key" in proc.stderr.decode()
    assert archives(alice, "push").returncode == 0


def test_a_dvc_file_cannot_make_us_write_outside_the_clone(tmp_path: Path) -> None:
    """Attack: a committed .dvc file names a path through a committed symlink (or out of
    the repository); pull/checkout must not write there."""
    victim = tmp_path / "victim"
    victim.mkdir()
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".dvc").mkdir()
    (repo / ".dvc" / "config").write_text("")
    archives(repo, "install")
    os.symlink(victim, repo / "link")
    data = b"payload\n"
    import hashlib

    md5 = hashlib.md5(data).hexdigest()
    obj = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True)
    obj.write_bytes(data)
    (repo / "evil.dvc").write_text(f"outs:\n- md5: {md5}\n  hash: md5\n  path: link/x\n")
    (repo / "out.dvc").write_text(f"outs:\n- md5: {md5}\n  hash: md5\n  path: ../victim/y\n")
    git(repo, "add", "-A")
    proc = archives(repo, "checkout", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "refused   link/x" in err and "symbolic link" in err
    assert "out.dvc:4:9: output path '../victim/y' leaves the repository" in err
    assert list(victim.iterdir()) == []


def test_gc_keeps_data_of_a_dvc_file_nobody_staged(tmp_path: Path, dvc_exe: Path) -> None:
    _origin, alice, _remote = _project(tmp_path, dvc_exe)
    _write(alice, {"data/one.csv": "kept\n"})
    dvc(dvc_exe, alice, "add", "-q", "data/one.csv")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "one")
    _write(alice, {"data/two.csv": "also kept\n"})
    dvc(dvc_exe, alice, "add", "-q", "data/two.csv")  # not staged
    (alice / "stray.txt").write_text("garbage\n")
    dvc(dvc_exe, alice, "add", "-q", "stray.txt")
    (alice / "stray.txt.dvc").unlink()  # its object is now garbage
    store = alice / ".dvc" / "cache" / "files" / "md5"
    before = {p.name for p in store.rglob("*") if p.is_file()}
    assert len(before) == 3
    proc = archives(alice, "gc", "-w", "--expire", "now", check=False)
    # DVC's remote in .dvc/config still stops gc (read by another change)
    assert "configures DVC remote 'store'" in proc.stderr.decode()
    dvc(dvc_exe, alice, "remote", "remove", "store")
    archives(alice, "gc", "-w", "--expire", "now")
    after = {p.name for p in store.rglob("*") if p.is_file()}
    assert len(after) == 2 and after < before
    assert "Data and pipelines are up to date" in dvc(dvc_exe, alice, "status")


def _remote_objects(remote: Path) -> set[str]:
    base = remote / "files" / "md5"
    return {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()} \
        if base.is_dir() else set()


def test_push_false_outputs_stay_off_the_remote_as_with_dvc(tmp_path: Path,
                                                            dvc_exe: Path) -> None:
    """``push: false`` in a .dvc file: DVC never uploads that output, and neither do we
    (not by 'git archives push', not by git push's pre-push hook); a directory's files too,
    unless another output names the same content."""
    import hashlib
    import shutil

    _origin, alice, remote = _project(tmp_path, dvc_exe)
    _write(alice, {"private.csv": "secret\n", "shared.csv": "shared\n",
                   "priv/a.txt": "pa\n", "priv/b.txt": "shared\n"})
    dvc(dvc_exe, alice, "add", "-q", "private.csv", "shared.csv", "priv")
    for name in ("private.csv.dvc", "priv.dvc"):
        f = alice / name
        f.write_text(f.read_text().replace("  path: ", "  push: false\n  path: "))
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "dvc add, two kept private")
    dvc(dvc_exe, alice, "push", "-q")
    by_dvc = _remote_objects(remote)
    shutil.rmtree(remote / "files")
    archives(alice, "push")
    assert _remote_objects(remote) == by_dvc

    def md5(text: str) -> str:
        d = hashlib.md5(text.encode()).hexdigest()
        return f"{d[:2]}/{d[2:]}"

    assert md5("shared\n") in by_dvc  # shared.csv, and priv/b.txt's same content
    assert md5("secret\n") not in by_dvc and md5("pa\n") not in by_dvc
    shutil.rmtree(remote / "files")
    git(alice, "commit", "-q", "--allow-empty", "-m", "again")
    git(alice, "push", "-q", "origin", "main")  # pre-push uploads, as 'push' does
    assert _remote_objects(remote) == by_dvc
