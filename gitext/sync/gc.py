"""Garbage collection of the cache and of a remote.

:func:`plan_gc` plans (a dry run) and :func:`apply_gc` applies deletions that never touch
what a worktree, index, stash or unpushed commit needs (:func:`keep_references`), nor
anything written within the grace period (:func:`parse_expire`); :func:`check_gc_allowed`
refuses in a DVC project.

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError, ObjectMissingError, UsageError
from gitext.git.repo import Repo
from gitext.pipeline.dvcproject import UncachedOutputs
from gitext.remotes import Remote
from gitext.remotes.backend import chunk_capable
from gitext.store.dvccache import open_store
from gitext.store.objects import LocalStore
from gitext.sync.patterns import PathFilter
from gitext.sync.references import (
    LOCK_NAME,
    YAML_NAME,
    References,
    add_dvcfile,
    add_lock,
    blobs_at,
    blobs_rev_list,
    expand_manifests,
    has_refs,
    is_zero_sha,
    object_exists,
    ref_tips,
    resolve_blobs,
    rev_exists,
    stash_commits,
)
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


def _worktrees(repo: Repo) -> list[tuple[Path, str | None]]:
    out = repo.git("worktree", "list", "--porcelain", check=False).stdout.decode(
        "utf-8", "surrogateescape")
    trees: list[tuple[Path, str | None]] = []
    path: Path | None = None
    head: str | None = None
    for line in [*out.splitlines(), ""]:
        if line.startswith("worktree "):
            path, head = Path(line[len("worktree "):]), None
        elif line.startswith("HEAD "):
            head = line[len("HEAD "):]
        elif not line and path is not None:
            trees.append((path, head))
            path = None
    return trees


@dataclass(frozen=True)
class Scope:
    """What gc keeps beyond the workspace (DVC's flags): every commit (``-A``), the tips of
    all branches (``-a``) and of all tags (``-T``), some revisions (``--rev``); with
    ``num`` (``-n``) the last ``num`` commits from each of the ``-a``/``-T``/``--rev`` tips."""

    all_commits: bool = False
    all_branches: bool = False
    all_tags: bool = False
    revs: tuple[str, ...] = ()
    num: int = 1


def scope_commits(repo: Repo, scope: Scope) -> list[str]:
    """The commits ``scope`` keeps besides the workspace (``all_commits`` aside)."""
    roots: list[str] = []
    for rev in scope.revs:
        if not rev_exists(repo, rev):
            raise UsageError(f"--rev: '{rev}' is not a commit here",
                             hint="give a branch, tag or commit id; nothing was deleted")
        roots.append(repo.resolve_rev(rev))
    roots += ref_tips(repo, branches=scope.all_branches, tags=scope.all_tags)
    if not roots:
        return []
    if scope.num <= 1:
        return list(dict.fromkeys(roots))
    commits: dict[str, None] = {}
    for root in dict.fromkeys(roots):
        listed = repo.git("rev-list", f"--max-count={scope.num}", root).stdout.decode()
        commits.update(dict.fromkeys(listed.split()))
    return list(commits)


def keep_references(repo: Repo, *, all_commits: bool, branch_tips: bool = False,
                    commits: Sequence[str] = ()) -> References:
    """Everything gc must keep: each worktree's HEAD, index (also of a worktree whose folder
    is gone) and on-disk ``dvc.lock``, every stash (with its index and untracked parts),
    every commit not on a remote-tracking ref (unpushed), plus the whole history with
    ``all_commits``, every ref's tip with ``branch_tips``, and ``commits``."""
    keep = PathFilter()
    refs = References()
    blobs: dict[str, str] = {}
    heads: list[str] = []
    for _wt, head in _worktrees(repo):
        if head and not is_zero_sha(head) and object_exists(repo, head):
            heads.append(head)
            b, _ = blobs_at(repo, head)
            blobs.update({k: v for k, v in b.items() if k not in blobs})
    locks: set[str] = set()
    for data in _index_listings(repo):
        for rec in data.split(b"\0"):
            meta, _, p = rec.partition(b"\t")
            fields = meta.split()
            if len(fields) == 3:
                blobs.setdefault(fields[1].decode(), p.decode("utf-8", "surrogateescape"))
        locks.update(_tracked_locks(data))
    _add_disk_locks(repo, refs, locks, keep)
    _add_disk_dvcfiles(repo, refs, keep)
    stashes = stash_commits(repo)
    extra = [f"{s}^{n}" for s in stashes for n in (2, 3) if rev_exists(repo, f"{s}^{n}")]
    for rev in [*stashes, *extra, *commits]:
        b, _ = blobs_at(repo, rev)
        blobs.update({k: v for k, v in b.items() if k not in blobs})
    _add_history_blobs(repo, blobs, all_commits=all_commits, branch_tips=branch_tips)
    refs.update(resolve_blobs(repo, blobs, keep, yaml_revs=heads))
    return refs


