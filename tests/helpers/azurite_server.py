"""A real Azure Blob Storage for the tests: Azurite (Microsoft's emulator, npm), installed once
into the checkout's ``.cache/azurite`` under a file lock, started on a free loopback port
with a temporary folder and stopped by its pid. Skips with the reason if npm cannot install
it. Clients use Azurite's well-known development account (Microsoft publishes its key)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import serve_http
from tests.helpers.lfs_server import free_port
from tests.helpers.peers import CHECKOUT
from tests.helpers.s3 import FaultProxy, _make_handler

VERSION = "3.37.0"
FOLDER = CHECKOUT / ".cache" / "azurite"
ACCOUNT = "devstoreaccount1"
# The development storage account's key, as published by Microsoft for Azurite and the
# storage emulator (not a secret; it opens nothing but a local emulator).
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")


def azurite_blob() -> Path:
    """The ``azurite-blob`` launcher, installing Azurite from npm on first use."""
    exe = FOLDER / "node_modules" / ".bin" / "azurite-blob"
    if exe.is_file() and (FOLDER / ".complete").is_file():
        return exe
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("Azurite needs node and npm, which are not on PATH")
    import fcntl

    FOLDER.mkdir(parents=True, exist_ok=True)
    with open(FOLDER.parent / "azurite.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (FOLDER / ".complete").is_file():
            return exe
        proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix",
                               str(FOLDER), f"azurite@{VERSION}"],
                              capture_output=True, text=True, check=False, timeout=900)
        if proc.returncode != 0 or not exe.is_file():
            pytest.skip(f"Azurite {VERSION} could not be installed from npm (offline?): "
                        f"{proc.stderr[-300:]}")
        (FOLDER / ".complete").write_text("ok\n")
    return exe


@dataclass
class Azurite:
    """A running Azurite: ``endpoint`` is the development account's blob endpoint."""

    port: int
    location: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def connection_string(self, endpoint: str | None = None, *, key: str = ACCOUNT_KEY) -> str:
        """The account's connection string; ``endpoint`` sends it elsewhere (a proxy)."""
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
                f"BlobEndpoint={endpoint or self.endpoint};")

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string())

    def new_container(self) -> str:
        name = f"c-{uuid.uuid4().hex[:16]}"
        self.service().create_container(name)
        return name


def start_azurite(folder: Path, port: int | None = None) -> Azurite:
    exe = azurite_blob()
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = folder / "azurite.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(exe), "--silent", "--location", str(folder / "data"), "--blobHost",
             "127.0.0.1", "--blobPort", str(port), "--skipApiVersionCheck",
             "--disableTelemetry"],  # nothing leaves 127.0.0.1
            stdout=out, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True)
    server = Azurite(port, folder, proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"Azurite exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{server.endpoint}?comp=list", timeout=1)
        except urllib.error.HTTPError:  # an answer (403 without a signature): it is up
            return server
        except OSError:
            time.sleep(0.2)
            continue
        return server
    stop_azurite(server)
    raise AssertionError("Azurite did not start in 60 s")


def stop_azurite(server: Azurite) -> None:
    """Stop it by its pid (the launcher's session: node and nothing else of ours)."""
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGINT)  # Azurite closes on SIGINT, not SIGTERM
        try:
            server.proc.wait(2)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    stop_azurite(server)


@pytest.fixture
def az_container(azurite: Azurite) -> str:
    """A new, empty container in the session's Azurite."""
    return azurite.new_container()


@pytest.fixture
def no_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the developer's own Azure setup reaches a test (the Azure modules use
    it for every test: ``pytestmark = pytest.mark.usefixtures("no_azure_env")``)."""
    for name in list(os.environ):
        if name.startswith(("AZURE_", "MSI_", "IDENTITY_")):
            monkeypatch.delenv(name)


@pytest.fixture
def az_proxy(azurite: Azurite) -> Iterator[FaultProxy]:
    """The fault-injecting HTTP proxy of the S3 tests, in front of Azurite."""
    p = FaultProxy(f"http://127.0.0.1:{azurite.port}")
    with serve_http(_make_handler(p)) as p.url:
        yield p
