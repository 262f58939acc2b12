"""run_parallel's adaptive thread count (transferbase._Gate): transfers that wait on the
network get up to ``jobs`` threads; transfers bound by the CPU stay at two a core or go
down to half that, where more threads only fight over the GIL. Real threads, real time
(generous margins), or a fake clock."""

from __future__ import annotations

import os
import threading
import time

import pytest

from gitext.codec.hashing import ObjectId
from gitext.sync import transferbase
from gitext.sync.transferbase import TransferItem, TransferReport, run_parallel

ITEMS = [TransferItem(ObjectId("sha256", f"{i:064x}")) for i in range(240)]


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.seen: list[int] = []  # how many ran at each start

    def run(self, work: float, busy: bool) -> None:
        with self.lock:
            self.active += 1
            self.seen.append(self.active)
        try:
            if busy:  # Python bytecode: holds the GIL the whole time
                end = time.perf_counter() + work
                while time.perf_counter() < end:
                    pass
            else:  # a request's round trip: the GIL is free meanwhile
                time.sleep(work)
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


def test_transfers_that_wait_grow_to_every_thread() -> None:
    c = _Counter()
    run_parallel(ITEMS, 16, lambda _i: c.run(0.02, busy=False), TransferReport("fetch"),
                 adapt=True)
    assert c.seen[:4] == [1, 2, 3, 4] and max(c.seen[:8]) == 4  # it starts at 2 a core
    assert max(c.seen) == 16


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _window(gate: transferbase._Gate, clock: _Clock, seconds: float) -> None:
    """One measurement window of transfers taking ``seconds`` in all."""
    for _ in range(gate.WINDOW):
        clock.now += seconds / gate.WINDOW
        gate.done_one()


def _gate(n: int, clock: _Clock, start: int | None = None) -> transferbase._Gate:
    """A gate past its first window (threads starting and connecting: not measured)."""
    gate = transferbase._Gate(n, start=start, clock=clock)
    limit = gate.limit
    _window(gate, clock, 0.1)
    assert gate.limit == limit
    return gate


def test_a_doubling_that_does_not_pay_is_undone_and_the_count_stays() -> None:
    """Bound by the CPU (the same rate at 8 threads as at 4): back to 4 ... and half as
    many (2) are tried; slower, so back to 4, for good."""
    clock = _Clock()
    gate = _gate(16, clock)
    assert gate.limit == 4
    _window(gate, clock, 0.2)
    assert gate.limit == 8
    _window(gate, clock, 0.19)  # 5% faster: noise, not a gain
    assert gate.limit == 2
    _window(gate, clock, 0.3)  # slower than 4 threads were
    assert gate.limit == 4
    _window(gate, clock, 0.05)  # (a later fast window changes nothing: it settled)
    assert gate.limit == 4


def test_half_the_threads_are_kept_where_they_are_no_slower() -> None:
    """W12HTTP from a loopback server: 2 threads fetch faster than 4 (less fighting over
    the GIL), and the gate finds it."""
    clock = _Clock()
    gate = _gate(16, clock)
    _window(gate, clock, 0.2)
    _window(gate, clock, 0.2)  # 8: no faster
    assert gate.limit == 2
    _window(gate, clock, 0.18)
    assert gate.limit == 2
    _window(gate, clock, 0.5)
    assert gate.limit == 2


def test_a_gate_told_where_to_start_starts_there_and_doubles_from_it() -> None:
    """A push starts at a thread a core (gitext.sync.transfer.push), then doubles; from 2,
    it never halves."""
    clock = _Clock()
    gate = _gate(8, clock, start=2)
    assert gate.limit == 2
    for seconds, limit in ((0.4, 4), (0.2, 8)):
        _window(gate, clock, seconds)
        assert gate.limit == limit
    gate = _gate(8, clock, start=2)
    _window(gate, clock, 0.4)
    _window(gate, clock, 0.4)  # 4: no faster
    assert gate.limit == 2
    _window(gate, clock, 0.05)
    assert gate.limit == 2


def test_doublings_that_pay_go_on_up_to_the_jobs_count() -> None:
    clock = _Clock()
    gate = _gate(16, clock)
    for seconds, limit in ((0.4, 8), (0.2, 16)):
        _window(gate, clock, seconds)
        assert gate.limit == limit
    _window(gate, clock, 0.4)
    assert gate.limit == 16


def test_a_jobs_count_the_user_gave_is_used_from_the_start() -> None:
    c = _Counter()
    run_parallel(ITEMS[:48], 16, lambda _i: c.run(0.05, busy=False), TransferReport("fetch"))
    assert max(c.seen[:24]) == 16


def test_a_failure_that_stops_the_run_ends_the_threads_still_waiting_their_turn() -> None:
    from gitext.errors import StoreWriteError

    def fail(_item: TransferItem) -> None:
        raise StoreWriteError("disk full")

    started = time.perf_counter()
    with pytest.raises(StoreWriteError):
        run_parallel(ITEMS, 16, fail, TransferReport("fetch"), adapt=True)
    assert time.perf_counter() - started < 5  # (no thread left waiting for a turn)
