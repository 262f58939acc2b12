"""``git archives <verb>``: argument parsing and the one top-level error handler.

Each area's verbs live in a module under :mod:`gitext.commands` that exposes
``register(subparsers)``; a verb's parser sets ``func`` to a callable taking the parsed
namespace and returning an exit code. Command modules import only the standard library at
module level, so building every parser costs a few milliseconds and no heavy import.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gitext import __version__
from gitext.errors import ArchivesError, ArchivesWarning

_DEFAULT_SHOWWARNING = warnings.showwarning

if TYPE_CHECKING:
    import argparse

# The modules that contribute verbs, in the order their verbs appear in --help.
COMMAND_MODULES = (
    "gitext.commands.core",
    "gitext.commands.notebooks",
    "gitext.commands.pipeline",
    "gitext.commands.pipeline_report",
    "gitext.commands.remotes",
    "gitext.commands.transfer",
    "gitext.commands.migrate",
    "gitext.commands.demo",
)


# Which module registers each top-level verb, so a command builds only its own area's
# parsers (building all of them costs tens of milliseconds). A test checks this table
# against what the modules register; a verb missing here still works (full parser).
VERB_MODULES = {
    **dict.fromkeys(("doctor", "filter-process", "fsck", "hook", "install", "ls-files",
                     "status", "track", "uninstall", "untrack"), "gitext.commands.core"),
    **dict.fromkeys(("nb", "watch"), "gitext.commands.notebooks"),
    **dict.fromkeys(("checkout", "repro"), "gitext.commands.pipeline"),
    **dict.fromkeys(("dag", "metrics", "params"), "gitext.commands.pipeline_report"),
    "remote": "gitext.commands.remotes",
    **dict.fromkeys(("fetch", "gc", "pull", "push"), "gitext.commands.transfer"),
    "migrate": "gitext.commands.migrate",
    "demo": "gitext.commands.demo",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` (a module of COMMAND_MODULES) just its verbs."""
    # Imported here: hooks and the filter process (the hot paths) never build a parser.
    import argparse
    import importlib

    parser = argparse.ArgumentParser(
        prog="git archives",
        description="Version large files, notebooks and pipelines with plain git.",
    )
    parser.add_argument("--version", action="version", version=f"git-archives {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="<verb>")
    for name in COMMAND_MODULES if only is None else (only,):
        importlib.import_module(name).register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a closed terminal), raised like Ctrl-C so that every ``finally``
    runs: a pull releases ``index.lock`` and removes its temp files, as git does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def _stop_cleanly_on_terminate() -> None:
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        # a signal someone chose to ignore (nohup) stays ignored
        if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _raise_terminated)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any,
                  **kwargs: Any) -> None:
    if issubclass(category, ArchivesWarning):
        from gitext import log

        log.warn(str(message))
    else:
        _DEFAULT_SHOWWARNING(message, category, *args, **kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _show_warning  # library code warns; this prints one line
    args = list(sys.argv[1:] if argv is None else argv)
    # git calls these on every add, checkout and commit: skip building the whole parser.
    if args[:1] == ["hook"] and len(args) >= 2:
        from gitext.hooks import run_hook

        return run_hook(args[1], args[2:])
    if args[:1] == ["filter-process"] and set(args[1:]) <= {"--notebooks"}:
        from gitext.filters.process import main as filter_main

        return filter_main(notebooks="--notebooks" in args[1:])
    verb = args[0] if args else ""
    _stop_cleanly_on_terminate()
    parser = build_parser(VERB_MODULES.get(verb) if verb in VERB_MODULES else None)
    ns = parser.parse_args(args)
    func = getattr(ns, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = func(ns)
    except ArchivesError as exc:
        from gitext.codec.shellquote import scrub  # a name from a repository cannot fake a line

        print(f"git-archives: error: {scrub(exc.message)}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {scrub(exc.hint)}", file=sys.stderr)
        return exc.exit_code
    except Terminated as exc:
        print(f"git-archives: stopped by signal {exc.signum}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("git-archives: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
