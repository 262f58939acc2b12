"""``git archives add PATH…``: track and stage in one step, for people used to ``dvc add``.

Each file (or every file of a folder) gets a ``.gitattributes`` rule naming it literally,
unless a rule already sends it through a large-file filter; then the paths and
``.gitattributes`` are staged with ``git add``, which stores each file as a pointer. Files
git already had are cleaned again (``--renormalize``) so that they become pointers too.
Nothing is written before every path has been checked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display


def register(sub: Any) -> None:
    p = sub.add_parser(
        "add", help="track PATH… as pointers and stage them (like 'dvc add')",
        description="Track each PATH (a file, or a folder's files) as pointers and stage "
                    "it with .gitattributes: 'git archives track' for exactly those paths, "
                    "then 'git add'. Commit afterwards with git.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-f", "--force", action="store_true",
                   help="stage paths that .gitignore ignores too (as 'git add -f')")
    p.set_defaults(func=lambda ns: cmd_add(paths=ns.paths, force=ns.force))


def literal_pattern(rel: str, *, folder: bool) -> str:
    """A gitattributes pattern matching exactly ``rel`` (repository-relative, '/'), or
    every file under it: anchored, with wildmatch's special characters escaped."""
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in rel)
    return f"/{escaped}/**" if folder else f"/{escaped}"


def _checked_paths(repo: Any, paths: list[str]) -> list[tuple[str, bool]]:
    """``(repository-relative path, is a folder)`` of each PATH; raise on one that is
    missing, outside the work tree, or inside ``.git``."""
    from gitext.errors import UsageError

    root = repo.root.resolve()
    out: list[tuple[str, bool]] = []
    for given in paths:
        full = Path(os.path.abspath(given))
        if not full.exists() and not full.is_symlink():
            raise UsageError(f"'{display(given)}' does not exist", hint="nothing was staged")
        try:
            rel = full.parent.resolve().joinpath(full.name).relative_to(root).as_posix()
        except ValueError:
            raise UsageError(f"'{display(given)}' is outside the repository {root}",
                             hint="nothing was staged") from None
        if rel == "." or ".git" in rel.lower().split("/"):
            raise UsageError(f"'{display(given)}' cannot be added: give files or folders "
                             "of the work tree", hint="nothing was staged")
        if full.is_symlink():
            raise UsageError(f"'{display(given)}' is a symbolic link: git stores the link "
                             "itself, not a file to store as a pointer",
                             hint="add the file it points to instead")
        out.append((rel, full.is_dir()))
    return out


def _ignored(repo: Any, rels: list[str]) -> list[str]:
    proc = repo.git("check-ignore", "-z", "--stdin", check=False,
                    input_bytes=b"".join(r.encode() + b"\0" for r in rels))
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _filtered(repo: Any, rels: list[str]) -> dict[str, str]:
    """path -> its large-file filter (``archives``, or ``lfs`` that we may serve) where a
    rule already sets one."""
    proc = repo.git("check-attr", "-z", "--stdin", "filter",
                    input_bytes=b"".join(r.encode() + b"\0" for r in rels))
    fields = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    found = {}
    for i in range(0, len(fields) - 2, 3):
        path, _attr, value = fields[i:i + 3]
        if value in ("archives", "lfs"):
            found[path] = value
    return found


def cmd_add(*, paths: list[str], force: bool) -> int:
    from gitext.errors import UsageError
    from gitext.git import attributes
    from gitext.git.repo import Repo

    repo = Repo.discover()
    checked = _checked_paths(repo, paths)
    rels = [rel for rel, _ in checked]
    ignored = [] if force else _ignored(repo, rels)
    if ignored:
        first = ignored[0]
        dvc = (repo.root / f"{first}.dvc").exists()
        raise UsageError(
            f"'{display(first)}' is ignored by git (a .gitignore rule)"
            + (f"; it is tracked by DVC ({display(first + '.dvc')})" if dvc else ""),
            hint="remove that .gitignore line, or add with -f; nothing was staged"
                 + ("; to move DVC-tracked data over see 'git archives migrate --from-dvc'"
                    if dvc else ""))
    # a folder's files are tracked by its own rule; a file already filtered keeps its rule
    filtered = _filtered(repo, [r for r, folder in checked if not folder])
    patterns = [literal_pattern(rel, folder=folder) for rel, folder in checked
                if folder or rel not in filtered]
    from gitext.commands.core import _writable_in_tree

    gitattributes = repo.root / ".gitattributes"
    _writable_in_tree(repo.root, gitattributes)
    added, _already = attributes.track(gitattributes, patterns) if patterns else ([], [])
    for pat in added:
        print(f"Tracking '{display(pat)}'")
    known = repo.git("ls-files", "-z", "--", *(f":(literal){r}" for r in rels)).stdout
    force_args = ["-f"] if force else []
    attrs = [".gitattributes"] if gitattributes.exists() else []
    repo.git("add", *force_args, "--", *attrs, *(f":(literal){r}" for r in rels))
    if known:  # committed before as plain files: store them as pointers now
        repo.git("add", "--renormalize", "--", *(f":(literal){r}" for r in rels))
    for rel in rels:
        print(f"Staged '{display(rel)}' (stored as pointers)")
    print("hint: commit with 'git commit' (with .gitattributes)")
    return 0
