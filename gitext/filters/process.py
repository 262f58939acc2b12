"""``git-archives filter-process``: git's long-running filter protocol, version 2.

One process serves every file of a git command. stdout carries only the protocol; every
log line goes to stderr. A problem with one file answers ``status=error`` for that file and
the process lives on; only a broken handshake or a truncated stream ends it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gitext.codec import pktline
from gitext.errors import ArchivesError, ProtocolError
from gitext.filters.protocol import ContentSink, Driver
from gitext.log import note


def _handshake(inp: BinaryIO, out: BinaryIO, supported: tuple[str, ...]) -> set[str]:
    hello = pktline.read_text_list(inp)
    if not hello or hello[0] != "git-filter-client" or "version=2" not in hello[1:]:
        raise ProtocolError(f"unexpected filter handshake {hello!r}: want git-filter-client v2")
    out.write(pktline.encode_text("git-filter-server") + pktline.encode_text("version=2")
              + pktline.FLUSH)
    out.flush()
    caps = {c.removeprefix("capability=") for c in pktline.read_text_list(inp)}
    agreed = [c for c in supported if c in caps]
    out.write(b"".join(pktline.encode_text(f"capability={c}") for c in agreed) + pktline.FLUSH)
    out.flush()
    return set(agreed)


def serve(driver: Driver, inp: BinaryIO, out: BinaryIO) -> int:
    """Run the protocol until git closes our stdin. Returns the process exit code."""
    try:
        agreed = _handshake(inp, out, driver.capabilities)
    except ProtocolError as exc:
        note(f"filter handshake failed: {exc}")
        return 1
    try:
        while True:
            try:
                headers = pktline.read_text_list(inp)
            except ProtocolError as exc:
                if "end of stream" in str(exc):
                    return 0  # git is done with us
                raise
            meta = dict(h.split("=", 1) for h in headers if "=" in h)
            command = meta.get("command")
            if command == "list_available_blobs":
                _list_available(driver, out)
            elif command not in ("clean", "smudge") or command not in agreed:
                note(f"unsupported filter command {command!r}")
                _drain(pktline.iter_payloads(inp))
                out.write(pktline.encode_text("status=error") + pktline.FLUSH)
                out.flush()
            else:
                _filter_one(driver, command, meta, inp, out)
    except ProtocolError as exc:
        note(f"filter protocol error: {exc}")
        return 1
    except BrokenPipeError:
        return 0
    finally:
        driver.close()


def _list_available(driver: Driver, out: BinaryIO) -> None:
    """Answer ``list_available_blobs``: the delayed files that are ready now."""
    paths = driver.list_available()
    out.write(b"".join(pktline.encode_text(f"pathname={p}") for p in paths)
              + pktline.FLUSH + pktline.encode_text("status=success")
              + pktline.FLUSH)
    out.flush()


def _filter_one(driver: Driver, command: str, meta: dict[str, str], inp: BinaryIO,
                out: BinaryIO) -> None:
    """One ``clean`` or ``smudge`` request: its content in, its answer out. A problem with
    this file answers ``status=error`` (and is logged); a :class:`ProtocolError` ends the
    process."""
    path = meta.get("pathname", "")
    content = pktline.iter_payloads(inp)
    sink = ContentSink(out)
    delayed = False
    try:
        if command == "clean":
            driver.clean(path, content, sink)
        else:
            delayed = driver.smudge(path, content, sink,
                                    can_delay=meta.get("can-delay") == "1")
        _drain(content)
    except ProtocolError:
        raise
    except ArchivesError as exc:
        _drain(content)
        # Messages usually name the file already; name it once.
        where = "" if exc.message.startswith(path) else f"{path}: "
        note(f"{where}{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        sink.finish_error()
        out.flush()
        return
    except Exception as exc:  # noqa: BLE001 - one bad file must not kill the process
        _drain(content)
        note(f"{path}: {command} failed: {exc.__class__.__name__}: {exc}")
        sink.finish_error()
        out.flush()
        return
    if delayed:
        out.write(pktline.encode_text("status=delayed") + pktline.FLUSH)
    else:
        sink.finish_success()
    out.flush()


def _drain(content: Iterator[bytes]) -> None:
    if isinstance(content, pktline.Payloads):
        content.drain()
        return
    for _ in content:
        pass


def _grow_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe buffer (Linux): 16x fewer context switches per GiB."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass  # not a pipe, not Linux, or above /proc/sys/fs/pipe-max-size: fine as it is


def main(*, notebooks: bool = False) -> int:
    """Entry point of ``git-archives filter-process [--notebooks]``."""
    for fd in (sys.stdin.fileno(), sys.stdout.fileno()):
        _grow_pipe(fd)
    inp = os.fdopen(sys.stdin.fileno(), "rb", buffering=1 << 20, closefd=False)
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=1 << 20, closefd=False)
    root = Path.cwd()  # git starts filters in the top level of the work tree
    driver: Driver
    if notebooks:
        from gitext.filters.notebook import NotebookDriver

        driver = NotebookDriver(root)
    else:
        from gitext.filters.largefile import LargeFileDriver

        driver = LargeFileDriver(root)
    return serve(driver, inp, out)
