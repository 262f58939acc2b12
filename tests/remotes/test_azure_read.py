"""Reads without the SDK (gitext.remotes.azureread) against a real Azurite: Get Blob signed
with the connection string's shared key, whole and ranged, used only where the SDK would
decide nothing per request; a refused key is one line that never shows it."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path

import pytest

from gitext.errors import ObjectMissingError, RemoteError
from gitext.remotes.azure import AzureBackend
from tests.helpers.azurite_server import ACCOUNT_KEY, Azurite

pytest.importorskip("azure.storage.blob", reason="the [azure] extra is not installed")
pytestmark = pytest.mark.usefixtures("no_azure_env")

WRONG_KEY = "A" * 86 + "=="


def _backend(azurite: Azurite, container: str) -> AzureBackend:
    return AzureBackend.from_url(f"azure://{container}/proj",
                                 {"connectionstring": azurite.connection_string()})


def _stored(b: AzureBackend, tmp_path: Path, data: bytes) -> str:
    key = f"files/sha256/{hashlib.sha256(data).hexdigest()}"
    src = tmp_path / "src"
    src.write_bytes(data)
    b.put(key, src, len(data))
    return key


def test_reads_go_without_the_sdk_whole_ranged_and_past_the_end(
        azurite: Azurite, az_container: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.storage.blob import BlobClient

    b = _backend(azurite, az_container)
    data = os.urandom(300_000)
    key = _stored(b, tmp_path, data)
    assert b._reader is not None  # a connection string's shared key: read by us

    def no_sdk(*_a: object, **_k: object) -> None:
        raise AssertionError("read through the SDK")

    monkeypatch.setattr(BlobClient, "download_blob", no_sdk)
    moved: list[int] = []
    assert b.get(key, tmp_path / "out", moved.append) == len(data)
    assert (tmp_path / "out").read_bytes() == data and sum(moved) == len(data)
    buf = io.BytesIO()
    assert b.get(key, buf) == len(data) and buf.getvalue() == data
    assert b.get_range(key, 1000, 5000) == data[1000:6000]
    assert b.get_range(key, len(data) - 10, 100) == data[-10:]  # cut at the end
    assert b.get_range(key, len(data) + 5, 10) == b""           # past it
    with pytest.raises(ObjectMissingError):
        b.get("files/sha256/absent", tmp_path / "absent")
    assert not (tmp_path / "absent").exists()


def test_a_key_refused_on_a_read_is_one_line_without_the_key(
        azurite: Azurite, az_container: str, tmp_path: Path) -> None:
    b = _backend(azurite, az_container)
    key = _stored(b, tmp_path, b"some bytes")
    assert b._reader is not None
    b._reader._key = base64.b64decode(WRONG_KEY)  # the account's key changed meanwhile
    with pytest.raises(RemoteError) as err:
        b.get(key, tmp_path / "out")
    text = f"{err.value.message} {err.value.hint}"
    assert "refused the connection string (AuthorizationFailure)" in text
    assert WRONG_KEY not in text and ACCOUNT_KEY not in text
    assert not (tmp_path / "out").exists()


def test_a_proxy_or_a_sas_token_keeps_reads_on_the_sdk(
        azurite: Azurite, az_container: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitext.remotes.azureread import reader_for

    b = _backend(azurite, az_container)
    b.container_client()
    transport = b._transport
    assert reader_for(b._service, b._container, transport, unsigned=False,
                      connections=4) is not None
    monkeypatch.setattr(transport.session, "proxies", {"http": "http://proxy.invalid:3128"})
    assert reader_for(b._service, b._container, transport, unsigned=False,
                      connections=4) is None
    monkeypatch.setattr(transport.session, "proxies", {})
    sas = AzureBackend.from_url(f"azure://{az_container}/proj", {
        "connectionstring": azurite.connection_string(),
        "sastoken": "sv=2021-08-06&ss=b&srt=sco&sp=rl&sig=abc"})
    sas._service = sas._make_service()  # (no request: only what reads would use)
    assert reader_for(sas._service, sas._service.get_container_client(az_container),
                      sas._transport, unsigned=False, connections=4) is None

