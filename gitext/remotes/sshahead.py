"""Small objects read from an SSH remote by a second process (W12SSH; design note 64).

asyncssh does an SSH connection's cipher and packet work in Python, on one loop thread. A
fetch of many small objects then has that loop and the threads that verify and store the
objects take turns at one interpreter lock, and a core stays a third idle. From
:data:`WORKER_AT` small objects on, :class:`AheadReads` starts the worker
(:mod:`gitext.remotes.sshworker`, ``python -m``) as a child process with its own connection:
it reads the objects and streams their bytes back through a pipe, while the fetch goes on
(a large file's chunks, say) and then verifies and stores them. Measured: the pull of
W12SSH's 1,000 x 200 KB files 2.57-2.69 s in one process, 1.85-1.93 s with the worker.

The worker gets the remote's URL and options (secrets included) as the first line on its
standard input, never on its command line or in its environment; its standard error is
discarded (library code never prints). It only reads: it writes no file. An object it
cannot read comes back as ``None``, and the caller fetches that one itself, with the
backend's retries and messages; so does every object it never answered (a worker that
failed to start, to log in, or died).

Protocol (both pipes): the header line (JSON), then one line per object,
``<number>\\t<key>\\t<size>``; each answer is :data:`ANSWER` (number, :data:`GOT` = bytes
follow / :data:`NOT_READ`, length) and the bytes, in the order the reads finish.
"""

from __future__ import annotations

import json
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

WORKER_AT = 256  # small objects in one fetch from which a worker pays for its ~0.2 s start
HOLD = 64 << 20  # bytes read ahead and not taken yet, past which the worker is held back
ANSWER = struct.Struct(">IBI")
GOT, NOT_READ = 0, 1


class AheadReads:
    """Reads of ``wanted`` ((key, size) pairs) by a worker process, started at once;
    iterate to get (key, bytes or None) as they arrive, each key exactly once."""

    def __init__(self, url: str, options: Mapping[str, str],
                 wanted: Sequence[tuple[str, int]]) -> None:
        self._keys = [key for key, _size in wanted]
        self._answers: queue.SimpleQueue[tuple[int, bytes | None] | None] = queue.SimpleQueue()
        self._room = threading.Condition()
        self._held = 0  # bytes in _answers (a full pipe then holds the worker's reads)
        self._closed = False
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "gitext.remotes.sshworker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True)
        head = json.dumps({"url": url, "options": dict(options)}) + "\n"
        lines = "".join(f"{i}\t{key}\t{size}\n" for i, (key, size) in enumerate(wanted))
        assert self._proc.stdin is not None and self._proc.stdout is not None  # noqa: S101
        threading.Thread(target=_send, args=(self._proc.stdin, head + lines), daemon=True,
                         name="ssh-worker-send").start()
        threading.Thread(target=self._receive, args=(self._proc.stdout,), daemon=True,
                         name="ssh-worker-receive").start()

    def _receive(self, pipe: IO[bytes]) -> None:
        try:
            while head := _read_exactly(pipe, ANSWER.size):
                number, status, length = ANSWER.unpack(head)
                data = _read_exactly(pipe, length)
                if data is None or number >= len(self._keys):
                    break
                with self._room:
                    while self._held > HOLD and not self._closed:
                        self._room.wait()
                    self._held += len(data)
                self._answers.put((number, data if status == GOT else None))
        except OSError:
            pass
        self._answers.put(None)

    def __iter__(self) -> Iterator[tuple[str, bytes | None]]:
        left = set(range(len(self._keys)))
        while left and (answer := self._answers.get()) is not None:
            number, data = answer
            with self._room:
                self._held -= len(data or b"")
                self._room.notify()
            if number in left:
                left.discard(number)
                yield self._keys[number], data
        for number in sorted(left):  # never answered: the caller's to fetch
            yield self._keys[number], None

    def close(self) -> None:
        with self._room:
            self._closed = True
            self._room.notify()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()


def _send(pipe: IO[bytes], text: str) -> None:
    try:
        pipe.write(text.encode("utf-8", "surrogateescape"))
        pipe.close()
    except OSError:  # the worker is gone: its objects are fetched by the caller
        pass


def _read_exactly(pipe: IO[bytes], n: int) -> bytes | None:
    data = pipe.read(n)  # (a buffered pipe reads until n bytes or the end)
    return data if data is not None and len(data) == n else None
