from __future__ import annotations

import io
import os
import random
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitext.codec import pktline
from gitext.codec import pointer as ptr
from gitext.codec.hashing import ObjectId
from gitext.errors import PointerError, ProtocolError

HEX = "0123456789abcdef"
digests = st.text(alphabet=HEX, min_size=64, max_size=64)
# None of these properties is about time: a loaded machine must not fail them on
# generation speed or a slow example.
robust = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)


@robust
@given(digests, st.integers(min_value=1, max_value=2**63))
def test_pointer_round_trips_byte_for_byte(digest: str, size: int) -> None:
    p = ptr.Pointer(ObjectId("sha256", digest), size)
    text = p.encode()
    assert ptr.parse(text) == p
    assert text == (f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\n"
                    f"size {size}\n").encode()
    assert len(text) < ptr.MAX_POINTER_SIZE


@robust
@given(digests, st.integers(min_value=1, max_value=2**40))
def test_pointer_reader_accepts_crlf_and_a_missing_final_newline(digest: str, size: int) -> None:
    canonical = ptr.Pointer(ObjectId("sha256", digest), size).encode()
    assert ptr.parse(canonical.replace(b"\n", b"\r\n")).size == size
    assert ptr.parse(canonical.rstrip(b"\n")).size == size


def test_empty_file_pointer_is_the_empty_file() -> None:
    assert ptr.Pointer(ObjectId("sha256", "0" * 64), 0).encode() == b""


@pytest.mark.parametrize("text", [
    b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3\n",
    b"version https://git-lfs.github.com/spec/v1\noid md5:" + b"a" * 32 + b"\nsize 3\n",
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize -3\n",
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 03\n",
    b"version https://example.com/spec/v9\noid sha256:" + b"a" * 64 + b"\nsize 3\n",
    b"version https://git-lfs.github.com/spec/v1\nsize 3\n",
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"A" * 64 + b"\nsize 3\n",
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"../" * 21 + b"a\nsize 3\n",
])
def test_corrupt_pointer_text_is_refused_with_a_reason(text: bytes) -> None:
    with pytest.raises(PointerError) as err:
        ptr.parse(text)
    assert err.value.message
    assert ptr.try_parse(text) is None


@robust
@given(st.binary(max_size=2000))
def test_pointer_reader_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    try:
        ptr.parse(data)
    except PointerError:
        pass


@robust
@given(st.lists(st.binary(min_size=1, max_size=3000), max_size=8))
def test_pktline_round_trips_packets_and_flush(payloads: list[bytes]) -> None:
    stream = io.BytesIO(b"".join(pktline.encode(p) for p in payloads) + pktline.FLUSH)
    assert list(pktline.iter_payloads(stream)) == payloads


@robust
@given(st.binary(max_size=200_000))
def test_packet_writer_splits_content_into_full_packets(data: bytes) -> None:
    out = io.BytesIO()
    w = pktline.PacketWriter(out)
    for i in range(0, len(data), 7777):
        w.write(data[i:i + 7777])
    w.finish()
    out.write(pktline.FLUSH)
    out.seek(0)
    packets = list(pktline.iter_payloads(out))
    assert b"".join(packets) == data
    assert all(len(p) == pktline.MAX_PAYLOAD for p in packets[:-1])


def test_packet_writer_on_a_file_descriptor_writes_views_without_mixing_them(
        tmp_path: Path) -> None:
    # the writev path: views of a buffer the caller reuses right after each write
    data = bytes(range(256)) * 2000
    sizes = [1, 65515, 65516, 65517, 3, 200_000, 70_000]
    with open(tmp_path / "out", "wb", buffering=1 << 20) as f:
        f.write(pktline.encode_text("status=success"))  # buffered: must go out first
        w = pktline.PacketWriter(f)
        buf = bytearray(max(sizes))
        pos = 0
        for n in sizes:
            buf[:n] = data[pos:pos + n]
            w.write(memoryview(buf)[:n])
            buf[:n] = b"\xff" * n  # reused at once
            pos += n
        w.finish()
        f.write(pktline.FLUSH)
    stream = io.BytesIO((tmp_path / "out").read_bytes())
    assert pktline.read_packet(stream) == b"status=success\n"
    packets = list(pktline.iter_payloads(stream))
    assert b"".join(packets) == data[:pos]
    assert all(len(p) == pktline.MAX_PAYLOAD for p in packets[:-1])


def test_payload_views_and_drain_read_every_byte_then_stop_at_the_flush() -> None:
    payloads = [b"a" * 65516, b"b" * 10, b"c" * 65516, b"d" * 5]
    wire = b"".join(pktline.encode(p) for p in payloads) + pktline.FLUSH + pktline.encode(b"x")
    stream = io.BytesIO(wire)
    content = pktline.iter_payloads(stream)
    assert next(content) == payloads[0]
    got = [bytes(v) for v in content.views(size=65526, buffers=2)]
    assert b"".join(got) == b"".join(payloads[1:]) and len(got) == 2
    assert list(content) == [] and pktline.read_packet(stream) == b"x"
    stream = io.BytesIO(wire)
    assert pktline.iter_payloads(stream).drain() == sum(map(len, payloads))
    assert pktline.read_packet(stream) == b"x"
    with pytest.raises(ProtocolError, match="truncated"):
        pktline.iter_payloads(io.BytesIO(wire[:70_000])).drain()


