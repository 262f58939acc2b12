"""The gs:// backend against a real fake-gcs-server (the SDK is never mocked): the Backend
contract, resumable uploads and ranged downloads, batched existence, faults through a proxy,
a server killed mid-upload, and bad credentials, buckets and endpoints."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitext.codec.hashing import ObjectId
from gitext.errors import ConfigError, ObjectMissingError, RemoteError
from gitext.remotes.backend import RemoteRefusedError, TransientRemoteError
from gitext.remotes.gcs import GcsBackend
from tests.helpers import serve_http
from tests.helpers.gcs_server import GcsServer, start_fake_gcs
from tests.helpers.listener import listening
from tests.helpers.s3 import Fault, FaultProxy, _make_handler

MIB = 1024 * 1024


def _key(data: bytes) -> str:
    return ObjectId("sha256", hashlib.sha256(data).hexdigest()).key


def _src(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / f"src-{hashlib.md5(data).hexdigest()}"
    p.write_bytes(data)
    return p


def _open(bucket: str, endpoint: str, prefix: str = "some/prefix", **options: str) -> GcsBackend:
    return GcsBackend.from_url(f"gs://{bucket}/{prefix}",
                               {"endpointurl": endpoint, "unsigned": "true", "retries": "3",
                                **options})


@pytest.fixture
def backend(gcs_server: GcsServer, gcs_bucket: str) -> Iterator[GcsBackend]:
    b = _open(gcs_bucket, gcs_server.url)
    yield b
    b.close()


@pytest.fixture
def gcs_proxy(gcs_server: GcsServer) -> Iterator[FaultProxy]:
    """The fault-injecting HTTP proxy of the S3 tests, in front of fake-gcs-server."""
    p = FaultProxy(gcs_server.url)
    with serve_http(_make_handler(p)) as p.url:
        yield p


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MiB resumable chunks and 4 MiB download ranges above 5 MiB, so that a 9 MiB object
    (above the SDK's 8 MiB single-request limit) shows the parts."""
    import gitext.remotes.gcs as gcs

    monkeypatch.setattr(gcs, "UPLOAD_CHUNK", MIB)
    monkeypatch.setattr(gcs, "RANGED_THRESHOLD", 5 * MIB)
    monkeypatch.setattr(gcs, "RANGE_SIZE", 4 * MIB)


# -- the Backend contract -----------------------------------------------------------------

def test_put_then_get_returns_the_same_bytes(backend: GcsBackend, gcs_server: GcsServer,
                                             tmp_path: Path) -> None:
    data = os.urandom(70_000)
    key = _key(data)
    moved: list[int] = []
    backend.put(key, _src(tmp_path, data), len(data), moved.append)
    assert sum(moved) == len(data)
    assert gcs_server.objects(backend.bucket_name) == {f"some/prefix/{key}": data}
    dst = tmp_path / "out"
    got: list[int] = []
    assert backend.get(key, dst, got.append) == len(data)
    assert dst.read_bytes() == data and sum(got) == len(data)
    buf = io.BytesIO()
    backend.get(key, buf)
    assert buf.getvalue() == data


def test_list_and_list_times_give_every_key_its_size_and_write_time(
        backend: GcsBackend, tmp_path: Path) -> None:
    sizes = {}
    before = time.time() - 5
    for n in (1, 10, 1000):
        data = b"x" * n
        backend.put(_key(data), _src(tmp_path, data), n)
        sizes[_key(data)] = n
    assert dict(backend.list("files/")) == sizes
    times = list(backend.list_times("files/sha256/"))
    assert {k for k, _, _ in times} == set(sizes)
    assert all(before < when < time.time() + 5 for _, _, when in times)
    assert list(backend.list("files/md5/")) == []


