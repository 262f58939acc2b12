"""Pairing verbs: ``git archives nb pair``, ``git archives nb sync`` and ``git archives watch``.

:mod:`gitext.commands.notebooks` creates the ``nb`` verb and calls :func:`register_nb` with
its sub-parsers, and :func:`register_top` with the top-level ones.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def register_nb(nb_sub: Any) -> None:
    p = nb_sub.add_parser(
        "pair", help="pair notebooks with text files (jupytext) and create the missing side",
        description="Pair each notebook with text files in the given jupytext formats, "
                    "written into the notebook's metadata; without --formats the formats "
                    "come from jupytext.toml or pyproject.toml [tool.jupytext].",
    )
    p.add_argument("--formats", metavar="FORMATS",
                   help="jupytext formats, e.g. ipynb,py:percent or ipynb,md")
    p.add_argument("paths", nargs="+", metavar="PATH", help="notebooks or folders")
    p.set_defaults(func=lambda ns: cmd_pair(paths=ns.paths, formats=ns.formats))

    p = nb_sub.add_parser(
        "sync", help="bring paired notebooks and text files in step, by content",
        description="Propagate whichever side of each pair changed since the last sync; "
                    "edits to different cells on both sides are merged, edits to the same "
                    "cell are refused. Nothing is written when nothing changed.",
    )
    p.add_argument("--dry-run", "-n", action="store_true",
                   help="say what would be done and write nothing")
    p.add_argument("--prefer", choices=("notebook", "text"),
                   help="when both sides changed, keep this side (for a refused pair)")
    p.add_argument("--hook", action="store_true",
                   help="as hooks run it (the pre-commit framework's, Jupyter's post-save): a "
                        "text file named counts only when its jupytext header pairs it")
    p.add_argument("--exit-code", action="store_true",
                   help="exit 1 when a file was written (the pre-commit framework's hook)")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="notebooks, text files or folders (default: the whole work tree)")
    p.set_defaults(func=lambda ns: cmd_sync(paths=ns.paths, dry_run=ns.dry_run,
                                            prefer=ns.prefer, hook=ns.hook,
                                            exit_code=ns.exit_code))


def register_top(sub: Any) -> None:
    p = sub.add_parser(
        "watch", help="keep every notebook pair in sync while you work",
        description="Watch the work tree and sync each notebook pair a moment after one of "
                    "its files is saved. Ctrl-C stops.",
    )
    p.add_argument("--debounce", type=float, default=0.3, metavar="SECONDS",
                   help="quiet time after the last save before syncing (default 0.3)")
    p.add_argument("path", nargs="?", default=".", help="a folder in the work tree")
    p.set_defaults(func=lambda ns: cmd_watch(path=ns.path, debounce=ns.debounce))


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _show(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)


def cmd_pair(*, paths: Sequence[str], formats: str | None) -> int:
    from gitext.notebooks.pairing.pair import pair

    for path in pair(Path.cwd(), list(paths), formats):
        print(f"wrote {_show(path)}")
    return 0


def cmd_sync(*, paths: Sequence[str], dry_run: bool, prefer: str | None,
             hook: bool = False, exit_code: bool = False) -> int:
    from gitext.errors import UsageError
    from gitext.notebooks.pairing.sync import NotebookSyncError, SyncResult, sync

    if prefer not in (None, "notebook", "text"):
        raise UsageError(f"--prefer {prefer}: choose notebook or text")

    def show(results: list[SyncResult]) -> None:
        for res in results:
            if res.action in ("unchanged", "conflict"):
                continue
            verb = "would " if dry_run else ""
            what = ", ".join(_show(w) for w in res.written) or "nothing"
            extra = f" ({res.detail})" if res.detail else ""
            print(f"{res.action}: {_show(res.notebook)} <-> {_show(res.text)}: "
                  f"{verb}write {what}{extra}")

    try:
        results = sync(Path.cwd(), list(paths), dry_run=dry_run,
                       prefer="notebook" if prefer == "notebook"
                       else "text" if prefer == "text" else None,
                       explicit_files=not hook)
    except NotebookSyncError as exc:
        show(exc.results)
        raise
    show(results)
    if exit_code and not dry_run and any(r.written for r in results):
        _err("paired files were brought in step: add them (git add) and commit again")
        return 1
    if not any(r.action != "unchanged" for r in results):
        _err(f"{len(results)} pair(s) already in sync" if results else "no paired notebooks")
    return 0


def cmd_watch(*, path: str, debounce: float) -> int:
    from gitext.errors import UsageError
    from gitext.notebooks.watch import watch

    if debounce < 0:
        raise UsageError(f"--debounce {debounce}: must be zero or more seconds")
    return watch(Path(path).resolve(), debounce=debounce, report=_err)
