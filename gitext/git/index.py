"""git's index file format (``.git/index``), only as far as an in-place fill needs it:
:func:`index_entries` finds the entries (versions 2, 3 and 4, with the extensions known to
be safe to keep), :func:`patch_stat` rewrites one entry's stat data in place and
:func:`rewrite_checksum` seals the patched bytes again. Anything unusual raises
:class:`IndexFormatError`, so the caller can leave the index to git.

Only parses and patches bytes: reading and writing the file (under ``index.lock``) is the
caller's job (:class:`gitext.sync.fill.InPlaceFill`).
"""

from __future__ import annotations

import os
import struct

_SAFE_INDEX_EXTENSIONS = frozenset({b"TREE", b"REUC", b"UNTR", b"EOIE", b"IEOT"})


class IndexFormatError(Exception):
    pass


def _checksum(data: bytes | bytearray, hash_len: int) -> bytes:
    import hashlib  # (a hook that only asks lists_no_path_ending never hashes)

    h = hashlib.sha1() if hash_len == 20 else hashlib.sha256()  # noqa: S324 - git's
    h.update(memoryview(data)[:-hash_len])
    return h.digest()


def _check_header(data: bytes, hash_len: int) -> tuple[int, int]:
    """(version, entry count) of an index whose checksum (unless zeroed) is right."""
    if len(data) < 12 + hash_len or data[:4] != b"DIRC":
        raise IndexFormatError("not an index")
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        raise IndexFormatError(f"index version {version}")
    trailer = data[-hash_len:]
    if trailer.strip(b"\0") and _checksum(data, hash_len) != trailer:
        raise IndexFormatError("index checksum mismatch")
    return version, count


def lists_no_path_ending(data: bytes, suffix: bytes) -> bool:
    """Whether the index bytes ``data`` certainly list no path ending with ``suffix``.

    Versions 2 and 3 store every path whole, followed by NUL padding, so one byte search
    answers. A match, a version-4 index (paths compressed against the previous one) or a
    split index (``link``: most entries live in another file) answers False: "maybe"."""
    if data[:4] != b"DIRC" or data[4:8] not in (b"\0\0\0\x02", b"\0\0\0\x03"):
        return False
    return b"link" not in data and suffix + b"\0" not in data


def _v4_path(data: bytes, pos: int, prev: bytes) -> tuple[bytes, int]:
    """A version 4 entry's path (prefix-compressed against ``prev``) and the position after
    it."""
    # git's offset varint: 7 bits a byte, high bit = more, +1 per continuation
    b = data[pos]
    pos += 1
    strip = b & 0x7F
    while b & 0x80:
        b = data[pos]
        pos += 1
        strip = ((strip + 1) << 7) | (b & 0x7F)
    nul = data.index(b"\0", pos)
    if strip > len(prev):
        raise IndexFormatError("bad path compression")
    return prev[:len(prev) - strip] + data[pos:nul], nul + 1


def _check_extensions(data: bytes, pos: int, end: int) -> None:
    while pos < end:
        if pos + 8 > end:
            raise IndexFormatError("truncated extension")
        sig = data[pos:pos + 4]
        (size,) = struct.unpack(">I", data[pos + 4:pos + 8])
        if sig not in _SAFE_INDEX_EXTENSIONS:
            raise IndexFormatError(f"index extension {sig!r}")
        pos += 8 + size
    if pos != end:
        raise IndexFormatError("trailing bytes")


def index_entries(data: bytes, hash_len: int) -> dict[bytes, tuple[int, bytes]]:
    """path -> (offset of the entry, blob id) of every stage-0, not skip-worktree entry of a
    version 2/3/4 index. Raises IndexFormatError for anything else."""
    version, count = _check_header(data, hash_len)
    pos = 12
    prev = b""
    found: dict[bytes, tuple[int, bytes]] = {}
    end = len(data) - hash_len
    fixed = 40 + hash_len + 2
    for _ in range(count):
        if pos + fixed > end:
            raise IndexFormatError("truncated entry")
        start = pos
        blob = data[pos + 40:pos + 40 + hash_len]
        (flags,) = struct.unpack(">H", data[pos + 40 + hash_len:pos + fixed])
        pos += fixed
        extended = 0
        if flags & 0x4000:
            if version < 3:
                raise IndexFormatError("extended flag in a version 2 index")
            (extended,) = struct.unpack(">H", data[pos:pos + 2])
            pos += 2
        if version == 4:
            path, pos = _v4_path(data, pos, prev)
        else:
            nul = data.index(b"\0", pos)
            path = data[pos:nul]
            pos = start + ((nul - start + 8) & ~7)
        prev = path
        stage = (flags >> 12) & 3
        skip_worktree = extended & 0x4000
        intent_to_add = extended & 0x2000
        if stage == 0 and not skip_worktree and not intent_to_add:
            found[path] = (start, blob)
    _check_extensions(data, pos, end)
    return found


def patch_stat(buf: bytearray, offset: int, st: os.stat_result) -> None:
    """Write ``st`` into the stat data of the entry at ``offset``."""
    m = 0xFFFFFFFF
    struct.pack_into(">IIIIII", buf, offset, st.st_ctime_ns // 1_000_000_000 & m,
                     st.st_ctime_ns % 1_000_000_000, st.st_mtime_ns // 1_000_000_000 & m,
                     st.st_mtime_ns % 1_000_000_000, st.st_dev & m, st.st_ino & m)
    struct.pack_into(">III", buf, offset + 28, st.st_uid & m, st.st_gid & m, st.st_size & m)


def rewrite_checksum(buf: bytearray, hash_len: int) -> None:
    """Recompute the trailing checksum of patched index bytes (left alone when zeroed:
    ``index.skipHash``)."""
    if buf[-hash_len:].strip(b"\0"):
        buf[-hash_len:] = _checksum(buf, hash_len)
