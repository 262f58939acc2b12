"""The read-only HTTP(S) remote (:mod:`gitext.remotes.http`) against a real HTTP server on
loopback (``tests/helpers/http_remote_server.py``): reads, parallel HEADs and ranged GETs,
retries and resumes, refusals of every write, credentials and where they may go."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from gitext.codec.hashing import ObjectId
from gitext.errors import ConfigError, CorruptObjectError, ObjectMissingError
from gitext.git.repo import Repo
from gitext.remotes import Remote
from gitext.remotes import http as http_mod
from gitext.remotes.backend import (
    ANONYMOUS,
    RemoteRefusedError,
    TransientRemoteError,
    read_bounded,
)
from gitext.remotes.http import HttpBackend
from gitext.sync import gc, transfer
from gitext.sync.prepush import remote_status
from gitext.sync.references import find_references
from tests.helpers import archives, git, serve_http
from tests.helpers.http_remote_server import HttpRemote, make_tls, serve_https
from tests.helpers.listener import listening
from tests.helpers.s3 import add_dir_remote, cache_objects, drop_cache, make_data_repo

USER = "alice"
PASSWORD = "pa55-never-printed-7Hq2"
TOKEN = "tok-never-printed-0a9b8c"


def _key(data: bytes) -> str:
    return ObjectId("sha256", hashlib.sha256(data).hexdigest()).key


@pytest.fixture(autouse=True)
def _no_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranged downloads from 1 MiB up, in 256 KiB parts (the real sizes need 64 MiB)."""
    monkeypatch.setattr(http_mod, "RANGED_THRESHOLD", 1 << 20)
    monkeypatch.setattr(http_mod, "PART_SIZE", 1 << 18)


def _backend(remote: HttpRemote, **options: str) -> Iterator[HttpBackend]:
    backend = HttpBackend.from_url(remote.url, options)
    backend.max_delay = 0.05
    yield backend
    backend.close()


@pytest.fixture
def backend(http_remote: HttpRemote) -> Iterator[HttpBackend]:
    yield from _backend(http_remote)


def _no_secret(text: str) -> None:
    for secret in (PASSWORD, TOKEN):
        assert secret not in text


# -- reads ------------------------------------------------------------------------------------

def test_an_object_read_into_memory_stops_at_its_bound(http_remote: HttpRemote,
                                                      backend: HttpBackend) -> None:
    data = os.urandom(2 << 20)
    http_remote.put(_key(data), data)
    with pytest.raises(CorruptObjectError, match="larger than any pack index can be"):
        read_bounded(backend, _key(data), limit=100_000, what="pack index", hint="h")
    assert len(http_remote.server.seen("GET")) == 1  # refused, not retried


def test_get_streams_an_object_to_a_path_or_an_open_file(http_remote: HttpRemote,
                                                         backend: HttpBackend,
                                                         tmp_path: Path) -> None:
    data = os.urandom(300_000)
    http_remote.put(_key(data), data)
    assert backend.get(_key(data), tmp_path / "out") == len(data)
    assert (tmp_path / "out").read_bytes() == data
    buf = io.BytesIO()
    assert backend.get(_key(data), buf, size=len(data)) == len(data)
    assert buf.getvalue() == data


