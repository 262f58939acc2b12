"""What a transfer moves and reports, and how its items run in parallel.

:class:`TransferItem`, :class:`TransferReport`, :class:`ProgressSink` and
:func:`run_parallel` are shared by :mod:`gitext.sync.transfer` (whole objects) and
:mod:`gitext.sync.chunksync` (chunked ones); :mod:`gitext.sync.transfer` re-exports them.

Lower layer: never prints.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Protocol

from gitext.codec.hashing import ObjectId
from gitext.config import format_size
from gitext.errors import (
    ArchivesError,
    CorruptObjectError,
    ObjectMissingError,
    StoreWriteError,
)
from gitext.record import Record
from gitext.remotes.backend import RemoteRefusedError
from gitext.store.objects import LocalStore
from gitext.sync.references import References


class ProgressSink(Protocol):
    def advance(self, nbytes: int) -> None: ...
    def file_done(self) -> None: ...


class TransferReport(Record):
    """What a push or fetch did. ``failed`` holds (id, one-line reason)."""

    _fields = ("direction", "requested", "already", "transferred", "bytes", "missing",
               "corrupt", "failed", "withheld")

    def __init__(self, direction: str, requested: int = 0, already: int = 0) -> None:
        self.direction = direction
        self.requested = requested
        self.already = already
        self.transferred: list[ObjectId] = []
        self.bytes = 0
        self.missing: list[ObjectId] = []  # on neither side that matters
        self.corrupt: list[ObjectId] = []
        self.failed: list[tuple[ObjectId, str]] = []
        # directory manifests deliberately not uploaded (id, why): some of their files are
        # not on the remote, e.g. left out by --include. Not a failure by itself.
        self.withheld: list[tuple[ObjectId, str]] = []

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.failed)

    def summary(self) -> str:
        verb = "uploaded" if self.direction == "push" else "downloaded"
        parts = [f"{len(self.transferred)} object(s) {verb} ({format_size(self.bytes)})",
                 f"{self.already} already there"]
        if self.missing:
            where = "in the local cache" if self.direction == "push" else "on the remote"
            parts.append(f"{len(self.missing)} missing {where}")
        if self.corrupt:
            parts.append(f"{len(self.corrupt)} refused as corrupt")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.withheld:
            parts.append(f"{len(self.withheld)} directory manifest(s) withheld")
        return ", ".join(parts)


class TransferItem:
    """One object to move; a ``.dir`` manifest is stored under ``<key>.dir``. Immutable
    and hashable (a plain class: see :mod:`gitext.record`)."""

    __slots__ = ("manifest", "oid")

    def __init__(self, oid: ObjectId, manifest: bool = False) -> None:
        self.oid: Final = oid
        self.manifest: Final = manifest

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not TransferItem:
            return NotImplemented
        assert isinstance(other, TransferItem)  # noqa: S101 - narrowed for the type checker
        return self.oid == other.oid and self.manifest == other.manifest

    def __hash__(self) -> int:
        return hash((self.oid, self.manifest))

    def __repr__(self) -> str:
        return f"TransferItem(oid={self.oid!r}, manifest={self.manifest!r})"

    @property
    def key(self) -> str:
        return self.oid.key + (".dir" if self.manifest else "")


def transfer_items(refs: References | Iterable[ObjectId],
           store: LocalStore) -> tuple[list[TransferItem], list[TransferItem]]:
    """(files, manifests). Plain ids count as manifests when only ``<key>.dir`` is cached."""
    if isinstance(refs, References):
        files = {TransferItem(o) for o in refs.objects}
        mans = {TransferItem(o, True) for o in refs.manifests}
    else:
        files, mans = set(), set()
        for o in refs:
            if o.algo == "md5" and not store.has(o) and store.key_path(o.key + ".dir").is_file():
                mans.add(TransferItem(o, True))
            else:
                files.add(TransferItem(o))
    return sorted(files, key=lambda i: i.key), sorted(mans, key=lambda i: i.key)


def run_parallel(items: Sequence[TransferItem], jobs: int,
                 work: Callable[[TransferItem], None], report: TransferReport, *,
                 adapt: bool = False, start: int | None = None) -> None:
    """Run ``work`` over ``items``; a failure of one item is recorded, not fatal, except a
    local write failure (disk full) or a remote refusing as a whole, which stop the run.
    ``adapt`` (``jobs`` is a default, not the user's): start with ``start`` threads (by
    default two a core) and use up to ``jobs`` only while the transfers mostly wait
    (:class:`_Gate`)."""
    stop = threading.Event()
    fatal: list[BaseException] = []
    lock = threading.Lock()

    def one(item: TransferItem) -> None:
        if stop.is_set():
            return
        try:
            work(item)
        except CorruptObjectError:
            with lock:
                report.corrupt.append(item.oid)
        except ObjectMissingError:
            with lock:
                report.missing.append(item.oid)
        except (StoreWriteError, RemoteRefusedError) as exc:
            stop.set()
            with lock:
                fatal.append(exc)
        except ArchivesError as exc:
            with lock:
                report.failed.append((item.oid, exc.message))

    if jobs <= 1 or len(items) <= 1:
        for it in items:
            one(it)
    else:
        n = min(jobs, len(items))
        _in_threads(items, n, one, stop, _Gate(n, start=start) if adapt else None)
    if fatal:
        raise fatal[0]


class _Gate:
    """How many of the ``n`` transfer threads may take items, found by trying. It starts
    at ``start`` (two a core unless told); its first window is not measured (threads start
    and connect). Then it doubles while a window of transfers at the new count finishes
    clearly faster than one at the old count; the first doubling that does not pay is
    undone and the count stays. Bound by latency, each doubling nearly doubles the rate,
    up to ``n``. Bound by the CPU (a server on this machine or the LAN), more threads only
    fight over the GIL, and fewer may be faster: when the very first doubling does not
    pay, half the starting count is tried too, and kept if it is not slower (W12HTTP's
    1,000 small files from a loopback server: 1.8 s with 2 threads, 2.2 s with 4, 2.3 s
    with 16). It never goes below :attr:`FEWEST`. Design notes 56, 60 and 63."""

    GAIN = 1.25  # a doubling must be this much faster to be kept (latency: ~2x)
    FEWEST = 2  # threads a halving may leave
    WINDOW = 32  # transfers per measurement (and at least MIN_SECONDS of them)
    MIN_SECONDS = 0.05

    def __init__(self, n: int, *, start: int | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.n = n
        self.limit = min(n, max(1, start or 2 * (os.cpu_count() or 1)))
        self._first = self.limit
        self._clock = clock
        self._cond = threading.Condition()
        self._settled = self.limit >= n
        self._before: tuple[int, float] | None = None  # (limit, its rate)
        self._halving = False  # measuring half the first count (against ``_before``)
        self._warming = True
        self._start = clock()
        self._count = 0
        self._over = False

    def enter(self, index: int) -> bool:
        """Wait until thread ``index`` may take items; False when the run is over."""
        with self._cond:
            while index >= self.limit and not self._over:
                self._cond.wait()
            return index < self.limit

    def close(self) -> None:
        with self._cond:
            self._over = True
            self._cond.notify_all()

    def done_one(self) -> None:
        with self._cond:
            if self._settled:
                return
            self._count += 1
            took = self._clock() - self._start
            if self._count < self.WINDOW or took < self.MIN_SECONDS:
                return
            rate = self._count / took
            if self._warming:  # the first window: threads start and connect; not a rate
                self._warming = False
                self._next_window(self.limit)
            elif self._halving:  # a window at half the first count: keep it or not
                assert self._before is not None  # noqa: S101 - the first count's window
                if rate < self._before[1]:
                    self.limit = self._before[0]
                self._settle()
            elif self._before is not None and rate < self._before[1] * self.GAIN:
                self.limit = self._before[0]  # the doubling did not pay: back
                if self.limit == self._first and self.limit // 2 >= self.FEWEST:
                    self._halving = True  # then see if half as many do as well
                    self._next_window(self.limit // 2)
                else:
                    self._settle()
            else:
                self._before = (self.limit, rate)
                self._next_window(min(self.n, 2 * self.limit))
                self._settled = self.limit >= self.n

    def _next_window(self, limit: int) -> None:
        self.limit = limit
        self._start, self._count = self._clock(), 0
        self._cond.notify_all()

    def _settle(self) -> None:
        self._settled = True
        self._cond.notify_all()  # (threads let in again by a count put back)


def _in_threads(items: Sequence[TransferItem], n: int, one: Callable[[TransferItem], None],
                stop: threading.Event, gate: _Gate | None = None) -> None:
    """``one`` over ``items`` on ``n`` threads that take the next item in turn. (Not
    ``concurrent.futures``: it imports ``logging``, ~10 ms of every pre-push hook.) An
    unexpected exception stops the others taking items and is raised here; so is Ctrl-C,
    after the running transfers finish or clean up their temp files."""
    queue = iter(items)
    take = threading.Lock()
    raised: list[BaseException] = []

    def worker(index: int) -> None:
        while not stop.is_set():
            if gate is not None and not gate.enter(index):
                return
            with take:
                item = next(queue, None)
            if item is None:
                if gate is not None:
                    gate.close()
                return
            try:
                one(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                raised.append(exc)
                stop.set()
            if gate is not None and stop.is_set():
                gate.close()  # (threads still waiting for their turn end too)
            elif gate is not None:
                gate.done_one()

    threads = [threading.Thread(target=worker, args=(i,), name=f"transfer-{i}", daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        stop.set()  # Ctrl-C: nothing new starts
        if gate is not None:
            gate.close()
        for t in threads:
            t.join()
        raise
    if raised:
        raise raised[0]

