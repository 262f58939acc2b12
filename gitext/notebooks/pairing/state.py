"""The record of the last sync of every pair: the one reader and writer of
``<git common dir>/archives/nbsync/<worktree tag>.json`` (and its ``.lock``).

Each entry holds the SHA-256 of both files as last synced, the text's format, the paired
formats and the cells; a sync compares against it to tell which side was edited. The
record is written atomically and guarded by an ``flock`` on the lock file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.fs.atomic import atomic_write
from gitext.notebooks.pairing.formats import Pair, read_or_none, relpath

if TYPE_CHECKING:
    from gitext.notebooks.pairing.cells import CellKey

_STATE_VERSION = 1
REPLACED_KEPT = 4  # earlier contents remembered per side, to tell a stale editor save


def file_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SyncState:
    """Last-synced content of every pair of one work tree (JSON, written atomically)."""

    def __init__(self, archives_dir: Path, worktree: Path) -> None:
        tag = hashlib.sha256(os.fspath(worktree.resolve()).encode()).hexdigest()[:16]
        self.dir = archives_dir / "nbsync"
        self.path = self.dir / f"{tag}.json"
        self.lock_path = self.dir / f"{tag}.lock"
        self.worktree = worktree
        self.pairs: dict[str, dict[str, Any]] = {}
        self._dirty = False

    def load(self) -> None:
        data = read_or_none(self.path)
        if not data:
            return
        try:
            doc = json.loads(data)
        except ValueError:
            return  # a damaged record only costs the "first sync" question again
        if isinstance(doc, dict) and doc.get("version") == _STATE_VERSION:
            pairs = doc.get("pairs")
            if isinstance(pairs, dict):
                self.pairs = pairs

    def key(self, pair: Pair) -> str:
        return f"{relpath(pair.notebook, self.worktree)}\t{relpath(pair.text, self.worktree)}"

    def get(self, pair: Pair) -> dict[str, Any] | None:
        return self.pairs.get(self.key(pair))

    def same_as_recorded(self, pair: Pair, nb_bytes: bytes | None,
                         text_bytes: bytes | None) -> bool:
        """Both files hold the very bytes of the last sync (no jupytext needed to know)."""
        entry = self.get(pair)
        return (entry is not None and nb_bytes is not None and text_bytes is not None
                and entry.get("notebook") == file_sha(nb_bytes)
                and entry.get("text") == file_sha(text_bytes))

    def recorded_cells(self, pair: Pair) -> tuple[list[CellKey] | None, Any]:
        """The cells and the paired formats of the last sync; (None, None) without one."""
        entry = self.get(pair)
        base = [(str(a), str(b)) for a, b in entry["cells"]] if entry else None
        base_formats = entry.get("formats") if entry else None
        return base, base_formats

    def remembered(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(notebook, text, entry) of every recorded pair, paths relative to the work tree."""
        out = []
        for key, entry in self.pairs.items():
            nb_rel, _, text_rel = key.partition("\t")
            out.append((nb_rel, text_rel, entry))
        return out

    def replaced(self, pair: Pair, side: str) -> list[list[CellKey]]:
        """The cells ``side`` ("notebook" or "text") held before the last few syncs wrote
        it, newest first: an editor may still hold one of them and save it."""
        entry = self.get(pair) or {}
        history = entry.get("replaced", {}).get(side, [])
        return [[(str(a), str(b)) for a, b in cells] for cells in history]

    def record(self, pair: Pair, nb_bytes: bytes, text_bytes: bytes,
               cells: Sequence[CellKey], formats: Any, *,
               wrote: dict[str, Sequence[CellKey]] | None = None) -> None:
        """What both sides hold now; ``wrote`` maps each side sync just wrote to the cells
        it held before (kept, the last :data:`REPLACED_KEPT` per side)."""
        history = dict((self.get(pair) or {}).get("replaced", {}))
        for side, before in (wrote or {}).items():
            history[side] = [[list(k) for k in before], *history.get(side, [])][:REPLACED_KEPT]
        entry = {"notebook": file_sha(nb_bytes), "text": file_sha(text_bytes), "fmt": pair.fmt,
                 "formats": formats, "cells": [list(k) for k in cells]}
        if history:
            entry["replaced"] = history
        if self.pairs.get(self.key(pair)) != entry:
            self.pairs[self.key(pair)] = entry
            self._dirty = True

    def forget(self, pair: Pair) -> None:
        if self.pairs.pop(self.key(pair), None) is not None:
            self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        doc = {"version": _STATE_VERSION, "worktree": os.fspath(self.worktree),
               "pairs": dict(sorted(self.pairs.items()))}
        atomic_write(self.path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
        self._dirty = False

    @contextlib.contextmanager
    def locked(self) -> Iterator[SyncState]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as fh:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX
                fcntl = None  # type: ignore[assignment]
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                self.load()
                yield self
            finally:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def open_state(root: Path) -> SyncState:
    from gitext.git.repo import Repo

    repo = Repo.discover(root)
    return SyncState(repo.archives_dir, repo.root)
