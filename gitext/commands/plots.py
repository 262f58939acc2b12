"""``git archives plots show|diff``: the pipeline's plots as one self-contained HTML page
(or, with ``--json``, as Vega-Lite specs).

Only the standard library is imported here; the features load when a verb runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from gitext import log

DEFAULT_OUT_DIR = "dvc_plots"


def register(sub: Any) -> None:
    plots = sub.add_parser("plots", help="draw the pipeline's plots, or compare them across "
                                         "revisions",
                           description="Draw the plots dvc.yaml declares (or any plot "
                                       "files) into one HTML page that works offline.")
    psub = plots.add_subparsers(dest="plots_verb", metavar="<command>")
    plots.set_defaults(func=lambda ns: _missing_subcommand(plots))
    show = psub.add_parser("show", help="draw the plots as they are in the workspace",
                           description="Draw every plot dvc.yaml declares, or the TARGETs "
                                       "(plot ids, or files even if dvc.yaml does not "
                                       "name them), into DIR/index.html.")
    show.add_argument("targets", nargs="*", metavar="TARGET",
                      help="plot ids or plot files (default: every plot in dvc.yaml)")
    _common_options(show)
    show.set_defaults(func=lambda ns: plots_command(ns, revs=[None], targets=ns.targets))
    diff = psub.add_parser(
        "diff", help="overlay the plots of several revisions",
        description="Draw each plot with the revisions overlaid (a colour per revision). "
                    "No REV: HEAD (when the work tree has changes) and the workspace; one "
                    "REV: it and the workspace; several: just those. Revisions are read "
                    "from git objects and the local cache; nothing is checked out.")
    diff.add_argument("revs", nargs="*", metavar="REV", help="revisions to compare")
    diff.add_argument("--targets", nargs="+", metavar="TARGET", default=[],
                      help="plot ids or plot files (default: every plot in dvc.yaml)")
    _common_options(diff)
    diff.set_defaults(func=lambda ns: plots_command(ns, revs=ns.revs, targets=ns.targets,
                                                    diff=True))


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", metavar="DIR", default=DEFAULT_OUT_DIR,
                        help=f"write DIR/index.html (default: {DEFAULT_OUT_DIR})")
    parser.add_argument("--open", action="store_true", help="open the page in a browser")
    parser.add_argument("--static", action="store_true",
                        help="draw the charts here, to inline SVG, for a page with no "
                             "script at all (needs the [plots] extra)")
    parser.add_argument("--json", action="store_true",
                        help="print the Vega-Lite specs (data inlined) instead of a page")
    parser.add_argument("-t", "--template", metavar="NAME",
                        help="the template for every plot drawn (linear, simple, scatter, "
                             "smooth, bar_horizontal, bar_horizontal_sorted, confusion, "
                             "confusion_normalized)")
    parser.add_argument("-x", metavar="FIELD", help="the column for the x axis")
    parser.add_argument("-y", metavar="FIELD", help="the column for the y axis")
    parser.add_argument("--no-header", action="store_true",
                        help="CSV/TSV files have no header row (columns are 0, 1, …)")
    parser.add_argument("--title", metavar="TEXT", help="the plots' title")
    parser.add_argument("--x-label", metavar="TEXT", help="the x axis' title")
    parser.add_argument("--y-label", metavar="TEXT", help="the y axis' title")


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _targets(repo: Any, targets: Sequence[str]) -> list[str]:
    """Targets as typed at the repository's root are kept (plot ids included); from a
    subdirectory, paths are made repository-relative."""
    from pathlib import Path

    root = Path(repo.root).resolve()
    cwd = Path.cwd().resolve()
    out = []
    for target in targets:
        full = (cwd / target).resolve()
        if cwd == root or not full.is_relative_to(root):
            out.append(target.replace("\\", "/").removeprefix("./"))
        else:
            out.append(full.relative_to(root).as_posix())
    return out


def _diff_revisions(repo: Any, revs: Sequence[str]) -> list[str | None]:
    """DVC's choice: none given, HEAD if the work tree differs from it, and the workspace;
    one, it and the workspace; several, just those."""
    if len(revs) > 1:
        return list(revs)
    if revs:
        return [revs[0], None]
    head = repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if head.returncode != 0:
        return [None]
    dirty = repo.git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return ["HEAD", None] if dirty else [None]


def plots_command(ns: argparse.Namespace, *, revs: Sequence[str | None],
                  targets: Sequence[str], diff: bool = False) -> int:
    from gitext.git.repo import Repo
    from gitext.pipeline.metrics.snapshot import WORKSPACE
    from gitext.plots.collect import collect

    repo = Repo.discover()
    warming = None
    if ns.static and not ns.json:
        from gitext.plots.render import warm_up

        warming = warm_up()
    versions = _diff_revisions(repo, [r for r in revs if r is not None]) if diff else revs
    overrides = {"template": ns.template, "x": ns.x, "y": ns.y, "title": ns.title,
                 "x_label": ns.x_label, "y_label": ns.y_label, "no_header": ns.no_header}
    result = collect(repo, versions, targets=_targets(repo, targets), overrides=overrides)
    for line in result.warnings:
        log.warn(line)
    if ns.json:
        from gitext.plots.render import specs_json

        sys.stdout.write(specs_json(result.plots))
        return 0
    if not result.plots:
        print("no plots to draw: none of the plot files exists yet (run the pipeline: "
              "git archives repro)", file=sys.stderr)
        return 1
    from gitext.plots.render import page

    if warming is not None:
        warming.join()
    labels = [WORKSPACE if v is None else v for v in versions]
    html = page(result.plots, title="plots diff" if diff else "plots", revisions=labels,
                static=ns.static)
    return _write(repo.worktree, ns.out, html, open_it=ns.open)


def _write(root: Any, out_dir: str, html: str, *, open_it: bool) -> int:
    from gitext.plots.render import write_page

    target = write_page(root, out_dir, html)
    print(f"wrote {target}")
    if open_it:
        import webbrowser

        if not webbrowser.open(target.resolve().as_uri()):
            log.warn(f"could not open a browser; open {target} yourself")
    return 0
