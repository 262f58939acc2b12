"""gc of the chunk store: recipes go with their objects, then packs are repacked.

A pack none of whose chunks a kept recipe names is removed; one whose live chunks take less
than half of it is repacked: the live records are copied (verified) into a new pack, which
is sealed (fsync, index) before the old one is removed (its index first: a pack without an
index is ignored by readers). A kill at any point leaves every live chunk in a sealed pack;
a full disk fails the new pack, which is dropped, and leaves the old one as it was. Only
packs sealed before ``cutoff`` are touched: a ``git add`` may be about to name their chunks.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec.hashing import ObjectId
from gitext.store.chunks.format import RECORD_HEADER, IdxEntry
from gitext.store.chunks.packs import PackMaps
from gitext.store.chunks.store import ChunkStore

STALE_UNSEALED = 3600.0  # an unsealed pack older than this was left by a killed writer


@dataclass
class Collected:
    removed_packs: list[str] = field(default_factory=list)
    repacked: list[tuple[str, str]] = field(default_factory=list)  # (old, new)
    freed: int = 0  # bytes of pack files removed minus those written


def chunked_listing(cs: ChunkStore, whole: set[str]) -> list[tuple[str, int, float]]:
    """(object key, size, when) of each object stored only as a recipe (``whole``: keys of
    objects stored as whole files), as gc lists whole objects."""
    out = []
    for oid in cs.iter_recipes():
        if oid.key in whole:
            continue
        with contextlib.suppress(FileNotFoundError):
            st = cs.recipe_path(oid).stat()
            size = cs.recipe_size(oid) or 0
            out.append((oid.key, size, max(st.st_mtime, st.st_ctime)))
    return out


def drop_recipe(cs: ChunkStore, key: str, cutoff: float | None) -> bool:
    """Remove the recipe of the object of layout key ``key`` (``files/sha256/ab/rest``)
    unless it was written after ``cutoff``; False if there is none."""
    parts = key.split("/")
    if len(parts) != 4 or parts[1] != "sha256":
        return False
    path = cs.recipe_path(ObjectId("sha256", parts[2] + parts[3]))
    try:
        if cutoff is not None:
            st = path.stat()
            if max(st.st_mtime, st.st_ctime) > cutoff:
                return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def live_chunks(cs: ChunkStore) -> set[bytes]:
    live: set[bytes] = set()
    for oid in cs.iter_recipes():
        live.update(c for c, _ in cs.read_recipe(oid).chunks)
    return live


def collect(cs: ChunkStore, *, cutoff: float | None, dry_run: bool = False) -> Collected:
    """Remove packs no kept recipe needs and repack those below half live."""
    now = time.time()
    limit = min(cutoff if cutoff is not None else now - 3600, now)
    live = live_chunks(cs)
    done = Collected()
    seen: set[bytes] = set()  # a chunk live in an earlier pack needs no second copy
    for pid in cs.sealed_packs():
        idx = cs.packs_dir / f"{pid}.idx"
        pack = cs.packs_dir / f"{pid}.pack"
        try:
            sealed_at = idx.stat().st_mtime
            pack_size = pack.stat().st_size
        except FileNotFoundError:
            continue
        entries = cs.read_idx(pid)
        keep = [e for e in entries if e.chunk_id in live and e.chunk_id not in seen]
        seen.update(e.chunk_id for e in keep)
        if sealed_at > limit:
            continue
        kept_bytes = sum(RECORD_HEADER.size + e.stored_len for e in keep)
        if keep and kept_bytes * 2 >= pack_size:
            continue
        if dry_run:
            done.freed += pack_size - kept_bytes
            (done.repacked.append((pid, "")) if keep else done.removed_packs.append(pid))
            continue
        new = copy_records(cs, pid, keep) if keep else ""
        _remove_pack(cs, pid)
        done.freed += pack_size - (_size(cs.packs_dir / f"{new}.pack") if new else 0)
        (done.repacked.append((pid, new)) if keep else done.removed_packs.append(pid))
    if not dry_run:
        cs.forget_packs([*done.removed_packs, *(o for o, _ in done.repacked)])
        _remove_stale_unsealed(cs, now)
    return done


def copy_records(cs: ChunkStore, pid: str, keep: list[IdxEntry]) -> str:
    """Copy the records ``keep`` of pack ``pid`` (each verified) into a new sealed pack."""
    maps = PackMaps(cs.packs_dir)
    try:
        m = maps.get(pid)
        records = []
        for e in sorted(keep, key=lambda e: e.offset):
            start = e.offset + RECORD_HEADER.size
            records.append((e.chunk_id, e.raw_len, e.flags, bytes(m[start:e.end])))
        cs.seal()  # nothing of this process's own is mixed into the new pack
        for cid, raw_len, flags, stored in records:
            cs.check_record(cid, raw_len, flags, stored)
            cs.append(cid, raw_len, flags, stored)
        new = cs.open_pack_id()
        cs.seal()
    except BaseException:
        cs.abandon()
        raise
    finally:
        maps.drop()
    return new


def _remove_pack(cs: ChunkStore, pid: str) -> None:
    cs.unmap([pid])  # (Windows cannot remove a mapped file)
    for suffix in (".idx", ".pack"):  # the index first: an unsealed pack is ignored
        with contextlib.suppress(FileNotFoundError):
            (cs.packs_dir / f"{pid}{suffix}").unlink()


def _remove_stale_unsealed(cs: ChunkStore, now: float) -> None:
    sealed = set(cs.sealed_packs())
    try:
        names = os.listdir(cs.packs_dir)
    except FileNotFoundError:
        return
    for name in names:
        if name.endswith(".pack") and name[:-5] not in sealed:
            p = cs.packs_dir / name
            with contextlib.suppress(FileNotFoundError):
                if now - p.stat().st_mtime > STALE_UNSEALED:
                    p.unlink()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
