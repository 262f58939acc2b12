"""The bytes of the chunk store: packs, pack indexes and recipes (docs/storage.md).

The same bytes live under ``<cache>/chunks/`` and under the key prefix ``chunks/`` of a
directory or object-store remote, so this module is the only one that knows the layouts:

- ``packs/<PACKID>.pack``: :data:`PACK_MAGIC` then records; a record is a
  :data:`RECORD_HEADER` (chunk id, raw length, stored length, flags) and the stored bytes.
- ``packs/<PACKID>.idx``: :data:`IDX_MAGIC`, a u32 count, :data:`IDX_ENTRY` entries sorted by
  chunk id (offset = the record's header in the pack), then the unkeyed BLAKE3 of all that.
- ``recipes/<sha256[:2]>/<sha256[2:]>``: :data:`RECIPE_MAGIC`, the file size (u64), a u32
  count, :data:`RECIPE_ENTRY` entries in file order, then the BLAKE3 of all that.

All integers are little-endian. Decoders never trust a length they read: every bad input
raises :class:`FormatError` (a :class:`~gitext.errors.CorruptObjectError`) saying what is
wrong, and the caller names the file.
"""

from __future__ import annotations

import functools
import operator
import re
import secrets
import struct
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import NamedTuple

import blake3

from gitext.errors import CorruptObjectError

PACK_MAGIC = b"GAPACK\x01\n"
IDX_MAGIC = b"GAIDX\x01\n"
RECIPE_MAGIC = b"GARECIPE\x01\n"

RECORD_HEADER = struct.Struct("<32sIIB")  # chunk id, raw length, stored length, flags
IDX_ENTRY = struct.Struct("<32sQIIB")  # chunk id, record offset, raw, stored, flags
RECIPE_ENTRY = struct.Struct("<32sI")  # chunk id, raw length
_COUNT = struct.Struct("<I")
_SIZE_COUNT = struct.Struct("<QI")

FLAG_ZSTD = 0x01
KNOWN_FLAGS = FLAG_ZSTD
ID_LEN = 32
DIGEST_LEN = 32
MAX_CHUNK = 1 << 24  # a sanity bound on any one chunk's raw length (FastCDC's max is 128 KiB)
MAX_PACK = 64 << 20  # a pack is sealed before it would grow past this
MIN_CUT = 8 << 10  # the chunker's shortest chunk (all but a file's last are this or longer)
LARGEST_FILE = 64 << 30  # bounds what a recipe of unknown size may take in memory (~290 MB)

CHUNK_KEY = b"git-archives chunk id v1".ljust(32, b"\0")

_PACK_ID_RE = re.compile(r"[0-9a-f]{32}")


class FormatError(CorruptObjectError):
    """Bytes of a pack, index or recipe that do not follow the format."""


def chunk_id(data: bytes | bytearray | memoryview) -> bytes:
    """The id of a chunk: the keyed BLAKE3 of its raw bytes."""
    return blake3.blake3(data, key=CHUNK_KEY).digest()


def new_pack_id() -> str:
    """32 lowercase hex digits of a fresh random 128-bit value."""
    return secrets.token_hex(16)


def is_pack_id(text: str) -> bool:
    return _PACK_ID_RE.fullmatch(text) is not None


def _check_lengths(raw_len: int, stored_len: int, flags: int) -> None:
    if flags & ~KNOWN_FLAGS:
        raise FormatError(f"unknown chunk flags {flags:#x}")
    if not 0 < raw_len <= MAX_CHUNK:
        raise FormatError(f"chunk length {raw_len} is out of bounds")
    if not 0 < stored_len <= MAX_CHUNK or (not flags & FLAG_ZSTD and stored_len != raw_len):
        raise FormatError(f"stored length {stored_len} does not fit raw length {raw_len}")


# -- pack records -------------------------------------------------------------------------
class Placed(NamedTuple):
    """A chunk's record in a pack: where its header starts, its lengths and flags. A tuple,
    not a dataclass: an index of a GiB holds ~16,000 of them, built on every load (a tuple
    is built 4x faster); ordered by chunk id first."""

    chunk_id: bytes
    offset: int
    raw_len: int
    stored_len: int
    flags: int

    @property
    def end(self) -> int:
        """The end of the record in the pack (a ranged read is ``offset .. end``)."""
        return self.offset + RECORD_HEADER.size + self.stored_len


class Record(Placed):
    """A record's header; its stored bytes follow it at ``offset + RECORD_HEADER.size``."""

    __slots__ = ()


def encode_record(cid: bytes, raw_len: int, flags: int, stored: bytes | memoryview) -> bytes:
    """A record's header followed by its stored bytes."""
    if len(cid) != ID_LEN:
        raise FormatError(f"a chunk id is {ID_LEN} bytes, not {len(cid)}")
    _check_lengths(raw_len, len(stored), flags)
    return RECORD_HEADER.pack(cid, raw_len, len(stored), flags) + bytes(stored)


