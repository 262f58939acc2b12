"""``git archives watch``: keep every notebook pair in step while files are saved.

File events (watchdog) are gathered until the tree has been quiet for ``debounce``
seconds, then the touched pairs go through the same content-based :func:`sync` as
``git archives nb sync``. Editors that save by writing a temporary file and renaming it over
the original show up as a move whose destination is the file, and are handled like a write.
The files sync itself writes are remembered by content, so their events cause no second
round.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.errors import ArchivesError
from gitext.notebooks.pairing.formats import SKIP_DIRS, TEXT_EXTENSIONS, relpath
from gitext.notebooks.pairing.sync import NotebookSyncError, SyncResult, sync

if TYPE_CHECKING:
    from gitext.git.repo import Repo

# Event kinds that say nothing about content.
_QUIET_EVENTS = frozenset({"opened", "closed_no_write"})


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class _OwnWrites:
    """What sync last wrote to each path, so the events of those writes are ignored."""

    def __init__(self) -> None:
        self._written: dict[Path, str | None] = {}

    def remember(self, path: Path) -> None:
        self._written[path] = _digest(path)

    def is_own(self, path: Path) -> bool:
        if path not in self._written:
            return False
        if _digest(path) == self._written[path]:
            return True
        del self._written[path]  # changed since: a user's edit from now on
        return False


def _relevant(path: Path, top: Path) -> bool:
    if path.suffix != ".ipynb" and path.suffix not in TEXT_EXTENSIONS:
        return False
    try:
        rel = path.relative_to(top)
    except ValueError:
        return False
    return not any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts)


def _make_handler(top: Path, events: queue.Queue[Path]) -> Any:
    from watchdog.events import FileSystemEventHandler

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            if event.is_directory or event.event_type in _QUIET_EVENTS:
                return
            for raw in (event.src_path, getattr(event, "dest_path", "")):
                if not raw:
                    continue
                path = Path(os.fsdecode(raw))
                if _relevant(path, top):
                    events.put(path)

    return Handler()


class _Session:
    """One watch: the folder, the work tree, what to report, and what sync itself wrote."""

    def __init__(self, watched: Path, top: Path, repo: Repo, say: Callable[[str], None],
                 on_sync: Callable[[list[SyncResult]], None] | None) -> None:
        self.watched, self.top, self.repo, self.say = watched, top, repo, say
        self.on_sync = on_sync
        self.own = _OwnWrites()

    def refresh(self, paths: list[Path]) -> None:
        # Saving a notebook after a run changes its outputs, hence its size, and git would
        # call it modified: re-register the ones whose stripped form is still the index's.
        from gitext.notebooks.refresh import refresh

        watched, top, say = self.watched, self.top, self.say
        if paths == [watched]:  # the first pass: every notebook under the watched folder
            rels = [] if watched == top else [relpath(watched, top)]
        else:
            rels = sorted(relpath(p, top) for p in paths if p.suffix == ".ipynb")
            if not rels:
                return
        try:
            report = refresh(self.repo, rels)
        except ArchivesError as exc:
            say(f"error: {exc.message}")
            return
        for rel in report.refreshed:
            say(f"outputs only: {rel} (git status will not call it modified)")

    def sync(self, paths: list[Path]) -> None:
        top, say = self.top, self.say
        self.refresh(paths)
        try:
            results = sync(top, paths, explicit_files=False)
        except NotebookSyncError as exc:
            results = exc.results
            say(f"refused: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        except ArchivesError as exc:
            say(f"error: {exc.message}")
            return
        for res in results:
            for path in res.written:
                self.own.remember(path)
            if res.action not in ("unchanged", "conflict"):
                say(f"{res.action}: {relpath(res.notebook, top)} <-> "
                    f"{relpath(res.text, top)}"
                    + (f" ({res.detail})" if res.detail else ""))
        if self.on_sync is not None:
            self.on_sync(results)


def _sync_quiet_batches(session: _Session, events: queue.Queue[Path],
                        stop: threading.Event, debounce: float) -> None:
    """Gather events until the tree has been quiet for ``debounce`` seconds, then sync the
    touched files (less the ones sync itself wrote); until ``stop`` is set."""
    pending: set[Path] = set()
    last = time.monotonic()
    while not stop.is_set():
        wait = debounce - (time.monotonic() - last) if pending else 0.2
        try:
            pending.add(events.get(timeout=max(0.01, min(wait, 0.2))))
            last = time.monotonic()
            continue
        except queue.Empty:
            pass
        if pending and time.monotonic() - last >= debounce:
            batch = sorted(p for p in pending if not session.own.is_own(p))
            pending.clear()
            if batch:
                session.sync(batch)


def watch(
    root: Path,
    *,
    debounce: float = 0.3,
    stop_event: threading.Event | None = None,
    report: Callable[[str], None] | None = None,
    on_sync: Callable[[list[SyncResult]], None] | None = None,
    ready: threading.Event | None = None,
) -> int:
    """Watch the folder ``root`` (in a work tree) and sync pairs as their files change.

    Runs until ``stop_event`` is set or Ctrl-C; returns 0 after a clean stop. ``report``
    receives one line per thing done or refused (the command prints them); ``on_sync`` gets
    each batch's results; ``ready`` is set once events are being received.
    """
    from watchdog.observers import Observer

    from gitext.git.repo import Repo

    say = report or (lambda _msg: None)
    watched = Path(root).resolve()
    top = Repo.discover(watched).root.resolve()
    stop = stop_event or threading.Event()
    events: queue.Queue[Path] = queue.Queue()
    session = _Session(watched, top, Repo.discover(top), say, on_sync)

    observer = Observer()
    observer.schedule(_make_handler(watched, events), os.fspath(watched), recursive=True)
    observer.start()
    try:
        session.sync([watched])
        say(f"watching {watched} for notebook pairs (Ctrl-C to stop)")
        if ready is not None:
            ready.set()
        _sync_quiet_batches(session, events, stop, debounce)
    except KeyboardInterrupt:
        say("stopped")
    finally:
        observer.stop()
        observer.join(timeout=5)
    return 0
