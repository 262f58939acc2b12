"""``git archives migrate``: move data tracked by another tool over to git-archives.

Each source has its own flag and its own pair of functions (``_add_<source>_args``,
``_run_from_<source>``); the flags are exclusive.
"""

from __future__ import annotations

import argparse
from typing import Any

from gitext.codec.shellquote import display


def register(sub: Any) -> None:
    p = sub.add_parser("migrate", help="switch data tracked by git-lfs over to git-archives")
    source = p.add_mutually_exclusive_group(required=True)
    _add_lfs_args(source)
    p.add_argument("--dry-run", action="store_true", help="show the plan; change nothing")
    p.set_defaults(func=_run)


def _run(ns: argparse.Namespace) -> int:
    if getattr(ns, "from_lfs", False):
        return _run_from_lfs(ns)
    from gitext.errors import UsageError

    raise UsageError("say what to migrate from", hint="git archives migrate --from-lfs")


# -- from Git LFS -----------------------------------------------------------------------------

def _add_lfs_args(group: Any) -> None:
    group.add_argument("--from-lfs", action="store_true",
                       help="filter=lfs rules become ours (one commit changing only "
                            ".gitattributes), objects in .git/lfs are taken over, git-lfs stops "
                            "running in this clone; .lfsconfig is kept")


def _run_from_lfs(ns: argparse.Namespace) -> int:
    from gitext.git.repo import Repo
    from gitext.store.dvccache import open_store
    from gitext.sync.migrate_lfs import plan_migration, run_migration

    repo = Repo.discover()
    store = open_store(repo)
    plan = plan_migration(repo, store)
    verb = "would" if ns.dry_run else "will"
    for change in plan.changes:
        print(f"{display(change.path)}: {len(change.lines)} rule(s) {verb} become ours")
        for n, before, after in change.lines:
            print(f"  line {n}: {display(before)}  ->  {display(after)}")
    if ns.dry_run:
        print(f"objects: {len(plan.objects)} in .git/lfs/objects would be taken over "
              "(hard links, each verified)")
        print("this clone would be set up with 'git archives install', and git-lfs would stop "
              "running in it (its filter served by git-archives, its hooks set aside); your "
              "global git-lfs setup is not touched")
        if plan.lfs_url:
            print(f".lfsconfig is kept (lfs.url = {display(plan.lfs_url)})")
        return 0
    result = run_migration(repo, store, plan)
    print(f"committed {result.commit[:12]}: .gitattributes rules switched to git-archives")
    print(f"objects: {len(result.taken)} taken over from .git/lfs/objects"
          + (f", {len(result.corrupt)} corrupt (left out)" if result.corrupt else ""))
    for exc in result.corrupt:
        print(f"corrupt: {exc.message}; {exc.hint}")
    for line in result.config_lines:
        print(line)
    if plan.lfs_url:
        print(f".lfsconfig kept (lfs.url = {display(plan.lfs_url)})")
    print("hint: push the commit ('git push'); from it on, teammates need git-archives "
          "('git archives install' in their clone): git-lfs does not read these rules")
    return 1 if result.corrupt else 0
