"""A read-only remote over HTTP(S): the object-store layout (``files/<algo>/<ab>/<rest>``)
served by any web server — a DVC ``http`` remote, a mirror next to the writable default.

``HEAD`` per key for existence (``jobs`` at a time), a streamed ``GET`` resumed with
``Range`` after a drop, parallel ``Range`` parts for a large object whose size is known.
Retries: 408/429/5xx (honouring ``Retry-After``) and dropped connections, with backoff.
``put``/``delete``/``list`` are refused (:attr:`HttpBackend.read_only`; push and gc check
it first: :func:`gitext.sync.transfer.check_writable`).

Credentials: a ``password``/``token`` from the clone's own git config, else ``git credential
fill`` once the server answers 401 — never when the URL came only from the committed file
(``trust:anonymous``), never to another scheme, host or port (a redirect there goes without
them). No secret appears in a message or in ``repr``.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import quote, urljoin, urlsplit

from gitext.errors import ArchivesError, ConfigError, CorruptObjectError, ObjectMissingError
from gitext.remotes.backend import (
    ANONYMOUS,
    ProgressFn,
    RemoteRefusedError,
    TransientRemoteError,
    seconds_option,
    whole_option,
)
from gitext.remotes.httpauth import HttpCredentials
from gitext.remotes.lfshttp import Pool, Response, retry_after, retry_backoff
from gitext.remotes.lfsurl import origin, redact
from gitext.remotes.trust import shown

DEFAULT_JOBS = 16
ATTEMPTS = 6
RANGED_THRESHOLD = 64 * 1024 * 1024  # a known size above this is fetched in parallel parts
PART_SIZE = 16 * 1024 * 1024
READ_CHUNK = 1 << 16
PROGRESS_STEP = 1 << 20
MAX_REDIRECTS = 5
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_MISSING = frozenset({404, 410})
_REDIRECT = frozenset({301, 302, 303, 307, 308})
_T = TypeVar("_T")
_R = TypeVar("_R")


class _NoRanges(Exception):
    """The server ignored ``Range`` (answered 200): fall back to one streamed GET."""


@dataclass
class _Cursor:
    pos: int = 0


def _is_tls_failure(exc: OSError) -> bool:
    """A certificate or TLS handshake failure: not worth another attempt. (``ssl`` is
    imported once an https origin is opened: it is loaded whenever one can happen.)"""
    ssl = sys.modules.get("ssl")
    return ssl is not None and isinstance(exc, ssl.SSLError) and \
        not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError))


def _is_drop(exc: OSError) -> bool:
    """A connection reset, timed out, closed early or cut short in TLS, or an answer that
    is not HTTP (gitext.remotes.http11): worth another attempt. Not a local write error."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    ssl = sys.modules.get("ssl")
    return ssl is not None and isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError))


def _tls(options: Mapping[str, str]) -> dict[str, Any]:
    """Pool arguments for ``sslverify``: true (default), false, or a CA bundle path."""
    raw = (options.get("sslverify") or "").strip()
    if raw.lower() in ("", "true", "yes", "on", "1"):
        return {}
    if raw.lower() in ("false", "no", "off", "0"):
        return {"verify": False}
    path = Path(raw).expanduser()
    if path.is_dir():
        return {"capath": str(path)}
    if path.is_file():
        return {"cafile": str(path)}
    raise ConfigError(f"sslverify = {shown(raw)} is neither true, false nor a CA bundle that "
                      "exists", hint="git archives remote modify NAME sslverify /path/to/ca.pem")


