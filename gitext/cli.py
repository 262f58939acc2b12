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
from typing import Any

from gitext.commands import COMMAND_MODULES, VERB_MODULES, build_parser
from gitext.errors import ArchivesError, ArchivesWarning

__all__ = ["COMMAND_MODULES", "VERB_MODULES", "build_parser", "main", "run"]

# What git runs on every commit, checkout and push: their process ends without the
# interpreter's teardown (_exit_without_teardown).
_QUICK_EXIT_VERBS = frozenset({"hook", "filter-process"})

_DEFAULT_SHOWWARNING = warnings.showwarning


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
    if "--help" in args:  # as git: VERB --help opens the manual page, -h prints the usage
        from gitext.commands.help import help_from_argv

        shown = help_from_argv(args)
        if shown is not None:
            return shown
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


def run() -> None:
    """The ``git-archives`` program: :func:`main`, then the process ends."""
    code = main()
    if sys.argv[1:2] and sys.argv[1] in _QUICK_EXIT_VERBS:
        _exit_without_teardown(code)
    sys.exit(code)


def _exit_without_teardown(code: int) -> None:
    """End the process as the interpreter would, less its teardown (freeing every module
    and object one by one: 10-15 ms once the LFS client and the chunk store are imported,
    paid by every ``git push`` and checkout that runs a hook or the filter; a program in Go
    or C pays none). The atexit functions run and the standard streams are flushed, as at
    a normal exit. Returns (the caller then exits normally) while a thread that is not a
    daemon is alive, since the interpreter would wait for it, or if a stream cannot be
    flushed (its error is then reported as usual)."""
    import atexit
    import threading

    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)  # CPython's, what its exit runs
    if run_exitfuncs is None:
        return
    here = threading.current_thread()
    if any(t is not here and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    try:
        run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
