"""Chunked objects through the transfer layer on real repositories: push and fetch pick the
chunk layout where the remote takes it, whole objects where it does not (a Git LFS server,
an old remote), and ``remote status`` / ``gc --remote`` understand chunk packs."""

from __future__ import annotations

import hashlib
import io
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from gitext.codec.hashing import ObjectId
from gitext.git.repo import Repo
from gitext.remotes import Remote
from gitext.remotes.local import LocalBackend
from gitext.store.objects import LocalStore
from gitext.sync import prepush, transfer
from gitext.sync.chunkgc import deletion_phases, plan_chunks
from gitext.sync.chunkremote import PACKS, RECIPES, recipe_key, where_key
from gitext.sync.chunksync import chunk_store, push_chunked, remote_index
from gitext.sync.references import References
from tests.helpers import git
from tests.helpers.lfs_server import Giftless
from tests.sync.test_chunksync import put_chunked, text


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    path = tmp_path_factory.mktemp("chunkflows") / "r"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return Repo.discover(path)


def _remote(root: Path) -> Remote:
    root.mkdir(parents=True, exist_ok=True)
    return Remote("storage", os.fspath(root), LocalBackend(root, os.fspath(root)))


def _data(seed: int, n: int = 400_000) -> bytes:
    return text(random.Random(seed), n)


def test_push_fetch_and_status_of_a_chunked_object(repo: Repo, tmp_path: Path) -> None:
    ours, theirs = LocalStore(tmp_path / "ours"), LocalStore(tmp_path / "theirs")
    data = _data(1)
    oid = put_chunked(ours, data)
    remote = _remote(tmp_path / "remote")
    refs = References(objects={oid}, sizes={oid: len(data)})
    assert prepush.remote_status(repo, remote, refs).local_only == []  # (store of repo)
    report = transfer.push(repo, remote, [oid], store=ours)
    assert report.ok and report.transferred == [oid]
    assert not (tmp_path / "remote" / oid.key).exists()  # no whole copy
    assert (tmp_path / "remote" / recipe_key(oid.digest)).is_file()
    again = transfer.push(repo, remote, [oid], store=ours)
    assert again.already == 1 and again.transferred == []

    got = transfer.fetch(repo, remote, refs, store=theirs)
    assert got.ok and got.transferred == [oid]
    assert theirs.is_chunked(oid) and not theirs.path(oid).exists()
    assert transfer.fetch(repo, remote, refs, store=theirs).already == 1
    out = bytearray()
    chunk_store(theirs).stream_file(oid, out.extend)
    assert bytes(out) == data


def test_remote_status_counts_recipes_on_both_sides(repo: Repo, tmp_path: Path,
                                                    ) -> None:
    store = LocalStore(tmp_path / "cache")
    data = _data(2)
    oid = put_chunked(store, data)
    remote = _remote(tmp_path / "remote")
    refs = References(objects={oid}, sizes={oid: len(data)})
    assert prepush.remote_status(repo, remote, refs, store=store).local_only == [oid]
    transfer.push(repo, remote, [oid], store=store)
    st = prepush.remote_status(repo, remote, refs, store=store)
    assert (st.local_only, st.remote_only, st.nowhere) == ([], [], [])


def test_an_old_remote_with_whole_objects_is_fetched_whole(repo: Repo,
                                                           tmp_path: Path) -> None:
    data = _data(3)
    oid = ObjectId("sha256", hashlib.sha256(data).hexdigest())
    remote = _remote(tmp_path / "old")
    whole = tmp_path / "old" / oid.key
    whole.parent.mkdir(parents=True)
    whole.write_bytes(data)
    theirs = LocalStore(tmp_path / "theirs")
    report = transfer.fetch(repo, remote, References(objects={oid}), store=theirs)
    assert report.ok and theirs.has(oid)
    assert not (tmp_path / "old" / "chunks").exists()
    # a clone holding it as chunks does not push it again as chunks: the remote has it
    ours = LocalStore(tmp_path / "ours")
    assert put_chunked(ours, data) == oid
    assert transfer.push(repo, remote, [oid], store=ours).already == 1
    assert not (tmp_path / "old" / "chunks").exists()


