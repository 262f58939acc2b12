"""Giving a small work-tree file new bytes in its own inode.

A pull replaces each pointer file with its content. Writing a new file and renaming it over
the pointer allocates one inode and frees another per file; on ext4 without a journal every
allocation then steps over each inode freed in the last half minute (``recently_deleted``),
so a thousand-file pull pays for a thousand frees a thousand times (measured: 0.5 s of
system time for 1,000 files of 200 KB, against 0.1 s when the inodes are kept).
:func:`refill` keeps the pointer's inode instead:

1. the file is renamed to a temp name beside it (``.archives-tmp-<pid>-<n>``), so its own
   name never shows partial bytes: it holds the pointer, then is missing, then holds the
   whole content;
2. through that name it is opened (never a symlink, a folder, or a file with other hard
   links, whose other names would change too) and its bytes are checked against what the
   caller expects (a compare-and-swap: a file the user changed meanwhile is put back as it
   was and left alone);
3. ``fill(fd)`` writes the content over the old bytes, the file is cut to the content's
   size (not truncated to 0 first: ext4's ``auto_da_alloc`` then writes the file out when
   it is closed, 0.3-0.5 s per 1,000 files here), and the name is given back with
   ``link`` + ``unlink`` (never over a file that appeared meanwhile).

If ``fill`` fails, the old bytes are written back before the name is. A process killed in
step 3 leaves the name missing and the temp file beside it: :class:`gitext.sync.fill.InPlaceFill`
fills such a file again on the next pull. Where ``*at`` calls are missing (Windows) it
returns None and the caller writes a new file as before.

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable

from gitext.fs.worktemps import temp_name
from gitext.fs.worktree import WorkTree, has_at_calls

_OPEN = (os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
         | getattr(os, "O_CLOEXEC", 0))


def refill(wt: WorkTree, rel: str, holds: Callable[[os.stat_result, bytes], bool],
           fill: Callable[[int], object], *, limit: int, size: int) -> os.stat_result | None:
    """Write the ``size`` bytes ``fill(fd)`` gives (from offset 0) over the file at
    ``rel``, if it is a regular file of one link, smaller than ``limit``, for which
    ``holds(stat, bytes)`` is true, and cut it to ``size``; returns its new stat. None,
    with the file as it was, when it is not (or this platform cannot). Raises OSError
    (the file then holds its old bytes again) or FileExistsError (a new file took the
    name meanwhile: ours is dropped)."""
    if not has_at_calls():
        return None
    try:
        dfd, name = wt.parent(rel, create=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    tmp = temp_name()
    try:
        os.rename(name, tmp, src_dir_fd=dfd, dst_dir_fd=dfd)
    except OSError:
        return None
    try:
        fd = os.open(tmp, _OPEN, dir_fd=dfd)
    except OSError:
        _give_back(dfd, tmp, name, ours=False)
        return None
    try:
        try:
            old = _expected_bytes(fd, holds, limit)
        except OSError:
            old = None
        if old is None:  # not ours to change: back under its name, whatever happens
            os.close(fd)
            fd = -1
            _give_back(dfd, tmp, name, ours=False)
            return None
        try:
            fill(fd)  # over the old bytes: a truncation to 0 first would make ext4
            if os.fstat(fd).st_size != size:  # write the file out on close (auto_da_alloc)
                os.ftruncate(fd, size)
        except BaseException:
            with contextlib.suppress(OSError):  # (the pointer can be written again anyway)
                os.pwrite(fd, old, 0)
                os.ftruncate(fd, len(old))
            os.close(fd)
            fd = -1
            with contextlib.suppress(OSError):  # the first error is the one to tell
                _give_back(dfd, tmp, name)
            raise
    finally:
        if fd >= 0:
            os.close(fd)
    _give_back(dfd, tmp, name)
    return os.stat(name, dir_fd=dfd, follow_symlinks=False)


def current_umask() -> int:
    """The process's umask: read from ``/proc`` where Linux tells it, else set and put back
    at once (call that before threads that make files start)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _expected_bytes(fd: int, holds: Callable[[os.stat_result, bytes], bool],
                    limit: int) -> bytes | None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size >= limit:
        return None
    data = os.pread(fd, limit, 0)
    return data if len(data) == st.st_size and holds(st, data) else None


def _give_back(dfd: int, tmp: str, name: str, *, ours: bool = True) -> None:
    """Move ``tmp`` back to ``name`` unless something else took ``name`` meanwhile: then
    FileExistsError, and ``tmp`` is removed if ``ours`` (bytes the caller can make again:
    a pointer, an object's copy), else kept under its temp name, which the error names."""
    try:
        os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
    except FileExistsError:
        if ours:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
        raise FileExistsError(errno.EEXIST, "a new file took the name while it was being "
                              "filled; it was left as it is"
                              + ("" if ours else f" (the old one is now '{tmp}')"),
                              name) from None
    except OSError:  # no hard links on this filesystem
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        return
    os.unlink(tmp, dir_fd=dfd)
