"""One object from a remote into the local cache, verified on the way.

Every fetched object is hashed and compared with its id before it gets its name in the
cache (``files/<algo>/<ab>/<rest>``), so nothing unverified is ever visible there and an
interrupted fetch leaves only temp files in the cache's ``tmp/``.
:mod:`gitext.sync.transfer` runs :func:`download_verified` for each object it fetches.
(Tried and measured slower: holding small objects in memory to hash them before their one
write — design note 57.)

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from gitext.codec.hashing import ObjectId, hash_file_stat
from gitext.errors import ArchivesError, CorruptObjectError, RemoteError, StoreWriteError
from gitext.remotes import Remote
from gitext.store.objects import READ_ONLY, LocalStore
from gitext.sync.transferbase import ProgressSink, TransferItem


def _commit_fetched(store: LocalStore, tmp: Path,
                    item: TransferItem) -> tuple[Path, os.stat_result]:
    """Verify ``tmp`` against the id, then make it read-only and rename it into place.
    Returns the object's path and stat (taken after the rename, which sets the ctime)."""
    digest, _size, st = hash_file_stat(tmp, item.oid.algo)
    if item.manifest:
        from gitext.store.manifests import parse_manifest

        data = tmp.read_bytes()
        ok = digest == item.oid.digest
        if ok:
            try:
                parse_manifest(data, where=f"remote manifest {item.oid.digest}.dir")
            except CorruptObjectError as exc:  # intact bytes, hostile or broken content
                raise ArchivesError(f"refused: {exc.message}", hint=exc.hint) from None
    else:
        ok = digest == item.oid.digest
    if not ok:
        raise CorruptObjectError(f"remote object {item.oid} hashes to {digest[:12]}…: refused")
    final = store.key_path(item.key)
    if (st.st_mode & 0o777) != READ_ONLY:
        with contextlib.suppress(OSError):  # a hard link shares the remote's inode and mode
            os.chmod(tmp, READ_ONLY)
    try:
        os.replace(tmp, final)
    except FileNotFoundError:  # the first object under this prefix
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
    return final, os.stat(final)


def download_verified(store: LocalStore, remote: Remote, item: TransferItem, tmp: Path, *,
                       sizes: dict[ObjectId, int], progress: ProgressSink | None,
                       ) -> tuple[int, Path, os.stat_result]:
    """Download ``item`` and commit it to the cache once verified, through ``tmp``:
    (bytes, the object's path, its stat). ``tmp`` never survives; a local write failure
    (disk full) becomes :class:`StoreWriteError`, any other OS error a
    :class:`RemoteError`."""
    try:
        size = remote.backend.get(item.key, tmp, progress.advance if progress else None,
                                  size=None if item.manifest else sizes.get(item.oid))
        final, st = _commit_fetched(store, tmp, item)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # (after a successful rename there is nothing to remove)
        if not isinstance(exc, OSError):
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES):
            raise StoreWriteError(
                f"cannot write into the local cache {store.root}: "
                f"{exc.strerror or exc}",
                hint="free disk space (or 'git archives gc --workspace'), then pull again; "
                     "nothing partial was kept",
            ) from None
        raise RemoteError(f"{item.oid}: {exc.strerror or exc}") from None
    return size, final, st
