"""kill -9 during a chunked push or pull never leaves a recipe whose chunks are not all
there (on the remote, or in the local chunk store), and the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gitext.store.objects import LocalStore
from gitext.sync.chunkremote import PACKS, RECIPES
from gitext.sync.chunksync import ChunkFetcher, chunk_store
from gitext.sync.transfer import TransferItem
from tests.sync.test_chunksync import _push, _remote, put_chunked, text

ROOT = Path(__file__).resolve().parents[2]

# The child pushes (or fetches) through a directory backend that stops, for good, at the
# chosen request after writing a marker: the parent then kills it with SIGKILL.
CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from gitext.codec.hashing import ObjectId
    from gitext.remotes import Remote
    from gitext.remotes.local import LocalBackend
    from gitext.store.objects import LocalStore
    from gitext.sync.chunksync import ChunkFetcher, push_chunked
    from gitext.sync.transfer import TransferItem, TransferReport

    mode, store_dir, remote_dir, digest, marker = sys.argv[1:]

    class Stalling(LocalBackend):
        def _stall(self, key):
            if (mode == "pack" and key.endswith(".pack")) or (
                    mode == "recipe" and key.startswith("chunks/recipes/")):
                Path(marker).write_text(key)
                time.sleep(600)

        def put(self, key, src, size, progress=None):
            self._stall(key)
            super().put(key, src, size, progress)

        def get_range(self, key, start, length):
            data = super().get_range(key, start, length)
            if mode == "range":
                self.seen = getattr(self, "seen", 0) + 1
                if self.seen == 2:  # the first span went into the store already
                    Path(marker).write_text(key)
                    time.sleep(600)
            return data

    remote = Remote("storage", remote_dir, Stalling(Path(remote_dir), remote_dir))
    store = LocalStore(Path(store_dir))
    item = TransferItem(ObjectId("sha256", digest))
    if mode == "range":
        ChunkFetcher.max_range = 256 * 1024  # several reads, so one lands before the kill
        ChunkFetcher(store, remote, jobs=1).fetch(item, None)
    else:
        push_chunked(store, remote, [item], TransferReport("push"), jobs=1)
""")


def _run_and_kill(mode: str, store: Path, remote: Path, digest: str, tmp: Path) -> None:
    marker = tmp / f"marker-{mode}"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(store), str(remote),
                             digest, str(marker)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, f"the child ended ({proc.returncode}) before {mode}"
            assert time.monotonic() < deadline, "the child never reached the kill point"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("mode", ["pack", "recipe"])
def test_kill_during_push_leaves_no_recipe_and_the_next_push_completes(
        tmp_path: Path, mode: str) -> None:
    import random

    data = text(random.Random(9), 600_000)
    ours = LocalStore(tmp_path / "ours")
    oid = put_chunked(ours, data)
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    _run_and_kill(mode, ours.root, remote_dir, oid.digest, tmp_path)
    assert not (remote_dir / RECIPES).exists() or not any((remote_dir / RECIPES).rglob("*"))
    if mode == "pack":
        assert not list((remote_dir / PACKS).glob("*.idx"))
    else:
        assert list((remote_dir / PACKS).glob("*.idx"))  # the packs went up first
    remote = _remote(remote_dir)
    assert _push(ours, remote, oid).ok
    theirs = LocalStore(tmp_path / "theirs")
    ChunkFetcher(theirs, remote, jobs=2).fetch(TransferItem(oid), len(data))
    got = bytearray()
    chunk_store(theirs).stream_file(oid, got.extend)
    assert bytes(got) == data


def test_kill_during_pull_leaves_no_local_recipe_and_the_next_pull_completes(
        tmp_path: Path) -> None:
    import random

    data = text(random.Random(10), 3_000_000)
    ours = LocalStore(tmp_path / "ours")
    oid = put_chunked(ours, data)
    remote = _remote(tmp_path / "remote")
    _push(ours, remote, oid)
    theirs = LocalStore(tmp_path / "theirs")
    _run_and_kill("range", theirs.root, tmp_path / "remote", oid.digest, tmp_path)
    assert not chunk_store(theirs).has_recipe(oid)
    ChunkFetcher(theirs, remote, jobs=2).fetch(TransferItem(oid), len(data))
    got = bytearray()
    chunk_store(theirs).stream_file(oid, got.extend)
    assert bytes(got) == data
