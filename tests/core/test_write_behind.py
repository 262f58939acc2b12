"""Small objects are written by a writer thread while git sends the next file: every object
is on disk and verified when ``git add`` returns, and a failed write is never hidden."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
from pathlib import Path

from gitext.hashing import ObjectId
from gitext.state import StateCache
from gitext.store.local import LocalStore
from tests.conftest import git
from tests.core.helpers import setup_repo, status_porcelain


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


def test_a_write_that_fails_in_the_background_fails_the_add_and_names_the_file(
        tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "data/**")
    (repo / "data").mkdir()
    (repo / "data" / "a.bin").write_bytes(os.urandom(10_000))  # written at once: fits
    (repo / "data" / "b.bin").write_bytes(os.urandom(200_000))  # over the file-size limit
    (repo / "data" / "c.bin").write_bytes(os.urandom(200_000))
    proc = subprocess.run(["git", "add", "data"], cwd=repo, capture_output=True,
                          preexec_fn=lambda: _limited(100_000), check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "could not store the content of data/b.bin" in err and "Traceback" not in err
    assert git(repo, "diff", "--cached", "--name-only").stdout == b""  # nothing staged
    # No stat row claims b.bin, so the next add hashes and stores it for real.
    state = StateCache(repo / ".git" / "archives" / "state.db")
    st = os.stat(repo / "data" / "b.bin")
    assert state.lookup(os.fspath(repo / "data" / "b.bin"), "sha256", st, racy_ok=True) is None
    state.close()
    git(repo, "add", "data")
    b = (repo / "data" / "b.bin").read_bytes()
    store = LocalStore(repo / ".git" / "archives")
    assert store.path(ObjectId("sha256", hashlib.sha256(b).hexdigest())).read_bytes() == b
