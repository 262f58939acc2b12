"""The verbs' parsers: one module per area, each exposing ``register(subparsers)``; a verb's
parser sets ``func`` to a callable taking the parsed namespace and returning an exit code.
Command modules import only the standard library at module level, so building every parser
costs a few milliseconds and no heavy import (see :mod:`gitext.cli`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitext import __version__

if TYPE_CHECKING:
    import argparse

# The modules that contribute verbs, in the order their verbs appear in --help.
COMMAND_MODULES = (
    "gitext.commands.core",
    "gitext.commands.init",
    "gitext.commands.inspect",
    "gitext.commands.add",
    "gitext.commands.notebooks",
    "gitext.commands.pipeline",
    "gitext.commands.pipeline_report",
    "gitext.commands.plots",
    "gitext.commands.remotes",
    "gitext.commands.transfer",
    "gitext.commands.get",
    "gitext.commands.migrate",
    "gitext.commands.demo",
    "gitext.commands.help",
)


# Which module registers each top-level verb, so a command builds only its own area's
# parsers (building all of them costs tens of milliseconds). A test checks this table
# against what the modules register; a verb missing here still works (full parser).
VERB_MODULES = {
    **dict.fromkeys(("doctor", "filter-clean", "filter-process", "filter-smudge", "hook",
                     "install", "track", "uninstall", "untrack"), "gitext.commands.core"),
    "init": "gitext.commands.init",
    **dict.fromkeys(("du", "fsck", "ls-files", "status"), "gitext.commands.inspect"),
    "add": "gitext.commands.add",
    **dict.fromkeys(("nb", "watch"), "gitext.commands.notebooks"),
    **dict.fromkeys(("checkout", "repro"), "gitext.commands.pipeline"),
    **dict.fromkeys(("dag", "metrics", "params"), "gitext.commands.pipeline_report"),
    "plots": "gitext.commands.plots",
    "remote": "gitext.commands.remotes",
    **dict.fromkeys(("fetch", "gc", "pull", "push"), "gitext.commands.transfer"),
    "get": "gitext.commands.get",
    "migrate": "gitext.commands.migrate",
    "demo": "gitext.commands.demo",
    "help": "gitext.commands.help",
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


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