def test_an_absent_object_is_missing_and_leaves_no_file(backend: HttpBackend,
                                                        tmp_path: Path) -> None:
    with pytest.raises(ObjectMissingError):
        backend.get(_key(b"nope"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_exists_many_heads_every_key_in_parallel(http_remote: HttpRemote,
                                                 backend: HttpBackend) -> None:
    present = []
    for i in range(40):
        data = f"object {i}".encode()
        http_remote.put(_key(data), data)
        present.append(_key(data))
    absent = [_key(f"absent {i}".encode()) for i in range(20)]
    assert backend.exists_many([*present, *absent, present[0]]) == set(present)
    assert len(http_remote.server.seen("HEAD")) == 60  # one per distinct key
    assert backend.exists_many([]) == set()


def test_a_large_object_of_known_size_comes_in_parallel_ranges(
        http_remote: HttpRemote, backend: HttpBackend, tmp_path: Path,
        small_parts: None) -> None:
    data = os.urandom(3 * (1 << 20) + 12345)
    http_remote.put(_key(data), data)
    moved: list[int] = []
    assert backend.get(_key(data), tmp_path / "out", moved.append, size=len(data)) == len(data)
    assert (tmp_path / "out").read_bytes() == data
    assert sum(moved) == len(data)
    ranges = [r.headers.get("Range") for r in http_remote.server.seen("GET")]
    assert len(ranges) == 13 and all(r and r.startswith("bytes=") for r in ranges)


def test_a_server_ignoring_range_still_gives_the_whole_object(
        http_remote: HttpRemote, backend: HttpBackend, tmp_path: Path,
        small_parts: None) -> None:
    http_remote.server.ranges = False
    data = os.urandom(2 * (1 << 20) + 7)
    http_remote.put(_key(data), data)
    assert backend.get(_key(data), tmp_path / "out", size=len(data)) == len(data)
    assert (tmp_path / "out").read_bytes() == data


def test_a_connection_dropped_mid_body_resumes_with_range(
        http_remote: HttpRemote, backend: HttpBackend, tmp_path: Path) -> None:
    data = os.urandom(500_000)
    http_remote.put(_key(data), data)
    http_remote.server.fault("drop", 2, method="GET", after=100_000)
    assert backend.get(_key(data), tmp_path / "out") == len(data)
    assert (tmp_path / "out").read_bytes() == data
    ranges = [r.headers.get("Range") for r in http_remote.server.seen("GET")]
    assert ranges[0] is None and ranges[1] is not None  # resumed after what had come
    resumed = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed <= 100_000


def test_a_part_dropped_mid_body_resumes_within_its_range(
        http_remote: HttpRemote, backend: HttpBackend, tmp_path: Path,
        small_parts: None) -> None:
    data = os.urandom(2 * (1 << 20))
    http_remote.put(_key(data), data)
    http_remote.server.fault("drop", 3, method="GET", after=100_000)
    assert backend.get(_key(data), tmp_path / "out", size=len(data)) == len(data)
    assert (tmp_path / "out").read_bytes() == data


def test_a_server_without_head_is_asked_for_one_byte(http_remote: HttpRemote,
                                                     backend: HttpBackend) -> None:
    http_remote.server.head = False
    data = b"no head"
    http_remote.put(_key(data), data)
    assert backend.exists_many([_key(data), _key(b"absent")]) == {_key(data)}
    assert {r.headers.get("Range") for r in http_remote.server.seen("GET")} == {"bytes=0-0"}


def test_5xx_answers_are_retried(http_remote: HttpRemote, backend: HttpBackend,
                                 tmp_path: Path) -> None:
    data = b"retried"
    http_remote.put(_key(data), data)
    http_remote.server.fault("503", 2)
    http_remote.server.fault("500", 1)
    assert backend.exists_many([_key(data)]) == {_key(data)}
    assert backend.get(_key(data), tmp_path / "out") == len(data)


def test_a_server_that_keeps_failing_leaves_nothing_partial(
        http_remote: HttpRemote, backend: HttpBackend, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    http_remote.put(_key(data), data)
    # (dropped before any body byte: a drop after some resumes from there, and gets on)
    http_remote.server.fault("drop", 20, method="GET", after=0)
    with pytest.raises(TransientRemoteError, match="kept breaking off"):
        backend.get(_key(data), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    http_remote.server.reset()
    assert backend.get(_key(data), tmp_path / "out") == len(data)


def test_more_bytes_than_the_object_has_are_refused(http_remote: HttpRemote,
                                                    backend: HttpBackend,
                                                    tmp_path: Path) -> None:
    data = os.urandom(1000)
    http_remote.put(_key(data), data + b"trailing junk")
    with pytest.raises(CorruptObjectError):
        backend.get(_key(data), tmp_path / "out", size=len(data))
    assert not (tmp_path / "out").exists()


def test_a_403_is_one_refusal_that_stops_the_rest(http_remote: HttpRemote,
                                                 backend: HttpBackend) -> None:
    http_remote.server.fault("403", 1000)
    keys = [_key(f"k{i}".encode()) for i in range(100)]
    with pytest.raises(RemoteRefusedError,
                       match=r"answered 403 to HEAD .* \(permission denied\)"):
        backend.exists_many(keys)
    assert len(http_remote.server.seen()) < 100  # the first refusal stopped the rest


# -- writes are refused -----------------------------------------------------------------------

def test_put_delete_and_list_are_refused_without_a_request(
        http_remote: HttpRemote, backend: HttpBackend, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"x")
    for call in (lambda: backend.put(_key(b"x"), src, 1), lambda: backend.delete(_key(b"x")),
                 lambda: list(backend.list("files/")),
                 lambda: list(backend.list_times("files/"))):
        with pytest.raises(RemoteRefusedError, match="is read-only"):
            call()
    assert http_remote.server.seen() == []


# -- credentials ------------------------------------------------------------------------------

def test_a_local_password_is_sent_as_basic_auth(http_remote: HttpRemote,
                                                tmp_path: Path) -> None:
    http_remote.server.basic(USER, PASSWORD)
    data = b"private"
    http_remote.put(_key(data), data)
    for b in _backend(http_remote, user=USER, password=PASSWORD):
        assert b.exists_many([_key(data)]) == {_key(data)}
        _no_secret(repr(b))
    for b in _backend(http_remote, user=USER, password="wrong"):
        with pytest.raises(RemoteRefusedError, match="password in your git config was refused"
                           ) as exc:
            b.get(_key(data), tmp_path / "out")
        _no_secret(str(exc.value) + str(exc.value.hint))


def test_a_token_is_sent_as_a_bearer(http_remote: HttpRemote) -> None:
    http_remote.server.auth = f"Bearer {TOKEN}"
    data = b"token"
    http_remote.put(_key(data), data)
    for b in _backend(http_remote, token=TOKEN):
        assert b.exists_many([_key(data)]) == {_key(data)}
    for b in _backend(http_remote, auth="bearer", token="nope"):
        with pytest.raises(RemoteRefusedError, match="token in your git config was refused"):
            b.exists_many([_key(data)])


def _credential_store(home: Path, remote: HttpRemote, password: str) -> Path:
    store = home / "git-credentials"
    hostport = remote.server.url.removeprefix("http://")
    store.write_text(f"http://{USER}:{password}@{hostport}\n")
    git(home, "config", "--global", "credential.helper", f"store --file={store}")
    return store


def test_git_credential_fill_answers_a_401(http_remote: HttpRemote, backend: HttpBackend,
                                          isolated_home: Path) -> None:
    http_remote.server.basic(USER, PASSWORD)
    _credential_store(isolated_home, http_remote, PASSWORD)
    keys = []
    for i in range(10):
        data = f"cred {i}".encode()
        http_remote.put(_key(data), data)
        keys.append(_key(data))
    assert backend.exists_many(keys) == set(keys)


def test_refused_git_credentials_are_rejected_and_never_shown(
        http_remote: HttpRemote, backend: HttpBackend, isolated_home: Path) -> None:
    http_remote.server.basic(USER, "another-password")
    store = _credential_store(isolated_home, http_remote, PASSWORD)
    with pytest.raises(RemoteRefusedError, match="credentials from git credential were "
                       "refused") as exc:
        backend.exists_many([_key(b"a"), _key(b"b")])
    _no_secret(str(exc.value) + str(exc.value.hint))
    assert PASSWORD not in store.read_text()  # rejected: git asks again next time


def test_no_credentials_at_all_is_one_clear_refusal(http_remote: HttpRemote,
                                                    backend: HttpBackend) -> None:
    http_remote.server.basic(USER, PASSWORD)
    with pytest.raises(RemoteRefusedError, match="git credential fill gave none"):
        backend.exists_many([_key(b"a")])


def test_an_anonymous_remote_never_sends_or_asks_for_credentials(
        http_remote: HttpRemote, isolated_home: Path) -> None:
    """The URL came only from the committed file: neither the stored git credential nor a
    local password goes there, and git credential is not even asked."""
    http_remote.server.basic(USER, PASSWORD)
    _credential_store(isolated_home, http_remote, PASSWORD)
    trace = isolated_home / "credential-asked"
    git(isolated_home, "config", "--global", "--add", "credential.helper",
        f"!f() {{ touch {trace}; }}; f")
    for b in _backend(http_remote, **{ANONYMOUS: "true", "password": PASSWORD, "user": USER}):
        with pytest.raises(RemoteRefusedError, match="comes only from the repository"):
            b.exists_many([_key(b"a")])
    assert not trace.exists()
    assert all("Authorization" not in r.headers for r in http_remote.server.seen())


def test_a_redirect_to_another_host_gets_no_credentials(http_remote: HttpRemote,
                                                        tmp_path: Path) -> None:
    data = b"moved"
    with listening() as evil:
        http_remote.server.redirect_to = evil.url
        for b in _backend(http_remote, user=USER, password=PASSWORD):
            assert b.exists_many([_key(data)]) == set()  # the other host answers 404
            with pytest.raises(ObjectMissingError):
                b.get(_key(data), tmp_path / "out")
        assert len(evil.requests) == 2
        assert not evil.carrying("Authorization", PASSWORD)
    # ...while the remote's own host got them
    assert all("Authorization" in r.headers for r in http_remote.server.seen())


def test_a_redirect_to_a_host_wanting_credentials_neither_asks_nor_rejects(
        http_remote: HttpRemote, isolated_home: Path) -> None:
    store = _credential_store(isolated_home, http_remote, PASSWORD)
    seen: list[dict[str, str]] = []

    class WantsLogin(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            seen.append(dict(self.headers))
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="elsewhere"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    with serve_http(WantsLogin) as other:
        http_remote.server.redirect_to = other
        for b in _backend(http_remote):
            with pytest.raises(RemoteRefusedError, match="to another host, which wants"):
                b.exists_many([_key(b"a")])
    assert seen and all("Authorization" not in h for h in seen)
    assert PASSWORD in store.read_text()  # not rejected: it was never the remote's answer


# -- bad configuration ------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "options", "needle"), [
    ("http://user:pw@127.0.0.1/x", {}, "is not http(s)://host/path"),
    ("http://127.0.0.1/x?sig=1", {}, "is not http(s)://host/path"),
    ("ftp://127.0.0.1/x", {}, "is not http(s)://host/path"),
    ("http://127.0.0.1/x", {"auth": "digest"}, "is not basic or bearer"),
    ("http://127.0.0.1/x", {"sslverify": "/no/such/ca.pem"}, "CA bundle"),
    ("http://127.0.0.1/x", {"readtimeout": "soon"}, "number of seconds"),
    ("http://127.0.0.1/x", {"jobs": "many"}, "whole number"),
])
def test_bad_settings_are_one_clear_error(url: str, options: dict[str, str],
                                          needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        HttpBackend.from_url(url, options)
    assert needle in exc.value.message
    assert "pw" not in exc.value.message


def test_an_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = HttpBackend.from_url(f"http://127.0.0.1:{port}/remote", {})
    b.max_delay = 0.01
    with pytest.raises(TransientRemoteError, match="failed"):
        b.exists_many([_key(b"x")])


# -- the sync layer over an http mirror of a directory remote ---------------------------------

FILES = {"a.bin": os.urandom(50_000), "sub/b.bin": os.urandom(70_000), "c.bin": b"c" * 9000}


@pytest.fixture
def mirrored(tmp_path: Path, http_remote: HttpRemote) -> Iterator[tuple[Repo, Remote]]:
    """A repository whose objects were pushed to its directory remote ``storage``, which
    the http server also serves (the remote ``mirror``); its cache is then emptied."""
    repo = make_data_repo(tmp_path / "repo", FILES)
    add_dir_remote(repo, http_remote.folder)
    archives(repo, "push")
    drop_cache(repo)
    for b in _backend(http_remote):
        yield Repo.discover(repo), Remote("mirror", http_remote.url, b)


def test_fetch_and_status_read_the_mirror(mirrored: tuple[Repo, Remote]) -> None:
    repo, mirror = mirrored
    refs = find_references(repo, None)
    status = remote_status(repo, mirror, refs)
    assert (len(status.remote_only), status.local_only, status.nowhere) == (3, [], [])
    report = transfer.fetch(repo, mirror, find_references(repo, None))
    assert report.ok and len(report.transferred) == 3
    assert cache_objects(repo.worktree or Path()) == {
        f"files/{_key(d).removeprefix('files/')}" for d in FILES.values()}


def test_push_and_gc_refuse_a_read_only_remote_before_any_request(
        mirrored: tuple[Repo, Remote], http_remote: HttpRemote) -> None:
    repo, mirror = mirrored
    with pytest.raises(RemoteRefusedError) as exc:
        transfer.push(repo, mirror, find_references(repo, None))
    assert "remote 'mirror'" in exc.value.message and "is read-only" in exc.value.message
    assert "use 'storage' instead" in exc.value.message
    assert exc.value.hint is not None and "git archives push -r storage" in exc.value.hint
    with pytest.raises(RemoteRefusedError, match="cannot delete objects"):
        gc.plan_gc(repo, all_commits=False, remote=mirror, expire=0)
    assert http_remote.server.seen() == []


def test_a_corrupt_object_on_the_mirror_never_enters_the_cache(
        mirrored: tuple[Repo, Remote], http_remote: HttpRemote) -> None:
    repo, mirror = mirrored
    http_remote.server.fault("corrupt", 1, method="GET")
    report = transfer.fetch(repo, mirror, find_references(repo, None))
    assert len(report.corrupt) == 1 and len(report.transferred) == 2
    root = repo.worktree or Path()
    assert len(cache_objects(root)) == 2
    assert not any((root / ".git" / "archives" / "tmp").glob("*"))


def test_small_objects_are_verified_in_memory_and_cached_read_only(
        mirrored: tuple[Repo, Remote], http_remote: HttpRemote) -> None:
    """A small object is held in memory until its hash checks (gitext.sync.download): one
    the mirror serves with bytes beyond its size never reaches the cache, even in part."""
    repo, mirror = mirrored
    longer = http_remote.folder / _key(FILES["a.bin"])
    longer.chmod(0o644)
    longer.write_bytes(FILES["a.bin"] + b"and more")
    report = transfer.fetch(repo, mirror, find_references(repo, None))
    assert len(report.corrupt) == 1 and len(report.transferred) == 2
    root = repo.worktree or Path()
    cached = cache_objects(root)
    assert len(cached) == 2 and f"files/{_key(FILES['a.bin']).removeprefix('files/')}" \
        not in cached
    assert not any((root / ".git" / "archives" / "tmp").rglob("fetch-*"))
    for key in cached:
        assert (root / ".git" / "archives" / key).stat().st_mode & 0o222 == 0


# -- TLS --------------------------------------------------------------------------------------

def test_https_verifies_the_certificate_unless_sslverify_says_otherwise(
        http_remote: HttpRemote, tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    data = b"over tls"
    http_remote.put(_key(data), data)
    with serve_https(http_remote.server, tls) as base:
        url = f"{base}/{http_remote.folder.name}"
        with pytest.raises(RemoteRefusedError, match="TLS handshake failed") as exc:
            HttpBackend.from_url(url, {}).exists_many([_key(data)])
        assert exc.value.hint is not None and "sslverify" in exc.value.hint
        for options in ({"sslverify": str(tls.ca)}, {"sslverify": "false"}):
            b = HttpBackend.from_url(url, options)
            assert b.exists_many([_key(data)]) == {_key(data)}
            b.close()
