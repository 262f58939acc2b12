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
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
    pool = ThreadPoolExecutor(max_workers=THREADS)
    try:
        todo = iter(batches)

        def submit(item: tuple[int, Batch]) -> Future[tuple[bytearray, int]]:
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
        pool.shutdown(wait=True, cancel_futures=True)
