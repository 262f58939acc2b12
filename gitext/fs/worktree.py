"""The one way into the work tree.

Every write, removal or directory creation at a path that comes from the repository —
pointer fills, pipeline outputs and their ``.dir`` entries, outputs restored from the
run-cache, notebook outputs put back, and whatever later features add — goes through
:class:`WorkTree`. A repository is someone else's input: a committed symlink ``lnk ->
../../home/.config`` must not turn the output ``lnk/git/config`` into a write of the
user's git config.

:class:`WorkTree` walks a repository path from the clone's root one component at a time
with ``openat(O_DIRECTORY | O_NOFOLLOW)`` and keeps the directory descriptors it opened,
so a symlink anywhere above the file — committed, or planted while we run — stops the
write instead of leading it out; the last component is never followed either (a symlink
there is replaced, as git replaces it). Paths with ``..``, absolute paths, empty
components and a ``.git`` component in any spelling a filesystem may fold to ``.git``
(``.GIT``, ``.git.``, ``git~1``, HFS's ignored code points) are refused before any
system call. Where the platform has no ``*at`` calls (Windows), each component is
``lstat``-checked instead.

Its temp files are named by :mod:`gitext.fs.worktemps`, which also finds those a killed
process left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from gitext.errors import ArchivesError
from gitext.fs.atomic import write_all
from gitext.fs.worktemps import temp_name

_DIR_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0))
_AT = os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd
# Code points HFS+ ignores in names (git's is_hfs_dotgit list).
_HFS_IGNORED = dict.fromkeys(map(ord, "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d"
                                      "\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"))


class UnsafePathError(ArchivesError):
    """A repository path that would leave the clone, or enter ``.git``, if written."""


def is_git_dir_name(part: str) -> bool:
    """Whether a path component names ``.git`` on some filesystem (case-folding, NTFS's
    trailing dots and spaces and 8.3 short name, HFS's ignored code points)."""
    folded = part.translate(_HFS_IGNORED).rstrip(". ").casefold()
    return folded in (".git", "git~1")


def split_repo_path(rel: str, *, where: str = "") -> tuple[str, ...]:
    """The components of a repository-relative path, or UnsafePathError naming ``where``."""
    source = f"{where}: " if where else ""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise UnsafePathError(f"{source}{rel!r} is not a path")
    if rel.startswith("/") or posixpath.isabs(rel) or (len(rel) > 1 and rel[1] == ":"):
        raise UnsafePathError(f"{source}{rel!r} is an absolute path; git-archives writes "
                              "only inside the repository")
    parts = tuple(p for p in rel.rstrip("/").split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(f"{source}{rel!r} is not a plain path inside the "
                                  "repository ('..', '.' or an empty component)")
        if is_git_dir_name(part):
            raise UnsafePathError(f"{source}{rel!r} points into git's own directory; "
                                  "refusing to write there")
    return parts


class WorkTree:
    """Writes under ``root`` that never follow a symlink. Thread-safe; close() when done
    (or use it as a context manager)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fds: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> WorkTree:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            fds, self._fds = list(self._fds.values()), {}
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- resolving ------------------------------------------------------------------------
    def _refuse(self, parts: tuple[str, ...], st: os.stat_result | None) -> UnsafePathError:
        shown = "/".join(parts)
        if st is not None and stat.S_ISLNK(st.st_mode):
            return UnsafePathError(
                f"'{shown}' is a symbolic link; git-archives does not write through it",
                hint="a repository's symlink cannot redirect its files: remove or rename "
                     f"'{shown}' if you did not make it")
        return UnsafePathError(f"'{shown}' is not a folder; cannot write below it",
                               hint=f"move '{shown}' aside, then run the command again")

    def _open_dir(self, parts: tuple[str, ...], create: bool) -> int:
        with self._lock:
            fd = self._fds.get(parts)
        if fd is not None:
            return fd
        if not parts:
            fd = os.open(self.root, _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))
        else:
            parent = self._open_dir(parts[:-1], create)
            fd = self._open_child(parent, parts, create)
        with self._lock:
            kept = self._fds.setdefault(parts, fd)
        if kept != fd:
            os.close(fd)
        return kept

    def _open_child(self, parent: int, parts: tuple[str, ...], create: bool) -> int:
        name = parts[-1]
        for _ in range(3):
            try:
                return os.open(name, _DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=parent)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
                try:
                    st: os.stat_result | None = os.stat(name, dir_fd=parent,
                                                        follow_symlinks=False)
                except OSError:
                    st = None
                raise self._refuse(parts, st) from None
        raise FileNotFoundError(errno.ENOENT, "folder keeps disappearing", "/".join(parts))

    def _portable_dir(self, parts: tuple[str, ...], create: bool) -> Path:
        path = self.root
        for i, part in enumerate(parts):
            path = path / part
            try:
                st = path.lstat()
            except FileNotFoundError:
                if not create:
                    raise
                path.mkdir(exist_ok=True)
                st = path.lstat()
            if not stat.S_ISDIR(st.st_mode) or getattr(st, "st_reparse_tag", False):
                raise self._refuse(parts[:i + 1], st)
        return path

    def parent(self, rel: str, *, create: bool = True) -> tuple[int, str]:
        """(descriptor of the folder holding ``rel``, its last component). The folders on
        the way are made when ``create``; a symlink or a file among them is refused."""
        parts = split_repo_path(rel)
        return self._open_dir(parts[:-1], create), parts[-1]

    def path(self, rel: str) -> Path:
        """The plain path of ``rel`` (for reading only: reads may follow links)."""
        return self.root.joinpath(*split_repo_path(rel))

    # -- looking --------------------------------------------------------------------------
    def lstat(self, rel: str) -> os.stat_result | None:
        """``rel``'s own stat (a symlink is not followed), None when it does not exist."""
        try:
            if not _AT:
                return self._portable_child(rel, create=False).lstat()
            dfd, name = self.parent(rel, create=False)
            return os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _portable_child(self, rel: str, *, create: bool) -> Path:
        parts = split_repo_path(rel)
        return self._portable_dir(parts[:-1], create) / parts[-1]

    # -- writing --------------------------------------------------------------------------
    def write(self, rel: str, fill: Callable[[int], object], *, mode: int = 0o666,
              sync: bool = False, check: Callable[[], None] | None = None,
              in_place: bool = False) -> os.stat_result:
        """Replace ``rel`` atomically with a new file (made with ``mode`` less the umask)
        whose bytes ``fill(fd)`` writes; returns the placed file's stat. A symlink at
        ``rel`` is replaced, never followed; a folder there raises IsADirectoryError.
        ``check`` runs right before the new file takes the name (it raises to leave the old
        one in place: a compare-and-swap); ``in_place`` replaces the old file by the rename
        itself, so a reader never finds the name missing (slower on ext4)."""
        if not _AT:
            return self._portable_write(rel, fill, mode=mode, sync=sync, check=check)
        dfd, name = self.parent(rel)
        tmp, fd = _new_temp(dfd, mode)
        try:
            fill(fd)
            if sync:
                os.fsync(fd)
            os.close(fd)
            fd = -1
            if check is not None:
                check()
            if in_place:
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                return os.stat(name, dir_fd=dfd, follow_symlinks=False)
            return self._commit(dfd, tmp, name)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            raise

    def link(self, rel: str, source: Path) -> os.stat_result:
        """Replace ``rel`` atomically with a hard link to ``source`` (OSError where the
        filesystem cannot link: the caller copies instead)."""
        if not _AT:
            dest = self._portable_child(rel, create=True)
            tmp_path = dest.with_name(temp_name())
            os.link(source, tmp_path)
            os.replace(tmp_path, dest)
            return dest.lstat()
        dfd, name = self.parent(rel)
        tmp = temp_name()
        os.link(source, tmp, dst_dir_fd=dfd)
        try:
            return self._commit(dfd, tmp, name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            raise

    def _commit(self, dfd: int, tmp: str, name: str) -> os.stat_result:
        # Unlink, then rename onto the free name: renaming over an existing file makes ext4
        # (auto_da_alloc) start writing the new data out at once, ~0.3 ms a file.
        try:
            os.unlink(name, dir_fd=dfd)
        except FileNotFoundError:
            pass
        except (IsADirectoryError, PermissionError):
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "a folder is in the way", name) from None
            raise
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)

    def _portable_write(self, rel: str, fill: Callable[[int], object], *, mode: int,
                        sync: bool, check: Callable[[], None] | None) -> os.stat_result:
        dest = self._portable_child(rel, create=True)
        tmp_path = dest.with_name(temp_name())
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     mode)
        try:
            fill(fd)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            if check is not None:
                check()
            os.replace(tmp_path, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
            raise
        return dest.lstat()

    def write_bytes(self, rel: str, data: bytes, *, sync: bool = True,
                    check: Callable[[], None] | None = None,
                    in_place: bool = False) -> os.stat_result:
        """Atomically replace ``rel`` with ``data`` (fsync'd); an existing regular file
        keeps its permission bits. ``check`` and ``in_place``: as :meth:`write`."""
        st = self.lstat(rel)
        mode = stat.S_IMODE(st.st_mode) if st is not None and stat.S_ISREG(st.st_mode) else 0o666

        def fill(fd: int) -> None:
            write_all(fd, data)
            if st is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # exactly the old bits, whatever the umask says

        return self.write(rel, fill, mode=mode, sync=sync, check=check, in_place=in_place)

    def set_times(self, rel: str, times: tuple[int, int]) -> None:
        """``os.utime`` of ``rel`` itself (not through a symlink, here or above it)."""
        if not _AT or os.utime not in os.supports_dir_fd:
            os.utime(self._portable_child(rel, create=False), times)
            return
        dfd, name = self.parent(rel, create=False)
        os.utime(name, times, dir_fd=dfd, follow_symlinks=False)

    def makedirs(self, rel: str) -> None:
        """Make the folder ``rel`` and the folders above it (refusing symlinks on the way)."""
        if not _AT:
            self._portable_dir(split_repo_path(rel), True)
            return
        self._open_dir(split_repo_path(rel), True)

    # -- removing -------------------------------------------------------------------------
    def remove(self, rel: str) -> bool:
        """Remove the file, symlink (not its target) or whole folder at ``rel``; False when
        nothing was there."""
        st = self.lstat(rel)
        if st is None:
            return False
        parts = split_repo_path(rel)
        if not _AT:
            target = self._portable_child(rel, create=False)
            if stat.S_ISDIR(st.st_mode):
                _rmtree_portable(target)
            else:
                target.unlink()
            return True
        dfd = self._open_dir(parts[:-1], False)
        if stat.S_ISDIR(st.st_mode):
            self._forget(parts)
            _rmtree_at(dfd, parts[-1])
        else:
            os.unlink(parts[-1], dir_fd=dfd)
        return True

    def rmdir_if_empty(self, rel: str) -> bool:
        parts = split_repo_path(rel)
        try:
            dfd = self._open_dir(parts[:-1], False) if _AT else -1
            self._forget(parts)
            if _AT:
                os.rmdir(parts[-1], dir_fd=dfd)
            else:
                (self._portable_dir(parts[:-1], False) / parts[-1]).rmdir()
        except OSError:
            return False
        return True

    def _forget(self, parts: tuple[str, ...]) -> None:
        n = len(parts)
        with self._lock:
            gone = [k for k in self._fds if k[:n] == parts]
            fds = [self._fds.pop(k) for k in gone]
        for fd in fds:
            os.close(fd)


def repo_relative(root: Path, path: Path) -> str:
    """``path`` (absolute, or relative to ``root``) as a repository path, lexically
    normalised; UnsafePathError when it is not inside ``root``."""
    full = os.path.normpath(os.path.join(root, path))
    rel = os.path.relpath(full, os.path.normpath(root))
    if rel in (os.curdir, os.pardir) or rel.startswith(os.pardir + os.sep):
        raise UnsafePathError(f"'{path}' is outside the repository; git-archives writes "
                              "only inside it")
    return rel.replace(os.sep, "/")


def require_no_symlink(root: Path, path: Path) -> None:
    """Refuse (UnsafePathError) when ``path`` inside ``root``, or a folder above it, is a
    symlink: for files that a tool other than WorkTree writes in place (``git config -f``
    follows a symlinked config file; so would a plain write of ``.gitattributes``)."""
    rel = repo_relative(root, path)
    with WorkTree(root) as wt:
        st = wt.lstat(rel)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(
            f"'{rel}' is a symbolic link; git-archives does not write through it",
            hint=f"replace '{rel}' with a regular file if you mean to change it")


def write_bytes_in(root: Path, path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` inside the work tree ``root`` (never through
    a symlink, never outside ``root``): :meth:`WorkTree.write_bytes` for one file."""
    with WorkTree(root) as wt:
        wt.write_bytes(repo_relative(root, path), data)


def has_at_calls() -> bool:
    """Whether writes go through ``*at`` calls on folder descriptors (not on Windows)."""
    return _AT


def _new_temp(dfd: int, mode: int) -> tuple[str, int]:
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))
    while True:  # a name left by a killed process of the same pid is stepped over
        tmp = temp_name()
        with contextlib.suppress(FileExistsError):
            return tmp, os.open(tmp, flags, mode, dir_fd=dfd)


def _rmtree_at(dfd: int, name: str) -> None:
    """Remove the folder ``name`` in ``dfd`` and everything in it without following any
    symlink (a symlink inside is removed itself). Read-only folders are made writable."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
    try:
        with os.scandir(fd) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        for child, is_dir in entries:
            try:
                if is_dir:
                    _rmtree_at(fd, child)
                else:
                    os.unlink(child, dir_fd=fd)
            except PermissionError:  # a read-only folder: make it writable, once
                os.fchmod(fd, 0o700)
                if is_dir:
                    _rmtree_at(fd, child)
                else:
                    os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dfd)


def _rmtree_portable(path: Path) -> None:
    import shutil

    def onerror(func: Callable[..., object], p: str, _exc: object) -> None:
        os.chmod(p, stat.S_IRWXU)
        func(p)

    shutil.rmtree(path, onerror=onerror)
