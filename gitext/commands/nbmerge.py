"""``git archives nb merge-driver`` (git's ``merge.archives-nb.driver``) and ``nb diff``.

Only the standard library is imported here; the notebook code loads when a verb runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def register_nb(nb_sub: Any) -> None:
    driver = nb_sub.add_parser(
        "merge-driver", help="three-way merge of notebooks, cell by cell (git's merge driver)",
        description="Merge the notebooks BASE, LOCAL and REMOTE cell by cell into LOCAL, "
                    "stripped as the notebook filter stores them. Exit 0 on a clean merge; "
                    "1 when conflicts are left (as marked cells: the notebook still opens) "
                    "or a side is not a notebook (LOCAL is then left as it was). Set by "
                    "'git archives install' as merge.archives-nb.driver.",
    )
    driver.add_argument("base", metavar="BASE")
    driver.add_argument("local", metavar="LOCAL")
    driver.add_argument("remote", metavar="REMOTE")
    driver.add_argument("path", metavar="PATH", nargs="?",
                        help="the notebook's path in the repository (for messages)")
    driver.set_defaults(func=lambda ns: merge_driver_command(
        base=ns.base, local=ns.local, remote=ns.remote, path=ns.path))


def _configured_options() -> Any:
    from gitext.config import Config
    from gitext.errors import ArchivesError
    from gitext.git.repo import Repo
    from gitext.notebooks.strip_options import options_from_config

    try:
        root = Repo.discover(Path.cwd()).worktree
    except ArchivesError:
        root = None
    return options_from_config(Config.load(root))


def _read(path: str) -> bytes:
    from gitext.errors import UsageError

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def merge_driver_command(*, base: str, local: str, remote: str, path: str | None) -> int:
    from gitext.codec.shellquote import display, shell_arg
    from gitext.fs.atomic import atomic_write
    from gitext.notebooks.merge import merge_files

    name = path or local
    merged, conflicts = merge_files(_read(base), _read(local), _read(remote), name=name,
                                    opts=_configured_options())
    atomic_write(local, merged)
    if not conflicts:
        return 0
    print(f"git-archives: {display(name)}: {len(conflicts)} notebook conflict(s), marked by "
          f"'<<<<<<< local' / '=======' / '>>>>>>> remote' cells:", file=sys.stderr)
    for line in conflicts:
        print(f"  {line}", file=sys.stderr)
    print(f"hint: keep what you want in the notebook, delete the marker cells, then "
          f"'git add -- {shell_arg(name)}'", file=sys.stderr)
    return 1
