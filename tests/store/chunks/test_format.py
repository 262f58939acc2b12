"""The chunk store's bytes: round trips, and every damage raises FormatError."""

from __future__ import annotations

import itertools

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitext.store.chunks.format import (
    FLAG_ZSTD,
    IDX_ENTRY,
    IDX_MAGIC,
    MAX_CHUNK,
    MAX_PACK,
    MIN_CUT,
    PACK_MAGIC,
    RECIPE_MAGIC,
    RECORD_HEADER,
    FormatError,
    IdxEntry,
    Recipe,
    RecipeMatch,
    chunk_id,
    decode_idx,
    decode_recipe,
    decode_record_header,
    encode_idx,
    encode_recipe,
    encode_record,
    is_pack_id,
    iter_pack,
    max_idx_bytes,
    max_recipe_bytes,
    new_pack_id,
    recipe_key,
)

ids = st.binary(min_size=32, max_size=32)
lengths = st.integers(min_value=1, max_value=1 << 17)
recipes = st.lists(st.tuples(ids, lengths), max_size=40).map(
    lambda cs: Recipe(sum(n for _, n in cs), cs))


@st.composite
def idx_entries(draw: st.DrawFn) -> list[IdxEntry]:
    cids = draw(st.lists(ids, unique=True, max_size=40))
    out = []
    for cid in cids:
        raw = draw(lengths)
        zstd = draw(st.booleans())
        stored = draw(st.integers(1, raw)) if zstd else raw
        out.append(IdxEntry(cid, draw(st.integers(len(PACK_MAGIC), 1 << 40)), raw, stored,
                            FLAG_ZSTD if zstd else 0))
    return out


@given(recipes)
def test_recipe_round_trip(recipe: Recipe) -> None:
    assert decode_recipe(encode_recipe(recipe)) == recipe


@given(idx_entries())
def test_idx_round_trip_sorted(entries: list[IdxEntry]) -> None:
    data = encode_idx(entries)
    assert data.startswith(IDX_MAGIC)
    assert decode_idx(data) == sorted(entries)
    assert len(data) == len(IDX_MAGIC) + 4 + len(entries) * IDX_ENTRY.size + 32


@settings(max_examples=60)
@given(recipes, st.data())
def test_recipe_any_flipped_or_cut_byte_is_refused(recipe: Recipe, data: st.DataObject) -> None:
    enc = bytearray(encode_recipe(recipe))
    pos = data.draw(st.integers(0, len(enc) - 1))
    cut = bytes(enc[:pos])
    enc[pos] ^= data.draw(st.integers(1, 255))
    for bad in (bytes(enc), cut, bytes(enc) + b"x"):
        with pytest.raises(FormatError):
            decode_recipe(bad)


@settings(max_examples=60)
@given(idx_entries(), st.data())
def test_idx_any_flipped_or_cut_byte_is_refused(entries: list[IdxEntry],
                                                data: st.DataObject) -> None:
    enc = bytearray(encode_idx(entries))
    pos = data.draw(st.integers(0, len(enc) - 1))
    cut = bytes(enc[:pos])
    enc[pos] ^= data.draw(st.integers(1, 255))
    for bad in (bytes(enc), cut):
        with pytest.raises(FormatError):
            decode_idx(bad)


def _entry_by_entry(rows: list[tuple[bytes, int, int, int, int]]) -> str | None:
    """The index checks as a plain loop (the definition the fast decoder must match)."""
    prev = b""
    for cid, offset, raw, stored, flags in rows:
        if cid <= prev:
            return "index entries are not sorted by chunk id"
        if offset < len(PACK_MAGIC):
            return f"index offset {offset} is inside the pack header"
        if flags & ~FLAG_ZSTD:
            return f"unknown chunk flags {flags:#x}"
        if not 0 < raw <= MAX_CHUNK:
            return f"chunk length {raw} is out of bounds"
        if not 0 < stored <= MAX_CHUNK or (not flags & FLAG_ZSTD and stored != raw):
            return f"stored length {stored} does not fit raw length {raw}"
        prev = cid
    return None


few_ids = st.sampled_from([bytes([b]) * 32 for b in (1, 2, 3, 200)])
any_row = st.tuples(few_ids, st.integers(0, 20), st.sampled_from([0, 1, 5, MAX_CHUNK,
                                                                  MAX_CHUNK + 1]),
                    st.sampled_from([0, 1, 5, MAX_CHUNK + 1]), st.sampled_from([0, 1, 2]))


@settings(max_examples=300)
@given(st.lists(any_row, max_size=6))
def test_idx_decoder_refuses_exactly_what_an_entry_by_entry_check_refuses(
        rows: list[tuple[bytes, int, int, int, int]]) -> None:
    # Sealed with a sound digest, so only the entries themselves can be wrong.
    body = bytearray(IDX_MAGIC) + len(rows).to_bytes(4, "little")
    for row in rows:
        body += IDX_ENTRY.pack(*row)
    data = bytes(body) + blake3.blake3(bytes(body)).digest()
    why = _entry_by_entry(rows)
    if why is None:
        assert decode_idx(data) == rows
    else:
        with pytest.raises(FormatError) as err:
            decode_idx(data)
        assert err.value.message == why


@given(st.lists(st.tuples(st.binary(min_size=31, max_size=33),
                          st.sampled_from([0, 1, 7, MAX_CHUNK, MAX_CHUNK + 1])), max_size=5),
       st.integers(0, 3 * MAX_CHUNK))
