"""The LFS client's HTTP layer (gitext.remotes.lfshttp) against real loopback servers:
credentials never follow a redirect to another origin, a short body is an error, kept-alive
connections are reused, and coalesced reads neither lose bytes nor leave a socket waiting."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from gitext.remotes.http11 import IncompleteBody
from gitext.remotes.lfsapi import _body
from gitext.remotes.lfshttp import Pool
from tests.helpers import serve_http

BODY = bytes(range(256)) * 800  # 200 KiB


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], int]] = []  # method, path, headers, port
        self.lock = threading.Lock()


def _handler(rec: _Recorder, other: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                   *, pieces: int = 0) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if pieces:  # a server writing its body in small pieces, as giftless does
                for i in range(0, len(body), pieces):
                    self.wfile.write(body[i:i + pieces])
                    self.wfile.flush()
            else:
                self.wfile.write(body)

        def do_GET(self) -> None:
            with rec.lock:
                rec.seen.append(("GET", self.path, dict(self.headers),
                                 self.connection.getpeername()[1]))
            if self.path == "/away":
                self._reply(302, headers={"Location": other[0] + "/landed"})
            elif self.path == "/here":
                self._reply(307, headers={"Location": "/landed"})
            elif self.path == "/short":
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY[:1000])
                self.close_connection = True
            elif self.path == "/trickle":
                self._reply(200, BODY, pieces=100)
            else:
                self._reply(200, b"ok")

    return Handler


@pytest.fixture
def servers() -> Iterator[tuple[str, str, _Recorder]]:
    rec = _Recorder()
    other: list[str] = []
    with serve_http(_handler(rec, other)) as first, serve_http(_handler(rec, other)) as second:
        other.append(second.replace("127.0.0.1", "localhost"))  # another origin
        yield first, second, rec


def _pool() -> Pool:
    return Pool(maxsize=4, connect_timeout=5.0, read_timeout=5.0)


def test_a_redirect_to_another_origin_drops_the_credentials(
        servers: tuple[str, str, _Recorder]) -> None:
    first, _second, rec = servers
    pool = _pool()
    auth = {"Authorization": "Basic c2VjcmV0", "Cookie": "session=1", "X-Other": "kept"}
    resp = pool.request("GET", first + "/away", headers=auth)
    assert resp.status == 200 and resp.read() == b"ok"
    resp.release_conn()
    resp = pool.request("GET", first + "/here", headers=auth)
    assert resp.status == 200
    resp.release_conn()
    pool.clear()
    by_path = {p: h for _m, p, h, _port in rec.seen}
    assert by_path["/away"]["Authorization"] == "Basic c2VjcmV0"
    landed = [h for _m, p, h, _port in rec.seen if p == "/landed"]
    assert "Authorization" not in landed[0] and "Cookie" not in landed[0]  # other origin
    assert landed[0]["X-Other"] == "kept"
    assert landed[1]["Authorization"] == "Basic c2VjcmV0"  # same origin: kept


def test_no_redirect_followed_when_asked_not_to(servers: tuple[str, str, _Recorder]) -> None:
    first, _second, rec = servers
    resp = _pool().request("GET", first + "/away", headers={}, redirects=0)
    assert resp.status == 302
    assert [p for _m, p, _h, _port in rec.seen] == ["/away"]


def test_a_body_shorter_than_its_length_is_an_error(servers: tuple[str, str, _Recorder]) -> None:
    first, _second, _rec = servers
    resp = _pool().request("GET", first + "/short", headers={})
    got = b""
    with pytest.raises(IncompleteBody):
        while chunk := resp.read(4096):
            got += chunk
    assert got == BODY[:1000]
    resp.release_conn()


def test_kept_alive_connections_are_reused(servers: tuple[str, str, _Recorder]) -> None:
    first, _second, rec = servers
    pool = _pool()
    for _ in range(3):
        resp = pool.request("GET", first + "/x", headers={})
        assert resp.read() == b"ok"
        resp.release_conn()
    pool.clear()
    assert len({port for _m, _p, _h, port in rec.seen}) == 1


def test_coalesced_reads_keep_every_byte_and_leave_the_socket_as_it_was(
        servers: tuple[str, str, _Recorder]) -> None:
    first, _second, rec = servers
    pool = _pool()
    resp = pool.request("GET", first + "/trickle", headers={})
    with contextlib.closing(_body(resp, None, len(BODY))) as body:
        assert b"".join(body) == BODY
    resp.release_conn()
    # The same connection answers a 2-byte body at once: no low-water mark was left on it
    # (one would hold the read until the 5 s timeout).
    start = time.monotonic()
    resp = pool.request("GET", first + "/x", headers={})
    assert resp.read() == b"ok"
    resp.release_conn()
    assert time.monotonic() - start < 4.0
    assert len({port for _m, _p, _h, port in rec.seen}) == 1
    pool.clear()
