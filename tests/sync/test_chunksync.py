"""Chunked objects to and from a directory remote (gitext.sync.chunksync): only the chunks
the other side lacks move, the remote's layout is the local one's bytes, and damaged remote
data leaves nothing behind."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from gitext.codec.hashing import ObjectId
from gitext.errors import CorruptObjectError
from gitext.git.repo import Repo
from gitext.remotes import Remote
from gitext.remotes.local import LocalBackend
from gitext.store.chunks import format as fmt
from gitext.store.objects import LocalStore
from gitext.sync import transfer
from gitext.sync.chunkremote import PACKS, RECIPES, Where, plan_ranges, recipe_key
from gitext.sync.chunksync import ChunkFetcher, chunk_store, fetch_chunked, push_chunked
from gitext.sync.transfer import TransferItem, TransferReport
from tests.helpers import git

PIECE = 64 * 1024


def put_chunked(store: LocalStore, data: bytes) -> ObjectId:
    """Store ``data`` as chunks of 64 KiB (boundaries do not matter to the remote side),
    every other chunk compressed, through the chunk store's own API."""
    import zstandard

    chunks = chunk_store(store)
    oid = ObjectId("sha256", hashlib.sha256(data).hexdigest())
    entries = []
    records = []
    for n, at in enumerate(range(0, len(data), PIECE)):
        raw = data[at:at + PIECE]
        cid = fmt.chunk_id(raw)
        entries.append((cid, len(raw)))
        stored, flags = (zstandard.compress(raw, 3), fmt.FLAG_ZSTD) if n % 2 else (raw, 0)
        records.append((cid, len(raw), flags, stored))
    lacking = chunks.missing([c for c, _ in entries])
    chunks.add_records([r for r in records if r[0] in lacking])
    chunks.write_recipe(oid, fmt.Recipe(len(data), entries))
    return oid


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def text(rng: random.Random, n: int) -> bytes:
    """Compressible but never repeating bytes."""
    return rng.randbytes(n).translate(bytes(b"0123456789,abc\n"[v % 15] for v in range(256)))


@pytest.fixture(scope="module")
def versions() -> list[bytes]:
    rng = random.Random(15)
    v1 = text(rng, 1 << 20)
    v2 = v1[:300_000] + text(rng, 1000) + v1[301_000:] + text(rng, 20_000)
    return [v1, v2]


def _remote(root: Path) -> Remote:
    root.mkdir(parents=True, exist_ok=True)
    return Remote("storage", os.fspath(root), LocalBackend(root, os.fspath(root)))


def _push(store: LocalStore, remote: Remote, oid: ObjectId) -> TransferReport:
    report = TransferReport("push")
    push_chunked(store, remote, [TransferItem(oid)], report, jobs=2)
    return report


def test_plan_ranges_joins_neighbours_and_splits_far_or_large_reads() -> None:
    def at(pack: str, offset: int, stored: int) -> tuple[bytes, Where]:
        return (os.urandom(32), Where(pack, offset, stored, stored, 0))

    a, b, c = at("p", 8, 100), at("p", 8 + 141, 100), at("p", 10_000_000, 100)
    d = at("q", 8, 100)
    spans = plan_ranges([c, b, d, a], gap=1000, max_range=1 << 20)
    assert [(s.pack, s.start, s.end, len(s.chunks)) for s in spans] == [
        ("p", 8, 8 + 2 * 141, 2), ("p", 10_000_000, 10_000_141, 1), ("q", 8, 149, 1)]
    assert len(plan_ranges([a, b], gap=1000, max_range=200)) == 2


