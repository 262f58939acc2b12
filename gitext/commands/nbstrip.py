"""``git archives nb strip``: strip notebooks as the archives-nb filter does, stdin to
stdout or FILEs in place, with nbstripout's options over the nb.* config keys.

:mod:`gitext.commands.notebooks` creates the ``nb`` verb and calls :func:`add_strip`.
Only the standard library is imported here; the stripper loads when the verb runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from gitext.notebooks.strip_options import StripOptions


def add_strip(nb_sub: Any) -> None:
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
    _add_strip_options(strip)
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


def _add_strip_options(parser: argparse.ArgumentParser) -> None:
    """nbstripout's options; each one given wins over the nb.* config key."""
    parser.add_argument("--keep-output", action="store_true", default=None,
                        help="do not strip outputs")
    parser.add_argument("--keep-count", action="store_true", default=None,
                        help="do not strip execution counts")
    parser.add_argument("--keep-id", action="store_true", default=None,
                        help="keep cell ids (default: replace them with 0, 1, 2...)")
    parser.add_argument("--extra-keys", action="append", default=[], metavar="KEYS",
                        help="space-separated metadata keys to strip too, "
                             "e.g. 'metadata.kernelspec cell.metadata.foo'")
    parser.add_argument("--keep-metadata-keys", action="append", default=[], metavar="KEYS",
                        help="space-separated keys to keep that are stripped by default, "
                             "e.g. 'cell.metadata.collapsed'")
    parser.add_argument("--drop-empty-cells", action="store_true", default=None,
                        help="remove cells whose source is empty or whitespace")
    parser.add_argument("--drop-tagged-cells", action="append", default=[], metavar="TAGS",
                        help="space-separated cell tags; cells with any of them are removed")
    parser.add_argument("--strip-init-cells", action="store_true", default=None,
                        help="strip outputs of cells with init_cell metadata too")
    parser.add_argument("--max-size", metavar="SIZE",
                        help="keep outputs up to SIZE characters (e.g. 50, 10k)")
    parser.add_argument("--keep-output-type", nargs="+", action="extend", default=[],
                        metavar="TYPE", help="output types to keep, e.g. stream:stderr, error")
    parser.add_argument("--drop-output-type", nargs="+", action="extend", default=[],
                        metavar="TYPE", help="output types to drop from kept outputs")
    parser.add_argument("-m", "--mode", choices=("auto", "jupyter", "zeppelin"),
                        help="notebook kind (auto: *.zpln is Zeppelin)")
    parser.add_argument("--on-error", choices=("error", "passthrough"),
                        help="for a file that is not a notebook: fail (default), or "
                             "leave it unchanged with a warning")
    parser.add_argument("--no-config", action="store_true",
                        help="ignore the nb.* keys of .archives/config and git config")

def _err(message: str) -> None:
    print(f"git-archives: {message}", file=sys.stderr)


def _load_options(*, use_config: bool, **flags: Any) -> StripOptions:
    """Config first, then flags: a flag given wins, list flags add to the configured lists."""
    from gitext.notebooks.strip_options import StripOptions, configured_options, with_flags

    base = StripOptions()
    if use_config:
        from gitext.errors import NotARepositoryError
        from gitext.git.repo import Repo
        from gitext.log import warn

        try:
            root: Any = Repo.discover().worktree
        except NotARepositoryError:
            root = None
        base, problems = configured_options(root)
        for line in problems:
            warn(line)
    return with_flags(base, **flags)


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
    opts = _load_options(
        use_config=use_config, keep_output=keep_output, keep_count=keep_count,
        keep_id=keep_id, extra_keys=extra_keys, keep_metadata_keys=keep_metadata_keys,
        drop_empty_cells=drop_empty_cells, drop_tagged_cells=drop_tagged_cells,
        strip_init_cells=strip_init_cells, max_size=max_size,
        keep_output_types=keep_output_types, drop_output_types=drop_output_types,
        mode=mode, on_error=on_error,
    )
    dry_run = dry_run or verify
    if not files:
        return _strip_stdin(opts, dry_run=dry_run, verify=verify)
    return _strip_files(files, opts, dry_run=dry_run, verify=verify, to_stdout=to_stdout,
                        force=force)


def _strip_stdin(opts: StripOptions, *, dry_run: bool, verify: bool) -> int:
    from gitext.errors import NotebookError
    from gitext.notebooks.strip import strip_and_compare

    out = sys.stdout.buffer
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


def _strip_files(files: Sequence[str], opts: StripOptions, *, dry_run: bool, verify: bool,
                 to_stdout: bool, force: bool) -> int:
    from gitext.notebooks.strip_options import NOTEBOOK_SUFFIXES

    out = sys.stdout.buffer
    failed = False
    any_change = False
    for name in files:
        if not force and not name.endswith(NOTEBOOK_SUFFIXES):
            _err(f"warning: skipping {name}: not *.ipynb or *.zpln (use --force)")
            continue
        ok, changed = _strip_file(name, opts, out, dry_run=dry_run, to_stdout=to_stdout)
        failed = failed or not ok
        any_change = any_change or changed
    out.flush()
    if failed:
        return 1
    return 1 if verify and any_change else 0


def _strip_file(name: str, opts: StripOptions, out: BinaryIO, *, dry_run: bool,
                to_stdout: bool) -> tuple[bool, bool]:
    """Strip one FILE as asked: (no error, stripping changed its content)."""
    from gitext.errors import NotebookError
    from gitext.notebooks.strip import strip_and_compare

    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        _err(f"error: cannot read {name}: {exc.strerror or exc}")
        return False, False
    try:
        stripped, changed = strip_and_compare(data, name=name, opts=opts)
    except NotebookError as exc:
        if opts.on_error == "passthrough":
            _err(f"warning: {exc.message} (left unchanged)")
            if to_stdout and not dry_run:
                out.write(data)
            return True, False
        _err(f"error: {exc.message}")
        return False, False
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
            return False, changed
    return True, changed


def write_atomic(path: str, data: bytes) -> None:
    from gitext.fs.atomic import atomic_write

    atomic_write(path, data)
