"""git-lfs's local objects (``.git/lfs/objects/<ab>/<cd>/<oid>``) as a read-only source.

A former git-lfs clone (or one where a teammate's git-lfs fetched objects) already holds the
content its pointers name. An object missing from our store but present there is *taken
over*: hard-linked into the store's ``tmp/`` (copied where a link is impossible: another
filesystem, no permission), hashed there, and published only if its sha256 is the oid. A
corrupt one is never served: the caller is told which file it is and what to do. git-lfs's
folder is never written to, moved or deleted from.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from gitext.codec.hashing import ObjectId, hash_file
from gitext.codec.shellquote import shell_arg
from gitext.errors import ArchivesError, ArchivesWarning, CorruptObjectError, StoreWriteError
from gitext.git.lfs import lfs_objects_dir
from gitext.git.repo import Repo
from gitext.record import Record
from gitext.store.fastcopy import kernel_copy
from gitext.store.objects import LocalStore

# Errors for which a hard link cannot be made but a copy can.
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES,
            getattr(errno, "EOPNOTSUPP", errno.ENOTSUP))


class TakeOver(Record):
    _fields = ("taken", "corrupt")

    def __init__(self, taken: list[ObjectId] | None = None,
                 corrupt: list[CorruptObjectError] | None = None) -> None:
        self.taken: list[ObjectId] = [] if taken is None else taken
        self.corrupt: list[CorruptObjectError] = [] if corrupt is None else corrupt


class LfsObjects:
    """git-lfs's object folder (``<lfs storage>/objects``), read only."""

    def __init__(self, objects_dir: Path) -> None:
        self.dir = objects_dir
        # Corrupt objects met in this process: reported once (by whoever met them first).
        self.corrupt_seen: set[ObjectId] = set()

    def path(self, oid: ObjectId) -> Path:
        d = oid.digest
        return self.dir / d[:2] / d[2:4] / d

    def has(self, oid: ObjectId) -> bool:
        return oid.algo == "sha256" and self.path(oid).is_file()

    def iter_objects(self) -> Iterator[ObjectId]:
        """Every object in the folder named like one (``<ab>/<cd>/<64 hex>``)."""
        if not self.dir.is_dir():
            return
        for first in sorted(self.dir.iterdir()):
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if len(second.name) != 2 or not second.is_dir():
                    continue
                for obj in sorted(second.iterdir()):
                    name = obj.name
                    if name.startswith(first.name + second.name) and obj.is_file():
                        try:
                            yield ObjectId("sha256", name)
                        except ArchivesError:
                            continue  # a temp file or anything else git-lfs left

    def take_over(self, store: LocalStore, oid: ObjectId) -> bool:
        """Put git-lfs's copy of ``oid`` into ``store`` once verified. False if git-lfs has
        none; :class:`CorruptObjectError` (naming the file and the fix) if its bytes are not
        the oid's; :class:`StoreWriteError` if the store cannot take it."""
        if store.has(oid):
            return True
        if not self.has(oid):
            return False
        src = self.path(oid)
        try:
            store.tmp.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=store.tmp, prefix="lfs-")) / "object"
        except OSError as exc:
            raise StoreWriteError(f"cannot write to the store {store.root}: "
                                  f"{exc.strerror or exc}",
                                  hint="free disk space or fix permissions, then retry") from exc
        try:
            _link_or_copy(src, tmp)
            digest, size = hash_file(tmp, "sha256")
            if digest != oid.digest:
                self.corrupt_seen.add(oid)
                raise CorruptObjectError(
                    f"git-lfs object {src} is corrupt (its bytes hash to {digest[:12]}…, not "
                    f"{oid.digest[:12]}…): not used",
                    hint=f"remove it (rm -- {shell_arg(str(src))}) and fetch the file again "
                         "with 'git archives pull'")
            store.adopt_verified(tmp, oid, size)
        except OSError as exc:
            raise StoreWriteError(f"cannot take over {src} into {store.root}: "
                                  f"{exc.strerror or exc}",
                                  hint="free disk space or fix permissions, then retry") from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
            with contextlib.suppress(OSError):
                tmp.parent.rmdir()
        return True

    def take_over_many(self, store: LocalStore, oids: Iterable[ObjectId]) -> TakeOver:
        """Take over every oid of ``oids`` that the store lacks and git-lfs has."""
        report = TakeOver()
        if not self.dir.is_dir():
            return report
        for oid in oids:
            if (oid.algo != "sha256" or oid in self.corrupt_seen or store.has(oid)
                    or not self.has(oid)):
                continue
            try:
                self.take_over(store, oid)
            except CorruptObjectError as exc:
                report.corrupt.append(exc)
                continue
            report.taken.append(oid)
        return report


_FOLDERS: dict[str, LfsObjects] = {}


def lfs_objects(repo: Repo) -> LfsObjects:
    """This clone's git-lfs objects (``lfs.storage`` honoured; asked once per process)."""
    key = os.fspath(repo.common_dir)
    found = _FOLDERS.get(key)
    if found is None:
        found = _FOLDERS[key] = LfsObjects(lfs_objects_dir(repo))
    return found


def take_over_missing(repo: Repo, store: LocalStore, oids: Iterable[ObjectId], *,
                      warn: bool = True) -> TakeOver:
    """Take over from git-lfs's folder every sha256 object of ``oids`` the store lacks;
    each corrupt one is left where it is and, with ``warn``, warned about (one line)."""
    wanted = [o for o in oids if o.algo == "sha256" and not store.has(o)]
    if not wanted:
        return TakeOver()
    report = lfs_objects(repo).take_over_many(store, wanted)
    if warn:
        warn_corrupt(report)
    return report


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
    else:
        return
    with open(src, "rb") as fin:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            kernel_copy(fin.fileno(), fd, os.fstat(fin.fileno()).st_size)
        finally:
            os.close(fd)


def warn_corrupt(report: TakeOver) -> None:
    """Each corrupt git-lfs object as one warning line (library code never prints)."""
    for exc in report.corrupt:
        warnings.warn(ArchivesWarning(f"{exc.message}; {exc.hint}"), stacklevel=2)
