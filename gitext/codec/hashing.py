"""Object ids and streaming hashes.

An :class:`ObjectId` is ``(algo, hex digest)``: ``sha256`` for pointer-tracked files, ``md5``
for pipeline outputs (DVC's ids). Ids are validated before they ever become paths.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from typing import BinaryIO, Final

from gitext.errors import InvalidObjectIdError

CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough for flat memory

_HEX_LEN = {"sha256": 64, "md5": 32}
_HEX_RE = {algo: re.compile(rf"[0-9a-f]{{{n}}}") for algo, n in _HEX_LEN.items()}
_DVC_ID_RE = re.compile(r"[0-9a-f]{32}(\.dir)?")


def is_dvc_md5_id(value: object) -> bool:
    """Whether ``value`` is an md5 id as DVC writes one in ``dvc.lock``, ``.dvc`` files and
    run-cache entries: 32 lowercase hex digits, ``.dir`` added for a directory."""
    return isinstance(value, str) and _DVC_ID_RE.fullmatch(value) is not None


class ObjectId:
    """An immutable, hashable, ordered (algo, digest) pair. (A plain class, not a frozen
    dataclass: hooks import this module, and ``dataclasses`` costs them ~20 ms to import
    and build; design note "Start-up".)"""

    __slots__ = ("algo", "digest")

    def __init__(self, algo: str, digest: str) -> None:
        pattern = _HEX_RE.get(algo)
        if pattern is None or not pattern.fullmatch(digest):
            raise InvalidObjectIdError(
                f"'{algo}:{digest}' is not a valid object id",
                hint="an id is sha256 with 64 lowercase hex digits, or md5 with 32",
            )
        self.algo: Final = algo
        self.digest: Final = digest

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not ObjectId:
            return NotImplemented
        return self.digest == other.digest and self.algo == other.algo

    def __hash__(self) -> int:
        return hash((self.algo, self.digest))

    def __lt__(self, other: ObjectId) -> bool:
        return (self.algo, self.digest) < (other.algo, other.digest)

    def __le__(self, other: ObjectId) -> bool:
        return (self.algo, self.digest) <= (other.algo, other.digest)

    def __gt__(self, other: ObjectId) -> bool:
        return (self.algo, self.digest) > (other.algo, other.digest)

    def __ge__(self, other: ObjectId) -> bool:
        return (self.algo, self.digest) >= (other.algo, other.digest)

    def __repr__(self) -> str:
        return f"ObjectId(algo={self.algo!r}, digest={self.digest!r})"

    @classmethod
    def parse(cls, text: str) -> ObjectId:
        """``sha256:<hex>`` or ``md5:<hex>``."""
        algo, sep, digest = text.partition(":")
        if not sep:
            raise InvalidObjectIdError(f"'{text}' is not an object id (want algo:hex)")
        return cls(algo, digest)

    @property
    def key(self) -> str:
        """The layout path shared by the local cache and every remote."""
        return f"files/{self.algo}/{self.digest[:2]}/{self.digest[2:]}"

    def __str__(self) -> str:
        return f"{self.algo}:{self.digest}"


def new_hasher(algo: str) -> hashlib._Hash:
    if algo not in _HEX_LEN:
        raise InvalidObjectIdError(f"unknown hash algorithm '{algo}'")
    # md5 is DVC's content id here, not a security measure.
    return hashlib.new(algo, usedforsecurity=False) if algo == "md5" else hashlib.sha256()


def copy_and_hash(
    src: BinaryIO,
    dst: BinaryIO | None,
    algo: str,
    *,
    on_chunk: Callable[[bytes], None] | None = None,
) -> tuple[str, int]:
    """Stream ``src`` into ``dst`` (may be None) hashing once; return (hex digest, size)."""
    h = new_hasher(algo)
    size = 0
    read = src.read
    while True:
        chunk = read(CHUNK)
        if not chunk:
            break
        h.update(chunk)
        size += len(chunk)
        if dst is not None:
            dst.write(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
    return h.hexdigest(), size


def hash_file(path: str | os.PathLike[str], algo: str) -> tuple[str, int]:
    """Digest and size of a file, read in chunks (never whole into memory)."""
    with open(path, "rb", buffering=0) as f:
        return _hash_fd(f, algo)


def hash_file_stat(path: str | os.PathLike[str], algo: str) -> tuple[str, int, os.stat_result]:
    """Like :func:`hash_file`, plus the stat of the file that was read (one open)."""
    with open(path, "rb", buffering=0) as f:
        st = os.fstat(f.fileno())
        digest, size = _hash_fd(f, algo, st.st_size)
        return digest, size, st


def _hash_fd(f: BinaryIO, algo: str, expect: int = CHUNK) -> tuple[str, int]:
    h = new_hasher(algo)
    size = 0
    # a small file is read whole in one call (+1 byte to see its end), without zeroing MiBs
    buf = bytearray(min(CHUNK, max(expect, 0) + 1))
    view = memoryview(buf)
    readinto = f.readinto  # type: ignore[attr-defined]
    while True:
        n = readinto(buf)
        if not n:
            break
        h.update(view[:n])
        size += n
    return h.hexdigest(), size
