"""``watch`` against real file events: a thread runs it, the test saves files and waits."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitext.notebooks.pairing.pair import pair
from gitext.notebooks.pairing.sync import SyncResult
from gitext.notebooks.watch import watch
from tests.helpers import BIN_DIR
from tests.helpers.notebooks import edit_notebook_cell, make_notebook, outputs, sources

# Generous: a loaded machine may take seconds to deliver events and sync (a test that passes
# waits only as long as it must).
TIMEOUT = 30.0


class Watcher:
    def __init__(self, root: Path, debounce: float = 0.1) -> None:
        self.debounce = debounce
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.batches: list[list[SyncResult]] = []
        self.messages: list[str] = []
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(root,), daemon=True)

    def _run(self, root: Path) -> None:
        self.code = watch(root, debounce=self.debounce, stop_event=self.stop,
                          report=self.messages.append, on_sync=self.batches.append,
                          ready=self.ready)

    def wait_for(self, cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; messages: {self.messages}")

    def settle(self, repo: Path) -> None:
        """Save a new pair's notebook (in one rename) and wait for its round: by then every
        file event from before it has been handled, as one observer delivers events in
        order. What a fixed sleep would guess, this knows."""
        tmp = repo / "nbs" / ".marker.ipynb.tmp"  # a dot name: not watched
        make_notebook(tmp, formats="ipynb,md")
        os.replace(tmp, repo / "nbs" / "marker.ipynb")
        self.wait_for(lambda: any(r.notebook.name == "marker.ipynb"
                                  for b in self.batches for r in b), "the marker's round")


def _rounds(batches: list[list[SyncResult]]) -> list[list[tuple[str, str]]]:
    return [[(r.action, r.notebook.name) for r in b] for b in batches]


def _save(path: Path, text: str) -> None:
    """Save in one rename, so that no round can see the file half written."""
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def paired(repo: Path) -> tuple[Path, Path]:
    nb = repo / "nbs" / "a.ipynb"
    make_notebook(nb)
    pair(repo, [nb], "ipynb,py:percent")
    return nb, nb.with_suffix(".py")


@contextlib.contextmanager
def _watching(repo: Path, debounce: float = 0.1) -> Iterator[Watcher]:
    w = Watcher(repo, debounce)
    w.thread.start()
    assert w.ready.wait(TIMEOUT), "watch did not start"
    yield w
    w.stop.set()
    w.thread.join(TIMEOUT)
    assert not w.thread.is_alive(), "watch did not stop"
    assert w.code == 0


@pytest.fixture
def watcher(repo: Path, paired: tuple[Path, Path]) -> Iterator[Watcher]:
    with _watching(repo) as w:
        yield w


def test_saving_the_text_updates_the_notebook(watcher: Watcher,
                                             paired: tuple[Path, Path]) -> None:
    nb, py = paired
    py.write_text(py.read_text().replace("b = 2", "b = 20"))
    watcher.wait_for(lambda: sources(nb)[2] == "b = 20", "the notebook to follow the text")
    assert outputs(nb)[2] == [] and outputs(nb)[1]


def test_saving_the_notebook_updates_the_text(watcher: Watcher,
                                             paired: tuple[Path, Path]) -> None:
    nb, py = paired
    edit_notebook_cell(nb, 3, "c = 30")
    watcher.wait_for(lambda: "c = 30" in py.read_text(), "the text to follow the notebook")


def test_an_editor_saving_by_rename_is_followed(watcher: Watcher,
                                               paired: tuple[Path, Path]) -> None:
    nb, py = paired
    tmp = py.parent / ".a.py.swp~"
    tmp.write_text(py.read_text().replace("a = 1", "a = 100"))
    os.replace(tmp, py)
    watcher.wait_for(lambda: sources(nb)[1] == "a = 100", "the renamed-over text to sync")


def test_its_own_writes_start_no_second_round(watcher: Watcher, repo: Path,
                                             paired: tuple[Path, Path]) -> None:
    _nb, py = paired
    start = len(watcher.batches)
    _save(py, py.read_text().replace("b = 2", "b = 21"))
    watcher.wait_for(lambda: len(watcher.batches) > start, "a sync")
    watcher.settle(repo)  # the notebook write's events have been handled by now
    assert _rounds(watcher.batches[start:]) == [[("notebook-updated", "a.ipynb")],
                                                [("created-text", "marker.ipynb")]]


def test_a_burst_of_saves_is_synced_once(repo: Path, paired: tuple[Path, Path]) -> None:
    nb, py = paired
    # The command's own debounce: far above the gaps between the saves, even when loaded.
    with _watching(repo, debounce=0.3) as watcher:
        start = len(watcher.batches)
        text = py.read_text()
        for i in range(5):
            py.write_text(text.replace("c = 3", f"c = {i}"))
            time.sleep(0.01)
        watcher.wait_for(lambda: sources(nb)[3] == "c = 4", "the last save to sync")
        watcher.settle(repo)
        assert _rounds(watcher.batches[start:]) == [[("notebook-updated", "a.ipynb")],
                                                    [("created-text", "marker.ipynb")]]


def test_a_conflict_is_reported_and_watch_goes_on(repo: Path,
                                                 paired: tuple[Path, Path]) -> None:
    nb, py = paired
    w = Watcher(repo, debounce=1.0)  # long enough to see both saves as one round
    w.thread.start()
    assert w.ready.wait(TIMEOUT)
    try:
        new_text = py.read_text().replace("b = 2", "b = 6")
        edit_notebook_cell(nb, 2, "b = 5")
        py.write_text(new_text)
        w.wait_for(lambda: any(m.startswith("refused:") for m in w.messages), "the refusal")
        assert sources(nb)[2] == "b = 5" and "b = 6" in py.read_text()
        py.write_text(py.read_text().replace("b = 6", "b = 5"))  # settled by hand
        w.wait_for(lambda: any(r.action == "unchanged" for r in w.batches[-1]),
                   "the settled pair")
    finally:
        w.stop.set()
        w.thread.join(TIMEOUT)


def test_a_new_notebook_with_formats_gets_its_text(watcher: Watcher, repo: Path) -> None:
    nb = repo / "nbs" / "new.ipynb"
    make_notebook(nb, formats="ipynb,md")
    watcher.wait_for((repo / "nbs" / "new.md").exists, "the new pair's text")


def test_stop_event_ends_watch_promptly(repo: Path, paired: tuple[Path, Path]) -> None:
    w = Watcher(repo)
    w.thread.start()
    assert w.ready.wait(TIMEOUT)
    t0 = time.monotonic()
    w.stop.set()
    w.thread.join(TIMEOUT)
    assert not w.thread.is_alive() and w.code == 0
    assert time.monotonic() - t0 < 5.0  # promptly: well before the observer's own timeout


def test_ctrl_c_stops_the_command_cleanly(repo: Path, paired: tuple[Path, Path]) -> None:
    proc = subprocess.Popen([str(BIN_DIR / "git-archives"), "watch", "--debounce", "0.1"],
                            cwd=repo, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    def pump() -> None:
        for ln in proc.stderr or []:
            lines.put(ln)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        line = lines.get(timeout=TIMEOUT)
        assert line.startswith("watching "), line
        _nb, py = paired
        py.write_text(py.read_text().replace("a = 1", "a = 7"))
        line = lines.get(timeout=TIMEOUT)
        assert line.startswith("notebook-updated: nbs/a.ipynb <-> nbs/a.py"), line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(3 * TIMEOUT) == 0  # a loaded machine may take a while to stop
        reader.join(TIMEOUT)
        assert lines.get(timeout=TIMEOUT).strip() == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
