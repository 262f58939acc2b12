"""A real Git LFS server for the tests: giftless (PyPI), installed once into the checkout's
``.cache/giftless-venv`` under a file lock (as :mod:`tests.helpers.peers` does for DVC),
started on a free loopback port with a temporary storage folder and stopped by its pid.
A fault-injecting proxy (:class:`LfsFaultProxy`) sits in front of it for the bad-input tests.

giftless 0.6.2's wheel declares no dependencies, and PyJWT >= 2.10 rejects the ``sub: null``
its tokens carry (every upload would get 401): the dependencies are listed here, PyJWT
pinned below 2.10. Anonymous read-write alone is not enough for uploads (giftless checks a
per-oid permission on PUT): the JWT pre-authorised action provider makes them pass.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import serve_http
from tests.helpers.peers import CHECKOUT
from tests.helpers.s3 import QuietHandler

VENV = CHECKOUT / ".cache" / "giftless-venv"
PACKAGES = ["giftless==0.6.2", "flask", "flask-classful", "flask-marshmallow", "marshmallow",
            "webargs", "figcan", "python-dotenv", "pyyaml", "cachetools", "pyjwt<2.10",
            "python-dateutil", "requests", "typing-extensions"]
JWT_KEY = "a-test-key-of-at-least-32-bytes-0123456789"
GIT_LFS = Path("/usr/bin/git-lfs")


def giftless_python() -> Path:
    """The Python of the giftless venv, installing it on first use (skips if offline)."""
    if (VENV / "bin" / "flask").is_file() and (VENV / ".complete").is_file():
        return VENV / "bin" / "python"
    import fcntl

    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "giftless-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (VENV / ".complete").is_file():
            return VENV / "bin" / "python"
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        proc = subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *PACKAGES],
                              capture_output=True, text=True, check=False, timeout=900)
        if proc.returncode != 0 or not (VENV / "bin" / "flask").is_file():
            pytest.skip(f"giftless could not be installed from PyPI (offline?): "
                        f"{proc.stderr[-300:]}")
        (VENV / ".complete").write_text("ok\n")
    return VENV / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Giftless:
    """A running giftless: ``url(org, repo)`` is an LFS URL, ``storage`` holds the objects
    (``<storage>/<org>/<repo>/<oid>``)."""

    base: str
    storage: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def url(self, org: str = "org", repo: str = "repo", *, base: str | None = None) -> str:
        return f"{base or self.base}/{org}/{repo}.git/info/lfs"

    def stored(self, org: str = "org", repo: str = "repo") -> dict[str, bytes]:
        folder = self.storage / org / repo
        if not folder.is_dir():
            return {}
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _config(storage: Path) -> str:
    return f"""AUTH_PROVIDERS:
  - factory: giftless.auth.jwt:factory
    options: {{algorithm: HS256, private_key: {JWT_KEY}}}
  - giftless.auth.allow_anon:read_write
PRE_AUTHORIZED_ACTION_PROVIDER:
  factory: giftless.auth.jwt:factory
  options: {{algorithm: HS256, private_key: {JWT_KEY}, default_lifetime: 600}}
TRANSFER_ADAPTERS:
  basic:
    factory: giftless.transfer.basic_streaming:factory
    options:
      storage_class: giftless.storage.local_storage:LocalStorage
      storage_options: {{path: {storage}}}
