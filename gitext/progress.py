"""A one-line progress bar on stderr: bytes, files, rate and ETA — only on a terminal.

Thread-safe (transfer workers call :meth:`Progress.advance` concurrently) and throttled to
about ten redraws a second, so it costs nothing measurable. In a pipe or a log it is silent.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from gitext.config import format_size

_REDRAW_S = 0.1


def _eta(seconds: float) -> str:
    if seconds < 0 or seconds > 99 * 3600:
        return "--:--"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(self, label: str, total_bytes: int, total_files: int, *,
                 stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.label = label
        self.total_bytes = total_bytes
        self.total_files = total_files
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = (self.stream.isatty() and os.environ.get("TERM") != "dumb"
                       and not os.environ.get("GIT_ARCHIVES_NO_PROGRESS"))
        self.enabled = enabled
        self.done_bytes = 0
        self.done_files = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()
        self._drawn = False

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.done_bytes += nbytes
            self._maybe_draw()

    def file_done(self) -> None:
        with self._lock:
            self.done_files += 1
            self._maybe_draw()

    def _maybe_draw(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < _REDRAW_S:
            return
        self._last = now
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def line(self, now: float | None = None) -> str:
        elapsed = max(1e-6, (now or time.monotonic()) - self._start)
        rate = self.done_bytes / elapsed
        left = self.total_bytes - self.done_bytes
        eta = _eta(left / rate) if rate > 0 else "--:--"
        pct = 100.0 * self.done_bytes / self.total_bytes if self.total_bytes else 100.0
        width = 20
        fill = min(width, int(width * pct / 100))
        bar = "#" * fill + "-" * (width - fill)
        return (f"{self.label}: [{bar}] {pct:5.1f}% {format_size(self.done_bytes)}/"
                f"{format_size(self.total_bytes)} {self.done_files}/{self.total_files} files "
                f"{format_size(rate)}/s ETA {eta}")

    def close(self) -> None:
        with self._lock:
            if self.enabled and self._drawn:
                self.stream.write("\r" + self.line() + "\x1b[K\n")
                self.stream.flush()