def test_pktline_refuses_an_oversized_payload() -> None:
    with pytest.raises(ValueError):
        pktline.encode(b"x" * (pktline.MAX_PAYLOAD + 1))
    assert len(pktline.encode(b"x" * pktline.MAX_PAYLOAD)) == 65520


@robust
@given(st.binary(min_size=1, max_size=500), st.integers(min_value=1, max_value=400))
def test_truncated_pktline_stream_is_a_protocol_error(payload: bytes, cut: int) -> None:
    encoded = pktline.encode(payload)
    cut = min(cut, len(encoded) - 1)
    with pytest.raises(ProtocolError):
        pktline.read_packet(io.BytesIO(encoded[:cut]))


@pytest.mark.parametrize("head", [b"zzzz", b"0002", b"0003", b"ffff"])
def test_bad_pktline_headers_are_protocol_errors(head: bytes) -> None:
    with pytest.raises(ProtocolError):
        pktline.read_packet(io.BytesIO(head + b"x" * 10))


def test_object_ids_are_validated_before_they_become_paths() -> None:
    with pytest.raises(Exception):
        ObjectId("sha256", "../../etc/passwd")
    with pytest.raises(Exception):
        ObjectId("sha1", "a" * 40)
    assert ObjectId("md5", "a" * 32).key == "files/md5/aa/" + "a" * 30


@robust
@given(st.sampled_from([0, 1, 4095, 4096, 200_000, (1 << 20) - 1, 1 << 20, (1 << 20) + 1,
                        (3 << 20) + 7]),
       st.sampled_from(["sha256", "md5"]))
def test_hash_file_stat_agrees_with_hashlib_around_the_buffer_sizes(size: int,
                                                                     algo: str) -> None:
    import hashlib
    import os
    import tempfile

    from gitext.codec.hashing import hash_file, hash_file_stat

    data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f")
        with open(path, "wb") as f:
            f.write(data)
        digest, n, st_ = hash_file_stat(path, algo)
        assert (digest, n) == (hashlib.new(algo, data).hexdigest(), size)
        assert (digest, n) == hash_file(path, algo)
        assert st_.st_size == size and st_.st_ino == os.stat(path).st_ino


@pytest.mark.skipif(not (hasattr(os, "splice") and hasattr(os, "memfd_create")),
                    reason="splice(2) and memfd_create(2) are Linux's")
@pytest.mark.parametrize("slots", [1, 2, 128])
def test_spliced_packets_reach_a_slow_reader_intact(monkeypatch: pytest.MonkeyPatch,
                                                    slots: int) -> None:
    """The pipe holds references to the ring's pages: a slot must not be rewritten before
    the reader has read the packet spliced from it. With a ring of one or two slots and a
    reader that takes its time, every packet waits for that, and every byte arrives."""
    monkeypatch.setattr(pktline.PipeRing, "SLOTS", slots)
    monkeypatch.setattr(pktline, "_rings", {})
    rng = random.Random(slots)
    data = rng.randbytes(40 * pktline.MAX_PAYLOAD + 12345)
    r, w = os.pipe()
    got = bytearray()

    def read() -> None:
        with os.fdopen(r, "rb", buffering=0) as f:
            while chunk := f.read(rng.choice([1000, 30_000, 70_000])):
                got.extend(chunk)
                time.sleep(0.001)

    reader = threading.Thread(target=read)
    reader.start()
    with os.fdopen(w, "wb", buffering=1 << 16) as out:
        out.write(pktline.encode_text("status=success"))  # buffered: must go out first
        writer = pktline.SplicedPacketWriter.for_pipe(out)
        assert isinstance(writer, pktline.SplicedPacketWriter)
        buf = bytearray(200_000)
        pos = 0
        while pos < len(data):
            n = min(rng.choice([5, 65516, 100_000, 200_000]), len(data) - pos)
            buf[:n] = data[pos:pos + n]
            writer.write(memoryview(buf)[:n])
            buf[:n] = b"\xff" * n  # the caller reuses its buffer at once
            pos += n
        writer.finish()
        out.write(pktline.FLUSH)
    reader.join()
    stream = io.BytesIO(bytes(got))
    assert pktline.read_packet(stream) == b"status=success\n"
    packets = list(pktline.iter_payloads(stream))
    assert b"".join(packets) == data
    assert all(len(p) == pktline.MAX_PAYLOAD for p in packets[:-1])


def test_a_packet_writer_for_a_file_or_a_buffer_does_not_splice(tmp_path: Path) -> None:
    with open(tmp_path / "f", "wb") as f:
        assert type(pktline.SplicedPacketWriter.for_pipe(f)) is pktline.PacketWriter
    assert type(pktline.SplicedPacketWriter.for_pipe(io.BytesIO())) is pktline.PacketWriter
