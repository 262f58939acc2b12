"""pre-commit: staged pointers whose content exists nowhere.

A pointer is only worth committing if its object is in the local cache or on the default
data remote: otherwise a checkout elsewhere (or of another branch and back, here) leaves a
pointer whose content is gone for good. The common commit costs no network: the remote is
asked (one batched existence check) only about pointers whose object is not cached.

Lower layer: never prints; :mod:`gitext.hooks` reports.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError
from gitext.git.repo import Repo


class MissingReport:
    # A plain class: dataclasses (and inspect) would add ~10 ms to every pre-commit.
    __slots__ = ("missing", "remote", "remote_error")

    def __init__(self) -> None:
        self.missing: list[tuple[str, ObjectId]] = []  # (path, oid)
        self.remote: str | None = None  # the remote asked, if one was
        self.remote_error: str | None = None  # why it could not be asked


def _lfs_has(repo: Repo, oid: ObjectId) -> bool:
    d = oid.digest
    return oid.algo == "sha256" and \
        (repo.common_dir / "lfs" / "objects" / d[:2] / d[2:4] / d).is_file()


def _staged_pointers(repo: Repo, small: Sequence[tuple[str, str]],
                     sizes: dict[ObjectId, int]) -> list[tuple[str, ObjectId]]:
    from gitext.codec import pointer as ptr

    paths = dict(small)
    found: list[tuple[str, ObjectId]] = []
    for blob, data in repo.cat_blobs(list(paths)):
        p = ptr.try_parse(data)
        if p is not None:
            found.append((paths[blob], p.oid))
            sizes[p.oid] = p.size  # (a Git LFS server is asked by oid and size)
    return found


def _filtered(repo: Repo, entries: list[tuple[str, ObjectId]]) -> list[tuple[str, ObjectId]]:
    """Only paths whose attributes send them through our filter (or git-lfs's): a
    text file that merely looks like a pointer (an example in the docs) is not data."""
    out = repo.git("check-attr", "-z", "filter", "--",
                   *[p for p, _ in entries]).stdout.split(b"\0")
    ours = {out[i].decode("utf-8", "surrogateescape") for i in range(0, len(out) - 2, 3)
            if out[i + 2] in (b"archives", b"lfs")}
    return [(p, o) for p, o in entries if p in ours]


def missing_staged_objects(repo: Repo, small: Sequence[tuple[str, str]]) -> MissingReport:
    """``small``: (blob, path) of staged blobs small enough to be pointers. Report the
    pointers whose object is in neither the local cache nor the default data remote."""
    report = MissingReport()
    sizes: dict[ObjectId, int] = {}
    pointers = _staged_pointers(repo, small, sizes) if small else []
    if not pointers:
        return report  # the common code commit: one cat-file, nothing else imported
    from gitext.store.dvccache import open_store

    store = open_store(repo)
    absent = [(p, o) for p, o in pointers if not store.has(o) and not _lfs_has(repo, o)]
    if absent:
        absent = _filtered(repo, absent)
    if not absent:
        return report
    from gitext.config import Config
    from gitext.remotes import default_remote_name, lfs_is_default, open_remote
    from gitext.remotes.backend import plan

    cfg = Config.load(repo.worktree)
    report.remote = default_remote_name(cfg)
    if report.remote is None and lfs_is_default(cfg, repo.worktree):
        report.remote = "lfs"  # the repository's Git LFS server
    present: set[str] = set()
    if report.remote is not None:
        try:
            remote = open_remote(cfg, root=repo.worktree)
            try:
                plan(remote.backend, "download", [(o.key, sizes[o]) for _, o in absent])
                present = remote.backend.exists_many(sorted({o.key for _, o in absent}))
            finally:
                remote.close()
        except ArchivesError as exc:
            report.remote_error = exc.message
    report.missing = [(p, o) for p, o in absent if o.key not in present]
    return report
