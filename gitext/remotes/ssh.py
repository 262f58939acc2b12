"""SSH/SFTP remotes, ``ssh://[user@]host[:port]/absolute/path``, through asyncssh (the
``[ssh]`` extra; DVC's ``dvc-ssh`` uses it too). The only module that imports asyncssh, and
only when such a remote is opened.

One SSH connection per remote, several SFTP sessions on it (each is its own process on an
OpenSSH server), and one asyncio loop in a daemon thread owned by the backend: the transfer
layer's threads submit coroutines to it. Uploads go to ``<key>.tmp-<random>`` beside the
object and are renamed into place (``posix-rename@openssh.com``), so nobody sees a partial
object; a failed upload removes its temp file (after a dropped connection, once the next
connection is up; a temp file a killed process left behind is removed by ``gc --remote``
once older than its grace period). A lost connection is re-opened and the request retried.

Who we are and whom we trust follow the user, never the repository: ``~/.ssh/config``
(host aliases, ``IdentityFile``, ``User``, ``Port``, ``ProxyJump``), the agent
(``allowagent``), a ``keyfile``/``password``/``passphrase`` from the clone's own git config,
and ``~/.ssh/known_hosts`` (``$HOME``), always checked: an unknown or changed host key stops
the connection before anything is sent. The agent is never forwarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import random
import secrets
import stat
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from gitext.errors import ArchivesError
from gitext.remotes.backend import (
    ProgressFn,
    TransientRemoteError,
    bool_option,
    seconds_option,
    whole_option,
)
from gitext.remotes.sshahead import WORKER_AT, AheadReads
from gitext.remotes.sshsupport import (
    ConnectFailed,
    Loop,
    Session,
    Where,
    connect_options,
    import_asyncssh,
    is_lost,
    missing_root_error,
    open_new,
    parse_url,
    port_number,
    request_error,
)

T = TypeVar("T")
_Listing = list[tuple[str, int, float]]
DEFAULT_TIMEOUT = 30.0   # seconds to connect and log in
DEFAULT_ATTEMPTS = 3     # per request, re-opening a lost connection in between
CHANNELS = 4             # SFTP sessions on the one connection
RANGED_AT = 32 * 1024 * 1024  # objects from this size are read in ranges, one per session
RANGE_CHUNK = 8 * 1024 * 1024
# Below this size an object is asked for in one read request (OpenSSH answers up to 261,120
# bytes); asyncssh's reader follows a short answer with a second request to see the end.
ONE_READ = 255 * 1024
_LISTDIR_AT = 8          # a folder holding this many of the keys asked about is listed


class SshBackend:
    def __init__(self, url: str, options: Mapping[str, str], *, host: str, port: int | None,
                 user: str | None, root: str) -> None:
        self._ssh: Any = import_asyncssh()
        self.url = url
        self.host = host
        self.user = options.get("user") or user
        self.port = port_number(options["port"]) if options.get("port") else port
        self.root = root
        self.keyfile = options.get("keyfile") or None
        self.allow_agent = bool_option(options, "allowagent", default=True)
        self.timeout = seconds_option(options, "timeout", DEFAULT_TIMEOUT)
        self.attempts = DEFAULT_ATTEMPTS
        self.jobs = whole_option(options, "jobs", 8)  # (default_jobs for ssh)
        # 'jobs 1' means one request at a time, all the way down.
        self.inflight = 1 if self.jobs == 1 else min(64, 4 * self.jobs)
        self._max_requests = 1 if self.jobs == 1 else 128
        # Secrets: only from the clone's git config (the loader never reads them from the
        # committed file); never in a message, a log line or repr.
        self._options = dict(options)  # (for a worker process: sshahead)
        self._password = options.get("password") or None
        self._passphrase = options.get("passphrase") or None
        self._where = Where(url, host, self.port or 22, self.user, root, self.keyfile)
        self._loop: Loop | None = None
        self._session: Session | None = None
        self._lock: asyncio.Lock | None = None
        self._orphans: set[str] = set()
        self._refused: Exception | None = None  # why (re)connecting failed: final
        self._guard = threading.Lock()

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, str]) -> SshBackend:
        host, port, user, root = parse_url(url)
        return cls(url, options, host=host, port=port, user=user, root=root)

    def __repr__(self) -> str:
        return f"SshBackend({self.url!r})"

    # -- plumbing -------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        return posixpath.join(self.root, key)

    def _call(self, action: str, key: str | None, op: Callable[[Session], Awaitable[T]], *,
              local_raw: bool = False) -> T:
        """Run ``op`` on the loop with a live session; retry a lost connection. With
        ``local_raw`` a local file's OSError (disk full) is raised as it is, for the caller."""
        with self._guard:
            if self._loop is None:
                self._loop = Loop()
            loop = self._loop
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            try:
                return loop.run(self._with_session(op))
            except Exception as exc:
                if local_raw and isinstance(exc, OSError) and not is_lost(self._ssh, exc):
                    raise
                mapped = request_error(self._ssh, self._where, exc, action, key)
                if not isinstance(mapped, TransientRemoteError) or attempt == self.attempts:
                    raise mapped from None
            time.sleep(delay * (1 + random.random()))  # noqa: S311 - jitter, not a secret
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _with_session(self, op: Callable[[Session], Awaitable[T]]) -> T:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._refused is not None:  # once is enough: no 8 waits for a silent host
                raise self._refused
            if self._session is None:
                try:
                    self._session = await self._connect()
                except ArchivesError as exc:
                    self._refused = exc
                    raise
                except Exception as exc:
                    self._refused = ConnectFailed(exc)
                    raise self._refused from exc
            session = self._session
        try:
            return await op(session)
        except Exception as exc:
            if is_lost(self._ssh, exc) and self._session is session:
                self._session = None
                session.conn.abort()
            raise

    async def _connect(self) -> Session:
        ssh = self._ssh
        options = await connect_options(
            ssh, self.host, user=self.user, port=self.port, keyfile=self.keyfile,
            passphrase=self._passphrase, password=self._password,
            allow_agent=self.allow_agent, timeout=self.timeout)
        self._where.host, self._where.port = options.host, options.port
        conn = await ssh.connect(self.host, options=options)
        try:
            sftps = await asyncio.gather(*(conn.start_sftp_client()
                                           for _ in range(min(CHANNELS, self.jobs))))
            session = Session(conn, list(sftps))
            await self._check_root(session.sftps[0])
            await self._remove_orphans(session.sftps[0])
        except BaseException:
            conn.abort()
            raise
        return session

    async def _check_root(self, sftp: Any) -> None:
        """The remote folder is made on first use if its parent exists (as for a directory
        remote); a missing parent is more likely a typo and stays an error."""
        if await sftp.isdir(self.root):
            return
        if await sftp.isdir(posixpath.dirname(self.root)):
            await sftp.mkdir(self.root)
            return
        raise missing_root_error(self._where)

    async def _remove_orphans(self, sftp: Any) -> None:
        """Temp files of uploads cut by a lost connection, now that one is up again."""
        for tmp in list(self._orphans):
            with contextlib.suppress(self._ssh.SFTPError):
                await sftp.remove(tmp)
            self._orphans.discard(tmp)

    # -- queries --------------------------------------------------------------------------
    def exists_many(self, keys: Iterable[str]) -> set[str]:
        """Folders holding several of ``keys`` are listed; other keys get a stat. All the
        requests are in flight together."""
        by_dir: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            by_dir[key.rpartition("/")[0]].append(key)
        if not by_dir:
            return set()
        return self._call("check objects", None, lambda s: self._exists(s, by_dir))

    async def _exists(self, session: Session, by_dir: dict[str, list[str]]) -> set[str]:
        gate = asyncio.Semaphore(self.inflight)
        missing = self._ssh.SFTPNoSuchFile

        async def listed(folder: str) -> set[str]:
            async with gate:
                try:
                    names = set(await session.sftp().listdir(self._full(folder)))
                except missing:
                    return set()
            return {k for k in by_dir[folder] if k.rpartition("/")[2] in names}

        async def stated(key: str) -> set[str]:
            async with gate:
                try:
                    attrs = await session.sftp().stat(self._full(key))
                except missing:
                    return set()
            return {key} if stat.S_ISREG(attrs.permissions or 0) else set()

        parts = await asyncio.gather(
            *(listed(d) for d, g in by_dir.items() if len(g) >= _LISTDIR_AT),
            *(stated(k) for g in by_dir.values() if len(g) < _LISTDIR_AT for k in g))
        return set().union(*parts)

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        for key, size, _when in self.list_times(prefix):
            yield key, size

    def list_times(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """``when`` is the file's mtime on the server: when its upload was renamed into
        place. Temp files of cut uploads are listed too, so that gc removes old ones."""
        yield from self._call("list objects", None, lambda s: self._walk(s, prefix))

    async def _walk(self, session: Session, prefix: str) -> _Listing:
        found: _Listing = []
        gate = asyncio.Semaphore(self.inflight)

        async def scan(rel: str) -> None:
            async with gate:
                try:
                    entries = await session.sftp().readdir(self._full(rel))
                except self._ssh.SFTPNoSuchFile:
                    return
            folders = []
            for entry in entries:
                name = entry.filename
                mode = entry.attrs.permissions or 0
                if name in (".", ".."):
                    continue
                if stat.S_ISDIR(mode):
                    folders.append(posixpath.join(rel, name))
                elif stat.S_ISREG(mode):
                    found.append((posixpath.join(rel, name), int(entry.attrs.size or 0),
                                  float(entry.attrs.mtime or 0)))
            await asyncio.gather(*(scan(f) for f in folders))

        await scan(prefix.strip("/"))
        return found

    # -- transfers ------------------------------------------------------------------------
    def get(self, key: str, dst: Path | BinaryIO, progress: ProgressFn | None = None, *,
            size: int | None = None) -> int:
        moved = 0

        def count(n: int) -> None:
            nonlocal moved
            moved += n
            if progress is not None:
                progress(n)

        async def once(session: Session) -> int | bytes:
            nonlocal moved
            if moved:
                count(-moved)  # a retry sends these bytes again
            if not isinstance(dst, Path):
                dst.seek(0)
                dst.truncate()
                return await self._get_stream(session, key, dst, count)
            if size is not None and size >= RANGED_AT and len(session.sftps) > 1:
                return await self._get_ranged(session, key, dst, count)
            if size is not None and size < RANGED_AT:
                return await self._read_known(session, key, size, count)
            return await self._get_file(session, key, dst, count)

        got = self._call("download", key, once, local_raw=True)
        if isinstance(got, bytes) and isinstance(dst, Path):
            dst.write_bytes(got)  # here, not on the loop that carries every session's traffic
            return len(got)
        assert isinstance(got, int)  # noqa: S101 - once returns bytes only for a Path
        return got

    def start_reads(self, wanted: Sequence[tuple[str, int]]) -> AheadReads | None:
        """Many small objects ((key, size) pairs; larger ones are left out): read by a
        worker process, started now (:mod:`gitext.remotes.sshahead`); None for a few, or
        for ``jobs 1``."""
        small = [(key, size) for key, size in wanted if size < ONE_READ]
        if len(small) < WORKER_AT or self.jobs == 1:
            return None
        return AheadReads(self.url, self._options, small)

    async def read_known(self, key: str, size: int) -> bytes:
        """(The worker's read, on its own loop: no retry, the caller fetches a failure.)"""
        return await self._with_session(lambda s: self._read_known(s, key, size, lambda _n: None))

    async def _read_known(self, session: Session, key: str, size: int,
                          count: ProgressFn) -> bytes:
        """An object whose size the pointer gave: open, read, close (no stat). One byte more
        is asked for, so an object longer than its id says shows (and fails the hash). Below
        :data:`ONE_READ` one request reads it: an answer of ``size`` bytes is the end."""
        one = size < ONE_READ
        async with await session.sftp().open(self._full(key), "rb", block_size=0 if one else -1,
                                             max_requests=self._max_requests) as f:
            data = await f.read(size + 1, 0)
            while one and 0 < len(data) < size:  # a server may answer short (OpenSSH does not)
                more = await f.read(size + 1 - len(data), len(data))
                if not more:
                    break
                data += more
        count(len(data))
        return bytes(data)

    async def _get_file(self, session: Session, key: str, dst: Path, count: ProgressFn) -> int:
        done = 0

        def step(_src: bytes, _dst: bytes, copied: int, _total: int) -> None:
            nonlocal done
            count(copied - done)
            done = copied

        await session.sftp().get(self._full(key), os.fspath(dst), sparse=False,
                                 max_requests=self._max_requests, progress_handler=step)
        return done or dst.stat().st_size

    async def _get_stream(self, session: Session, key: str, dst: BinaryIO,
                          count: ProgressFn) -> int:
        total = 0
        async with await session.sftp().open(self._full(key), "rb",
                                             max_requests=self._max_requests) as f:
            while chunk := await f.read(RANGE_CHUNK):
                dst.write(chunk)
                total += len(chunk)
                count(len(chunk))
        return total

    async def _get_ranged(self, session: Session, key: str, dst: Path,
                          count: ProgressFn) -> int:
        """One range per SFTP session, each written at its offset."""
        full = self._full(key)
        size = int((await session.sftps[0].stat(full)).size or 0)
        part = -(-size // len(session.sftps))
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

        async def read(sftp: Any, start: int, end: int) -> None:
            async with await sftp.open(full, "rb", max_requests=self._max_requests) as f:
                offset = start
                while offset < end:
                    data = await f.read(min(RANGE_CHUNK, end - offset), offset)
                    if not data:
                        raise self._ssh.SFTPFailure(f"unexpected end of file at {offset}")
                    os.pwrite(fd, data, offset)
                    offset += len(data)
                    count(len(data))

        try:
            await asyncio.gather(*(read(s, i * part, min(size, (i + 1) * part))
                                   for i, s in enumerate(session.sftps) if i * part < size))
        finally:
            os.close(fd)
        return size

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """An SFTP read at ``start`` (the client pipelines it in requests)."""
        async def once(session: Session) -> bytes:
            async with await session.sftp().open(self._full(key), "rb",
                                                 max_requests=self._max_requests) as f:
                return bytes(await f.read(length, start))

        return self._call("download", key, once)

    def put(self, key: str, src: Path, size: int, progress: ProgressFn | None = None) -> None:
        moved = 0

        def count(n: int) -> None:
            nonlocal moved
            moved += n
            if progress is not None:
                progress(n)

        async def once(session: Session) -> None:
            if moved:
                count(-moved)  # a retry sends these bytes again
            await self._put(session, key, src, count)

        self._call("upload", key, once)

    async def _put(self, session: Session, key: str, src: Path, count: ProgressFn) -> None:
        """Write ``<key>.tmp-<random>``, then close it and rename it into place together
        (every write was acknowledged already), so an object appears whole or not at all."""
        final = self._full(key)
        tmp = f"{final}.tmp-{secrets.token_hex(6)}"
        sftp = session.sftp()
        try:
            f = await open_new(self._ssh, sftp, tmp, root=self.root,
                                 max_requests=self._max_requests)
            try:
                with open(src, "rb") as fin:
                    offset = 0
                    while chunk := fin.read(RANGE_CHUNK):
                        await f.write(chunk, offset)
                        offset += len(chunk)
                        count(len(chunk))
            except BaseException:
                await asyncio.shield(f.close())
                raise
            await asyncio.gather(f.close(), sftp.posix_rename(tmp, final))
        except BaseException:
            try:
                await asyncio.shield(sftp.remove(tmp))
            except BaseException:  # noqa: BLE001 - the connection is gone: later
                self._orphans.add(tmp)
            raise

    def delete(self, key: str) -> None:
        async def remove(session: Session) -> None:
            with contextlib.suppress(self._ssh.SFTPNoSuchFile):
                await session.sftp().remove(self._full(key))

        self._call("delete", key, remove)

    def close(self) -> None:
        with self._guard:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        session, self._session = self._session, None
        if session is not None:
            async def bye() -> None:
                session.conn.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(session.conn.wait_closed(), 5)

            with contextlib.suppress(Exception):
                loop.run(bye())
        loop.stop()
