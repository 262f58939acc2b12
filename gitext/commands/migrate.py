"""``git archives migrate``: move data tracked by another tool over to git-archives.

``--from-nbstripout`` / ``--from-jupytext``: a clone's notebook filter and pairings switch
over (logic: :mod:`gitext.sync.migrate_nbstripout`, :mod:`gitext.sync.migrate_jupytext`).

``--from-dvc [PATH…]``: data that ``.dvc`` files track becomes pointer-tracked files, in one
new commit (logic: :mod:`gitext.sync.migrate_dvc`). ``--from-lfs``: ``filter=lfs`` rules
become ours, in one commit changing only ``.gitattributes`` (logic:
:mod:`gitext.sync.migrate_lfs`). Each source has its own flag and functions; the flags are
exclusive. Only the standard library at module level.
"""

from __future__ import annotations

import argparse
from typing import Any

from gitext.codec.shellquote import display


def register(sub: Any) -> None:
    p = sub.add_parser("migrate", help="switch data tracked by DVC (.dvc files) or git-lfs "
                                       "(one new commit), or notebooks set up with "
                                       "nbstripout or jupytext, over to git-archives")
    source = p.add_mutually_exclusive_group(required=True)
    _add_from_dvc(source)
    _add_lfs_args(source)
    _add_notebook_args(source)
    p.add_argument("-n", "--dry-run", action="store_true", help="print the plan; change nothing")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="--from-dvc only: just these (.dvc files, their outputs, or folders "
                        "holding either)")
    p.set_defaults(func=_run)


def _run(ns: argparse.Namespace) -> int:
    from gitext.errors import UsageError

    if ns.from_dvc:
        return cmd_migrate_from_dvc(paths=ns.paths, dry_run=ns.dry_run)
    flag = next(f for f in ("lfs", "nbstripout", "jupytext") if getattr(ns, f"from_{f}"))
    if ns.paths:
        raise UsageError(f"migrate --from-{flag} takes no paths: it works on the whole clone",
                         hint=f"git archives migrate --from-{flag}")
    if ns.from_nbstripout:
        return cmd_migrate_from_nbstripout(dry_run=ns.dry_run)
    if ns.from_jupytext:
        return cmd_migrate_from_jupytext(dry_run=ns.dry_run)
    return _run_from_lfs(ns)


# -- --from-dvc -------------------------------------------------------------------------------

def _add_from_dvc(p: Any) -> None:
    p.add_argument("--from-dvc", action="store_true",
                   help="files and folders that .dvc files track (dvc add, dvc import): "
                        "the .dvc files and their .gitignore lines go, .gitattributes rules "
                        "come, content stays in the cache")


def cmd_migrate_from_dvc(*, paths: list[str], dry_run: bool) -> int:
    import os

    from gitext.config import format_size
    from gitext.git.repo import Repo
    from gitext.sync.migrate_dvc import apply_migration, plan_migration

    repo = Repo.discover()
    root = repo.root
    rel = [os.path.relpath(os.path.abspath(p), root).replace(os.sep, "/") for p in paths]
    plan = plan_migration(repo, rel)
    print(f"migrate --from-dvc: {len(plan.dvc_files)} .dvc file(s), {len(plan.outputs)} "
          f"output(s), {len(plan.files)} file(s) become pointers")
    for o in plan.outputs:
        kind = f"folder of {len(o.files)} file(s)" if o.out.is_dir else "file"
        size = f", {format_size(o.out.size)}" if o.out.size is not None else ""
        source = (f", imported from {display(o.dvc_file.imported_from)}: the import record "
                  "goes" if o.dvc_file.imported_from else "")
        print(f"  {display(o.out.path)} ({kind}{size}{source})")
        print(f"    remove {display(o.dvc_file.file)}; track '{display(o.pattern)}' in "
              ".gitattributes; drop its .gitignore line")
    if dry_run:
        print("dry run: nothing changed")
        return 0
    names = ", ".join(o.out.path for o in plan.outputs[:5])
    more = f" and {len(plan.outputs) - 5} more" if len(plan.outputs) > 5 else ""
    message = (f"Track {names}{more} with git-archives instead of .dvc files\n\n"
               "git archives migrate --from-dvc: the .dvc files and their .gitignore lines "
               "are removed,\n.gitattributes rules added; the data is stored as pointers.")
    commit = apply_migration(repo, plan, message)
    print(f"migrate --from-dvc: committed {commit[:12]} ({len(plan.files)} pointer(s))")
    return 0


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


# -- from nbstripout / jupytext ---------------------------------------------------------------

def _add_notebook_args(group: Any) -> None:
    group.add_argument("--from-nbstripout", action="store_true",
                       help="nbstripout's filter (nbstripout --install) becomes ours in this "
                            "clone: its options carry over, its attributes lines switch")
    group.add_argument("--from-jupytext", action="store_true",
                       help="pairings that jupytext.toml, pyproject.toml [tool.jupytext] or "
                            "notebook metadata declare are synced and recorded by content")


def cmd_migrate_from_nbstripout(*, dry_run: bool) -> int:
    from gitext.git.repo import Repo
    from gitext.sync.migrate_nbstripout import plan_migration, run_migration

    repo = Repo.discover()
    plan = plan_migration(repo)
    verb = "would" if dry_run else "will"
    for e in plan.entries:
        print(f"nbstripout config ({e.scope}): {e.key} = {display(e.value)}")
    for opt in plan.options:
        print(f"option: archives.nb.{opt.key} {verb} be '{display(opt.value)}' "
              f"(from {opt.source})")
    for line in plan.kept + plan.skipped:
        print(f"option: {line}")
    for change in plan.files:
        shown = display(change.rel or str(change.path))
        for n, before, after in change.lines:
            print(f"{shown} line {n}: {display(before)}  ->  "
                  + (display(after) if after else "(removed: the git-archives line replaces "
                                                  "it)"))
    for section in plan.remove_sections:
        print(f"git config --local: [{section}] {verb} be removed")
    for line in plan.left:
        print(f"not changed: {line}")
    if dry_run:
        print("dry run: nothing changed; then 'git archives install' sets up our filter")
        return 0
    for line in run_migration(repo, plan):
        print(line)
    committed = [c.rel for c in plan.files if c.rel is not None]
    if committed:
        print(f"hint: commit {' '.join(display(r) for r in committed)}: from then on "
              "teammates need git-archives ('git archives install') for notebooks")
    print("migrate --from-nbstripout: done; 'git add --renormalize -- .' re-stores notebooks "
          "staged before (the same bytes when the options are the same)")
    return 0


def cmd_migrate_from_jupytext(*, dry_run: bool) -> int:
    from gitext.git.repo import Repo
    from gitext.sync.migrate_jupytext import migrate

    repo = Repo.discover()
    report = migrate(repo, dry_run=dry_run)
    for line in report.lines:
        print(line)
    if dry_run:
        print("dry run: nothing changed")
    return 1 if report.conflicts else 0
