"""HTTP for the Git LFS client (:mod:`gitext.remotes.lfsapi`), the Azure reader and the
read-only http remote: a connection pool, and the retry timing they share.

Every ``git push`` (the pre-push hook) and every checkout that fetches (the filter process)
starts a Python process that talks to the LFS server, so what it imports is paid each time:
urllib3 cost 60-150 ms to import (it brings ``logging``, ``importlib.metadata``, its HTTP/2
probe, ...; measured for W10), :mod:`http.client` ~11 ms (design note 61). What the client
needs is small, and here, on :mod:`gitext.remotes.http11`: keep-alive connections per
origin shared by threads, a connect and a read timeout, streamed bodies both ways, and
redirects that drop the credentials when they leave the origin (as urllib3 does).

A connection failure (refused, reset, timed out, a broken TLS handshake, a malformed status
line, a body cut short) raises :class:`OSError`; no request is retried here (the caller
decides).
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from gitext.remotes.http11 import Connection, Headers, RawResponse

if TYPE_CHECKING:
    import ssl

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Before each body read, wait (at most COALESCE_WAIT seconds) until the read's worth is queued
# on the socket (Coalescer); none of a body's last COALESCE_MARGIN bytes are waited for
# (they may already sit in the response's or TLS's buffers).
COALESCE_WAIT = 0.02
COALESCE_MARGIN = 1 << 15
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
_Origin = tuple[str, str, int]


def retry_backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry ``attempt + 1`` when the server said nothing: none before the
    first, then ``base * 2**attempt`` (at most ``cap``), jittered to 50-100 %."""
    if attempt == 0:
        return 0.0
    return float(min(cap, base * 2.0 ** attempt) * (0.5 + random.random() / 2))  # noqa: S311


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (a number or an HTTP date), or None."""
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    from email.utils import parsedate_to_datetime  # (an HTTP date: rare, and ~7 ms to import)

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class InvalidURL(ValueError):
    """Not an absolute http(s) URL."""


def _origin(url: str) -> tuple[_Origin, str]:
    """((scheme, host, port), the request target) of an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InvalidURL(f"not an http(s) URL: {scheme}://…")
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (scheme, parts.hostname.lower(), port), target


class Response:
    """A response whose body is read on demand; :meth:`release_conn` gives its connection
    back to the pool once the body was read to the end (else closes it)."""

    def __init__(self, pool: Pool, origin: _Origin, conn: Connection,
                 raw: RawResponse) -> None:
        self._pool = pool
        self._origin = origin
        self._conn: Connection | None = conn
        self._raw = raw
        self.status = raw.status
        self.headers: Headers = raw.headers  # case-insensitive .get()

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes of the body (all of it if None); b"" at its end. A body that
        ends before its ``Content-Length`` raises
        :class:`~gitext.remotes.http11.IncompleteBody` (as urllib3 does)."""
        return self._raw.read(amt)

    def read_upto(self, limit: int) -> bytes:
        """The body, or its first ``limit`` bytes if it is longer (a server's answer that
        must be small is never read without end)."""
        parts: list[bytes] = []
        got = 0
        while got < limit and (part := self._raw.read(limit - got)):
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def fileno(self) -> int:
        sock = self._conn.sock if self._conn is not None else None
        if sock is None:
            raise ValueError("the response's connection is closed")
        return sock.fileno()

    def drain_conn(self) -> None:
        """Read the rest of the body (so the connection can be used again)."""
        try:
            while self._raw.read(1 << 16):
                pass
        except (OSError, ValueError):
            self._raw.will_close = True

    def close(self) -> None:
        """Drop the connection (a body left unread: it cannot be reused)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def release_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._raw.isclosed() and not self._raw.will_close:
            self._pool.put(self._origin, conn)
        else:
            conn.close()


