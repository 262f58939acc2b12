"""Outputs kept aside by the clean filter: what a strip removed, for ``nb restore-outputs``.

Git never stores the outputs (the filter strips them), so ``git stash``, ``checkout -f`` and
``reset --hard`` of a notebook whose only changes are outputs lose them for good. The filter
holds the whole notebook in hand when it strips it, so it keeps that copy here, keyed by
(path, id of the stripped blob git stores):
``<git common dir>/archives/nb-outputs/<sha256(path)[:16]>-<blob id>.ipynb``. The folder
is bounded (``nb.keepOutputs``, a size, default 200 MB, ``0`` to keep nothing) and the
least recently kept copies go first; a copy kept again is touched, so its time is when the
filter last saw that content.

It is a cache: written in place without fsync (a crash loses or truncates a copy, never a
notebook; a copy that does not parse is skipped), and any failure here is one warning,
never a failed filter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import threading
from pathlib import Path
from typing import NamedTuple

from gitext.config import Config, parse_size

DEFAULT_LIMIT = 200 * 1000 * 1000
KEY = "nb.keepoutputs"  # git config keys are case-insensitive: nb.keepOutputs
FOLDER = "nb-outputs"


class Kept(NamedTuple):
    """One copy: the notebook's path, the stripped blob's id, the file holding it."""

    path: str
    blob: str
    file: Path
    mtime: float
    size: int


def limit_from_config(cfg: Config) -> int:
    """``nb.keepOutputs`` as bytes (:class:`ConfigError` naming the key when it is not a
    size)."""
    raw = cfg.get(KEY)
    return DEFAULT_LIMIT if raw is None else parse_size(raw, where="config nb.keepOutputs")


def blob_id(data: bytes, width: int = 40) -> str:
    """git's id of a blob holding ``data`` (SHA-1, or SHA-256 for ``width`` 64)."""
    h = hashlib.sha1(usedforsecurity=False) if width == 40 else hashlib.sha256()
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def _path_tag(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class OutputStore:
    """The kept copies of one repository (``folder``), at most ``limit`` bytes in all.

    One file per copy, ``<sha256(path)[:16]>-<blob id>.ipynb``: the notebook's path as a
    JSON string on the first line, then the notebook's bytes. One file and no rename per
    copy: this runs inside ``git add`` of every notebook."""

    def __init__(self, folder: Path, limit: int = DEFAULT_LIMIT) -> None:
        self.folder = folder
        self.limit = limit
        self._added = 0

    def keep(self, path: str, blob: str, data: bytes) -> None:
        """Keep ``data`` (the notebook with its outputs) for ``path`` whose stripped form is
        the blob ``blob``. Over the limit on its own: not kept."""
        if self.limit <= 0 or len(data) > self.limit:
            return
        head = json.dumps(path).encode("utf-8", "surrogateescape") + b"\n"
        target = self.folder / f"{_path_tag(path)}-{blob}.ipynb"
        with contextlib.suppress(OSError):
            if target.stat().st_size == len(head) + len(data) and \
                    target.read_bytes() == head + data:
                os.utime(target)  # seen again: the most recent now
                return
        try:
            fh = open(target, "wb")  # noqa: SIM115 - the folder is made on first use
        except FileNotFoundError:
            self.folder.mkdir(parents=True, exist_ok=True)
            fh = open(target, "wb")  # noqa: SIM115
        with fh:
            fh.write(head)
            fh.write(data)
        self._added += len(data)

    def entries(self, path: str | None = None) -> list[Kept]:
        """Every copy (of ``path`` only, if given), newest first."""
        out: list[Kept] = []
        pattern = f"{_path_tag(path)}-*.ipynb" if path is not None else "*-*.ipynb"
        for f in self.folder.glob(pattern) if self.folder.is_dir() else ():
            try:
                st = f.stat()
                with open(f, "rb") as fh:
                    name = json.loads(fh.readline())
            except (OSError, ValueError):
                continue
            if not isinstance(name, str) or (path is not None and name != path):
                continue
            out.append(Kept(name, f.stem.partition("-")[2], f, st.st_mtime, st.st_size))
        out.sort(key=lambda k: k.mtime, reverse=True)
        return out

    def read(self, kept: Kept) -> bytes:
        """The notebook's bytes of a copy (without the path line)."""
        return kept.file.read_bytes().partition(b"\n")[2]

    def evict(self, *, always: bool = False) -> None:
        """Drop the least recently kept copies until the folder is within the limit (only
        when something was added, unless ``always``)."""
        if not (self._added or always):
            return
        self._added = 0
        kept = self.entries()
        total = sum(k.size for k in kept)
        for k in reversed(kept):  # oldest first
            if total <= self.limit:
                break
            self.drop(k)
            total -= k.size

    def drop(self, kept: Kept) -> None:
        with contextlib.suppress(OSError):
            kept.file.unlink()


class Keeper:
    """Writes an :class:`OutputStore`'s copies on a thread of its own, so the disk's latency
    overlaps the filter's work; at most ``depth`` notebooks wait in memory. The first
    failure stops it (:attr:`error`); :meth:`close` waits for the writes, then trims."""

    def __init__(self, store: OutputStore, depth: int = 8) -> None:
        self.store = store
        self.error: OSError | None = None
        self._queue: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="keep-outputs", daemon=True)
        self._thread.start()

    def submit(self, path: str, blob: str, data: bytes) -> None:
        if self.error is None:
            self._queue.put((path, blob, data))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self.store.keep(*item)
                except OSError as exc:
                    self.error = exc

    def close(self) -> OSError | None:
        self._queue.put(None)
        self._thread.join()
        if self.error is None:
            try:
                self.store.evict()
            except OSError as exc:
                self.error = exc
        return self.error


def open_store(common_dir: Path, cfg: Config) -> OutputStore:
    """The repository's store with its configured limit; a bad ``nb.keepOutputs`` is a
    :class:`gitext.errors.ConfigError` (the filter warns and keeps the default)."""
    return OutputStore(common_dir / "archives" / FOLDER, limit_from_config(cfg))