def test_get_of_an_absent_key_raises_object_missing_and_leaves_no_file(
        backend: GcsBackend, tmp_path: Path) -> None:
    with pytest.raises(ObjectMissingError):
        backend.get(_key(b"nope"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ObjectMissingError):
        backend.get(_key(b"nope"), tmp_path / "big", size=100 * MIB)
    assert not (tmp_path / "big").exists()


def test_delete_removes_a_key_and_tolerates_an_absent_one(backend: GcsBackend,
                                                          tmp_path: Path) -> None:
    data = b"to delete"
    backend.put(_key(data), _src(tmp_path, data), len(data))
    backend.delete(_key(data))
    backend.delete(_key(data))
    assert backend.exists_many([_key(data)]) == set()


def test_a_second_put_of_the_same_object_is_harmless(backend: GcsBackend,
                                                     tmp_path: Path) -> None:
    data = os.urandom(5000)
    src = _src(tmp_path, data)
    backend.put(_key(data), src, len(data))
    backend.put(_key(data), src, len(data))
    assert dict(backend.list("files/")) == {_key(data): len(data)}


def test_emulator_host_from_the_environment_is_honoured(gcs_server: GcsServer, gcs_bucket: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    b = GcsBackend.from_url(f"gs://{gcs_bucket}", {})  # no endpoint, no credentials option
    data = b"through the emulator variable"
    b.put(_key(data), _src(tmp_path, data), len(data))
    assert gcs_server.objects(gcs_bucket) == {_key(data): data}


# -- batched existence ----------------------------------------------------------------------

def _seen(proxy: FaultProxy, method: str, needle: str = "") -> int:
    return sum(1 for m, path, _ in proxy.seen if m == method and needle in path)


def test_exists_many_answers_a_small_remote_with_one_listing(
        gcs_bucket: str, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    b = _open(gcs_bucket, gcs_proxy.url)
    stored = []
    for i in range(12):
        data = f"object {i}".encode()
        b.put(_key(data), _src(tmp_path, data), len(data))
        stored.append(_key(data))
    absent = [_key(f"absent {i}".encode()) for i in range(30)]
    before = len(gcs_proxy.seen)
    assert b.exists_many([*stored, *absent]) == set(stored)
    assert len(gcs_proxy.seen) - before == 1  # one listing page, no metadata GETs
    assert b.exists_many([]) == set()


def test_exists_many_beyond_one_page_lists_busy_folders_and_asks_for_lone_keys(
        gcs_bucket: str, gcs_proxy: FaultProxy, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import gitext.remotes.gcs as gcs

    monkeypatch.setattr(gcs, "PAGE", 3)  # as if the remote held thousands of objects
    b = _open(gcs_bucket, gcs_proxy.url)
    crowded = [f"files/sha256/ab/{i:062x}" for i in range(8)]
    for key in crowded[:6]:
        b.put(key, _src(tmp_path, key.encode()), len(key))
    lone_present = "files/sha256/cd/" + "1" * 62
    b.put(lone_present, _src(tmp_path, b"lone"), 4)
    lone_absent = ["files/sha256/ef/" + "2" * 62, "files/sha256/ff/" + "3" * 62]
    before = len(gcs_proxy.seen)
    found = b.exists_many([*crowded, lone_present, *lone_absent])
    assert found == {*crowded[:6], lone_present}
    asked = gcs_proxy.seen[before:]
    listings = [p for m, p, _ in asked if m == "GET" and "/o?" in p]
    gets = [p for m, p, _ in asked if m == "GET" and "/o/" in p]
    assert len(gets) == 3  # the three keys alone in their folders, one metadata GET each
    assert 2 <= len(listings) <= 5  # the probe page, then the crowded folder page by page


# -- big objects: resumable up, ranged down -----------------------------------------------

def test_a_large_object_goes_up_resumably_and_down_in_parallel_ranges(
        gcs_bucket: str, gcs_proxy: FaultProxy, tmp_path: Path, small_parts: None) -> None:
    b = _open(gcs_bucket, gcs_proxy.url)
    data = os.urandom(9 * MIB + 123)
    key = _key(data)
    moved: list[int] = []
    b.put(key, _src(tmp_path, data), len(data), moved.append)
    assert sum(moved) == len(data)
    assert _seen(gcs_proxy, "POST", "uploadType=resumable") == 1
    assert _seen(gcs_proxy, "PUT", "upload_id=") == 10  # ten 1 MiB chunks
    before = _seen(gcs_proxy, "GET", "alt=media")
    dst = tmp_path / "out"
    got: list[int] = []
    assert b.get(key, dst, got.append, size=len(data)) == len(data)
    assert dst.read_bytes() == data and sum(got) == len(data)
    assert _seen(gcs_proxy, "GET", "alt=media") - before == 3  # three 4 MiB ranges


def test_a_dropped_chunk_is_resent_and_the_upload_completes(
        gcs_bucket: str, gcs_proxy: FaultProxy, gcs_server: GcsServer, tmp_path: Path,
        small_parts: None) -> None:
    b = _open(gcs_bucket, gcs_proxy.url)
    data = os.urandom(9 * MIB)
    gcs_proxy.add("drop", 2, method="PUT")
    b.put(_key(data), _src(tmp_path, data), len(data))
    assert gcs_proxy.outcomes("drop") == 2
    assert gcs_server.objects(gcs_bucket) == {f"some/prefix/{_key(data)}": data}


def test_an_upload_that_fails_midway_leaves_nothing_visible_and_a_retry_succeeds(
        gcs_bucket: str, gcs_proxy: FaultProxy, gcs_server: GcsServer, tmp_path: Path,
        small_parts: None) -> None:
    b = _open(gcs_bucket, gcs_proxy.url, retries="2")
    data = os.urandom(9 * MIB)
    src = _src(tmp_path, data)
    # The first chunks get through, then every chunk is dropped until the upload gives up.
    original = gcs_proxy.take

    def after_three(method: str) -> Fault | None:
        if method == "PUT" and _seen(gcs_proxy, "PUT") <= 3:
            return None
        return original(method)

    gcs_proxy.take = after_three  # type: ignore[method-assign]
    gcs_proxy.add("drop", 50, method="PUT")
    with pytest.raises(TransientRemoteError, match="kept failing"):
        b.put(_key(data), src, len(data))
    assert gcs_server.objects(gcs_bucket) == {}
    assert b.exists_many([_key(data)]) == set()
    gcs_proxy.faults.clear()
    b.put(_key(data), src, len(data))
    assert gcs_server.objects(gcs_bucket) == {f"some/prefix/{_key(data)}": data}


def test_a_server_killed_mid_upload_shows_no_object_after_restart_and_the_retry_succeeds(
        tmp_path: Path, small_parts: None) -> None:
    server = start_fake_gcs(tmp_path / "own-server")
    try:
        bucket = server.new_bucket()
        proxy = FaultProxy(server.url)
        with serve_http(_make_handler(proxy)) as proxy.url:
            b = _open(bucket, proxy.url, retries="2")
            data = os.urandom(9 * MIB)
            src = _src(tmp_path, data)
            proxy.add("slow", 1, method="PUT", delay=1.0)  # the first chunk hangs…
            failure: list[BaseException] = []

            def push() -> None:
                try:
                    b.put(_key(data), src, len(data))
                except BaseException as exc:
                    failure.append(exc)

            worker = threading.Thread(target=push)
            worker.start()
            deadline = time.monotonic() + 30
            while proxy.outcomes("slow") < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            server.stop()  # …and the server dies under it
            worker.join(60)
            assert failure and isinstance(failure[0], TransientRemoteError)
            server.start()
            assert server.objects(bucket) == {}
            b.put(_key(data), src, len(data))
            assert server.objects(bucket) == {f"some/prefix/{_key(data)}": data}
    finally:
        server.stop()


def test_bytes_damaged_on_the_way_down_are_fetched_again(
        backend: GcsBackend, gcs_bucket: str, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    data = os.urandom(50_000)
    backend.put(_key(data), _src(tmp_path, data), len(data))
    b = _open(gcs_bucket, gcs_proxy.url)
    b.bucket()  # (its first listing is not what this test damages)
    gcs_proxy.add("corrupt", 1, method="GET")
    dst = tmp_path / "out"
    assert b.get(_key(data), dst) == len(data)
    assert dst.read_bytes() == data
    assert gcs_proxy.outcomes("corrupt") == 1


def test_a_download_that_breaks_midway_resumes(backend: GcsBackend, gcs_bucket: str,
                                                gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    backend.put(_key(data), _src(tmp_path, data), len(data))
    b = _open(gcs_bucket, gcs_proxy.url)
    b.bucket()
    gcs_proxy.add("truncate", 2, method="GET")
    dst = tmp_path / "out"
    assert b.get(_key(data), dst) == len(data)
    assert dst.read_bytes() == data


# -- bad input ------------------------------------------------------------------------------

def test_a_bucket_that_does_not_exist_is_named(gcs_server: GcsServer) -> None:
    b = _open("no-such-bucket-here", gcs_server.url, projectname="team-project")
    with pytest.raises(RemoteRefusedError, match="bucket 'no-such-bucket-here' does not exist"
                       ) as err:
        b.exists_many([_key(b"x")])
    assert "--project team-project" in (err.value.hint or "")


def test_a_refused_request_stops_with_one_clear_error(gcs_bucket: str,
                                                      gcs_proxy: FaultProxy) -> None:
    b = _open(gcs_bucket, gcs_proxy.url)
    gcs_proxy.add("403", 1)
    with pytest.raises(RemoteRefusedError, match=r"denied permission \(403\) to open the bucket"):
        b.exists_many([_key(b"x")])


def test_an_unreachable_endpoint_is_reported(tmp_path: Path) -> None:
    from tests.helpers.lfs_server import free_port

    port = free_port()
    b = _open("bucket", f"http://127.0.0.1:{port}", retries="1")
    with pytest.raises(TransientRemoteError, match=f"cannot reach http://127.0.0.1:{port}"):
        b.list("files/").__next__()


def _service_account(tmp_path: Path, token_uri: str) -> tuple[Path, str]:
    """A service-account key file whose token endpoint is ``token_uri``: (path, private key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "p", "private_key_id": "kid-0123",
            "private_key": pem, "client_email": "sa@p.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": token_uri}
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info))
    return path, pem


def test_refused_service_account_credentials_are_reported_without_revealing_them(
        gcs_server: GcsServer, gcs_bucket: str, tmp_path: Path) -> None:
    with listening() as token_server:  # answers 404: the key is refused
        keyfile, pem = _service_account(tmp_path, token_server.url + "/token")
        b = GcsBackend.from_url(f"gs://{gcs_bucket}", {"endpointurl": gcs_server.url,
                                                        "credentialsfile": str(keyfile)})
        with pytest.raises(RemoteRefusedError, match="refused the credentials") as err:
            b.exists_many([_key(b"x")])
        assert token_server.requests  # the key really was tried
    text = f"{err.value.message}\n{err.value.hint}\n{b!r}"
    body = pem.splitlines()[5]
    assert body not in text and "kid-0123" not in text


def test_an_unreadable_credentials_file_is_named(gcs_server: GcsServer, gcs_bucket: str,
                                                 tmp_path: Path) -> None:
    bad = tmp_path / "key.json"
    bad.write_text('{"type": "service_account", "private_key": "s3cr3t-not-a-key"}')
    b = GcsBackend.from_url(f"gs://{gcs_bucket}", {"endpointurl": gcs_server.url,
                                                    "credentialsfile": str(bad)})
    with pytest.raises(RemoteError, match=r"credentialsfile .*key\.json cannot be used") as err:
        b.exists_many([_key(b"x")])
    assert "s3cr3t" not in str(err.value.message) + str(err.value.hint)


def test_no_credentials_at_all_say_where_to_put_them(gcs_bucket: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata server here: do not wait for one
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    b = GcsBackend.from_url(f"gs://{gcs_bucket}", {})
    with pytest.raises(RemoteRefusedError, match="no Google credentials found"):
        b.exists_many([_key(b"x")])


@pytest.mark.parametrize("url", ["gs://", "gs://UPPER", "gs://a", "gs://bad bucket/x"])
def test_a_url_without_a_valid_bucket_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="does not name a GCS bucket"):
        GcsBackend.from_url(url, {})


def test_a_url_with_a_password_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError, match="carries credentials") as err:
        GcsBackend.from_url("gs://me:hunter2-pw@bucket/x", {})
    assert "hunter2" not in f"{err.value.message} {err.value.hint}"


def test_an_endpoint_with_credentials_in_it_is_refused() -> None:
    with pytest.raises(ConfigError, match="carries credentials"):
        GcsBackend.from_url("gs://bucket", {"endpointurl": "http://u:pw@127.0.0.1:1"})
