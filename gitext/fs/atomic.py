"""Writing a file without ever leaving it half-written; writing all of a buffer to an fd."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data``: a temp file in the same folder, fsync, rename.

    The file keeps its permission bits (a new one gets the umask's); a symlink stays a
    symlink and its target is replaced; something that is not a regular file (``/dev/null``,
    a FIFO) is written to directly, since it cannot be replaced."""
    import tempfile  # here: the filter process imports this module for write_all only

    target = Path(path)
    try:
        st: os.stat_result | None = target.stat()
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        with target.open("wb") as fh:
            fh.write(data)
        return
    real = target.resolve() if target.is_symlink() else target
    real.parent.mkdir(parents=True, exist_ok=True)
    if st is not None:
        mode = stat.S_IMODE(st.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(mode)
        tmp.replace(real)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``os.write`` until every byte is out (a write to a pipe or a full disk may be short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
