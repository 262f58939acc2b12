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

from gitext.codec import pointer as ptr
from gitext.errors import ArchivesError
from gitext.git.repo import Repo, run_git
from gitext.store.objects import LocalStore
from gitext.store.state import StateCache

PENDING_FLAG = "pending"  # exists while some work tree has files left as pointers


class PendingPointers:
    """Absolute paths left as pointers by smudge, with the object each is waiting for
    (the ``pending`` table of ``state.db``, through the same connection as the hash cache)."""

    def __init__(self, state: StateCache) -> None:
        self.state = state

    def add(self, path: str, oid: str) -> None:
        self.state.pending_set(path, oid)
        # Committed now: git runs post-checkout while this filter process is still alive.
        self.state.flush()
        (self.state.db_path.parent / PENDING_FLAG).touch()

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
        if self.state.pending_count() == 0:
            (self.state.db_path.parent / PENDING_FLAG).unlink(missing_ok=True)


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


def worktree_is_pointer(file: Path | str, pointer: ptr.Pointer) -> bool:
    """True if the work-tree file holds exactly ``pointer`` (canonical or not)."""
    return bool(worktree_pointer_state(file, pointer))


def worktree_pointer_state(file: Path | str, pointer: ptr.Pointer) -> bool | None:
    """As :func:`worktree_is_pointer`, but None when nothing at all is at ``file``."""
    try:
        # never through a symlink; never blocking on a FIFO
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) |
                     getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if st.st_size >= ptr.MAX_POINTER_SIZE or not stat.S_ISREG(st.st_mode):
            return False
        data = os.read(fd, ptr.MAX_POINTER_SIZE)
    except OSError:
        return False
    finally:
        os.close(fd)
    return is_pointer_bytes(data, pointer)


def is_pointer_bytes(data: bytes, pointer: ptr.Pointer) -> bool:
    """Whether a file's bytes are exactly ``pointer`` (canonical or not)."""
    return data == pointer.encode() or ptr.try_parse(data) == pointer


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
            pending.remove_many(())  # clears a stale flag when no work tree waits any more
            return report
        candidates = index_pointers(repo, [f":(literal){p}" for p in sorted(waiting)])
    else:
        candidates = index_pointers(repo, paths or ())
    done_abs: list[str] = []
    to_checkout: list[TrackedPointer] = []
    from gitext.store.lfsobjects import take_over_missing

    # (a corrupt one was named by the smudge or fetch that left its file a pointer)
    take_over_missing(repo, store, [tp.pointer.oid for tp in candidates if tp.pointer.size],
                      warn=False)
    for tp in candidates:
        dest = root / tp.path
        if tp.pointer.size == 0:
            continue
        if not worktree_is_pointer(dest, tp.pointer):
            if dest.exists():
                done_abs.append(os.fspath(dest))  # already has content (or the user's edit)
            continue
        if not store.has(tp.pointer.oid):
            report.missing.append(tp)
            continue
        to_checkout.append(tp)
    store.state.flush()  # the checkout's filter process uses state.db too
    if to_checkout:
        # Let git write them: smudge serves each from the cache and git records the new
        # stat in the index itself (a refresh would re-clean every byte: git takes a size
        # change as a content change). Only files that are still exactly their pointer are
        # named, so no edit of the user's is overwritten.
        _git_checkout(repo, to_checkout)
        for tp in to_checkout:
            dest = root / tp.path
            if worktree_is_pointer(dest, tp.pointer):
                report.missing.append(tp)  # smudge left it (e.g. the object was corrupt)
            else:
                report.filled.append(tp.path)
                done_abs.append(os.fspath(dest))
    pending.remove_many(done_abs)
    return report


def _git_checkout(repo: Repo, to_checkout: list[TrackedPointer]) -> None:
    """``git checkout`` of exactly these files (the smudge filter serves them from the
    cache); raises if git fails."""
    from gitext.fs.worktree import WorkTree

    root = repo.root
    with WorkTree(root) as wt:
        for tp in to_checkout:
            # git skips a file whose stat matches its index entry: make it differ.
            wt.set_times(tp.path, (0, 0))
    env = dict(os.environ, GIT_ARCHIVES_SKIP_HOOKS="1")
    env.pop("GIT_INDEX_FILE", None)
    listing = b"".join(tp.path.encode("utf-8", "surrogateescape") + b"\0"
                       for tp in to_checkout)
    proc = run_git(
        ["--literal-pathspecs", "checkout", "--pathspec-from-file=-",
         "--pathspec-file-nul"],
        cwd=root, input_bytes=listing, env=env, check=False)
    if proc.returncode != 0:
        lock = repo.git_dir / "index.lock"
        if lock.exists():
            from gitext.git.indexlock import locked_error

            raise locked_error(lock)
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ArchivesError(
            f"could not fill in {len(to_checkout)} file(s): {err[-1] if err else 'git failed'}",
            hint="run 'git archives fsck', then 'git archives pull' again",
        )


def interrupted_fill_temps(repo: Repo) -> tuple[list[str], list[str]]:
    """Temp files an interrupted fill left in the work tree: (ours, removable because
    their process is gone; older versions' ``.<name>.<pid>-<n>.tmp``, listed only).
    One ``git ls-files`` of untracked names."""
    import re

    from gitext.fs.worktemps import TMP_PREFIX, stale_temps_in

    out = repo.git("ls-files", "-z", "--others", "--",
                   f":(glob)**/{TMP_PREFIX}*", ":(glob)**/.*.tmp", check=False).stdout
    ours: list[str] = []
    legacy: list[str] = []
    old = re.compile(r"\A\..+\.(\d+)-\d+\.tmp\Z")
    seen_dirs: set[str] = set()
    for raw in out.split(b"\0"):
        if not raw:
            continue
        rel = raw.decode("utf-8", "surrogateescape")
        folder, _, name = rel.rpartition("/")
        if name.startswith(TMP_PREFIX):
            if folder not in seen_dirs:
                seen_dirs.add(folder)
                base = repo.root / folder if folder else repo.root
                ours += [p.relative_to(repo.root).as_posix() for p in stale_temps_in(base)]
        elif old.match(name) and (repo.root / folder / name[1:].rsplit(".", 2)[0]).exists():
            legacy.append(rel)
    return sorted(set(ours)), legacy
