"""Git's pkt-line framing (gitprotocol-common(5)).

A packet is 4 hex digits of length (including the 4 themselves) then the payload; ``0000``
is a flush. Payloads are at most 65516 bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from gitext.errors import ProtocolError

MAX_PAYLOAD = 65516
FLUSH = b"0000"


def encode(payload: bytes) -> bytes:
    """One packet carrying ``payload`` (which must fit in one packet)."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"pkt-line payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return b"%04x" % (len(payload) + 4) + payload


def encode_text(line: str) -> bytes:
    return encode(line.encode("utf-8") + b"\n")


def read_packet(stream: BinaryIO) -> bytes | None:
    """The next payload, or None for a flush packet. EOF mid-stream is a ProtocolError."""
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
    payload = _read_exact(stream, length - 4, allow_eof=False)
    assert payload is not None
    return payload


def read_text_list(stream: BinaryIO) -> list[str]:
    """Text packets up to the next flush, trailing LF removed."""
    out: list[str] = []
    while True:
        pkt = read_packet(stream)
        if pkt is None:
            return out
        out.append(pkt.decode("utf-8", "surrogateescape").removesuffix("\n"))


def iter_payloads(stream: BinaryIO) -> Iterator[bytes]:
    """Content packets up to the next flush."""
    while True:
        pkt = read_packet(stream)
        if pkt is None:
            return
        yield pkt


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


class PacketWriter:
    """Writes content as a run of packets, buffering so each packet is full-sized."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self._buf = bytearray()

    def write(self, data: bytes | memoryview) -> int:
        self._buf += data
        if len(self._buf) >= MAX_PAYLOAD:
            self._drain(final=False)
        return len(data)

    def _drain(self, *, final: bool) -> None:
        buf = self._buf
        pos = 0
        end = len(buf)
        chunks = []
        while end - pos >= MAX_PAYLOAD or (final and pos < end):
            take = min(MAX_PAYLOAD, end - pos)
            chunks.append(b"%04x" % (take + 4))
            chunks.append(bytes(buf[pos:pos + take]))
            pos += take
        if chunks:
            self.out.write(b"".join(chunks))
        del buf[:pos]

    def finish(self) -> None:
        """Flush the remaining partial packet (does not write the flush packet)."""
        self._drain(final=True)
