"""DVC's content ids of files: md5 of the bytes, and DVC 2's text-normalised md5.

* A file's id is the md5 of its bytes (DVC 3, ``hash: md5`` in the lock). DVC 2 locks carry
  ``md5-dos2unix`` ids instead: each 1 MiB chunk whose first 512 bytes look like text has its
  CRLF pairs turned into LF before hashing (DVC's heuristic: no NUL byte and at most 30 %
  bytes outside printable ASCII and ``\\n\\r\\t\\f\\b``). A CRLF split across two chunks
  stays as it is, as in DVC.
* Alongside the md5, a small file's sha256 (:func:`file_ids`): where the CPU hashes sha256
  faster, it proves a file whose stat changed but not its bytes (``touch``, a checkout)
  unchanged more cheaply. Big batches of reads are spread over a few threads
  (:func:`hash_files`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence

MD5 = "md5"
LEGACY = "md5-dos2unix"
CHUNK = 1 << 20  # DVC hashes in 1 MiB reads; the dos2unix test is per read
TEXT_PROBE = 512
_TEXT_CHARS = bytes(range(32, 127)) + b"\n\r\t\f\b"


def is_text_block(block: bytes) -> bool:
    """DVC's guess whether a chunk is text (so its CRLFs are normalised for md5-dos2unix)."""
    if not block:
        return True
    if b"\x00" in block:
        return False
    nontext = block.translate(None, _TEXT_CHARS)
    return len(nontext) / len(block) <= 0.30


# Reading a file we only hash need not stamp its access time: O_NOATIME (Linux) saves an
# inode update per file, ~15 % of checking 5,000 touched files. Only a file's owner may ask
# for it; for anyone else's file the open is retried without it.
_PLAIN_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_HASH_READ = _PLAIN_READ | getattr(os, "O_NOATIME", 0)


def _open_for_hash(path: str | os.PathLike[str]) -> int:
    if _HASH_READ == _PLAIN_READ:
        return os.open(path, _PLAIN_READ)
    try:
        return os.open(path, _HASH_READ)
    except PermissionError:
        return os.open(path, _PLAIN_READ)  # not ours to open O_NOATIME (or truly unreadable)


def file_md5(path: str | os.PathLike[str], hash_name: str = MD5,
             size_hint: int = -1) -> tuple[str, int]:
    """md5 (or DVC 2's md5-dos2unix) of a file and its size in bytes, streamed.

    ``size_hint`` (the size from a ``stat``) lets a small file be read in one system call
    into a buffer of its size: with thousands of small files, that is most of the cost."""
    if hash_name == LEGACY:
        return _legacy_md5(path)
    h = hashlib.md5(usedforsecurity=False)
    size = 0
    want = min(size_hint + 1, CHUNK) if size_hint >= 0 else CHUNK
    fd = _open_for_hash(path)
    try:
        while True:
            chunk = os.read(fd, want)
            if not chunk:
                break
            size += len(chunk)
            h.update(chunk)
            if len(chunk) < want:
                break  # a short read of a regular file is its end: save a system call
            want = CHUNK
    finally:
        os.close(fd)
    return h.hexdigest(), size


def _legacy_md5(path: str | os.PathLike[str]) -> tuple[str, int]:
    # DVC decides text/binary per 1 MiB read, so reads must be exactly DVC's.
    h = hashlib.md5(usedforsecurity=False)
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if is_text_block(chunk[:TEXT_PROBE]):
                chunk = chunk.replace(b"\r\n", b"\n")
            h.update(chunk)
    return h.hexdigest(), size


def _workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


PARALLEL_MIN_FILES = 64
PARALLEL_MIN_BYTES = 4 << 20
# Threads pay off only when each file keeps a thread outside the GIL for long: for small
# files (10 KB: ~7 us of sha256) the GIL hand-offs cost as much as the hashing they
# overlap — measured on 2 CPUs, 5,000 such files took as long or longer with 2 threads,
# and more CPU. Below this average size a batch is hashed on the calling thread.
PARALLEL_MIN_AVERAGE = 64 << 10

# A file's ids: its md5 (DVC's id) and, for a file of at most CHUNK bytes, the sha256 of the
# same bytes (b"" otherwise). When a file's stat changed but not its content — a checkout,
# a copy, ``touch`` — comparing sha256 with the one recorded proves the md5 unchanged
# without computing it; a changed file gets both. Worth it only where sha256 is the faster
# of the two (CPUs with SHA instructions: about twice as fast as md5), so it is measured.
Ids = tuple[str, bytes]
_SHA_IS_FASTER: list[bool] = []  # measured once per process, when first needed


def sha256_is_faster() -> bool:
    """Whether sha256 hashes faster than md5 here (best of three 64 KiB runs each)."""
    if not _SHA_IS_FASTER:
        block = bytes(1 << 16)
        best = {}
        for name in ("md5", "sha256"):
            runs = []
            for _ in range(3):
                began = time.perf_counter_ns()
                hashlib.new(name, block).digest()
                runs.append(time.perf_counter_ns() - began)
            best[name] = min(runs)
        _SHA_IS_FASTER.append(best["sha256"] < best["md5"])
    return _SHA_IS_FASTER[0]


def file_ids(path: str, size: int, old: Ids | None = None, hash_name: str = MD5) -> Ids:
    """``(md5, sha256)`` of one file whose stat said ``size`` bytes; ``old``: the ids
    recorded for it before (same path and size), reused when the sha256 still matches."""
    if hash_name != MD5 or size > CHUNK or not sha256_is_faster():
        return file_md5(path, hash_name, size)[0], b""
    fd = _open_for_hash(path)
    try:
        data = os.read(fd, size + 1)
    finally:
        os.close(fd)
    if len(data) > size:  # it grew since the stat: hash it whole, as any large file
        return file_md5(path, hash_name, size)[0], b""
    sha = hashlib.sha256(data).digest()
    if old is not None and old[1] == sha:
        return old[0], sha
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), sha


def hash_files(items: Sequence[tuple[str, int, Ids | None]],
               hash_name: str = MD5) -> list[Ids]:
    """:func:`file_ids` of many files (``(path, size, old ids)`` each), in order. Large
    batches are read and hashed by a few threads: ``os.read`` and hashlib release the GIL,
    so several cores hash at once."""
    ids_of = file_ids  # looked up once (and patchable in tests)
    if hash_name == MD5:
        sha256_is_faster()  # measured here, before any thread needs it
    workers = _workers()
    total = sum(item[1] for item in items)
    if (workers < 2 or len(items) < PARALLEL_MIN_FILES or total < PARALLEL_MIN_BYTES
            or total < PARALLEL_MIN_AVERAGE * len(items)):
        return [ids_of(path, size, old, hash_name) for path, size, old in items]
    import threading

    out: list[Ids] = [("", b"")] * len(items)
    order = iter(range(len(items)))  # shared: each next() is atomic under the GIL
    errors: list[Exception] = []

    def work() -> None:
        try:
            for i in order:
                path, size, old = items[i]
                out[i] = ids_of(path, size, old, hash_name)
        except Exception as exc:  # noqa: BLE001 - re-raised on the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True)
               for _ in range(min(workers, len(items) // 16) - 1)]
    for t in threads:
        t.start()
    work()  # the calling thread takes its share too
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


# One state row per directory (``algo`` = "<hash>+tree"): every file's stat key and ids, so
