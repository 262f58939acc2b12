"""gitext.remotes.http11 against the standard library's http.client as the oracle: the same
status, headers and body for any well-formed response (property tests), the same refusal of
what is not HTTP, and no request a header or URL could split."""

from __future__ import annotations

import http.client
import socket
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitext.remotes.http11 import (
    Connection,
    IncompleteBody,
    ProtocolError,
    RawResponse,
    _Reader,
    _request_head,
)

_NAMES = st.sampled_from(["Content-Type", "ETag", "X-Thing", "Retry-After", "Server", "Date",
                          "x-ms-error-code", "Location"])
_VALUES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=0,
                  max_size=30).map(str.strip)


def _parse_both(raw: bytes, method: str = "GET") -> tuple[RawResponse, bytes,
                                                           http.client.HTTPResponse, bytes]:
    """The response ``raw`` read by both parsers (each from a socket of its own)."""
    out = []
    for _ in range(2):
        a, b = socket.socketpair()
        writer = threading.Thread(target=lambda a=a: (a.sendall(raw), a.close()))
        writer.start()
        out.append(b)
        writer.join(timeout=10)
    ours = RawResponse(_Reader(out[0]), method)
    body = b"".join(iter(lambda: ours.read(7), b""))
    theirs = http.client.HTTPResponse(out[1], method=method)
    theirs.begin()
    their_body = theirs.read()
    for s in out:
        s.close()
    return ours, body, theirs, their_body


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, bytes, dict[str, str]]:
    """(the response, its body, its headers but framing): framed by length, by chunks cut
    anywhere, or by the connection's close."""
    status = draw(st.sampled_from([200, 201, 206, 301, 404, 422, 500, 503]))
    body = draw(st.binary(max_size=3000))
    headers = draw(st.dictionaries(_NAMES, _VALUES, max_size=4))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    lines = [f"HTTP/1.1 {status} Some Reason"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=6)))
        pieces = [body[i:j] for i, j in zip([0, *cuts], [*cuts, len(body)], strict=True) if j > i]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        lines.append("Connection: close")
        payload = body
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    return raw, body, headers


@settings(max_examples=150, deadline=None)
@given(responses())
def test_any_framed_response_reads_as_http_client_reads_it(
        case: tuple[bytes, bytes, dict[str, str]]) -> None:
    raw, body, headers = case
    ours, got, theirs, their_body = _parse_both(raw)
    assert (ours.status, got) == (theirs.status, their_body)
    assert got == body
    for name, value in headers.items():
        assert ours.headers.get(name.upper()) == theirs.headers.get(name) == value
    assert ours.isclosed()


def test_a_repeated_header_and_a_folded_one_read_as_http_client_joins_them() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nVary: a\r\nVary: b\r\nX-Long: one\r\n two\r\n"
           b"Content-Length: 2\r\n\r\nok")
    ours, body, theirs, _ = _parse_both(raw)
    assert body == b"ok"
    assert ours.headers.get("vary") == ", ".join(theirs.headers.get_all("Vary") or [])
    assert ours.headers.get("x-long") == "one two"


def test_interim_answers_come_before_the_final_one() -> None:
    ours, body, theirs, _ = _parse_both(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
    assert (ours.status, body, ours.headers.get("X-A")) == (theirs.status, b"", "1")


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nshort",
])
def test_a_body_cut_short_is_an_error(raw: bytes) -> None:
    with pytest.raises(IncompleteBody):
        _parse_both(raw)


@pytest.mark.parametrize("raw", [
    b"",
    b"SSH-2.0-OpenSSH_9.2\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
    # digits to str.isdigit but not to int(): one ProtocolError, never a ValueError
    "HTTP/1.1 200 OK\r\nContent-Length: \u00b2\r\n\r\n".encode("latin-1"),
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
])
def test_what_is_not_http_is_refused(raw: bytes) -> None:
    a, b = socket.socketpair()
    a.sendall(raw)
    a.close()
    with pytest.raises(ProtocolError):
        resp = RawResponse(_Reader(b), "GET")
        resp.read()
    b.close()


def test_a_head_answer_has_no_body_whatever_its_length_says() -> None:
    ours, body, _, _ = _parse_both(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD")
    assert body == b"" and ours.isclosed() and not ours.will_close


@pytest.mark.parametrize(("status", "headers", "closes"), [
    ("HTTP/1.1 200 OK", "Content-Length: 0", False),
    ("HTTP/1.1 200 OK", "Content-Length: 0\r\nConnection: close", True),
    ("HTTP/1.0 200 OK", "Content-Length: 0", True),
    ("HTTP/1.0 200 OK", "Content-Length: 0\r\nConnection: keep-alive", False),
])
def test_a_connection_is_kept_as_http_says(status: str, headers: str, closes: bool) -> None:
    ours, _, theirs, _ = _parse_both(f"{status}\r\n{headers}\r\n\r\n".encode())
    assert ours.will_close is closes is bool(theirs.will_close)


@pytest.mark.parametrize(("target", "headers"), [
    ("/ok HTTP/1.1\r\nX-Injected: 1", {}),
    ("/with space", {}),
    ("/ok", {"X-A": "fine\r\nX-Injected: 1"}),
    ("/ok", {"Bad Name": "v"}),
])
def test_no_url_or_header_can_split_the_request(target: str, headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"request|split"):
        _request_head("GET", target, "example.org", headers)


def test_a_request_carries_its_host_and_a_body_sent_in_parts_needs_its_length() -> None:
    head = _request_head("PUT", "/o?x=1", "h.example:8080", {"Content-Length": "3"})
    assert head.startswith(b"PUT /o?x=1 HTTP/1.1\r\nHost: h.example:8080\r\n"
                           b"Accept-Encoding: identity\r\n")  # never a body we cannot read
    assert head.endswith(b"Content-Length: 3\r\n\r\n")
    server = socket.create_server(("127.0.0.1", 0))
    conn = Connection("127.0.0.1", server.getsockname()[1], connect_timeout=5,
                      read_timeout=5)
    conn.connect()
    with pytest.raises(ValueError, match="Content-Length"):
        conn.request("PUT", "/o", {}, iter([b"abc"]))
    conn.close()
    server.close()


def test_kept_alive_answers_from_a_server_without_nodelay_do_not_wait_for_an_ack(
        tmp_path: Path) -> None:
    """Python's http.server sends a file's headers, then the file, without TCP_NODELAY: its
    last small segment waits for our ACK, which the kernel delays after a request (40 ms)
    unless we ask for quick ACKs. Without them about a third of these requests took 40 ms
    more."""
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    (tmp_path / "f").write_bytes(bytes(range(256)) * 800)  # 200 KiB

    class Files(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            size = (tmp_path / "f").stat().st_size
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            with open(tmp_path / "f", "rb") as f:
                self.connection.sendfile(f)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    conn = Connection("127.0.0.1", httpd.server_address[1], connect_timeout=5, read_timeout=5)
    conn.connect()
    slow = 0
    try:
        for _ in range(60):
            t0 = time.perf_counter()
            resp = conn.request("GET", "/f", {})
            assert len(resp.read()) == 200 * 1024
            slow += time.perf_counter() - t0 > 0.035
    finally:
        conn.close()
        httpd.shutdown()
        httpd.server_close()
    assert slow <= 6
