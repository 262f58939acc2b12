"""One object from a remote into the local cache, verified on the way.

Every fetched object is hashed and compared with its id before it gets its name in the
cache (``files/<algo>/<ab>/<rest>``), so nothing unverified is ever visible there and an
interrupted fetch leaves only temp files in the cache's ``tmp/``.
:mod:`gitext.sync.transfer` runs :func:`download_verified` for each object it fetches.
(Tried and measured slower: holding small objects in memory to hash them before their one
write — design note 57.)

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from gitext.codec.hashing import ObjectId, hash_file_stat, new_hasher
from gitext.errors import (
    ArchivesError,
    CorruptObjectError,
    ObjectMissingError,
    RemoteError,
    StoreWriteError,
)
from gitext.remotes import Remote
from gitext.remotes.backend import AheadReads
from gitext.store.objects import READ_ONLY, LocalStore
from gitext.sync.transferbase import ProgressSink, TransferItem, TransferReport


def _commit_fetched(store: LocalStore, tmp: Path,
                    item: TransferItem) -> tuple[Path, os.stat_result]:
    """Verify ``tmp`` against the id, then make it read-only and rename it into place.
    Returns the object's path and stat (taken after the rename, which sets the ctime)."""
    digest, _size, st = hash_file_stat(tmp, item.oid.algo)
    if item.manifest:
        from gitext.store.manifests import parse_manifest

        data = tmp.read_bytes()
        ok = digest == item.oid.digest
        if ok:
            try:
                parse_manifest(data, where=f"remote manifest {item.oid.digest}.dir")
            except CorruptObjectError as exc:  # intact bytes, hostile or broken content
                raise ArchivesError(f"refused: {exc.message}", hint=exc.hint) from None
    else:
        ok = digest == item.oid.digest
    if not ok:
        raise CorruptObjectError(f"remote object {item.oid} hashes to {digest[:12]}…: refused")
    final = store.key_path(item.key)
    if (st.st_mode & 0o777) != READ_ONLY:
        with contextlib.suppress(OSError):  # a hard link shares the remote's inode and mode
            os.chmod(tmp, READ_ONLY)
    return final, _into_place(tmp, final)


def _into_place(tmp: Path, final: Path) -> os.stat_result:
    """Rename a verified, read-only temp file to its object path; the object's stat
    (taken after the rename, which sets the ctime)."""
    try:
        os.replace(tmp, final)
    except FileNotFoundError:  # the first object under this prefix
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
    return os.stat(final)


def download_verified(store: LocalStore, remote: Remote, item: TransferItem, tmp: Path, *,
                       sizes: dict[ObjectId, int], progress: ProgressSink | None,
                       ) -> tuple[int, Path, os.stat_result]:
    """Download ``item`` and commit it to the cache once verified, through ``tmp``:
    (bytes, the object's path, its stat). ``tmp`` never survives; a local write failure
    (disk full) becomes :class:`StoreWriteError`, any other OS error a
    :class:`RemoteError`."""
    try:
        size = remote.backend.get(item.key, tmp, progress.advance if progress else None,
                                  size=None if item.manifest else sizes.get(item.oid))
        final, st = _commit_fetched(store, tmp, item)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # (after a successful rename there is nothing to remove)
        if not isinstance(exc, OSError):
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES):
            raise _write_failed(store, exc) from None
        raise RemoteError(f"{item.oid}: {exc.strerror or exc}") from None
    return size, final, st


def _write_failed(store: LocalStore, exc: OSError) -> StoreWriteError:
    return StoreWriteError(
        f"cannot write into the local cache {store.root}: {exc.strerror or exc}",
        hint="free disk space (or 'git archives gc --workspace'), then pull again; "
             "nothing partial was kept")


