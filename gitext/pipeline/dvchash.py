"""DVC's content ids for pipeline dependencies and outputs, and their place in the store.

* A file's id is the md5 of its bytes (DVC 3, ``hash: md5`` in the lock). DVC 2 locks carry
  ``md5-dos2unix`` ids instead: each 1 MiB chunk whose first 512 bytes look like text has its
  CRLF pairs turned into LF before hashing (DVC's heuristic: no NUL byte and at most 30 %
  bytes outside printable ASCII and ``\\n\\r\\t\\f\\b``). A CRLF split across two chunks
  stays as it is, as in DVC.
* A directory's id is the md5 of its manifest plus ``.dir``. The manifest is the JSON list
  ``[{"md5": …, "relpath": …}, …]`` sorted by ``relpath`` and serialised with Python's default
  ``json.dumps(…, sort_keys=True)`` separators — exactly DVC's bytes, so the ids agree.
* Every file hash goes through :class:`gitext.state.StateCache`: a file whose stat did not
  change is never read again, so checking a 5,000-file directory costs 5,000 stats.
* Objects live in the local store as ``files/md5/ab/rest``; a manifest as
  ``files/md5/ab/rest.dir`` (DVC 3's layout), handled here because :class:`ObjectId` only
  takes plain 32-hex digests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gitext.errors import CorruptObjectError, InvalidObjectIdError, PipelineError
from gitext.hashing import ObjectId
from gitext.state import StateCache, is_racy
from gitext.store.local import READ_ONLY, LocalStore

_json_quote = json.encoder.encode_basestring_ascii  # what json.dumps uses for str

MD5 = "md5"
LEGACY = "md5-dos2unix"
CHUNK = 1 << 20  # DVC hashes in 1 MiB reads; the dos2unix test is per read
TEXT_PROBE = 512
_TEXT_CHARS = bytes(range(32, 127)) + b"\n\r\t\f\b"
_MD5_RE = re.compile(r"[0-9a-f]{32}")
_DIR_ID_RE = re.compile(r"[0-9a-f]{32}\.dir")
# Names DVC never looks into when it walks a directory.
IGNORED_NAMES = frozenset({".git", ".dvc", ".hg"})


@dataclass(frozen=True)
class HashInfo:
    """What a lock entry records for one path: ``md5`` (``….dir`` for a directory),
    ``size``, ``nfiles`` (directories) and ``isexec`` (executable files)."""

    md5: str
    size: int | None
    nfiles: int | None = None
    isexec: bool = False

    @property
    def isdir(self) -> bool:
        return self.md5.endswith(".dir")


@dataclass(frozen=True)
class ManifestEntry:
    relpath: str
    md5: str


def is_text_block(block: bytes) -> bool:
    """DVC's guess whether a chunk is text (so its CRLFs are normalised for md5-dos2unix)."""
    if not block:
        return True
    if b"\x00" in block:
        return False
    nontext = block.translate(None, _TEXT_CHARS)
    return len(nontext) / len(block) <= 0.30


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
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
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


def check_md5(value: str, *, where: str) -> str:
    """``value`` if it is a 32-hex md5 or ``<md5>.dir``; else a clear error."""
    if isinstance(value, str) and (_MD5_RE.fullmatch(value) or _DIR_ID_RE.fullmatch(value)):
        return value
    raise InvalidObjectIdError(
        f"{where}: '{value}' is not an md5 id",
        hint="an md5 id is 32 lowercase hex digits, '.dir' added for a directory",
    )


def manifest_bytes(entries: list[ManifestEntry]) -> bytes:
    """The ``.dir`` object exactly as DVC serialises it: the bytes of
    ``json.dumps([{"md5": …, "relpath": …}, …], sort_keys=True)``, built directly (the
    generic encoder costs ~10 µs an entry, a lot for 100,000-file directories)."""
    ordered = sorted(entries, key=lambda e: e.relpath)
    quote = _json_quote
    body = ", ".join(f'{{"md5": "{e.md5}", "relpath": {quote(e.relpath)}}}' for e in ordered)
    return f"[{body}]".encode()


