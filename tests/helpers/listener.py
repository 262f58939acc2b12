"""An attacker's HTTP listener on loopback: records every request it receives (method, path,
headers), and either answers 404 or, with ``upstream``, forwards to a real S3 (moto)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.helpers import serve_http


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]

    def text(self) -> str:
        return f"{self.method} {self.path}\n" + "\n".join(
            f"{k}: {v}" for k, v in self.headers.items())


@dataclass
class Listener:
    url: str = ""
    upstream: str | None = None
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def carrying(self, *needles: str) -> list[Seen]:
        """The requests whose method, path or any header holds one of ``needles``."""
        with self.lock:
            return [r for r in self.requests if any(n in r.text() for n in needles)]


def _handler(listener: Listener) -> type[BaseHTTPRequestHandler]:
    from tests.helpers.s3 import QuietHandler

    class Handler(QuietHandler):

        def _handle(self) -> None:
            body = self._body()
            with listener.lock:
                listener.requests.append(Seen(self.command, self.path, dict(self.headers)))
            if listener.upstream is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._forward(listener.upstream, body)

        def _forward(self, upstream: str, body: bytes) -> None:
            status, kept, data, length = self._ask_upstream(upstream, body)
            self.send_response(status)
            for k, v in kept:
                self.send_header(k, v)
            length = length if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

    return Handler


@contextmanager
def listening(upstream: str | None = None) -> Iterator[Listener]:
    listener = Listener(upstream=upstream)
    with serve_http(_handler(listener)) as listener.url:
        yield listener