class Downloads:
    """One fetch's downloads of whole objects, each verified into the cache by a worker
    thread (:meth:`one`); an object missing whole goes to ``as_chunks`` where that is
    set."""

    def __init__(self, store: LocalStore, remote: Remote, report: TransferReport, *,
                 sizes: dict[ObjectId, int], progress: ProgressSink | None,
                 on_object: Callable[[ObjectId], None] | None) -> None:
        self.store = store
        self.remote = remote
        self.report = report
        self.sizes = sizes
        self.progress = progress
        self.on_object = on_object
        self.as_chunks: AsChunks | None = None
        self.verified: list[tuple[Path, os.stat_result, ObjectId]] = []
        self._lock = threading.Lock()
        self._run_id = os.urandom(6).hex()  # (not uuid: its import costs every hook a few ms)
        self._names = itertools.count()

    def one(self, item: TransferItem) -> None:
        try:
            size, final, st = download_verified(self.store, self.remote, item, self._tmp(item),
                                                 sizes=self.sizes, progress=self.progress)
        except ObjectMissingError:
            if self.as_chunks is None or item.manifest:
                raise
            self.as_chunks.add(item)
            return
        self._done(item, size, final, st)

    def take_ahead(self, reads: AheadReads, todo: list[TransferItem]) -> list[TransferItem]:
        """Store each of ``todo`` that ``reads`` brings (verified in memory, written once,
        on this thread); return the others, still to fetch, in their order: those not read,
        and those whose bytes are not the object (fetched again, and reported as such)."""
        wanted = {i.key: i for i in todo}
        stored: set[str] = set()
        for key, data in reads:
            item = wanted.get(key)
            if item is not None and data is not None and self._store_bytes(item, data):
                stored.add(key)
        return [i for i in todo if i.key not in stored]

    def _store_bytes(self, item: TransferItem, data: bytes) -> bool:
        hasher = new_hasher(item.oid.algo)
        hasher.update(data)
        if hasher.hexdigest() != item.oid.digest:
            return False
        tmp, final = self._tmp(item), self.store.key_path(item.key)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.chmod(tmp, READ_ONLY)  # (a umask may have taken read bits; no fchmod on Windows)
            st = _into_place(tmp, final)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise _write_failed(self.store, exc) from None
        if self.progress is not None:
            self.progress.advance(len(data))
        self._done(item, len(data), final, st)
        return True

    def _tmp(self, item: TransferItem) -> Path:
        return self.store.tmp_dir(item.oid.algo) / f"fetch-{self._run_id}-{next(self._names)}"

    def _done(self, item: TransferItem, size: int, final: Path, st: os.stat_result) -> None:
        with self._lock:
            self.report.transferred.append(item.oid)
            self.report.bytes += size
            if not item.manifest:
                self.verified.append((final, st, item.oid))
        if self.on_object is not None and not item.manifest:
            self.on_object(item.oid)
        if self.progress is not None:
            self.progress.file_done()


class AsChunks:
    """Objects a remote that cannot be listed (http) lacks whole: each may be there as
    chunks, fetched on a thread of this class as soon as its whole download is found
    missing. The largest object is asked for first, so its chunks, rebuild and check
    overlap the rest of the fetch instead of following it (W12HTTP's 256 MiB file: ~0.3 s
    of a 2.4 s pull). Its own report is merged into the fetch's by :meth:`finish`."""

    def __init__(self, downloads: Downloads, *, jobs: int) -> None:
        self._dl = downloads  # (its store, remote, sizes, progress and on_object)
        self._jobs = jobs
        self._todo: queue.SimpleQueue[TransferItem | None] = queue.SimpleQueue()
        self._report = TransferReport("fetch")
        self._left: list[TransferItem] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="as-chunks", daemon=True)
        self._thread.start()

    def add(self, item: TransferItem) -> None:
        self._todo.put(item)

    def _run(self) -> None:
        from gitext.sync.chunksync import fetch_chunked

        while (item := self._todo.get()) is not None:
            if self._error is not None:
                self._left.append(item)
                continue
            try:
                dl = self._dl
                self._left += fetch_chunked(dl.store, dl.remote, [item], self._report,
                                            sizes=dl.sizes, jobs=self._jobs,
                                            progress=dl.progress, on_object=dl.on_object)
            except BaseException as exc:  # noqa: BLE001 - raised by finish()
                self._error = exc
                self._left.append(item)

    def finish(self, report: TransferReport) -> None:
        """Wait for the objects handed over; add what became of them to ``report`` (those
        not on the remote as chunks either are missing); raise what stopped them."""
        self._todo.put(None)
        self._thread.join()
        sub = self._report
        report.transferred += sub.transferred
        report.bytes += sub.bytes
        report.corrupt += sub.corrupt
        report.failed += sub.failed
        report.missing += sub.missing + [i.oid for i in self._left]
        if self._error is not None:
            raise self._error
