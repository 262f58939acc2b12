"""A remote in a directory: another disk, a mounted network share, or a folder for tests.

Objects are written to ``<root>/tmp/`` and renamed into ``<root>/files/…`` so a reader (or
a concurrent push of the same object) never sees a partial file. Because cached objects are
read-only, a push or fetch on the same filesystem hard-links instead of copying (only ever a
read-only file: a writable one is copied, so no edit can reach both sides).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from gitext.codec.shellquote import display, shell_arg
from gitext.errors import ObjectMissingError, RemoteError
from gitext.remotes.backend import ProgressFn

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_LINK_FALLBACK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES)
_LISTDIR_AT = 4  # look up this many keys in one folder with one listdir instead of stats


class LocalBackend:
    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self._dev: int | None = None

    @classmethod
    def from_url(cls, url: str, base: Path | None) -> LocalBackend:
        if url.lower().startswith("file://"):
            parts = urlsplit(url)
            raw = unquote(parts.path)
        else:
            raw = url
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return cls(path, url)

    def _check_root(self) -> None:
        if not self.root.exists() and self.root.parent.is_dir():
            # A new remote folder is made on first use (as DVC does); a missing parent is
            # more likely a typo or an unmounted drive, and stays an error.
            self.root.mkdir(exist_ok=True)
        if not self.root.is_dir():
            raise RemoteError(
                f"the remote directory {display(str(self.root))} does not exist",
                hint=f"create it (mkdir -p -- {shell_arg(str(self.root))}) or fix the URL with "
                     "'git archives remote modify NAME url PATH'",
            )

    def _device(self) -> int:
        if self._dev is None:
            self._check_root()
            self._dev = self.root.stat().st_dev
        return self._dev

    # -- queries --------------------------------------------------------------------------
    def exists_many(self, keys: Iterable[str]) -> set[str]:
        self._check_root()
        by_dir: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            by_dir[key.rpartition("/")[0]].append(key)
        found: set[str] = set()
        for folder, group in by_dir.items():
            if len(group) >= _LISTDIR_AT:
                try:
                    names = {p.name for p in (self.root / folder).iterdir()}
                except FileNotFoundError:
                    continue
                found.update(k for k in group if k.rpartition("/")[2] in names)
            else:
                found.update(k for k in group if (self.root / k).is_file())
        return found

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        for key, size, _when in self.list_times(prefix):
            yield key, size

    def list_times(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """``when`` is the later of mtime and ctime: a push by hard link keeps the source's
        old mtime but sets the inode's ctime, so a just-pushed object is seen as new."""
        self._check_root()
        base = self.root / prefix
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                full = Path(dirpath) / name
                try:
                    st = full.stat()
                except FileNotFoundError:
                    continue
                yield (full.relative_to(self.root).as_posix(), st.st_size,
                       max(st.st_mtime, st.st_ctime))

    # -- transfers ------------------------------------------------------------------------
    def get(self, key: str, dst: Path | BinaryIO, progress: ProgressFn | None = None, *,
            size: int | None = None) -> int:
        src = self.root / key
        try:
            st = src.stat()
        except FileNotFoundError:
            self._check_root()
            raise ObjectMissingError(f"{self.url}: no object {key}") from None
        size = st.st_size  # (the file's own size: a hint is not needed here)
        if isinstance(dst, Path):
            if not (st.st_mode & 0o222 == 0 and _try_link(src, dst)):
                shutil.copyfile(src, dst)
        else:
            with open(src, "rb") as f:
                shutil.copyfileobj(f, dst, 1 << 20)
        if progress is not None:
            progress(size)
        return size

    def links_from(self, folder: Path) -> bool:
        """Whether :meth:`put` hard-links a read-only file of ``folder`` (same device; not
        on Windows, where a read-only file cannot simply be unlinked after)."""
        if os.name == "nt":
            return False
        try:
            return folder.stat().st_dev == self._device()
        except OSError:
            return False

    def put(self, key: str, src: Path, size: int, progress: ProgressFn | None = None) -> None:
        final = self.root / key
        try:
            st = src.stat()
            if st.st_dev == self._device() and st.st_mode & 0o222 == 0 and _link_into_place(
                    src, final):
                # A hard link appears complete or not at all: no temp file is needed.
                if progress is not None:
                    progress(size)
                return
        except FileExistsError:  # content-addressed: present means identical
            if progress is not None:
                progress(size)
            return
        except OSError as exc:
            raise self._write_error(key, exc) from exc
        if final.is_file():
            if progress is not None:
                progress(size)
            return
        self._copy_into_place(key, src, final)
        if progress is not None:
            progress(size)

    def _write_error(self, key: str, exc: OSError) -> RemoteError:
        self._check_root()
        return RemoteError(f"cannot write {key} to the remote directory {self.root}: "
                           f"{exc.strerror or exc}",
                           hint="check free space and permissions, then push again")

    def _copy_into_place(self, key: str, src: Path, final: Path) -> None:
        """Copy to ``<root>/tmp``, fsync, make read-only, rename: never a partial object."""
        tmp: Path | None = None
        try:
            tmp_dir = self.root / "tmp"
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="incoming-")
            tmp = Path(name)
            with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                os.fsync(fout.fileno())
            tmp.chmod(READ_ONLY)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(final)
        except OSError as exc:
            raise self._write_error(key, exc) from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            with open(self.root / key, "rb") as f:
                f.seek(start)
                return f.read(length)
        except FileNotFoundError:
            self._check_root()
            raise ObjectMissingError(f"{self.url}: no object {key}") from None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / key).unlink()

    def close(self) -> None:
        return None


def _link_into_place(src: Path, final: Path) -> bool:
    """Hard-link ``src`` at ``final`` (creating its folder); False if links are impossible
    here; FileExistsError if ``final`` is already there."""
    try:
        return _try_link(src, final)
    except FileNotFoundError:
        final.parent.mkdir(parents=True, exist_ok=True)
        return _try_link(src, final)


def _try_link(src: Path, dst: Path) -> bool:
    """Hard-link ``src`` to ``dst``; False where the filesystem cannot (then copy)."""
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno in _LINK_FALLBACK:
            return False
        raise
    return True
