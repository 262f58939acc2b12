"""Small objects read ahead by a worker process (gitext.remotes.sshahead and .sshworker,
design note 64), against a real OpenSSH sshd on loopback: each key answered once, the
worker's failures left to the caller, and a fetch and a pull through git that use it."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import gitext.remotes.ssh as ssh
import gitext.remotes.sshahead as sshahead
from gitext.remotes.ssh import SshBackend
from gitext.remotes.sshahead import WORKER_AT, AheadReads
from tests.helpers import archives, git
from tests.helpers.s3 import cache_objects, drop_cache, make_data_repo
from tests.helpers.sshd_server import HOST, Sshd, trust_host

SECRET = "never-on-a-command-line-5150"


@pytest.fixture
def trusted(sshd: Sshd, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return trust_host(isolated_home, sshd.port, sshd.host_key_line)


@pytest.fixture
def backend(sshd: Sshd, trusted: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[SshBackend]:
    monkeypatch.setattr(ssh, "WORKER_AT", 2)
    b = SshBackend.from_url(sshd.url(sshd.store(tmp_path.name)),
                            {"keyfile": str(sshd.user_key), "passphrase": SECRET})
    yield b
    b.close()


def _key(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"files/sha256/{digest[:2]}/{digest[2:]}"


def _put(backend: SshBackend, tmp_path: Path, blobs: list[bytes]) -> None:
    for i, data in enumerate(blobs):
        src = tmp_path / f"src{i}"
        src.write_bytes(data)
        backend.put(_key(data), src, len(data))


def _logins(sshd: Sshd) -> int:
    return (sshd.directory / "sshd.log").read_text(errors="replace").count("Accepted publickey")


def test_a_worker_answers_each_key_once_and_leaves_what_it_cannot_read(
        backend: SshBackend, tmp_path: Path) -> None:
    blobs = [os.urandom(1000 + i) for i in range(5)]
    _put(backend, tmp_path, blobs)
    absent = _key(b"not on the server")
    large = _key(b"larger than one read")
    wanted = [(_key(b), len(b)) for b in blobs] + [(absent, 10), (large, ssh.ONE_READ)]
    reads = backend.start_reads(wanted)
    assert isinstance(reads, AheadReads)
    try:
        got = list(reads)
    finally:
        reads.close()
    assert sorted(k for k, _ in got) == sorted([_key(b) for b in blobs] + [absent])  # once
    assert dict(got) == {**{_key(b): b for b in blobs}, absent: None}
    # the secrets went through the pipe, not onto the command line
    args = reads._proc.args
    assert isinstance(args, list)
    assert not any(SECRET in str(arg) or "keyfile" in str(arg) for arg in args)


def test_a_few_objects_or_jobs_1_take_no_worker(sshd: Sshd, trusted: Path,
                                                tmp_path: Path) -> None:
    url = sshd.url(sshd.store(tmp_path.name))
    few = [(_key(bytes([i])), 1) for i in range(WORKER_AT - 1)]
    one = SshBackend.from_url(url, {"keyfile": str(sshd.user_key), "jobs": "1"})
    default = SshBackend.from_url(url, {"keyfile": str(sshd.user_key)})
    assert default.start_reads(few) is None
    assert one.start_reads([*few, *few]) is None


def test_a_worker_that_cannot_log_in_leaves_every_object_to_the_caller(
        sshd: Sshd, trusted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssh, "WORKER_AT", 2)
    stranger = tmp_path / "stranger"
    stranger.write_bytes(b"not a key")
    b = SshBackend.from_url(sshd.url(sshd.store(tmp_path.name)),
                            {"keyfile": str(stranger), "timeout": "5"})
    wanted = [(_key(bytes([i])), 1) for i in range(4)]
    reads = b.start_reads(wanted)
    assert reads is not None
    try:
        assert dict(reads) == dict.fromkeys((k for k, _ in wanted), None)
    finally:
        reads.close()


def test_a_killed_worker_leaves_the_rest_to_the_caller(backend: SshBackend,
                                                       tmp_path: Path) -> None:
    blobs = [os.urandom(500) + bytes([i]) for i in range(40)]
    _put(backend, tmp_path, blobs)
    reads = backend.start_reads([(_key(b), len(b)) for b in blobs])
    assert isinstance(reads, AheadReads)
    reads._proc.kill()
    try:
        got = list(reads)
    finally:
        reads.close()
    assert sorted(k for k, _ in got) == sorted(_key(b) for b in blobs)
    assert all(data is None or data == blobs[[_key(b) for b in blobs].index(k)]
               for k, data in got)


def test_what_is_read_ahead_and_not_taken_yet_holds_the_worker_back(
        backend: SshBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sshahead, "HOLD", 3000)  # (64 MiB: a pull of 100,000 small files
    blobs = [os.urandom(2000) + bytes([i]) for i in range(30)]  # does not fill the memory)
    _put(backend, tmp_path, blobs)
    reads = backend.start_reads([(_key(b), len(b)) for b in blobs])
    assert isinstance(reads, AheadReads)
    try:
        deadline = time.monotonic() + 10
        while reads._held < 3000 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert 3000 <= reads._held <= 3000 + 2001  # held: at most one object past the mark
        got = dict(reads)
    finally:
        reads.close()
    assert got == {_key(b): b for b in blobs}


def test_a_fetch_and_a_pull_of_many_small_files_go_through_a_worker(
        sshd: Sshd, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    trust_host(isolated_home, sshd.port, sshd.host_key_line)
    git(isolated_home, "config", "--global", "archives.remote.storage.keyfile",
        str(sshd.user_key))
    files = {f"data/f{i:03}.bin": os.urandom(700) + i.to_bytes(2, "big")
             for i in range(WORKER_AT + 20)} | {"big.bin": os.urandom(ssh.ONE_READ + 5)}
    repo = make_data_repo(tmp_path / "r", files, chunking="off")
    store = sshd.store(tmp_path.name)
    url = f"ssh://{sshd.user}@{HOST}:{sshd.port}{store}"
    (repo / ".archives").mkdir(exist_ok=True)
    git(repo, "config", "-f", ".archives/config", "remote.storage.url", url)
    git(repo, "config", "-f", ".archives/config", "core.remote", "storage")
    git(isolated_home, "config", "--global", "archives.remote.storage.url", url)
    git(repo, "add", ".archives")
    git(repo, "commit", "-qm", "data remote")
    archives(repo, "push")
    # one object damaged on the server: refused (by the worker's path, then the usual one)
    bad = files["data/f007.bin"]
    (store / _key(bad)).chmod(0o644)
    (store / _key(bad)).write_bytes(b"X" + bad[1:])
    drop_cache(repo)
    before = _logins(sshd)
    proc = archives(repo, "fetch", check=False)
    assert proc.returncode == 1
    assert b"1 refused as corrupt" in proc.stdout
    assert _logins(sshd) - before == 2  # this process, and its worker
    assert len(cache_objects(repo)) == len(files) - 1
    (store / _key(bad)).write_bytes(bad)  # repaired: a clone's pull gets every file
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    git(repo, "push", "-q", os.fspath(origin), "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(origin), os.fspath(clone))
    archives(clone, "install")
    archives(clone, "pull")
    for name, data in files.items():
        assert (clone / name).read_bytes() == data
    assert git(clone, "status", "--porcelain").stdout == b""
    assert not list((clone / ".git" / "archives" / "tmp").rglob("fetch-*"))
