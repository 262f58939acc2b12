"""``git archives exp show|diff|apply|branch|remove|push|pull|gc``: reading and managing
experiments (``exp run`` lives in :mod:`gitext.commands.exp`, which adds these parsers
through :func:`register`).

Only the standard library is imported here; the features load when a verb runs.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(esub: Any) -> None:
    """Add these subcommands to the ``exp`` verb's subparsers (called by
    :mod:`gitext.commands.exp`, which registers the verb and ``exp run``)."""
    _add_show(esub)
    _add_diff(esub)
    a = esub.add_parser("apply", help="put an experiment's changes in the work tree",
                        description="Write the files the experiment changed into the work "
                                    "tree and stage them (outputs restored from the cache), "
                                    "so that 'git commit' records it. HEAD does not move.")
    a.add_argument("experiment", help="name, ref or commit prefix")
    a.add_argument("-f", "--force", action="store_true",
                   help="overwrite uncommitted changes to the files it changes")
    a.set_defaults(func=lambda ns: _run("apply", ns))
    b = esub.add_parser("branch", help="make a git branch of an experiment")
    b.add_argument("experiment", help="name, ref or commit prefix")
    b.add_argument("branch", help="the new branch's name")
    b.set_defaults(func=lambda ns: _run("branch", ns))
    r = esub.add_parser("remove", aliases=["rm"], help="delete experiments (their refs)",
                        description="Delete experiments' refs (finished, failed or queued). "
                                    "Their data stays in the cache until 'git archives gc'.")
    r.add_argument("experiments", nargs="*", metavar="NAME", help="names, refs or prefixes")
    r.add_argument("--all", action="store_true", dest="all_", help="every experiment")
    r.add_argument("--queue", action="store_true", help="every queued experiment")
    r.add_argument("-g", "--git-remote", metavar="REMOTE",
                   help="delete them on this git remote instead of here")
    r.set_defaults(func=lambda ns: _run("remove", ns))
    _add_share(esub)
    _add_gc(esub)


def _add_show(esub: Any) -> None:
    s = esub.add_parser("show", help="experiments x params x metrics, one table",
                        description="The workspace, HEAD's commit and its experiments "
                                    "(-A: every baseline with experiments), with the params "
                                    "and metrics dvc.yaml declares, read from each commit.")
    s.add_argument("-A", "--all-commits", action="store_true",
                   help="every baseline that has experiments, not only HEAD's")
    s.add_argument("--sort-by", metavar="KEY", help="a metric or param (key or file:key)")
    s.add_argument("--sort-order", choices=("asc", "desc"), default="asc")
    s.add_argument("--only-changed", action="store_true",
                   help="only the columns whose value differs between rows")
    _formats(s, csv=True)
    s.add_argument("--precision", type=int, default=5, metavar="N",
                   help="round floats to N decimals in the table (default 5)")
    s.add_argument("--no-pager", action="store_true",
                   help="print straight to the terminal (default: page long output)")
    s.set_defaults(func=lambda ns: _run("show", ns))


def _add_diff(esub: Any) -> None:
    d = esub.add_parser("diff", help="params and metrics of two experiments side by side",
                        description="Compare A with B (default: A's baseline); A and B are "
                                    "experiment names, refs or any git revision.")
    d.add_argument("a", metavar="A")
    d.add_argument("b", metavar="B", nargs="?")
    d.add_argument("--all", action="store_true", dest="all_", help="unchanged values too")
    _formats(d, csv=False)
    d.set_defaults(func=lambda ns: _run("diff", ns))


def _formats(parser: argparse.ArgumentParser, *, csv: bool) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--md", "--markdown", action="store_true", dest="markdown",
                       help="a GitHub markdown table")
    group.add_argument("--json", action="store_true", help="JSON")
    if csv:
        group.add_argument("--csv", action="store_true", help="CSV")


def _add_share(esub: Any) -> None:
    for verb, text in (("push", "send experiments (refs via git, data via the data remote)"),
                       ("pull", "get experiments (refs via git, data via the data remote)")):
        p = esub.add_parser(verb, help=text, description=text + ". Failed and queued "
                                                                "experiments stay local.")
        p.add_argument("git_remote", metavar="REMOTE", help="the git remote (name or URL)")
        p.add_argument("experiments", nargs="*", metavar="NAME", help="names, refs or prefixes")
        p.add_argument("--all", action="store_true", dest="all_",
                       help="every finished experiment")
        p.add_argument("-r", "--remote", metavar="DATA_REMOTE",
                       help="the data remote (default: core.remote)")
        p.add_argument("--no-cache", action="store_true", help="move the refs only, no data")
        p.add_argument("-j", "--jobs", type=int, help="parallel transfers")
        p.set_defaults(func=lambda ns, verb=verb: _run(verb, ns))


def _add_gc(esub: Any) -> None:
    g = esub.add_parser("gc", help="delete experiments whose baseline is gone",
                        description="Delete the experiments whose baseline no branch, tag or "
                                    "HEAD reaches any more; -w/-a/-T keep only those of HEAD, "
                                    "of branch tips, of tag tips. Cached data is left to "
                                    "'git archives gc'.")
    g.add_argument("-w", "--workspace", action="store_true",
                   help="keep only the experiments of HEAD's commit")
    g.add_argument("-a", "--all-branches", action="store_true",
                   help="keep those of HEAD and of every branch tip")
    g.add_argument("-T", "--all-tags", action="store_true",
                   help="keep those of HEAD and of every tag")
    g.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    g.set_defaults(func=lambda ns: _run("gc", ns))


def _run(verb: str, ns: argparse.Namespace) -> int:
    from gitext.commands import exp_actions

    result: int = getattr(exp_actions, f"cmd_{verb}")(ns)
    return result
