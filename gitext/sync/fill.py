"""Filling the work tree after a pull, without git's smudge path.

``git checkout`` of a pointer file sends the object through the smudge filter, and git
holds each file's whole content in memory before writing it: for gigabytes that is three
copies and as many fresh pages. After a pull we write the files ourselves instead (a
kernel copy from the cache of an object known to be verified) and record their new stat
data in the index, so git sees them clean without cleaning them again. The index is held
locked (``index.lock``, as git does) from before the first file is written until the
patched index is renamed into place. Anything unusual (a split or sparse index, an index
extension we do not know, the lock taken, an object not verified) leaves those files to
the caller's ``git checkout`` path.

:class:`InPlaceFill` does it while the fetch runs (each object placed as soon as it is
verified); :func:`fill_in_place` for objects already cached. The index format itself is
:mod:`gitext.git.index`.

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitext.codec.hashing import ObjectId, hash_file
from gitext.fs.atomic import write_all
from gitext.fs.worktree import WorkTree
from gitext.git.index import IndexFormatError, index_entries, patch_stat, rewrite_checksum
from gitext.git.indexlock import clear_owner, note_owner
from gitext.git.repo import Repo
from gitext.store.objects import LocalStore

if TYPE_CHECKING:
    from gitext.codec.pointer import Pointer
    from gitext.sync.pointers import TrackedPointer

@dataclass
class DirectFill:
    filled: list[str] = field(default_factory=list)    # paths now holding their content
    left: list[str] = field(default_factory=list)      # candidates for the git path
    missing: list[str] = field(default_factory=list)   # objects not in the cache



def _write_object_to(store: LocalStore, oid: ObjectId, size: int, wt: WorkTree, rel: str, *,
                     executable: bool, direct: bool = True, pointer: Pointer | None = None,
                     umask: int = 0o022) -> os.stat_result | None:
    """Place a copy of a verified object at the repository path ``rel`` through the one way
    into the work tree (:class:`gitext.fs.worktree.WorkTree`): a new file beside it (made with
    the umask's mode, as git makes files), the bytes copied in the kernel — or, for a large
    object with ``direct``, past the page cache (:func:`gitext.store.objects.direct_copy`) —
    then moved onto ``rel``. With ``pointer``, a file at ``rel`` that holds exactly it is
    refilled in its own inode instead (:func:`gitext.fs.refill.refill`), its mode set as
    git would make a new file under ``umask``; if it no longer holds it, it is left alone
    and None returned. Returns the placed file's stat. Raises OSError or UnsafePathError;
    the temp file never survives."""
    from gitext.store.fastcopy import DIRECT_MIN, direct_copy, kernel_copy

    def fill(fd: int) -> None:
        if store.is_chunked(oid):  # rebuilt from its chunks and verified on the way
            store.stream_verified(oid, lambda b: write_all(fd, b))
            return
        src = os.open(store.path(oid), os.O_RDONLY)
        try:
            if not (direct and size >= DIRECT_MIN and direct_copy(src, fd, size)):
                kernel_copy(src, fd, size)
        finally:
            os.close(src)

    if pointer is not None:
        from gitext.codec.pointer import MAX_POINTER_SIZE
        from gitext.fs.refill import refill
        from gitext.sync.pointers import is_pointer_bytes, worktree_is_pointer

        def holds(_st: os.stat_result, data: bytes) -> bool:
            return is_pointer_bytes(data, pointer)

        def refilled(fd: int) -> None:
            os.fchmod(fd, (0o777 if executable else 0o666) & ~umask)
            fill(fd)

        st = refill(wt, rel, holds, refilled, limit=MAX_POINTER_SIZE, size=size)
        if st is not None or not worktree_is_pointer(wt.path(rel), pointer):
            return st
    return wt.write(rel, fill, mode=0o777 if executable else 0o666)


class InPlaceFill:
    """Fill pointer files in place, possibly while their objects are still arriving.

    ``start()`` picks the work-tree files that are exactly their pointer, takes
    ``index.lock`` and reads the index; ``object_ready(oid)`` (from any thread: a fetch
    calls it for each object it has just verified) starts copying that object to the files
    waiting for it; ``finish()`` places the rest from the cache, waits, records the new stat
    data in the index and releases the lock. ``abort()`` releases the lock without writing
    the index (files already placed hold their right content; git re-cleans them once)."""

    def __init__(self, repo: Repo, store: LocalStore, paths: Sequence[str] | None = None, *,
                 jobs: int | None = None, direct: bool = True) -> None:
        self.repo = repo
        self.direct = direct  # large files past the page cache (config core.directio)
        self.store = store
        self.paths = paths
        self.result = DirectFill()
        # copying is bound by CPU and memory bandwidth: more threads than cores only
        # fight over the GIL
        self._workers = max(1, min(jobs or os.cpu_count() or 2, os.cpu_count() or 2, 16))
        self._waiting: dict[ObjectId, list[tuple[TrackedPointer, int]]] = {}
        self._guard = threading.Lock()
        self._done: list[tuple[str, int, os.stat_result]] = []
        self._errors: list[BaseException] = []
        self._futures: list[Future[None]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._lock_fd = -1
        self._data = bytearray()
        self._hash_len = 20
        self._lock_path = repo.git_dir / "index.lock"
        self._wt = WorkTree(repo.root)
        self._revive: set[str] = set()  # missing: a killed fill was writing them
        self._umask = 0o022

    # -- setup ------------------------------------------------------------------------------
    def start(self) -> None:
        from gitext.sync.pointers import index_pointers, worktree_pointer_state

        root = self.repo.root
        candidates, gone = [], []
        for tp in index_pointers(self.repo, self.paths or ()):
            if tp.pointer.size > 0:
                state = worktree_pointer_state(root / tp.path, tp.pointer)
                if state:
                    candidates.append(tp)
                elif state is None:  # missing
                    gone.append(tp)
        self._revive = _cut_short(root, gone)
        candidates += [tp for tp in gone if tp.path in self._revive]
        if not candidates:
            return
        if os.environ.get("GIT_INDEX_FILE"):
            self.result.left = [tp.path for tp in candidates]
            return
        self._remove_stale_temps(candidates)
        try:
            self._lock_fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                    0o666)
        except OSError:  # git is busy with this index: let git's own checkout wait its turn
            self.result.left = [tp.path for tp in candidates]
            return
        note_owner(self._lock_path)
        try:
            fmt = self.repo.git("rev-parse", "--show-object-format", check=False).stdout
            self._hash_len = 32 if fmt.strip() == b"sha256" else 20
            self._data = bytearray((self.repo.git_dir / "index").read_bytes())
            entries = index_entries(bytes(self._data), self._hash_len)
        except (OSError, IndexFormatError, ValueError, IndexError):
            self.result.left = [tp.path for tp in candidates]
            self.abort()
            return
        for tp in candidates:
            hit = entries.get(tp.path.encode("utf-8", "surrogateescape"))
            if hit is None or hit[1].hex() != tp.blob:
                self.result.left.append(tp.path)
                continue
            self._waiting.setdefault(tp.pointer.oid, []).append((tp, hit[0]))
        if self._waiting:
            from gitext.fs.refill import current_umask

            self._umask = current_umask()
            self._pool = ThreadPoolExecutor(max_workers=self._workers)
        else:
            self.abort()

    def _remove_stale_temps(self, candidates: list[TrackedPointer]) -> None:
        """Temp files that a killed pull left beside the files it was filling."""
        from gitext.fs.worktemps import stale_temps_in

        folders = {posixpath.dirname(tp.path) for tp in candidates}
        for folder in folders:
            for stale in stale_temps_in(self.repo.root / folder if folder else self.repo.root):
                with contextlib.suppress(OSError):
                    self._wt.remove(stale.relative_to(self.repo.root).as_posix())

    @property
    def active(self) -> bool:
        return self._pool is not None

    # -- placing ----------------------------------------------------------------------------
    def object_ready(self, oid: ObjectId) -> None:
        """``oid`` is in the cache and its bytes were just verified: start placing its
        files on the pool (measured: a little faster than placing them on the fetch
        worker's own thread, which then waits on the disk instead of fetching)."""
        with self._guard:
            items = self._waiting.pop(oid, None)
            if items is None or self._pool is None:
                return
            for item in items:
                self._futures.append(self._pool.submit(self._place, item))

    def _place(self, item: tuple[TrackedPointer, int]) -> None:
        tp, offset = item
        try:
            mode = int.from_bytes(self._data[offset + 24:offset + 28], "big")
            st = _write_object_to(self.store, tp.pointer.oid, tp.pointer.size, self._wt,
                                  tp.path, executable=bool(mode & 0o111),
                                  direct=self.direct, umask=self._umask,
                                  pointer=None if tp.path in self._revive else tp.pointer)
        except BaseException as exc:  # noqa: BLE001 - re-raised by finish()
            with self._guard:
                self._errors.append(exc)
            return
        if st is None:  # changed meanwhile: left alone
            return
        with self._guard:
            self._done.append((tp.path, offset, st))

    def _place_cached(self) -> None:
        """Start every file whose object was already cached (verified first: from the
        stat-keyed record, or hashed now in parallel; state.db stays on this thread)."""
        with self._guard:
            waiting = dict(self._waiting)
        present = [o for o in waiting if self.store.size(o) == waiting[o][0][0].pointer.size]
        cached = set(present)
        for o in waiting:
            if o not in cached:
                with self._guard:
                    items = self._waiting.pop(o, [])
                self.result.missing += [tp.path for tp, _ in items]
        unverified = [o for o in present
                      if not self.store.is_verified(o) and not self.store.is_chunked(o)]
        bad: set[ObjectId] = {o for o in present if self.store.is_chunked(o)
                              and not self.store.is_verified(o) and not self.store.verify(o)}
        if unverified:
            with ThreadPoolExecutor(max_workers=self._workers) as pool:
                sums = dict(zip(unverified, pool.map(
                    lambda o: hash_file(self.store.path(o), o.algo)[0], unverified),
                    strict=True))
            for oid, digest in sums.items():
                if digest != oid.digest:
                    bad.add(oid)
                    continue
                with contextlib.suppress(OSError):
                    path = self.store.path(oid)
                    self.store.state.record(os.fspath(path), oid.algo, path.stat(), digest)
            self.store.state.flush()
        for oid in present:
            if oid in bad:  # smudge quarantines it and says so
                with self._guard:
                    items = self._waiting.pop(oid, [])
                self.result.left += [tp.path for tp, _ in items]
            else:
                self.object_ready(oid)

    # -- ending -----------------------------------------------------------------------------
    def finish(self) -> DirectFill:
        from gitext.sync.pointers import PendingPointers

        if self._pool is None:
            return self.result
        try:
            self._place_cached()
            while True:
                with self._guard:
                    pending = list(self._futures)
                    self._futures.clear()
                if not pending:
                    break
                for fut in pending:
                    fut.result()
            self._pool.shutdown(wait=True)
            self._pool = None
            for path, offset, st in self._done:
                patch_stat(self._data, offset, st)
                self.result.filled.append(path)
            if self._done:
                self._write_index()
        finally:
            self.abort()
            if self.result.filled:
                PendingPointers(self.store.state).remove_many(
                    os.fspath(self.repo.root / p) for p in self.result.filled)
        if self._errors:
            raise self._errors[0]
        return self.result

    def _write_index(self) -> None:
        """Seal the patched index, write it into ``index.lock`` and rename it into place."""
        rewrite_checksum(self._data, self._hash_len)
        write_all(self._lock_fd, self._data)
        os.close(self._lock_fd)
        self._lock_fd = -1
        os.replace(self._lock_path, self.repo.git_dir / "index")
        clear_owner(self._lock_path)

    def abort(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._wt.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
            with contextlib.suppress(FileNotFoundError):
                self._lock_path.unlink()
            clear_owner(self._lock_path)
        # files never started go through git checkout
        with self._guard:
            for items in self._waiting.values():
                self.result.left += [tp.path for tp, _ in items]
            self._waiting.clear()


def _cut_short(root: Path, gone: list[TrackedPointer]) -> set[str]:
    """The paths among ``gone`` (pointers in the index, missing from the work tree) that a
    killed fill was writing: their folder holds a temp file of a process no longer running
    (:func:`gitext.fs.refill.refill` moves a file under such a name while it writes it)."""
    from gitext.fs.worktemps import stale_temps_in

    cut: set[str] = set()
    stale: dict[str, bool] = {}
    for tp in gone:
        folder = posixpath.dirname(tp.path)
        if folder not in stale:
            stale[folder] = next(stale_temps_in(root / folder if folder else root), None) \
                is not None
        if stale[folder]:
            cut.add(tp.path)
    return cut


def fill_in_place(repo: Repo, store: LocalStore, paths: Sequence[str] | None = None, *,
                  jobs: int | None = None, direct: bool = True) -> DirectFill:
    """Replace work-tree files that are exactly their pointer and whose object is cached
    (and verified) with the content, and record their stat in the index. Files this cannot
    handle are listed in ``left`` for ``git checkout``; objects not cached in ``missing``."""
    fill = InPlaceFill(repo, store, paths, jobs=jobs, direct=direct)
    fill.start()
    return fill.finish()