def check_relpath(relpath: object, *, where: str) -> str:
    """A manifest path must stay inside its directory: relative, no ``..``, no empty part."""
    if not isinstance(relpath, str) or not relpath:
        raise CorruptObjectError(f"{where}: an entry has no relpath",
                                 hint="the manifest is corrupt; fetch it again")
    parts = relpath.split("/")
    if (relpath.startswith("/") or "\\" in relpath or "\0" in relpath
            or any(p in ("", ".", "..") for p in parts) or re.match(r"[A-Za-z]:", relpath)):
        raise CorruptObjectError(
            f"{where}: entry '{relpath}' would leave its directory",
            hint="the manifest is corrupt or hostile; it was not used",
        )
    return relpath


def parse_manifest(data: bytes, *, where: str) -> list[ManifestEntry]:
    """Validate a ``.dir`` object: a JSON list of {md5, relpath} with safe relative paths."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptObjectError(f"{where}: not a directory manifest ({exc})",
                                 hint="the manifest is corrupt; fetch it again") from None
    if not isinstance(raw, list):
        raise CorruptObjectError(f"{where}: a directory manifest must be a JSON list")
    out: list[ManifestEntry] = []
    for item in raw:
        if not isinstance(item, dict):
            raise CorruptObjectError(f"{where}: a manifest entry is not an object")
        relpath = check_relpath(item.get("relpath"), where=where)
        md5 = item.get("md5")
        if not isinstance(md5, str) or not _MD5_RE.fullmatch(md5):
            raise CorruptObjectError(f"{where}: entry '{relpath}' has no valid md5")
        out.append(ManifestEntry(relpath, md5))
    return out


# -- store layout ------------------------------------------------------------------------------

def object_path(store: LocalStore, md5: str) -> Path:
    """Where a file object or a ``.dir`` manifest lives in ``store``."""
    check_md5(md5, where="object id")
    if md5.endswith(".dir"):
        return store.path(ObjectId(MD5, md5[:-4])).with_name(md5[2:])
    return store.path(ObjectId(MD5, md5))


def has_object(store: LocalStore, md5: str) -> bool:
    return object_path(store, md5).is_file()


def write_manifest(store: LocalStore, data: bytes) -> str:
    """Put a manifest into the store (atomic, read-only); return its ``<md5>.dir`` id."""
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    oid = digest + ".dir"
    final = object_path(store, oid)
    if final.is_file():
        return oid
    store.tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=store.tmp, prefix="incoming-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(READ_ONLY)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return oid


def read_manifest(store: LocalStore, oid: str) -> list[ManifestEntry]:
    """A stored manifest, verified against its id and validated."""
    path = object_path(store, oid)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PipelineError(f"directory object {oid} is not in the local cache",
                            hint="run 'git archives pull', or 'git archives repro'") from None
    if hashlib.md5(data, usedforsecurity=False).hexdigest() + ".dir" != oid:
        raise CorruptObjectError(f"cached directory manifest {oid} is corrupt",
                                 hint="run 'git archives fsck', then 'git archives pull'")
    return parse_manifest(data, where=f"manifest {oid}")


# -- hashing through the stat cache ------------------------------------------------------------

def walk_files(top: Path) -> Iterator[tuple[str, os.stat_result, str]]:
    """(posix relpath, stat, absolute path) of every file under ``top``, as DVC sees it."""
    stack = [("", os.fspath(top))]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name in IGNORED_NAMES:
                    continue
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((rel + "/", entry.path))
                    continue
                try:
                    st = entry.stat()  # a symlinked file counts as its target's content
                except FileNotFoundError:
                    continue  # a dangling symlink
                if stat.S_ISREG(st.st_mode):
                    yield rel, st, entry.path  # (a symlink to a directory is not followed)


class Hasher:
    """Hashes paths DVC's way, trusting :class:`StateCache` rows whose stat still matches."""

    def __init__(self, state: StateCache | None) -> None:
        self.state = state

    def file(self, path: str, st: os.stat_result, hash_name: str = MD5) -> str:
        if self.state is not None:
            known = self.state.lookup(path, hash_name, st)
            if known is not None:
                return known
        digest, _ = file_md5(path, hash_name, st.st_size)
        if self.state is not None and not _racy(st):
            self.state.record(path, hash_name, st, digest)
        return digest

    def directory(self, top: Path, hash_name: str = MD5) -> tuple[HashInfo, list[ManifestEntry]]:
        """The directory's id and its manifest entries (sorted by relpath)."""
        files = list(walk_files(top))
        return self._directory(top, files, hash_name)

    def directory_id(self, top: Path, hash_name: str = MD5) -> HashInfo:
        """Only the id: when no file's stat changed since the last time (and none is
        racy), a signature of all the stats gives it without a row per file."""
        files = list(walk_files(top))
        sig = _DirSignature(self.state, os.fspath(top), hash_name, files)
        known = sig.lookup()
        if known is not None:
            return known
        info = self._directory(top, files, hash_name)[0]
        sig.record(info)
        return info

    def _directory(self, top: Path, files: list[tuple[str, os.stat_result, str]],
                   hash_name: str) -> tuple[HashInfo, list[ManifestEntry]]:
        entries: list[ManifestEntry] = []
        total = 0
        bulk = _BulkState.open(self.state, os.fspath(top), hash_name)
        for rel, st, full in files:
            digest = bulk.lookup(full, st) if bulk is not None else None
            if digest is None:
                if bulk is not None:
                    digest = file_md5(full, hash_name, st.st_size)[0]
                    bulk.add(full, st, digest)
                else:
                    digest = self.file(full, st, hash_name)
            entries.append(ManifestEntry(rel, digest))
            total += st.st_size
        if bulk is not None:
            bulk.commit()
        data = manifest_bytes(entries)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest() + ".dir"
        entries.sort(key=lambda e: e.relpath)
        return HashInfo(md5, total, len(entries)), entries

    def path(self, path: Path, hash_name: str = MD5) -> HashInfo | None:
        """The id of a file or directory, or None if nothing is there."""
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISDIR(st.st_mode):
            return self.directory_id(path, hash_name)
        digest = self.file(os.fspath(path), st, hash_name)
        return HashInfo(digest, st.st_size, None, bool(st.st_mode & 0o111))

    def flush(self) -> None:
        if self.state is not None:
            self.state.flush()