def test_a_recipe_is_refused_exactly_when_a_chunk_or_the_total_is_wrong(
        chunks: list[tuple[bytes, int]], size: int) -> None:
    sound = all(len(c) == 32 and 0 < n <= MAX_CHUNK for c, n in chunks) \
        and sum(n for _, n in chunks) == size
    if sound:
        assert Recipe(size, chunks).chunks == chunks
    else:
        with pytest.raises(FormatError):
            Recipe(size, chunks)


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=20))
def test_pack_records_walk_back(chunks: list[bytes]) -> None:
    pack = bytearray(PACK_MAGIC)
    offsets = []
    for c in chunks:
        offsets.append(len(pack))
        pack += encode_record(chunk_id(c), len(c), 0, c)
    recs = list(iter_pack(bytes(pack)))
    assert [r.offset for r in recs] == offsets
    for r, c in zip(recs, chunks, strict=True):
        assert r.chunk_id == chunk_id(c)
        start = r.offset + RECORD_HEADER.size
        assert bytes(pack[start:r.end]) == c
    if chunks:  # a truncated pack is refused at its last record
        with pytest.raises(FormatError, match="truncated"):
            list(iter_pack(bytes(pack[:-1])))


def test_record_checks() -> None:
    with pytest.raises(FormatError):
        encode_record(b"short", 3, 0, b"abc")
    with pytest.raises(FormatError):  # raw: stored must equal raw
        encode_record(chunk_id(b"abc"), 4, 0, b"abc")
    with pytest.raises(FormatError):
        encode_record(chunk_id(b"abc"), 3, 0x80, b"abc")
    rec = encode_record(chunk_id(b"abc"), 10, FLAG_ZSTD, b"abc")
    hdr = decode_record_header(PACK_MAGIC + rec, len(PACK_MAGIC))
    assert (hdr.raw_len, hdr.stored_len, hdr.flags) == (10, 3, FLAG_ZSTD)
    with pytest.raises(FormatError, match="bad magic"):
        list(iter_pack(b"GAPACK\x02\n" + rec))


def test_identity_constants() -> None:
    # The chunk id is the BLAKE3 keyed hash under the format's fixed key (a known answer,
    # so a change of key or algorithm is caught: remotes share these ids).
    assert chunk_id(b"").hex() == chunk_id(memoryview(b"")).hex()
    assert len(chunk_id(b"x")) == 32 and chunk_id(b"x") != chunk_id(b"y")
    assert chunk_id(b"abc").hex() == KNOWN_ABC
    pid = new_pack_id()
    assert is_pack_id(pid) and pid != new_pack_id() and not is_pack_id(pid.upper())
    assert recipe_key("ab" + "c" * 62) == "recipes/ab/" + "c" * 62
    assert RECIPE_MAGIC == b"GARECIPE\x01\n"
    with pytest.raises(FormatError):
        Recipe(5, [(chunk_id(b"a"), 4)])
    with pytest.raises(FormatError, match="twice"):
        encode_idx([IdxEntry(b"a" * 32, 8, 1, 1, 0), IdxEntry(b"a" * 32, 50, 1, 1, 0)])


KNOWN_ABC = "ee4ce7a7fad5cf265dd59629555acce65ac3b3cc7968953ee0422732716a22d7"


@st.composite
def chunked_files(draw: st.DrawFn) -> tuple[bytes, Recipe, list[int]]:
    """Bytes, their recipe (arbitrary chunk boundaries) and arbitrary feeding cuts."""
    data = draw(st.binary(max_size=3000))
    bounds = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=8))))
    edges = [0, *[b for b in bounds if b < len(data)], len(data)] if data else [0]
    chunks = [(chunk_id(data[a:b]), b - a) for a, b in itertools.pairwise(edges)]
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=8))))
    return data, Recipe(len(data), chunks), cuts


def _feed(recipe: Recipe, data: bytes, cuts: list[int]) -> bool:
    match = RecipeMatch(recipe)
    for a, b in itertools.pairwise([0, *cuts, len(data)]):
        match.feed(memoryview(data)[a:b])
    return match.matched()


@settings(max_examples=150, deadline=None)
@given(chunked_files(), st.data())
def test_recipe_match_is_byte_equality(case: tuple[bytes, Recipe, list[int]],
                                       data: st.DataObject) -> None:
    """However the stream is cut, it matches its recipe; any flipped, missing or extra
    byte does not."""
    raw, recipe, cuts = case
    assert _feed(recipe, raw, cuts)
    if raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        flipped = raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1:]
        assert not _feed(recipe, flipped, [c for c in cuts if c <= len(flipped)])
        assert not _feed(recipe, raw[:i], [c for c in cuts if c <= i])
    assert not _feed(recipe, raw + b"x", cuts)


@given(st.integers(min_value=0, max_value=1 << 36))
def test_no_recipe_of_a_file_is_larger_than_its_bound(size: int) -> None:
    """The recipe with the most chunks a file of ``size`` bytes can have (all MIN_CUT long
    but the last) fits its bound; what a remote sends past it is refused unread."""
    count = size // MIN_CUT + (1 if size % MIN_CUT else 0)
    one = len(encode_recipe(Recipe(1, [(b"\0" * 32, 1)])))
    none = len(encode_recipe(Recipe(0, [])))  # (the size field has one width)
    assert one - none == 36
    assert none + count * 36 <= max_recipe_bytes(size) < none + (count + 2) * 36
    assert max_recipe_bytes(None) >= max_recipe_bytes(64 << 30)


def test_no_index_of_a_pack_is_larger_than_its_bound() -> None:
    """A full pack of one-byte records has the most entries an index can list."""
    empty = len(encode_idx([]))
    entry = IDX_ENTRY.size
    records = MAX_PACK // (RECORD_HEADER.size + 1)
    assert len(encode_idx([IdxEntry(b"\1" * 32, len(PACK_MAGIC), 1, 1, 0)])) == empty + entry
    assert empty + records * entry <= max_idx_bytes() < 100 << 20

