"""The worker process that reads small objects ahead for an SSH fetch (design note 64).

Started by :class:`gitext.remotes.sshahead.AheadReads` as ``python -m
gitext.remotes.sshworker``; the protocol on its pipes is described there. It logs in with
the URL and options of its first input line, reads each object asked for with the same
backend code as the fetch (:meth:`SshBackend.read_known`), and writes nothing but its
answers: no file, no message.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from gitext.remotes.ssh import SshBackend
from gitext.remotes.sshahead import ANSWER, GOT, NOT_READ


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 16)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    head = json.loads(await reader.readline())
    backend = SshBackend.from_url(head["url"], head["options"])
    gate = asyncio.Semaphore(backend.inflight)
    out = sys.stdout.buffer
    running: set[asyncio.Task[None]] = set()

    async def one(number: int, key: str, size: int) -> None:
        async with gate:
            try:
                data: bytes | None = await backend.read_known(key, size)
            except Exception:  # noqa: BLE001 - the caller fetches it itself and says why
                data = None
        # (a blocking write: the caller reads all the time; a full pipe holds the reads)
        out.write(ANSWER.pack(number, GOT if data is not None else NOT_READ,
                               len(data or b"")) + (data or b""))
        out.flush()

    while line := await reader.readline():
        number, key, size = line.decode("utf-8", "surrogateescape").rstrip("\n").split("\t")
        task = asyncio.ensure_future(one(int(number), key, int(size)))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running)


def main() -> int:
    try:
        asyncio.run(_serve())
    except (Exception, KeyboardInterrupt):  # noqa: BLE001 - what was not answered is the caller's
        return 1
    return 0


if __name__ == "__main__":
    os._exit(main())  # (no interpreter teardown: asyncssh's threads need no goodbye)
