"""The HTTP/1.1 that the LFS client and the Azure reader speak: one request, then its
response, on a kept-alive connection (:mod:`gitext.remotes.lfshttp` pools them).

Why not :mod:`http.client`: it parses every response's headers through the :mod:`email`
package, and imports it, with :mod:`ssl`, when it is imported: ~11 ms of every
``git push`` hook and every checkout that fetches, and its header parsing is the largest
part of its per-request CPU (design note 61). What is needed is small and is here: the
request line and headers (checked for characters that would split them), a body of known
length streamed from parts, and a response body framed as RFC 9112 says (none, chunked,
``Content-Length``, or up to the close). TLS (``ssl``, imported only for https) is the
caller's context. :mod:`http.client` is the oracle of this module's property tests.

Errors are :class:`OSError`: a connection refused, reset or timed out as the socket
raises it; an answer that is not HTTP/1.x (:class:`ProtocolError`); a body cut short
(:class:`IncompleteBody`).
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

MAX_LINE = 65536  # bytes of a status, header or chunk-size line (as http.client)
MAX_HEADERS = 100
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(r"[\x21-\x7e]+")  # no space, no control character (request splitting)
_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a header value may hold a tab, no CR/LF


class ProtocolError(ConnectionError):
    """The server's answer is not the HTTP/1.x it must be."""


class IncompleteBody(ConnectionError):
    """The connection ended before the body did."""


class Headers:
    """A response's headers: names compared without case; a repeated header's values are
    joined with ", " (as RFC 9110 allows for list-valued fields)."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items  # lower-case name -> value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._items.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._items.items())


def _request_head(method: str, target: str, host: str, headers: dict[str, str]) -> bytes:
    if not _TOKEN.fullmatch(method.encode("latin-1", "replace")):
        raise ValueError(f"not an HTTP method: {method!r}")
    if not _TARGET.fullmatch(target):
        raise ValueError("a request target may hold no space or control character")
    lines = [f"{method} {target} HTTP/1.1"]
    names = {k.lower() for k in headers}
    if "host" not in names:
        lines.append(f"Host: {host}")
    if "accept-encoding" not in names:  # (as http.client: no compressed body we would not read)
        lines.append("Accept-Encoding: identity")
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name.encode("latin-1", "replace")) or _VALUE_BAD.search(value):
            raise ValueError(f"header {name!r}: a name or value that would split the request")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection:
    """One connection to ``host:port`` (TLS with ``tls``), opened by :meth:`connect`."""

    def __init__(self, host: str, port: int, *, connect_timeout: float,
                 read_timeout: float, tls: ssl.SSLContext | None = None,
                 default_port: int = 80) -> None:
        self.host = host
        self.port = port
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._tls = tls
        name = f"[{host}]" if ":" in host else host
        self._host_header = name if port == default_port else f"{name}:{port}"
        self.sock: socket.socket | None = None
        self._rfile: _Reader | None = None

    def connect(self) -> None:
        # (an ASCII name as bytes: getaddrinfo would encode a str with the idna codec)
        host: str | bytes = self.host.encode() if self.host.isascii() else self.host
        sock = socket.create_connection((host, self.port), self._connect_timeout)  # type: ignore[arg-type]
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self._read_timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._rfile = _Reader(sock)

    def request(self, method: str, target: str, headers: dict[str, str],
                body: bytes | Iterable[bytes] | None = None) -> RawResponse:
        """Send the request (a body of parts needs a ``Content-Length`` header) and read
        the response's status line and headers."""
        if self.sock is None or self._rfile is None:
            raise ProtocolError("the connection is not open")
        headers = dict(headers)
        if isinstance(body, (bytes, bytearray, memoryview)):
            headers.setdefault("Content-Length", str(len(body)))
        elif body is not None and not any(k.lower() == "content-length" for k in headers):
            raise ValueError("a body sent in parts needs a Content-Length header")
        elif body is None and method in ("POST", "PUT", "PATCH"):
            headers.setdefault("Content-Length", "0")
        head = _request_head(method, target, self._host_header, headers)
        if isinstance(body, (bytes, bytearray, memoryview)):
            if len(body) < 1 << 16:
                self.sock.sendall(head + bytes(body))  # one segment for a small request
            else:
                self.sock.sendall(head)
                self.sock.sendall(body)
        else:
            self.sock.sendall(head)
            for part in body or ():
                self.sock.sendall(part)
        if _QUICKACK is not None:
            # Acknowledge the answer's segments at once. After a request the kernel delays
            # its ACKs (expecting to send them with our next data); a server that does not
            # set TCP_NODELAY (Python's http.server, werkzeug) then holds its body's last
            # small segment until that ACK: 40 ms lost in a third of the requests for
            # 200 KB files from W12HTTP's server, none with this.
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        return RawResponse(self._rfile, method)

    def close(self) -> None:
        sock, self.sock, self._rfile = self.sock, None, None
        if sock is not None:
            sock.close()


