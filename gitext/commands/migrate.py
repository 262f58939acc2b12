"""``git archives migrate --from-dvc [PATH…] [--dry-run]``: data that ``.dvc`` files track
becomes pointer-tracked files, in one new commit (logic: :mod:`gitext.sync.migrate_dvc`).

Only the standard library at module level. Each source (``--from-dvc`` here) has its own
argument group and command function, so another source adds its own beside it.
"""

from __future__ import annotations

from typing import Any

from gitext.codec.shellquote import display


def register(sub: Any) -> None:
    p = sub.add_parser("migrate", help="turn data tracked by another tool into "
                                       "pointer-tracked files (one new commit)")
    _add_from_dvc(p)
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="print the plan; change nothing")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="only these (.dvc files, their outputs, or folders holding either)")
    p.set_defaults(func=_run)


def _run(ns: Any) -> int:
    from gitext.errors import UsageError

    if ns.from_dvc:
        return cmd_migrate_from_dvc(paths=ns.paths, dry_run=ns.dry_run)
    raise UsageError("migrate: say what to migrate from", hint="git archives migrate --from-dvc")


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