class HttpBackend:
    """One ``http(s)://host/path`` remote; thread-safe."""

    read_only = True

    def __init__(self, url: str, options: Mapping[str, str]) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or \
                "@" in parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"remote URL {redact(url)} is not http(s)://host/path (with no "
                              "user info, query or fragment)", hint="credentials go in 'user' "
                              "and 'password --local', or a git credential helper")
        self.url = url
        self._base = url.rstrip("/")
        self._origin = origin(url)
        implied = "bearer" if options.get("token") and not options.get("password") else "basic"
        auth = (options.get("auth") or implied).strip().lower()
        if auth not in ("basic", "bearer"):
            raise ConfigError(f"auth = {shown(auth)} is not basic or bearer",
                              hint="git archives remote modify NAME auth basic")
        self._creds = HttpCredentials(
            url, auth=auth, user=options.get("user") or None,
            secret=options.get("token" if auth == "bearer" else "password") or None,
            anonymous=options.get(ANONYMOUS) == "true", where=self._where())
        self.jobs = whole_option(options, "jobs", DEFAULT_JOBS)
        self._http = Pool(maxsize=self.jobs + 8,
                          connect_timeout=seconds_option(options, "connecttimeout", 30.0),
                          read_timeout=seconds_option(options, "readtimeout", 60.0),
                          **_tls(options))
        self.attempts = ATTEMPTS
        self.max_delay = 8.0

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, str]) -> HttpBackend:
        return cls(url, options)

    def __repr__(self) -> str:
        return f"HttpBackend({redact(self.url)!r})"

    # -- requests -------------------------------------------------------------------------
    def _where(self) -> str:
        return f"the http remote {redact(self.url)}"

    def _key_url(self, key: str) -> str:
        return f"{self._base}/{quote(key, safe='/')}"

    def _send(self, method: str, url: str, headers: dict[str, str]) -> tuple[Response, bool]:
        """One request, following redirects by hand: credentials go only to the URL's own
        origin, and the Authorization header is dropped on the way anywhere else. Returns
        the response and whether it came from elsewhere."""
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._http.request(method, url, headers=headers, redirects=0)
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECT or not location:
                return resp, origin(url) != self._origin
            resp.drain_conn()
            resp.release_conn()
            url = urljoin(url, location)
            if origin(url)[0] not in ("http", "https"):
                break
            if origin(url) != self._origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise RemoteRefusedError(f"{self._where()}: too many redirects, or one that is not "
                                 f"http(s) (last: {redact(url)})", hint="check the URL")

    def _backoff(self, attempt: int, resp: Response | None) -> None:
        wait = retry_after(resp.headers.get("Retry-After")) if resp is not None else None
        if wait is None:
            wait = retry_backoff(attempt, 0.2, self.max_delay)
        if wait > 0:
            time.sleep(min(wait, 30.0))

    def request(self, method: str, key: str,
                headers: dict[str, str] | None = None) -> Response:
        """``method`` on ``key`` with retries, credentials and refusals handled; returns the
        response (2xx, 404/410, or another status the caller maps) unread."""
        url = self._key_url(key)
        attempt = 0
        while True:
            last = attempt >= self.attempts - 1
            sent = self._creds.header()
            try:
                resp, elsewhere = self._send(method, url, {**(headers or {}), **sent})
            except socket.gaierror:
                raise RemoteRefusedError(f"{self._where()}: the host name does not resolve",
                                         hint="check the URL") from None
            except OSError as exc:
                if _is_tls_failure(exc):
                    raise RemoteRefusedError(f"{self._where()}: the TLS handshake failed "
                                             "(certificate not trusted?)", hint="git archives "
                                             "remote modify NAME sslverify "
                                             "/path/to/ca-bundle.pem") from None
                if last:
                    raise TransientRemoteError(f"{self._where()}: {method} {key} failed "
                                               f"({type(exc).__name__})",
                                               hint="check the network; try again") from None
                self._backoff(attempt, None)
                attempt += 1
                continue
            if resp.status == 401:
                resp.drain_conn()
                resp.release_conn()
                if elsewhere:  # never ask for (nor reject) credentials another host wants
                    raise RemoteRefusedError(f"{self._where()} redirected {method} {key} to "
                                             "another host, which wants credentials; yours go "
                                             "only to the remote's own host",
                                             hint="check the URL and the server")
                if self._creds.fill(sent):
                    continue
                raise self._creds.refused(sent)
            if resp.status in _TRANSIENT and not last:
                resp.drain_conn()
                resp.release_conn()
                self._backoff(attempt, resp)
                attempt += 1
                continue
            return self._checked(resp, method, key)

    def _checked(self, resp: Response, method: str, key: str) -> Response:
        if resp.status < 400 or resp.status in _MISSING or (
                method == "HEAD" and resp.status in (405, 501)):
            self._creds.approve()  # the credentials sent, if any, were accepted
            return resp
        resp.drain_conn()
        resp.release_conn()
        what = f"{self._where()} answered {resp.status} to {method} {key}"
        if resp.status == 403:
            raise RemoteRefusedError(f"{what} (permission denied)",
                                     hint="check that your account may read this remote")
        if resp.status in _TRANSIENT:
            raise TransientRemoteError(f"{what} after {self.attempts} attempts",
                                       hint="try again later")
        raise RemoteRefusedError(what, hint="check the URL and the server")

    # -- queries --------------------------------------------------------------------------
    def _head(self, key: str) -> bool:
        resp = self.request("HEAD", key)
        if resp.status in (405, 501):  # no HEAD here: the first byte instead
            resp.release_conn()
            resp = self.request("GET", key, {"Range": "bytes=0-0"})
            resp.drain_conn()
        resp.release_conn()
        return bool(200 <= resp.status < 300)  # (404/410: absent; errors were raised)

    def exists_many(self, keys: Iterable[str]) -> set[str]:
        """One HEAD per key, ``jobs`` at a time; the first refusal stops the rest."""
        wanted = list(dict.fromkeys(keys))
        found = _parallel(self._head, wanted, self.jobs)
        return {k for k, there in zip(wanted, found, strict=True) if there}

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        raise self.read_only_error("list its objects (what gc --remote and --run-cache need)")

    def list_times(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        raise self.read_only_error("list its objects (what gc --remote and --run-cache need)")

    def read_only_error(self, doing: str) -> RemoteRefusedError:
        return RemoteRefusedError(f"{self._where()} is read-only: it cannot {doing}",
                                  hint="use a writable remote for this: -r NAME ('git "
                                  "archives remote list' shows them)")

    # -- transfers ------------------------------------------------------------------------
    def get(self, key: str, dst: Path | BinaryIO, progress: ProgressFn | None = None, *,
            size: int | None = None) -> int:
        if not isinstance(dst, Path):
            return self._pull(key, dst, _Cursor(), None, size=size, progress=progress)
        try:
            if size is not None and size > RANGED_THRESHOLD:
                with contextlib.suppress(_NoRanges):
                    return self._get_ranged(key, dst, size, progress)
            with open(dst, "wb") as out:
                return self._pull(key, out, _Cursor(), None, size=size, progress=progress)
        except BaseException:
            with contextlib.suppress(OSError):
                dst.unlink()  # never a partial file where the caller looks
            raise

    def _pull(self, key: str, out: BinaryIO, cursor: _Cursor, end: int | None, *,
              size: int | None, progress: ProgressFn | None) -> int:
        """Bytes ``cursor.pos``..``end`` (None: to the end) streamed into ``out`` at its
        position; after a drop, the rest with ``Range`` (all again if the server ignores
        it: :class:`_NoRanges` for a part). Returns where the cursor ended."""
        start = cursor.pos
        for attempt in range(self.attempts):
            ranged = cursor.pos > 0 or end is not None
            bounds = f"bytes={cursor.pos}-{'' if end is None else end}"
            resp = self.request("GET", key, {"Range": bounds} if ranged else None)
            try:
                if ranged and resp.status == 200 and end is None:  # Range ignored on a resume
                    _rewind(out, progress, cursor.pos - start)
                    cursor.pos = start = 0
                self._accept(resp, key, cursor.pos, part=end is not None, size=size)
                _copy(resp, out, cursor, limit=size if end is None else end + 1,
                      progress=progress, what=f"{self._where()} {key}")
            except OSError as exc:
                resp.close()
                if not _is_drop(exc):
                    raise
                if attempt == self.attempts - 1:
                    raise TransientRemoteError(f"{self._where()}: the download of {key} kept "
                                               f"breaking off ({type(exc).__name__})",
                                               hint="try again; nothing partial was kept"
                                               ) from None
                self._backoff(attempt, None)
            except BaseException:
                resp.close()  # a body left unread: the connection is not reused
                raise
            else:
                resp.release_conn()
                return cursor.pos
        raise AssertionError("unreachable")  # pragma: no cover

    def _accept(self, resp: Response, key: str, pos: int, *, part: bool,
                size: int | None) -> None:
        """Raise unless ``resp`` is the body to copy from ``pos``: ObjectMissingError,
        :class:`_NoRanges` (a part answered whole), a refusal."""
        if resp.status in _MISSING:
            raise ObjectMissingError(f"{self._where()}: no object {key}")
        if resp.status == 200 and part:
            raise _NoRanges
        if resp.status == 206:
            self._check_range(resp, key, pos, size)
        elif resp.status != 200:
            raise RemoteRefusedError(f"{self._where()} answered {resp.status} to GET {key}",
                                     hint="check the URL and the server")

    def _check_range(self, resp: Response, key: str, pos: int, size: int | None) -> None:
        content_range = resp.headers.get("Content-Range") or ""
        first, _, total = content_range.removeprefix("bytes ").partition("/")
        if first.partition("-")[0] != str(pos) or (size is not None and total != str(size)):
            raise CorruptObjectError(f"{self._where()}: {key} answered a range that is not the "
                                     f"one asked for ({shown(content_range[:60])}): refused")

    def _get_ranged(self, key: str, dst: Path, size: int, progress: ProgressFn | None) -> int:
        """``size`` bytes in parallel ``Range`` parts written in place in ``dst``."""
        with open(dst, "wb") as f:
            f.truncate(size)

        def part(start: int) -> int:
            end = min(size, start + PART_SIZE) - 1
            with open(dst, "r+b") as f:
                f.seek(start)
                self._pull(key, f, _Cursor(start), end, size=size, progress=progress)
            return end - start + 1

        return sum(_parallel(part, list(range(0, size, PART_SIZE)), min(8, self.jobs)))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """One ``Range`` GET; a server that answers the whole object is read up to the
        range's end and the range cut out of it."""
        out = io.BytesIO()
        try:
            self._pull(key, out, _Cursor(start), start + length - 1, size=None, progress=None)
        except _NoRanges:
            out = io.BytesIO()
            self._pull(key, out, _Cursor(), None, size=None, progress=None)
            return out.getvalue()[start:start + length]
        return out.getvalue()

    def put(self, key: str, src: Path, size: int, progress: ProgressFn | None = None) -> None:
        raise self.read_only_error("take uploads (push)")

    def delete(self, key: str) -> None:
        raise self.read_only_error("delete objects (gc --remote)")

    def close(self) -> None:
        self._http.clear()


def _rewind(out: BinaryIO, progress: ProgressFn | None, written: int) -> None:
    """Back to the start of ``out`` (the server ignored ``Range`` on a resume)."""
    if not out.seekable():
        raise TransientRemoteError("the download broke off and cannot restart here",
                                   hint="try again")
    out.seek(0)
    out.truncate()
    if progress is not None:
        progress(-written)


def _copy(resp: Response, out: BinaryIO, cursor: _Cursor, *, limit: int | None,
          progress: ProgressFn | None, what: str) -> None:
    """Stream the body into ``out``, advancing ``cursor`` as bytes land (a drop resumes
    after them; a body shorter than its Content-Length raises). More than
    ``limit`` (the known end) is refused; progress is reported per MiB."""
    pending = 0
    try:
        while chunk := resp.read(READ_CHUNK):
            if limit is not None and cursor.pos + len(chunk) > limit:
                raise CorruptObjectError(f"{what}: the server sent more bytes than the object "
                                         "has: refused")
            out.write(chunk)
            cursor.pos += len(chunk)
            pending += len(chunk)
            if progress is not None and pending >= PROGRESS_STEP:
                progress(pending)
                pending = 0
    finally:
        if progress is not None and pending:
            progress(pending)


def _parallel(fn: Callable[[_T], _R], items: list[_T], jobs: int) -> list[_R]:
    """``fn`` over ``items``, ``jobs`` at a time, in order; after the first error nothing
    more starts, and it is raised (an ArchivesError first) once the running calls end."""
    if jobs <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    errors: list[BaseException] = []

    def guarded(item: _T) -> _R | None:
        try:
            return None if errors else fn(item)
        except BaseException as exc:
            errors.append(exc)
            raise

    with ThreadPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        futures = [pool.submit(guarded, i) for i in items]
    if errors:
        raise next((e for e in errors if isinstance(e, ArchivesError)), errors[0])
    return [cast(_R, f.result()) for f in futures]