class _Reader:
    """The socket's bytes, buffered (``makefile``), with bounded lines."""

    def __init__(self, sock: socket.socket) -> None:
        self._f = sock.makefile("rb")

    def line(self) -> bytes:
        data = self._f.readline(MAX_LINE + 1)
        if len(data) > MAX_LINE:
            raise ProtocolError("a line of the answer is too long")
        return data

    def read(self, n: int) -> bytes:
        return self._f.read(n)

    def read1(self, n: int) -> bytes:
        return self._f.read1(n)

    def close(self) -> None:
        self._f.close()


def _status(line: bytes) -> tuple[int, int, str]:
    """(minor version, status, reason) of ``HTTP/1.x NNN reason``."""
    if not line:
        raise ProtocolError("the server closed the connection without answering")
    parts = line.rstrip(b"\r\n").split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or \
            len(parts[1]) != 3 or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:40]!r}")
    return int(parts[0][-1:]), int(parts[1]), (parts[2] if len(parts) > 2 else b"").decode(
        "latin-1").strip()


def _headers(reader: _Reader) -> Headers:
    """The header lines up to the blank one. As lenient as :mod:`http.client` where a
    server is sloppy: a folded line continues the header before it (RFC 9112, 5.2)."""
    items: dict[str, str] = {}
    key = ""
    for _ in range(MAX_HEADERS + 1):
        line = reader.line()
        if line in (b"\r\n", b"\n"):
            return Headers(items)
        if not line:
            raise ProtocolError("the connection closed inside the headers")
        if line[:1] in (b" ", b"\t") and key:
            items[key] = f"{items[key]} {line.strip().decode('latin-1')}".rstrip()
            continue
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name.rstrip()):
            raise ProtocolError(f"not an HTTP header line: {line[:40]!r}")
        key = name.rstrip().decode("ascii").lower()
        text = value.strip().decode("latin-1")
        items[key] = f"{items[key]}, {text}" if key in items else text
    raise ProtocolError(f"more than {MAX_HEADERS} headers")


class RawResponse:
    """A response: its status and headers read, its body read on demand (:meth:`read`)."""

    def __init__(self, reader: _Reader, method: str) -> None:
        self._reader = reader
        while True:  # interim answers (100 Continue, 103 Early Hints) precede the final one
            minor, self.status, self.reason = _status(reader.line())
            self.headers = _headers(reader)
            if not 100 <= self.status < 200:
                break
        self.will_close = _closes(minor, self.headers)
        self._left: int | None = None  # bytes of the body (or of the current chunk) to come
        self._chunked = False
        self._done = False
        coding = (self.headers.get("transfer-encoding") or "").lower()
        if method == "HEAD" or self.status in (204, 304):
            self._done = True
        elif coding:
            if coding.rsplit(",", 1)[-1].strip() != "chunked":
                self.will_close = True  # read up to the close (RFC 9112, 6.3)
            else:
                self._chunked = True
                self._left = 0
        else:
            self._left = _content_length(self.headers.get("content-length"))
            if self._left is None:
                self.will_close = True
            elif self._left == 0:
                self._done = True

    def isclosed(self) -> bool:
        """Whether the body was read to its end."""
        return self._done

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes of the body (all of it if None); b"" at its end."""
        if self._done or amt == 0:
            return b""
        if amt is None:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        if self._chunked:
            return self._read_chunked(amt)
        if self._left is None:  # up to the close
            data = self._reader.read1(amt)
            if not data:
                self._done = True
            return data
        data = self._reader.read(min(amt, self._left))
        if not data:
            raise IncompleteBody(f"the body ended {self._left} bytes short")
        self._left -= len(data)
        if self._left == 0:
            self._done = True
        return data

    def _read_chunked(self, amt: int) -> bytes:
        assert self._left is not None  # noqa: S101 - set for a chunked body
        if self._left == 0:
            size_line = self._reader.line()
            size = size_line.split(b";", 1)[0].strip()
            if not size or not all(c in b"0123456789abcdefABCDEF" for c in size):
                raise ProtocolError(f"not a chunk size: {size_line[:40]!r}")
            self._left = int(size, 16)
            if self._left == 0:  # the last chunk: trailers, then the blank line
                _headers(self._reader)
                self._done = True
                return b""
        data = self._reader.read(min(amt, self._left))
        if not data:
            raise IncompleteBody("the chunked body ended inside a chunk")
        self._left -= len(data)
        if self._left == 0 and self._reader.line() not in (b"\r\n", b"\n"):
            raise ProtocolError("a chunk is not followed by its line end")
        return data


def _content_length(raw: str | None) -> int | None:
    if raw is None:
        return None
    values = {v.strip() for v in raw.split(",")}
    value = values.pop() if len(values) == 1 else ""
    if not (value.isascii() and value.isdigit()):  # (str.isdigit alone takes "\u00b2")
        raise ProtocolError(f"not a Content-Length: {raw[:40]!r}")
    return int(value)


def _closes(minor: int, headers: Headers) -> bool:
    tokens = {t.strip().lower() for t in (headers.get("connection") or "").split(",")}
    if "close" in tokens:
        return True
    return minor == 0 and "keep-alive" not in tokens
