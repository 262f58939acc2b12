"""Fixtures for remotes: a real moto S3 server on loopback, a fault-injecting HTTP proxy in
front of it, and repositories wired to a directory or S3 remote. boto3 is never mocked."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import archives, git, serve_http

ACCESS_KEY = "AKIAGITARCHIVESTEST1"
SECRET_KEY = "s3cr3t-never-printed-0123456789abcdefXYZ"


# -- moto -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


@pytest.fixture
def bucket(moto_endpoint: str, aws_env: None) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3_client(moto_endpoint).create_bucket(Bucket=name)
    return name


# -- fault proxy ------------------------------------------------------------------------------

_ERRORS = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
    403: ("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."),
}


@dataclass
class Fault:
    kind: str              # drop | 500 | 503 | 403 | slow | truncate | corrupt
    method: str | None = None  # only requests with this method
    delay: float = 0.3


@dataclass
class FaultProxy:
    """Forwards HTTP to moto; pops one queued fault per matching request (bounded)."""

    upstream: str
    faults: deque[Fault] = field(default_factory=deque)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, outcome)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def add(self, kind: str, count: int = 1, *, method: str | None = None,
            delay: float = 0.3) -> None:
        with self.lock:
            for _ in range(count):
                self.faults.append(Fault(kind, method, delay))

    def take(self, method: str) -> Fault | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.method is None or f.method == method:
                    del self.faults[i]
                    return f
        return None

    def outcomes(self, kind: str) -> int:
        return sum(1 for _, _, o in self.seen if o == kind)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, no access log, and the request body read plain or chunked."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        return read_body(self)

    def _ask_upstream(self, upstream: str, body: bytes
                      ) -> tuple[int, list[tuple[str, str]], bytes, str | None]:
        """Send this request on to ``upstream`` (http://host:port): (status, the headers
        worth passing back, body, the upstream's Content-Length)."""
        host, _, port = upstream.removeprefix("http://").partition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("expect", "transfer-encoding", "connection")}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        kept = [(k, v) for k, v in resp.getheaders()
                if k.lower() not in ("transfer-encoding", "connection", "content-length",
                                     "server", "date")]
        return resp.status, kept, data, resp.getheader("Content-Length")


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, plain or chunked (boto3 streams uploads chunked)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                handler.rfile.readline()
                return out
            out += handler.rfile.read(size)
            handler.rfile.readline()
    n = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(n) if n else b""


def _make_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):

        def _handle(self) -> None:
            body = self._body()
            fault = proxy.take(self.command)
            kind = fault.kind if fault else "ok"
            proxy.seen.append((self.command, self.path, kind))
            if kind == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind in ("500", "503", "403"):
                code, msg = _ERRORS[int(kind)]
                xml = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                       f"<Message>{msg}</Message></Error>").encode()
                self.send_response(int(kind))
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(xml)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(xml)
                return
            if kind == "slow" and fault is not None:
                time.sleep(fault.delay)
            status, kept, data, length = self._ask_upstream(proxy.upstream, body)
            self.send_response(status)
            for k, v in kept:
                self.send_header(k, v)
            if self.command == "HEAD":
                self.send_header("Content-Length", length or "0")
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if kind == "truncate" and len(data) > 1:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind == "corrupt" and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

    return Handler


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint)
    with serve_http(_make_handler(p)) as p.url:
        yield p


# -- repositories -----------------------------------------------------------------------------

def make_data_repo(path: Path, files: dict[str, bytes], *, chunking: str | None = None) -> Path:
    """A repo with git-archives installed, ``*.bin`` tracked and ``files`` committed;
    ``chunking`` sets ``archives.chunking.threshold`` first (``"off"``: whole objects, for
    the tests of a remote kind's whole-object paths)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    if chunking is not None:
        git(path, "config", "archives.chunking.threshold", chunking)
    archives(path, "install")
    archives(path, "track", "*.bin")
    for name, data in files.items():
        f = path / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "data")
    return path


def add_dir_remote(repo: Path, remote: Path, *, commit: bool = False) -> Path:
    """Make the folder ``remote`` and set it as ``repo``'s default data remote
    (``storage``), confirmed in the global git config so that clones may use it; with
    ``commit``, commit ``.archives`` so that clones have it too."""
    remote.mkdir(exist_ok=True)
    # --force: an earlier repository of this test may have confirmed 'storage' globally
    archives(repo, "remote", "add", "--force", "-d", "storage", str(remote))
    trust_globally(repo, "storage", "url", str(remote))
    if commit:
        git(repo, "add", ".archives")
        git(repo, "commit", "-qm", "data remote")
    return remote


def set_s3_remote(repo: Path, bucket: str, endpoint: str, *, name: str = "storage",
                  extra: dict[str, str] | None = None) -> None:
    # Written with git config directly (what 'remote add/modify' do, tested elsewhere):
    # four console-script starts per test would dominate the suite's time.
    cfg = repo / ".archives" / "config"
    cfg.parent.mkdir(exist_ok=True)
    opts = {"url": f"s3://{bucket}/proj", "endpointurl": endpoint, "pathstyle": "true",
            "region": "us-east-1", **(extra or {})}
    for k, v in opts.items():
        git(repo, "config", "-f", str(cfg), f"remote.{name}.{k}", v)
    git(repo, "config", "-f", str(cfg), "core.remote", name)
    trust_globally(repo, name, "endpointurl", opts["endpointurl"])


def trust_globally(cwd: Path, name: str, key: str, value: str) -> None:
    """The user confirms a remote's endpoint (or directory) in their global git config, so
    that every clone in this test's HOME (its filter included, during ``git clone``) may
    use it: a committed endpoint or directory alone is refused (docs/remotes.md)."""
    git(cwd, "config", "--global", f"archives.remote.{name}.{key}", value)


def cache_objects(repo: Path) -> set[str]:
    base = repo / ".git" / "archives" / "files"
    if not base.is_dir():
        return set()
    return {p.relative_to(repo / ".git" / "archives").as_posix()
            for p in base.rglob("*") if p.is_file()}


def push_and_fetch_back(repo: Path, count: int) -> None:
    """The round trip every remote kind passes: ``remote status`` counts ``count`` objects
    to push, ``push`` uploads them and the remote is in sync; with the cache dropped,
    ``remote status`` counts them to fetch and ``fetch`` brings back the very same files."""
    assert f"{count} to push" in archives(repo, "remote", "status").stdout.decode()
    assert f"{count} object(s) uploaded" in archives(repo, "push").stdout.decode()
    assert "in sync" in archives(repo, "remote", "status").stdout.decode()
    before = cache_objects(repo)
    drop_cache(repo)
    assert f"{count} to fetch" in archives(repo, "remote", "status").stdout.decode()
    assert f"{count} object(s) downloaded" in archives(repo, "fetch").stdout.decode()
    assert cache_objects(repo) == before


def drop_cache(repo: Path) -> None:
    from gitext.store.objects import remove_tree_safely

    files = repo / ".git" / "archives" / "files"
    if files.exists():
        remove_tree_safely(files)
