"""``git archives migrate --from-lfs``: a team that switches from git-lfs completely.

Pointer blobs are the same in both tools, so no history is rewritten. What changes:

- every ``filter=lfs`` rule of the committed ``.gitattributes`` files becomes ours
  (``filter=lfs`` → ``filter=archives``, likewise ``diff=``/``merge=``; every other byte of
  the file is kept), in one new commit that changes only those files;
- the objects in ``.git/lfs/objects`` are taken over into the cache (hard links, each
  verified; a corrupt one is named and left out);
- the clone is set up (``git archives install``) and git-lfs stops running in it: its
  ``filter.lfs.*`` point at our filter in the clone's own config (so older commits that
  still say ``filter=lfs`` check out) and its hooks are set aside — the user's global
  git-lfs setup is never touched;
- ``.lfsconfig`` (``lfs.url``: where the team's LFS server is) is kept as it is.

Lower layer: never prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gitext.codec.hashing import ObjectId
from gitext.codec.shellquote import display, shell_arg
from gitext.errors import ArchivesError, CorruptObjectError, UsageError
from gitext.fs.worktree import WorkTree, require_no_symlink
from gitext.git.attributes import LineChange, rewrite_lines, tracked_attribute_files
from gitext.git.install import install
from gitext.git.repo import Repo
from gitext.store.lfsobjects import lfs_objects
from gitext.store.objects import LocalStore

_LFS_TOKEN = re.compile(rb"(?<!\S)(filter|diff|merge)=lfs(?!\S)")
COMMIT_MESSAGE = ("Switch Git LFS rules to git-archives\n\n"
                  "'git archives migrate --from-lfs': filter=lfs rules become filter=archives.\n"
                  "Pointers are unchanged (the same Git LFS v1 format); .lfsconfig is kept.\n")


@dataclass
class AttributesChange:
    path: str  # repository-relative
    old: bytes
    new: bytes
    lines: list[LineChange]  # (line number, before, after)


@dataclass
class LfsMigration:
    changes: list[AttributesChange]
    objects: list[ObjectId]  # in .git/lfs/objects, not yet in our cache
    lfs_url: str | None  # from .lfsconfig, kept


@dataclass
class MigrationResult:
    commit: str
    taken: list[ObjectId] = field(default_factory=list)
    corrupt: list[CorruptObjectError] = field(default_factory=list)
    config_lines: list[str] = field(default_factory=list)


def rewrite_rules(data: bytes) -> tuple[bytes, list[LineChange]]:
    """``data`` with each rule's ``filter=lfs``/``diff=lfs``/``merge=lfs`` made ours;
    comments and every other byte unchanged."""
    return rewrite_lines(data, lambda line: _LFS_TOKEN.sub(rb"\1=archives", line))


def _require_clean(repo: Repo, paths: list[str]) -> None:
    """Refuse when a ``.gitattributes`` to rewrite has changes not committed: the migration
    commit must hold only the rewrite."""
    out = repo.git("status", "--porcelain=v1", "-z", "--", *paths).stdout
    dirty = [rec[3:].decode("utf-8", "surrogateescape") for rec in out.split(b"\0") if rec]
    if dirty:
        raise UsageError(f"{display(dirty[0])} has changes that are not committed: the "
                         "migration commit must change only the rules",
                         hint=f"commit or stash them first (git stash push -- "
                              f"{shell_arg(dirty[0])}), then run the migration again")


def plan_migration(repo: Repo, store: LocalStore) -> LfsMigration:
    """What ``migrate --from-lfs`` would change; raises if there is nothing to migrate or a
    rules file cannot be rewritten safely. Changes nothing."""
    if repo.worktree is None:
        raise UsageError("migrate needs a work tree (this is a bare repository)")
    root = repo.worktree
    changes = []
    for rel in tracked_attribute_files(repo):
        path = root / rel
        require_no_symlink(root, path)
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            continue  # deleted in the work tree: _require_clean names it
        new, lines = rewrite_rules(old)
        if lines:
            changes.append(AttributesChange(rel, old, new, lines))
    _require_clean(repo, [c.path for c in changes] or tracked_attribute_files(repo))
    if not changes:
        raise UsageError("nothing to migrate: no committed .gitattributes gives filter=lfs",
                         hint="'git archives track PATTERN' tracks new files")
    objects = [o for o in lfs_objects(repo).iter_objects() if not store.has(o)]
    url = repo.config_get("lfs.url", file=root / ".lfsconfig") \
        if (root / ".lfsconfig").is_file() else None
    return LfsMigration(changes, objects, url)


def run_migration(repo: Repo, store: LocalStore, plan: LfsMigration) -> MigrationResult:
    """Take the objects over, rewrite and commit the rules, stop git-lfs in this clone."""
    taken = lfs_objects(repo).take_over_many(store, plan.objects)
    # Set up while the rules still say filter=lfs: the clone then serves filter=lfs itself
    # (recorded, so later installs keep it for older commits) and git-lfs's hooks go aside.
    config_lines = install(repo).lines
    root = repo.root
    with WorkTree(root) as wt:
        for change in plan.changes:
            wt.write_bytes(change.path, change.new)
    paths = [c.path for c in plan.changes]
    try:
        repo.git("commit", "-q", "-m", COMMIT_MESSAGE, "--", *paths)
    except ArchivesError:
        with WorkTree(root) as wt:  # nothing half-done: the rules are as they were
            for change in plan.changes:
                wt.write_bytes(change.path, change.old)
        raise
    commit = repo.git_text("rev-parse", "HEAD").strip()
    return MigrationResult(commit, taken.taken, taken.corrupt, config_lines)
