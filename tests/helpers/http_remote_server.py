"""A plain HTTP file server on loopback serving a folder laid out as a remote (``GET``,
``HEAD``, single ``Range``), for the read-only http remote. Python's http.server has no
``Range``, so this is a small handler of its own. Per test (``http_remote``): a fresh
folder under the session server, and knobs a test turns — credentials it demands, faults
(a connection dropped mid-body, 5xx, Range ignored), redirects, added latency — plus every
request it saw (method, path, headers)."""

from __future__ import annotations

import base64
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.helpers import serve_http


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class HttpRemoteServer:
    """The session server's state; :meth:`reset` between tests."""

    root: Path
    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    faults: deque[tuple[str, str | None, int]] = field(default_factory=deque)
    auth: str | None = None           # the Authorization value every request must carry
    redirect_to: str | None = None    # answer every request with 302 to this base + path
    ranges: bool = True               # False: ignore Range (answer 200 with everything)
    head: bool = True                 # False: answer HEAD with 405
    latency: float = 0.0              # seconds added to every request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
        self.auth = self.redirect_to = None
        self.ranges = self.head = True
        self.latency = 0.0

    def fault(self, kind: str, count: int = 1, *, method: str | None = None,
              after: int = 0) -> None:
        """Queue ``kind`` (drop: close the connection after ``after`` body bytes; 403, 500,
        503; corrupt: flip the first byte) for the next ``count`` requests of ``method``."""
        with self.lock:
            self.faults.extend([(kind, method, after)] * count)

    def take(self, method: str) -> tuple[str, int] | None:
        with self.lock:
            for i, (kind, only, after) in enumerate(self.faults):
                if only is None or only == method:
                    del self.faults[i]
                    return kind, after
        return None

    def seen(self, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if method is None or r.method == method]

    def basic(self, user: str, password: str) -> None:
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> inclusive bounds, None if unusable."""
    if not value.startswith("bytes=") or "," in value:
        return None
    first, _, last = value[6:].strip().partition("-")
    try:
        if not first:
            n = int(last)
            return (max(0, size - n), size - 1) if n else None
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        return None
    return (start, end) if start <= end else None


def make_handler(server: HttpRemoteServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def handle(self) -> None:
            try:
                super().handle()
            except ConnectionError:  # the client went away (a test's dropped transfer)
                self.close_connection = True

        def _reply(self, status: int, headers: dict[str, str] | None = None,
                   body: bytes = b"") -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _refuse(self) -> None:  # uploads, deletes, listings: this server only reads
            server.requests.append(Seen(self.command, self.path, dict(self.headers)))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._reply(405, {"Allow": "GET, HEAD"})

        def _serve(self) -> None:
            with server.lock:
                server.requests.append(Seen(self.command, self.path, dict(self.headers)))
            if server.latency:
                time.sleep(server.latency)
            fault = server.take(self.command)
            if server.redirect_to is not None:
                self._reply(302, {"Location": server.redirect_to + self.path})
                return
            if server.auth is not None and self.headers.get("Authorization") != server.auth:
                self._reply(401, {"WWW-Authenticate": 'Basic realm="remote"'})
                return
            if self.command == "HEAD" and not server.head:
                self._reply(405, {"Allow": "GET"})
                return
            if fault is not None and fault[0] in ("403", "500", "503"):
                self._reply(int(fault[0]), {"Retry-After": "0"}, b"no")
                return
            path = server.root / unquote(urlsplit(self.path).path).lstrip("/")
            if ".." in Path(unquote(urlsplit(self.path).path)).parts or not path.is_file():
                self._reply(404, {}, b"not found")
                return
            self._send_file(path, fault)

        def _send_file(self, path: Path, fault: tuple[str, int] | None) -> None:
            size = path.stat().st_size
            bounds = _parse_range(self.headers.get("Range", ""), size) if server.ranges \
                else None
            start, end = bounds if bounds is not None else (0, size - 1)
            self.send_response(206 if bounds is not None else 200)
            if server.ranges:
                self.send_header("Accept-Ranges", "bytes")
            if bounds is not None:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            if self.command == "HEAD":
                return
            with open(path, "rb") as f:
                f.seek(start)
                if fault is not None and fault[0] == "drop":
                    self.wfile.write(f.read(min(fault[1], end - start + 1)))
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault[0] == "corrupt":
                    first = f.read(1)
                    self.wfile.write(bytes([first[0] ^ 0xFF]) if first else b"")
                    start += len(first)
                if end >= start:
                    self.connection.sendfile(f, start, end - start + 1)

        do_GET = do_HEAD = _serve
        do_PUT = do_POST = do_DELETE = do_PROPFIND = _refuse

    return Handler


@dataclass
class HttpRemote:
    """One test's remote: its folder on disk and its URL on the session server."""

    server: HttpRemoteServer
    folder: Path
    url: str

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` as a writer of this remote would."""
        path = self.folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture(scope="session")
def http_remote_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpRemoteServer]:
    server = HttpRemoteServer(tmp_path_factory.mktemp("http-remote"))
    with serve_http(make_handler(server)) as server.url:
        yield server


@pytest.fixture
def http_remote(http_remote_server: HttpRemoteServer) -> Iterator[HttpRemote]:
    """A fresh, empty remote folder served at its own URL, with no faults queued."""
    http_remote_server.reset()
    name = f"r-{uuid.uuid4().hex[:10]}"
    folder = http_remote_server.root / name
    folder.mkdir()
    yield HttpRemote(http_remote_server, folder, f"{http_remote_server.url}/{name}")
    http_remote_server.reset()


# -- TLS --------------------------------------------------------------------------------------

@dataclass
class Tls:
    """A throw-away CA (``ca``: its PEM file) and a certificate for 127.0.0.1 it signed."""

    ca: Path
    cert: Path
    key: Path


def make_tls(folder: Path) -> Tls:
    """Generate the CA and the server certificate with ``cryptography`` (skip without it)."""
    x509 = pytest.importorskip("cryptography.x509", reason="cryptography is not installed")
    import datetime
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    tls = Tls(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    tls.ca.write_bytes(ca.public_bytes(pem))
    tls.cert.write_bytes(leaf.public_bytes(pem))
    tls.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return tls


@contextmanager
def serve_https(server: HttpRemoteServer, tls: Tls) -> Iterator[str]:
    """The same handler over TLS on another loopback port; yields its https:// URL."""
    import ssl
    from http.server import ThreadingHTTPServer

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert, tls.key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(server))
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
