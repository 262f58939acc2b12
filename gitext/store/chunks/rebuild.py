"""Rebuilding a chunked file: batches of ~1 MiB filled on worker threads (zstd, BLAKE3 and
memory copies release the GIL) into a few buffers that are reused, handed on in file order.

Fresh memory is what a rebuild must avoid: on the virtual machines we measured, the first
touch of a new page costs ~1 ms per MiB — as much as decompressing it — so the batches go
into the same few buffers over and over instead of new ``bytes`` per chunk and per batch.
Each view handed on is valid only until the next one is asked for.

A chunk the recipe names more than once (runs of zeros, repeated blocks, a file that
repeats itself) is decompressed (and its id checked) once: its bytes are kept, up to
:data:`REPEAT_CACHE` bytes, and copied where it comes again.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from gitext.store.chunks.format import Recipe

if TYPE_CHECKING:
    from gitext.store.chunks.store import ChunkStore

BATCH = 1 << 20  # bytes of file per batch (and about the size of each write handed on)
THREADS = 2
AHEAD = 4  # batches in flight: memory is (AHEAD + 1) buffers of about BATCH bytes
REPEAT_CACHE = 32 << 20  # bytes of repeated chunks kept during one rebuild
Batch = list[tuple[bytes, int]]  # (chunk id, raw length) in file order


def plan(chunks: list[tuple[bytes, int]], size: int = BATCH) -> list[tuple[int, Batch]]:
    """The recipe's chunks cut into batches of at least ``size`` bytes (but the last):
    (bytes in the batch, its chunks)."""
    out: list[tuple[int, Batch]] = []
    cur: Batch = []
    n = 0
    for cid, raw_len in chunks:
        cur.append((cid, raw_len))
        n += raw_len
        if n >= size:
            out.append((n, cur))
            cur, n = [], 0
    if cur:
        out.append((n, cur))
    return out


def rebuilt_views(store: ChunkStore, recipe: Recipe, *,
                  check_ids: bool) -> Iterator[memoryview]:
    """The file's bytes as views of reused buffers, in order; each view is valid until the
    next is asked for. ``check_ids``: every chunk's bytes are checked against its id (a
    mismatch raises CorruptObjectError naming it before any of its bytes are handed on)."""
    batches = plan(recipe.chunks)
    for cid, _ in recipe.chunks[:1]:
        store.locate(cid)  # loads the indexes here, not on the workers
    store.open_packs(c for c, _ in recipe.chunks)  # mapped here, read by the workers
    free: list[bytearray] = []
    repeated = {c for c, k in Counter(c for c, _ in recipe.chunks).items() if k > 1}
    kept: dict[bytes, bytes] = {}
    room = [REPEAT_CACHE]  # (two workers may both take from it: a bound, not an exact sum)

    def fill(total: int, batch: Batch, buf: bytearray) -> tuple[bytearray, int]:
        if len(buf) < total:
            buf = bytearray(max(total, BATCH + (BATCH >> 2)))
        view = memoryview(buf)
        pos = 0
        for cid, raw_len in batch:
            out = view[pos:pos + raw_len]
            seen = kept.get(cid)
            if seen is not None and len(seen) == raw_len:
                out[:] = seen  # the same bytes, decoded and checked before
            else:
                store.chunk_into(cid, raw_len, out, check_id=check_ids)
                if cid in repeated and room[0] >= raw_len:
                    kept[cid] = bytes(out)
                    room[0] -= raw_len
            pos += raw_len
        return buf, pos

    if len(batches) <= 1:
        for total, batch in batches:
            buf, n = fill(total, batch, bytearray())
            yield memoryview(buf)[:n]
        return
    pool = _Fillers(THREADS)
    try:
        todo = iter(batches)

        def submit(item: tuple[int, Batch]) -> _Fill:
            return pool.submit(fill, item[0], item[1], free.pop() if free else bytearray())

        ahead = deque(submit(b) for b in itertools.islice(todo, AHEAD))
        while ahead:
            buf, n = ahead.popleft().result()
            yield memoryview(buf)[:n]
            free.append(buf)  # the consumer is done with it: it asked for the next
            nxt = next(todo, None)
            if nxt is not None:
                ahead.append(submit(nxt))
    finally:
        pool.close()


_FillFn = Callable[[int, Batch, bytearray], tuple[bytearray, int]]


class _Fill:
    """One batch handed to a worker; :meth:`result` waits for it (and raises what it
    raised)."""

    __slots__ = ("_args", "_done", "_error", "_fn", "_value")

    def __init__(self, fn: _FillFn, args: tuple[int, Batch, bytearray]) -> None:
        self._fn = fn
        self._args = args
        self._done = threading.Event()
        self._value: tuple[bytearray, int] | None = None
        self._error: BaseException | None = None

    def run(self, cancelled: bool) -> None:
        try:
            if not cancelled:
                self._value = self._fn(*self._args)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> tuple[bytearray, int]:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._value is not None  # noqa: S101 - never asked of a cancelled fill
        return self._value


class _Fillers:
    """``n`` daemon threads that run the fills handed to them in turn. (Not
    ``concurrent.futures``: it imports ``logging``, ~6 ms of every push hook and filter
    process that rebuilds a file.) :meth:`close` skips the fills not begun and returns
    once no thread can touch a buffer again."""

    def __init__(self, n: int) -> None:
        self._todo: queue.SimpleQueue[_Fill | None] = queue.SimpleQueue()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name="rebuild", daemon=True)
                         for _ in range(n)]
        for t in self._threads:
            t.start()

    def submit(self, fn: _FillFn, total: int, batch: Batch, buf: bytearray) -> _Fill:
        job = _Fill(fn, (total, batch, buf))
        self._todo.put(job)
        return job

    def _work(self) -> None:
        while (job := self._todo.get()) is not None:
            job.run(cancelled=self._closed)

    def close(self) -> None:
        self._closed = True
        for _ in self._threads:
            self._todo.put(None)
        for t in self._threads:
            t.join()
