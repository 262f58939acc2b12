"""Copying an object's bytes in the kernel: ``copy_file_range`` (a reflink where the
filesystem has them) with a ``pread``/``pwrite`` fallback, and ``O_DIRECT`` copies of large
files past the page cache."""

from __future__ import annotations

import errno
import os
import threading

from gitext.codec.hashing import CHUNK


def kernel_copy(src: int, dst: int, size: int) -> None:
    offset = 0
    use_cfr = hasattr(os, "copy_file_range")
    while offset < size:
        if use_cfr:
            try:
                n = os.copy_file_range(src, dst, size - offset, offset, offset)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                use_cfr = False
                continue
        else:
            chunk = os.pread(src, min(CHUNK, size - offset), offset)
            n = os.pwrite(dst, chunk, offset) if chunk else 0
        if n == 0:
            raise OSError(errno.EIO, f"the file shrank while being copied ({offset} of {size})")
        offset += n


# A large file written for the user (a pull filling the work tree) goes past the page
# cache with O_DIRECT (design note 18). On virtual machines whose free memory is handed back
# to the host, every new page-cache page costs a fault on the host: buffered writes then
# run at ~3 s a GB here, direct ones at the disk's speed. Small files stay buffered: a
# synchronous write each would cost a disk round trip per file (a seek on a hard disk).
DIRECT_MIN = 16 << 20
_DIRECT_ALIGN = 4096  # offsets and lengths of direct writes (any logical block up to 4 KiB)
_DIRECT_BUF = 8 << 20
_direct_buffers = threading.local()


def direct_copy(src: int, dst: int, size: int) -> bool:
    """Copy ``size`` bytes of ``src`` into the empty file ``dst`` past the page cache.

    Returns False where the platform or filesystem refuses O_DIRECT; the caller then
    copies the whole file another way (at the same offsets, over anything written here).
    The last partial block is written through the page cache. Raises OSError as a copy
    would (ENOSPC, EIO, a file that shrank)."""
    if not hasattr(os, "O_DIRECT"):
        return False
    import fcntl

    flags = fcntl.fcntl(dst, fcntl.F_GETFL)
    try:
        fcntl.fcntl(dst, fcntl.F_SETFL, flags | os.O_DIRECT)
    except OSError:
        return False
    view = getattr(_direct_buffers, "view", None)
    if view is None:  # one page-aligned buffer per thread, touched once and reused
        import mmap

        view = _direct_buffers.view = memoryview(mmap.mmap(-1, _DIRECT_BUF))
    direct = True
    offset = 0
    try:
        while offset < size:
            n = os.preadv(src, [view[:min(_DIRECT_BUF, size - offset)]], offset)
            if n == 0:
                raise OSError(errno.EIO, f"the file shrank while being copied ({offset} of "
                                         f"{size})")
            aligned = n - n % _DIRECT_ALIGN if direct else 0
            if aligned:
                try:
                    _pwrite_all(dst, view[:aligned], offset)
                except OSError as exc:
                    if exc.errno == errno.EINVAL and offset == 0:
                        return False  # this filesystem's alignment rules: copy another way
                    raise
            if aligned < n:  # the tail (or a short read): the rest goes through the cache
                if direct:
                    fcntl.fcntl(dst, fcntl.F_SETFL, flags)
                    direct = False
                _pwrite_all(dst, view[aligned:n], offset + aligned)
            offset += n
    finally:
        if direct:
            fcntl.fcntl(dst, fcntl.F_SETFL, flags)
    return True


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data = data[n:]
        offset += n
