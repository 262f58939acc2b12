"""One pass over a large file's bytes: sha256, FastCDC cut points, chunk ids, compression.

:class:`ChunkingWriter` takes the file in blocks of any size (memory stays bounded: the
bytes after the last cut point plus one block) and appends only the chunks the store does
not have yet; :meth:`ChunkingWriter.finish` seals the pack and writes the recipe.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor

import pyfastcdc
import zstandard

from gitext.codec.hashing import ObjectId
from gitext.errors import CorruptObjectError
from gitext.store.chunks.format import FLAG_ZSTD, Recipe, chunk_id
from gitext.store.chunks.store import ChunkStore

MIN_CHUNK = 8 << 10
AVG_CHUNK = 64 << 10
MAX_CHUNK = 128 << 10
BLOCK = 8 << 20  # bytes cut at once
ZSTD_LEVEL = 3
MIN_SAVING = 0.10  # store compressed only when that saves at least this much
DEFAULT_THRESHOLD = 1 << 20


def new_cdc() -> pyfastcdc.FastCDC:
    return pyfastcdc.FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)


def cut_points(data: bytes) -> list[int]:
    """The chunk lengths of ``data`` as one whole buffer (for tests and tools)."""
    return [c.length for c in new_cdc().cut_buf(data)]


class ChunkingWriter:
    """A file-like sink (``write``) that chunks what it is given into ``store``."""

    def __init__(self, store: ChunkStore, *, workers: int = 2) -> None:
        self.store = store
        store.refresh()  # what other processes stored: only new chunks are written
        self._cdc = new_cdc()
        self._sha = hashlib.sha256()
        self._buf = bytearray()
        self._chunks: list[tuple[bytes, int]] = []
        self.size = 0
        self.new_bytes = 0  # raw bytes of chunks this file added to the store
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        # sha256 of the whole file on its own thread, in order, beside the cutting
        self._hasher = ThreadPoolExecutor(max_workers=1) if workers > 1 else None
        self._hashed: Future[None] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        if self._hasher is not None:
            block = bytes(data)  # the caller may reuse its buffer
            if self._hashed is not None:
                self._hashed.result()  # one block in flight: memory stays bounded
            self._hashed = self._hasher.submit(self._sha.update, block)
            self._buf += block
        else:
            self._sha.update(data)
            self._buf += data
        self.size += n
        if len(self._buf) >= BLOCK:
            self._cut(final=False)
        return n

    def _cut(self, *, final: bool) -> None:
        buf = self._buf
        cuts = [(c.offset, c.length) for c in self._cdc.cut_buf(buf)]
        if not final and cuts:
            cuts.pop()  # cut only by the end of the buffer: wait for more bytes
        if not cuts:
            return
        view = memoryview(buf)
        try:
            self._store_pieces(view, cuts)
        finally:
            view.release()
        end = cuts[-1][0] + cuts[-1][1]
        del buf[:end]

    def _store_pieces(self, view: memoryview, cuts: list[tuple[int, int]]) -> None:
        pieces = [view[o:o + n] for o, n in cuts]
        try:
            if self._pool is not None:
                packed = list(self._pool.map(self._maybe_pack, pieces))
            else:
                packed = [self._maybe_pack(p) for p in pieces]
            for (_, n), (cid, flags, stored) in zip(cuts, packed, strict=True):
                self._chunks.append((cid, n))
                if stored is not None and not self.store.known(cid):
                    self.store.append(cid, n, flags, stored)
                    self.new_bytes += n
        finally:
            for p in pieces:
                p.release()

    def _maybe_pack(self, raw: memoryview) -> tuple[bytes, int, bytes | memoryview | None]:
        """(id, flags, stored) for a new chunk; stored is None for one already stored."""
        cid = chunk_id(raw)
        if self.store.known(cid):
            return cid, 0, None
        comp = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(raw)
        if len(comp) <= len(raw) * (1 - MIN_SAVING):
            return cid, FLAG_ZSTD, comp
        return cid, 0, raw

    def finish(self, expected: ObjectId | None = None) -> tuple[ObjectId, int]:
        """Cut the rest, seal the pack, write the recipe; returns (oid, size)."""
        try:
            if self._buf:
                self._cut(final=True)
            if self._hashed is not None:
                self._hashed.result()
            oid = _checked(ObjectId("sha256", self._sha.hexdigest()), expected)
            self.store.write_recipe(oid, Recipe(self.size, self._chunks))
        except BaseException:
            self.store.abandon()
            raise
        finally:
            self.close()
        return oid, self.size

    def abort(self) -> None:
        self.store.abandon()
        self.close()

    def close(self) -> None:
        for pool in (self._pool, self._hasher):
            if pool is not None:
                pool.shutdown()
        self._pool = self._hasher = None


def _checked(oid: ObjectId, expected: ObjectId | None) -> ObjectId:
    if expected is not None and oid != expected:
        raise CorruptObjectError(f"content for {expected} hashes to {oid}: refused",
                                 hint="the source is corrupt; fetch it again")
    return oid
