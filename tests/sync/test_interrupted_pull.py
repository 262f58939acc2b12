"""After a pull killed with SIGKILL: its temp files go on the next pull, fsck lists what an
older version left, a left-over index.lock is named with who held it and whether removing it
is safe, and a name near the filesystem's limit still pulls."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import archives, git
from tests.helpers.s3 import add_dir_remote, make_data_repo

POINTER_HEAD = b"version https://git-lfs.github.com/spec/v1"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _pointer_clone(tmp_path: Path, files: dict[str, bytes]) -> Path:
    repo = make_data_repo(tmp_path / "r", files)
    add_dir_remote(repo, tmp_path / "remote", commit=True)
    archives(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", os.fspath(repo), os.fspath(clone))
    archives(clone, "install")
    git(clone, "checkout", "-q", "main", env={**os.environ, "GIT_ARCHIVES_SKIP_SMUDGE": "1"})
    return clone


def test_a_killed_pulls_temp_file_is_removed_by_the_next_pull(tmp_path: Path) -> None:
    clone = _pointer_clone(tmp_path, {"data/big.bin": os.urandom(200_000)})
    stale = clone / "data" / f".archives-tmp-{_dead_pid()}-0"
    stale.write_bytes(b"\0" * 65536)  # what SIGKILL mid-copy leaves
    live = clone / "data" / f".archives-tmp-{os.getppid()}-0"  # a running process's: kept
    live.write_bytes(b"busy")

    archives(clone, "pull")

    assert not stale.exists()
    assert live.exists()
    assert not (clone / "data" / "big.bin").read_bytes().startswith(POINTER_HEAD)


def test_a_file_a_killed_pull_was_filling_in_place_is_filled_by_the_next_pull(
        tmp_path: Path) -> None:
    """A pull fills a pointer file in its own inode under a temp name (gitext.fs.refill):
    killed then, it leaves the name missing and the temp beside it. The next pull puts the
    content back; a file the user deleted elsewhere stays deleted."""
    data = {"data/big.bin": os.urandom(200_000), "other/gone.bin": os.urandom(5000)}
    clone = _pointer_clone(tmp_path, data)
    inode = (clone / "data" / "big.bin").stat().st_ino
    half = clone / "data" / f".archives-tmp-{_dead_pid()}-3"
    os.rename(clone / "data" / "big.bin", half)  # (the pointer's inode, under the temp name)
    half.write_bytes(data["data/big.bin"][:70_000])  # SIGKILL mid-copy
    (clone / "other" / "gone.bin").unlink()  # the user's deletion

    archives(clone, "pull")

    assert (clone / "data" / "big.bin").read_bytes() == data["data/big.bin"]
    assert not half.exists()
    assert not (clone / "other" / "gone.bin").exists()
    status = git(clone, "status", "--porcelain").stdout.decode()
    assert status.strip() == "D other/gone.bin", status
    assert inode > 0


def test_a_pull_fills_each_pointer_file_in_its_own_inode(tmp_path: Path) -> None:
    clone = _pointer_clone(tmp_path, {"data/a.bin": os.urandom(50_000)})
    inode = (clone / "data" / "a.bin").stat().st_ino
    archives(clone, "pull")
    assert not (clone / "data" / "a.bin").read_bytes().startswith(POINTER_HEAD)
    assert (clone / "data" / "a.bin").stat().st_ino == inode  # no inode made, none freed
    assert git(clone, "status", "--porcelain").stdout == b""


def test_an_index_lock_left_by_a_killed_pull_is_named_and_said_safe_to_remove(
        tmp_path: Path) -> None:
    clone = _pointer_clone(tmp_path, {"a.bin": os.urandom(5000)})
    lock = clone / ".git" / "index.lock"
    lock.write_bytes(b"")
    import socket

    (clone / ".git" / "index.lock.archives").write_text(
        f"{_dead_pid()} {socket.gethostname()} 0\n")
    os.utime(lock, (0, 0))

    proc = archives(clone, "pull", check=False)

    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert str(lock) in err and "no longer running" in err and "safe to remove" in err
    assert lock.exists()  # we say so; we do not remove another process's lock ourselves


def test_an_index_lock_of_unknown_origin_says_what_to_check(tmp_path: Path) -> None:
    clone = _pointer_clone(tmp_path, {"a.bin": os.urandom(5000)})
    lock = clone / ".git" / "index.lock"
    lock.write_bytes(b"")

    proc = archives(clone, "pull", check=False)

    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert str(lock) in err and "if no git command is running" in err


def test_a_file_name_of_244_bytes_is_pulled(tmp_path: Path) -> None:
    name = "n" * 240 + ".bin"
    data = os.urandom(3000)
    clone = _pointer_clone(tmp_path, {name: data})

    archives(clone, "pull")

    assert (clone / name).read_bytes() == data
    assert git(clone, "status", "--porcelain").stdout == b""


def test_fsck_removes_our_stale_temp_files_and_names_an_older_versions(
        tmp_path: Path) -> None:
    clone = _pointer_clone(tmp_path, {"data/big3.bin": os.urandom(4000)})
    archives(clone, "pull")
    pid = _dead_pid()
    ours = clone / "data" / f".archives-tmp-{pid}-3"
    ours.write_bytes(b"\0" * 100)
    older = clone / "data" / f".big3.bin.{pid}-0.tmp"  # what the old temp names looked like
    older.write_bytes(b"\0" * 100)

    proc = archives(clone, "fsck", check=False)

    out = proc.stdout.decode()
    assert not ours.exists() and "removed stale temp file data/.archives-tmp-" in out
    assert older.exists()  # not ours to judge: named, with the command
    assert f"rm -- data/.big3.bin.{pid}-0.tmp" in proc.stderr.decode()


def test_pull_of_named_paths_takes_them_literally(tmp_path: Path) -> None:
    """The clone hint is 'git archives pull -- NAME': a committed name holding glob
    characters or a trailing space selects that one file, never its look-alikes."""
    files = {"data/a*.bin": os.urandom(3000), "data/ab.bin": os.urandom(3000),
             "data/sp .bin": os.urandom(3000), "data/sp.bin": os.urandom(3000)}
    clone = _pointer_clone(tmp_path, files)
    archives(clone / "data", "pull", "--", "a*.bin", "sp .bin")  # from the subfolder

    assert (clone / "data" / "a*.bin").read_bytes() == files["data/a*.bin"]
    assert (clone / "data" / "sp .bin").read_bytes() == files["data/sp .bin"]
    assert (clone / "data" / "ab.bin").read_bytes().startswith(POINTER_HEAD)
    assert (clone / "data" / "sp.bin").read_bytes().startswith(POINTER_HEAD)
