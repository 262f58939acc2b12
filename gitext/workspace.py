"""The work tree's pointer files: which are still pointers, and filling them in.

When smudge cannot find an object it leaves the pointer text in the work tree and records
the path in the ``pending`` table of ``state.db``; post-checkout/post-merge and ``pull``
replace those files once the content is cached. The hooks' no-op path is one ``stat``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gitext import pointer as ptr
from gitext.gitrepo import Repo
from gitext.state import StateCache
from gitext.store.local import LocalStore


class PendingPointers:
    """Absolute paths left as pointers by smudge, with the object each is waiting for
    (the ``pending`` table of ``state.db``, through the same connection as the hash cache)."""

    def __init__(self, state: StateCache) -> None:
        self.state = state

    def add(self, path: str, oid: str) -> None:
        self.state.pending_set(path, oid)

    def under(self, root: Path) -> dict[str, str]:
        """Pending entries inside the work tree ``root``: relative path → oid."""
        if not self.state.db_path.exists():
            return {}
        prefix = os.fspath(root).rstrip(os.sep) + os.sep
        return {p[len(prefix):]: o for p, o in self.state.pending_under(prefix).items()}

    def remove_many(self, paths: Iterable[str]) -> None:
        for p in paths:
            self.state.pending_set(p, None)
        self.state.flush()


@dataclass(frozen=True)
class TrackedPointer:
    path: str  # relative to the work tree
    pointer: ptr.Pointer
    blob: str


def index_pointers(repo: Repo, paths: Iterable[str] = ()) -> list[TrackedPointer]:
    """Every index entry whose staged blob is a pointer (one ls-files, one cat-file batch)."""
    entries = [e for e in repo.ls_files(*paths) if e.stage == 0 and e.mode != "160000"]
    if not entries:
        return []
    check = repo.git("cat-file", "--batch-check=%(objectname) %(objectsize)",
                     input_bytes="".join(e.blob + "\n" for e in entries).encode()).stdout
    small = []
    for entry, line in zip(entries, check.decode().splitlines(), strict=False):
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and 0 < int(parts[1]) < ptr.MAX_POINTER_SIZE:
            small.append(entry)
    found = []
    blobs = dict(repo.cat_blobs(sorted({e.blob for e in small})))
    for entry in small:
        p = ptr.try_parse(blobs.get(entry.blob, b""))
        if p is not None:
            found.append(TrackedPointer(entry.path, p, entry.blob))
    return found


@dataclass
class FillReport:
    filled: list[str] = field(default_factory=list)
    missing: list[TrackedPointer] = field(default_factory=list)
    skipped_modified: list[str] = field(default_factory=list)


def worktree_is_pointer(file: Path, pointer: ptr.Pointer) -> bool:
    try:
        st = file.stat()
        if st.st_size >= ptr.MAX_POINTER_SIZE or not stat.S_ISREG(st.st_mode):
            return False
        return ptr.try_parse(file.read_bytes()) == pointer
    except OSError:
        return False


def fill_pointers(repo: Repo, store: LocalStore, paths: list[str] | None = None,
                  *, scan: bool = False) -> FillReport:
    """Replace work-tree files that are still pointers and whose content is now cached.

    Without ``paths`` or ``scan`` only the files smudge recorded as left behind are looked
    at (the hooks' fast path); ``scan=True`` checks every pointer in the index.
    """
    root = repo.root
    pending = PendingPointers(store.state)
    report = FillReport()
    if paths is None and not scan:
        waiting = pending.under(root)
        if not waiting:
            return report
        candidates = index_pointers(repo, [f":(literal){p}" for p in sorted(waiting)])
    else:
        candidates = index_pointers(repo, paths or ())
    done_abs: list[str] = []
    for tp in candidates:
        dest = root / tp.path
        if tp.pointer.size == 0:
            continue
        if not worktree_is_pointer(dest, tp.pointer):
            if not dest.exists():
                continue
            done_abs.append(os.fspath(dest))  # already has content (or the user's edit)
            continue
        if not store.has(tp.pointer.oid):
            report.missing.append(tp)
            continue
        mode = dest.stat().st_mode
        store.checkout_to(tp.pointer.oid, dest)
        os.chmod(dest, stat.S_IMODE(mode))
        store.state.record(os.fspath(dest), "sha256", dest.stat(), tp.pointer.oid.digest)
        report.filled.append(tp.path)
        done_abs.append(os.fspath(dest))
    store.state.flush()
    pending.remove_many(done_abs)
    if report.filled:
        # The index still has the pointer file's stat, and git takes a size change as a
        # change of content without looking. Re-adding cleans the file back to the same
        # pointer blob and records the new stat, so `git status` is clean.
        repo.git("update-index", "-q", "-z", "--stdin",
                 input_bytes=b"".join(p.encode("utf-8", "surrogateescape") + b"\0"
                                      for p in report.filled), check=False)
    return report


def missing_objects(store: LocalStore, pointers: Iterable[TrackedPointer]) -> list[TrackedPointer]:
    return [tp for tp in pointers if not store.has(tp.pointer.oid)]

