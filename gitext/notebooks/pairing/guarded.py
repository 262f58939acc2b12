"""Compare-and-swap writes for sync: a side is replaced only while it still holds the bytes
sync read from it.

An editor may save a file between sync's read and its write. :func:`write_if_unchanged`
writes the new content to a temporary file, then — right before the atomic rename — reads
the file again and compares its SHA-256 with what sync read; on a difference it raises
:class:`ChangedUnderneath` and the temporary file is removed, so the editor's save stays.
(The window left is the compare-to-rename gap: microseconds, not the seconds of a sync.)
Content, not mtime: a save within the same clock tick, or a copy with an old mtime, is seen.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import stat
from pathlib import Path

from gitext.errors import NotebookError
from gitext.fs.atomic import write_all
from gitext.fs.worktree import TMP_PREFIX, WorkTree, repo_relative

# (os.rename, not os.replace: only the former is listed in supports_dir_fd, and on POSIX a
# rename replaces the target atomically.)
_AT = os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd
_TMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0))
_counter = itertools.count()


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


def _check(current: Path, want: str | None, path: Path) -> None:
    if _sha(_current(current)) != want:
        raise ChangedUnderneath(path)


def write_if_unchanged(root: Path, path: Path, data: bytes, expected: bytes | None) -> None:
    """Atomically replace ``path`` (inside the work tree ``root``, never through a symlink)
    with ``data`` if it still holds ``expected`` (None: if it still does not exist).

    The folder is reached by :meth:`WorkTree.parent` (the one symlink-free walk into the
    work tree); the file is then replaced by a single rename, so a reader (an editor, a
    watcher) never finds it missing."""
    want = _sha(expected)
    rel = repo_relative(root, path)
    with WorkTree(root) as wt:
        st = wt.lstat(rel)
        keep_mode = st is not None and stat.S_ISREG(st.st_mode)
        mode = stat.S_IMODE(st.st_mode) if st is not None and keep_mode else 0o666
        if not _AT:  # no *at() calls here: WorkTree's own portable write
            _check(wt.path(rel), want, path)
            wt.write_bytes(rel, data)
            return
        dfd, name = wt.parent(rel)
        tmp = f"{TMP_PREFIX}{os.getpid()}-sync-{next(_counter)}"
        fd = os.open(tmp, _TMP_FLAGS, mode, dir_fd=dfd)
        try:
            try:
                write_all(fd, data)
                if keep_mode and hasattr(os, "fchmod"):
                    os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            # The last moment before the rename: what is there now must be what was read.
            _check(wt.path(rel), want, path)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            raise