def test_a_git_lfs_server_gets_the_whole_file_rebuilt(repo: Repo, tmp_path: Path,
                                                      giftless: Giftless) -> None:
    from gitext.remotes import _lfs_factory

    ours = LocalStore(tmp_path / "ours")
    data = _data(4)
    oid = put_chunked(ours, data)
    url = giftless.url("org", "chunked")
    backend = _lfs_factory(f"lfs+{url}", {}, repo.worktree)
    remote = Remote("lfs", url, backend)
    try:
        report = transfer.push(repo, remote, [oid], store=ours)
    finally:
        remote.close()
    assert report.ok, report.summary()
    assert giftless.stored("org", "chunked") == {oid.digest: data}


def test_a_corrupt_rebuild_never_reaches_a_git_lfs_server_whole(repo: Repo, tmp_path: Path,
                                                              giftless: Giftless) -> None:
    """The rebuilt bytes stream into the upload; a bad chunk stops it before its end."""
    from gitext.remotes import _lfs_factory

    ours = LocalStore(tmp_path / "ours")
    data = _data(5)
    oid = put_chunked(ours, data)
    [pack] = (tmp_path / "ours" / "chunks").rglob("*.pack")
    good = pack.read_bytes()
    raw = bytearray(good)
    at = raw.index(data[:4096])  # the first chunk is stored uncompressed
    raw[at + 100] ^= 0xFF
    pack.write_bytes(bytes(raw))
    url = giftless.url("org", "corrupt")
    remote = Remote("lfs", url, _lfs_factory(f"lfs+{url}", {}, repo.worktree))
    try:
        report = transfer.push(repo, remote, [oid], store=ours)
        assert report.corrupt == [oid] and not report.transferred
        # at most a truncated body (giftless keeps an empty file of it), never the bytes
        assert len(giftless.stored("org", "corrupt").get(oid.digest, b"")) < len(data)
        pack.write_bytes(good)  # repaired: the next push sends it whole
        again = transfer.push(repo, remote, [oid], store=ours)
    finally:
        remote.close()
    assert again.transferred == [oid]
    assert giftless.stored("org", "corrupt") == {oid.digest: data}


def test_gc_plan_drops_unkept_recipes_and_dead_packs_in_a_safe_order(tmp_path: Path) -> None:
    ours = LocalStore(tmp_path / "ours")
    remote = _remote(tmp_path / "remote")
    gone, kept = put_chunked(ours, _data(5)), put_chunked(ours, _data(6))
    for oid in (gone, kept):  # one pack each: the two files share no chunk
        report = transfer.TransferReport("push")
        push_chunked(ours, remote, [transfer.TransferItem(oid)], report, jobs=1)
    packs = sorted(p.name for p in (tmp_path / "remote" / PACKS).iterdir())
    assert len(packs) == 4
    index = remote_index(ours, remote)
    doomed, recent = plan_chunks(remote.backend, index, {kept.key}, time.time() + 1)
    keys = {k for k, _ in doomed}
    assert {recipe_key(gone.digest), where_key(gone.digest)} <= keys
    assert len(keys) == 4 and not recent  # gone's recipe, where-file, pack and idx
    phases = deletion_phases(doomed)
    assert [p[0].rpartition(".")[2] if p[0].startswith(PACKS) else "recipe"
            for p in phases] == ["recipe", "idx", "pack"]
    assert len(phases[0]) == 2
    # within the grace period nothing goes: the young recipe keeps its chunks live
    doomed, recent = plan_chunks(remote.backend, index, {kept.key}, time.time() - 3600)
    assert doomed == [] and [k for k, _ in recent] == [recipe_key(gone.digest),
                                                       where_key(gone.digest)]
    # a pack without its idx (a killed push), old: it goes
    orphan = tmp_path / "remote" / PACKS / ("0" * 32 + ".pack")
    orphan.write_bytes(b"GAPACK\x01\n")
    doomed, _ = plan_chunks(remote.backend, index, {kept.key, gone.key}, time.time() + 1)
    assert [k for k, _ in doomed] == [f"{PACKS}{'0' * 32}.pack"]
    assert (tmp_path / "remote" / RECIPES).is_dir()
    buf = io.BytesIO()
    remote.backend.get(recipe_key(kept.digest), buf)
    assert buf.getvalue()


