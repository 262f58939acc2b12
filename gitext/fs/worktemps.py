"""Temp files git-archives makes in the work tree: how they are named, and which ones a
killed process left behind.

They are named ``.archives-tmp-<pid>-<n>``: short (a 250-byte file name still gets one)
and recognisable, so :func:`stale_temps_in` can tell a dead process's temp file from a
user's file or a running process's. :mod:`gitext.fs.worktree` and :mod:`gitext.fs.refill`
make them; a pull's fill and ``status`` look for the stale ones.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".archives-tmp-"
_counter = itertools.count()


def temp_name() -> str:
    """A fresh name for a temp file of this process (see :func:`stale_temps_in`)."""
    return f"{TMP_PREFIX}{os.getpid()}-{next(_counter)}"


def stale_temps_in(folder: Path) -> Iterator[Path]:
    """Temp files in ``folder`` that a process which no longer runs left behind."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(TMP_PREFIX)]
    except OSError:
        return
    for name in names:
        pid_text = name[len(TMP_PREFIX):].partition("-")[0]
        if pid_text.isdigit() and not _running(int(pid_text)):
            yield folder / name


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
