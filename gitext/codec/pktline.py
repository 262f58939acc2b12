"""Git's pkt-line framing (gitprotocol-common(5)).

A packet is 4 hex digits of length (including the 4 themselves) then the payload; ``0000``
is a flush. Payloads are at most 65516 bytes.
"""

from __future__ import annotations

import mmap
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

from gitext.errors import ProtocolError

MAX_PAYLOAD = 65516
FLUSH = b"0000"
_scratch = threading.local()  # Payloads.drain's buffer


def encode(payload: bytes) -> bytes:
    """One packet carrying ``payload`` (which must fit in one packet)."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"pkt-line payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return b"%04x" % (len(payload) + 4) + payload


def encode_text(line: str) -> bytes:
    return encode(line.encode("utf-8") + b"\n")


def read_packet(stream: BinaryIO) -> bytes | None:
    """The next payload, or None for a flush packet. EOF mid-stream is a ProtocolError."""
    length = _read_length(stream)
    if length is None:
        return None
    payload = _read_exact(stream, length, allow_eof=False)
    assert payload is not None
    return payload


def _read_length(stream: BinaryIO) -> int | None:
    """The payload length of the next packet (its header read), or None for a flush."""
    head = _read_exact(stream, 4, allow_eof=True)
    if head is None:
        raise ProtocolError("git closed the filter's input (end of stream)")
    try:
        length = int(head, 16)
    except ValueError:
        raise ProtocolError(f"bad pkt-line length header {head!r}") from None
    if length == 0:
        return None
    if length < 4 or length > MAX_PAYLOAD + 4:
        if length in (1, 2):  # delim / response-end packets: not used by the filter protocol
            raise ProtocolError(f"unexpected special pkt-line {head!r}")
        raise ProtocolError(f"pkt-line length {length} out of range")
    return length - 4


def read_text_list(stream: BinaryIO) -> list[str]:
    """Text packets up to the next flush, trailing LF removed."""
    out: list[str] = []
    while True:
        pkt = read_packet(stream)
        if pkt is None:
            return out
        out.append(pkt.decode("utf-8", "surrogateescape").removesuffix("\n"))


class Payloads:
    """Content packets up to the next flush: an iterator of payloads, which can also hand
    the rest over gathered in a reused buffer (:meth:`views`) or skip it (:meth:`drain`)
    without a new ``bytes`` per packet (a GiB is 16,000 packets)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._done = False

    def __iter__(self) -> Payloads:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        pkt = read_packet(self._stream)
        if pkt is None:
            self._done = True
            raise StopIteration
        return pkt

    def views(self, size: int = 1 << 20, *, buffers: int = 1) -> Iterator[memoryview]:
        """The remaining payloads, packed into ``buffers`` buffers of ``size`` bytes used in
        turn: a view is valid until ``buffers`` more are asked for."""
        ring = [memoryview(bytearray(max(size, MAX_PAYLOAD))) for _ in range(buffers)]
        turn = 0
        view = ring[0]
        filled = 0
        while not self._done:
            n = _read_length(self._stream)
            if n is None:
                self._done = True
                break
            if filled + n > len(view):
                yield view[:filled]
                turn = (turn + 1) % buffers
                view = ring[turn]
                filled = 0
            _readinto_exact(self._stream, view[filled:filled + n])
            filled += n
        if filled:
            yield view[:filled]

    def drain(self) -> int:
        """Read the remaining payloads; their byte count. (Into one small buffer per
        thread, kept: ``git status`` drains thousands of files.)"""
        scratch: memoryview | None = getattr(_scratch, "view", None)
        if scratch is None:
            scratch = _scratch.view = memoryview(bytearray(MAX_PAYLOAD))
        total = 0
        while not self._done:
            n = _read_length(self._stream)
            if n is None:
                self._done = True
                break
            _readinto_exact(self._stream, scratch[:n])
            total += n
        return total


def iter_payloads(stream: BinaryIO) -> Payloads:
    """Content packets up to the next flush."""
    return Payloads(stream)


def _readinto_exact(stream: BinaryIO, view: memoryview) -> None:
    readinto = getattr(stream, "readinto", None)  # (typing's BinaryIO does not declare it)
    if readinto is None:
        data = _read_exact(stream, len(view), allow_eof=False)
        view[:] = data  # type: ignore[assignment]
        return
    got = 0
    while got < len(view):
        n = readinto(view[got:])
        if not n:
            raise ProtocolError(
                f"pkt-line stream truncated: wanted {len(view)} bytes, got {got}")
        got += n


def _read_exact(stream: BinaryIO, n: int, *, allow_eof: bool) -> bytes | None:
    data = stream.read(n)
    if len(data) == n:
        return data
    if not data and allow_eof:
        return None
    # A raw stream may return short reads: keep reading until n bytes or EOF.
    parts = [data]
    got = len(data)
    while got < n:
        more = stream.read(n - got)
        if not more:
            raise ProtocolError(f"pkt-line stream truncated: wanted {n} bytes, got {got}")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


FULL_HEADER = b"%04x" % (MAX_PAYLOAD + 4)
_IOV_MAX = 512  # iovecs per writev (POSIX guarantees 16; Linux takes 1024)


