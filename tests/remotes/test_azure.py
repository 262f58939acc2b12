"""The Azure Blob Storage backend against a real Azurite started by the tests: the Backend
contract, block uploads that stay invisible until committed, parallel ranged downloads,
faults from a proxy in front of Azurite, and every bad input as one clear line."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitext.codec.hashing import ObjectId
from gitext.errors import ConfigError, ObjectMissingError, RemoteError
from gitext.remotes.azure import AzureBackend
from gitext.remotes.backend import TransientRemoteError
from tests.helpers.azurite_server import ACCOUNT_KEY, Azurite
from tests.helpers.s3 import FaultProxy

pytest.importorskip("azure.storage.blob", reason="the [azure] extra is not installed")
pytestmark = pytest.mark.usefixtures("no_azure_env")

WRONG_KEY = "A" * 86 + "=="


def _oid(data: bytes) -> ObjectId:
    return ObjectId("sha256", hashlib.sha256(data).hexdigest())


def _src(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / f"src-{hashlib.md5(data).hexdigest()}"
    p.write_bytes(data)
    return p


def _backend(azurite: Azurite, container: str, *, endpoint: str | None = None,
             prefix: str = "proj", **options: str) -> AzureBackend:
    return AzureBackend.from_url(f"azure://{container}/{prefix}", {
        "connectionstring": azurite.connection_string(
            f"{endpoint}/devstoreaccount1" if endpoint else None), **options})


# -- the Backend contract ---------------------------------------------------------------------

def test_put_get_list_and_delete(azurite: Azurite, az_container: str, tmp_path: Path) -> None:
    b = _backend(azurite, az_container)
    data = os.urandom(70_000)
    key = _oid(data).key
    moved: list[int] = []
    b.put(key, _src(tmp_path, data), len(data), moved.append)
    assert sum(moved) == len(data)
    assert b.get(key, tmp_path / "out") == len(data)
    assert (tmp_path / "out").read_bytes() == data
    buf = io.BytesIO()
    assert b.get(key, buf) == len(data) and buf.getvalue() == data
    assert dict(b.list("files/")) == {key: len(data)}
    [(listed, size, when)] = list(b.list_times("files/"))
    assert (listed, size) == (key, len(data)) and abs(when - time.time()) < 120
    # the objects live under the URL's path, in DVC 3's layout
    names = [x.name for x in azurite.service().get_container_client(az_container).list_blobs()]
    assert names == [f"proj/{key}"]
    # a folder entry (accounts with a hierarchical namespace list them) is not an object
    folder = azurite.service().get_blob_client(az_container, "proj/files/sha256")
    folder.upload_blob(b"", metadata={"hdi_isfolder": "true"})
    assert dict(b.list("files/")) == {key: len(data)}
    folder.delete_blob()
    b.put(key, _src(tmp_path, data), len(data))  # a second put is harmless
    b.delete(key)
    b.delete(key)  # absent is fine
    assert b.exists_many([key]) == set()
    b.close()


def test_exists_many_lists_busy_folders_and_heads_lone_keys(
        azurite: Azurite, az_container: str, az_proxy: FaultProxy, tmp_path: Path) -> None:
    b = _backend(azurite, az_container, endpoint=az_proxy.url)
    lone = [f"files/sha256/{i:02x}/{i:062x}" for i in range(3)]
    crowded = [f"files/sha256/ab/{i:062x}" for i in range(5)]
    for key in [*lone, *crowded[:3]]:
        b.put(key, _src(tmp_path, key.encode()), len(key))
    absent = [f"files/sha256/{i:02x}/{i:062x}" for i in range(10, 13)]
    del az_proxy.seen[:]
    assert b.exists_many([*lone, *crowded, *absent]) == {*lone, *crowded[:3]}
    lists = [p for m, p, _ in az_proxy.seen if m == "GET" and "comp=list" in p]
    heads = [p for m, p, _ in az_proxy.seen if m == "HEAD"]
    assert len(lists) == 1 and "ab%2F" in lists[0]  # one listing for the busy folder
    assert len(heads) == 6  # one Get Blob Properties per lone key
    assert b.exists_many([]) == set()


def test_exists_many_lists_a_small_remote_whole_and_a_large_one_by_folder(
        azurite: Azurite, az_container: str, az_proxy: FaultProxy, tmp_path: Path) -> None:
    b = _backend(azurite, az_container, endpoint=az_proxy.url)
    asked = [f"files/sha256/{i:02x}/{i:062x}" for i in range(1, 41)]
    for key in asked[:5]:
        b.put(key, _src(tmp_path, key.encode()), len(key))
    del az_proxy.seen[:]
    assert b.exists_many(asked) == set(asked[:5])
    lists = [p for m, p, _ in az_proxy.seen if m == "GET" and "comp=list" in p]
    assert len(lists) == 2 and not any(m == "HEAD" for m, _, _ in az_proxy.seen)
    # one folder says the remote is large (20 x 256 objects): a request per folder instead
    crowded = [f"files/sha256/00/{i:062x}" for i in range(20)]
    for key in crowded:
        b.put(key, _src(tmp_path, key.encode()), len(key))
    del az_proxy.seen[:]
    assert b.exists_many([*crowded[:2], *asked]) == {*crowded[:2], *asked[:5]}
    heads = [p for m, p, _ in az_proxy.seen if m == "HEAD"]
    lists = [p for m, p, _ in az_proxy.seen if m == "GET" and "comp=list" in p]
    assert len(heads) == 40 and len(lists) == 1


def test_get_of_an_absent_key_raises_and_creates_nothing(azurite: Azurite, az_container: str,
                                                         tmp_path: Path) -> None:
    b = _backend(azurite, az_container)
    with pytest.raises(ObjectMissingError, match="no such object"):
        b.get(_oid(b"nope").key, tmp_path / "out", size=50 * 1024 * 1024)
    assert not (tmp_path / "out").exists()


def test_a_large_object_goes_up_in_parallel_blocks_and_down_in_parallel_ranges(
        azurite: Azurite, az_container: str, az_proxy: FaultProxy, tmp_path: Path) -> None:
    b = _backend(azurite, az_container, endpoint=az_proxy.url, multipartthreshold="4mib",
                 multipartchunksize="2mib")
    data = os.urandom(11 * 1024 * 1024)
    key = _oid(data).key
    moved: list[int] = []
    b.put(key, _src(tmp_path, data), len(data), moved.append)
    assert sum(moved) == len(data)
    puts = [p for m, p, _ in az_proxy.seen if m == "PUT"]
    assert sum("comp=block&" in p for p in puts) == 6
    assert sum("comp=blocklist" in p for p in puts) == 1
    blocks = azurite.service().get_blob_client(az_container, f"proj/{key}").get_block_list()
    assert len(blocks[0]) == 6 and not blocks[1]  # six committed, none left uncommitted
    del az_proxy.seen[:]
    got: list[int] = []
    assert b.get(key, tmp_path / "out", got.append, size=len(data)) == len(data)
    assert hashlib.sha256((tmp_path / "out").read_bytes()).digest() == hashlib.sha256(
        data).digest()
    assert sum(got) == len(data)
    assert sum(1 for m, _, _ in az_proxy.seen if m == "GET") == 6  # 2 MiB ranges


_KILLED_PUT = """
import sys
from pathlib import Path
from gitext.remotes.azure import AzureBackend
b = AzureBackend.from_url(sys.argv[1], {"connectionstring": sys.argv[2], "jobs": "2",
                          "multipartthreshold": "1mib", "multipartchunksize": "1mib"})
