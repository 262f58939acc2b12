"""gc never deletes what a worktree, index, stash or unpushed commit needs."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.s3 import add_dir_remote, make_data_repo


def _key(data: bytes) -> str:
    d = hashlib.sha256(data).hexdigest()
    return f"files/sha256/{d[:2]}/{d[2:]}"


def _commit(repo: Path, name: str, data: bytes, msg: str) -> None:
    (repo / name).write_bytes(data)
    git(repo, "add", name)
    git(repo, "commit", "-qm", msg)


def _scenario(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """One object for each thing that must keep it, plus one old pushed object (garbage)."""
    blobs = {k: os.urandom(4000) for k in (
        "old", "head", "index", "stash", "worktree", "unpushed")}
    repo = make_data_repo(tmp_path / "r", {"a.bin": blobs["old"]})
    remote = add_dir_remote(repo, tmp_path / "remote", commit=True)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    git(repo, "remote", "add", "origin", os.fspath(origin))
    _commit(repo, "a.bin", blobs["head"], "head version")
    git(repo, "push", "-q", "origin", "main")  # pre-push uploads old + head
    # a stash holding one object
    (repo / "s.bin").write_bytes(blobs["stash"])
    git(repo, "add", "s.bin")
    git(repo, "stash", "-q")
    # another worktree on its own branch, with a committed object (branch never pushed)
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", os.fspath(wt))
    _commit(wt, "w.bin", blobs["worktree"], "worktree data")
    # an unpushed commit on a branch not checked out anywhere
    git(repo, "switch", "-q", "-c", "feature")
    _commit(repo, "u.bin", blobs["unpushed"], "unpushed data")
    git(repo, "switch", "-q", "main")
    # staged only (in the index, never committed)
    (repo / "i.bin").write_bytes(blobs["index"])
    git(repo, "add", "i.bin")
    return repo, remote, blobs


# Each scenario costs a dozen git commands: the tests below check several things on one.

def test_gc_on_the_cache_keeps_what_worktrees_indexes_stashes_and_unpushed_commits_need(
        tmp_path: Path) -> None:
    repo, _remote, blobs = _scenario(tmp_path)
    cache = repo / ".git" / "archives"
    assert all((cache / _key(b)).is_file() for b in blobs.values())
    # --all-commits keeps history: nothing goes
    assert "removed 0 object(s)" in archives(repo, "gc", "--all-commits").stdout.decode()
    # a dry run lists the garbage and its size, and deletes nothing
    out = archives(repo, "gc", "--workspace", "--dry-run", "--expire", "now").stdout.decode()
    assert f"would remove {_key(blobs['old'])}" in out
    assert "would remove 1 object(s), 4.0 KB" in out
    assert all((cache / _key(b)).is_file() for b in blobs.values())
    # by default the grace period keeps it: it was written less than an hour ago
    out = archives(repo, "gc", "--workspace").stdout.decode()
    assert "removed 0 object(s)" in out and "kept 1 unreferenced object(s)" in out
    assert (cache / _key(blobs["old"])).is_file()
    # the real run without a grace period removes exactly that
    archives(repo, "gc", "--workspace", "--expire", "now")
    assert not (cache / _key(blobs["old"])).exists()
    for name in ("head", "index", "stash", "worktree", "unpushed"):
        assert (cache / _key(blobs[name])).is_file(), name
    git(repo, "stash", "pop", "-q")
    assert (repo / "s.bin").read_bytes() == blobs["stash"]


@pytest.mark.slow
def test_gc_on_a_remote_needs_yes_and_keeps_every_ref_tip(tmp_path: Path) -> None:
    repo, remote, blobs = _scenario(tmp_path)
    archives(repo, "push", "--all-commits")
    stray = os.urandom(100)
    (remote / _key(stray)).parent.mkdir(parents=True, exist_ok=True)
    (remote / _key(stray)).write_bytes(stray)
    # --all-commits keeps history on the remote; only the stray object goes
    out = archives(repo, "gc", "--all-commits", "--remote", "--yes").stdout.decode()
    assert "removed 0 object(s)" in out and "kept 1 unreferenced" in out  # just pushed
    out = archives(repo, "gc", "--all-commits", "--remote", "--yes", "--expire", "now"
                   ).stdout.decode()
    assert "removed 1 object(s)" in out
    assert (remote / _key(blobs["old"])).is_file()
    (remote / _key(stray)).write_bytes(stray)
    # without --yes nothing is deleted
    proc = archives(repo, "gc", "--workspace", "--remote")
    assert b"re-run with --yes" in proc.stderr
    assert (remote / _key(stray)).is_file()
    out = archives(repo, "gc", "--workspace", "--remote", "--yes", "--expire", "now"
                   ).stdout.decode()
    assert f"removing {_key(stray)}" in out
    assert not (remote / _key(stray)).exists()
    assert not (remote / _key(blobs["old"])).exists()  # only in history: --workspace drops it
    for name in ("head", "worktree", "unpushed"):
        assert (remote / _key(blobs[name])).is_file(), name


def test_gc_needs_a_mode(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"1" * 100})
    assert archives(repo, "gc", check=False).returncode == 2


def test_gc_keeps_unreferenced_objects_until_they_are_older_than_the_grace_period(
        tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"kept" * 100})
    cache = repo / ".git" / "archives"
    loose = os.urandom(3000)
    (repo / "x.bin").write_bytes(loose)
    git(repo, "add", "x.bin")  # stored by the clean filter ...
    git(repo, "rm", "-q", "--cached", "x.bin")  # ... and no longer referenced
    assert (cache / _key(loose)).is_file()
    out = archives(repo, "gc", "--workspace", "--expire", "1.hour").stdout.decode()
    assert "kept 1 unreferenced object(s)" in out and "written in the last 1 hour" in out
    git(repo, "config", "archives.gc.expire", "never")
    out = archives(repo, "gc", "--workspace").stdout.decode()
    assert "removed 0 object(s)" in out and "never expire" in out
    time.sleep(1.2)
    out = archives(repo, "gc", "--workspace", "--expire", "1.second").stdout.decode()
    assert f"removing {_key(loose)}" in out
    assert not (cache / _key(loose)).exists()
    assert (cache / _key(b"kept" * 100)).is_file()


def test_gc_refuses_a_grace_period_it_cannot_read(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"1" * 100})
    proc = archives(repo, "gc", "--workspace", "--expire", "soon", check=False)
    assert proc.returncode == 2
    assert b"'soon' is not a grace period" in proc.stderr and b"Traceback" not in proc.stderr


@pytest.mark.parametrize(("text", "seconds"), [
    ("now", 0.0), ("never", None), ("1.hour", 3600.0), ("30m", 1800.0), ("90s", 90.0),
    ("2.weeks.ago", 1209600.0), ("1.5 days", 129600.0), ("3 minutes ago", 180.0)])
def test_parse_expire_reads_git_style_grace_periods(text: str, seconds: float | None) -> None:
    from gitext.sync.gc import parse_expire

    assert parse_expire(text) == seconds


def test_a_recent_manifest_keeps_the_old_files_it_lists(tmp_path: Path) -> None:
    """A concurrent repro stores a folder's files, then its manifest: while the manifest is
    within the grace period, none of its files may go, however old they are."""
    from gitext.git.repo import Repo
    from gitext.store.manifests import ManifestEntry, manifest_bytes
    from gitext.store.objects import LocalStore
    from gitext.sync.gc import plan_gc

    repo = make_data_repo(tmp_path / "r", {"a.bin": b"1" * 100})
    r = Repo.discover(repo)
    store = LocalStore(r.archives_dir)
    old_file, _ = store.add_bytes(b"old file in a folder\n", "md5")
    stray, _ = store.add_bytes(b"unrelated garbage\n", "md5")
    time.sleep(1.2)
    data = manifest_bytes([ManifestEntry("f.txt", old_file.digest)])
    digest = hashlib.md5(data).hexdigest()
    man = r.archives_dir / "files" / "md5" / digest[:2] / (digest[2:] + ".dir")
    man.parent.mkdir(parents=True, exist_ok=True)
    man.write_bytes(data)
    plan = plan_gc(r, all_commits=False, expire=1.0)
    doomed = {k for k, _ in plan.doomed}
    assert stray.key in doomed
    assert old_file.key not in doomed and man.relative_to(r.archives_dir).as_posix() not in doomed
    assert {old_file.key, man.relative_to(r.archives_dir).as_posix()} <= {k for k, _ in plan.recent}
