"""gc never deletes what a worktree, index, stash or unpushed commit needs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.conftest import archives, git
from tests.remotes.conftest import make_data_repo


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
    remote = tmp_path / "remote"
    remote.mkdir()
    archives(repo, "remote", "add", "-d", "storage", os.fspath(remote))
    git(repo, "add", ".archives")
    git(repo, "commit", "-qm", "remote")
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
    out = archives(repo, "gc", "--workspace", "--dry-run").stdout.decode()
    assert f"would remove {_key(blobs['old'])}" in out
    assert "would remove 1 object(s), 4.0 KB" in out
    assert all((cache / _key(b)).is_file() for b in blobs.values())
    # the real run removes exactly that
    archives(repo, "gc", "--workspace")
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
    assert "removed 1 object(s)" in out
    assert (remote / _key(blobs["old"])).is_file()
    (remote / _key(stray)).write_bytes(stray)
    # without --yes nothing is deleted
    proc = archives(repo, "gc", "--workspace", "--remote")
    assert b"re-run with --yes" in proc.stderr
    assert (remote / _key(stray)).is_file()
    out = archives(repo, "gc", "--workspace", "--remote", "--yes").stdout.decode()
    assert f"removing {_key(stray)}" in out
    assert not (remote / _key(stray)).exists()
    assert not (remote / _key(blobs["old"])).exists()  # only in history: --workspace drops it
    for name in ("head", "worktree", "unpushed"):
        assert (remote / _key(blobs[name])).is_file(), name


def test_gc_needs_a_mode(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"1" * 100})
    assert archives(repo, "gc", check=False).returncode == 2
