"""``git archives init [--template NAME]``: set up a project (files to commit), then this
clone (what ``git archives install`` does). The work is :mod:`gitext.scaffold`."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "init", help="set up a project: .archives/, a template's layout, then 'install'",
        description="Create what a git-archives project needs (.archives/config) and, with "
                    "--template ml, the ML layout: data/, models/, src/, notebooks/, "
                    "metrics/, plots/, tests/, params.yaml, a dvc.yaml without stages, "
                    "notebooks/jupytext.toml, .gitignore and .gitattributes rules. Then "
                    "sets up this clone as 'git archives install' does. Existing files are never "
                    "overwritten: .gitignore and .gitattributes only get their missing "
                    "lines. Run it inside a git repository ('git init' first).")
    p.add_argument("--template", metavar="NAME",
                   help="lay out a project of this kind (ml)")
    p.set_defaults(func=lambda ns: cmd_init(template=ns.template))


def cmd_init(*, template: str | None) -> int:
    from gitext import scaffold
    from gitext.codec.shellquote import display, shell_args
    from gitext.config import track_driver
    from gitext.errors import NotARepositoryError, UsageError
    from gitext.git.install import install
    from gitext.git.repo import Repo

    scaffold.check_template(template)
    command = "git archives init" + (f" --template {template}" if template else "")
    try:
        repo = Repo.discover(Path.cwd())
    except NotARepositoryError:
        raise NotARepositoryError(
            f"{display(str(Path.cwd()))} is not inside a git repository; '{command}' sets up "
            "a repository, it does not create one", hint=f"git init && {command}") from None
    root = repo.root  # a bare repository: refused here
    if template and Path.cwd().resolve() != root.resolve():
        raise UsageError(f"'{command}' lays out the top of the work tree, and this is a "
                         "subfolder", hint=f"cd {shell_args([str(root)])} && {command}")
    driver = track_driver(repo) if template else "archives"
    report = scaffold.scaffold(root, template, driver=driver, command=command)
    for rel in report.created:
        print(f"created  {display(rel)}")
    for line in report.added:
        print(f"appended {display(line)}")
    if report.kept:
        print(f"left as they were: {', '.join(display(k) for k in report.kept)}")
    setup = install(repo)
    for line in setup.lines:
        print(line)
    for note in report.notes:
        print(note)
    if not report.changed and not setup.lines:
        print(f"nothing changed: {display(str(root))} was already set up.")
        return 0
    print(f"git-archives is set up for {display(str(root))}.")
    if report.changed:
        tops = sorted({rel.split("/")[0] for rel in [*report.created,
                                                    *(a.split(":")[0] for a in report.added)]})
        print(f"hint: commit the project files: git add -- {shell_args(tops)} && "
              "git commit -m 'Project layout'")
    return 0
