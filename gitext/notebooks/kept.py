"""Outputs kept aside by the clean filter: what a strip removed, for ``nb restore-outputs``.

Git never stores the outputs (the filter strips them), so ``git stash``, ``checkout -f`` and
``reset --hard`` of a notebook whose only changes are outputs lose them for good. The filter
holds the whole notebook in hand when it strips it, so it keeps that copy here, keyed by
(path, id of the stripped blob git stores):
``<git common dir>/archives/nb-outputs/<sha256(path)[:16]>/<blob id>.ipynb`` beside a
``path`` file naming the notebook. The folder is bounded (``nb.keepOutputs``, a size,
default 200 MB, ``0`` to keep nothing) and the least recently kept copies go first; a copy
kept again is touched, so its time is when the filter last saw that content.

It is a cache: written without fsync (a crash loses a copy, never a notebook), and any
failure here is one warning, never a failed filter.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
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
    """The kept copies of one repository (``folder``), at most ``limit`` bytes in all."""

    def __init__(self, folder: Path, limit: int = DEFAULT_LIMIT) -> None:
        self.folder = folder
        self.limit = limit
        self._added = 0

    def keep(self, path: str, blob: str, data: bytes) -> None:
        """Keep ``data`` (the notebook with its outputs) for ``path`` whose stripped form is
        the blob ``blob``. Over the limit on its own: not kept."""
        if self.limit <= 0 or len(data) > self.limit:
            return
        where = self.folder / _path_tag(path)
        target = where / f"{blob}.ipynb"
        with contextlib.suppress(OSError):
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                os.utime(target)  # seen again: the most recent now
                return
        where.mkdir(parents=True, exist_ok=True)
        name = where / "path"
        if not name.is_file():
            _replace(name, path.encode("utf-8", "surrogateescape"))
        _replace(target, data)
        self._added += len(data)

    def entries(self, path: str | None = None) -> list[Kept]:
        """Every copy (of ``path`` only, if given), newest first."""
        out: list[Kept] = []
        folders = [self.folder / _path_tag(path)] if path is not None else (
            sorted(self.folder.iterdir()) if self.folder.is_dir() else [])
        for where in folders:
            try:
                name = (where / "path").read_bytes().decode("utf-8", "surrogateescape")
                files = list(where.glob("*.ipynb"))
            except OSError:
                continue
            if path is not None and name != path:
                continue
            for f in files:
                with contextlib.suppress(OSError):
                    st = f.stat()
                    out.append(Kept(name, f.stem, f, st.st_mtime, st.st_size))
        out.sort(key=lambda k: k.mtime, reverse=True)
        return out

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
        where = kept.file.parent
        if not any(where.glob("*.ipynb")):
            with contextlib.suppress(OSError):
                (where / "path").unlink()
                where.rmdir()


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def open_store(common_dir: Path, cfg: Config) -> OutputStore:
    """The repository's store with its configured limit; a bad ``nb.keepOutputs`` is a
    :class:`gitext.errors.ConfigError` (the filter warns and keeps the default)."""
    return OutputStore(common_dir / "archives" / FOLDER, limit_from_config(cfg))