def _racy(st: os.stat_result) -> bool:
    """A row written now for this stat could never be trusted (the state's racy rule),
    so writing it is wasted work — the usual case right after a command wrote the file."""
    return is_racy(st.st_mtime_ns, time.time_ns())


class _BulkState:
    """A directory's worth of stat-cache rows read in one query and written in one batch.

    Same table and trust rule as :meth:`StateCache.lookup` (stat key equal, file older than
    the row by the racy window); 5,000 single-row queries would cost more than the stats.
    """

    def __init__(self, db: sqlite3.Connection, algo: str,
                 rows: dict[str, tuple[int, int, int, int, str, int]]) -> None:
        self.db = db
        self.algo = algo
        self.rows = rows
        self.new: list[tuple[str, str, int, int, int, int, str, int]] = []

    @classmethod
    def open(cls, state: StateCache | None, top: str, algo: str) -> _BulkState | None:
        if state is None:
            return None
        state.flush()
        conn = getattr(state, "_conn", None)
        db = conn() if callable(conn) else None
        if not isinstance(db, sqlite3.Connection):
            return None
        prefix = top.rstrip(os.sep) + os.sep
        upper = prefix[:-1] + chr(ord(os.sep) + 1)
        try:
            found = db.execute(
                "SELECT path, inode, size, mtime_ns, ctime_ns, digest, recorded_ns FROM hashes"
                " WHERE algo=? AND path >= ? AND path < ?", (algo, prefix, upper)).fetchall()
        except sqlite3.Error:
            return None
        return cls(db, algo, {r[0]: tuple(r[1:]) for r in found})

    def lookup(self, path: str, st: os.stat_result) -> str | None:
        row = self.rows.get(path)
        if row is None or row[:4] != (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns):
            return None
        if is_racy(st.st_mtime_ns, row[5]):
            return None
        return row[4]

    def add(self, path: str, st: os.stat_result, digest: str) -> None:
        if _racy(st):
            return
        self.new.append((path, self.algo, st.st_ino, st.st_size, st.st_mtime_ns,
                         st.st_ctime_ns, digest, time.time_ns()))

    def commit(self) -> None:
        if not self.new:
            return
        try:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?,?,?,?)", self.new)
        except sqlite3.Error:
            pass  # the cache only saves time: losing rows costs a re-hash
        self.new.clear()