b.put(sys.argv[3], Path(sys.argv[4]), int(sys.argv[5]))
"""


def test_an_upload_killed_midway_stays_invisible_and_the_retry_completes(
        azurite: Azurite, az_container: str, az_proxy: FaultProxy, tmp_path: Path) -> None:
    """Blocks are staged, and only Put Block List makes a blob: the uploader dies after
    some blocks went up, and readers see no object (not an empty or partial one)."""
    data = os.urandom(8 * 1024 * 1024)
    key = _oid(data).key
    src = _src(tmp_path, data)
    az_proxy.add("slow", 40, method="PUT", delay=0.4)
    url = f"azure://{az_container}/proj"
    conn = azurite.connection_string(f"{az_proxy.url}/devstoreaccount1")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_PUT, url, conn, key, str(src),
                             str(len(data))])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        staged = sum(1 for m, p, _ in az_proxy.seen if m == "PUT" and "comp=block&" in p)
        if staged >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    container = azurite.service().get_container_client(az_container)
    assert list(container.list_blobs()) == []  # no reader sees anything
    pending = list(container.list_blobs(include=["uncommittedblobs"]))
    assert [x.name for x in pending] == [f"proj/{key}"]  # (the staged blocks)
    b = _backend(azurite, az_container)
    assert b.exists_many([key]) == set()
    with pytest.raises(ObjectMissingError):
        b.get(key, tmp_path / "out")
    az_proxy.faults.clear()
    big = _backend(azurite, az_container, multipartthreshold="1mib", multipartchunksize="1mib")
    big.put(key, src, len(data))
    assert b.get(key, tmp_path / "out") == len(data)
    assert (tmp_path / "out").read_bytes() == data


# -- faults -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["503", "drop"])
def test_transient_faults_are_retried(fault: str, azurite: Azurite, az_container: str,
                                      az_proxy: FaultProxy, tmp_path: Path) -> None:
    b = _backend(azurite, az_container, endpoint=az_proxy.url)
    data = os.urandom(40_000)
    key = _oid(data).key
    az_proxy.add(fault, 1, method="PUT")
    b.put(key, _src(tmp_path, data), len(data))
    az_proxy.add(fault, 1, method="GET")
    assert b.get(key, tmp_path / "out") == len(data)
    assert (tmp_path / "out").read_bytes() == data
    assert az_proxy.outcomes(fault) == 2


def test_a_download_cut_short_restarts_cleanly(azurite: Azurite, az_container: str,
                                               az_proxy: FaultProxy, tmp_path: Path) -> None:
    b = _backend(azurite, az_container, endpoint=az_proxy.url)
    data = os.urandom(300_000)
    key = _oid(data).key
    b.put(key, _src(tmp_path, data), len(data))
    az_proxy.add("truncate", 2, method="GET")
    moved: list[int] = []
    assert b.get(key, tmp_path / "out", moved.append) == len(data)
    assert (tmp_path / "out").read_bytes() == data
    assert sum(moved) == len(data)  # restarted bytes are not counted twice


def test_a_store_that_keeps_failing_is_a_transient_error_naming_the_code(
        azurite: Azurite, az_container: str, az_proxy: FaultProxy, tmp_path: Path) -> None:
    b = _backend(azurite, az_container, endpoint=az_proxy.url, retries="2")
    b.exists_many(["files/x/y"])  # the container check passes
    az_proxy.add("500", 20, method="PUT")
    with pytest.raises(TransientRemoteError, match=r"kept failing \(InternalError\) after 2"):
        b.put("files/sha256/ab/cd", _src(tmp_path, b"x" * 10), 10)


# -- bad input --------------------------------------------------------------------------------

def test_a_missing_container_is_one_clear_line(azurite: Azurite) -> None:
    b = _backend(azurite, "no-such-container")
    with pytest.raises(RemoteError) as err:
        b.exists_many(["files/sha256/ab/cd"])
    assert err.value.message == ("container 'no-such-container' does not exist in account "
                                 f"devstoreaccount1 at {azurite.endpoint}")
    assert "az storage container create --name no-such-container" in (err.value.hint or "")


def test_a_wrong_key_is_refused_without_showing_it(azurite: Azurite, az_container: str,
                                                   tmp_path: Path) -> None:
    b = AzureBackend.from_url(f"azure://{az_container}", {
        "connectionstring": azurite.connection_string(key=WRONG_KEY)})
    with pytest.raises(RemoteError) as err:
        b.list("files/").__next__()
    text = f"{err.value.message} {err.value.hint} {b!r}"
    assert "refused the connection string (AuthorizationFailure)" in text
    assert WRONG_KEY not in text and ACCOUNT_KEY not in text


def test_an_account_key_and_sas_token_are_used_and_never_shown(
        azurite: Azurite, az_container: str, tmp_path: Path) -> None:
    """``accountkey`` and ``sastoken`` sign for ``accountname`` at Microsoft's endpoint; the
    emulator is reached through a connection string instead, so here the credential objects
    are checked, and that nothing shows them."""
    b = AzureBackend.from_url(f"azure://{az_container}", {
        "accountname": "myaccount", "accountkey": WRONG_KEY})
    assert b.endpoint == "https://myaccount.blob.core.windows.net"
    assert WRONG_KEY not in repr(b) and WRONG_KEY not in repr(vars(b))
    s = AzureBackend.from_url(f"azure://{az_container}", {
        "accountname": "myaccount", "sastoken": "?sv=2024&sig=SECRETSIG"})
    assert "SECRETSIG" not in repr(s) and "SECRETSIG" not in repr(vars(s))
    with pytest.raises(ConfigError, match="accountkey needs the storage account's name"):
        AzureBackend.from_url(f"azure://{az_container}", {"accountkey": WRONG_KEY})


def test_an_endpoint_only_connection_string_takes_the_remotes_key_or_sas_token(
        azurite: Azurite, az_container: str, tmp_path: Path) -> None:
    """A connection string naming only the endpoint (Azurite, Azure Stack) lets
    ``accountkey`` and ``sastoken`` be kept apart from it; both really sign requests."""
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    endpoint_only = f"BlobEndpoint={azurite.endpoint};"
    sas = generate_account_sas(
        "devstoreaccount1", ACCOUNT_KEY, ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, write=True, list=True, delete=True, create=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    data = b"signed with a key kept apart"
    key = _oid(data).key
    for option, secret in (("accountkey", ACCOUNT_KEY), ("sastoken", "?" + sas)):
        b = AzureBackend.from_url(f"azure://{az_container}/{option}", {
            "connectionstring": endpoint_only, "accountname": "devstoreaccount1",
            option: secret})
        b.put(key, _src(tmp_path, data), len(data))
        assert b.get(key, io.BytesIO()) == len(data)
        assert secret not in repr(b)
    bad = AzureBackend.from_url(f"azure://{az_container}", {
        "connectionstring": endpoint_only, "accountname": "devstoreaccount1",
        "sastoken": sas.replace("sig=", "sig=AAAA")})
    with pytest.raises(RemoteError) as err:
        bad.exists_many([key])
    assert "refused the SAS token (AuthorizationFailure)" in err.value.message
    assert "sig=" not in f"{err.value.message} {err.value.hint}"


def test_unsigned_means_anonymous_requests_and_no_container_check(az_container: str) -> None:
    """(Azurite is reached only through a connection string, so the anonymous path to
    ``<account>.blob.core.windows.net`` is checked for what it builds, without a request.)"""
    b = AzureBackend.from_url(f"azure://{az_container}", {"accountname": "publicdata",
                                                          "unsigned": "true"})
    assert b.unsigned and b._credential() is None
    assert b.endpoint == "https://publicdata.blob.core.windows.net"
    assert not AzureBackend.from_url(f"azure://{az_container}", {
        "accountname": "publicdata", "unsigned": "false"}).unsigned


def test_the_environment_connection_string_is_used_when_the_remote_has_none(
        azurite: Azurite, az_container: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())
    b = AzureBackend.from_url(f"azure://{az_container}/p", {})
    data = b"from the environment"
    b.put(_oid(data).key, _src(tmp_path, data), len(data))
    assert b.exists_many([_oid(data).key]) == {_oid(data).key}


def test_a_connection_string_for_another_account_than_the_remote_names_is_refused(
        azurite: Azurite, az_container: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())
    b = AzureBackend.from_url(f"azure://{az_container}", {"accountname": "teamaccount"})
    with pytest.raises(ConfigError, match="is for account devstoreaccount1, but the remote "
                                          "names account teamaccount"):
        b.exists_many(["files/a/b"])


@pytest.mark.parametrize(("url", "options", "message"), [
    ("azure://", {"accountname": "acct"}, "names no container"),
    ("azure://Bad_Name/p", {"accountname": "acct"}, "is not an Azure container name"),
    ("azure://ok-name/p", {"accountname": "evil.example.com#"}, "is not a storage account"),
    ("azure://ok-name/p", {}, "no storage account is named"),
    ("azure://ok-name/p", {"accountname": "acct", "unsigned": "maybe"}, "is not a boolean"),
])
def test_bad_urls_and_options_are_named(url: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AzureBackend.from_url(url, options)


def test_a_malformed_connection_string_is_named_not_shown(az_container: str) -> None:
    b = AzureBackend.from_url(f"azure://{az_container}", {
        "connectionstring": "AccountKey=SECRETVALUE;garbage"})
    with pytest.raises(ConfigError) as err:
        b.exists_many(["files/a/b"])
    assert "the connection string for azure://" in err.value.message
    assert "malformed" in err.value.message and "SECRETVALUE" not in str(err.value)


def test_no_credential_at_all_fails_at_once_with_what_to_set(az_container: str) -> None:
    b = AzureBackend.from_url(f"azure://{az_container}", {"accountname": "acct0123"})
    start = time.monotonic()
    with pytest.raises(RemoteError) as err:
        b.exists_many(["files/a/b"])
    assert time.monotonic() - start < 20  # not the SDK's retries of a missing credential
    assert err.value.message.startswith("no usable credentials for azure://")
    assert "AZURE_STORAGE_CONNECTION_STRING" in (err.value.hint or "")


def test_an_unreachable_endpoint_is_reported(az_container: str) -> None:
    from tests.helpers.lfs_server import free_port

    port = free_port()
    b = AzureBackend.from_url(f"azure://{az_container}", {
        "connectionstring": f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
        "retries": "1"})
    with pytest.raises(TransientRemoteError, match=f"cannot reach http://127.0.0.1:{port}"):
        b.exists_many(["files/a/b"])


def test_the_sdk_is_not_imported_until_an_azure_remote_is_opened() -> None:
    code = ("import sys, gitext.remotes, gitext.remotes.azure; "
            "print(any(m.startswith('azure') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"