def test_git_push_and_pull_move_only_the_new_chunks(tmp_path: Path) -> None:
    """End to end with the CLI: a 1.5 MB file is cleaned into chunks, pushed as packs; a
    clone pulls it; the next version moves only its new chunks both ways."""
    from tests.helpers import archives
    from tests.helpers.s3 import add_dir_remote, make_data_repo

    v1 = _data(7, 1_500_000)
    v2 = v1[:700_000] + _data(8, 500) + v1[700_500:] + _data(9, 30_000)
    repo = make_data_repo(tmp_path / "src", {"big.bin": v1})
    remote = add_dir_remote(repo, tmp_path / "remote", commit=True)
    archives(repo, "push")
    oid1 = ObjectId("sha256", hashlib.sha256(v1).hexdigest())
    assert (remote / recipe_key(oid1.digest)).is_file() and not (remote / "files").exists()
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(repo), os.fspath(clone))
    archives(clone, "install")
    archives(clone, "pull")
    assert (clone / "big.bin").read_bytes() == v1

    (repo / "big.bin").write_bytes(v2)
    git(repo, "commit", "-qam", "v2")
    before = sum(p.stat().st_size for p in remote.rglob("*") if p.is_file())
    archives(repo, "push")
    grew = sum(p.stat().st_size for p in remote.rglob("*") if p.is_file()) - before
    assert 0 < grew < 300_000  # new chunks + idx + recipe, not the 1.5 MB file
    cache = clone / ".git" / "archives" / "chunks"
    before = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    git(clone, "pull", "-q", "--ff-only")  # the checkout's smudge fetches what it lacks
    archives(clone, "pull")
    assert (clone / "big.bin").read_bytes() == v2
    grew = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) - before
    assert 0 < grew < 300_000
    # gc --remote: v1's recipe goes; its pack stays (v2 still needs most of its chunks)
    packs = sorted(p.name for p in (remote / PACKS).iterdir())
    archives(clone, "gc", "-w", "--remote", "--expire", "now", "--yes")  # v1 is pushed
    assert not (remote / recipe_key(oid1.digest)).exists()
    assert sorted(p.name for p in (remote / PACKS).iterdir()) == packs


def test_chunks_through_s3(repo: Repo, tmp_path: Path, bucket: str, moto_endpoint: str) -> None:
    """The same layout on an object store: listing, puts, ranged GETs (moto's server)."""
    from gitext.remotes.s3 import S3Backend

    backend = S3Backend.from_url(f"s3://{bucket}/proj", {
        "endpointurl": moto_endpoint, "pathstyle": "true", "region": "us-east-1",
        "retries": "2"})
    remote = Remote("storage", backend.url, backend)
    ours, theirs = LocalStore(tmp_path / "ours"), LocalStore(tmp_path / "theirs")
    data = _data(10)
    oid = put_chunked(ours, data)
    try:
        assert transfer.push(repo, remote, [oid], store=ours).ok
        keys = {k for k, _ in backend.list("chunks/")}
        assert recipe_key(oid.digest) in keys and not any(k.startswith("files/") for k in keys)
        assert transfer.fetch(repo, remote, References(objects={oid}), store=theirs).ok
    finally:
        remote.close()
    out = bytearray()
    chunk_store(theirs).stream_file(oid, out.extend)
    assert bytes(out) == data


