"""Transparent with git: pre-push uploads, clone + checkout downloads (delayed smudge),
GIT_ARCHIVES_SKIP_SMUDGE + pull, concurrent pushes, a full disk while pulling."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers import BIN_DIR, archives, git
from tests.helpers.s3 import (
    FaultProxy,
    add_dir_remote,
    cache_objects,
    make_data_repo,
    set_s3_remote,
    trust_globally,
)

POINTER_HEAD = b"version https://git-lfs.github.com/spec/v1"


def _key(data: bytes) -> str:
    d = hashlib.sha256(data).hexdigest()
    return f"files/sha256/{d[:2]}/{d[2:]}"


def _published(tmp_path: Path, files: dict[str, bytes], *, s3: tuple[str, str] | None = None
               ) -> tuple[Path, Path, Path]:
    """(repo, bare origin, data remote dir) with everything pushed through git push."""
    repo = make_data_repo(tmp_path / "r", files)
    remote = tmp_path / "remote"
    if s3 is None:
        add_dir_remote(repo, remote, commit=True)
    else:
        remote.mkdir()
        set_s3_remote(repo, *s3)
        git(repo, "add", ".archives")
        git(repo, "commit", "-qm", "data remote")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    git(repo, "remote", "add", "origin", os.fspath(origin))
    git(repo, "push", "-q", "origin", "main")
    return repo, origin, remote


Published = tuple[Path, Path, Path, dict[str, bytes]]


@pytest.fixture(scope="module")
def two_files_once(tmp_path_factory: pytest.TempPathFactory) -> Published:
    """Two files pushed once, for the tests that only clone the origin and read the remote
    (none of them changes the repository, the origin or the data remote)."""
    files = {"a.bin": os.urandom(4000), "d/b.bin": os.urandom(5000)}
    return (*_published(tmp_path_factory.mktemp("two-files"), files), files)


@pytest.fixture
def two_files(two_files_once: Published, isolated_home: Path) -> Published:
    """The shared published pair, its data remote confirmed in this test's own HOME."""
    repo, _origin, remote, _files = two_files_once
    trust_globally(repo, "storage", "url", os.fspath(remote))
    return two_files_once


def _clone(tmp_path: Path, origin: Path, name: str = "clone",
           env: dict[str, str] | None = None) -> Path:
    clone = tmp_path / name
    git(tmp_path, "clone", "-q", "--no-checkout", os.fspath(origin), os.fspath(clone))
    archives(clone, "install")
    git(clone, "checkout", "-q", "main", env=env)
    return clone


def test_git_push_uploads_the_data_the_pushed_commits_need(two_files: Published) -> None:
    _repo, _origin, remote, files = two_files  # published through `git push`
    for data in files.values():
        assert (remote / _key(data)).is_file()