"""


def start_giftless(folder: Path) -> Giftless:
    python = giftless_python()
    folder.mkdir(parents=True, exist_ok=True)
    storage = folder / "storage"
    storage.mkdir(exist_ok=True)
    cfg = folder / "giftless.yaml"
    cfg.write_text(_config(storage))
    port = free_port()
    log = folder / "giftless.log"
    env = {**os.environ, "GIFTLESS_CONFIG_FILE": str(cfg)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(python), "-m", "flask", "--app", "giftless.wsgi_entrypoint", "run",
             "--host", "127.0.0.1", "-p", str(port), "--with-threads"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"giftless exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(base + "/", timeout=1)
        except OSError as exc:
            if getattr(exc, "code", None) is not None:  # an HTTP answer (404): it is up
                break
            time.sleep(0.2)
            continue
        break
    else:
        proc.kill()
        raise AssertionError("giftless did not start in 60 s")
    return Giftless(base, storage, proc, log)


def stop_giftless(server: Giftless) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def giftless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Giftless]:
    server = start_giftless(tmp_path_factory.mktemp("giftless"))
    yield server
    stop_giftless(server)


@pytest.fixture
def git_lfs() -> Path:
    if not GIT_LFS.is_file():
        pytest.skip("git-lfs is not installed (/usr/bin/git-lfs)")
    return GIT_LFS


# -- fault proxy ------------------------------------------------------------------------------

# A fault rewrites one response. It gets the request (method, path) and the upstream's
# (status, headers, body) and returns what the client sees, or None to pass it on as is.
Rewrite = Callable[[str, str, int, list[tuple[str, str]], bytes],
                   "tuple[int, list[tuple[str, str]], bytes] | None"]


@dataclass
class LfsFault:
    rewrite: Rewrite | None  # None: send half the body, then drop the connection
    method: str | None = None
    path_part: str | None = None


@dataclass
class LfsFaultProxy:
    """Forwards to giftless; rewrites responses with the queued faults (one per matching
    request); records every request's method, path and headers. Batch responses' hrefs are
    rewritten to point back through the proxy, so transfers pass it too."""

    upstream: str
    faults: deque[LfsFault] = field(default_factory=deque)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    # "user:password" the batch endpoint demands (401 otherwise), as a private server does
    require_basic: str | None = None

    def add(self, rewrite: Rewrite | None, count: int = 1, *, method: str | None = None,
            path_part: str | None = None) -> None:
        with self.lock:
            for _ in range(count):
                self.faults.append(LfsFault(rewrite, method, path_part))

    def take(self, method: str, path: str) -> LfsFault | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if (f.method is None or f.method == method) and (
                        f.path_part is None or f.path_part in path):
                    del self.faults[i]
                    return f
        return None


def status_fault(code: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None
                 ) -> Rewrite:
    def rewrite(method: str, path: str, status: int, hdrs: list[tuple[str, str]],
                data: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return code, [("Content-Type", "application/vnd.git-lfs+json"), *(headers or [])], body
    return rewrite


def json_fault(edit: Callable[[Any], Any]) -> Rewrite:
    """Rewrite a JSON (batch) response's body through ``edit``."""
    def rewrite(method: str, path: str, status: int, hdrs: list[tuple[str, str]],
                data: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return status, hdrs, json.dumps(edit(json.loads(data))).encode()
    return rewrite


def _make_handler(proxy: LfsFaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _refuse(self) -> bool:
            if proxy.require_basic is None or "/objects/batch" not in self.path:
                return False
            expected = "Basic " + base64.b64encode(proxy.require_basic.encode()).decode()
            if self.headers.get("Authorization") == expected:
                del self.headers["Authorization"]  # giftless itself is anonymous
                return False
            self._reply(401, [("LFS-Authenticate", 'Basic realm="test"')],
                        b'{"message": "Credentials needed"}')
            return True

        def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _handle(self) -> None:
            body = self._body()
            with proxy.lock:
                proxy.seen.append((self.command, self.path, dict(self.headers.items())))
            if self._refuse():
                return
            status, kept, data, _length = self._ask_upstream(proxy.upstream, body)
            if "/objects/batch" in self.path and status == 200:
                data = data.replace(proxy.upstream.encode(), proxy.url.encode())
            rng = self.headers.get("Range", "")
            if self.command == "GET" and status == 200 and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])  # giftless ignores Range: we honour it
                kept.append(("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}"))
                status, data = 206, data[start:]
            fault = proxy.take(self.command, self.path)
            if fault is not None and fault.rewrite is None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault.rewrite is not None:
                changed = fault.rewrite(self.command, self.path, status, kept, data)
                if changed is not None:
                    status, kept, data = changed
            self._reply(status, kept, data)

        do_GET = do_PUT = do_POST = do_HEAD = _handle

    return Handler


@pytest.fixture
def lfs_proxy(giftless: Giftless) -> Iterator[LfsFaultProxy]:
    p = LfsFaultProxy(giftless.base)
    with serve_http(_make_handler(p)) as p.url:
        yield p
