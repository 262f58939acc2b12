"""``git archives du``: what the cache stores, what it would without chunking, and per file
how much it shares with its previous version (docs/storage.md)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from gitext.codec import pointer as ptr
from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError
from gitext.git.repo import Repo
from gitext.store.objects import LocalStore
from gitext.sync.pointers import index_pointers


@dataclass
class FileUsage:
    path: str
    size: int
    chunked: bool
    previous: str | None  # the previous version's oid (None: no previous version)
    new_bytes: int | None  # bytes not in the previous version (None: cannot tell)
    shared_percent: float | None


@dataclass
class Usage:
    stored: int  # bytes of packs, their indexes, recipes and whole objects
    without_chunking: int  # whole objects plus the size of every chunked object
    packs: int
    whole_objects: int
    chunked_objects: int
    files: list[FileUsage]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _tree_bytes(root: Path) -> tuple[int, int]:
    """(bytes, files) under ``root``."""
    total = count = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
                count += 1
            except FileNotFoundError:
                continue
    return total, count


def measure(repo: Repo, store: LocalStore, paths: Sequence[str] = ()) -> Usage:
    whole = 0
    n_whole = 0
    for _key, full in store.iter_object_files():
        try:
            whole += full.stat().st_size
            n_whole += 1
        except FileNotFoundError:
            continue
    chunk_root = store.root / "chunks"
    chunk_bytes, _ = _tree_bytes(chunk_root) if chunk_root.is_dir() else (0, 0)
    recipes = 0
    logical = 0
    n_packs = 0
    if chunk_root.is_dir():
        cs = store.chunks
        n_packs = len(cs.sealed_packs())
        for oid in cs.iter_recipes():
            if not store.path(oid).is_file():
                recipes += 1
                logical += cs.recipe_size(oid) or 0
    files = [file_usage(repo, store, tp.path, tp.pointer, tp.blob)
             for tp in index_pointers(repo, paths)]
    return Usage(whole + chunk_bytes, whole + logical, n_packs, n_whole, recipes, files)


def _chunk_set(store: LocalStore, oid: ObjectId) -> dict[bytes, int] | None:
    if not store.is_chunked(oid):
        return None
    try:
        return dict(store.chunks.read_recipe(oid).chunks)
    except ArchivesError:
        return None


def file_usage(repo: Repo, store: LocalStore, path: str, pointer: ptr.Pointer,
               blob: str) -> FileUsage:
    prev = previous_version(repo, path, blob)
    mine = _chunk_set(store, pointer.oid)
    new: int | None = None
    if prev is None:
        new = pointer.size
    elif prev == pointer.oid:
        new = 0
    elif mine is not None:
        theirs = _chunk_set(store, prev)
        if theirs is not None:
            new = sum(n for c, n in mine.items() if c not in theirs)
    shared = None
    if new is not None and pointer.size:
        shared = round(100.0 * (pointer.size - new) / pointer.size, 1)
    return FileUsage(path, pointer.size, mine is not None,
                     str(prev) if prev is not None else None, new, shared)


def previous_version(repo: Repo, path: str, blob: str) -> ObjectId | None:
    """The oid of ``path`` in the previous commit that changed it: the last commit that
    changed it if the index holds a newer version, else the one before."""
    revs = repo.git("rev-list", "-n", "2", "HEAD", "--", path, check=False).stdout.split()
    blobs = []
    for rev in revs:
        got = repo.git("rev-parse", "-q", "--verify", f"{rev.decode()}:{path}",
                       check=False).stdout.strip().decode()
        blobs.append(got)
    candidates = [b for b in blobs if b and b != blob]
    if not candidates:
        return None
    try:
        text = repo.git("cat-file", "blob", candidates[0]).stdout
        return ptr.parse(text).oid if len(text) < ptr.MAX_POINTER_SIZE else None
    except ArchivesError:
        return None
