"""Who holds ``index.lock``, so that a refusal can say whether it is safe to remove.

git takes ``<git dir>/index.lock`` (O_EXCL) while it rewrites the index; so does
:class:`gitext.sync.fill.InPlaceFill`. A process killed with SIGKILL leaves the file behind
and every later command that writes the index fails. git cannot say who left it; we record
our own holding in ``index.lock.archives`` (pid, host, start) beside it, and read it back
when a lock is in the way.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import time
from pathlib import Path

from gitext.errors import ArchivesError

OWNER_SUFFIX = ".archives"


class IndexLockedError(ArchivesError):
    """``index.lock`` exists: another command holds the index, or one died holding it."""


def note_owner(lock_path: Path) -> None:
    """Record that this process holds ``lock_path`` (best effort)."""
    with contextlib.suppress(OSError):
        Path(f"{lock_path}{OWNER_SUFFIX}").write_text(
            f"{os.getpid()} {socket.gethostname()} {int(time.time())}\n")


def clear_owner(lock_path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(f"{lock_path}{OWNER_SUFFIX}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def locked_error(lock_path: Path) -> IndexLockedError:
    """The error to raise when ``lock_path`` is in the way, saying who left it."""
    quoted = shlex.quote(os.fspath(lock_path))
    try:
        age = time.time() - lock_path.stat().st_mtime
    except OSError:
        age = 0.0
    owner = _read_owner(lock_path)
    if owner is not None:
        pid, host = owner
        if host == socket.gethostname() and not _alive(pid):
            return IndexLockedError(
                f"{lock_path} was left by git-archives (pid {pid}), which is no longer "
                "running", hint=f"it is safe to remove: rm {quoted} && "
                                f"rm -f {shlex.quote(os.fspath(lock_path) + OWNER_SUFFIX)}; "
                                "then run the command again")
        return IndexLockedError(
            f"{lock_path} is held by git-archives (pid {pid} on {host})",
            hint="wait for that command to finish, then run this one again")
    return IndexLockedError(
        f"{lock_path} exists (made {int(age)} s ago): another git command is using this "
        "repository, or one was killed while using it",
        hint=f"if no git command is running in this repository, remove it: rm {quoted}")


def _read_owner(lock_path: Path) -> tuple[int, str] | None:
    try:
        pid_text, host, *_ = Path(f"{lock_path}{OWNER_SUFFIX}").read_text().split()
        st_owner = os.stat(f"{lock_path}{OWNER_SUFFIX}")
        if st_owner.st_mtime + 1 < lock_path.stat().st_mtime:
            return None  # our note is older than the lock: someone else took it since
        return int(pid_text), host
    except (OSError, ValueError):
        return None
