"""Where a smudge gets an object the cache lacks: git-lfs's own folder (``.git/lfs/objects``,
taken over once verified), the repository's remote right now (when git cannot wait for the
file), or the remote in one parallel fetch of every delayed file (git's ``delay``
capability). One :class:`ObjectFetcher` per filter process: the remote is opened once, and
a remote that cannot be used is reported once, not once per file."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gitext.codec import pointer as ptr
from gitext.codec.hashing import ObjectId
from gitext.codec.shellquote import display
from gitext.errors import ArchivesError
from gitext.log import note

if TYPE_CHECKING:
    from gitext.config import Config
    from gitext.git.repo import Repo
    from gitext.remotes import Remote
    from gitext.store.objects import LocalStore


class ObjectFetcher:
    def __init__(self, repo: Repo, store: LocalStore, config: Callable[[], Config]) -> None:
        self.repo = repo
        self.store = store
        self._config = config  # (read when first needed: the rules may reload it)
        self.failed = False  # a remote failure was said once; the files stay pointers
        self._remote: Remote | None = None
        self._remote_known: bool | None = None
        self.lfs_corrupt: set[ObjectId] = set()  # said once, with the fix: no second line

    def take_over_lfs(self, path: str, pointer: ptr.Pointer) -> None:
        """git-lfs's local copy (.git/lfs/objects), once verified, before any download."""
        from gitext.store.lfsobjects import lfs_objects

        try:
            lfs_objects(self.repo).take_over(self.store, pointer.oid)
        except ArchivesError as exc:
            self.lfs_corrupt.add(pointer.oid)
            note(f"{display(path)}: {exc.message}; {exc.hint}")

    def has_remote(self) -> bool:
        """Whether a fetch has somewhere to go (asked once)."""
        if self._remote_known is None:
            from gitext.remotes import has_default_remote

            try:  # DVC's config files are read here (gitext.config merges DVC's remotes)
                self._remote_known = has_default_remote(self._config(), self.repo.worktree)
            except ArchivesError as exc:
                if not self.failed:
                    note(f"no remote can be used: {exc.message}")
                self.failed = True
                return False
        return self._remote_known

    def fetch_now(self, path: str, pointer: ptr.Pointer) -> None:
        """One object, now (git cannot wait for this file)."""
        if self.failed:  # one unreachable remote is reported once, not per file
            return
        from gitext.remotes import open_remote
        from gitext.sync.references import References
        from gitext.sync.transfer import fetch

        try:
            if self._remote is None:  # opened once for every file of this git command
                self._remote = open_remote(self._config(), root=self.repo.worktree)
            report = fetch(self.repo, self._remote,
                           References(objects={pointer.oid}, sizes={pointer.oid: pointer.size}),
                           jobs=1, store=self.store)
        except ArchivesError as exc:
            self.failed = True
            note(f"{display(path)}: could not fetch its content: {exc.message}")
            return
        if report.failed:  # the remote itself failed (a missing object is not that)
            self.failed = True
            note(f"{display(path)}: could not fetch its content: {report.failed[0][1]}")

    def fetch_all(self, pointers: list[ptr.Pointer]) -> None:
        """Every delayed file's object, in one parallel fetch."""
        wanted = sorted({p.oid for p in pointers})
        try:
            from gitext.sync.transfer import fetch_objects

            fetch_objects(self.repo, wanted, store=self.store,
                          sizes={p.oid: p.size for p in pointers}, config=self._config())
        except ArchivesError as exc:
            note(f"could not fetch {len(wanted)} object(s): {exc.message}")
