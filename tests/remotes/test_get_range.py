"""``get_range``: one part of an object in one request, on every kind that has it, against
the real servers the other remote tests start (moto, fake-gcs-server, Azurite, sshd, the
loopback http server). Chunk packs are read this way (:mod:`gitext.sync.chunksync`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitext.errors import ObjectMissingError
from gitext.remotes.backend import Ranged
from gitext.remotes.local import LocalBackend

DATA = bytes(range(256)) * 40  # 10,240 bytes: every offset holds a known byte
KEY = "chunks/packs/0123456789abcdef0123456789abcdef.pack"


def _check(backend: Any, tmp_path: Path) -> None:
    """The contract: exact bytes for a range inside, the tail for one running past the end,
    ObjectMissingError for an absent key."""
    assert isinstance(backend, Ranged)
    assert backend.get_range(KEY, 0, 5) == DATA[:5]
    assert backend.get_range(KEY, 1000, 3000) == DATA[1000:4000]
    assert backend.get_range(KEY, len(DATA) - 10, 100) == DATA[-10:]
    with pytest.raises(ObjectMissingError):
        backend.get_range("chunks/packs/absent.pack", 0, 10)


def _put(backend: Any, tmp_path: Path) -> None:
    src = tmp_path / "pack"
    src.write_bytes(DATA)
    backend.put(KEY, src, len(DATA))


def test_directory(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    backend = LocalBackend(root, os.fspath(root))
    _put(backend, tmp_path)
    _check(backend, tmp_path)


def test_s3_range_get(bucket: str, moto_endpoint: str, tmp_path: Path) -> None:
    from gitext.remotes.s3 import S3Backend

    backend = S3Backend.from_url(f"s3://{bucket}/p", {
        "endpointurl": moto_endpoint, "pathstyle": "true", "region": "us-east-1",
        "retries": "2"})
    try:
        _put(backend, tmp_path)
        _check(backend, tmp_path)
    finally:
        backend.close()


def test_gcs_download_as_bytes(gcs_server: Any, gcs_bucket: str, tmp_path: Path) -> None:
    from gitext.remotes.gcs import GcsBackend

    backend = GcsBackend.from_url(f"gs://{gcs_bucket}/p", {
        "endpointurl": gcs_server.url, "unsigned": "true", "retries": "2"})
    try:
        _put(backend, tmp_path)
        _check(backend, tmp_path)
    finally:
        backend.close()


def test_azure_download_blob_offset(azurite: Any, az_container: str, tmp_path: Path) -> None:
    from gitext.remotes.azure import AzureBackend

    backend = AzureBackend.from_url(f"azure://{az_container}/p", {
        "connectionstring": azurite.connection_string()})
    try:
        _put(backend, tmp_path)
        _check(backend, tmp_path)
    finally:
        backend.close()


@pytest.fixture
def ssh_backend(sshd: Any, isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
                tmp_path: Path) -> Iterator[Any]:
    from gitext.remotes.ssh import SshBackend
    from tests.helpers.sshd_server import trust_host

    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    trust_host(isolated_home, sshd.port, sshd.host_key_line)
    b = SshBackend.from_url(sshd.url(sshd.store(tmp_path.name)), {"keyfile": str(sshd.user_key)})
    yield b
    b.close()


def test_ssh_sftp_read_at_offset(ssh_backend: Any, tmp_path: Path) -> None:
    _put(ssh_backend, tmp_path)
    _check(ssh_backend, tmp_path)


def test_http_range_and_a_server_that_ignores_it(http_remote: Any, tmp_path: Path) -> None:
    from gitext.remotes.http import HttpBackend

    http_remote.put(KEY, DATA)
    backend = HttpBackend.from_url(http_remote.url, {})
    try:
        _check(backend, tmp_path)
        ranges = [r.headers.get("Range") for r in http_remote.server.seen("GET")]
        assert "bytes=1000-3999" in ranges
        http_remote.server.ranges = False  # answers 200 with everything: cut out here
        assert backend.get_range(KEY, 1000, 3000) == DATA[1000:4000]
    finally:
        backend.close()
