"""Objects made durable, or written, after the caller moved on.

Durability in the background (:class:`BackgroundSync`): with ``background``, a new object is
renamed into place at once and made durable by a daemon thread (one sync(2) for a burst of
objects, an fsync each otherwise). The object is recorded as verified at once, keyed by its
file's stat: a crash before the data reaches the disk leaves a file whose size differs from
the record (filesystems that order data before size updates — ext4's default data=ordered,
XFS, btrfs, APFS), so it is re-hashed, found torn, and never served. What a crash can cost
is an object written in the last seconds — as with git's own loose objects, which git does
not fsync.

Write-behind (:class:`WriteBehind`, the clean filter's small files): git waits for each
clean answer before it sends the next file, so writing a small object before answering puts
the write on the critical path. :meth:`LocalStore.add_bytes_behind
<gitext.store.objects.LocalStore.add_bytes_behind>` hashes at once (the answer needs the id)
and hands the bytes to a writer thread that works while git reads the next file. Nothing is
claimed before it is on disk: the object's "verified" record and the work-tree rows
``after_write`` asks for are written by the caller's thread once the writer reports the
object stored. An object that could not be written is noted in :mod:`gitext.store.unstored`.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError, StoreWriteError
from gitext.store import unstored as unstored_note

if TYPE_CHECKING:
    from gitext.store.objects import LocalStore


class BackgroundSync:
    """One daemon thread that fsyncs (or sync(2)s) objects already renamed into place."""

    def __init__(self, path_of: Callable[[ObjectId], str]) -> None:
        self._path_of = path_of
        self._to_sync: collections.deque[ObjectId] = collections.deque()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, oid: ObjectId) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="store-fsync",
                                            daemon=True)
            self._thread.start()
        self._to_sync.append(oid)  # no wake-up per object: the syncer works in batches
        if not self._wanted.is_set():
            self._wanted.set()

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            # Gather what arrives in the next moment: many small objects (a `git add` of a
            # folder) are made durable by one sync(2) instead of one journal commit each,
            # which would stall the main thread's creates and renames.
            time.sleep(0.5)
            self._wanted.clear()
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
                    fd = os.open(self._path_of(oid), os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                except OSError:
                    continue  # the kernel writes it back anyway; nothing else to do


class WriteBehind:
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
            unstored_note.append(self.store.root, unstored, why)
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
