"""``git-archives filter-clean|filter-smudge -- PATH``: one file, stdin to stdout.

git prefers ``filter.<driver>.process`` (:mod:`gitext.filters.process`); these are the
single-file ``clean``/``smudge`` commands git and other tools fall back to. They are set for
``filter=lfs`` in a clone we serve, so that a global ``git lfs install`` (which sets
``filter.lfs.clean``/``smudge`` to git-lfs) is overridden in full. Same driver, same
results; nothing can be delayed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

from gitext.codec.hashing import CHUNK
from gitext.errors import ArchivesError
from gitext.filters.largefile import LargeFileDriver
from gitext.filters.protocol import ContentSink
from gitext.log import note


class StreamSink(ContentSink):
    """The driver's output written straight to a file (no pkt-lines, no status)."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__(out)
        self._plain = out

    def write(self, data: bytes | memoryview) -> None:
        self._plain.write(data)

    def start_stream(self, *, long: bool = True) -> None:
        return None

    @property
    def can_send_file(self) -> bool:
        return False


def run_once(command: str, path: str, *, inp: BinaryIO | None = None,
             out: BinaryIO | None = None) -> int:
    """Clean or smudge one file read from ``inp``; exit code 1 (and one line) on failure."""
    src = inp if inp is not None else sys.stdin.buffer
    dst = out if out is not None else sys.stdout.buffer
    content = iter(lambda: src.read(CHUNK), b"")
    sink = StreamSink(dst)
    driver = LargeFileDriver(Path.cwd())  # git runs the command at the work tree's top
    try:
        if command == "clean":
            driver.clean(path, content, sink)
        else:
            driver.smudge(path, content, sink, can_delay=False)
    except ArchivesError as exc:
        where = "" if exc.message.startswith(path) else f"{path}: "
        note(f"{where}{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        return 1
    finally:
        driver.close()
    dst.flush()
    return 0
