"""fsck of the chunk store: every pack against its index and every chunk against its id,
every recipe's chunks present and its whole file's sha256 (docs/storage.md).

Repairs move things aside, never delete them: a damaged pack's good chunks are copied into
a new sealed pack and the damaged pack and its index go to the quarantine; a recipe that
cannot be rebuilt (damaged, naming a missing chunk, or rebuilding to the wrong sha256) goes
to the quarantine too, so the object counts as missing and ``pull`` fetches it again.
"""

from __future__ import annotations

import mmap
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError
from gitext.store.chunks.collect import copy_records
from gitext.store.chunks.format import PACK_MAGIC, RECORD_HEADER, FormatError, IdxEntry
from gitext.store.chunks.packs import PackMaps
from gitext.store.chunks.store import ChunkStore


@dataclass
class Finding:
    what: str  # "pack" or "object"
    name: str  # pack id or object id
    problem: str
    moved_to: Path | None = None


@dataclass
class CheckReport:
    packs: int = 0
    chunks: int = 0
    recipes: int = 0
    findings: list[Finding] = field(default_factory=list)


def check_chunks(cs: ChunkStore, quarantine: Path, *, repair: bool) -> CheckReport:
    report = CheckReport()
    bad_chunks: set[bytes] = set()
    for pid in cs.sealed_packs():
        report.packs += 1
        problem, good = _check_pack(cs, pid, bad_chunks)
        report.chunks += len(good)
        if problem:
            f = Finding("pack", pid, problem)
            if repair:
                f.moved_to = _salvage(cs, pid, good, quarantine)
            report.findings.append(f)
    if repair:
        cs.forget_packs([])
    for oid in list(cs.iter_recipes()):
        report.recipes += 1
        problem = _check_recipe(cs, oid, bad_chunks)
        if problem:
            f = Finding("object", str(oid), problem)
            if repair:
                f.moved_to = _move_aside(cs.recipe_path(oid), quarantine,
                                         f"recipe-{oid.digest}")
            report.findings.append(f)
    return report


def _check_pack(cs: ChunkStore, pid: str, bad: set[bytes]) -> tuple[str, list[IdxEntry]]:
    """(problem or "", the entries whose records are sound)."""
    try:
        entries = cs.read_idx(pid)
    except ArchivesError as exc:
        return exc.message, []
    maps = PackMaps(cs.packs_dir)
    good: list[IdxEntry] = []
    problems: list[str] = []
    try:
        m = maps.get(pid)
        if bytes(m[: len(PACK_MAGIC)]) != PACK_MAGIC:
            return "not a pack (bad magic)", []
        for e in entries:
            why = _check_entry(cs, m, e)
            if why:
                bad.add(e.chunk_id)
                problems.append(why)
            else:
                good.append(e)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}", []
    finally:
        maps.drop()
    if not problems:
        return "", good
    return f"{len(problems)} damaged chunk(s): {problems[0]}", good


def _check_entry(cs: ChunkStore, m: mmap.mmap | bytes, e: IdxEntry) -> str:
    buf = memoryview(m)
    if e.end > len(buf):
        buf.release()
        return f"truncated (chunk {e.chunk_id.hex()[:16]} ends past its end)"
    start = e.offset + RECORD_HEADER.size
    try:
        head = RECORD_HEADER.unpack_from(buf, e.offset)
        if head != (e.chunk_id, e.raw_len, e.stored_len, e.flags):
            return f"disagrees with its index at chunk {e.chunk_id.hex()[:16]}"
        cs.check_record(e.chunk_id, e.raw_len, e.flags, bytes(buf[start:e.end]))
    except (ArchivesError, FormatError):
        return f"chunk {e.chunk_id.hex()[:16]} does not match its id"
    finally:
        buf.release()
    return ""


def _check_recipe(cs: ChunkStore, oid: ObjectId, bad: set[bytes]) -> str:
    try:
        recipe = cs.read_recipe(oid)
    except ArchivesError as exc:
        return exc.message
    named = {c for c, _ in recipe.chunks}
    lost = cs.missing(named) | (named & bad)
    if lost:
        return f"needs {len(lost)} chunk(s) that are missing or damaged"
    try:
        cs.stream_file(oid, lambda _b: None)
    except ArchivesError as exc:
        return exc.message
    return ""


def _salvage(cs: ChunkStore, pid: str, good: list[IdxEntry], quarantine: Path) -> Path:
    """Copy the sound chunks of a damaged pack into a new pack, then move it aside."""
    if good:
        copy_records(cs, pid, good)
    moved = _move_aside(cs.packs_dir / f"{pid}.idx", quarantine, f"pack-{pid}.idx")
    _move_aside(cs.packs_dir / f"{pid}.pack", quarantine, f"pack-{pid}.pack")
    return moved


def _move_aside(src: Path, quarantine: Path, name: str) -> Path:
    quarantine.mkdir(parents=True, exist_ok=True)
    target = quarantine / f"{name}-{int(time.time())}"
    shutil.move(src, target)
    return target
