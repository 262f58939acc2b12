"""``git archives nb``: strip notebook outputs, and show notebooks as text for diffs.

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
from typing import TYPE_CHECKING, Any

from gitext.codec.shellquote import display

if TYPE_CHECKING:
    from gitext.notebooks.strip import StripOptions

NOTEBOOK_SUFFIXES = (".ipynb", ".zpln")


def register(sub: Any) -> None:
    nb = sub.add_parser(
        "nb", help="notebooks: strip outputs, readable diffs",
        description="Notebook tools. 'strip' removes outputs as the archives-nb filter does; "
                    "'textconv' shows a notebook as text for git diff.",
    )
    nb_sub = nb.add_subparsers(dest="nb_verb", metavar="<nb-verb>")
    nb.set_defaults(func=lambda ns: _usage(nb))

    strip = nb_sub.add_parser(
        "strip", help="strip outputs (stdin to stdout, or FILE... in place)",
        description="Strip outputs, execution counts and volatile metadata, as nbstripout "
                    "does. Reads stdin and writes stdout unless files are given. Options "
                    "default to the nb.* keys of .archives/config.",
    )
    strip.add_argument("files", nargs="*", metavar="FILE", help="notebooks to strip in place")
    strip.add_argument("--dry-run", action="store_true",
                       help="only print which notebooks would be stripped")
    strip.add_argument("--verify", action="store_true",
                       help="like --dry-run, and exit 1 if any notebook would change")
    strip.add_argument("-t", "--textconv", action="store_true",
                       help="write the stripped FILEs to stdout instead of in place")
    strip.add_argument("-f", "--force", action="store_true",
                       help="also strip files not named *.ipynb or *.zpln")
    strip.add_argument("--keep-output", action="store_true", default=None,
                       help="do not strip outputs")
    strip.add_argument("--keep-count", action="store_true", default=None,
                       help="do not strip execution counts")
    strip.add_argument("--keep-id", action="store_true", default=None,
                       help="keep cell ids (default: replace them with 0, 1, 2...)")
    strip.add_argument("--extra-keys", action="append", default=[], metavar="KEYS",
                       help="space-separated metadata keys to strip too, "
                            "e.g. 'metadata.kernelspec cell.metadata.foo'")
    strip.add_argument("--keep-metadata-keys", action="append", default=[], metavar="KEYS",
                       help="space-separated keys to keep that are stripped by default, "
                            "e.g. 'cell.metadata.collapsed'")
    strip.add_argument("--drop-empty-cells", action="store_true", default=None,
                       help="remove cells whose source is empty or whitespace")
    strip.add_argument("--drop-tagged-cells", action="append", default=[], metavar="TAGS",
                       help="space-separated cell tags; cells with any of them are removed")
    strip.add_argument("--strip-init-cells", action="store_true", default=None,
                       help="strip outputs of cells with init_cell metadata too")
    strip.add_argument("--max-size", metavar="SIZE",
                       help="keep outputs up to SIZE characters (e.g. 50, 10k)")
    strip.add_argument("--keep-output-type", nargs="+", action="extend", default=[],
                       metavar="TYPE", help="output types to keep, e.g. stream:stderr, error")
    strip.add_argument("--drop-output-type", nargs="+", action="extend", default=[],
                       metavar="TYPE", help="output types to drop from kept outputs")
    strip.add_argument("-m", "--mode", choices=("auto", "jupyter", "zeppelin"),
                       help="notebook kind (auto: *.zpln is Zeppelin)")
    strip.add_argument("--on-error", choices=("error", "passthrough"),
                       help="for a file that is not a notebook: fail (default), or "
                            "leave it unchanged with a warning")
    strip.add_argument("--no-config", action="store_true",
                       help="ignore the nb.* keys of .archives/config and git config")
    strip.set_defaults(func=lambda ns: strip_command(
        files=ns.files, dry_run=ns.dry_run, verify=ns.verify, to_stdout=ns.textconv,
        force=ns.force, keep_output=ns.keep_output, keep_count=ns.keep_count,
        keep_id=ns.keep_id, extra_keys=ns.extra_keys,
        keep_metadata_keys=ns.keep_metadata_keys, drop_empty_cells=ns.drop_empty_cells,
        drop_tagged_cells=ns.drop_tagged_cells, strip_init_cells=ns.strip_init_cells,
        max_size=ns.max_size, keep_output_types=ns.keep_output_type,
        drop_output_types=ns.drop_output_type, mode=ns.mode, on_error=ns.on_error,
        use_config=not ns.no_config,
    ))

    textconv = nb_sub.add_parser(
        "textconv", help="print a notebook as text (git's diff.archives-nb.textconv)",
        description="Print FILE as text: percent-style cells, sources, outputs summarised. "
                    "Set as 'git config diff.archives-nb.textconv \"git-archives nb textconv\"'.",
    )
    textconv.add_argument("file", metavar="FILE")
    _color_arg(textconv)
    textconv.set_defaults(func=lambda ns: textconv_command(file=ns.file, color=ns.color))

    diff = nb_sub.add_parser(
        "diff", help="show one notebook as text, or the text diff of two",
        description="With one FILE, the same as 'textconv'. With two, a unified diff of "
                    "their text forms (exit 1 if they differ, like diff(1)).",
    )
    diff.add_argument("file", metavar="FILE")
    diff.add_argument("other", metavar="OTHER", nargs="?")
    _color_arg(diff)
    diff.set_defaults(func=lambda ns: diff_command(file=ns.file, other=ns.other,
                                                   color=ns.color))

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

    restore = nb_sub.add_parser(
        "restore-outputs", help="put back outputs kept aside before a checkout replaced them",
        description="'nb refresh' (and the hooks that run it) keeps a copy of each notebook "
                    "whose only changes were outputs, because git may then replace it. This "
                    "copies those outputs back into the cells whose source is unchanged. "
                    "With no PATH, lists the notebooks that have outputs kept.",
    )
    restore.add_argument("paths", nargs="*", metavar="PATH")
    restore.add_argument("--discard", action="store_true",
                         help="drop the kept outputs of PATH instead")
    restore.set_defaults(func=lambda ns: restore_outputs_command(paths=ns.paths,
                                                                 discard=ns.discard))

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


def restore_outputs_command(*, paths: Sequence[str], discard: bool) -> int:
    from gitext.git.repo import Repo
    from gitext.notebooks import refresh as nbrefresh

    repo = Repo.discover(Path.cwd())
    top = repo.root
    if not paths:
        replaced = set(nbrefresh.replaced_since_saved(repo))
        for path in nbrefresh.saved_outputs(repo):
            print(path + ("  (outputs can be put back)" if path in replaced else ""))
        return 0
    code = 0
    for p in paths:
        rel = Path(os.path.relpath(Path(p).resolve(), top)).as_posix()
        if discard:
            if not nbrefresh.discard_outputs(repo, rel):
                _err(f"{rel}: no outputs are kept for it")
                code = 1
            continue
        count = nbrefresh.restore_outputs(repo, rel)
        print(f"{display(rel)}: outputs put back in {count} cell(s)")
    return code


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


# ---------------------------------------------------------------------------- strip

def _load_options(*, use_config: bool, keep_output: bool | None, keep_count: bool | None,
                  keep_id: bool | None, extra_keys: Sequence[str],
                  keep_metadata_keys: Sequence[str], drop_empty_cells: bool | None,
                  drop_tagged_cells: Sequence[str], strip_init_cells: bool | None,
                  max_size: str | None, keep_output_types: Sequence[str],
                  drop_output_types: Sequence[str], mode: str | None,
                  on_error: str | None) -> StripOptions:
    """Config first, then flags: a flag given wins, list flags add to the configured lists."""
    import dataclasses

    from gitext.notebooks.strip import StripOptions, options_from_config, parse_max_size

    base = StripOptions()
    if use_config:
        from gitext.config import Config
        from gitext.errors import NotARepositoryError
        from gitext.git.repo import Repo

        try:
            root: Any = Repo.discover().worktree
        except NotARepositoryError:
            root = None
        base = options_from_config(Config.load(root))

    def words(values: Sequence[str]) -> tuple[str, ...]:
        return tuple(w for v in values for w in v.split())

    changes: dict[str, Any] = {
        "extra_keys": base.extra_keys + words(extra_keys),
        "keep_metadata_keys": base.keep_metadata_keys + words(keep_metadata_keys),
        "drop_tagged_cells": base.drop_tagged_cells + words(drop_tagged_cells),
        "keep_output_types": base.keep_output_types + words(keep_output_types),
        "drop_output_types": base.drop_output_types + words(drop_output_types),
    }
    for key, flag in (("keep_output", keep_output), ("keep_count", keep_count),
                      ("keep_id", keep_id), ("drop_empty_cells", drop_empty_cells),
                      ("strip_init_cells", strip_init_cells), ("mode", mode),
                      ("on_error", on_error)):
        if flag is not None:
            changes[key] = flag
    if max_size is not None:
        changes["max_size"] = parse_max_size(max_size)
    return dataclasses.replace(base, **changes)


def strip_command(*, files: Sequence[str], dry_run: bool, verify: bool, to_stdout: bool,
                  force: bool, keep_output: bool | None, keep_count: bool | None,
                  keep_id: bool | None, extra_keys: Sequence[str],
                  keep_metadata_keys: Sequence[str], drop_empty_cells: bool | None,
                  drop_tagged_cells: Sequence[str], strip_init_cells: bool | None,
                  max_size: str | None, keep_output_types: Sequence[str],
                  drop_output_types: Sequence[str], mode: str | None, on_error: str | None,
                  use_config: bool) -> int:
    """Strip stdin to stdout, or each FILE in place; exit 1 if a file failed (or --verify
    found one that would change)."""
    from gitext.errors import NotebookError
    from gitext.notebooks.strip import strip_and_compare

    opts = _load_options(
        use_config=use_config, keep_output=keep_output, keep_count=keep_count,
        keep_id=keep_id, extra_keys=extra_keys, keep_metadata_keys=keep_metadata_keys,
        drop_empty_cells=drop_empty_cells, drop_tagged_cells=drop_tagged_cells,
        strip_init_cells=strip_init_cells, max_size=max_size,
        keep_output_types=keep_output_types, drop_output_types=drop_output_types,
        mode=mode, on_error=on_error,
    )
    dry_run = dry_run or verify
    out = sys.stdout.buffer

    if not files:
        data = sys.stdin.buffer.read()
        try:
            stripped, changed = strip_and_compare(data, name="<stdin>", opts=opts)
        except NotebookError as exc:
            if opts.on_error != "passthrough":
                raise
            _err(f"warning: {exc.message} (passed through unchanged)")
            stripped, changed = data, False
        if dry_run:
            if changed:
                out.write(b"Dry run: would have stripped <stdin>\n")
            return 1 if verify and changed else 0
        out.write(stripped)
        out.flush()
        return 0

    failed = False
    any_change = False
    for name in files:
        if not force and not name.endswith(NOTEBOOK_SUFFIXES):
            _err(f"warning: skipping {name}: not *.ipynb or *.zpln (use --force)")
            continue
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            _err(f"error: cannot read {name}: {exc.strerror or exc}")
            failed = True
            continue
        try:
            stripped, changed = strip_and_compare(data, name=name, opts=opts)
        except NotebookError as exc:
            if opts.on_error == "passthrough":
                _err(f"warning: {exc.message} (left unchanged)")
                if to_stdout and not dry_run:
                    out.write(data)
                continue
            _err(f"error: {exc.message}")
            failed = True
            continue
        any_change = any_change or changed
        if dry_run:
            if changed:
                out.write(f"Dry run: would have stripped {name}\n".encode("utf-8", "replace"))
        elif to_stdout:
            out.write(stripped)
        elif changed:
            try:
                write_atomic(name, stripped)
            except OSError as exc:
                _err(f"error: cannot write {name}: {exc.strerror or exc}; it was not changed")
                failed = True
    out.flush()
    if failed:
        return 1
    return 1 if verify and any_change else 0


def write_atomic(path: str, data: bytes) -> None:
    from gitext.fs.atomic import atomic_write

    atomic_write(path, data)


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
    from gitext.config import Config
    from gitext.errors import ArchivesError
    from gitext.git.repo import Repo
    from gitext.notebooks.strip import options_from_config

    try:
        root = Repo.discover(Path.cwd()).worktree
    except ArchivesError:
        root = None
    return options_from_config(Config.load(root))


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


def diff_command(*, file: str, other: str | None, color: str) -> int:
    """One FILE: as ``textconv``. Two: their unified text diff; 1 if they differ."""
    if other is None:
        return textconv_command(file=file, color=color)
    import difflib

    use_color = _want_color(color)
    a = _as_text(file, color=False).splitlines(keepends=True)
    b = _as_text(other, color=False).splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, fromfile=file, tofile=other))
    for line in lines:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        if use_color and line[:1] in "+-@" and not line.startswith(("+++", "---")):
            code = {"+": "32", "-": "31", "@": "36"}[line[0]]
            line = f"\x1b[{code}m{line.rstrip(chr(10))}\x1b[m\n"
        sys.stdout.buffer.write(line.encode("utf-8", "surrogateescape"))
    sys.stdout.flush()
    return 1 if lines else 0
