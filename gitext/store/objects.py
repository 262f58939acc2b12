"""The local content-addressed store: ``<root>/files/<algo>/<ab>/<rest>``.

A write goes to a temp file inside ``<root>/tmp`` while hashing, is checked against the
expected id, made read-only and renamed into place — so a reader never sees a partial
object and a crash leaves at most a stray temp file (removed by ``fsck``). An object
already stored costs no fsync (the temp copy is dropped). Otherwise the temp file is
fsync'ed before the rename, except with ``background``: then it is renamed at once and made
durable afterwards by a daemon thread, and :meth:`LocalStore.add_bytes_behind` even writes
it on a thread (both in :mod:`gitext.store.writebehind`, which says what a crash can cost).
Several processes and worktrees may write the same object at once: the rename is atomic
and the content identical.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gitext.codec.hashing import CHUNK, ObjectId, copy_and_hash, hash_file, new_hasher
from gitext.errors import ArchivesError, CorruptObjectError, StoreWriteError
from gitext.fs.atomic import write_all
from gitext.store.fastcopy import kernel_copy
from gitext.store.reading import StoreReads
from gitext.store.state import StateCache
from gitext.store.writebehind import BackgroundSync, WriteBehind

if TYPE_CHECKING:
    from gitext.store.chunks.store import ChunkStore

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class LocalStore(StoreReads):
    """``root`` holds every object, state.db and quarantine; ``md5_root`` (a path, or a
    function giving it on first use) holds the md5 objects instead: DVC's cache in a DVC
    project (:mod:`gitext.store.dvccache`). Each root has its own ``tmp/`` (an object is
    renamed into place from the same filesystem)."""

    def __init__(self, root: Path, *, state: StateCache | None = None,
                 md5_root: Path | Callable[[], Path] | None = None) -> None:
        self.root = root
        self.files = root / "files"
        self.tmp = root / "tmp"
        self.quarantine_dir = root / "quarantine"
        self._state = state
        self._root_s = os.fspath(root)
        self._md5_src = md5_root
        self._md5_s: str | None = None
        self._syncer = BackgroundSync(self._spath)
        self._dirs: set[str] = set()  # folders known to exist
        self._verified: set[ObjectId] = set()  # objects are immutable: remember per process
        self._behind: WriteBehind | None = None
        self._chunks: ChunkStore | None = None

    @property
    def state(self) -> StateCache:
        if self._state is None:
            self._state = StateCache(self.root / "state.db")
        return self._state

    @property
    def chunks(self) -> ChunkStore:
        """The chunk store (packs and recipes of large files: docs/storage.md)."""
        if self._chunks is None:
            from gitext.store.chunks.store import ChunkStore

            self._chunks = ChunkStore(self.root / "chunks")
        return self._chunks

    # -- roots ----------------------------------------------------------------------------
    def _aroot(self, algo: str) -> str:
        """The root (as a string) holding objects of ``algo``."""
        if algo != "md5" or self._md5_src is None:
            return self._root_s
        if self._md5_s is None:
            src = self._md5_src
            self._md5_s = os.fspath(src() if callable(src) else src)
        return self._md5_s

    def root_for(self, algo: str) -> Path:
        return Path(self._aroot(algo))

    def separate_md5(self) -> bool:
        """Whether md5 objects live under another root than the rest."""
        return self._md5_src is not None and self._aroot("md5") != self._root_s

    def tmp_dir(self, algo: str) -> Path:
        """The temp folder beside objects of ``algo`` (same filesystem: renames work)."""
        return Path(self._aroot(algo)) / "tmp"

    def key_path(self, key: str) -> Path:
        """The file of a layout key (``files/<algo>/<ab>/<rest>[.dir]``)."""
        parts = key.split("/", 2)
        algo = parts[1] if len(parts) > 2 and parts[0] == "files" else ""
        return Path(self._aroot(algo)) / key

    def iter_object_files(self) -> Iterator[tuple[str, Path]]:
        """(layout key, file) of every file under each root's ``files/`` (objects, ``.dir``
        manifests, strays), md5 ones from the md5 root only."""
        separate = self.separate_md5()
        bases = [(self.files, self.root)]
        if separate:
            md5_root = self.root_for("md5")
            bases.append((md5_root / "files" / "md5", md5_root))
        for base, root in bases:
            if not base.is_dir():
                continue
            for dirpath, dirs, names in os.walk(base):
                if separate and base == self.files and dirpath == os.fspath(base):
                    dirs[:] = [d for d in dirs if d != "md5"]
                for name in names:
                    full = Path(dirpath) / name
                    yield full.relative_to(root).as_posix(), full

    # -- lookup ---------------------------------------------------------------------------
    def path(self, oid: ObjectId) -> Path:
        return Path(self._aroot(oid.algo)) / oid.key

    def _spath(self, oid: ObjectId) -> str:
        """The object's path as a string (the add hot path avoids pathlib's overhead)."""
        return os.path.join(self._aroot(oid.algo), oid.key)

    def iter_objects(self, algo: str | None = None) -> Iterator[ObjectId]:
        algos = [algo] if algo else sorted(p.name for p in self.files.iterdir()) \
            if self.files.is_dir() else []
        if algo is None and self.separate_md5():
            algos = sorted({*algos, "md5"})
        for a in algos:
            base = self.root_for(a) / "files" / a
            if not base.is_dir():
                continue
            for sub in sorted(base.iterdir()):
                if len(sub.name) != 2 or not sub.is_dir():
                    continue
                for obj in sorted(sub.iterdir()):
                    try:
                        yield ObjectId(a, sub.name + obj.name)
                    except ArchivesError:
                        continue  # not an object (e.g. a DVC .dir manifest: gitext.store.manifests)

    # -- writing --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _incoming(self, algo: str) -> Iterator[tuple[int, Path]]:
        """A new temp file in the ``tmp/`` beside objects of ``algo`` (fd, path) that is gone
        afterwards unless published; OS errors become one clear StoreWriteError. The caller
        closes the fd."""
        try:
            tmp = os.path.join(self._aroot(algo), "tmp")
            self._ensure_dir(tmp)
            fd, name = tempfile.mkstemp(dir=tmp, prefix="incoming-")
            tmp_path = Path(name)
            try:
                yield fd, tmp_path
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp_path.unlink()
        except OSError as exc:
            raise StoreWriteError(
                f"cannot write to the store {self.root}: {exc.strerror or exc}",
                hint="free disk space or fix permissions, then retry",
            ) from exc

    def _publish(self, tmp_path: Path, oid: ObjectId, size: int, *,
                 background: bool) -> tuple[ObjectId, int]:
        """Make a complete temp file the object ``oid`` (unless it is already stored)."""
        if self._already_stored(oid, size):
            return oid, size
        if not background:
            fd = os.open(tmp_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._rename_into_place(tmp_path, oid)
        self._record_verified(oid)
        if background:
            self._syncer.add(oid)
        return oid, size

    def add_stream(
        self,
        src: BinaryIO,
        algo: str,
        *,
        expected: ObjectId | None = None,
        on_chunk: Callable[[bytes], None] | None = None,
        background: bool = False,
    ) -> tuple[ObjectId, int]:
        """Copy ``src`` into the store hashing once; verify against ``expected`` if given.

        An object already in the store costs no fsync (the temp copy is dropped). With
        ``background`` the object is renamed into place at once and made durable by a
        daemon thread (see :mod:`gitext.store.writebehind`)."""
        with self._incoming(algo) as (fd, tmp_path):
            # Buffered on purpose: a raw write may be short (a full disk, a file size
            # limit) where BufferedWriter retries or raises.
            with os.fdopen(fd, "wb", buffering=CHUNK) as f:
                digest, size = copy_and_hash(src, f, algo, on_chunk=on_chunk)
                f.flush()
                written = os.fstat(f.fileno()).st_size
            if written != size:
                raise OSError(errno.EIO, f"wrote {written} of {size} bytes")
            oid = ObjectId(algo, digest)
            if expected is not None and oid != expected:
                raise CorruptObjectError(
                    f"content for {expected} hashes to {oid}: refused",
                    hint="the source is corrupt; fetch it again",
                )
            return self._publish(tmp_path, oid, size, background=background)

    def add_bytes(self, data: bytes, algo: str, *,
                  background: bool = False) -> tuple[ObjectId, int]:
        """Store content already in memory (small files: no buffered writer, one write)."""
        h = new_hasher(algo)
        h.update(data)
        oid = ObjectId(algo, h.hexdigest())
        if self._already_stored(oid, len(data)):
            return oid, len(data)
        with self._incoming(algo) as (fd, tmp_path):
            _write_all_and_close(fd, data)
            return self._publish(tmp_path, oid, len(data), background=background)

    # -- write-behind (the clean filter's small files; see gitext.store.writebehind) --------
    def add_bytes_behind(self, data: bytes, algo: str, *, label: str = "",
                         after_write: Callable[[ObjectId], None] | None = None
                         ) -> tuple[ObjectId, int]:
        h = new_hasher(algo)
        h.update(data)
        oid = ObjectId(algo, h.hexdigest())
        behind = self._behind
        if behind is None:
            # The first object is written here, so that a store that cannot be written
            # (permissions, a read-only mount) fails this very file, not a later one.
            result = self.add_bytes(data, algo, background=True)
            if after_write is not None:
                after_write(oid)
            self._behind = WriteBehind(self)
            return result
        behind.collect()
        if behind.in_flight(oid):
            behind.also(oid, label, after_write)
            return oid, len(data)
        if self._already_stored(oid, len(data)):
            if after_write is not None:
                after_write(oid)
            return oid, len(data)
        if not behind.room_for(len(data)):
            # Little free space: write now, so a full disk fails this file.
            result = self.add_bytes(data, algo, background=True)
            if after_write is not None:
                after_write(oid)
            return result
        behind.submit(oid, data, label, after_write)
        return oid, len(data)

    def finish_writes(self) -> None:
        """Wait for objects handed to the writer thread; raise StoreWriteError naming the
        first that could not be stored (its work-tree rows were not recorded)."""
        if self._behind is not None:
            self._behind.drain()

    def _write_now(self, oid: ObjectId, data: bytes) -> None:
        with self._incoming(oid.algo) as (fd, tmp_path):
            _write_all_and_close(fd, data)
            # (no freshening here: this thread must not touch state.db)
            if not self._already_stored(oid, len(data), freshen=False):
                self._rename_into_place(tmp_path, oid)
                self._syncer.add(oid)

    def _ensure_dir(self, path: str | Path) -> None:
        key = os.fspath(path)
        if key not in self._dirs:
            os.makedirs(key, exist_ok=True)
            self._dirs.add(key)

    def add_copy_of(self, fd: int, size: int, algo: str, *,
                    background: bool = False) -> tuple[ObjectId, int]:
        """Store a copy of the open file ``fd`` made in the kernel (copy_file_range: no
        trip through user space; a reflink on filesystems that have them), then hash the
        stored copy itself, so the id always describes the object's own bytes."""
        with self._incoming(algo) as (out_fd, tmp_path):
            try:
                kernel_copy(fd, out_fd, size)
            finally:
                os.close(out_fd)
            digest, stored = hash_file(tmp_path, algo)
            if stored != size:
                raise OSError(errno.EIO, f"copied {stored} of {size} bytes")
            return self._publish(tmp_path, ObjectId(algo, digest), size, background=background)

    def _already_stored(self, oid: ObjectId, size: int, *, freshen: bool = True) -> bool:
        final = self._spath(oid)
        try:
            st = os.stat(final)
        except FileNotFoundError:
            return False
        if st.st_size == size:
            if freshen:
                self._freshen(final, oid, st)
            return True
        # A torn object (a crash before its data reached the disk): replace it.
        with contextlib.suppress(OSError):
            os.chmod(final, stat.S_IWUSR | READ_ONLY)
            os.unlink(final)
        return False

    FRESHEN_AFTER = 600.0

    def _freshen(self, final: str, oid: ObjectId, st: os.stat_result) -> None:
        """Stored again: protect the object from gc's grace period as a new write would (git
        freshens loose objects likewise). chmod to its own mode sets the ctime, which gc
        reads; the stat-keyed verified record is carried over to the new stat."""
        if time.time() - max(st.st_mtime, st.st_ctime) < self.FRESHEN_AFTER:
            return
        verified = self.is_verified(oid)
        with contextlib.suppress(OSError):
            os.chmod(final, stat.S_IMODE(st.st_mode))
            if verified:
                self.state.record(final, oid.algo, os.stat(final), oid.digest)

    def adopt_verified(self, tmp_path: Path, oid: ObjectId, size: int) -> None:
        """Publish a complete file under ``tmp/`` whose bytes were just hashed to ``oid``
        (e.g. a hard link to git-lfs's copy: :mod:`gitext.store.lfsobjects`)."""
        self._publish(tmp_path, oid, size, background=False)

    def add_file(self, path: Path, algo: str, *,
                 expected: ObjectId | None = None) -> tuple[ObjectId, int]:
        with open(path, "rb") as f:
            return self.add_stream(f, algo, expected=expected)

    def _rename_into_place(self, tmp_path: Path, oid: ObjectId) -> None:
        # Replacing an object another writer stored meanwhile is harmless: same bytes.
        final = self._spath(oid)
        self._ensure_dir(os.path.dirname(final))
        os.chmod(tmp_path, READ_ONLY)
        try:
            os.replace(tmp_path, final)
        except PermissionError:
            if not os.path.isfile(final):  # Windows refuses to replace a read-only file
                raise

    def _record_verified(self, oid: ObjectId) -> None:
        # The bytes were hashed on their way in: remember the object as verified.
        final = self._spath(oid)
        with contextlib.suppress(FileNotFoundError):
            self.state.record(final, oid.algo, os.stat(final), oid.digest)

    # -- repair ---------------------------------------------------------------------------
    def stale_temp_files(self, older_than: float = 3600.0) -> list[Path]:
        """Temp files left by a killed writer (older than ``older_than`` seconds)."""
        now = time.time()
        out = []
        tmps = [self.tmp, *([self.root_for("md5") / "tmp"] if self.separate_md5() else [])]
        for tmp in tmps:
            if not tmp.is_dir():
                continue
            for p in tmp.iterdir():
                try:
                    if now - p.stat().st_mtime > older_than:
                        out.append(p)
                except FileNotFoundError:
                    continue
        return out


def remove_tree_safely(path: Path) -> None:
    """rmtree that copes with our read-only objects."""

    def onerror(func: Callable[..., object], p: str, _exc: object) -> None:
        os.chmod(p, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(p)

    shutil.rmtree(path, onerror=onerror)


def _write_all_and_close(fd: int, data: bytes) -> None:
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
