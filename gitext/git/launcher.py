"""Where git finds us when it runs a filter or a textconv: an absolute launcher path.

A git started without our bin folder on PATH (a GUI client, VS Code's git, another conda
environment) must still run the filters, so ``install`` records the absolute path of the
``git-archives`` launcher in ``filter.archives*.process`` (and the other commands), as the
hook shims do with their fallback. :func:`launcher_problem` is doctor's check that the
recorded launcher still exists.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys

NAME = "git-archives"


def launcher() -> str:
    """The absolute path of the ``git-archives`` executable running now (else the one PATH
    finds; the bare name only when there is neither). Symlinks are kept as they are: a
    ``~/.local/bin`` link survives an upgrade that moves what it points to."""
    me = sys.argv[0] if sys.argv else ""
    if me and os.path.basename(me) == NAME and os.path.isfile(me):
        return os.path.abspath(me)
    found = shutil.which(NAME)
    return os.path.abspath(found) if found else NAME


def command(args: str) -> str:
    """``'<launcher>' ARGS`` as git config holds it (git runs it through ``sh -c``)."""
    path = launcher()
    return f"{shlex.quote(path) if path != NAME else NAME} {args}"


def recorded_launcher(value: str) -> str | None:
    """The program a configured command runs (its first shell word), if it is ours."""
    try:
        words = shlex.split(value)
    except ValueError:
        return None
    if not words or os.path.basename(words[0]) != NAME:
        return None
    return words[0]


def launcher_problem(value: str) -> str | None:
    """Why git cannot run the configured command ``value`` from anywhere (None: it can)."""
    program = recorded_launcher(value)
    if program is None:
        return None
    if os.path.isabs(program):
        if os.path.isfile(program) and os.access(program, os.X_OK):
            return None
        return f"runs {program}, which no longer exists"
    if shutil.which(program) is None:
        return f"runs {program} from PATH, and PATH has none"
    return (f"runs {program} from PATH: a git started without it on PATH (a GUI client, "
            "another environment) cannot run it")
