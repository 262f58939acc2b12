"""Small objects are written by a writer thread while git sends the next file: every object
is on disk and verified when ``git add`` returns, and a failed write is never hidden."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import time
from pathlib import Path

from gitext.codec.hashing import ObjectId
from gitext.store.objects import LocalStore
from gitext.store.state import StateCache
from tests.helpers import git
from tests.helpers.repos import setup_repo, status_porcelain


def test_every_object_is_stored_and_verified_when_git_add_returns(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "data/**")
    datas = {f"data/f{i:03}.bin": os.urandom(20_000 + i) for i in range(120)}
    datas["data/dup.bin"] = datas["data/f005.bin"]  # same content twice
    for name, data in datas.items():
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_bytes(data)
    git(repo, "add", "data")
    store = LocalStore(repo / ".git" / "archives")
    for data in datas.values():
        oid = ObjectId("sha256", hashlib.sha256(data).hexdigest())
        assert store.path(oid).read_bytes() == data
        assert store.is_verified(oid)
    git(repo, "commit", "-qm", "data")
    assert status_porcelain(repo) == ""


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_write_that_fails_in_the_background_is_named_and_never_committed(
        tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "data/**")
    (repo / "data").mkdir()
    (repo / "data" / "a.bin").write_bytes(os.urandom(10_000))  # written at once: fits
    (repo / "data" / "b.bin").write_bytes(os.urandom(200_000))  # over the file-size limit
    for name in ("a.bin", "b.bin"):
        # Older than the index: not "racily clean", so git will not clean b.bin again (and
        # store it after all) when the commit refreshes the index.
        os.utime(repo / "data" / name, (time.time() - 10, time.time() - 10))
    proc = subprocess.run(["git", "add", "data"], cwd=repo, capture_output=True,
                          preexec_fn=lambda: _limited(100_000), check=False)
    # git had its answer for b.bin before the write failed: the add itself succeeds, the
    # filter names the file, and the pre-commit hook refuses to commit that pointer.
    err = proc.stderr.decode()
    assert "could not store the content of data/b.bin" in err and "Traceback" not in err
    assert "git add --renormalize" in err
    # No stat row claims b.bin, so the next add hashes and stores it for real.
    state = StateCache(repo / ".git" / "archives" / "state.db")
    st = os.stat(repo / "data" / "b.bin")
    assert state.lookup(os.fspath(repo / "data" / "b.bin"), "sha256", st, racy_ok=True) is None
    state.close()
    commit = git(repo, "commit", "-qm", "data", check=False)
    assert commit.returncode != 0
    assert "refusing to commit 1 pointer(s) whose content could not be stored" in \
        commit.stderr.decode()
    assert "data/b.bin" in commit.stderr.decode()
    git(repo, "add", "--renormalize", "data")
    b = (repo / "data" / "b.bin").read_bytes()
    store = LocalStore(repo / ".git" / "archives")
    assert store.path(ObjectId("sha256", hashlib.sha256(b).hexdigest())).read_bytes() == b
    git(repo, "commit", "-qm", "data")
    assert not (repo / ".git" / "archives" / "unstored").exists()
    assert status_porcelain(repo) == ""


def test_a_failed_write_followed_by_more_files_fails_the_add(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "data/**")
    (repo / "data").mkdir()
    (repo / "data" / "a.bin").write_bytes(os.urandom(10_000))
    for i in range(40):  # the failure is seen while later files are still being cleaned
        (repo / "data" / f"b{i:02}.bin").write_bytes(os.urandom(200_000))
    proc = subprocess.run(["git", "add", "data"], cwd=repo, capture_output=True,
                          preexec_fn=lambda: _limited(100_000), check=False)
    assert proc.returncode != 0
    assert "could not store the content of data/b" in proc.stderr.decode()
    assert git(repo, "diff", "--cached", "--name-only").stdout == b""  # nothing staged
