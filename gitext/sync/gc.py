"""Garbage collection of the cache and of a remote.

:func:`plan_gc` plans (a dry run) and :func:`apply_gc` applies deletions that never touch
what a worktree, index, stash or unpushed commit needs
(:func:`gitext.sync.gcroots.keep_references`), nor
anything written within the grace period (:func:`parse_expire`); :func:`check_gc_allowed`
refuses in a DVC project.

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError, ObjectMissingError, UsageError
from gitext.git.repo import Repo
from gitext.remotes import Remote
from gitext.remotes.backend import chunk_capable, read_bounded
from gitext.store.dvccache import open_store
from gitext.store.manifests import MANIFEST_LIMIT
from gitext.store.objects import LocalStore
from gitext.sync.gcroots import (
    GcRefusedError,
    Scope,
    indexes_in_progress,
    keep_references,
    scope_commits,
)
from gitext.sync.patterns import PathFilter
from gitext.sync.references import References, expand_manifests
from gitext.sync.transfer import check_writable, fetch, transfer_jobs

DEFAULT_GC_EXPIRE = "1.hour"
_EXPIRE_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
                 "h": 3600, "hour": 3600, "d": 86400, "day": 86400, "w": 604800,
                 "week": 604800}
_EXPIRE_RE = re.compile(r"(\d+(?:\.\d+)?)[ .]?([a-z]+?)s?(?:[ .]ago)?")


def parse_expire(text: str, *, where: str = "--expire") -> float | None:
    """gc's grace period in seconds (git's ``gc.pruneExpire`` idea): ``1.hour``, ``30m``,
    ``2.weeks.ago``, ``90s``, ``now`` (0) or ``never`` (None: nothing unreferenced is ever
    old enough to go)."""
    value = text.strip().lower()
    if value in ("now", "all", "0"):
        return 0.0
    if value in ("never", "false"):
        return None
    m = _EXPIRE_RE.fullmatch(value)
    if m is None or m.group(2) not in _EXPIRE_UNITS:
        raise UsageError(f"{where}: '{text}' is not a grace period",
                         hint="e.g. 1.hour, 30m, 2.weeks.ago, now or never")
    return float(m.group(1)) * _EXPIRE_UNITS[m.group(2)]


@dataclass
class GcPlan:
    where: str
    keep: set[str]                  # layout keys that must stay
    doomed: list[tuple[str, int]]   # (key, size) that would be deleted
    # unreferenced but written within the grace period (a `git add` not yet indexed, a
    # concurrent repro or push): kept, and so are the files their manifests list
    recent: list[tuple[str, int]] = field(default_factory=list)
    cutoff: float | None = None     # objects written after this (epoch seconds) are kept
    # unreferenced, but kept because the remote checked by --not-in-remote lacks them
    not_in_remote: list[tuple[str, int]] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(s for _, s in self.doomed)


def _keep_keys(repo: Repo, store: LocalStore, refs: References, *,
               remote: Remote | None) -> set[str]:
    expand_manifests(store, refs, PathFilter())
    if refs.unexpanded and remote is not None:
        fetch(repo, remote,
              References(manifests=set(refs.unexpanded)), store=store)
        expand_manifests(store, refs, PathFilter())
    if refs.unexpanded:
        first = sorted(refs.unexpanded)[0]
        raise ArchivesError(
            f"gc refused: directory manifest {first.digest}.dir (named in dvc.lock or a .dvc "
            "file) is not in "
            f"the local cache{' nor on the remote' if remote else ''}, so the files it lists "
            "cannot be told apart from garbage",
            hint="run 'git archives fetch --all-commits' first",
        )
    return {o.key for o in refs.objects} | {m.key + ".dir" for m in refs.manifests}


def _cache_keys(store: LocalStore) -> list[tuple[str, int, float]]:
    """(key, size, when) of every cached object; ``when`` is the later of mtime and ctime
    (an object hard-linked in by a fetch keeps the remote's mtime; its ctime is the link)."""
    out: list[tuple[str, int, float]] = []
    for key, full in store.iter_object_files():
        with contextlib.suppress(FileNotFoundError):
            st = full.stat()
            out.append((key, st.st_size, max(st.st_mtime, st.st_ctime)))
    if os.path.isdir(store.root / "chunks"):  # objects stored as chunks: their recipes
        from gitext.store.chunks.collect import chunked_listing

        out += chunked_listing(store.chunks, {k for k, _, _ in out})
    return sorted(out)


def _manifest_keys(data: bytes, key: str) -> set[str]:
    from gitext.store.manifests import parse_manifest

    try:
        entries = parse_manifest(data, where=key)
    except ArchivesError:
        return set()
    return {ObjectId("md5", e.md5).key for e in entries}


def check_gc_allowed(repo: Repo) -> None:
    """Refuse gc where DVC remotes are configured: we do not read them yet, so what a
    ``gc --remote`` deleted could be DVC's only copy. (``.dvc`` files are read: their
    outputs are in the keep-set.)"""
    from gitext.pipeline.dvcproject import dvc_gc_blockers

    reasons = dvc_gc_blockers(repo)
    if reasons:
        raise GcRefusedError(
            "gc refused: this is a DVC project (" + "; ".join(reasons) + "): DVC keeps data "
            "there that git-archives does not track, so it cannot tell DVC's data from garbage",
            hint="use 'dvc gc' (e.g. 'dvc gc --workspace') to clean DVC's cache and remotes; "
                 "nothing was deleted")


def _check_no_index_in_progress(repo: Repo) -> None:
    busy = indexes_in_progress(repo)
    if busy:
        import shlex

        raise GcRefusedError(
            f"gc refused: {_printable(os.fspath(busy[0]))} exists: a git command (add, "
            "commit, stash, checkout...) is building an index, and the objects it has just "
            "stored are in no index yet",
            hint="run gc again when it has finished; if no git command is running, the file "
                 f"is stale: rm {shlex.quote(os.fspath(busy[0]))}")


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)[1:-1]


