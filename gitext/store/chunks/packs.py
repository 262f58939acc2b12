"""Pack files: one writer appending records, readers over mmap'ed sealed packs.

A pack is written in place as ``packs/<id>.pack`` (no reader looks at a pack without its
``.idx``), fsync'ed, then sealed by writing its ``.idx`` (temp file, fsync, rename, fsync
of the folder). A crash before the seal leaves an unsealed pack that nothing names: gc
removes it once it is old. A sealed pack is never changed again.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from gitext.errors import StoreWriteError
from gitext.fs.atomic import write_all
from gitext.store.chunks.format import (
    MAX_PACK,
    PACK_MAGIC,
    RECORD_HEADER,
    IdxEntry,
    encode_idx,
    encode_record,
    new_pack_id,
)


def fsync_dir(path: Path) -> None:
    if os.name == "nt":  # a folder cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, tmp_dir: Path) -> None:
    """Write ``data`` as ``path`` atomically (temp file in ``tmp_dir``, fsync, rename)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="incoming-")
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    fsync_dir(path.parent)


def store_error(root: Path, exc: OSError) -> StoreWriteError:
    return StoreWriteError(
        f"cannot write to the store {root}: {exc.strerror or exc}",
        hint="free disk space or fix permissions, then retry",
    )


class PackWriter:
    """Appends records to a new pack; :meth:`seal` makes them durable and readable."""

    def __init__(self, packs_dir: Path, tmp_dir: Path) -> None:
        self.packs_dir = packs_dir
        self.tmp_dir = tmp_dir
        self.pack_id = new_pack_id()
        packs_dir.mkdir(parents=True, exist_ok=True)
        self.path = packs_dir / f"{self.pack_id}.pack"
        self._f = open(self.path, "xb", buffering=1 << 20)  # noqa: SIM115 (closed by seal)
        self._f.write(PACK_MAGIC)
        self.size = len(PACK_MAGIC)
        self.entries: list[IdxEntry] = []

    def room_for(self, stored_len: int) -> bool:
        return not self.entries or self.size + RECORD_HEADER.size + stored_len <= MAX_PACK

    def append(self, cid: bytes, raw_len: int, flags: int, stored: bytes | memoryview) -> None:
        record = encode_record(cid, raw_len, flags, stored)
        self._f.write(record)
        self.entries.append(IdxEntry(cid, self.size, raw_len, len(stored), flags))
        self.size += len(record)

    def seal(self) -> list[IdxEntry]:
        """fsync the pack, then write its index durably; returns the entries."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        write_durably(self.packs_dir / f"{self.pack_id}.idx", encode_idx(self.entries),
                      self.tmp_dir)
        return self.entries

    def abandon(self) -> None:
        """Close and remove an unsealed pack (nothing names its records)."""
        with contextlib.suppress(OSError):
            self._f.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class PackMaps:
    """mmap'ed sealed packs, opened on first use and kept open."""

    def __init__(self, packs_dir: Path) -> None:
        self.packs_dir = packs_dir
        self._maps: dict[str, mmap.mmap | bytes] = {}
        self._lock = threading.Lock()

    def get(self, pack_id: str) -> mmap.mmap | bytes:
        m = self._maps.get(pack_id)
        if m is not None:
            return m
        with self._lock:
            return self._open(pack_id)

    def _open(self, pack_id: str) -> mmap.mmap | bytes:
        m = self._maps.get(pack_id)
        if m is None:
            with open(self.packs_dir / f"{pack_id}.pack", "rb") as f:
                size = os.fstat(f.fileno()).st_size
                m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            if isinstance(m, mmap.mmap) and hasattr(m, "madvise"):
                with contextlib.suppress(OSError):
                    m.madvise(mmap.MADV_SEQUENTIAL)
            self._maps[pack_id] = m
        return m

    def drop(self, pack_ids: Iterable[str] | None = None) -> None:
        for pid in list(self._maps) if pack_ids is None else list(pack_ids):
            m = self._maps.pop(pid, None)
            if isinstance(m, mmap.mmap):
                m.close()
