"""Repositories made with real git-lfs (``/usr/bin/git-lfs``), for the interop tests. A
machine without git-lfs skips those tests with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import git


def require_git_lfs() -> str:
    exe = shutil.which("git-lfs")
    if exe is None:
        pytest.skip("git-lfs is not installed (apt-get install git-lfs): it judges interop")
    return exe


def lfs_install_global(home: Path) -> None:
    """What a git-lfs user has: ``git lfs install`` in their user config."""
    require_git_lfs()
    git(home, "lfs", "install", "--skip-repo")


def lfs_origin(tmp: Path, files: dict[str, bytes], *,
               other: dict[str, bytes] | None = None) -> Path:
    """A bare origin holding a repository made by git-lfs: ``*.bin`` tracked with
    ``git lfs track``, ``files`` on main and ``other`` on branch 'other'; objects pushed to the
    origin's own LFS storage (git-lfs's standalone file transfer)."""
    origin = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
    author = tmp / "author"
    git(tmp, "init", "-q", "-b", "main", str(author))
    git(author, "lfs", "track", "*.bin")
    _write(author, files)
    git(author, "add", "-A")
    git(author, "commit", "-q", "-m", "data by git-lfs")
    if other is not None:
        git(author, "checkout", "-q", "-b", "other")
        _write(author, other)
        git(author, "add", "-A")
        git(author, "commit", "-q", "-m", "more data by git-lfs")
        git(author, "checkout", "-q", "main")
    git(author, "remote", "add", "origin", str(origin))
    git(author, "push", "-q", "origin", "--all")
    return origin


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def lfs_object(clone: Path, data_oid: str) -> Path:
    return clone / ".git" / "lfs" / "objects" / data_oid[:2] / data_oid[2:4] / data_oid


