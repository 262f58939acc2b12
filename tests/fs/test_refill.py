"""gitext.fs.refill: a pointer file given its content in its own inode, on a real
filesystem — only when it holds what the caller expects, never through a symlink or into
a file with other names, with its old bytes back after a failed write."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gitext.fs.atomic import write_all
from gitext.fs.refill import refill
from gitext.fs.worktree import WorkTree

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no *at calls: not used there")

OLD = b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n"
NEW = os.urandom(300_000)


def _holds_old(_st: os.stat_result, data: bytes) -> bool:
    return data == OLD


def _writes(data: bytes) -> Callable[[int], object]:
    return lambda fd: write_all(fd, data)


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_the_file_keeps_its_inode_and_takes_the_new_bytes(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    f = tmp_path / "d" / "a.bin"
    f.write_bytes(OLD)
    inode = f.stat().st_ino
    with WorkTree(tmp_path) as wt:
        st = refill(wt, "d/a.bin", _holds_old, _writes(NEW), limit=1024, size=len(NEW))
    assert st is not None and st.st_ino == inode == f.stat().st_ino
    assert st.st_size == len(NEW) and st.st_mtime_ns == f.stat().st_mtime_ns
    assert f.read_bytes() == NEW
    assert _names(tmp_path / "d") == {"a.bin"}  # no temp file left


def test_a_file_that_is_not_what_was_expected_is_left_exactly_as_it_was(
        tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"the user's own edit")
    before = f.stat()
    with WorkTree(tmp_path) as wt:
        assert refill(wt, "a.bin", _holds_old, _writes(NEW), limit=1024, size=len(NEW)) is None
    assert f.read_bytes() == b"the user's own edit"
    assert f.stat().st_ino == before.st_ino and f.stat().st_mtime_ns == before.st_mtime_ns
    assert _names(tmp_path) == {"a.bin"}


def test_a_hard_linked_file_is_not_changed_through_its_other_name(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(OLD)
    os.link(f, tmp_path / "elsewhere")
    with WorkTree(tmp_path) as wt:
        assert refill(wt, "a.bin", _holds_old, _writes(NEW), limit=1024, size=len(NEW)) is None
    assert (tmp_path / "elsewhere").read_bytes() == OLD == f.read_bytes()


def test_a_symlink_is_never_written_through(tmp_path: Path) -> None:
    target = tmp_path / "outside"
    target.write_bytes(OLD)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.bin").symlink_to(target)
    with WorkTree(tmp_path / "repo") as wt:
        assert refill(wt, "a.bin", _holds_old, _writes(NEW), limit=1024, size=len(NEW)) is None
    assert target.read_bytes() == OLD
    assert (tmp_path / "repo" / "a.bin").is_symlink()


def test_a_missing_file_or_folder_is_not_an_error(tmp_path: Path) -> None:
    with WorkTree(tmp_path) as wt:
        assert refill(wt, "a.bin", _holds_old, _writes(NEW), limit=1024, size=len(NEW)) is None
        assert refill(wt, "no/such/a.bin", _holds_old, _writes(NEW), limit=1024,
                      size=len(NEW)) is None
    assert _names(tmp_path) == set()


def test_a_failed_write_puts_the_old_bytes_back_under_the_name(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(OLD)

    def half_then_fail(fd: int) -> None:
        write_all(fd, NEW[:1000])
        raise OSError(28, "No space left on device")

    with WorkTree(tmp_path) as wt, pytest.raises(OSError, match="No space"):
        refill(wt, "a.bin", _holds_old, half_then_fail, limit=1024, size=len(NEW))
    assert f.read_bytes() == OLD
    assert _names(tmp_path) == {"a.bin"}


def test_a_file_that_took_the_name_meanwhile_is_kept(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(OLD)

    def someone_writes_the_name(fd: int) -> None:
        f.write_bytes(b"made while we wrote")
        write_all(fd, NEW)

    with WorkTree(tmp_path) as wt, pytest.raises(FileExistsError):
        refill(wt, "a.bin", _holds_old, someone_writes_the_name, limit=1024, size=len(NEW))
    assert f.read_bytes() == b"made while we wrote"
    assert _names(tmp_path) == {"a.bin"}  # ours (a copy the cache still has) is dropped


def test_what_the_check_sees_is_the_stat_and_bytes_of_the_file(tmp_path: Path) -> None:
    f = tmp_path / "run.sh"
    f.write_bytes(OLD)
    f.chmod(0o644)
    seen: list[tuple[int, bytes]] = []

    def executable_only(st: os.stat_result, data: bytes) -> bool:
        seen.append((st.st_mode & 0o777, data))
        return bool(st.st_mode & 0o100)

    with WorkTree(tmp_path) as wt:
        assert refill(wt, "run.sh", executable_only, _writes(NEW), limit=1024,
                      size=len(NEW)) is None
    assert seen == [(0o644, OLD)] and f.read_bytes() == OLD


def test_content_shorter_than_the_old_bytes_leaves_none_of_them(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(OLD)
    with WorkTree(tmp_path) as wt:
        st = refill(wt, "a.bin", _holds_old, _writes(b"tiny"), limit=1024, size=4)
    assert st is not None and st.st_size == 4 and f.read_bytes() == b"tiny"
