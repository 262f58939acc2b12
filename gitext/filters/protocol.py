"""What a filter driver is given and gives back: the :class:`Driver` protocol and the
:class:`ContentSink` a response is written to (git's long-running filter protocol,
gitprotocol-common(5); the server loop is :mod:`gitext.filters.process`)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from gitext.codec import pktline
from gitext.fs.atomic import write_all


class Driver(Protocol):
    """What a filter does with one file. Content arrives as an iterator of packets that the
    driver must consume completely (the server drains whatever it leaves)."""

    @property
    def capabilities(self) -> tuple[str, ...]: ...

    def clean(self, path: str, content: Iterator[bytes], out: ContentSink) -> None: ...

    def smudge(self, path: str, content: Iterator[bytes], out: ContentSink,
               *, can_delay: bool) -> bool:
        """Write the smudged content; return True to answer ``delayed`` instead."""
        ...

    def list_available(self) -> list[str]:
        """Delayed paths that can now be asked for again (may block to fetch them)."""
        ...

    def close(self) -> None: ...


class ContentSink:
    """Collects a response. Small responses are buffered; large ones stream as packets after
    the ``status=success`` header has been sent (see :meth:`start_stream`)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._buf: list[bytes] = []
        self._writer: pktline.PacketWriter | None = None

    def write(self, data: bytes | memoryview) -> None:
        """Send ``data`` (or keep a copy of it: a caller may reuse its buffer)."""
        if self._writer is not None:
            self._writer.write(data)
        else:
            self._buf.append(bytes(data))

    def start_stream(self, *, long: bool = True) -> None:
        """Commit to success: send the status now and stream the rest. A ``long`` stream
        (a large file's) goes through :class:`pktline.SplicedPacketWriter` where it can."""
        if self._writer is None:
            self._out.write(pktline.encode_text("status=success") + pktline.FLUSH)
            self._writer = (pktline.SplicedPacketWriter.for_pipe(self._out) if long
                            else pktline.PacketWriter(self._out))
            for b in self._buf:
                self._writer.write(b)
            self._buf.clear()

    @property
    def can_send_file(self) -> bool:
        return hasattr(os, "splice") and hasattr(self._out, "fileno")

    def send_file(self, fd: int, size: int) -> None:
        """Stream ``size`` bytes of the open file ``fd`` as packets, page cache to pipe with
        splice(2): no copy through Python. Only after :meth:`start_stream`."""
        assert self._writer is not None
        self._writer.finish()  # whatever was buffered goes out first, as its own packet
        self._out.flush()
        out_fd = self._out.fileno()
        offset = 0
        while offset < size:
            n = min(pktline.MAX_PAYLOAD, size - offset)
            write_all(out_fd, b"%04x" % (n + 4))
            sent = 0
            while sent < n:
                moved = os.splice(fd, out_fd, n - sent, offset_src=offset + sent)
                if moved == 0:
                    raise OSError(errno.EIO, "the object is shorter than its pointer says")
                sent += moved
            offset += n

    def finish_success(self) -> None:
        if self._writer is None:
            self.start_stream(long=False)
        assert self._writer is not None
        self._writer.finish()
        # Content flush, then an empty status list: "keep status=success".
        self._out.write(pktline.FLUSH + pktline.FLUSH)

    def finish_error(self) -> None:
        if self._writer is not None:
            # Content already went out: end it and override the status.
            self._writer.finish()
            self._out.write(pktline.FLUSH + pktline.encode_text("status=error") + pktline.FLUSH)
        else:
            self._out.write(pktline.encode_text("status=error") + pktline.FLUSH)
