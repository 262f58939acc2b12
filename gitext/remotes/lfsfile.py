"""git-lfs's standalone-file transfer: when a repository's git remote is a path on this
machine (a bare repository on a shared disk, say), its Git LFS objects live in that
repository's own ``lfs/objects/<ab>/<cd>/<oid>``, and git-lfs pushes and fetches them there
with no server. This backend does the same, so a git-lfs user and a git-archives user share
one such remote.

Keys are our layout's (``files/sha256/<ab>/<rest>``); only sha256 objects exist there.
Writes go through :class:`gitext.remotes.local.LocalBackend` (temp file, fsync, rename: never
a partial object), rooted at that ``lfs/objects`` folder. Nothing is ever deleted: other
clones' git-lfs reads the same folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from gitext.errors import RemoteError
from gitext.remotes.backend import ProgressFn
from gitext.remotes.local import LocalBackend


def lfs_objects_of(repo_path: Path) -> Path | None:
    """``lfs/objects`` of the git repository at ``repo_path`` (bare, or a work tree with
    ``.git/``); None when no git repository is there."""
    if (repo_path / ".git").is_dir():
        return repo_path / ".git" / "lfs" / "objects"
    if (repo_path / "HEAD").is_file() and (repo_path / "objects").is_dir():
        return repo_path / "lfs" / "objects"
    return None


class LfsFileBackend:
    def __init__(self, objects_dir: Path, url: str) -> None:
        self.url = url
        self.jobs = 8
        self._dir = LocalBackend(objects_dir, url)

    @staticmethod
    def _inner(key: str) -> str:
        parts = key.split("/")
        if len(parts) != 4 or parts[:2] != ["files", "sha256"]:
            raise RemoteError(f"{key}: a Git LFS store holds only sha256 objects (large files)",
                              hint="pipeline outputs need a data remote of their own: "
                                   "git archives remote add -d NAME URL")
        oid = parts[2] + parts[3]
        return f"{oid[:2]}/{oid[2:4]}/{oid}"

    def exists_many(self, keys: Iterable[str]) -> set[str]:
        by_inner = {self._inner(k): k for k in keys}
        return {by_inner[i] for i in self._dir.exists_many(by_inner)}

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        raise self._not_ours()

    def list_times(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        raise self._not_ours()  # (what gc --remote asks first: refused before any plan)

    def _not_ours(self) -> RemoteError:
        return RemoteError(f"{self.url}: git-lfs's objects of another repository are not "
                           "listed or deleted from here (its clones read them): gc --remote "
                           "does not apply", hint="clean up with 'git lfs prune' there; "
                           "'git archives gc' (no --remote) cleans the local cache")

    def get(self, key: str, dst: Path | BinaryIO, progress: ProgressFn | None = None, *,
            size: int | None = None) -> int:
        return self._dir.get(self._inner(key), dst, progress, size=size)

    def put(self, key: str, src: Path, size: int, progress: ProgressFn | None = None) -> None:
        self._dir.put(self._inner(key), src, size, progress)

    def delete(self, key: str) -> None:
        raise self._not_ours()

    def close(self) -> None:
        self._dir.close()
