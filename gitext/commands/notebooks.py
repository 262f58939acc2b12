"""``git archives nb``: strip notebook outputs, and show notebooks as text for diffs.

This module creates the ``nb`` verb and its small verbs (textconv, diff, refresh,
restore-outputs, jupyter-hook); the ``strip`` verb is :mod:`gitext.commands.nbstrip` and the
pairing verbs (pair, sync, and the top-level watch) are :mod:`gitext.commands.nbpair`.
Only the standard library is imported here; the notebook code loads when a verb runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display, shell_arg
from gitext.commands.nbstrip import add_strip


def register(sub: Any) -> None:
    nb = sub.add_parser(
        "nb", help="notebooks: strip outputs, readable diffs",
        description="Notebook tools. 'strip' removes outputs as the archives-nb filter does; "
                    "'textconv' shows a notebook as text for git diff.",
    )
    nb_sub = nb.add_subparsers(dest="nb_verb", metavar="<nb-verb>")
    nb.set_defaults(func=lambda ns: _usage(nb))
    add_strip(nb_sub)
    _add_textconv(nb_sub)
    _add_refresh(nb_sub)
    _add_restore_outputs(nb_sub)
    _add_jupyter_hook(nb_sub)
    _add_merge_verbs(nb_sub)
    _add_pairing_verbs(nb_sub, sub)


def _add_textconv(nb_sub: Any) -> None:
    textconv = nb_sub.add_parser(
        "textconv", help="print a notebook as text (git's diff.archives-nb.textconv)",
        description="Print FILE as text: percent-style cells, sources, outputs summarised. "
                    "Set as 'git config diff.archives-nb.textconv \"git-archives nb textconv\"'.",
    )
    textconv.add_argument("file", metavar="FILE")
    _color_arg(textconv)
    textconv.set_defaults(func=lambda ns: textconv_command(file=ns.file, color=ns.color))


def _add_refresh(nb_sub: Any) -> None:
    refresh = nb_sub.add_parser(
        "refresh", help="stop git calling output-only notebook changes 'modified'",
        description="For each notebook that git sees as changed by its size or time, strip "
                    "it as the filter does; when that gives the blob already in the index, "
                    "re-register the entry so git compares it by content. Nothing staged "
                    "changes and no file is written. The hooks and 'watch' run this for you; "
                    "run it by hand when 'git checkout' refuses because of notebook outputs.",
    )
    refresh.add_argument("paths", nargs="*", metavar="PATH")
    refresh.add_argument("-n", "--dry-run", action="store_true",
                         help="only list what would be re-registered")
    refresh.add_argument("-q", "--quiet", action="store_true")
    refresh.set_defaults(func=lambda ns: refresh_command(paths=ns.paths, dry_run=ns.dry_run,
                                                         quiet=ns.quiet))


def _add_restore_outputs(nb_sub: Any) -> None:
    restore = nb_sub.add_parser(
        "restore-outputs", help="put back outputs that git stash, checkout or reset dropped",
        description="The notebook filter keeps aside the outputs it strips (nb.keepOutputs, "
                    "default 200 MB per repository), keyed by path and stripped blob, and "
                    "'nb refresh' keeps a copy of each notebook it re-registers. This puts "
                    "those outputs back into the code cells whose source is unchanged. With "
                    "no PATH (or --list), lists what is kept.",
    )
    restore.add_argument("paths", nargs="*", metavar="PATH")
    restore.add_argument("--list", action="store_true", dest="list_",
                         help="list the kept copies (of PATH, if given)")
    restore.add_argument("--from", dest="from_blob", metavar="STRIPPED-BLOB",
                         help="take the copy whose stripped blob has this id (or prefix)")
    restore.add_argument("--force", action="store_true",
                         help="also replace outputs a cell has now")
    restore.add_argument("--discard", action="store_true",
                         help="drop the kept outputs of PATH instead")
    restore.set_defaults(func=lambda ns: restore_outputs_command(
        paths=ns.paths, discard=ns.discard, list_=ns.list_, from_blob=ns.from_blob,
        force=ns.force))


def _add_jupyter_hook(nb_sub: Any) -> None:
    jhook = nb_sub.add_parser(
        "jupyter-hook", help="make Jupyter re-register notebooks saved with new outputs",
        description="Adds a post-save hook to your Jupyter Server config "
                    "($JUPYTER_CONFIG_DIR or ~/.jupyter, jupyter_server_config.py) that runs "
                    "'git archives nb refresh' on each saved notebook, in the background, so "
                    "'git status' does not call a notebook modified when only its outputs "
                    "changed. A post_save_hook you already had runs first. Restart Jupyter "
                    "after installing.",
    )
    jhook.add_argument("--uninstall", action="store_true", help="remove the hook again")
    jhook.add_argument("--config", metavar="FILE", help="another config file to edit")
    jhook.set_defaults(func=lambda ns: jupyter_hook_command(uninstall=ns.uninstall,
                                                            config=ns.config))


def _add_merge_verbs(nb_sub: Any) -> None:
    # merge-driver and diff (another module, which uses this one's text helpers).
    importlib.import_module("gitext.commands.nbmerge").register_nb(nb_sub)


def _add_pairing_verbs(nb_sub: Any, sub: Any) -> None:
    # Pairing verbs (another module) hang off the same 'nb' parser when present.
    nbpair: Any
    try:
        nbpair = importlib.import_module("gitext.commands.nbpair")
    except ModuleNotFoundError as exc:
        if exc.name != "gitext.commands.nbpair":
            raise
        nbpair = None
    if nbpair is not None:
        nbpair.register_nb(nb_sub)
        nbpair.register_top(sub)


def _color_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour cell headers (auto: git's color.diff on a terminal)")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _err(message: str) -> None:
    print(f"git-archives: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------- refresh

def refresh_command(*, paths: Sequence[str], dry_run: bool, quiet: bool) -> int:
    from gitext.git.repo import Repo
    from gitext.notebooks.refresh import refresh

    repo = Repo.discover(Path.cwd())
    top = repo.root
    rel = [os.path.relpath(Path(p).resolve(), top) for p in paths]
    report = refresh(repo, rel, dry_run=dry_run)
    verb = "would re-register" if dry_run else "re-registered"
    if not quiet:
        for path in report.refreshed:
            print(f"{verb} {display(path)} (only outputs or metadata the filter strips changed)")
        for path in report.modified:
            print(f"modified {display(path)} (its cells changed: a real change)")
    for line in report.unreadable:
        _err(f"cannot read {line}")
    return 1 if report.unreadable else 0


def restore_outputs_command(*, paths: Sequence[str], discard: bool, list_: bool = False,
                            from_blob: str | None = None, force: bool = False) -> int:
    from gitext.git.repo import Repo
    from gitext.notebooks import refresh as nbrefresh
    from gitext.notebooks import restore

    repo = Repo.discover(Path.cwd())
    store = restore.open_kept(repo)
    rels = [restore.kept_path(repo, p) for p in paths]
    if list_ or not paths:
        _list_kept(repo, store, rels)
        return 0
    code = 0
    for rel in rels:
        if discard:
            copies = store.entries(rel)
            for k in copies:
                store.drop(k)
            if not (nbrefresh.discard_outputs(repo, rel) or copies):
                _err(f"{display(rel)}: no outputs are kept for it")
                code = 1
            continue
        chosen = restore.choose(store, repo, rel, from_blob)
        if chosen is not None:
            done = restore.put_back(repo, rel, store.read(chosen), force=force)
            print(f"{display(rel)}: outputs put back in {done.restored} cell(s) "
                  f"(kept {_when(chosen.mtime)}, stripped blob {chosen.blob[:12]})")
            if rel not in nbrefresh.replaced_since_saved(repo):
                nbrefresh.discard_outputs(repo, rel)  # refresh's copy has nothing more
            if done.kept_newer:
                print(f"{display(rel)}: {done.kept_newer} cell(s) have other outputs now and "
                      f"were left as they are; add --force to replace them")
        elif from_blob is None and (nbrefresh.outputs_dir(repo) / rel).is_file():
            count = nbrefresh.restore_outputs(repo, rel)
            print(f"{display(rel)}: outputs put back in {count} cell(s)")
        else:
            what = f"of stripped blob {from_blob} " if from_blob else ""
            _err(f"{display(rel)}: no kept outputs {what}fit its cells "
                 f"(list them: git archives nb restore-outputs --list {shell_arg(rel)})")
            code = 1
    return code


def _when(mtime: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime))


def _list_kept(repo: Any, store: Any, rels: Sequence[str]) -> None:
    from gitext.notebooks import refresh as nbrefresh

    copies = [k for rel in rels for k in store.entries(rel)] if rels else store.entries()
    for k in copies:
        print(f"{k.blob[:12]}  {_when(k.mtime)}  {k.size:>10}  {display(k.path)}")
    replaced = set(nbrefresh.replaced_since_saved(repo))
    for path in nbrefresh.saved_outputs(repo):
        if not rels or path in rels:
            print(f"{'(refresh)':12}  {display(path)}"
                  + ("  (outputs can be put back)" if path in replaced else ""))


def jupyter_hook_command(*, uninstall: bool, config: str | None) -> int:
    from gitext.git.install import executable_command
    from gitext.notebooks import jupyter_hook

    path = Path(config) if config else None
    if uninstall:
        report = jupyter_hook.uninstall(path)
        print(f"removed the post-save hook from {report.path}" if report.changed
              else f"no git-archives hook in {report.path}")
        return 0
    exe = executable_command()
    fallback = exe if os.path.isabs(exe) else (shutil.which(exe) or exe)
    report = jupyter_hook.install(fallback, path)
    print(f"{'added' if report.changed else 'already present:'} the post-save hook in "
          f"{report.path}; restart Jupyter for it to take effect")
    return 0


# ---------------------------------------------------------------------------- textconv

def _want_color(color: str) -> bool:
    if color != "auto":
        return color == "always"
    if not sys.stdout.isatty():
        return False  # under git diff: git colours the diff by its own settings
    from gitext.git.repo import color_wanted

    return color_wanted("color.diff")


def _configured_options() -> Any:
    """The clone's strip options (git runs textconv inside the work tree)."""
    from gitext.errors import ArchivesError
    from gitext.git.repo import Repo
    from gitext.log import warn
    from gitext.notebooks.strip_options import configured_options

    try:
        root = Repo.discover(Path.cwd()).worktree
    except ArchivesError:
        root = None
    options, problems = configured_options(root)
    for line in problems:
        warn(line)
    return options


def _as_text(file: str, *, color: bool, strip: bool = False) -> str:
    """The text form of FILE; a file that is not a notebook is shown as it is.

    With ``strip``, the notebook is first stripped as the clean filter would: git hands
    textconv the work-tree file itself, so without this ``git diff`` would show outputs
    that will never be committed."""
    from gitext.errors import NotebookError
    from gitext.notebooks.strip import strip_bytes
    from gitext.notebooks.textconv import notebook_to_text

    try:
        with open(file, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        from gitext.errors import UsageError

        raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        if strip:
            data = strip_bytes(data, name=file, opts=_configured_options())
        return notebook_to_text(data, name=file, color=color)
    except NotebookError as exc:
        # git diff must still work on a broken notebook: show its bytes, warn once.
        _err(f"warning: {exc.message} (shown as is)")
        return data.decode("utf-8", "replace")


def textconv_command(*, file: str, color: str) -> int:
    """Print FILE as text; git runs this with a temporary file's path."""
    text = _as_text(file, color=_want_color(color), strip=True)
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.flush()
    return 0