def _add_history_blobs(repo: Repo, blobs: dict[str, str], *, all_commits: bool,
                       branch_tips: bool) -> None:
    """Add to ``blobs`` (sha -> path; a path already there stays) those of the whole history
    with ``all_commits``; else of every unpushed commit, of every experiment's commit
    (``refs/exps``, ``refs/archives/exps``) and, with ``branch_tips``, of every branch, tag
    and remote-tracking tip."""
    if all_commits:
        if has_refs(repo):
            blobs.update({k: v for k, v in blobs_rev_list(repo, ["--all"]).items()
                          if k not in blobs})
        return
    if has_refs(repo):
        unpushed = blobs_rev_list(repo, ["--branches", "--tags", "--not", "--remotes"])
        blobs.update({k: v for k, v in unpushed.items() if k not in blobs})
        # experiments (finished, failed, queued): their whole trees, pushed or not
        exps = blobs_rev_list(repo, ["--no-walk", "--glob=refs/exps",
                                     "--glob=refs/archives/exps"])
        blobs.update({k: v for k, v in exps.items() if k not in blobs})
    if branch_tips:
        tips = repo.git("for-each-ref", "--format=%(objectname)",
                        "refs/heads", "refs/tags", "refs/remotes").stdout.decode().split()
        for tip in dict.fromkeys(tips):
            if rev_exists(repo, tip):
                b, _ = blobs_at(repo, repo.resolve_rev(tip))
                blobs.update({k: v for k, v in b.items() if k not in blobs})


def _add_disk_locks(repo: Repo, refs: References, tracked: set[str], keep: PathFilter) -> None:
    """The ``dvc.lock`` files on disk in every worktree (a repro may not have staged them),
    each with the ``dvc.yaml`` beside it for its ``cache: false`` outputs."""
    for wt, _head in _worktrees(repo):
        if not wt.is_dir():
            continue
        for rel in sorted({LOCK_NAME, *tracked}):
            lock = wt / rel
            lock_dir = rel.rpartition("/")[0]
            uncached = UncachedOutputs()
            with contextlib.suppress(OSError):
                uncached.add_yaml(lock_dir, (lock.parent / YAML_NAME).read_bytes())
            with contextlib.suppress(OSError):
                add_lock(refs, lock.read_bytes(), lock_dir, keep, uncached)


def _add_disk_dvcfiles(repo: Repo, refs: References, keep: PathFilter) -> None:
    """The ``.dvc`` files on disk in every worktree, tracked or not: ``dvc add`` writes one
    that nobody has staged yet, and its data is in the cache."""
    from gitext.git.repo import run_git
    from gitext.pipeline.dvcfiles import is_dvcfile

    for wt, _head in _worktrees(repo):
        if not wt.is_dir():
            continue
        proc = run_git(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                        ":(glob)**/*.dvc"], cwd=wt, check=False)
        for raw in proc.stdout.split(b"\0"):
            rel = raw.decode("utf-8", "surrogateescape")
            if not raw or not is_dvcfile(rel):
                continue
            try:
                data = (wt / rel).read_bytes()
            except OSError:
                continue  # deleted in the work tree: the index and HEAD still count
            add_dvcfile(refs, data, rel, keep)


def _admin_dirs(repo: Repo) -> list[Path]:
    """The git dir of every worktree: the common dir, then ``worktrees/<name>``."""
    dirs = [repo.common_dir]
    with contextlib.suppress(OSError):
        dirs += sorted(p for p in (repo.common_dir / "worktrees").iterdir() if p.is_dir())
    return dirs


def _index_listings(repo: Repo) -> list[bytes]:
    """``ls-files -s -z`` of every worktree's index, read from its git dir (so a worktree
    whose folder was moved or deleted still counts), and of ``$GIT_INDEX_FILE`` if set.
    An index that cannot be read stops gc: what it names is unknown."""
    from gitext.git.repo import run_git

    env = {k: v for k, v in os.environ.items() if k != "GIT_INDEX_FILE"}
    jobs: list[tuple[Path, dict[str, str]]] = [
        (d, env) for d in _admin_dirs(repo) if (d / "index").is_file()]
    extra = os.environ.get("GIT_INDEX_FILE")
    if extra and Path(extra).is_file():
        jobs.append((repo.git_dir, {**env, "GIT_INDEX_FILE": extra}))
    out: list[bytes] = []
    for admin, run_env in jobs:
        proc = run_git(["--git-dir", os.fspath(admin), "--work-tree", os.fspath(admin),
                        "ls-files", "-s", "-z"], check=False, env=run_env)
        if proc.returncode != 0:
            raise GcRefusedError(
                f"gc refused: cannot read the index in {admin} "
                f"({proc.stderr.decode('utf-8', 'replace').strip()[:200]})",
                hint="fix that worktree's index (git status there) or remove the worktree "
                     "('git worktree prune'); nothing was deleted")
        out.append(proc.stdout)
    return out


# Files git holds while it builds an index: its lock (``git add``, ``commit``, ``checkout``),
# a partial commit's ``next-index-*.lock``, ``git stash``'s temporary ``index.stash.*``.
def _index_busy(name: str) -> bool:
    return name == "index.lock" or name.startswith(("next-index-", "index.stash."))


def indexes_in_progress(repo: Repo) -> list[Path]:
    """Index files some git command is building right now (in any worktree)."""
    found: list[Path] = []
    for admin in _admin_dirs(repo):
        with contextlib.suppress(OSError), os.scandir(admin) as entries:
            found += [Path(e.path) for e in entries if _index_busy(e.name)]
    return found


def _tracked_locks(ls_files_z: bytes) -> list[str]:
    out = []
    for rec in ls_files_z.split(b"\0"):
        p = rec.partition(b"\t")[2].decode("utf-8", "surrogateescape")
        if p.endswith("/" + LOCK_NAME):
            out.append(p)
    return out


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


class GcRefusedError(ArchivesError):
    """gc cannot tell what is garbage here; nothing was deleted."""


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
    import io

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
    young = {k for k, _ in recent}
    for key in sorted(k for k in young if k.endswith(".dir")):
        try:
            if remote is None:
                data = store.key_path(key).read_bytes()
            else:
                buf = io.BytesIO()
                remote.backend.get(key, buf)
                data = buf.getvalue()
        except (OSError, ObjectMissingError):
            continue
        young |= _manifest_keys(data, key)
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

