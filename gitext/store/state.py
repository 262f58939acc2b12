"""The stat-keyed hash cache (``state.db``): path + stat → digest, so nothing is hashed twice.

A row is trusted only when the file's inode, size, mtime_ns and ctime_ns all still match,
and — like git's own "racy" rule — only when the file's mtime is older than the moment the
row was written by more than the filesystem's timestamp granularity. A write into a file in
the same timestamp tick as our hash would otherwise go unnoticed.

A ``state.db`` SQLite cannot read ("file is not a database", "malformed") is moved aside as
``state.db.corrupt-<UTC time>`` — never deleted — and a fresh one is started; ``doctor`` and
``fsck`` list the copies. What a rebuild loses: the hash rows (files are hashed again), the
last digest of each path (under the size rule, a file stored as a pointer that has since
shrunk below the limit is stored plainly on its next add), the ``pending`` list of files
left as pointers (the hooks stop filling them by themselves; ``git archives status`` still
finds them), and cached parse results (re-parsed). No object and no work-tree file is lost.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

CORRUPT_SUFFIX = ".corrupt-"

# A file written in the same timestamp tick as our hash could change without its mtime
# changing. Linux stamps files from a clock that ticks every 1-10 ms: trust a row once the
# file is 100 ms older than it. Whole-second mtimes mean a coarse filesystem (FAT's 2 s,
# some network shares): there the window is 2 s.
RACY_WINDOW_NS = 2_000_000_000
FINE_RACY_WINDOW_NS = 100_000_000


def is_racy(mtime_ns: int, recorded_ns: int) -> bool:
    """True if a row recorded at ``recorded_ns`` cannot vouch for a file of this mtime."""
    window = RACY_WINDOW_NS if mtime_ns % 1_000_000_000 == 0 else FINE_RACY_WINDOW_NS
    return mtime_ns + window > recorded_ns


_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT NOT NULL,
    algo TEXT NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    recorded_ns INTEGER NOT NULL,
    PRIMARY KEY (path, algo)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (path TEXT PRIMARY KEY, oid TEXT NOT NULL);
"""


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    """What says a file changed: inode, size, mtime_ns, ctime_ns (a ``hashes`` row's key)."""
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def is_corruption(exc: BaseException) -> bool:
    """SQLite's own words for a file it cannot read as a database."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text)


def corrupt_copies(db_path: Path) -> list[Path]:
    """Corrupt state databases moved aside, oldest first."""
    try:
        return sorted(db_path.parent.glob(db_path.name + CORRUPT_SUFFIX + "*"))
    except OSError:
        return []


def probe(db_path: Path) -> str | None:
    """Why ``db_path`` is not a readable database (read-only check, for ``doctor``), or
    None if it is, or if there is none yet."""
    if not db_path.exists():
        return None
    try:
        db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        row = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        return str(exc) if is_corruption(exc) else None  # locked or busy: not our question
    finally:
        db.close()
    return None if row is not None and row[0] == "ok" else f"quick_check: {row}"


class StateCache:
    """Open lazily; batch writes; safe for several processes (WAL + busy timeout)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._db: sqlite3.Connection | None = None
        self._pending = 0
        self._began = 0.0
        self._disabled = False
        self._inode: int | None = None  # of the file we opened, to move aside only that one
        self.moved_aside: Path | None = None  # set when this process rebuilt the database

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None and not self._disabled:
            try:
                self._db = self._open()
            except sqlite3.Error as exc:
                if is_corruption(exc) and self._set_aside():
                    try:
                        self._db = self._open()
                        return self._db
                    except sqlite3.Error:
                        pass
                # A cache that cannot be opened (read-only dir, locked) only costs speed.
                self._disabled = True
        return self._db

    def _open(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.db_path, timeout=10, isolation_level=None)
        try:
            try:
                self._inode = os.stat(self.db_path).st_ino
            except OSError:
                self._inode = None
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # executescript costs milliseconds on every command; look first.
            have = db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'"
                              " AND name IN ('hashes', 'pending')").fetchone()[0]
            if have != 2:
                db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _set_aside(self) -> bool:
        """Move the corrupt database (and its -wal/-shm) aside; True if a fresh one may be
        started. Only the file this process opened is moved: another process may already
        have replaced it with a fresh database."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._pending = 0
        try:
            if self._inode is not None and os.stat(self.db_path).st_ino != self._inode:
                return True  # someone else already rebuilt it
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            dest = self.db_path.with_name(f"{self.db_path.name}{CORRUPT_SUFFIX}{stamp}")
            n = 1
            while dest.exists():
                n += 1
                dest = dest.with_name(f"{self.db_path.name}{CORRUPT_SUFFIX}{stamp}-{n}")
            os.replace(self.db_path, dest)
            for extra in ("-wal", "-shm"):
                side = Path(str(self.db_path) + extra)
                if side.exists():
                    os.replace(side, Path(str(dest) + extra))
        except FileNotFoundError:
            return True
        except OSError:
            return False
        self.moved_aside = dest
        sys.stderr.write(f"git-archives: {self.db_path} could not be read as a database and "
                         f"was moved to {dest}; a fresh one was started (files are hashed "
                         "again; 'git archives doctor' says what else was lost)\n")
        return True

    def _failed(self, exc: sqlite3.Error) -> None:
        """A query failed: if the file turned out corrupt, set it aside (the next query
        starts a fresh database); any other failure only costs speed."""
        if is_corruption(exc):
            self._set_aside()

    def check(self) -> Path | None:
        """Ask SQLite to check the whole database (``fsck``); a corrupt one is set aside
        and rebuilt. Returns where it was moved, if it was."""
        db = self._conn()
        if db is not None:
            try:
                row = db.execute("PRAGMA quick_check").fetchone()
                if row is None or row[0] != "ok":
                    raise sqlite3.DatabaseError(f"database disk image is malformed: {row}")
            except sqlite3.Error as exc:
                self._failed(exc)
        return self.moved_aside

    def _row(self, path: str, algo: str) -> tuple[int, int, int, int, str, int] | None:
        db = self._conn()
        if db is None:
            return None
        try:
            row = db.execute(
                "SELECT inode, size, mtime_ns, ctime_ns, digest, recorded_ns FROM hashes"
                " WHERE path=? AND algo=?",
                (path, algo),
            ).fetchone()
        except sqlite3.Error as exc:
            self._failed(exc)
            return None
        return tuple(row) if row else None

    # -- opaque rows: a caller's own record for a path (e.g. a directory's file table) -----
    def get_blob(self, path: str, kind: str) -> tuple[bytes, int] | None:
        """The bytes kept for ``path`` under ``kind`` and when they were written (ns);
        None if there are none or the cache cannot be read."""
        self.flush()
        db = self._conn()
        if db is None:
            return None
        try:
            row = db.execute("SELECT digest, recorded_ns FROM hashes WHERE path=? AND algo=?",
                             (path, kind)).fetchone()
        except sqlite3.Error as exc:
            self._failed(exc)
            return None
        if row is None or not isinstance(row[0], bytes):
            return None
        return row[0], int(row[1])

    def put_blob(self, path: str, kind: str, data: bytes, recorded_ns: int) -> None:
        """Keep ``data`` for ``path`` under ``kind`` (committed now; a failure only costs
        speed). ``kind`` must not be a hash algorithm's name."""
        self.flush()
        db = self._conn()
        if db is None:
            return
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?,?,?,?)",
                           (path, kind, 0, len(data), 0, 0, data, recorded_ns))
        except sqlite3.Error as exc:
            self._failed(exc)  # the cache only saves time: a lost row costs a re-hash

    def lookup(self, path: str, algo: str, st: os.stat_result, *,
               racy_ok: bool = False) -> str | None:
        """The digest recorded for ``path`` if its stat is unchanged, else None.

        ``racy_ok`` skips the racy-timestamp rule, for files only we write (cache objects)."""
        row = self._row(path, algo)
        if row is None or tuple(row[:4]) != stat_key(st):
            return None
        if not racy_ok and is_racy(st.st_mtime_ns, row[5]):
            return None  # racily clean: written too close to when we hashed it
        return str(row[4])

    def lookup_with_last(self, path: str, algo: str, st: os.stat_result
                         ) -> tuple[str | None, tuple[str, int] | None]:
        """One query for :meth:`lookup` and :meth:`last_digest` together."""
        row = self._row(path, algo)
        if row is None:
            return None, None
        last = (str(row[4]), int(row[1]))
        if tuple(row[:4]) != stat_key(st) or is_racy(st.st_mtime_ns, row[5]):
            return None, last
        return last[0], last

    def last_digest(self, path: str, algo: str) -> tuple[str, int] | None:
        """Whatever digest and size were last recorded for ``path``, stat ignored."""
        row = self._row(path, algo)
        return (str(row[4]), int(row[1])) if row else None

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        """One statement in the open batch (a transaction is begun on the first)."""
        db = self._conn()
        if db is None:
            return
        try:
            if self._pending == 0:
                db.execute("BEGIN")
                self._began = time.monotonic()
            db.execute(sql, params)
            self._pending += 1
        except sqlite3.Error as exc:
            self._failed(exc)
            self._pending = 0  # the cache only saves work: a lost batch costs a re-hash

    def record(self, path: str, algo: str, st: os.stat_result, digest: str) -> None:
        self._write("INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?,?,?,?)",
                    (path, algo, *stat_key(st), digest, time.time_ns()))
        if self._pending >= 500:
            self.flush()

    def remember(self, path: str, algo: str, digest: str, size: int) -> None:
        """Note ``digest`` as what ``path`` last held, without a stat to trust: ``lookup``
        never answers from it, ``last_digest`` does (a candidate to compare against)."""
        self._write("INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?,?,?,?)",
                    (path, algo, -1, size, -1, -1, digest, 0))

    # -- files smudge left as pointers (absolute path → oid) ---------------------------------
    def pending_set(self, path: str, oid: str | None) -> None:
        if oid is None:
            self._write("DELETE FROM pending WHERE path=?", (path,))
        else:
            self._write("INSERT OR REPLACE INTO pending VALUES (?, ?)", (path, oid))

    def pending_count(self) -> int:
        db = self._conn()
        if db is None:
            return 0
        try:
            return int(db.execute("SELECT count(*) FROM pending").fetchone()[0])
        except sqlite3.Error as exc:
            self._failed(exc)
            return 0

    def pending_under(self, prefix: str) -> dict[str, str]:
        """Pending rows whose path starts with ``prefix``."""
        db = self._conn()
        if db is None:
            return {}
        try:
            rows = db.execute(
                "SELECT path, oid FROM pending WHERE path >= ? AND path < ?",
                (prefix, prefix + "\U0010ffff"),
            ).fetchall()
        except sqlite3.Error as exc:
            self._failed(exc)
            return {}
        return {str(p): str(o) for p, o in rows}

    def flush_if_due(self, max_age: float = 0.25) -> None:
        """Commit if the open transaction is older than ``max_age`` seconds: other processes
        wait for our write lock at most that long, and we do not pay a commit per file."""
        if self._pending and time.monotonic() - self._began > max_age:
            self.flush()

    def flush(self) -> None:
        if self._db is not None and self._pending:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                # the cache is an optimisation: losing a batch only costs a re-hash
                self._failed(exc)
            self._pending = 0

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
