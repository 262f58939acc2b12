"""The two backends behind one interface, exercised identically (S3 over HTTP via moto)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest

from gitext.codec.hashing import ObjectId
from gitext.errors import CorruptObjectError, ObjectMissingError, RemoteError, UsageError
from gitext.remotekinds import url_scheme
from gitext.remotes import check_url
from gitext.remotes.backend import read_bounded
from gitext.remotes.local import LocalBackend
from tests.helpers.s3 import s3_client


def _oid(data: bytes) -> ObjectId:
    return ObjectId("sha256", hashlib.sha256(data).hexdigest())


@pytest.fixture(params=["dir", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "dir":
        root = tmp_path / "remote"
        root.mkdir()
        return LocalBackend(root, os.fspath(root))
    bucket = request.getfixturevalue("bucket")
    endpoint = request.getfixturevalue("moto_endpoint")
    from gitext.remotes.s3 import S3Backend

    return S3Backend.from_url(f"s3://{bucket}/some/prefix", {
        "endpointurl": endpoint, "pathstyle": "true", "region": "us-east-1", "retries": "2"})


def _src(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / f"src-{hashlib.md5(data).hexdigest()}"
    p.write_bytes(data)
    return p


def test_put_then_get_returns_the_same_bytes(backend: Any, tmp_path: Path) -> None:
    data = os.urandom(70_000)
    key = _oid(data).key
    backend.put(key, _src(tmp_path, data), len(data))
    dst = tmp_path / "out"
    assert backend.get(key, dst) == len(data)
    assert dst.read_bytes() == data
    buf = io.BytesIO()
    backend.get(key, buf)
    assert buf.getvalue() == data


def test_a_small_object_read_into_memory_stops_at_its_bound(backend: Any,
                                                           tmp_path: Path) -> None:
    """An index, recipe or manifest is read into memory: past the most bytes it can have,
    the read stops with one refusal (a remote cannot fill the memory), and no retry."""
    data = os.urandom(3 << 20)
    key = _oid(data).key
    backend.put(key, _src(tmp_path, data), len(data))
    assert read_bounded(backend, key, limit=len(data), what="recipe", hint="h") == data
    with pytest.raises(CorruptObjectError, match=r"larger than any recipe can be \(65536 "
                       r"bytes\): refused") as err:
        read_bounded(backend, key, limit=65536, what="recipe", hint="delete it there")
    assert err.value.hint == "delete it there"


def test_exists_many_reports_only_present_keys_listing_busy_folders(backend: Any,
                                                                     tmp_path: Path) -> None:
    stored = []
    for i in range(12):
        data = f"object {i}".encode()
        key = _oid(data).key
        backend.put(key, _src(tmp_path, data), len(data))
        stored.append(key)
    # Force several keys into one folder (the listing path) plus lone keys (HEAD path).
    crowded = [f"files/sha256/ab/{i:062x}" for i in range(5)]
    for key in crowded[:3]:
        backend.put(key, _src(tmp_path, key.encode()), len(key))
    absent = [_oid(f"absent {i}".encode()).key for i in range(5)]
    found = backend.exists_many([*stored, *crowded, *absent])
    assert found == set(stored) | set(crowded[:3])
    assert backend.exists_many([]) == set()


def test_list_yields_every_key_with_its_size(backend: Any, tmp_path: Path) -> None:
    sizes = {}
    for n in (1, 10, 1000):
        data = b"x" * n
        key = _oid(data).key
        backend.put(key, _src(tmp_path, data), n)
        sizes[key] = n
    assert dict(backend.list("files/")) == sizes


def test_get_of_an_absent_key_raises_object_missing(backend: Any, tmp_path: Path) -> None:
    with pytest.raises(ObjectMissingError):
        backend.get(_oid(b"nope").key, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_delete_removes_a_key_and_tolerates_an_absent_one(backend: Any, tmp_path: Path) -> None:
    data = b"to delete"
    key = _oid(data).key
    backend.put(key, _src(tmp_path, data), len(data))
    backend.delete(key)
    backend.delete(key)
    assert backend.exists_many([key]) == set()


def test_a_second_put_of_the_same_object_is_harmless(backend: Any, tmp_path: Path) -> None:
    data = os.urandom(5000)
    key = _oid(data).key
    src = _src(tmp_path, data)
    backend.put(key, src, len(data))
    backend.put(key, src, len(data))
    assert dict(backend.list("files/")) == {key: len(data)}


def test_a_directory_put_leaves_no_temp_file_and_a_read_only_object(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    b = LocalBackend(root, os.fspath(root))
    data = os.urandom(1000)
    key = _oid(data).key
    b.put(key, _src(tmp_path, data), len(data))
    assert list((root / "tmp").iterdir()) == []
    assert (root / key).stat().st_mode & 0o222 == 0


def test_a_large_object_goes_up_and_down_in_parts(bucket: str, moto_endpoint: str,
                                                  tmp_path: Path) -> None:
    from gitext.remotes.s3 import S3Backend

    b = S3Backend.from_url(f"s3://{bucket}", {
        "endpointurl": moto_endpoint, "pathstyle": "true", "region": "us-east-1",
        "multipartthreshold": "5mib", "multipartchunksize": "5mib"})
    data = os.urandom(11 * 1024 * 1024)
    key = _oid(data).key
    moved: list[int] = []
    b.put(key, _src(tmp_path, data), len(data), moved.append)
    assert sum(moved) == len(data)
    etag = s3_client(moto_endpoint).head_object(Bucket=bucket, Key=key)["ETag"]
    assert etag.strip('"').endswith("-3")  # three parts
    dst = tmp_path / "out"
    assert b.get(key, dst) == len(data)
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == _oid(data).digest


def test_a_known_large_size_skips_the_plain_get(bucket: str, proxy: Any,
                                                tmp_path: Path) -> None:
    """A pointer says how big its object is: a large one goes straight to ranged GETs,
    instead of opening a whole-object GET only to close it unread."""
    from gitext.remotes.s3 import S3Backend

    b = S3Backend.from_url(f"s3://{bucket}", {
        "endpointurl": proxy.url, "pathstyle": "true", "region": "us-east-1",
        "multipartthreshold": "5mib", "multipartchunksize": "5mib"})
    data = os.urandom(11 * 1024 * 1024)
    key = _oid(data).key
    b.put(key, _src(tmp_path, data), len(data))

    def gets() -> int:
        return sum(1 for method, _path, _outcome in proxy.seen if method == "GET")

    before = gets()
    assert b.get(key, tmp_path / "hinted", size=len(data)) == len(data)
    hinted = gets() - before
    before = gets()
    assert b.get(key, tmp_path / "unhinted") == len(data)
    unhinted = gets() - before
    assert (tmp_path / "hinted").read_bytes() == data == (tmp_path / "unhinted").read_bytes()
    assert hinted == 3 and unhinted == 4  # three 5 MiB ranges; plus the abandoned GET
    with pytest.raises(ObjectMissingError):
        b.get("files/sha256/00/" + "0" * 62, tmp_path / "absent", size=len(data))
    assert not (tmp_path / "absent").exists()


def test_a_remote_directory_whose_parent_is_missing_is_a_clear_error(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "nowhere" / "store", "nowhere/store")
    with pytest.raises(RemoteError, match="does not exist"):
        b.exists_many(["files/sha256/ab/cd"])


def test_a_new_remote_directory_is_created_on_first_use(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "store", "store")
    assert b.exists_many(["files/sha256/ab/cd"]) == set()
    assert (tmp_path / "store").is_dir()


@pytest.mark.parametrize(("url", "scheme"), [
    ("s3://bucket/p", "s3"), ("/mnt/share", ""), ("../rel", ""), ("file:///x", "file"),
    ("C:\\data", ""), ("S3://Bucket", "s3"),
])
def test_url_scheme_picks_the_backend(url: str, scheme: str) -> None:
    assert url_scheme(url) == scheme


@pytest.mark.parametrize("url", ["webdav://host/x", "hdfs://c", "gdrive://x", ""])
def test_an_unknown_or_empty_url_is_refused(url: str) -> None:
    with pytest.raises(UsageError, match=r"scheme|empty"):
        check_url(url)


def test_a_url_with_credentials_is_refused() -> None:
    with pytest.raises(UsageError, match="credentials"):
        check_url("s3://AKIA:secret@bucket/x")
