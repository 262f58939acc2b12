"""``ChunkStore``: chunks in packs and recipes under ``<cache>/chunks/`` (docs/storage.md).

Writers append new chunks to their own pack and seal it (fsync, then its index) before
any recipe naming those chunks is written, so a recipe never names a chunk that is not
durable. Readers load every sealed index once (again when a chunk is not found: another
process may have sealed a pack since), map packs and verify as they read: a compressed
chunk's id after decompressing it, and always the whole file's sha256.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat
from operator import itemgetter
from pathlib import Path

import zstandard

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError, CorruptObjectError, ObjectMissingError
from gitext.store.chunks.format import (
    FLAG_ZSTD,
    RECORD_HEADER,
    FormatError,
    IdxEntry,
    Recipe,
    chunk_id,
    decode_idx,
    decode_recipe,
    encode_recipe,
    is_pack_id,
    recipe_key,
)
from gitext.store.chunks.packs import PackMaps, PackWriter, store_error, write_durably
from gitext.store.chunks.rebuild import rebuilt_views

Location = tuple[str, int, int, int, int]  # pack id, offset, raw length, stored length, flags
FSCK_HINT = "run 'git archives fsck' to find the damage, then 'git archives pull'"


class ChunkStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.packs_dir = root / "packs"
        self.recipes_dir = root / "recipes"
        self.tmp = root / "tmp"
        self._index: dict[bytes, tuple[str, IdxEntry]] = {}
        self._loaded: set[str] = set()
        self._maps = PackMaps(self.packs_dir)
        self._writer: PackWriter | None = None
        self._pending: dict[bytes, tuple[str, IdxEntry]] = {}  # in the open pack
        self._local = threading.local()  # a zstd decompressor per thread

    # -- index ----------------------------------------------------------------------------
    def sealed_packs(self) -> list[str]:
        try:
            names = os.listdir(self.packs_dir)
        except FileNotFoundError:
            return []
        return sorted(n[:-4] for n in names if n.endswith(".idx") and is_pack_id(n[:-4]))

    def read_idx(self, pack_id: str) -> list[IdxEntry]:
        path = self.packs_dir / f"{pack_id}.idx"
        try:
            return decode_idx(path.read_bytes())
        except FormatError as exc:
            raise CorruptObjectError(f"pack index {path} is damaged: {exc.message}",
                                     hint=FSCK_HINT) from None

    def refresh(self) -> None:
        """Load the indexes of packs sealed since the last look (by any process). A chunk in
        two packs stays where it was first found."""
        fresh = [pid for pid in self.sealed_packs() if pid not in self._loaded]
        found: dict[bytes, tuple[str, IdxEntry]] = {}
        for pid in reversed(fresh):  # (built at C speed: the first pack's entry wins)
            entries = self.read_idx(pid)
            found.update(zip(map(itemgetter(0), entries), zip(repeat(pid), entries),
                             strict=False))  # (repeat: endless)
        if not self._index:
            self._index = found
        else:
            for cid, hit in found.items():
                self._index.setdefault(cid, hit)
        self._loaded.update(fresh)

    def unmap(self, pack_ids: Iterable[str]) -> None:
        self._maps.drop(pack_ids)

    def forget_packs(self, pack_ids: Iterable[str]) -> None:
        """Drop what is known of packs (gc removed them) and load the indexes again."""
        self._maps.drop(set(pack_ids))
        self._index = {}
        self._loaded = set()
        self.refresh()

    def _where(self, cid: bytes) -> tuple[str, IdxEntry] | None:
        hit = self._index.get(cid) or self._pending.get(cid)
        if hit is None:
            self.refresh()
            hit = self._index.get(cid)
        return hit

    def locate(self, cid: bytes) -> Location | None:
        hit = self._where(cid)
        if hit is None or hit[0] not in self._loaded:
            return None
        e = hit[1]
        return hit[0], e.offset, e.raw_len, e.stored_len, e.flags

    def missing(self, chunk_ids: Iterable[bytes]) -> set[bytes]:
        ids = set(chunk_ids)
        out = {c for c in ids if c not in self._index}
        if out:
            self.refresh()
            out = {c for c in out if c not in self._index}
        return out

    def known(self, cid: bytes) -> bool:
        """In a sealed pack or in the pack being written (no refresh: the hot path)."""
        return cid in self._index or cid in self._pending

    # -- writing --------------------------------------------------------------------------
    def append(self, cid: bytes, raw_len: int, flags: int, stored: bytes | memoryview) -> None:
        """Append one chunk (already verified by the caller) to this process's open pack."""
        try:
            w = self._writer
            if w is not None and not w.room_for(len(stored)):
                self.seal()
                w = None
            if w is None:
                w = self._writer = PackWriter(self.packs_dir, self.tmp)
            w.append(cid, raw_len, flags, stored)
            self._pending[cid] = (w.pack_id, w.entries[-1])
        except OSError as exc:
            raise store_error(self.root, exc) from exc

    def open_pack_id(self) -> str:
        """The id of the pack this process is writing ("" if none)."""
        return self._writer.pack_id if self._writer is not None else ""

    def seal(self) -> None:
        """Make every chunk appended so far durable and visible (the open pack's index)."""
        w, self._writer = self._writer, None
        if w is None:
            return
        try:
            entries = w.seal()
        except OSError as exc:
            w.abandon()
            self._pending.clear()
            raise store_error(self.root, exc) from exc
        for e in entries:
            self._index.setdefault(e.chunk_id, (w.pack_id, e))
        self._loaded.add(w.pack_id)
        self._pending.clear()

    def abandon(self) -> None:
        """Drop the open pack (a failed add: no recipe will name its chunks)."""
        w, self._writer = self._writer, None
        if w is not None:
            w.abandon()
        self._pending.clear()

    def add_records(self, records: Iterable[tuple[bytes, int, int, bytes]]) -> int:
        """Add records (id, raw length, flags, stored bytes) as they are, after checking
        each id against its bytes; chunks already here are skipped. Seals; returns how
        many were added. A record whose bytes do not match its id is refused."""
        added = 0
        try:
            for cid, raw_len, flags, stored in records:
                if self.known(cid) or cid in self._index:
                    continue
                self.check_record(cid, raw_len, flags, stored)
                self.append(cid, raw_len, flags, stored)
                added += 1
        except BaseException:
            self.abandon()
            raise
        self.seal()
        return added

    def check_record(self, cid: bytes, raw_len: int, flags: int, stored: bytes) -> None:
        try:
            raw = self._decode(cid, raw_len, flags, stored, where="an incoming record")
        except CorruptObjectError:
            raw = b""
        if not raw or chunk_id(raw) != cid:
            raise CorruptObjectError(
                f"incoming chunk {cid.hex()[:16]} does not match its bytes: refused",
                hint="the source is corrupt; fetch it again")

    # -- recipes --------------------------------------------------------------------------
    def recipe_path(self, oid: ObjectId) -> Path:
        return self.root / recipe_key(oid.digest)

    def has_recipe(self, oid: ObjectId) -> bool:
        return oid.algo == "sha256" and self.recipe_path(oid).is_file()

    def recipe_size(self, oid: ObjectId) -> int | None:
        if oid.algo != "sha256":
            return None
        try:
            return self.read_recipe(oid).size
        except ObjectMissingError:
            return None

    def read_recipe(self, oid: ObjectId) -> Recipe:
        path = self.recipe_path(oid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ObjectMissingError(f"object {oid} is not in the local cache",
                                     hint="run 'git archives pull' to fetch it") from None
        try:
            return decode_recipe(data)
        except FormatError as exc:
            raise CorruptObjectError(f"recipe {path} of {oid} is damaged: {exc.message}",
                                     hint=FSCK_HINT) from None

    def write_recipe(self, oid: ObjectId, recipe: Recipe) -> None:
        """Write a recipe once every chunk it names is durable here (else refuse)."""
        self.seal()
        lost = self.missing(c for c, _ in recipe.chunks)
        packs = {self._index[c][0] for c, _ in recipe.chunks if c in self._index}
        gone = [p for p in packs if not (self.packs_dir / f"{p}.idx").is_file()]
        if lost or gone:  # (gone: a gc removed a pack meanwhile)
            raise ObjectMissingError(
                f"cannot record {oid}: some of its chunks are not in the cache",
                hint="run the command again")
        try:
            write_durably(self.recipe_path(oid), encode_recipe(recipe), self.tmp)
        except OSError as exc:
            raise store_error(self.root, exc) from exc

    def iter_recipes(self) -> Iterator[ObjectId]:
        if not self.recipes_dir.is_dir():
            return
        for sub in sorted(self.recipes_dir.iterdir()):
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for f in sorted(sub.iterdir()):
                try:
                    yield ObjectId("sha256", sub.name + f.name)
                except ArchivesError:  # not an object id: a stray file
                    continue

    # -- reading --------------------------------------------------------------------------
    def _decode(self, cid: bytes, raw_len: int, flags: int, stored: bytes | memoryview, *,
                where: str, check_id: bool = True) -> bytes | memoryview:
        if not flags & FLAG_ZSTD:
            if len(stored) != raw_len:
                raise CorruptObjectError(f"chunk {cid.hex()[:16]} in {where} is truncated",
                                         hint=FSCK_HINT)
            return stored
        try:
            dctx = getattr(self._local, "dctx", None)
            if dctx is None:
                dctx = self._local.dctx = zstandard.ZstdDecompressor()
            raw = dctx.decompress(stored, max_output_size=raw_len)
        except zstandard.ZstdError:
            raw = b""
        if len(raw) != raw_len or (check_id and chunk_id(raw) != cid):
            raise CorruptObjectError(
                f"chunk {cid.hex()[:16]} in {where} does not match its id", hint=FSCK_HINT)
        return raw

    def read_chunk(self, cid: bytes, *, verify: bool = True) -> bytes:
        """The raw bytes of one chunk (its id checked when ``verify`` or compressed)."""
        return bytes(self._raw(cid, verify=verify))

    def _located(self, cid: bytes) -> tuple[str, IdxEntry, mmap.mmap | bytes]:
        """(pack id, index entry, the pack's map) of a chunk here, its record header checked
        against the index."""
        hit = self._where(cid)
        if hit is None:
            raise ObjectMissingError(f"chunk {cid.hex()[:16]} is not in the local cache",
                                     hint="run 'git archives pull' to fetch it")
        if hit[0] not in self._loaded:
            self.seal()  # in this process's open pack: make it readable
        pid, e = hit
        m = self._maps.get(pid)
        if e.end > len(m) or m[e.offset:e.offset + 32] != cid:
            raise CorruptObjectError(f"pack {pid} is truncated or disagrees with its index "
                                     f"at chunk {cid.hex()[:16]}", hint=FSCK_HINT)
        return pid, e, m

    def _raw(self, cid: bytes, *, verify: bool) -> bytes | memoryview:
        pid, e, m = self._located(cid)
        start = e.offset + RECORD_HEADER.size
        raw = self._decode(cid, e.raw_len, e.flags, memoryview(m)[start:e.end],
                           where=f"pack {pid}", check_id=verify)
        if verify and not e.flags & FLAG_ZSTD and chunk_id(raw) != cid:
            raise CorruptObjectError(
                f"chunk {cid.hex()[:16]} in pack {pid} does not match its id", hint=FSCK_HINT)
        return raw

    def check_complete(self, oid: ObjectId) -> Recipe:
        """The recipe, after checking that every chunk it names is here."""
        recipe = self.read_recipe(oid)
        lost = self.missing(c for c, _ in recipe.chunks)
        if lost:
            raise ObjectMissingError(
                f"{len(lost)} chunks of {oid} are not in the local cache "
                f"(one is {min(lost).hex()[:16]})",
                hint="run 'git archives pull' to fetch them, or 'git archives fsck'")
        return recipe

    def open_packs(self, chunk_ids: Iterable[bytes]) -> None:
        """Map the packs holding these chunks now (worker threads then only read)."""
        for pid in {hit[0] for c in chunk_ids if (hit := self._where(c))}:
            if pid in self._loaded:
                self._maps.get(pid)

    def chunk_into(self, cid: bytes, raw_len: int, out: memoryview, *, check_id: bool) -> None:
        """Write the raw bytes of one chunk (``raw_len`` long, as its recipe says) into
        ``out``; with ``check_id`` check them against the chunk's id."""
        pid, e, m = self._located(cid)
        if e.raw_len != raw_len:
            raise CorruptObjectError(f"chunk {cid.hex()[:16]} has the wrong length",
                                     hint=FSCK_HINT)
        stored = memoryview(m)[e.offset + RECORD_HEADER.size:e.end]
        if e.flags & FLAG_ZSTD:
            out[:] = self._decode(cid, raw_len, e.flags, stored, where=f"pack {pid}",
                                  check_id=False)
        else:
            out[:] = stored
        if check_id and chunk_id(out) != cid:
            raise CorruptObjectError(
                f"chunk {cid.hex()[:16]} in pack {pid} does not match its id", hint=FSCK_HINT)

    def iter_file(self, oid: ObjectId, *, trusted: bool = False) -> Iterator[bytes]:
        """The file's bytes in batches (``bytes`` a caller may keep); raises
        CorruptObjectError at the end if their sha256 is not ``oid`` (the caller then
        discards what it received). ``trusted``: as for :meth:`stream_file`, each chunk is
        checked against its id instead (before any of its bytes are handed on)."""
        recipe = self.check_complete(oid)
        h = None if trusted else hashlib.sha256()
        for view in rebuilt_views(self, recipe, check_ids=trusted):
            if h is not None:
                h.update(view)
            yield bytes(view)
        if h is not None and h.hexdigest() != oid.digest:
            raise CorruptObjectError(
                f"cached object {oid} rebuilt from chunks is corrupt{self._culprit(recipe)}",
                hint=FSCK_HINT)

    def _culprit(self, recipe: Recipe) -> str:
        for cid, _ in recipe.chunks:
            try:
                self._raw(cid, verify=True)
            except CorruptObjectError:
                return f" (chunk {cid.hex()[:16]} does not match its id)"
        return ""

    def stream_file(self, oid: ObjectId, write: Callable[[bytes | memoryview], object], *,
                    trusted: bool = False) -> int:
        """Send the file's bytes to ``write`` in order; each view it gets is valid only
        during the call (a reused buffer): it must write or copy it. Raises
        CorruptObjectError on damage (the caller then discards what it received).

        Untrusted (the default, fsck's): the whole file's sha256 is checked at the end.
        ``trusted`` — the recipe was written here from bytes whose sha256 was computed, or
        a rebuild checked it since (state.db) — checks each chunk's id instead, on the
        worker threads: the recipe's chunk ids then stand for that sha256 (design note)."""
        recipe = self.check_complete(oid)
        h = None if trusted else hashlib.sha256()
        size = 0
        for view in rebuilt_views(self, recipe, check_ids=trusted):
            if h is not None:
                h.update(view)
            write(view)
            size += len(view)
        if h is not None and h.hexdigest() != oid.digest:
            raise CorruptObjectError(
                f"cached object {oid} rebuilt from chunks is corrupt{self._culprit(recipe)}",
                hint=FSCK_HINT)
        return size

    def close(self) -> None:
        self.abandon()
        self._maps.drop()
