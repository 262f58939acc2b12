"""Push and fetch of chunked objects (issue 15): only the chunks the other side lacks.

Push, to a remote that can hold chunks (:func:`~gitext.remotes.backend.chunk_capable`: a
directory or an object store), of an object the local chunk store holds as a recipe:
the chunks the remote's index lacks are copied, as they are stored, into NEW packs built for
the upload; each pack is uploaded, then its idx, and only once every pack of the push is
on the remote are the recipes uploaded. A push killed at any point leaves at most packs
(with or without their idx) that no recipe names yet: the next push finds those chunks in
the remote's index and does not send them again.

Fetch of an object whose recipe the remote has: the recipe is read and checked, the
chunks missing locally are located in the remote's index and read with ranged reads
(neighbours coalesced, the reads in parallel), each record's header checked against the
idx, then added to the local chunk store (which checks each chunk's id); the recipe is
written locally last, and the whole file's sha256 checked by reading it back. An object the
remote has no recipe for is fetched whole, as before (an old remote).

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from gitext.codec.hashing import ObjectId
from gitext.codec.shellquote import shell_arg
from gitext.errors import ArchivesError, CorruptObjectError, ObjectMissingError, RemoteError
from gitext.remotes import Remote
from gitext.remotes.backend import can_list, links_from, read_bounded
from gitext.store.chunks import format as fmt
from gitext.store.chunks.store import ChunkStore
from gitext.store.objects import LocalStore
from gitext.sync.chunkremote import (
    MAX_RANGE,
    WHERE_LIMIT,
    PackWriter,
    RemoteIndex,
    Span,
    decode_recipe,
    pack_key,
    plan_ranges,
    present_as_recipes,
    read_span,
    recipe_key,
    remote_id,
    where_key,
)
from gitext.sync.transferbase import ProgressSink, TransferItem, TransferReport, run_parallel


def chunk_store(store: LocalStore) -> ChunkStore:
    return store.chunks


def remote_index(store: LocalStore, remote: Remote) -> RemoteIndex:
    return RemoteIndex(remote.backend, store.root / "chunks" / "remotes" / remote_id(remote.url))


def repair_hint(remote: Remote, delete: str | None = None) -> str:
    """What repairs the remote: a push from a clone that has the file uploads the chunks no
    sound pack holds (a truncated pack's count as absent) and a recipe the remote lacks; a
    pack damaged inside must first lose its idx there (a damaged recipe: itself)."""
    push = f"git archives push -r {shell_arg(remote.name)}"
    if delete is None:
        return f"the file stays a pointer here; from a clone that has it, run '{push}'"
    return (f"the file stays a pointer here; to repair the remote, delete {delete} there, "
            f"then run '{push}' in a clone that has the file")


# -- push -----------------------------------------------------------------------------------

def push_chunked(store: LocalStore, remote: Remote, items: Sequence[TransferItem],
                 report: TransferReport, *, jobs: int, progress: ProgressSink | None = None,
                 recipes_there: Collection[str] = ()) -> None:
    """Upload ``items`` (objects held locally as recipes) as new packs + idx + recipes.
    Items whose key is in ``recipes_there`` have their recipe on the remote already: only
    chunks of theirs that no sound pack holds go up (a repair), and no recipe."""
    chunks = chunk_store(store)
    index = remote_index(store, remote)
    index.refresh()
    need: dict[bytes, None] = {}
    ready: list[TransferItem] = []
    recipes: dict[ObjectId, fmt.Recipe] = {}
    there = index.chunks
    for item in items:
        recipe = recipes[item.oid] = chunks.read_recipe(item.oid)
        ids = [cid for cid, _len in recipe.chunks]
        if chunks.missing(ids):
            report.missing.append(item.oid)
            continue
        ready.append(item)
        need.update((cid, None) for cid in ids if cid not in there)
    store.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.tmp, prefix="chunk-push-") as tmp:
        sent, new = _upload_packs(chunks, remote, list(need), Path(tmp), jobs=jobs,
                                  progress=progress, keep_idx=index.cache_dir)
        index.load_packs(new)
        # where each recipe's chunks are, for a remote that cannot be listed (http),
        # rewritten when a repair moved some
        located = [i for i in ready if i.key not in recipes_there or need]
        report.bytes += _upload_where(remote, index, recipes, located, Path(tmp), jobs=jobs)
    report.bytes += sent
    _upload_recipes(chunks, remote, [i for i in ready if i.key not in recipes_there], report,
                    jobs=jobs, progress=progress)


def _upload_packs(chunks: ChunkStore, remote: Remote, need: list[bytes], folder: Path, *,
                  jobs: int, progress: ProgressSink | None,
                  keep_idx: Path) -> tuple[int, list[str]]:
    """Build packs of ``need`` (in recipe order: a later fetch reads them sequentially) and
    upload each as it is finished, pack before idx; at most ``jobs`` packs wait on disk.
    Each idx uploaded is kept in ``keep_idx`` (the remote index's cache). Returns (bytes
    sent, the new packs' ids)."""
    backend = remote.backend
    sent = 0
    lock = threading.Lock()
    new: list[str] = []

    def upload(done: tuple[str, Path, Path]) -> None:
        nonlocal sent
        pack, pack_path, idx_path = done
        try:
            for path, ext in ((pack_path, "pack"), (idx_path, "idx")):
                size = path.stat().st_size
                backend.put(pack_key(pack, ext), path, size,
                            progress.advance if progress else None)
                with lock:
                    sent += size
            keep_idx.mkdir(parents=True, exist_ok=True)
            os.replace(idx_path, keep_idx / f"{pack}.idx")
            with lock:
                new.append(pack)
        finally:
            pack_path.unlink(missing_ok=True)
            idx_path.unlink(missing_ok=True)

    writer = PackWriter(folder, durable=links_from(backend, folder))
    pending: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        try:
            for record in _local_records(chunks, need):
                done = writer.add(*record)
                if done is not None:
                    pending.append(pool.submit(upload, done))
                    _wait_below(pending, jobs)
            last = writer.close()
            if last is not None:
                pending.append(pool.submit(upload, last))
            for fut in pending:
                fut.result()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return sent, new


def _upload_where(remote: Remote, index: RemoteIndex, recipes: dict[ObjectId, fmt.Recipe],
                  items: list[TransferItem], folder: Path, *, jobs: int) -> int:
    """Upload each item's where-file (the packs holding its chunks); returns the bytes."""
    sent = 0
    lock = threading.Lock()

    def one(item: TransferItem) -> None:
        nonlocal sent
        packs = set()
        for cid, _len in recipes[item.oid].chunks:
            where = index.locate(cid)
            if where is None:
                raise ObjectMissingError(f"chunk {cid.hex()[:16]} of {item.oid} is not on "
                                         "the remote after the upload")
            packs.add(where.pack)
        path = folder / f"where-{item.oid.digest}"
        path.write_text("".join(f"{p}\n" for p in sorted(packs)), encoding="ascii")
        remote.backend.put(where_key(item.oid.digest), path, path.stat().st_size, None)
        with lock:
            sent += path.stat().st_size

    report = TransferReport("push")
    run_parallel(items, jobs, one, report)
    if not report.ok:  # (no recipe goes up without its where-file)
        why = report.failed[0][1] if report.failed else report.summary()
        raise RemoteError(f"{remote.url}: a where-file could not be uploaded: {why}",
                          hint="push again")
    return sent


def _wait_below(pending: list[Future[None]], limit: int) -> None:
    """Block until fewer than ``limit`` uploads are running; raise the first failure."""
    while sum(not f.done() for f in pending) >= max(1, limit):
        next(f for f in pending if not f.done()).result()
    for f in pending:
        if f.done():
            f.result()


def _local_records(chunks: ChunkStore, ids: list[bytes]
                   ) -> Iterator[tuple[bytes, int, int, bytes]]:
    """The records of ``ids`` as the local packs store them (not decompressed: copied as
    they are; the receiving side checks each id)."""
    files: dict[str, int] = {}
    try:
        for cid in ids:
            loc = chunks.locate(cid)
            if loc is None:
                raise ObjectMissingError(f"chunk {cid.hex()} is not in the local chunk store")
            pack, offset, raw_len, stored_len, flags = loc
            fd = files.get(pack)
            if fd is None:
                fd = files[pack] = os.open(chunks.root / "packs" / f"{pack}.pack", os.O_RDONLY)
            start = offset + fmt.RECORD_HEADER.size
            stored = os.pread(fd, stored_len, start)
            if len(stored) != stored_len:
                raise CorruptObjectError(f"the local chunk pack {pack} is truncated",
                                         hint="git archives fsck")
            yield cid, raw_len, flags, stored
    finally:
        for fd in files.values():
            os.close(fd)


def _upload_recipes(chunks: ChunkStore, remote: Remote, items: list[TransferItem],
                    report: TransferReport, *, jobs: int,
                    progress: ProgressSink | None) -> None:
    """Last: a remote never holds a recipe before every chunk it names."""
    lock = threading.Lock()

    def one(item: TransferItem) -> None:
        path = chunks.recipe_path(item.oid)
        size = path.stat().st_size
        remote.backend.put(recipe_key(item.oid.digest), path, size, None)
        with lock:
            report.transferred.append(item.oid)
            report.bytes += size
        if progress is not None:
            progress.file_done()

    run_parallel(items, jobs, one, report)


# -- fetch ----------------------------------------------------------------------------------

class ChunkFetcher:
    """Fetches recipes and the chunks they lack from one remote; one per fetch run."""

    max_range = MAX_RANGE  # the most one ranged read asks for

    def __init__(self, store: LocalStore, remote: Remote, *, jobs: int,
                 progress: ProgressSink | None = None) -> None:
        self.store = store
        self.remote = remote
        self.chunks = chunk_store(store)
        self.index = remote_index(store, remote)
        self.jobs = jobs
        self.progress = progress
        self._add_lock = threading.Lock()
        self._index_lock = threading.Lock()

    def fetch(self, item: TransferItem, size: int | None) -> int:
        """Fetch one object; returns the bytes read from the remote. Raises
        :class:`CorruptObjectError` (nothing kept) if the remote's data is damaged."""
        oid = item.oid
        where = f"{self.remote.url} {recipe_key(oid.digest)}"
        hint = repair_hint(self.remote, recipe_key(oid.digest))
        data = read_bounded(self.remote.backend, recipe_key(oid.digest), what="recipe",
                            limit=fmt.max_recipe_bytes(size), hint=hint)
        moved = len(data)
        try:
            recipe = decode_recipe(data, where)
        except ArchivesError as exc:
            raise CorruptObjectError(exc.message, hint=hint) from None
        if size is not None and recipe.size != size:
            raise CorruptObjectError(f"{where}: the recipe is for {recipe.size} bytes, the "
                                     f"pointer says {size}: refused",
                                     hint=repair_hint(self.remote))
        lacking = self.chunks.missing([cid for cid, _len in recipe.chunks])
        if lacking:
            if not can_list(self.remote.backend):
                moved += self._load_where(oid)
            moved += self._fetch_chunks(lacking, where)
        self._commit(oid, recipe, where)
        self.store.record_chunked_verified(oid)  # (fill need not rebuild it to check it)
        if self.progress is not None:
            self.progress.file_done()
        return moved

    def _load_where(self, oid: ObjectId) -> int:
        """A remote that cannot be listed: its where-file names the packs to index."""
        hint = repair_hint(self.remote, where_key(oid.digest))
        data = read_bounded(self.remote.backend, where_key(oid.digest), what="list of packs",
                            limit=WHERE_LIMIT, hint=hint)
        stems = data.decode("ascii", "replace").split()
        if not stems or not all(fmt.is_pack_id(s) for s in stems):
            raise CorruptObjectError(f"{self.remote.url} {where_key(oid.digest)} is not a "
                                     "list of pack ids: refused", hint=hint)
        with self._index_lock:
            self.index.load_packs(stems)
        return len(data)

    def _fetch_chunks(self, lacking: set[bytes], where: str) -> int:
        listed = can_list(self.remote.backend)
        with self._index_lock:
            if listed:
                self.index.ensure()
            located = {cid: self.index.locate(cid) for cid in lacking}
            if listed and any(w is None for w in located.values()):
                self.index.refresh()  # pushed since we listed
                located = {cid: self.index.locate(cid) for cid in lacking}
        absent = [cid for cid, w in located.items() if w is None]
        if absent:
            short = "".join(f"; {pack_key(p, 'pack')} is truncated"
                            for p in sorted(self.index.truncated)[:3])
            raise CorruptObjectError(f"{where}: the recipe names {len(absent)} chunk(s) no "
                                     f"sound pack on the remote holds{short}: refused",
                                     hint=repair_hint(self.remote))
        spans = plan_ranges(((cid, w) for cid, w in located.items() if w is not None),
                            max_range=self.max_range)
        return sum(_parallel(self._read_and_add, spans, self.jobs))

    def _read_and_add(self, span: Span) -> int:
        records = read_span(self.remote.backend, span,
                            hint=repair_hint(self.remote, pack_key(span.pack, "idx")))
        with self._add_lock:
            try:
                self.chunks.add_records(records)
            except CorruptObjectError as exc:
                raise CorruptObjectError(
                    f"{self.remote.url} {pack_key(span.pack, 'pack')}: {exc.message}",
                    hint=repair_hint(self.remote, pack_key(span.pack, "idx"))) from None
        n = span.end - span.start
        if self.progress is not None:
            self.progress.advance(n)
        return n

    def _commit(self, oid: ObjectId, recipe: fmt.Recipe, where: str) -> None:
        """Write the recipe (every chunk is now durable), then read the file back through
        it: a recipe whose chunks do not make the file is removed again."""
        with self._add_lock:
            self.chunks.write_recipe(oid, recipe)
        try:
            self.chunks.stream_file(oid, _discard)
        except CorruptObjectError:
            with contextlib.suppress(FileNotFoundError):
                self.chunks.recipe_path(oid).unlink()
            raise CorruptObjectError(f"{where}: the chunks it names do not make the file "
                                     f"{oid}: refused", hint=repair_hint(self.remote)) from None


def _discard(_data: bytes | memoryview) -> None:
    return None


def _parallel(fn: Callable[[Span], int], items: list[Span], jobs: int) -> list[int]:
    if jobs <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        futures = [pool.submit(fn, i) for i in items]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def fetch_chunked(store: LocalStore, remote: Remote, items: list[TransferItem],
                  report: TransferReport, *, sizes: dict[ObjectId, int], jobs: int,
                  progress: ProgressSink | None = None,
                  on_object: Callable[[ObjectId], None] | None = None) -> list[TransferItem]:
    """Fetch those of ``items`` the remote holds as recipes; return the others (to fetch
    whole). Each object is its own unit: a damaged one is reported, the rest go on.
    ``on_object`` is called with each object's id once it is rebuilt and verified (a pull
    starts writing it to the work tree while the rest downloads)."""
    on_remote = present_as_recipes(remote.backend, items)
    chunked = [i for i in items if i.key in on_remote]
    if not chunked:
        return items
    fetcher = ChunkFetcher(store, remote, jobs=jobs, progress=progress)
    lock = threading.Lock()

    def one(item: TransferItem) -> None:
        moved = fetcher.fetch(item, sizes.get(item.oid))
        with lock:
            report.transferred.append(item.oid)
            report.bytes += moved
        if on_object is not None:
            on_object(item.oid)

    # One object at a time, its ranged reads in parallel: objects sharing chunks (versions
    # of one file) then download each shared chunk once.
    run_parallel(chunked, 1, one, report)
    return [i for i in items if i.key not in on_remote]