def decode_record_header(buf: bytes | memoryview, offset: int) -> Record:
    """The header of the record at ``offset`` in the pack bytes ``buf`` (checked to fit)."""
    if offset + RECORD_HEADER.size > len(buf):
        raise FormatError(f"truncated record header at offset {offset}")
    cid, raw_len, stored_len, flags = RECORD_HEADER.unpack_from(buf, offset)
    _check_lengths(raw_len, stored_len, flags)
    rec = Record(bytes(cid), offset, raw_len, stored_len, flags)
    if rec.end > len(buf):
        raise FormatError(f"truncated record at offset {offset}")
    return rec


def iter_pack(buf: bytes | memoryview) -> Iterator[Record]:
    """Every record of a whole pack, in order (raises at the first damaged one)."""
    if bytes(buf[: len(PACK_MAGIC)]) != PACK_MAGIC:
        raise FormatError("not a pack (bad magic)")
    offset = len(PACK_MAGIC)
    while offset < len(buf):
        rec = decode_record_header(buf, offset)
        yield rec
        offset = rec.end


# -- pack index ---------------------------------------------------------------------------
class IdxEntry(Placed):
    """An index's entry: a chunk id and where its record is in the pack."""

    __slots__ = ()


def encode_idx(entries: Iterable[IdxEntry]) -> bytes:
    """An index of ``entries`` (sorted here; a chunk id may appear once)."""
    ordered = sorted(entries)
    out = bytearray(IDX_MAGIC)
    out += _COUNT.pack(len(ordered))
    prev = b""
    for e in ordered:
        if e.chunk_id == prev:
            raise FormatError(f"chunk {e.chunk_id.hex()} is twice in one index")
        if len(e.chunk_id) != ID_LEN or e.offset < len(PACK_MAGIC):
            raise FormatError("bad index entry")
        _check_lengths(e.raw_len, e.stored_len, e.flags)
        out += IDX_ENTRY.pack(e.chunk_id, e.offset, e.raw_len, e.stored_len, e.flags)
        prev = e.chunk_id
    return _sealed(out)


def max_idx_bytes() -> int:
    """The most bytes an index can hold: a full pack of one-byte records (what a remote
    sends past this is not an index, and is not held in memory)."""
    entries = MAX_PACK // (RECORD_HEADER.size + 1)
    return len(IDX_MAGIC) + _COUNT.size + IDX_ENTRY.size * entries + DIGEST_LEN


def max_recipe_bytes(size: int | None) -> int:
    """The most bytes the recipe of a ``size``-byte file can hold (chunks of at least
    :data:`MIN_CUT` bytes, and a shorter last one); for a size not known, that of a
    :data:`LARGEST_FILE`."""
    entries = (LARGEST_FILE if size is None else size) // MIN_CUT + 1
    return len(RECIPE_MAGIC) + _SIZE_COUNT.size + RECIPE_ENTRY.size * entries + DIGEST_LEN


def decode_idx(data: bytes | memoryview) -> list[IdxEntry]:
    """The entries of an index, sorted by chunk id; raises FormatError on any damage."""
    _, entries = _counted_body(data, IDX_MAGIC, "index", _COUNT, IDX_ENTRY)
    rows = list(map(_new_entry, IDX_ENTRY.iter_unpack(entries)))
    if rows and not _rows_sound(rows):
        _first_bad_row(rows)  # raises, naming what is wrong
        raise FormatError("bad index entry")
    return rows


# tuple.__new__ called from C: 3x faster than IdxEntry._make (a Python frame per entry)
_new_entry = functools.partial(tuple.__new__, IdxEntry)


def _rows_sound(rows: list[IdxEntry]) -> bool:
    """Every check of :func:`_first_bad_row`, column by column at C speed (an index is
    loaded on every push and fetch)."""
    ids, offsets, raw, stored, flag_col = zip(*rows, strict=True)
    flags = set(flag_col)
    return (all(map(operator.lt, ids, islice(ids, 1, None)))
            and min(offsets) >= len(PACK_MAGIC)
            and not any(f & ~KNOWN_FLAGS for f in flags)
            and min(raw) > 0 and max(raw) <= MAX_CHUNK
            and min(stored) > 0 and max(stored) <= MAX_CHUNK
            and (flags == {FLAG_ZSTD} or raw == stored
                 or all(r.raw_len == r.stored_len for r in rows if not r.flags & FLAG_ZSTD)))


def _first_bad_row(rows: list[IdxEntry]) -> None:
    prev = b""
    for cid, offset, raw_len, stored_len, flags in rows:
        if cid <= prev:
            raise FormatError("index entries are not sorted by chunk id")
        if offset < len(PACK_MAGIC):
            raise FormatError(f"index offset {offset} is inside the pack header")
        _check_lengths(raw_len, stored_len, flags)
        prev = cid


