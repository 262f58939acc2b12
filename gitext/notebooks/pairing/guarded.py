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

import hashlib
from pathlib import Path

from gitext.errors import NotebookError
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


def _check(current: Path, want: str | None, path: Path) -> None:
    if _sha(_current(current)) != want:
        raise ChangedUnderneath(path)


def write_if_unchanged(root: Path, path: Path, data: bytes, expected: bytes | None) -> None:
    """Atomically replace ``path`` (inside the work tree ``root``, never through a symlink)
    with ``data`` if it still holds ``expected`` (None: if it still does not exist).

    :meth:`WorkTree.write_bytes` writes the temporary file, runs the comparison right before
    the rename, and replaces the file by that one rename (``in_place``), so a reader (an
    editor, a watcher) never finds it missing."""
    want = _sha(expected)
    with WorkTree(root) as wt:
        rel = repo_relative(root, path)
        wt.write_bytes(rel, data, check=lambda: _check(wt.path(rel), want, path),
                       in_place=True)