def test_git_push_fails_with_the_reason_when_the_data_cannot_be_uploaded(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": os.urandom(1000)})
    archives(repo, "remote", "add", "-d", "storage",
             os.fspath(tmp_path / "missing-dir" / "store"))
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    git(repo, "remote", "add", "origin", os.fspath(origin))
    proc = git(repo, "push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert b"does not exist" in proc.stderr and b"missing-dir" in proc.stderr
    assert git(origin, "branch", "--list").stdout == b""  # the push did not happen


def test_git_push_of_commits_without_data_changes_uploads_nothing(tmp_path: Path) -> None:
    repo, _origin, remote = _published(tmp_path, {"a.bin": os.urandom(1000)})
    (repo / "README").write_text("hello\n")
    git(repo, "add", "README")
    git(repo, "commit", "-qm", "doc")
    before = sorted(remote.rglob("*"))
    git(repo, "push", "-q", "origin", "main")
    assert sorted(remote.rglob("*")) == before


def test_clone_and_checkout_download_every_file_through_the_filter(tmp_path: Path) -> None:
    files = {f"d/f{i}.bin": os.urandom(3000 + i) for i in range(30)}
    _repo, origin, _remote = _published(tmp_path, files)
    clone = _clone(tmp_path, origin)
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    assert git(clone, "status", "--porcelain").stdout == b""


def test_without_delay_each_file_is_fetched_when_git_asks_for_it(tmp_path: Path) -> None:
    """GIT_ARCHIVES_NO_DELAY withholds git's delay capability: smudge then fetches each
    missing object itself, one at a time, as Git LFS does."""
    files = {f"d/f{i}.bin": os.urandom(2000 + i) for i in range(6)}
    _repo, origin, _remote = _published(tmp_path, files)
    clone = _clone(tmp_path, origin, env={**os.environ, "GIT_ARCHIVES_NO_DELAY": "1"})
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    assert git(clone, "status", "--porcelain").stdout == b""


def test_git_archive_of_a_fresh_clone_holds_the_content_not_pointers(
        tmp_path: Path, two_files: Published) -> None:
    """git archive cannot delay a file: smudge fetches what the cache lacks right then."""
    import io
    import tarfile

    _repo, origin, _remote, files = two_files
    clone = _clone(tmp_path, origin, env={**os.environ, "GIT_ARCHIVES_SKIP_SMUDGE": "1"})
    assert cache_objects(clone) == set()
    tar = git(clone, "archive", "--format=tar", "HEAD").stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        for name, data in files.items():
            member = tf.extractfile(name)
            assert member is not None and member.read() == data, name
    assert len(cache_objects(clone)) == len(files)


def test_git_archive_with_an_unreachable_remote_says_so_once_and_keeps_pointers(
        tmp_path: Path, two_files: Published) -> None:
    _repo, origin, _remote, files = two_files
    clone = _clone(tmp_path, origin, env={**os.environ, "GIT_ARCHIVES_SKIP_SMUDGE": "1"})
    # the clone's own config points the remote at a drive that is not mounted
    git(clone, "config", "archives.remote.storage.url", os.fspath(tmp_path / "gone" / "r"))
    proc = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=clone,
                          capture_output=True, check=True)
    err = proc.stderr.decode()
    assert err.count("could not fetch its content") == 1, err
    assert "does not exist" in err
    assert proc.stdout.count(POINTER_HEAD) == len(files)  # pointers, and the archive is made


def test_clone_and_checkout_from_s3_through_a_flaky_proxy(tmp_path: Path, bucket: str,
                                                          proxy: FaultProxy) -> None:
    files = {f"d/f{i}.bin": os.urandom(5000 + i) for i in range(12)}
    _repo, origin, _remote = _published(tmp_path, files, s3=(bucket, proxy.url))
    proxy.add("503", 2, method="GET")
    proxy.add("drop", 1, method="GET")
    clone = _clone(tmp_path, origin)
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    assert proxy.outcomes("503") == 2 and proxy.outcomes("drop") == 1


def test_skip_smudge_leaves_pointers_until_pull(tmp_path: Path, two_files: Published) -> None:
    _repo, origin, _remote, files = two_files
    env = {**os.environ, "GIT_ARCHIVES_SKIP_SMUDGE": "1"}
    clone = _clone(tmp_path, origin, env=env)
    assert (clone / "a.bin").read_bytes().startswith(POINTER_HEAD)
    assert cache_objects(clone) == set()
    out = archives(clone, "pull").stdout.decode()
    assert "2 object(s) downloaded" in out
    for name, data in files.items():
        assert (clone / name).read_bytes() == data


def test_two_pushes_at_once_to_one_remote_both_succeed(tmp_path: Path) -> None:
    shared = os.urandom(50_000)
    a = make_data_repo(tmp_path / "a", {"s.bin": shared, "a.bin": os.urandom(40_000)})
    b = make_data_repo(tmp_path / "b", {"s.bin": shared, "b.bin": os.urandom(40_000)})
    remote = tmp_path / "remote"
    for r in (a, b):
        add_dir_remote(r, remote)
    procs = [subprocess.Popen([str(BIN_DIR / "git-archives"), "push"], cwd=r,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for r in (a, b)]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    objs = [f for f in (remote / "files").rglob("*") if f.is_file()]
    assert len(objs) == 3
    for f in objs:
        assert hashlib.sha256(f.read_bytes()).hexdigest() == f.parent.name + f.name
    assert not (remote / "tmp").exists() or list((remote / "tmp").iterdir()) == []


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_a_full_disk_while_pulling_fails_cleanly_and_a_retry_completes(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    files = {"small.bin": os.urandom(2000), "big.bin": os.urandom(400_000)}
    _repo, origin, remote = _published(tmp_path, files)
    env = {**os.environ, "GIT_ARCHIVES_SKIP_SMUDGE": "1"}
    clone = _clone(tmp_path, origin, env=env)
    shm = Path("/dev/shm")
    other: Path | None = None
    if shm.is_dir() and shm.stat().st_dev != tmp_path.stat().st_dev:
        # A remote on another filesystem is copied, not hard-linked: the fetch writes.
        other = Path(tempfile.mkdtemp(dir=shm))
        request.addfinalizer(lambda: shutil.rmtree(other, ignore_errors=True))
        shutil.copytree(remote / "files", other / "files")
        archives(clone, "remote", "modify", "--local", "storage", "url", os.fspath(other))

    def limit() -> None:  # writes past 100 KB fail with EFBIG, like a disk that filled up
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    proc = subprocess.run([str(BIN_DIR / "git-archives"), "pull", "-j", "1"], cwd=clone,
                          capture_output=True, preexec_fn=limit, check=False)
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert b"cannot write" in proc.stderr and b"File too large" in proc.stderr
    if other is not None:
        assert b"cannot write into the local cache" in proc.stderr
    assert (clone / "big.bin").read_bytes().startswith(POINTER_HEAD)
    assert not list((clone / ".git" / "archives" / "tmp").iterdir())
    for key in cache_objects(clone):
        data = (clone / ".git" / "archives" / key).read_bytes()
        assert hashlib.sha256(data).hexdigest() == key.split("/")[2] + key.split("/")[3]
    archives(clone, "pull")
    for name, data in files.items():
        assert (clone / name).read_bytes() == data