def _with_listed_files(store: LocalStore, remote: Remote | None, young: set[str]) -> set[str]:
    """``young`` plus the files listed by each ``.dir`` manifest in it (read from the cache,
    or from ``remote``); a manifest that cannot be read adds nothing (one larger than any
    manifest can be stops the gc)."""
    young = set(young)
    for key in sorted(k for k in young if k.endswith(".dir")):
        try:
            if remote is None:
                data = store.key_path(key).read_bytes()
            else:
                data = read_bounded(remote.backend, key, limit=MANIFEST_LIMIT,
                                    what="directory manifest", hint=f"check {key} there")
        except (OSError, ObjectMissingError):
            continue
        young |= _manifest_keys(data, key)
    return young


def plan_gc(repo: Repo, *, all_commits: bool, remote: Remote | None = None,
            expire: float | None = 3600.0, now: float | None = None,
            scope: Scope | None = None, not_in: Remote | None = None) -> GcPlan:
    """What ``gc`` would delete from the cache (``remote`` None) or from ``remote``. On a
    remote the tips of every branch, tag and remote-tracking ref are kept as well. Objects
    written less than ``expire`` seconds ago are kept (None: every unreferenced one), and so
    are the files listed by such a recent ``.dir`` manifest.

    In the cache, whatever ``expire`` says, nothing an index names goes, nor anything a
    ``git add`` still running has stored: the cache is listed first, then gc refuses if any
    worktree's index is being built (``index.lock``: git takes it before the clean filter
    stores the first object and releases it once the new index is in place), and only then
    are the indexes read. An object listed was therefore either in an index read after it,
    or written by a command still holding that lock when gc looked.

    ``scope`` adds what DVC's ``-a``/``-T``/``--rev``/``-n`` keep; ``not_in`` (a remote,
    for the cache only) keeps every object that remote lacks (``--not-in-remote``)."""
    check_gc_allowed(repo)
    if remote is not None:
        check_writable(repo, remote, "delete objects (gc --remote)")
    store = open_store(repo)
    listing = list(remote.backend.list_times("files/")) if remote is not None \
        else _cache_keys(store)
    if remote is None:
        _check_no_index_in_progress(repo)
    scope = scope or Scope(all_commits=all_commits)
    refs = keep_references(repo, all_commits=all_commits or scope.all_commits,
                           branch_tips=remote is not None,
                           commits=scope_commits(repo, scope))
    keys = _keep_keys(repo, store, refs, remote=remote)
    cutoff = None if expire is None else (time.time() if now is None else now) - expire
    unref = [(k, s, w) for k, s, w in listing if k not in keys]
    recent = [(k, s) for k, s, w in unref if cutoff is None or w > cutoff]
    young = _with_listed_files(store, remote, {k for k, _ in recent})
    doomed = [(k, s) for k, s, _w in unref if k not in young]
    recent = [(k, s) for k, s, _w in unref if k in young]
    if remote is not None and chunk_capable(remote.backend):
        from gitext.sync.chunkgc import plan_chunks
        from gitext.sync.chunksync import remote_index

        more, kept = plan_chunks(remote.backend, remote_index(store, remote), keys, cutoff)
        doomed += more
        recent += kept
    unsent: list[tuple[str, int]] = []
    if not_in is not None and remote is None and doomed:
        there = not_in.backend.exists_many([k for k, _ in doomed])
        unsent = [(k, s) for k, s in doomed if k not in there]
        doomed = [(k, s) for k, s in doomed if k in there]
    return GcPlan(remote.url if remote is not None else os.fspath(store.root), keys, doomed,
                  recent, cutoff, unsent)


def apply_gc(repo: Repo, plan: GcPlan, *, remote: Remote | None = None,
             jobs: int | None = None) -> int:
    """Delete what ``plan`` lists; return the number of objects removed. In the cache, an
    object written again since the plan was made (newer than its cutoff) is kept, and gc
    refuses if a git command has started building an index since (its ``git add`` may be
    about to stage an object the plan lists: the filter does not rewrite one it finds)."""
    if remote is None:
        from gitext.store.chunks.collect import collect, drop_recipe

        _check_no_index_in_progress(repo)
        store = open_store(repo)
        n = 0
        for key, _ in plan.doomed:
            path = store.key_path(key)
            if not path.is_file() and drop_recipe(store.chunks, key, plan.cutoff):
                n += 1  # an object stored as chunks: its recipe goes, then packs below
                continue
            with contextlib.suppress(FileNotFoundError):
                if plan.cutoff is not None:
                    st = path.stat()
                    if max(st.st_mtime, st.st_ctime) > plan.cutoff:
                        continue
                path.unlink()
                n += 1
        if os.path.isdir(store.root / "chunks"):
            collect(store.chunks, cutoff=plan.cutoff)
        return n
    from gitext.sync.chunkgc import deletion_phases

    with ThreadPoolExecutor(max_workers=transfer_jobs(remote, jobs)) as pool:
        for phase in deletion_phases(plan.doomed):  # recipes, then idx, then packs
            list(pool.map(remote.backend.delete, phase))
    return len(plan.doomed)

