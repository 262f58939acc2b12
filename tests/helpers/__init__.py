"""What tests share: running real git and the installed console script, and where the
checkout and its test data are. Fixtures live in ``tests/conftest.py``; builders by area in
this package's modules (repos, s3, listener, notebooks, golden, nbgen, pipelines, graphs,
peers)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"
BIN_DIR = Path(sys.executable).parent


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port for ``handler``; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None,
        input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run real git; on failure show its stderr."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False,
                          env=env, input=input_bytes)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr.decode()}"
        )
    return proc


def archives(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None,
             input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``git-archives`` console script as a user would."""
    proc = subprocess.run([str(BIN_DIR / "git-archives"), *args], cwd=cwd, capture_output=True,
                          check=False, env=env, input=input_bytes)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"git-archives {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout.decode()}\n{proc.stderr.decode()}"
        )
    return proc
