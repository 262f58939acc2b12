"""pull fills pointer files in place (kernel copy of verified objects) and records their
stat in the index, so git sees them clean without cleaning them again."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.s3 import add_dir_remote, make_data_repo, trust_globally

POINTER_HEAD = b"version https://git-lfs.github.com/spec/v1"


def _published(tmp_path: Path, files: dict[str, bytes] | None = None
               ) -> tuple[Path, Path, dict[str, bytes]]:
    files = files or {"a.bin": os.urandom(50_000), "d/b.bin": os.urandom(7_000),
                      "d/e/c d.bin": os.urandom(300), "run.bin": os.urandom(1000)}
    repo = make_data_repo(tmp_path / "r", files)
    if "run.bin" in files:
        (repo / "run.bin").chmod(0o755)
        git(repo, "add", "run.bin")
        git(repo, "commit", "-qm", "executable")
    remote = add_dir_remote(repo, tmp_path / "remote", commit=True)
    archives(repo, "push")
    return repo, remote, files


Published = tuple[Path, Path, dict[str, bytes]]


@pytest.fixture(scope="module")
def published_once(tmp_path_factory: pytest.TempPathFactory) -> Published:
    """One published repository and remote for the tests that only clone and pull from them
    (building it is most of such a test's cost; none of them changes the repo or remote)."""
    return _published(tmp_path_factory.mktemp("published"))


@pytest.fixture
def published(published_once: Published, isolated_home: Path) -> Published:
    """The shared published repository, its remote confirmed in this test's own HOME."""
    repo, remote, _files = published_once
    trust_globally(repo, "storage", "url", str(remote))
    return published_once


@pytest.fixture(scope="module")
def published_big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A published file above DIRECT_MIN that is not a whole number of blocks."""
    big = os.urandom((16 << 20) + 12_345)
    repo, remote, _files = _published(tmp_path_factory.mktemp("published-big"),
                                      {"big.bin": big, "a.bin": os.urandom(999)})
    return repo, remote, big


def _pointer_clone(tmp_path: Path, repo: Path) -> Path:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", os.fspath(repo), os.fspath(clone))
    archives(clone, "install")
    git(clone, "checkout", "-q", "main", env={**os.environ, "GIT_ARCHIVES_SKIP_SMUDGE": "1"})
    assert (clone / "a.bin").read_bytes().startswith(POINTER_HEAD)
    return clone


def _index_sizes(clone: Path) -> dict[str, int]:
    out = git(clone, "ls-files", "--debug").stdout.decode()
    sizes: dict[str, int] = {}
    path = ""
    for line in out.splitlines():
        if not line.startswith(" "):
            path = line
        elif "size:" in line:
            sizes[path] = int(line.split("size:")[1].split()[0])
    return sizes


def _check_filled(clone: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    assert git(clone, "status", "--porcelain").stdout == b""
    sizes = _index_sizes(clone)
    for name, data in files.items():
        assert sizes[name] == len(data), name  # the index holds the real file's stat
    assert (clone / "run.bin").stat().st_mode & stat.S_IXUSR
    assert not (clone / "a.bin").stat().st_mode & stat.S_IXUSR


@pytest.mark.parametrize("index_version", ["default", "4"])
def test_pull_fills_pointers_in_place_and_git_sees_them_clean(
        tmp_path: Path, published: Published, index_version: str) -> None:
    repo, _remote, files = published
    clone = _pointer_clone(tmp_path, repo)
    if index_version != "default":
        git(clone, "update-index", "--index-version", index_version)
    out = archives(clone, "pull").stdout.decode()
    assert f"{len(files)} file(s) filled in" in out
    _check_filled(clone, files)
    assert not (clone / ".git" / "index.lock").exists()
    # the work-tree files are ordinary writable copies, not links into the cache
    assert (clone / "a.bin").stat().st_nlink == 1
    assert (clone / "a.bin").stat().st_mode & stat.S_IWUSR


def test_pull_with_a_split_index_goes_through_git_checkout_and_is_just_as_right(
        tmp_path: Path, published: Published) -> None:
    repo, _remote, files = published
    clone = _pointer_clone(tmp_path, repo)
    git(clone, "update-index", "--split-index")
    archives(clone, "pull")
    _check_filled(clone, files)


def test_fill_in_place_leaves_everything_to_git_when_the_index_is_locked(
        tmp_path: Path, published: Published) -> None:
    from gitext.git.repo import Repo
    from gitext.store.objects import LocalStore
    from gitext.sync.fill import fill_in_place

    repo, _remote, files = published
    clone = _pointer_clone(tmp_path, repo)
    archives(clone, "fetch")
    lock = clone / ".git" / "index.lock"
    lock.write_bytes(b"")
    r = Repo.discover(clone)
    result = fill_in_place(r, LocalStore(r.archives_dir))
    assert result.filled == [] and sorted(result.left) == sorted(files)
    assert lock.exists()  # not ours: untouched
    assert (clone / "a.bin").read_bytes().startswith(POINTER_HEAD)


def test_pull_never_overwrites_a_file_the_user_changed(tmp_path: Path,
                                                       published: Published) -> None:
    repo, _remote, files = published
    clone = _pointer_clone(tmp_path, repo)
    (clone / "a.bin").write_bytes(b"my own work\n")
    archives(clone, "pull")
    assert (clone / "a.bin").read_bytes() == b"my own work\n"
    assert (clone / "d/b.bin").read_bytes() == files["d/b.bin"]
    assert git(clone, "status", "--porcelain").stdout.decode().strip() == "M a.bin"


def test_pull_does_not_place_a_cached_object_whose_bytes_went_bad(tmp_path: Path) -> None:
    import hashlib

    # its own remote: a fetch from a folder remote may hard-link the object into the cache,
    # so the bytes this test spoils there may be the remote's own
    repo, _remote, files = _published(tmp_path)
    clone = _pointer_clone(tmp_path, repo)
    archives(clone, "fetch")
    digest = hashlib.sha256(files["d/b.bin"]).hexdigest()
    obj = clone / ".git" / "archives" / "files" / "sha256" / digest[:2] / digest[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"\0" * len(files["d/b.bin"]))  # same size, wrong bytes
    obj.chmod(0o444)
    proc = archives(clone, "pull", check=False)
    assert (clone / "d/b.bin").read_bytes().startswith(POINTER_HEAD)  # never the bad bytes
    assert (clone / "a.bin").read_bytes() == files["a.bin"]
    assert proc.returncode == 1 and b"still pointers" in proc.stderr


def test_pulled_files_take_the_umask_and_leave_no_temp_files(tmp_path: Path,
                                                             published: Published) -> None:
    """Files are created as git creates them (0666/0777 less the umask), and neither the
    work tree nor the cache's temp folder keeps anything of the copy."""
    import subprocess

    repo, _remote, files = published
    clone = _pointer_clone(tmp_path, repo)
    # the console script, run under a umask of 027 (a shell sets it for the child)
    from tests.helpers import BIN_DIR

    subprocess.run(["sh", "-c", 'umask 027 && exec "$0" pull', str(BIN_DIR / "git-archives")],
                   cwd=clone, check=True, capture_output=True)
    assert stat.S_IMODE((clone / "a.bin").stat().st_mode) == 0o640
    assert stat.S_IMODE((clone / "run.bin").stat().st_mode) == 0o750
    _check_filled(clone, files)
    leftovers = [p for p in clone.rglob("*.tmp") if ".git" not in p.parts]
    assert leftovers == []
    assert list((clone / ".git" / "archives" / "tmp").iterdir()) == []


def test_a_corrupt_remote_object_leaves_nothing_in_the_cache_or_its_temp_folder(
        tmp_path: Path) -> None:
    import hashlib

    repo, remote, files = _published(tmp_path)
    digest = hashlib.sha256(files["a.bin"]).hexdigest()
    obj = remote / "files" / "sha256" / digest[:2] / digest[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"x" * len(files["a.bin"]))  # same size, wrong bytes
    obj.chmod(0o444)
    clone = _pointer_clone(tmp_path, repo)
    proc = archives(clone, "pull", check=False)
    assert proc.returncode == 1 and b"does not match its id" in proc.stderr
    cache = clone / ".git" / "archives"
    assert not (cache / "files" / "sha256" / digest[:2] / digest[2:]).exists()
    assert list((cache / "tmp").iterdir()) == []
    assert (clone / "a.bin").read_bytes().startswith(POINTER_HEAD)
    assert (clone / "d/b.bin").read_bytes() == files["d/b.bin"]


def test_pull_never_writes_through_a_symlink_the_user_put_at_a_pointer_path(
        tmp_path: Path, published: Published) -> None:
    repo, _remote, files = published
    clone = _pointer_clone(tmp_path, repo)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes((clone / "a.bin").read_bytes())  # a pointer, outside the clone
    (clone / "a.bin").unlink()
    (clone / "a.bin").symlink_to(elsewhere)
    archives(clone, "pull", check=False)
    assert (clone / "a.bin").is_symlink()
    assert elsewhere.read_bytes().startswith(POINTER_HEAD)  # the link's target untouched
    assert (clone / "d/b.bin").read_bytes() == files["d/b.bin"]


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, (8 << 20) - 1, 8 << 20,
                                  (8 << 20) + 4096, (16 << 20) + 123])
