"""``git archives nb merge-driver`` (git's ``merge.archives-nb.driver``) and ``nb diff``
(text, or one self-contained HTML page with ``--html``).

Only the standard library is imported here; the notebook code loads when a verb runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register_nb(nb_sub: Any) -> None:
    _add_diff(nb_sub)
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
    from gitext.codec.shellquote import display, scrub, shell_arg
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
    for line in conflicts:  # metadata keys come from the notebook: no control characters
        print(f"  {scrub(line)}", file=sys.stderr)
    print(f"hint: keep what you want in the notebook, delete the marker cells, then "
          f"'git add -- {shell_arg(name)}'", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------- nb diff

def _add_diff(nb_sub: Any) -> None:
    diff = nb_sub.add_parser(
        "diff", help="what changed in notebooks, cell by cell (text, or an HTML page)",
        description="In a repository, as 'git diff': no REV compares the index with the "
                    "work tree, one REV that commit with the work tree, two REVs two "
                    "commits; PATHs limit it (default: every *.ipynb). With --no-index (or "
                    "outside a repository): FILE alone is shown as text, FILE OTHER are "
                    "compared (exit 1 if they differ, like diff(1)). --html writes one "
                    "self-contained page (no network) with the changed cells side by side, "
                    "markdown rendered, outputs and images of both sides.",
    )
    diff.add_argument("args", nargs="*", metavar="REV|PATH")
    diff.add_argument("--no-index", action="store_true",
                      help="compare two files outside git")
    diff.add_argument("--html", action="store_true", help="write an HTML page")
    diff.add_argument("-o", "--output", metavar="FILE",
                      help="where --html writes (default: stdout; a temporary file "
                           "with --open)")
    diff.add_argument("--open", action="store_true",
                      help="open the page in the web browser (implies --html)")
    diff.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                      help="colour the text diff (auto: git's color.diff on a terminal)")
    diff.set_defaults(func=diff_command)


def _split_args(repo: Any, args: list[str]) -> tuple[list[str], list[str]]:
    """Leading arguments that name commits (and no file) are revisions; the rest paths."""
    from gitext.errors import ArchivesError

    revs: list[str] = []
    for arg in args:
        if len(revs) == 2 or Path(arg).exists():
            break
        try:
            repo.resolve_rev(arg)
        except ArchivesError:
            break
        revs.append(arg)
    return revs, args[len(revs):]


def _repo_or_none() -> Any:
    from gitext.errors import ArchivesError
    from gitext.git.repo import Repo

    try:
        repo = Repo.discover(Path.cwd())
    except ArchivesError:
        return None
    return repo if repo.worktree is not None else None


def diff_command(ns: argparse.Namespace) -> int:
    from gitext.errors import UsageError

    html = ns.html or ns.open
    if ns.output and not html:
        raise UsageError("-o FILE is for --html", hint="add --html")
    repo = None if ns.no_index else _repo_or_none()
    if repo is None:
        if not 1 <= len(ns.args) <= 2:
            raise UsageError("outside a repository (or with --no-index), nb diff takes "
                             "FILE or FILE OTHER")
        if not html:
            return _file_text_diff(ns.args, ns.color)
        return _write_page(_file_pairs(ns.args), ns, title=" vs ".join(ns.args))
    import os

    from gitext.notebooks.review import notebook_sides

    revs, paths = _split_args(repo, ns.args)
    rel = [os.path.relpath(Path(p).resolve(), repo.root) if Path(p).exists() else p
           for p in paths]
    pairs = notebook_sides(repo, revs, rel)
    for arg, path in zip(paths, rel, strict=True):
        if not (Path(arg).exists() or any(c in arg for c in "*?[") or any(
                p.path == path or p.path.startswith(path.rstrip("/") + "/") for p in pairs)):
            raise UsageError(f"{arg}: neither a revision nor a path in the work tree",
                             hint="see 'git log --oneline' for revisions")
    if html:
        title = " vs ".join([*revs, *(["work tree"] if len(revs) < 2 else [])]) if revs \
            else "index vs work tree"
        return _write_page(pairs, ns, title=f"Notebook changes: {title}")
    return _repo_text_diff(pairs, ns.color)


def _file_pairs(files: list[str]) -> list[Any]:
    from gitext.notebooks.review import NotebookPair, Side

    if len(files) != 2:
        from gitext.errors import UsageError

        raise UsageError("--html compares two files: FILE OTHER")
    return [NotebookPair(files[1], Side(files[0], _read(files[0])),
                         Side(files[1], _read(files[1])))]


def _write_page(pairs: list[Any], ns: argparse.Namespace, *, title: str) -> int:
    from gitext.fs.atomic import atomic_write
    from gitext.notebooks.review_html import render_page

    page = render_page(pairs, title=title).encode("utf-8", "surrogateescape")
    target = ns.output
    if target is None and ns.open:
        import tempfile

        fd, target = tempfile.mkstemp(prefix="nbdiff-", suffix=".html")
        import os

        os.close(fd)
    if target is None:
        sys.stdout.buffer.write(page)
        sys.stdout.flush()
        return 0
    atomic_write(target, page)
    print(f"wrote {target} ({len(pairs)} notebook(s))", file=sys.stderr)
    if ns.open:
        import webbrowser

        webbrowser.open(Path(target).resolve().as_uri())
    return 0


def _print_diff(lines: list[str], use_color: bool) -> None:
    for raw in lines:
        line = raw if raw.endswith("\n") else raw + "\n\\ No newline at end of file\n"
        if use_color and line[:1] in "+-@" and not line.startswith(("+++", "---")):
            code = {"+": "32", "-": "31", "@": "36"}[line[0]]
            line = f"\x1b[{code}m{line.rstrip(chr(10))}\x1b[m\n"
        sys.stdout.buffer.write(line.encode("utf-8", "surrogateescape"))
    sys.stdout.flush()


def _repo_text_diff(pairs: list[Any], color: str) -> int:
    from gitext.commands.notebooks import _want_color
    from gitext.notebooks.review import text_diff

    opts = _configured_options()
    use_color = _want_color(color)
    for pair in pairs:
        _print_diff(text_diff(pair, opts), use_color)
    return 0


def _file_text_diff(files: list[str], color: str) -> int:
    """One FILE: as ``textconv``. Two: their unified text diff; 1 if they differ."""
    import difflib

    from gitext.commands.notebooks import _as_text, _want_color, textconv_command

    if len(files) == 1:
        return textconv_command(file=files[0], color=color)
    a = _as_text(files[0], color=False).splitlines(keepends=True)
    b = _as_text(files[1], color=False).splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, fromfile=files[0], tofile=files[1]))
    _print_diff(lines, _want_color(color))
    return 1 if lines else 0
