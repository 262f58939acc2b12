"""ChunkStore: files in, files out, only new chunks stored, and damage never served."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from gitext.codec.hashing import ObjectId
from gitext.errors import CorruptObjectError, ObjectMissingError
from gitext.store.chunks.chunker import ChunkingWriter
from gitext.store.chunks.format import FLAG_ZSTD, RECORD_HEADER, Recipe, chunk_id
from gitext.store.chunks.store import ChunkStore


def _data(seed: int, n: int) -> bytes:
    rng = random.Random(seed)
    return rng.randbytes(n // 2) + b"".join(b"row %d,%d\n" % (i, rng.randrange(99))
                                           for i in range(n // 20))[: n - n // 2]


def add(cs: ChunkStore, data: bytes, *, block: int = 100_000) -> tuple[ObjectId, ChunkingWriter]:
    w = ChunkingWriter(cs, workers=1)
    for i in range(0, len(data), block):
        w.write(data[i:i + block])
    oid, size = w.finish()
    assert size == len(data)
    return oid, w


V1 = _data(1, 3 << 20)
V2 = V1[:1_000_000] + b"an edit in the middle" + V1[1_000_000:] + b"appended rows\n" * 500


@pytest.fixture
def cs(tmp_path: Path) -> ChunkStore:
    return ChunkStore(tmp_path / "chunks")


def test_round_trip_and_only_new_chunks(cs: ChunkStore) -> None:
    oid1, w1 = add(cs, V1)
    assert oid1.digest == hashlib.sha256(V1).hexdigest()
    assert w1.new_bytes == len(V1)
    oid2, w2 = add(cs, V2, block=777_777)  # block size does not change the cuts
    assert w2.new_bytes < len(V2) // 5, w2.new_bytes
    fresh = ChunkStore(cs.root)  # another process: reads the sealed indexes
    for oid, data in ((oid1, V1), (oid2, V2)):
        out = bytearray()
        assert fresh.stream_file(oid, out.extend) == len(data)
        assert bytes(out) == data
        assert fresh.read_recipe(oid).size == len(data)
    flags = {fresh.locate(c)[4] for c, _ in fresh.read_recipe(oid1).chunks}  # type: ignore[index]
    assert flags == {0, FLAG_ZSTD}  # random bytes raw, text compressed


def test_add_records_copies_and_checks(cs: ChunkStore, tmp_path: Path) -> None:
    oid, _ = add(cs, V1)
    other = ChunkStore(tmp_path / "other")
    recipe = cs.read_recipe(oid)
    records = []
    for cid, _ in recipe.chunks:
        pid, off, raw_len, stored_len, flags = cs.locate(cid)  # type: ignore[misc]
        pack = (cs.packs_dir / f"{pid}.pack").read_bytes()
        start = off + RECORD_HEADER.size
        records.append((cid, raw_len, flags, pack[start:start + stored_len]))
    with pytest.raises(ObjectMissingError):  # a recipe only after its chunks
        other.write_recipe(oid, recipe)
    bad = [(records[0][0], records[1][1], records[1][2], records[1][3])]
    with pytest.raises(CorruptObjectError, match="does not match"):
        other.add_records(bad)
    assert other.missing([records[0][0]]) == {records[0][0]}
    assert not list(other.packs_dir.glob("*.pack"))  # the refused pack is gone
    assert other.add_records(records) == len({r[0] for r in records})
    assert other.add_records(records) == 0
    other.write_recipe(oid, recipe)
    assert other.stream_file(oid, lambda _b: None) == len(V1)


def _damage(cs: ChunkStore, oid: ObjectId, how: str) -> None:
    cid = cs.read_recipe(oid).chunks[1][0]
    pid, off, *_ = cs.locate(cid)  # type: ignore[misc]
    pack = cs.packs_dir / f"{pid}.pack"
    data = bytearray(pack.read_bytes())
    if how == "flip":
        data[off + RECORD_HEADER.size + 5] ^= 0xFF
    elif how == "truncate":
        data = data[: off + 10]
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_damage_is_refused(cs: ChunkStore, how: str) -> None:
    oid, _ = add(cs, V1)
    _damage(cs, oid, how)
    fresh = ChunkStore(cs.root)
    with pytest.raises(CorruptObjectError) as err:
        fresh.stream_file(oid, lambda _b: None)
    assert "fsck" in str(err.value.hint)


def test_a_trusted_rebuild_checks_each_chunk_and_refuses_a_bad_one(cs: ChunkStore) -> None:
    # a file that repeats itself: repeated chunks are decoded once, and still checked
    data = V1 + V1[:1_500_000]
    oid, _ = add(cs, data)
    recipe = cs.read_recipe(oid)
    assert len({c for c, _ in recipe.chunks}) < len(recipe.chunks)
    fresh = ChunkStore(cs.root)
    out = bytearray()
    assert fresh.stream_file(oid, out.extend, trusted=True) == len(data)
    assert bytes(out) == data
    for how in ("flip", "truncate"):
        _damage(cs, oid, how)
        got = bytearray()
        with pytest.raises(CorruptObjectError) as err:
            ChunkStore(cs.root).stream_file(oid, got.extend, trusted=True)
        bad = recipe.chunks[1][0].hex()[:16]
        assert bad in err.value.message and "fsck" in str(err.value.hint)
        assert len(got) < len(data)  # refused before the end: nothing claims success


def test_missing_chunk_is_named_before_any_byte(cs: ChunkStore) -> None:
    oid = ObjectId("sha256", hashlib.sha256(b"abc").hexdigest())
    cs.root.mkdir(parents=True)
    (cs.root / "recipes" / oid.digest[:2]).mkdir(parents=True)
    from gitext.store.chunks.format import encode_recipe

    (cs.root / "recipes" / oid.digest[:2] / oid.digest[2:]).write_bytes(
        encode_recipe(Recipe(3, [(chunk_id(b"abc"), 3)])))
    got: list[bytes | memoryview] = []
    with pytest.raises(ObjectMissingError, match="not in the local cache"):
        cs.stream_file(oid, got.append)
    assert got == []


def test_cuts_do_not_depend_on_block_size(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from gitext.store.chunks import chunker

    whole = chunker.cut_points(V1)
    assert min(whole[:-1]) >= 8 << 10 and max(whole) <= 128 << 10
    monkeypatch.setattr(chunker, "BLOCK", 150_000)  # cut often: the carry-over is used
    for block in (4_096, 65_536, 1_000_001):
        cs = ChunkStore(tmp_path / f"b{block}")
        oid, _ = add(cs, V1, block=block)
        assert [n for _, n in cs.read_recipe(oid).chunks] == whole