def test_direct_copy_writes_every_byte_whatever_the_alignment(tmp_path: Path,
                                                              size: int) -> None:
    """Past the page cache in whole 4 KiB blocks, the tail through it; where the
    filesystem refuses O_DIRECT it says so and the caller's kernel copy does the work."""
    from gitext.store.fastcopy import direct_copy, kernel_copy

    data = os.urandom(size)
    src_path, dst_path = tmp_path / "src", tmp_path / "dst"
    src_path.write_bytes(data)
    src = os.open(src_path, os.O_RDONLY)
    dst = os.open(dst_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if not direct_copy(src, dst, size):
            kernel_copy(src, dst, size)
        import fcntl

        assert not fcntl.fcntl(dst, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0)  # restored
    finally:
        os.close(src)
        os.close(dst)
    assert dst_path.read_bytes() == data


def test_direct_copy_of_a_file_that_shrank_is_an_error_not_a_short_copy(
        tmp_path: Path) -> None:
    from gitext.store.fastcopy import direct_copy

    (tmp_path / "src").write_bytes(b"x" * 10_000)
    src = os.open(tmp_path / "src", os.O_RDONLY)
    dst = os.open(tmp_path / "dst", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with pytest.raises(OSError, match="shrank"):
            direct_copy(src, dst, 20_000)
    finally:
        os.close(src)
        os.close(dst)


@pytest.mark.parametrize("directio", ["true", "false"])
def test_a_large_file_is_pulled_right_with_or_without_direct_writes(
        tmp_path: Path, published_big: tuple[Path, Path, bytes], directio: str) -> None:
    repo, remote, big = published_big
    trust_globally(repo, "storage", "url", str(remote))
    clone = _pointer_clone(tmp_path, repo)
    git(clone, "config", "archives.core.directio", directio)
    archives(clone, "pull")
    assert (clone / "big.bin").read_bytes() == big
    assert git(clone, "status", "--porcelain").stdout == b""
    assert _index_sizes(clone)["big.bin"] == len(big)


def test_a_directio_setting_that_is_not_a_boolean_is_named(tmp_path: Path,
                                                           published: Published) -> None:
    repo, _remote, _files = published
    clone = _pointer_clone(tmp_path, repo)
    git(clone, "config", "archives.core.directio", "sometimes")
    proc = archives(clone, "pull", check=False)
    assert proc.returncode != 0
    assert b"core.directio" in proc.stderr and b"sometimes" in proc.stderr
    assert not (clone / ".git" / "index.lock").exists()
