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
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from gitext.codec.hashing import CHUNK, ObjectId, copy_and_hash, hash_file, new_hasher
from gitext.errors import ArchivesError, CorruptObjectError, ObjectNotFoundError
from gitext.store.state import StateCache

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
        self._root_s = os.fspath(root)
        self._to_sync: collections.deque[ObjectId] = collections.deque()
        self._sync_wanted = threading.Event()
        self._syncer: threading.Thread | None = None
        self._dirs: set[str] = set()  # folders known to exist
        self._verified: set[ObjectId] = set()  # objects are immutable: remember per process
        self._behind: _WriteBehind | None = None

    @property
    def state(self) -> StateCache:
        if self._state is None:
            self._state = StateCache(self.root / "state.db")
        return self._state

    # -- lookup ---------------------------------------------------------------------------
    def path(self, oid: ObjectId) -> Path:
        return self.root / oid.key

    def _spath(self, oid: ObjectId) -> str:
        """The object's path as a string (the add hot path avoids pathlib's overhead)."""
        return os.path.join(self._root_s, oid.key)

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
                        continue  # not an object (e.g. a DVC .dir manifest: gitext.store.manifests)

    # -- writing --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _incoming(self) -> Iterator[tuple[int, Path]]:
        """A new temp file in ``tmp/`` (fd, path) that is gone afterwards unless published;
        OS errors become one clear StoreWriteError. The caller closes the fd."""
        try:
            self._ensure_dir(self.tmp)
            fd, name = tempfile.mkstemp(dir=self.tmp, prefix="incoming-")
            tmp_path = Path(name)
            try:
                yield fd, tmp_path
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp_path.unlink()
        except OSError as exc:
            raise StoreWriteError(
                f"cannot write to the store {self.root}: {exc.strerror or exc}",
                hint="free disk space or fix permissions, then retry",
            ) from exc

    def _publish(self, tmp_path: Path, oid: ObjectId, size: int, *,
                 background: bool) -> tuple[ObjectId, int]:
        """Make a complete temp file the object ``oid`` (unless it is already stored)."""
        if self._already_stored(oid, size):
            return oid, size
        if not background:
            fd = os.open(tmp_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._rename_into_place(tmp_path, oid)
        self._record_verified(oid)
        if background:
            self._sync_later(oid)
        return oid, size

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
        ``background`` the object is renamed into place at once and made durable by a
        daemon thread (see "durability in the background" below)."""
        with self._incoming() as (fd, tmp_path):
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
            return self._publish(tmp_path, oid, size, background=background)

    def add_bytes(self, data: bytes, algo: str, *,
                  background: bool = False) -> tuple[ObjectId, int]:
        """Store content already in memory (small files: no buffered writer, one write)."""
        h = new_hasher(algo)
        h.update(data)
        oid = ObjectId(algo, h.hexdigest())
        if self._already_stored(oid, len(data)):
            return oid, len(data)
        with self._incoming() as (fd, tmp_path):
            _write_all_and_close(fd, data)
            return self._publish(tmp_path, oid, len(data), background=background)

    # -- write-behind (the clean filter's small files) ------------------------------------
    # git waits for each clean answer before it sends the next file, so writing a small
    # object before answering puts the write on the critical path. ``add_bytes_behind``
    # hashes at once (the answer needs the id) and hands the bytes to a writer thread that
    # works while git reads the next file. Nothing is claimed before it is on disk: the
    # object's "verified" record and the work-tree rows ``after_write`` asks for are
    # written by the caller's thread once the writer reports the object stored.
    def add_bytes_behind(self, data: bytes, algo: str, *, label: str = "",
                         after_write: Callable[[ObjectId], None] | None = None
                         ) -> tuple[ObjectId, int]:
        h = new_hasher(algo)
        h.update(data)
        oid = ObjectId(algo, h.hexdigest())
        behind = self._behind
        if behind is None:
            # The first object is written here, so that a store that cannot be written
            # (permissions, a read-only mount) fails this very file, not a later one.
            result = self.add_bytes(data, algo, background=True)
            if after_write is not None:
                after_write(oid)
            self._behind = _WriteBehind(self)
            return result
        behind.collect()
        if behind.in_flight(oid):
            behind.also(oid, label, after_write)
            return oid, len(data)
        if self._already_stored(oid, len(data)):
            if after_write is not None:
                after_write(oid)
            return oid, len(data)
        if not behind.room_for(len(data)):
            # Little free space: write now, so a full disk fails this file.
            result = self.add_bytes(data, algo, background=True)
            if after_write is not None:
                after_write(oid)
            return result
        behind.submit(oid, data, label, after_write)
        return oid, len(data)

    UNSTORED = "unstored"  # lines "<algo>:<digest>\t<path>\t<why>"

    def note_unstored(self, items: list[tuple[ObjectId, str]], why: str) -> None:
        """Remember files that git was answered a pointer for but whose object could not be
        written, so the pre-commit hook can refuse to commit those pointers."""
        if not items:
            return
        text = "".join(f"{oid.algo}:{oid.digest}\t{path}\t{why}\n".replace("\r", " ")
                       for oid, path in items)
        with contextlib.suppress(OSError), open(self.root / self.UNSTORED, "a",
                                                encoding="utf-8",
                                                errors="surrogateescape") as f:
            f.write(text)

    def finish_writes(self) -> None:
        """Wait for objects handed to the writer thread; raise StoreWriteError naming the
        first that could not be stored (its work-tree rows were not recorded)."""
        if self._behind is not None:
            self._behind.drain()

    def _write_now(self, oid: ObjectId, data: bytes) -> None:
        with self._incoming() as (fd, tmp_path):
            _write_all_and_close(fd, data)
            # (no freshening here: this thread must not touch state.db)
            if not self._already_stored(oid, len(data), freshen=False):
                self._rename_into_place(tmp_path, oid)
                self._sync_later(oid)

    def _ensure_dir(self, path: str | Path) -> None:
        key = os.fspath(path)
        if key not in self._dirs:
            os.makedirs(key, exist_ok=True)
            self._dirs.add(key)

    def add_copy_of(self, fd: int, size: int, algo: str, *,
                    background: bool = False) -> tuple[ObjectId, int]:
        """Store a copy of the open file ``fd`` made in the kernel (copy_file_range: no
        trip through user space; a reflink on filesystems that have them), then hash the
        stored copy itself, so the id always describes the object's own bytes."""
        with self._incoming() as (out_fd, tmp_path):
            try:
                kernel_copy(fd, out_fd, size)
            finally:
                os.close(out_fd)
            digest, stored = hash_file(tmp_path, algo)
            if stored != size:
                raise OSError(errno.EIO, f"copied {stored} of {size} bytes")
            return self._publish(tmp_path, ObjectId(algo, digest), size, background=background)

    # -- durability in the background ------------------------------------------------------
    # With ``background``, a new object is renamed into place at once and made durable by a
    # daemon thread (one sync(2) for a burst of objects, an fsync each otherwise). The object
    # is recorded as verified at once, keyed by its file's stat: a crash before the data
    # reaches the disk leaves a file whose size differs from the record (filesystems that
    # order data before size updates — ext4's default data=ordered, XFS, btrfs, APFS), so it
    # is re-hashed, found torn, and never served. What a crash can cost is an object written
    # in the last seconds — as with git's own loose objects, which git does not fsync.
    def _already_stored(self, oid: ObjectId, size: int, *, freshen: bool = True) -> bool:
        final = self._spath(oid)
        try:
            st = os.stat(final)
        except FileNotFoundError:
            return False
        if st.st_size == size:
            if freshen:
                self._freshen(final, oid, st)
            return True
        # A torn object (a crash before its data reached the disk): replace it.
        with contextlib.suppress(OSError):
            os.chmod(final, stat.S_IWUSR | READ_ONLY)
            os.unlink(final)
        return False

    FRESHEN_AFTER = 600.0

    def _freshen(self, final: str, oid: ObjectId, st: os.stat_result) -> None:
        """Stored again: protect the object from gc's grace period as a new write would (git
        freshens loose objects likewise). chmod to its own mode sets the ctime, which gc
        reads; the stat-keyed verified record is carried over to the new stat."""
        if time.time() - max(st.st_mtime, st.st_ctime) < self.FRESHEN_AFTER:
            return
        verified = self.is_verified(oid)
        with contextlib.suppress(OSError):
            os.chmod(final, stat.S_IMODE(st.st_mode))
            if verified:
                self.state.record(final, oid.algo, os.stat(final), oid.digest)

    def _sync_later(self, oid: ObjectId) -> None:
        if self._syncer is None:
            self._syncer = threading.Thread(target=self._sync_loop, name="store-fsync",
                                            daemon=True)
            self._syncer.start()
        self._to_sync.append(oid)  # no wake-up per object: the syncer works in batches
        if not self._sync_wanted.is_set():
            self._sync_wanted.set()

    def _sync_loop(self) -> None:
        while True:
            self._sync_wanted.wait()
            # Gather what arrives in the next moment: many small objects (a `git add` of a
            # folder) are made durable by one sync(2) instead of one journal commit each,
            # which would stall the main thread's creates and renames.
            time.sleep(0.5)
            self._sync_wanted.clear()
            batch = []
            while self._to_sync:
                batch.append(self._to_sync.popleft())
            if not batch:
                continue
            if len(batch) > 16 and hasattr(os, "sync"):
                os.sync()
                continue
            for oid in batch:
                try:
                    fd = os.open(self._spath(oid), os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                except OSError:
                    continue  # the kernel writes it back anyway; nothing else to do

    def add_file(self, path: Path, algo: str, *,
                 expected: ObjectId | None = None) -> tuple[ObjectId, int]:
        with open(path, "rb") as f:
            return self.add_stream(f, algo, expected=expected)

    def _rename_into_place(self, tmp_path: Path, oid: ObjectId) -> None:
        # Replacing an object another writer stored meanwhile is harmless: same bytes.
        final = self._spath(oid)
        self._ensure_dir(os.path.dirname(final))
        os.chmod(tmp_path, READ_ONLY)
        try:
            os.replace(tmp_path, final)
        except PermissionError:
            if not os.path.isfile(final):  # Windows refuses to replace a read-only file
                raise

    def _record_verified(self, oid: ObjectId) -> None:
        # The bytes were hashed on their way in: remember the object as verified.
        final = self._spath(oid)
        with contextlib.suppress(FileNotFoundError):
            self.state.record(final, oid.algo, os.stat(final), oid.digest)

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
        if oid in self._verified:
            return True
        p = self.path(oid)
        try:
            st = p.stat()
        except FileNotFoundError:
            return False
        if self.state.lookup(self._spath(oid), oid.algo, st, racy_ok=True) == oid.digest:
            self._verified.add(oid)
            return True
        return False

    def verify(self, oid: ObjectId) -> bool:
        """Re-hash the object; True if its bytes match its id (and remember that)."""
        p = self.path(oid)
        st = p.stat()
        digest, _ = hash_file(p, oid.algo)
        if digest == oid.digest:
            self.state.record(self._spath(oid), oid.algo, st, digest)
            self.state.flush()
            return True
        return False

    def stream_verified(self, oid: ObjectId, write: Callable[[bytes], object]) -> int:
        """Send the object's bytes to ``write``; raise CorruptObjectError at the end if they
        do not match the id (the caller must then discard what it received)."""
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
            self.state.record(self._spath(oid), oid.algo, st, oid.digest)
        return size

    # -- repair ---------------------------------------------------------------------------
    def quarantine(self, oid: ObjectId) -> Path:
        """Move a corrupt object aside (never delete it: it may be all there is)."""
        self._verified.discard(oid)
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


def kernel_copy(src: int, dst: int, size: int) -> None:
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


# A large file written for the user (a pull filling the work tree) goes past the page
# cache with O_DIRECT (design note 18). On virtual machines whose free memory is handed back
# to the host, every new page-cache page costs a fault on the host: buffered writes then
# run at ~3 s a GB here, direct ones at the disk's speed. Small files stay buffered: a
# synchronous write each would cost a disk round trip per file (a seek on a hard disk).
DIRECT_MIN = 16 << 20
_DIRECT_ALIGN = 4096  # offsets and lengths of direct writes (any logical block up to 4 KiB)
_DIRECT_BUF = 8 << 20
_direct_buffers = threading.local()


def direct_copy(src: int, dst: int, size: int) -> bool:
    """Copy ``size`` bytes of ``src`` into the empty file ``dst`` past the page cache.

    Returns False where the platform or filesystem refuses O_DIRECT; the caller then
    copies the whole file another way (at the same offsets, over anything written here).
    The last partial block is written through the page cache. Raises OSError as a copy
    would (ENOSPC, EIO, a file that shrank)."""
    if not hasattr(os, "O_DIRECT"):
        return False
    import fcntl

    flags = fcntl.fcntl(dst, fcntl.F_GETFL)
    try:
        fcntl.fcntl(dst, fcntl.F_SETFL, flags | os.O_DIRECT)
    except OSError:
        return False
    view = getattr(_direct_buffers, "view", None)
    if view is None:  # one page-aligned buffer per thread, touched once and reused
        import mmap

        view = _direct_buffers.view = memoryview(mmap.mmap(-1, _DIRECT_BUF))
    direct = True
    offset = 0
    try:
        while offset < size:
            n = os.preadv(src, [view[:min(_DIRECT_BUF, size - offset)]], offset)
            if n == 0:
                raise OSError(errno.EIO, f"the file shrank while being copied ({offset} of "
                                         f"{size})")
            aligned = n - n % _DIRECT_ALIGN if direct else 0
            if aligned:
                try:
                    _pwrite_all(dst, view[:aligned], offset)
                except OSError as exc:
                    if exc.errno == errno.EINVAL and offset == 0:
                        return False  # this filesystem's alignment rules: copy another way
                    raise
            if aligned < n:  # the tail (or a short read): the rest goes through the cache
                if direct:
                    fcntl.fcntl(dst, fcntl.F_SETFL, flags)
                    direct = False
                _pwrite_all(dst, view[aligned:n], offset + aligned)
            offset += n
    finally:
        if direct:
            fcntl.fcntl(dst, fcntl.F_SETFL, flags)
    return True


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data = data[n:]
        offset += n


def remove_tree_safely(path: Path) -> None:
    """rmtree that copes with our read-only objects."""

    def onerror(func: Callable[..., object], p: str, _exc: object) -> None:
        os.chmod(p, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(p)

    shutil.rmtree(path, onerror=onerror)


def _write_all_and_close(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


class _WriteBehind:
    """One writer thread for :meth:`LocalStore.add_bytes_behind`, holding at most
    ``LIMIT`` bytes; results are taken back on the caller's thread (state.db is not
    shared across threads)."""

    LIMIT = 32 << 20  # keeps the filter process well under ~100 MB of RSS
    RESERVE = 1 << 30  # below this much free space, writes happen synchronously

    def __init__(self, store: LocalStore) -> None:
        import queue

        self.store = store
        self.queue: queue.Queue[tuple[ObjectId, bytes] | None] = queue.Queue()
        self.lock = threading.Condition()
        self.pending_bytes = 0
        self.waiters: dict[ObjectId, list[tuple[str, Callable[[ObjectId], None] | None]]] = {}
        self.done: collections.deque[tuple[ObjectId, BaseException | None]] = \
            collections.deque()
        self.free_checked_at = 0.0
        self.free = 0
        self.thread = threading.Thread(target=self._run, name="store-write-behind",
                                       daemon=True)
        self.thread.start()

    def in_flight(self, oid: ObjectId) -> bool:
        return oid in self.waiters

    def also(self, oid: ObjectId, label: str,
             after_write: Callable[[ObjectId], None] | None) -> None:
        self.waiters[oid].append((label, after_write))

    def room_for(self, size: int) -> bool:
        now = time.monotonic()
        if now - self.free_checked_at > 0.5:
            try:
                st = os.statvfs(self.store.root)
                self.free = st.f_bavail * st.f_frsize
            except (OSError, AttributeError):
                self.free = 0
            self.free_checked_at = now
        return self.free - self.pending_bytes - size > self.RESERVE

    def submit(self, oid: ObjectId, data: bytes, label: str,
               after_write: Callable[[ObjectId], None] | None) -> None:
        with self.lock:
            while self.pending_bytes and self.pending_bytes + len(data) > self.LIMIT:
                self.lock.wait()
            self.pending_bytes += len(data)
        self.waiters[oid] = [(label, after_write)]
        self.queue.put((oid, data))

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            oid, data = item
            error: BaseException | None = RuntimeError("the writer thread failed")
            try:
                self.store._write_now(oid, data)
                error = None
            except (OSError, ArchivesError) as exc:  # reported on the caller's thread
                error = exc
            finally:
                with self.lock:
                    self.pending_bytes -= len(data)
                    self.done.append((oid, error))
                    self.lock.notify_all()

    def collect(self) -> None:
        """Take the writer's results: record verified objects and run their callbacks."""
        failed: list[str] = []
        unstored: list[tuple[ObjectId, str]] = []
        why = ""
        while self.done:
            oid, error = self.done.popleft()
            callbacks = self.waiters.pop(oid, [])
            if error is not None:
                failed += [label or str(oid) for label, _ in callbacks]
                unstored += [(oid, label) for label, _ in callbacks if label]
                why = why or (error.message if isinstance(error, ArchivesError) else (
                    getattr(error, "strerror", None) or str(error)))
                continue
            self.store._record_verified(oid)
            for _, cb in callbacks:
                if cb is not None:
                    cb(oid)
        if failed:
            self.store.note_unstored(unstored, why)
            names = " ".join(failed[:5]) + (" …" if len(failed) > 5 else "")
            raise StoreWriteError(
                f"could not store the content of {names} in {self.store.root}: {why}; "
                "they were staged as pointers whose content is not cached",
                hint="free disk space or fix permissions, then 'git add --renormalize' "
                     "those files (their content is still in the work tree)")

    def drain(self) -> None:
        with self.lock:
            while self.pending_bytes:
                self.lock.wait()
        self.collect()
