"""The local content-addressed store: ``<root>/files/<algo>/<ab>/<rest>``.

Writes go to a temp file inside ``<root>/tmp`` while hashing, are fsync'ed, verified
against the expected id, made read-only and renamed into place — so a reader never sees a
partial object and a crash leaves at most a stray temp file (removed by ``fsck``). Several
processes and worktrees may write the same object at once: the rename is atomic and the
content identical.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import queue
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from gitext.errors import ArchivesError, CorruptObjectError, ObjectNotFoundError
from gitext.hashing import CHUNK, ObjectId, copy_and_hash, hash_file
from gitext.state import StateCache

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class StoreWriteError(ArchivesError):
    """The store could not take an object (disk full, permissions)."""


class LocalStore:
    def __init__(self, root: Path, *, state: StateCache | None = None) -> None:
        self.root = root
        self.files = root / "files"
        self.tmp = root / "tmp"
        self.quarantine_dir = root / "quarantine"
        self._state = state
        self._to_sync: queue.SimpleQueue[ObjectId] = queue.SimpleQueue()
        self._synced: collections.deque[ObjectId] = collections.deque()
        self._syncer: threading.Thread | None = None

    @property
    def state(self) -> StateCache:
        if self._state is None:
            self._state = StateCache(self.root / "state.db")
        return self._state

    # -- lookup ---------------------------------------------------------------------------
    def path(self, oid: ObjectId) -> Path:
        return self.root / oid.key

    def has(self, oid: ObjectId) -> bool:
        return self.path(oid).is_file()

    def size(self, oid: ObjectId) -> int | None:
        try:
            return self.path(oid).stat().st_size
        except FileNotFoundError:
            return None

    def iter_objects(self, algo: str | None = None) -> Iterator[ObjectId]:
        algos = [algo] if algo else sorted(p.name for p in self.files.iterdir()) \
            if self.files.is_dir() else []
        for a in algos:
            base = self.files / a
            if not base.is_dir():
                continue
            for sub in sorted(base.iterdir()):
                if len(sub.name) != 2 or not sub.is_dir():
                    continue
                for obj in sorted(sub.iterdir()):
                    try:
                        yield ObjectId(a, sub.name + obj.name)
                    except ArchivesError:
                        continue  # not an object (e.g. a DVC .dir suffix is handled elsewhere)

    # -- writing --------------------------------------------------------------------------
    def add_stream(
        self,
        src: BinaryIO,
        algo: str,
        *,
        expected: ObjectId | None = None,
        on_chunk: Callable[[bytes], None] | None = None,
        background: bool = False,
    ) -> tuple[ObjectId, int]:
        """Copy ``src`` into the store hashing once; verify against ``expected`` if given.

        An object already in the store costs no fsync (the temp copy is dropped). With
        ``background`` the object is renamed into place at once and fsync'ed by a daemon
        thread (see "durability in the background" below)."""
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.tmp, prefix="incoming-")
            tmp_path = Path(name)
            try:
                # Buffered on purpose: a raw write may be short (a full disk, a file size
                # limit) where BufferedWriter retries or raises.
                with os.fdopen(fd, "wb", buffering=CHUNK) as f:
                    digest, size = copy_and_hash(src, f, algo, on_chunk=on_chunk)
                    f.flush()
                    written = os.fstat(f.fileno()).st_size
                    if written != size:
                        raise OSError(errno.EIO, f"wrote {written} of {size} bytes")
                    oid = ObjectId(algo, digest)
                    if expected is not None and oid != expected:
                        raise CorruptObjectError(
                            f"content for {expected} hashes to {oid}: refused",
                            hint="the source is corrupt; fetch it again",
                        )
                    if self._already_stored(oid, size):
                        return oid, size
                    if not background:
                        os.fsync(f.fileno())
                self._rename_into_place(tmp_path, oid)
                if background:
                    self._sync_later(oid)
                else:
                    self._record_verified(oid)
                return oid, size
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp_path.unlink()
        except OSError as exc:
            raise StoreWriteError(
                f"cannot write to the store {self.root}: {exc.strerror or exc}",
                hint="free disk space or fix permissions, then retry",
            ) from exc

    def add_copy_of(self, fd: int, size: int, algo: str, *,
                    background: bool = False) -> tuple[ObjectId, int]:
        """Store a copy of the open file ``fd`` made in the kernel (copy_file_range: no
        trip through user space; a reflink on filesystems that have them), then hash the
        stored copy itself, so the id always describes the object's own bytes."""
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            out_fd, name = tempfile.mkstemp(dir=self.tmp, prefix="incoming-")
            tmp_path = Path(name)
            try:
                try:
                    _kernel_copy(fd, out_fd, size)
                finally:
                    os.close(out_fd)
                digest, stored = hash_file(tmp_path, algo)
                if stored != size:
                    raise OSError(errno.EIO, f"copied {stored} of {size} bytes")
                oid = ObjectId(algo, digest)
                if self._already_stored(oid, size):
                    return oid, size
                if not background:
                    fd2 = os.open(tmp_path, os.O_RDONLY)
                    try:
                        os.fsync(fd2)
                    finally:
                        os.close(fd2)
                self._rename_into_place(tmp_path, oid)
                if background:
                    self._sync_later(oid)
                else:
                    self._record_verified(oid)
                return oid, size
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp_path.unlink()
        except OSError as exc:
            raise StoreWriteError(
                f"cannot write to the store {self.root}: {exc.strerror or exc}",
                hint="free disk space or fix permissions, then retry",
            ) from exc

    # -- durability in the background ------------------------------------------------------
    # With ``background``, a new object is renamed into place at once and fsync'ed by a
    # daemon thread; only once that fsync returns is the object recorded as verified (so
    # served without a re-hash). If the process ends first, the kernel writes the data back
    # as usual and the object is simply re-hashed the first time it is served: a crash can
    # cost an object written in its last seconds (as with git's own loose objects), never
    # serve a damaged one.
    def _already_stored(self, oid: ObjectId, size: int) -> bool:
        try:
            st = self.path(oid).stat()
        except FileNotFoundError:
            return False
        if st.st_size == size:
            return True
        # A torn object (a crash before its data reached the disk): replace it.
        with contextlib.suppress(OSError):
            os.chmod(self.path(oid), stat.S_IWUSR | READ_ONLY)
            self.path(oid).unlink()
        return False

    def _sync_later(self, oid: ObjectId) -> None:
        if self._syncer is None:
            self._syncer = threading.Thread(target=self._sync_loop, name="store-fsync",
                                            daemon=True)
            self._syncer.start()
        self._to_sync.put(oid)

    def _sync_loop(self) -> None:
        while True:
            oid = self._to_sync.get()
            try:
                fd = os.open(self.path(oid), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                continue  # stays unverified: it is re-hashed before it is ever served
            self._synced.append(oid)

    def collect(self) -> None:
        """Record as verified the objects whose background fsync has finished."""
        while self._synced:
            self._record_verified(self._synced.popleft())

    def add_file(self, path: Path, algo: str, *,
                 expected: ObjectId | None = None) -> tuple[ObjectId, int]:
        with open(path, "rb") as f:
            return self.add_stream(f, algo, expected=expected)

    def _rename_into_place(self, tmp_path: Path, oid: ObjectId) -> None:
        final = self.path(oid)
        if final.is_file():
            return  # someone (another worktree, a concurrent add) already stored it
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp_path, READ_ONLY)
        try:
            os.replace(tmp_path, final)
        except PermissionError:
            if not final.is_file():  # Windows refuses to replace a read-only file
                raise

    def _record_verified(self, oid: ObjectId) -> None:
        # The bytes were hashed on their way in: remember the object as verified.
        final = self.path(oid)
        with contextlib.suppress(FileNotFoundError):
            self.state.record(os.fspath(final), oid.algo, final.stat(), oid.digest)

    # -- reading --------------------------------------------------------------------------
    def open(self, oid: ObjectId) -> BinaryIO:
        try:
            return open(self.path(oid), "rb")
        except FileNotFoundError:
            raise ObjectNotFoundError(
                f"object {oid} is not in the local cache",
                hint="run 'git archives pull' to fetch it",
            ) from None

    def is_verified(self, oid: ObjectId) -> bool:
        """True if the object's bytes were hashed since its file last changed (stat-keyed)."""
        p = self.path(oid)
        try:
            st = p.stat()
        except FileNotFoundError:
            return False
        return self.state.lookup(os.fspath(p), oid.algo, st, racy_ok=True) == oid.digest

    def verify(self, oid: ObjectId) -> bool:
        """Re-hash the object; True if its bytes match its id (and remember that)."""
        p = self.path(oid)
        st = p.stat()
        digest, _ = hash_file(p, oid.algo)
        if digest == oid.digest:
            self.state.record(os.fspath(p), oid.algo, st, digest)
            self.state.flush()
            return True
        return False

    def stream_verified(self, oid: ObjectId, write: Callable[[bytes], object]) -> int:
        """Send the object's bytes to ``write``; raise CorruptObjectError at the end if they
        do not match the id (the caller must then discard what it received)."""
        from gitext.hashing import new_hasher

        p = self.path(oid)
        trusted = self.is_verified(oid)
        h = None if trusted else new_hasher(oid.algo)
        size = 0
        with self.open(oid) as f:
            st = os.fstat(f.fileno())
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                if h is not None:
                    h.update(chunk)
                size += len(chunk)
                write(chunk)
        if h is not None:
            if h.hexdigest() != oid.digest:
                raise CorruptObjectError(
                    f"cached object {oid} is corrupt (its bytes hash to {h.hexdigest()[:12]}…)",
                    hint="run 'git archives fsck' to quarantine it, then 'git archives pull'",
                )
            self.state.record(os.fspath(p), oid.algo, st, oid.digest)
        return size

    def checkout_to(self, oid: ObjectId, dest: Path, *, hardlink: bool = False) -> None:
        """Place a verified copy (or a hard link to the read-only object) at ``dest``,
        atomically: a temp file in dest's folder, then rename."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        tmp = Path(name)
        try:
            linked = False
            if hardlink and self.is_verified(oid):
                os.close(fd)
                tmp.unlink()
                try:
                    os.link(self.path(oid), tmp)
                    linked = True
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                        raise
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            if not linked:
                with os.fdopen(fd, "wb") as out:
                    self.stream_verified(oid, out.write)
                # mkstemp makes 0600 files; a checked-out file gets the usual umask mode.
                mask = os.umask(0)
                os.umask(mask)
                os.chmod(tmp, 0o666 & ~mask)
            os.replace(tmp, dest)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise StoreWriteError(
                f"cannot write {dest}: {exc.strerror or exc}",
                hint="free disk space or fix permissions, then run 'git archives pull' again",
            ) from exc
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        self.state.flush()

    # -- repair ---------------------------------------------------------------------------
    def quarantine(self, oid: ObjectId) -> Path:
        """Move a corrupt object aside (never delete it: it may be all there is)."""
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / f"{oid.algo}-{oid.digest}-{int(time.time())}"
        os.replace(self.path(oid), target)
        return target

    def stale_temp_files(self, older_than: float = 3600.0) -> list[Path]:
        """Temp files left by a killed writer (older than ``older_than`` seconds)."""
        if not self.tmp.is_dir():
            return []
        now = time.time()
        out = []
        for p in self.tmp.iterdir():
            try:
                if now - p.stat().st_mtime > older_than:
                    out.append(p)
            except FileNotFoundError:
                continue
        return out

    def copy_out(self, oid: ObjectId, dst: BinaryIO) -> int:
        """Copy verified bytes to an open file."""
        return self.stream_verified(oid, dst.write)


def _kernel_copy(src: int, dst: int, size: int) -> None:
    offset = 0
    use_cfr = hasattr(os, "copy_file_range")
    while offset < size:
        if use_cfr:
            try:
                n = os.copy_file_range(src, dst, size - offset, offset, offset)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                use_cfr = False
                continue
        else:
            chunk = os.pread(src, min(CHUNK, size - offset), offset)
            n = os.pwrite(dst, chunk, offset) if chunk else 0
        if n == 0:
            raise OSError(errno.EIO, f"the file shrank while being copied ({offset} of {size})")
        offset += n


def remove_tree_safely(path: Path) -> None:
    """rmtree that copes with our read-only objects."""

    def onerror(func: Callable[..., object], p: str, _exc: object) -> None:
        os.chmod(p, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(p)

    shutil.rmtree(path, onerror=onerror)