class _DirSignature:
    """One state row per directory: the md5 of every file's (relpath, inode, size, mtime,
    ctime) → the directory's id. Equal signature means every file's row would be trusted
    too, so the id is the one computed then (the per-file rows stay the source of truth)."""

    def __init__(self, state: StateCache | None, top: str, hash_name: str,
                 files: list[tuple[str, os.stat_result, str]]) -> None:
        self.state = state
        self.top = top
        self.algo = hash_name + "+dir"
        h = hashlib.md5(usedforsecurity=False)
        newest = 0
        for rel, st, _full in files:
            h.update(f"{rel}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0"
                     f"{st.st_ctime_ns}\n".encode("utf-8", "surrogateescape"))
            newest = max(newest, st.st_mtime_ns)  # the racy rule of StateCache: mtime
        self.sig = h.hexdigest()
        self.newest = newest

    def _db(self) -> sqlite3.Connection | None:
        if self.state is None:
            return None
        self.state.flush()
        conn = getattr(self.state, "_conn", None)
        db = conn() if callable(conn) else None
        return db if isinstance(db, sqlite3.Connection) else None

    def lookup(self) -> HashInfo | None:
        db = self._db()
        if db is None:
            return None
        try:
            row = db.execute("SELECT digest, recorded_ns FROM hashes WHERE path=? AND algo=?",
                             (self.top, self.algo)).fetchone()
        except sqlite3.Error:
            return None
        if row is None or is_racy(self.newest, row[1]):
            return None
        parts = str(row[0]).split(":")
        if len(parts) != 4 or parts[0] != self.sig or not _DIR_ID_RE.fullmatch(parts[1]):
            return None
        return HashInfo(parts[1], int(parts[2]), int(parts[3]))

    def record(self, info: HashInfo) -> None:
        now = time.time_ns()
        if is_racy(self.newest, now):
            return  # could never be trusted
        db = self._db()
        if db is None:
            return
        value = f"{self.sig}:{info.md5}:{info.size}:{info.nfiles}"
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?,?,?,?)",
                           (self.top, self.algo, 0, info.size or 0, self.newest, self.newest,
                            value, now))
        except sqlite3.Error:
            pass


def save_path(store: LocalStore, hasher: Hasher, path: Path) -> HashInfo:
    """Put a file or a directory (each file plus its manifest) into the store; its id."""
    st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        info, entries = hasher.directory(path)
        for entry in entries:
            _save_file(store, path / entry.relpath, entry.md5)
        oid = write_manifest(store, manifest_bytes(entries))
        if oid != info.md5:  # a file changed under us while we were copying
            raise PipelineError(f"'{path}' changed while it was being saved",
                                hint="run 'git archives repro' again")
        return info
    digest = hasher.file(os.fspath(path), st)
    _save_file(store, path, digest)
    return HashInfo(digest, st.st_size, None, bool(st.st_mode & 0o111))


def _save_file(store: LocalStore, path: Path, digest: str) -> None:
    oid = ObjectId(MD5, digest)
    if store.has(oid):
        return
    store.add_file(path, MD5, expected=oid)
