"""gc (collect/repack) and fsck (check) of the chunk store, including a full disk and
SIGKILL at the dangerous moments: no chunk a kept recipe needs is ever lost."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitext.codec.hashing import ObjectId
from gitext.errors import StoreWriteError
from gitext.store.chunks import packs as packs_mod
from gitext.store.chunks.check import check_chunks
from gitext.store.chunks.chunker import ChunkingWriter
from gitext.store.chunks.collect import collect, drop_recipe
from gitext.store.chunks.format import RECORD_HEADER, Recipe
from gitext.store.chunks.store import ChunkStore
from tests.helpers import REPO_ROOT

A = random.Random(1).randbytes(2 << 20)
B = random.Random(2).randbytes(1 << 20)


def add(cs: ChunkStore, data: bytes) -> ObjectId:
    w = ChunkingWriter(cs, workers=1)
    w.write(data)
    return w.finish()[0]


def part_of(cs: ChunkStore, oid: ObjectId, n: int) -> tuple[ObjectId, bytes]:
    """A new file made of the first ``n`` chunks of ``oid`` (its recipe written)."""
    chunks = cs.read_recipe(oid).chunks[:n]
    data = b"".join(cs.read_chunk(c) for c, _ in chunks)
    new = ObjectId("sha256", hashlib.sha256(data).hexdigest())
    cs.write_recipe(new, Recipe(len(data), chunks))
    return new, data


def rebuilt(cs: ChunkStore, oid: ObjectId) -> bytes:
    out = bytearray()
    ChunkStore(cs.root).stream_file(oid, out.extend)
    return bytes(out)


@pytest.fixture
def store(tmp_path: Path) -> tuple[ChunkStore, ObjectId, ObjectId, bytes]:
    """A (2 MiB, one pack) and a file of A's first 3 chunks; A's recipe dropped."""
    cs = ChunkStore(tmp_path / "chunks")
    a = add(cs, A)
    part, data = part_of(cs, a, 3)
    assert drop_recipe(cs, a.key, cutoff=None)
    return cs, a, part, data


def test_repack_keeps_what_recipes_need(store: tuple[ChunkStore, ObjectId, ObjectId, bytes]
                                        ) -> None:
    cs, _, part, data = store
    b = add(cs, B)
    (old,) = {cs.locate(c)[0] for c, _ in cs.read_recipe(part).chunks}  # type: ignore[index]
    done = collect(cs, cutoff=time.time() + 5)
    assert [o for o, _ in done.repacked] == [old] and done.freed > len(A) // 2
    assert not (cs.packs_dir / f"{old}.pack").exists()
    assert rebuilt(cs, part) == data and rebuilt(cs, b) == B
    assert collect(cs, cutoff=time.time() + 5).repacked == []  # now fully live
    report = check_chunks(cs, cs.root / "q", repair=False)
    assert report.findings == [] and report.recipes == 2


def test_young_packs_are_left(store: tuple[ChunkStore, ObjectId, ObjectId, bytes]) -> None:
    cs, *_ = store
    assert collect(cs, cutoff=time.time() - 60).repacked == []


def test_full_disk_during_repack_loses_nothing(
        store: tuple[ChunkStore, ObjectId, ObjectId, bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cs, _, part, data = store
    before = sorted(os.listdir(cs.packs_dir))

    def full(*_a: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(packs_mod, "write_durably", full)  # the new pack's index
    with pytest.raises(StoreWriteError, match="No space left"):
        collect(cs, cutoff=time.time() + 5)
    assert sorted(os.listdir(cs.packs_dir)) == before  # the new pack is gone, old intact
    assert rebuilt(cs, part) == data


def test_fsck_names_and_salvages_a_damaged_pack(
        store: tuple[ChunkStore, ObjectId, ObjectId, bytes]) -> None:
    cs, _, part, data = store
    b = add(cs, B)
    b_chunks = [c for c, _ in cs.read_recipe(b).chunks]
    cid = b_chunks[2]
    pid, off, *_ = cs.locate(cid)  # type: ignore[misc]
    pack = cs.packs_dir / f"{pid}.pack"
    raw = bytearray(pack.read_bytes())
    raw[off + RECORD_HEADER.size + 7] ^= 1
    pack.write_bytes(bytes(raw))
    report = check_chunks(cs, cs.root / "q", repair=True)
    named = {(f.what, f.name) for f in report.findings}
    assert named == {("pack", pid), ("object", str(b))}
    assert "does not match its id" in report.findings[0].problem
    assert all(f.moved_to is not None and f.moved_to.exists() for f in report.findings)
    assert rebuilt(cs, part) == data  # the good object is untouched
    assert not cs.has_recipe(b)  # missing now: a pull fetches it again
    # the damaged pack's sound chunks were copied to a new pack: only the bad one is gone
    assert ChunkStore(cs.root).missing(b_chunks) == {cid}
    # the sound chunks of the damaged pack were kept: only the bad one is missing
    assert check_chunks(ChunkStore(cs.root), cs.root / "q", repair=False).findings == []


CHILD = r"""
import os, sys, time
from pathlib import Path
from gitext.store.chunks import collect as c, store as s
from gitext.store.chunks.chunker import ChunkingWriter
cs = s.ChunkStore(Path(sys.argv[1]))
where = sys.argv[2]
def stop(*a, **k):
    print("ready", flush=True)
    time.sleep(60)
if where == "add":
    real = cs.append
    def slow(*a, **k):
        real(*a, **k)
        if len(cs._pending) == 5:
            stop()
    cs.append = slow
    w = ChunkingWriter(cs, workers=1)
    w.write(os.urandom(3 << 20))
    w.finish()
else:
    if where == "before-remove":
        c._remove_pack = stop
    else:
        real = cs.append
        def slow(*a, **k):
            real(*a, **k)
            stop()
        cs.append = slow
    c.collect(cs, cutoff=time.time() + 5)
"""


@pytest.mark.parametrize("where", ["add", "repack-append", "before-remove"])
def test_sigkill_never_loses_a_needed_chunk(
        store: tuple[ChunkStore, ObjectId, ObjectId, bytes], where: str) -> None:
    cs, _, part, data = store
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(cs.root), where],
                            stdout=subprocess.PIPE, cwd=REPO_ROOT)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert rebuilt(cs, part) == data
    assert check_chunks(ChunkStore(cs.root), cs.root / "q", repair=False).findings == []
    # and the next gc finishes the job
    collect(ChunkStore(cs.root), cutoff=time.time() + 5)
    assert rebuilt(cs, part) == data
