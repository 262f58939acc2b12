"""Compare-and-swap writes for sync: a side is replaced only while it still holds the bytes
sync read from it.

An editor may save a file between sync's read and its write. :func:`write_if_unchanged`
writes the new content to a temporary file, then — right before the atomic rename — reads
the file again and compares its SHA-256 with what sync read; on a difference it raises
:class:`ChangedUnderneath` and the temporary file is removed, so the editor's save stays.
Content, not mtime: a save within the same clock tick, or a copy with an old mtime, is seen.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from gitext.errors import NotebookError
from gitext.fs.atomic import write_all
from gitext.fs.worktree import WorkTree, repo_relative


class ChangedUnderneath(NotebookError):
    """The file changed after sync read it; nothing was written to it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} changed while it was being synced")
        self.path = path


def _sha(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_if_unchanged(root: Path, path: Path, data: bytes, expected: bytes | None) -> None:
    """Atomically replace ``path`` (inside the work tree ``root``, never through a symlink)
    with ``data`` if it still holds ``expected`` (None: if it still does not exist)."""
    want = _sha(expected)
    rel = repo_relative(root, path)
    with WorkTree(root) as wt:
        st = wt.lstat(rel)
        keep_mode = st is not None and stat.S_ISREG(st.st_mode)
        mode = stat.S_IMODE(st.st_mode) if st is not None and keep_mode else 0o666

        def fill(fd: int) -> None:
            write_all(fd, data)
            if keep_mode and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            os.fsync(fd)
            # The last moment before the rename: what is there now must be what was read.
            if _sha(_current(wt.path(rel))) != want:
                raise ChangedUnderneath(path)

        wt.write(rel, fill, mode=mode)
