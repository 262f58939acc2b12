"""Content packets from git as the large-file filter reads them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from gitext.codec import pktline
from gitext.codec.hashing import CHUNK, ObjectId
from gitext.filters.protocol import ContentSink
from gitext.store.objects import LocalStore

if TYPE_CHECKING:
    from concurrent.futures import Future


class PacketReader:
    """A file-like view over the content packets (for LocalStore.add_stream)."""

    def __init__(self, head: list[bytes], rest: Iterator[bytes]) -> None:
        self._head = head
        self._rest = rest
        self._pending = b""

    def read(self, n: int = -1) -> bytes:
        parts = [self._pending] if self._pending else []
        got = len(self._pending)
        self._pending = b""
        while n < 0 or got < n:
            if self._head:
                pkt = self._head.pop(0)
            else:
                pkt = next(self._rest, b"")
                if not pkt:
                    break
            parts.append(pkt)
            got += len(pkt)
        data = b"".join(parts)
        if 0 <= n < len(data):
            self._pending = data[n:]
            data = data[:n]
        return data


def hash_all(head: list[bytes], content: Iterator[bytes]) -> tuple[str, int]:
    """sha256 hex digest and size of ``head`` and the rest of git's content."""
    h = hashlib.sha256()
    n = feed_all(head, content, h.update)
    return h.hexdigest(), n


def feed_all(head: list[bytes], content: Iterator[bytes],
             feed: Callable[[bytes | memoryview], object]) -> int:
    """Give ``head`` and the rest of git's content to ``feed`` in order; the byte count.
    ``feed`` runs on a thread while the next buffer is read from git's pipe (hashers
    release the GIL on big buffers)."""
    n = 0
    for pkt in head:
        feed(pkt)
        n += len(pkt)
    if not isinstance(content, pktline.Payloads):
        for pkt in content:
            feed(pkt)
            n += len(pkt)
        return n
    from concurrent.futures import ThreadPoolExecutor  # (its import costs every filter 5 ms)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[object] | None = None
        for view in content.views(buffers=2):  # one fed while the other fills
            if pending is not None:
                pending.result()
            pending = pool.submit(feed, view)
            n += len(view)
        if pending is not None:
            pending.result()
    return n


def count_rest(content: Iterator[bytes]) -> int:
    """Read the rest of git's content; its byte count."""
    if isinstance(content, pktline.Payloads):
        return content.drain()
    return sum(len(p) for p in content)


def pass_through(head: list[bytes], content: Iterator[bytes], out: ContentSink) -> None:
    for pkt in head:
        out.write(pkt)
    for pkt in content:
        out.write(pkt)


def buffer_upto(head: list[bytes], content: Iterator[bytes],
                 limit: int) -> tuple[list[bytes], int]:
    """Read packets until more than ``limit`` bytes or the end; return them and the count."""
    size = sum(len(p) for p in head)
    while size <= limit:
        pkt = next(content, None)
        if pkt is None:
            return head, size
        head.append(pkt)
        size += len(pkt)
    return head, size + 1  # more than the limit: exact size does not matter


def same_head(path: str, first: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(first)) == first
    except OSError:
        return False


def reread(store: LocalStore, oid: ObjectId, n: int) -> Iterator[bytes]:
    with store.open(oid) as f:
        left = n
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