@pytest.mark.skipif(os.name == "nt", reason="packs are linked only on POSIX")
def test_a_push_to_a_folder_on_the_same_filesystem_links_its_packs_once_durable(
        tmp_path: Path, versions: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    # The upload pack is fsynced and made read-only when finished, then hard-linked into
    # the remote (no second copy); what the remote holds is the same bytes either way.
    store = LocalStore(tmp_path / "ours")
    remote = _remote(tmp_path / "remote")
    oid = put_chunked(store, versions[0])
    linked: list[tuple[int, int]] = []
    real_link = os.link

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_link(src, dst)
        if str(dst).endswith((".pack", ".idx")):
            st = os.stat(dst)
            linked.append((st.st_nlink, st.st_mode & 0o777))

    monkeypatch.setattr(os, "link", spy)
    assert _push(store, remote, oid).ok
    packs = list((tmp_path / "remote" / PACKS).iterdir())
    assert len(linked) == len(packs) == 2  # one pack and its idx, each linked
    assert all(nlink == 2 and mode == 0o444 for nlink, mode in linked)
    # our temporary pack is gone; the idx stays linked as the remote index's local cache
    assert sorted((p.suffix, p.stat().st_nlink) for p in packs) == [(".idx", 2), (".pack", 1)]
    theirs = LocalStore(tmp_path / "theirs")
    report = TransferReport("fetch")
    left = fetch_chunked(theirs, remote, [TransferItem(oid)], report, sizes={}, jobs=2)
    assert not left and report.ok
    assert b"".join(theirs.iter_rebuilt(oid)) == versions[0]


def test_second_version_moves_only_its_new_chunks(tmp_path: Path,
                                                  versions: list[bytes]) -> None:
    v1, v2 = versions
    ours, theirs = LocalStore(tmp_path / "ours"), LocalStore(tmp_path / "theirs")
    remote = _remote(tmp_path / "remote")
    o1 = put_chunked(ours, v1)
    report = _push(ours, remote, o1)
    assert report.ok and report.transferred == [o1]
    first = tree_bytes(tmp_path / "remote")
    assert (tmp_path / "remote" / recipe_key(o1.digest)).is_file()
    assert list((tmp_path / "remote" / PACKS).glob("*.idx"))

    o2 = put_chunked(ours, v2)
    _push(ours, remote, o2)
    grew = tree_bytes(tmp_path / "remote") - first
    assert grew < 4 * PIECE  # two changed chunks, the appended one, idx and recipe

    fetcher = ChunkFetcher(theirs, remote, jobs=2)
    whole = fetcher.fetch(TransferItem(o1), len(v1))
    again = ChunkFetcher(theirs, remote, jobs=2).fetch(TransferItem(o2), len(v2))
    assert again < 4 * PIECE < whole
    got = bytearray()
    chunk_store(theirs).stream_file(o2, got.extend)
    assert bytes(got) == v2


def test_fetch_chunked_hands_each_verified_object_on_as_it_lands(
        tmp_path: Path, versions: list[bytes]) -> None:
    """A pull places a chunked file while the rest downloads: ``on_object`` is called once
    the object is rebuilt and checked, and the store knows it is verified (the work-tree
    fill then rebuilds it once, to write it, not a second time to check it)."""
    ours, theirs = LocalStore(tmp_path / "ours"), LocalStore(tmp_path / "theirs")
    remote = _remote(tmp_path / "remote")
    oid = put_chunked(ours, versions[0])
    _push(ours, remote, oid)
    whole = TransferItem(ObjectId("md5", "0" * 32))
    ready: list[ObjectId] = []
    report = TransferReport("fetch")
    left = fetch_chunked(theirs, remote, [TransferItem(oid), whole], report, sizes={},
                         jobs=2, on_object=ready.append)
    assert left == [whole] and ready == [oid] and report.transferred == [oid]
    assert theirs.is_chunked(oid) and theirs.is_verified(oid)


@pytest.fixture
def pushed(tmp_path: Path, versions: list[bytes]) -> tuple[LocalStore, Remote, ObjectId, Path]:
    ours = LocalStore(tmp_path / "ours")
    remote = _remote(tmp_path / "remote")
    oid = put_chunked(ours, versions[0])
    _push(ours, remote, oid)
    pack = next((tmp_path / "remote" / PACKS).glob("*.pack"))
    return LocalStore(tmp_path / "theirs"), remote, oid, pack


def _damage(path: Path, how: str) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    elif how == "header":
        data[len(fmt.PACK_MAGIC) + 33] ^= 0xFF  # the first record's raw length
    else:
        data[-100] ^= 0xFF  # stored bytes of the last chunk
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    path = tmp_path_factory.mktemp("chunksync")
    git(path, "init", "-q", "-b", "main")
    return Repo.discover(path)


@pytest.mark.parametrize("how", ["truncate", "header", "bytes"])
def test_damaged_remote_pack_produces_nothing_and_deletes_nothing(
        pushed: tuple[LocalStore, Remote, ObjectId, Path], how: str, tmp_path: Path,
        repo: Repo) -> None:
    theirs, remote, oid, pack = pushed
    _damage(pack, how)
    before = sorted(p.name for p in (tmp_path / "remote").rglob("*"))
    with pytest.raises(CorruptObjectError) as err:
        ChunkFetcher(theirs, remote, jobs=2).fetch(TransferItem(oid), None)
    assert "git archives push -r storage" in (err.value.hint or "")
    assert ("truncated" if how == "truncate" else "idx") in str(err.value) + (
        err.value.hint or "")
    assert not chunk_store(theirs).has_recipe(oid)
    assert sorted(p.name for p in (tmp_path / "remote").rglob("*")) == before
    if how == "truncate":  # the repair the hint gives: a push from a clone with the file
        assert transfer.push(repo, remote, [oid], store=LocalStore(tmp_path / "ours")).ok
        ChunkFetcher(theirs, remote, jobs=2).fetch(TransferItem(oid), None)
        assert theirs.is_chunked(oid)


def test_a_recipe_naming_chunks_no_pack_holds_is_refused(
        pushed: tuple[LocalStore, Remote, ObjectId, Path], tmp_path: Path) -> None:
    theirs, remote, oid, _pack = pushed
    for idx in (tmp_path / "remote" / PACKS).glob("*.idx"):
        idx.unlink()
    with pytest.raises(CorruptObjectError, match="no sound pack on the remote holds"):
        ChunkFetcher(theirs, remote, jobs=2).fetch(TransferItem(oid), None)
    assert not chunk_store(theirs).has_recipe(oid)
    assert (tmp_path / "remote" / RECIPES).is_dir()


@pytest.mark.parametrize("what", ["recipe", "pack index"])
def test_a_recipe_or_index_larger_than_any_can_be_is_refused_before_it_is_held(
        pushed: tuple[LocalStore, Remote, ObjectId, Path], tmp_path: Path, what: str,
        versions: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile or damaged remote that answers an endless stream for a small object is
    cut off at the most bytes that object can have: one clear refusal, nothing kept, and
    never more than that bound held in memory."""
    theirs, remote, oid, pack = pushed
    size = len(versions[0])
    if what == "recipe":
        target, bound = tmp_path / "remote" / recipe_key(oid.digest), fmt.max_recipe_bytes(size)
    else:
        monkeypatch.setattr(fmt, "max_idx_bytes", lambda: 1 << 20)  # (the real one: ~78 MB)
        target, bound = pack.with_suffix(".idx"), 1 << 20
    target.chmod(0o644)
    original = target.read_bytes()
    with open(target, "r+b") as f:
        f.truncate(bound * 50)  # (sparse: read back as zeros)
    held: list[int] = []
    real_get = remote.backend.get

    def watching_get(key: str, dst: object, *args: object, **kw: object) -> int:
        try:
            return real_get(key, dst, *args, **kw)  # type: ignore[arg-type]
        finally:
            held.append(len(dst.getvalue()) if hasattr(dst, "getvalue") else 0)

    monkeypatch.setattr(remote.backend, "get", watching_get)
    try:
        with pytest.raises(CorruptObjectError, match=f"larger than any {what} can be") as err:
            ChunkFetcher(theirs, remote, jobs=2).fetch(TransferItem(oid), size)
        assert max(held) <= bound
        assert err.value.hint
        assert not chunk_store(theirs).has_recipe(oid)
    finally:
        target.write_bytes(original)
    ChunkFetcher(theirs, remote, jobs=2).fetch(TransferItem(oid), size)  # repaired: fetched
    assert theirs.is_chunked(oid)


@pytest.mark.parametrize("verified", [True, False])
def test_a_rebuild_for_upload_never_hands_on_a_damaged_chunk(tmp_path: Path,
                                                            verified: bool) -> None:
    """What an LFS upload sends: a recipe verified since it was written has each chunk
    checked against its id (no sha256 of the whole file), and no byte of a damaged chunk
    is handed on; one that was not, the whole file's sha256. Either way the error comes
    before the upload's last part (an upload of a known length then never completes)."""
    data = random.Random(5).randbytes(40 * PIECE)
    store = LocalStore(tmp_path / "cache")
    oid = put_chunked(store, data)
    if verified:  # (a rebuild, its sha256 checked: remembered in state.db)
        assert b"".join(store.iter_rebuilt(oid)) == data
        store.state.flush()
    (pack,) = (tmp_path / "cache" / "chunks" / "packs").glob("*.pack")
    raw = bytearray(pack.read_bytes())
    at = raw.find(data[30 * PIECE:30 * PIECE + 64])  # chunk 30 is stored as it is
    assert at > 0
    raw[at + 10] ^= 1
    pack.chmod(0o644)
    pack.write_bytes(bytes(raw))
    store = LocalStore(tmp_path / "cache")  # (a new process: nothing remembered but state.db)
    assert store.is_verified(oid) is verified
    got = []
    with pytest.raises(CorruptObjectError, match="does not match its id"):
        for part in store.iter_rebuilt(oid):
            got.append(part)
    sent = b"".join(got)
    assert len(sent) < len(data)
    assert data.startswith(sent) or not verified