class Coalescer:
    """Waits until a read's worth of the body is queued on the response's socket.

    A server that writes a file in small pieces (giftless sends it line by line, each line
    an HTTP chunk) would otherwise wake the reading thread for every TCP segment: a system
    call and a context switch on both sides per piece of ~60 bytes, the sender's CPU time
    taken by the receiver on a busy machine. With ``SO_RCVLOWAT`` set, ``poll`` returns once
    ``want`` bytes are queued, the connection is closed, or :data:`COALESCE_WAIT` has passed;
    the read that follows is an ordinary read. Waiting costs no throughput: the kernel keeps
    receiving meanwhile. Where the option is not supported (Windows) nothing waits."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)

    @classmethod
    def of(cls, resp: Response) -> Coalescer | None:
        if not hasattr(socket, "SO_RCVLOWAT") or not hasattr(select, "poll"):
            return None
        # Our own descriptor for the response's socket: only its options are changed (and
        # put back), never its blocking mode, which the two descriptors share.
        try:
            sock = socket.socket(fileno=os.dup(resp.fileno()))
        except (OSError, ValueError, AttributeError):
            return None
        return cls(sock)

    def wait(self, want: int) -> None:
        if want <= 1:
            return
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, want)
        except OSError:
            return
        try:
            self._poll.poll(COALESCE_WAIT * 1000)
        finally:  # a socket the pool may reuse must not keep the low-water mark
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)

    def close(self) -> None:
        self._sock.close()


class Pool:
    """Keep-alive connections per (scheme, host, port), at most ``maxsize`` idle each."""

    def __init__(self, *, maxsize: int, connect_timeout: float, read_timeout: float,
                 user_agent: str = "git-archives", cafile: str | None = None,
                 capath: str | None = None, verify: bool = True) -> None:
        self._maxsize = maxsize
        # trust only these CAs (a bundle file or folder the environment or user names);
        # ``verify`` False: no certificate check at all (a remote's ``sslverify false``)
        self._cafile = cafile
        self._capath = capath
        self._verify = verify
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._user_agent = user_agent
        self._idle: dict[_Origin, list[Connection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None  # made for the first https origin

    def request(self, method: str, url: str, *, headers: dict[str, str],
                body: bytes | Iterable[bytes] | None = None, redirects: int = 5) -> Response:
        """Send the request; follow up to ``redirects`` redirects (a 303 becomes a GET;
        ``Authorization``/``Cookie`` are not sent to another origin)."""
        headers = {"User-Agent": self._user_agent, **headers}
        while True:
            origin, target = _origin(url)
            resp = self._send(origin, method, target, headers, body)
            location = resp.headers.get("Location")
            if resp.status not in REDIRECTS or redirects <= 0 or not location:
                return resp
            resp.drain_conn()
            resp.release_conn()
            redirects -= 1
            url = urljoin(url, location)
            if _origin(url)[0] != origin:
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
            if resp.status == 303 and method != "HEAD":
                method, body = "GET", None
                headers = {k: v for k, v in headers.items()
                           if not k.lower().startswith("content-")}

    def _send(self, origin: _Origin, method: str, target: str, headers: dict[str, str],
              body: bytes | Iterable[bytes] | None) -> Response:
        conn = self._get(origin)
        try:
            raw = conn.request(method, target, headers, body)
        except BaseException:
            conn.close()
            raise
        return Response(self, origin, conn, raw)

    def _get(self, origin: _Origin) -> Connection:
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                reused = idle.pop()
                if not _dropped(reused):
                    return reused
                reused.close()
        scheme, host, port = origin
        https = scheme == "https"
        conn = Connection(host, port, connect_timeout=self._connect_timeout,
                          read_timeout=self._read_timeout,
                          tls=self._tls_context() if https else None,
                          default_port=443 if https else 80)
        try:
            conn.connect()
        except BaseException:
            conn.close()
            raise
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        import ssl  # only for https: ~4 ms

        with self._lock:
            if self._tls is None:
                tls = ssl.create_default_context(cafile=self._cafile, capath=self._capath)
                if not self._verify:
                    tls.check_hostname = False
                    tls.verify_mode = ssl.CERT_NONE
                self._tls = tls
            return self._tls

    def put(self, origin: _Origin, conn: Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._maxsize:
                idle.append(conn)
                return
        conn.close()

    def clear(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


def _dropped(conn: Connection) -> bool:
    """Whether an idle connection was closed by the server (it is readable: EOF, or data
    nobody asked for), as urllib3 checks before it reuses one."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


@contextlib.contextmanager
def upload_body(src: Path | Callable[[], Iterator[bytes]], progress: Callable[[int], object] | None,
                read_size: int) -> Iterator[Iterator[bytes]]:
    """A request body streamed from a file (in reads of ``read_size``), or from the parts
    ``src()`` gives, with ``progress`` told of each piece sent."""
    if isinstance(src, Path):
        with open(src, "rb") as f:
            yield _counted(iter(lambda: f.read(read_size), b""), progress)
    else:
        yield _counted(src(), progress)


def _counted(parts: Iterator[bytes], progress: Callable[[int], object] | None
             ) -> Iterator[bytes]:
    for part in parts:
        if progress is not None:
            progress(len(part))
        yield part