def test_chunks_through_a_read_only_http_remote(repo: Repo, tmp_path: Path,
                                                 http_remote: Any) -> None:
    """An http remote cannot be listed: the whole object is asked for first, then the
    recipe, whose where-file names the packs whose idx files are read (no listing)."""
    from gitext.remotes.http import HttpBackend

    ours, theirs = LocalStore(tmp_path / "ours"), LocalStore(tmp_path / "theirs")
    data = _data(11)
    oid = put_chunked(ours, data)
    assert transfer.push(repo, _remote(http_remote.folder), [oid], store=ours).ok
    backend = HttpBackend.from_url(http_remote.url, {})
    remote = Remote("mirror", http_remote.url, backend)
    try:
        report = transfer.fetch(repo, remote, References(objects={oid}), store=theirs)
    finally:
        remote.close()
    assert report.ok and report.transferred == [oid], report.summary()
    out = bytearray()
    chunk_store(theirs).stream_file(oid, out.extend)
    assert bytes(out) == data


def test_an_http_fetch_of_chunked_and_small_objects_reports_only_what_is_missing(
        repo: Repo, tmp_path: Path, http_remote: Any) -> None:
    """Through an http mirror (no listing) a chunked object, asked for whole first, comes
    as chunks; the small ones come whole. Every object lands, each counted once, and a
    small one the mirror lacks is reported missing, alone."""
    from gitext.remotes.http import HttpBackend

    ours, theirs = LocalStore(tmp_path / "ours"), LocalStore(tmp_path / "theirs")
    big = _data(12, 1_500_000)  # above the default chunking threshold (1 MiB)
    big_oid = put_chunked(ours, big)
    small = {ours.add_bytes(_data(20 + i, 30_000), "sha256")[0]: 30_000 for i in range(12)}
    assert transfer.push(repo, _remote(http_remote.folder), [big_oid, *small],
                         store=ours).ok
    gone = next(iter(small))
    (http_remote.folder / gone.key).unlink()  # the mirror lacks this one
    sizes = {big_oid: len(big), **small}
    backend = HttpBackend.from_url(http_remote.url, {})
    remote = Remote("mirror", http_remote.url, backend)
    try:
        report = transfer.fetch(repo, remote, References(objects={big_oid, *small},
                                                         sizes=sizes), store=theirs)
    finally:
        remote.close()
    assert report.missing == [gone], report.summary()
    assert sorted(report.transferred, key=str) == sorted({big_oid, *small} - {gone}, key=str)
    assert not report.corrupt and not report.failed
    out = bytearray()
    chunk_store(theirs).stream_file(big_oid, out.extend)
    assert bytes(out) == big
    for oid in set(small) - {gone}:
        assert theirs.has(oid)


def test_an_http_fetch_asks_for_chunks_while_the_whole_objects_still_download(
        repo: Repo, tmp_path: Path, http_remote: Any) -> None:
    """The chunked object (the largest, asked for whole first) is fetched as chunks as soon
    as its whole download is found missing, not after every small object arrived: its
    rebuild and check overlap the rest of the fetch."""
    from gitext.remotes.http import HttpBackend

    ours, theirs = LocalStore(tmp_path / "ours"), LocalStore(tmp_path / "theirs")
    big = _data(13, 1_500_000)
    big_oid = put_chunked(ours, big)
    small = {ours.add_bytes(_data(40 + i, 20_000), "sha256")[0]: 20_000 for i in range(24)}
    assert transfer.push(repo, _remote(http_remote.folder), [big_oid, *small],
                         store=ours).ok
    http_remote.server.latency = 0.02  # each small object takes a while to come
    backend = HttpBackend.from_url(http_remote.url, {"jobs": "2"})
    remote = Remote("mirror", http_remote.url, backend, {"jobs": "2"})
    try:
        report = transfer.fetch(repo, remote, References(
            objects={big_oid, *small}, sizes={big_oid: len(big), **small}), store=theirs)
    finally:
        remote.close()
    assert report.ok and len(report.transferred) == 25, report.summary()
    paths = [r.path for r in http_remote.server.seen("GET")]
    recipe = paths.index(next(p for p in paths if f"/chunks/recipes/{big_oid.digest[:2]}/" in p))
    last_small = max(i for i, p in enumerate(paths) if any(o.digest[2:] in p for o in small))
    assert recipe < last_small, paths
    out = bytearray()
    chunk_store(theirs).stream_file(big_oid, out.extend)
    assert bytes(out) == big