class PacketWriter:
    """Writes content as a run of packets, each full-sized but the last.

    Payload bytes are not copied: full packets go out as (header, slice of the caller's
    buffer) pairs in one ``writev`` on the output's file descriptor — only the bytes short
    of a full packet at the end of a write are kept (copied) for the next one."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self._buf = bytearray()
        self._fd: int | None = None
        if hasattr(os, "writev"):  # (not on Windows)
            try:
                self._fd = out.fileno()
            except (AttributeError, OSError, ValueError):  # io.BytesIO and the like
                self._fd = None

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        pos = 0
        parts: list[bytes | memoryview] = []
        if self._buf:
            need = MAX_PAYLOAD - len(self._buf)
            if n < need:
                self._buf += view
                return n
            parts += [FULL_HEADER, bytes(self._buf), view[:need]]
            self._buf.clear()
            pos = need
        while n - pos >= MAX_PAYLOAD:
            parts += [FULL_HEADER, view[pos:pos + MAX_PAYLOAD]]
            pos += MAX_PAYLOAD
        if pos < n:
            self._buf += view[pos:]
        if parts:
            self._send(parts)
        return n

    def _send(self, parts: list[bytes | memoryview]) -> None:
        if self._fd is None:
            self.out.write(b"".join(parts))
            return
        self.out.flush()  # what was written through ``out`` goes first
        for i in range(0, len(parts), _IOV_MAX):
            _writev_all(self._fd, parts[i:i + _IOV_MAX])

    def finish(self) -> None:
        """Flush the remaining partial packet (does not write the flush packet)."""
        if self._buf:  # through ``out``'s buffer: a small answer costs no extra syscall
            self.out.write(b"%04x" % (len(self._buf) + 4) + bytes(self._buf))
            self._buf.clear()


def _writev_all(fd: int, parts: list[bytes | memoryview]) -> None:
    """``os.writev`` until every byte is out (a write to a pipe may be short)."""
    while parts:
        n = os.writev(fd, parts)
        while parts and n >= len(parts[0]):
            n -= len(parts[0])
            parts = parts[1:]
        if n:
            parts = [memoryview(parts[0])[n:], *parts[1:]]


class PipeRing:
    """Memory that full packets are copied into and spliced from into one pipe (Linux):
    the pipe then holds references to these pages, so the reader (git) never waits while
    we copy into the pipe under its lock. One per output pipe, kept for the process.

    A slot is rewritten only once the pipe has let go of the packet spliced from it: when
    fewer bytes are unread in the pipe (``FIONREAD``) than were spliced after that packet
    (a pipe is first in, first out, and it releases a page as soon as it is read)."""

    SLOT = MAX_PAYLOAD + 4
    SLOTS = 128  # 8 MiB: eight times a 1 MiB pipe, so a slot is almost never waited for

    def __init__(self, pipe: int) -> None:
        import fcntl  # noqa: PLC0415 - POSIX only, as are splice and memfd
        import termios  # noqa: PLC0415

        self.pipe = pipe
        self._ioctl, self._fionread = fcntl.ioctl, termios.FIONREAD
        self.unread()  # (raises where FIONREAD does not work on a pipe)
        self.fd = os.memfd_create("git-archives-packets", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, self.SLOTS * self.SLOT)
            self.mem = mmap.mmap(self.fd, self.SLOTS * self.SLOT)
        except BaseException:
            os.close(self.fd)
            raise
        self._next = 0
        self.spliced = 0  # bytes spliced into the pipe so far
        self._ends = [-1] * self.SLOTS  # per slot: ``spliced`` once its packet went in

    def take(self) -> int:
        """The offset of the next slot, once its last packet has been read."""
        slot = self._next
        self._next = (slot + 1) % self.SLOTS
        end = self._ends[slot]
        while end >= 0 and self.spliced - end < self.unread():
            time.sleep(0.0002)  # (the reader is behind by more than the ring: rare)
        return slot * self.SLOT

    def unread(self) -> int:
        """Bytes not yet read from the pipe (``FIONREAD`` works on either end)."""
        got = self._ioctl(self.pipe, self._fionread, b"\0\0\0\0")
        return int.from_bytes(got, sys.byteorder)

    def send(self, at: int, end: int) -> None:
        """Splice ``mem[at:end]`` (one slot's packet) into the pipe."""
        while at < end:
            moved = os.splice(self.fd, self.pipe, end - at, offset_src=at)
            if moved == 0:
                raise OSError("splice into git's pipe moved nothing")
            at += moved
            self.spliced += moved
        self._ends[(end - 1) // self.SLOT] = self.spliced


_rings: dict[int, PipeRing] = {}


class SplicedPacketWriter(PacketWriter):
    """A :class:`PacketWriter` for a pipe whose full packets go through a :class:`PipeRing`:
    one copy outside the pipe's lock instead of one inside it. For long responses (a big
    file's smudge): git reads a GiB about a fifth faster."""

    def __init__(self, out: BinaryIO, ring: PipeRing) -> None:
        super().__init__(out)
        self._ring = ring

    @classmethod
    def for_pipe(cls, out: BinaryIO) -> PacketWriter:
        """A spliced writer when ``out`` is a pipe and the system can splice, else a plain
        :class:`PacketWriter`."""
        try:
            fd = out.fileno()
            ring = _rings.get(fd)
            if ring is None:
                if not (hasattr(os, "splice") and hasattr(os, "memfd_create")
                        and stat.S_ISFIFO(os.fstat(fd).st_mode)):
                    return PacketWriter(out)
                ring = _rings[fd] = PipeRing(fd)
            return cls(out, ring)
        except (AttributeError, OSError, ValueError, ImportError):
            return PacketWriter(out)

    def _send(self, parts: list[bytes | memoryview]) -> None:
        self.out.flush()  # what was written through ``out`` goes first
        ring = self._ring
        mem = ring.mem
        at = end = -1
        # PacketWriter.write's parts: runs of (FULL_HEADER, payload...), one per packet
        for part in parts:
            if part is FULL_HEADER:
                if at >= 0:
                    ring.send(at, end)
                at = end = ring.take()
            mem[end:end + len(part)] = part
            end += len(part)
        if at >= 0:
            ring.send(at, end)
