"""Reading objects from the local store, whole or rebuilt from chunks (docs/storage.md).

A sha256 object is either a whole file under ``files/`` or, for a large file, a recipe under
``chunks/recipes/`` naming its chunks in packs. Every reader (smudge, checkout, push, get…)
goes through these methods and sees both the same way; only :meth:`StoreReads.open` of a
chunked object gives a reader without a file descriptor.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from gitext.codec.hashing import CHUNK, ObjectId, hash_file, new_hasher
from gitext.errors import CorruptObjectError, ObjectMissingError

if TYPE_CHECKING:
    from gitext.store.chunks.store import ChunkStore
    from gitext.store.state import StateCache


class ChunkedReader:
    """A read-only file-like view of a file rebuilt from chunks (verified at its end: the
    last ``read`` raises CorruptObjectError if the whole file's sha256 is wrong)."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self._parts = parts
        self._pending = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        out = [self._pending]
        got = len(self._pending)
        while n < 0 or got < n:
            part = next(self._parts, None)
            if part is None:
                break
            out.append(part)
            got += len(part)
        data = b"".join(out)
        if 0 <= n < len(data):
            data, self._pending = data[:n], data[n:]
        else:
            self._pending = b""
        self._pos += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._parts = iter(())

    def __enter__(self) -> ChunkedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StoreReads:
    """The reading half of :class:`gitext.store.objects.LocalStore`."""

    root: Path
    quarantine_dir: Path
    _verified: set[ObjectId]

    # provided by LocalStore
    def path(self, oid: ObjectId) -> Path:
        raise NotImplementedError

    def _spath(self, oid: ObjectId) -> str:
        raise NotImplementedError

    @property
    def state(self) -> StateCache:
        raise NotImplementedError

    @property
    def chunks(self) -> ChunkStore:
        raise NotImplementedError

    # -- chunked objects ------------------------------------------------------------------
    def recipe_file(self, oid: ObjectId) -> str:
        d = oid.digest
        return os.path.join(self.root, "chunks", "recipes", d[:2], d[2:])

    def is_chunked(self, oid: ObjectId) -> bool:
        """Stored as a recipe and chunks (and not also as a whole file)."""
        return oid.algo == "sha256" and os.path.isfile(self.recipe_file(oid)) \
            and not os.path.isfile(self._spath(oid))

    def record_chunked_verified(self, oid: ObjectId) -> None:
        """The chunked object was just rebuilt (or written) with its sha256 checked:
        remember it against its recipe's stat, as a whole object is remembered."""
        self._verified.add(oid)
        p = self.recipe_file(oid)
        with contextlib.suppress(FileNotFoundError):
            self.state.record(p, oid.algo, os.stat(p), oid.digest)

    # -- lookup ---------------------------------------------------------------------------
    def has(self, oid: ObjectId) -> bool:
        return os.path.isfile(self._spath(oid)) or (
            oid.algo == "sha256" and os.path.isfile(self.recipe_file(oid)))

    def size(self, oid: ObjectId) -> int | None:
        try:
            return os.stat(self._spath(oid)).st_size
        except FileNotFoundError:
            pass
        if oid.algo != "sha256" or not os.path.isfile(self.recipe_file(oid)):
            return None
        return self.chunks.recipe_size(oid)

    # -- reading --------------------------------------------------------------------------
    def open(self, oid: ObjectId) -> BinaryIO:
        try:
            return open(self.path(oid), "rb")
        except FileNotFoundError:
            if self.is_chunked(oid):
                return cast(BinaryIO, ChunkedReader(self.chunks.iter_file(oid)))
            raise ObjectMissingError(
                f"object {oid} is not in the local cache",
                hint="run 'git archives pull' to fetch it",
            ) from None

    def is_verified(self, oid: ObjectId) -> bool:
        """True if the object's bytes were hashed since its file last changed (stat-keyed);
        a chunked object: if this process rebuilt and verified it."""
        if oid in self._verified:
            return True
        p = self._spath(oid)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            if oid.algo != "sha256":
                return False
            p = self.recipe_file(oid)  # chunked: a rebuild verified since it was written
            try:
                st = os.stat(p)
            except FileNotFoundError:
                return False
        if self.state.lookup(p, oid.algo, st, racy_ok=True) == oid.digest:
            self._verified.add(oid)
            return True
        return False

    def verify(self, oid: ObjectId) -> bool:
        """Re-hash the object; True if its bytes match its id (and remember that)."""
        if self.is_chunked(oid):
            try:
                self.chunks.stream_file(oid, lambda _b: None)
            except (CorruptObjectError, ObjectMissingError):
                return False
            self.record_chunked_verified(oid)
            self.state.flush()
            return True
        p = self.path(oid)
        st = p.stat()
        digest, _ = hash_file(p, oid.algo)
        if digest == oid.digest:
            self.state.record(self._spath(oid), oid.algo, st, digest)
            self.state.flush()
            return True
        return False

    def stream_verified(self, oid: ObjectId,
                        write: Callable[[bytes | memoryview], object]) -> int:
        """Send the object's bytes to ``write``; raise CorruptObjectError if they do not
        match the id (the caller must then discard what it received). ``write`` must
        consume what it is given during the call (a chunked object's bytes come in a
        reused buffer). A chunked object known verified is checked chunk by chunk (each
        chunk's id), else by the whole file's sha256 (design note 48)."""
        if self.is_chunked(oid):
            trusted = self.is_verified(oid)
            size = self.chunks.stream_file(oid, write, trusted=trusted)
            if not trusted:
                self.record_chunked_verified(oid)
            return size
        trusted = self.is_verified(oid)
        h = None if trusted else new_hasher(oid.algo)
        size = 0
        with self.open(oid) as f:
            st = os.fstat(f.fileno())
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                if h is not None:
                    h.update(chunk)
                size += len(chunk)
                write(chunk)
        if h is not None:
            if h.hexdigest() != oid.digest:
                raise CorruptObjectError(
                    f"cached object {oid} is corrupt (its bytes hash to {h.hexdigest()[:12]}…)",
                    hint="run 'git archives fsck' to quarantine it, then 'git archives pull'",
                )
            self.state.record(self._spath(oid), oid.algo, st, oid.digest)
        return size

    def iter_rebuilt(self, oid: ObjectId) -> Iterator[bytes]:
        """A chunked object's bytes, each part handed on only once the next one is rebuilt:
        a bad rebuild's CorruptObjectError (raised once the whole file's sha256 is known)
        comes before its last part, so whoever sends the parts on (an upload of a known
        length) never sends all of a corrupt object. A recipe verified since it was written
        has each chunk checked against its id instead, as a smudge does (design note 48)."""
        held: bytes | None = None
        for part in self.chunks.iter_file(oid, trusted=self.is_verified(oid)):
            if held is not None:
                yield held
            held = part
        self.record_chunked_verified(oid)
        if held is not None:
            yield held

    @contextlib.contextmanager
    def whole_copy(self, oid: ObjectId) -> Iterator[Path]:
        """The object as one file: its own file, or for a chunked object a copy rebuilt
        (and verified) under ``tmp/`` that is removed afterwards (e.g. for an upload to a
        Git LFS server, which takes whole objects)."""
        if not self.is_chunked(oid):
            yield self.path(oid)
            return
        tmp = Path(self.root) / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp, prefix="rebuilt-")
        try:
            with os.fdopen(fd, "wb") as f:
                self.stream_verified(oid, f.write)
            yield Path(name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    # -- repair ---------------------------------------------------------------------------
    def quarantine(self, oid: ObjectId) -> Path:
        """Move a corrupt object aside (never delete it: it may be all there is). A chunked
        object's recipe is moved; its chunks stay (other files may share them)."""
        self._verified.discard(oid)
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / f"{oid.algo}-{oid.digest}-{int(time.time())}"
        src = self.recipe_file(oid) if self.is_chunked(oid) else self.path(oid)
        shutil.move(src, target)  # DVC's cache may be on another filesystem
        return target
