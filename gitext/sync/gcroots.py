"""What gc keeps: the roots of the keep-set and the references they name.

:func:`keep_references` gathers every worktree's HEAD, index and on-disk ``dvc.lock`` /
``.dvc`` files, every stash, every unpushed commit and experiment, plus what a
:class:`Scope` (DVC's ``-A``/``-a``/``-T``/``--rev``/``-n``) adds;
:func:`indexes_in_progress` finds an index some git command is building right now.
:mod:`gitext.sync.gc` plans and applies deletions around them.

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitext.errors import ArchivesError, UsageError
from gitext.git.repo import Repo
from gitext.pipeline.dvcproject import UncachedOutputs
from gitext.sync.patterns import PathFilter
from gitext.sync.references import (
    LOCK_NAME,
    YAML_NAME,
    References,
    add_dvcfile,
    add_lock,
    blobs_at,
    blobs_rev_list,
    has_refs,
    is_zero_sha,
    object_exists,
    ref_tips,
    resolve_blobs,
    rev_exists,
    stash_commits,
)


class GcRefusedError(ArchivesError):
    """gc cannot tell what is garbage here; nothing was deleted."""


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