# -- recipes ------------------------------------------------------------------------------
class Recipe:
    """A file as its chunks in order: ``chunks`` = [(chunk id, raw length)]. (Not a
    dataclass: ``dataclasses`` costs ~7 ms to import, paid by every push hook and smudge
    that reads a recipe.)"""

    __slots__ = ("chunks", "size")

    def __init__(self, size: int, chunks: list[tuple[bytes, int]]) -> None:
        # column by column (a GiB's recipe has ~16,000 chunks, read on every push)
        id_lens = set(map(len, map(operator.itemgetter(0), chunks)))
        lens = list(map(operator.itemgetter(1), chunks))
        if id_lens - {ID_LEN}:
            bad = min(id_lens - {ID_LEN})
            raise FormatError(f"a chunk id is {ID_LEN} bytes, not {bad}")
        if lens and not (min(lens) > 0 and max(lens) <= MAX_CHUNK):
            bad = next(n for n in lens if not 0 < n <= MAX_CHUNK)
            raise FormatError(f"chunk length {bad} is out of bounds")
        total = sum(lens)
        if total != size:
            raise FormatError(f"chunks add up to {total} bytes, not the file's {size}")
        self.size = size
        self.chunks = chunks

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recipe):
            return NotImplemented
        return self.size == other.size and self.chunks == other.chunks

    __hash__ = None  # type: ignore[assignment]  # (its chunks are a list)

    def __repr__(self) -> str:
        return f"Recipe(size={self.size}, chunks=<{len(self.chunks)} chunks>)"


class RecipeMatch:
    """Whether a stream of bytes is the file ``recipe`` describes, checked as it is fed:
    each span a chunk covers against that chunk's id (keyed BLAKE3, three times the speed
    of sha256 here). Only as good as the recipe: use it for one already verified."""

    def __init__(self, recipe: Recipe) -> None:
        self._chunks = iter(recipe.chunks)
        self._size = recipe.size
        self.fed = 0
        self._ok = True
        self._cid = b""
        self._left = 0
        self._h: blake3.blake3 | None = None
        self._next_chunk()

    def _next_chunk(self) -> None:
        nxt = next(self._chunks, None)
        if nxt is None:
            self._h = None
            return
        self._cid, self._left = nxt
        self._h = blake3.blake3(key=CHUNK_KEY)

    def feed(self, data: bytes | memoryview) -> None:
        self.fed += len(data)
        pos, end = 0, len(data)
        while self._ok and pos < end:
            if self._h is None:
                self._ok = False  # longer than the recipe
                return
            take = min(self._left, end - pos)
            self._h.update(data[pos:pos + take])
            pos += take
            self._left -= take
            if self._left == 0:
                if self._h.digest() != self._cid:
                    self._ok = False
                    return
                self._next_chunk()

    def matched(self) -> bool:
        """All fed, every chunk's span matched its id, and nothing more or less."""
        return self._ok and self._h is None and self.fed == self._size


def recipe_key(sha256_hex: str) -> str:
    """The recipe's path under the chunk root (``recipes/<ab>/<rest>``)."""
    return f"recipes/{sha256_hex[:2]}/{sha256_hex[2:]}"


def encode_recipe(recipe: Recipe) -> bytes:
    out = bytearray(RECIPE_MAGIC)
    out += _SIZE_COUNT.pack(recipe.size, len(recipe.chunks))
    for cid, raw_len in recipe.chunks:
        out += RECIPE_ENTRY.pack(cid, raw_len)
    return _sealed(out)


def decode_recipe(data: bytes | memoryview) -> Recipe:
    (size, _count), entries = _counted_body(data, RECIPE_MAGIC, "recipe", _SIZE_COUNT,
                                            RECIPE_ENTRY)
    return Recipe(size, list(RECIPE_ENTRY.iter_unpack(entries)))  # (bytes, int) pairs


def _checked_body(data: bytes | memoryview, magic: bytes, what: str, *,
                  extra: int) -> memoryview:
    """``data`` without its trailing BLAKE3, after checking the magic and that digest."""
    view = memoryview(data)
    if len(view) < len(magic) + extra + DIGEST_LEN or bytes(view[: len(magic)]) != magic:
        raise FormatError(f"not a {what} (bad magic or truncated)")
    body = view[:-DIGEST_LEN]
    if blake3.blake3(body).digest() != bytes(view[-DIGEST_LEN:]):
        raise FormatError(f"{what} checksum mismatch (damaged or truncated)")
    return body


def _sealed(out: bytearray) -> bytes:
    """``out`` followed by its BLAKE3 (how an index and a recipe end)."""
    out += blake3.blake3(out).digest()
    return bytes(out)


def _counted_body(data: bytes | memoryview, magic: bytes, what: str, header: struct.Struct,
                  entry: struct.Struct) -> tuple[tuple[int, ...], memoryview]:
    """The ``header`` fields after ``magic`` (the last one the entry count) and the bytes of
    the entries, once the magic, the digest and the length for that count are checked."""
    body = _checked_body(data, magic, what, extra=header.size)
    fields: tuple[int, ...] = header.unpack_from(body, len(magic))
    count = fields[-1]
    start = len(magic) + header.size
    if len(body) != start + count * entry.size:
        raise FormatError(f"{what} length does not match its count {count}")
    return fields, body[start:]
