"""``git archives metrics show|diff``, ``params show|diff`` and ``dag``: reports on the
pipeline.

Only the standard library is imported here; the features load when a verb runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from gitext import log
from gitext.codec.shellquote import shell_arg


def _precision(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of decimals (0 or more)")
    return value


def _format_options(parser: argparse.ArgumentParser, *, precision: bool = True) -> None:
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON for scripts")
    fmt.add_argument("--md", action="store_true", help="print a markdown table")
    if precision:
        parser.add_argument(
            "--precision", type=_precision, metavar="N", default=None,
            help="round numbers to N decimals (default 5 in tables; JSON keeps values as "
                 "read unless this is given)",
        )


def _revision_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--all-branches", action="store_true",
                        help="also show every branch (one column each, read from git objects)")
    parser.add_argument("-T", "--all-tags", action="store_true",
                        help="also show every tag")
    parser.add_argument("-A", "--all-commits", action="store_true",
                        help="also show every commit reachable from a branch, tag or HEAD")


def _params_scope_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", nargs="+", metavar="PATH", default=None,
                        help="only these params files (read whole if no stage uses them)")
    parser.add_argument("--deps", action="store_true",
                        help="only the params stages list in dvc.yaml")


def register(sub: Any) -> None:
    _add_metrics(sub)
    _add_params(sub)
    _add_dag(sub)


def _add_metrics(sub: Any) -> None:
    """``metrics`` and its verbs ``show`` and ``diff``."""
    metrics = sub.add_parser("metrics", help="show metrics, or compare them across revisions",
                             description="Show the pipeline's metrics, or compare them "
                                         "between revisions and the workspace.")
    msub = metrics.add_subparsers(dest="metrics_verb", metavar="<command>")
    metrics.set_defaults(func=lambda ns: _missing_subcommand(metrics))
    _add_metrics_show(msub)
    _add_metrics_diff(msub)


def _add_metrics_show(msub: Any) -> None:
    """``metrics show``."""
    show = msub.add_parser("show", help="print the current metrics",
                           description="Print every metric the pipeline declares, as it is "
                                       "in the workspace; with -a/-T/-A also as it is in "
                                       "each branch, tag or commit (one column each).")
    show.add_argument("targets", nargs="*", metavar="PATH",
                      help="metrics files or directories to show instead of those in dvc.yaml")
    _format_options(show)
    _revision_options(show)
    show.set_defaults(func=lambda ns: metrics_show(
        targets=ns.targets or None, as_json=ns.json, markdown=ns.md, precision=ns.precision,
        all_branches=ns.all_branches, all_tags=ns.all_tags, all_commits=ns.all_commits))


def _add_metrics_diff(msub: Any) -> None:
    """``metrics diff``."""
    diff = msub.add_parser(
        "diff", help="compare metrics between revisions (default: HEAD and the workspace)",
        description="Compare metrics between A_REV (default HEAD) and B_REV (default the "
                    "workspace). Revisions are read from git objects; nothing is checked "
                    "out.")
    diff.add_argument("a_rev", nargs="?", default="HEAD", metavar="A_REV",
                      help="the old revision (default HEAD)")
    diff.add_argument("b_rev", nargs="?", default=None, metavar="B_REV",
                      help="the new revision (default the workspace)")
    diff.add_argument("--all", action="store_true", help="also list unchanged metrics")
    diff.add_argument("--targets", nargs="+", metavar="PATH", default=None,
                      help="metrics files or directories to compare instead of dvc.yaml's")
    _format_options(diff)
    diff.set_defaults(func=lambda ns: metrics_diff(
        a_rev=ns.a_rev, b_rev=ns.b_rev, show_all=ns.all, targets=ns.targets,
        as_json=ns.json, markdown=ns.md, precision=ns.precision))


def _add_params(sub: Any) -> None:
    """``params`` and its verbs ``show`` and ``diff``."""
    params = sub.add_parser("params", help="show parameters, or compare them across revisions",
                            description="Show or compare the parameters the pipeline uses.")
    psub = params.add_subparsers(dest="params_verb", metavar="<command>")
    params.set_defaults(func=lambda ns: _missing_subcommand(params))
    _add_params_show(psub)
    _add_params_diff(psub)


def _add_params_show(psub: Any) -> None:
    """``params show``."""
    pshow = psub.add_parser(
        "show", help="print the params the stages use",
        description="Print the params the pipeline's stages use (and every key of "
                    "params.yaml and top-level params files), per file, with dotted keys, "
                    "as they are in the workspace; with -a/-T/-A also as they are in each "
                    "branch, tag or commit (one column each).")
    _params_scope_options(pshow)
    _format_options(pshow, precision=False)
    _revision_options(pshow)
    pshow.set_defaults(func=lambda ns: params_show(
        targets=ns.targets, deps_only=ns.deps, as_json=ns.json, markdown=ns.md,
        all_branches=ns.all_branches, all_tags=ns.all_tags, all_commits=ns.all_commits))


def _add_params_diff(psub: Any) -> None:
    """``params diff``."""
    pdiff = psub.add_parser(
        "diff", help="compare params between revisions (default: HEAD and the workspace)",
        description="Compare params between A_REV (default HEAD) and B_REV (default the "
                    "workspace), read from git objects without a checkout.")
    pdiff.add_argument("a_rev", nargs="?", default="HEAD", metavar="A_REV",
                      help="the old revision (default HEAD)")
    pdiff.add_argument("b_rev", nargs="?", default=None, metavar="B_REV",
                      help="the new revision (default the workspace)")
    pdiff.add_argument("--all", action="store_true", help="also list unchanged params")
    _params_scope_options(pdiff)
    _format_options(pdiff, precision=False)
    pdiff.set_defaults(func=lambda ns: params_diff(
        a_rev=ns.a_rev, b_rev=ns.b_rev, show_all=ns.all, targets=ns.targets,
        deps_only=ns.deps, as_json=ns.json, markdown=ns.md))


def _add_dag(sub: Any) -> None:
    """``dag``."""
    dag = sub.add_parser("dag", help="draw the pipeline's stages and how they connect",
                         description="Draw the stage graph of every dvc.yaml (with --outs, "
                                     "the graph of outputs): boxes and arrows in the "
                                     "terminal, or Graphviz / Mermaid source.")
    dag.add_argument("target", nargs="?", default=None, metavar="TARGET",
                     help="draw only this stage and what it depends on")
    style = dag.add_mutually_exclusive_group()
    style.add_argument("--dot", action="store_true", help="print Graphviz dot source")
    style.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart")
    style.add_argument("--md", action="store_true",
                       help="print the Mermaid flowchart in a markdown code block")
    dag.add_argument("--full", action="store_true",
                     help="with TARGET: the whole connected pipeline it belongs to")
    dag.add_argument("-o", "--outs", action="store_true",
                     help="draw the outputs and how they feed each other instead of stages")
    dag.add_argument("--collapse-foreach-matrix", action="store_true",
                     help="draw the stages a foreach or matrix generates as one node")
    dag.set_defaults(func=lambda ns: dag_command(
        target=ns.target, dot=ns.dot, mermaid=ns.mermaid, markdown=ns.md, full=ns.full,
        outs=ns.outs, collapse=ns.collapse_foreach_matrix))


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _warn(lines: Sequence[str]) -> None:
    for line in lines:
        log.warn(line)


def _revisions(repo: Any, *, all_branches: bool, all_tags: bool,
               all_commits: bool) -> list[Any] | None:
    """The revisions -a/-T/-A ask for (None: just the workspace)."""
    if not (all_branches or all_tags or all_commits):
        return None
    from gitext.pipeline.metrics.revisions import list_revisions

    return list_revisions(repo, all_branches=all_branches, all_tags=all_tags,
                          all_commits=all_commits)


def metrics_show(*, targets: Sequence[str] | None, as_json: bool, markdown: bool,
                 precision: int | None, all_branches: bool = False, all_tags: bool = False,
                 all_commits: bool = False) -> int:
    from gitext.git.repo import Repo
    from gitext.pipeline.metrics.format import (
        format_show,
        format_show_revisions,
        iter_errors,
        show_revisions_to_json,
        show_to_json,
    )
    from gitext.pipeline.metrics.read import collect_metrics

    repo = Repo.discover()
    paths = _repo_paths(repo, targets)
    revisions = _revisions(repo, all_branches=all_branches, all_tags=all_tags,
                           all_commits=all_commits)
    snaps = [collect_metrics(repo, None, targets=paths)]
    for rev in revisions or []:
        snaps.append(collect_metrics(repo, rev.commit, targets=paths, label=rev.label))
    errors = list(iter_errors(*snaps))
    _warn(errors)
    if not any(snap.values for snap in snaps):
        if not errors:
            print("no metrics: declare them under 'metrics:' in dvc.yaml", file=sys.stderr)
        return 1 if errors else 0
    if revisions is None:
        if as_json:
            sys.stdout.write(show_to_json(snaps[0], precision=precision))
        else:
            sys.stdout.write(format_show(snaps[0], markdown=markdown,
                                         precision=_table_precision(precision)))
    elif as_json:
        sys.stdout.write(show_revisions_to_json(snaps, precision=precision))
    else:
        sys.stdout.write(format_show_revisions(snaps, markdown=markdown,
                                               precision=_table_precision(precision)))
    return 0


def params_show(*, as_json: bool, markdown: bool, targets: Sequence[str] | None = None,
                deps_only: bool = False, all_branches: bool = False, all_tags: bool = False,
                all_commits: bool = False) -> int:
    from gitext.git.repo import Repo
    from gitext.pipeline.metrics.format import (
        format_show,
        format_show_revisions,
        iter_errors,
        show_revisions_to_json,
        show_to_json,
    )
    from gitext.pipeline.metrics.read import collect_params

    repo = Repo.discover()
    paths = _repo_paths(repo, targets)
    revisions = _revisions(repo, all_branches=all_branches, all_tags=all_tags,
                           all_commits=all_commits)
    snaps = [collect_params(repo, None, targets=paths, deps_only=deps_only)]
    for rev in revisions or []:
        snaps.append(collect_params(repo, rev.commit, label=rev.label, targets=paths,
                                    deps_only=deps_only))
    errors = list(iter_errors(*snaps))
    _warn(errors)
    if not any(snap.values for snap in snaps):
        if not errors:
            print("no params: stages list none and there is no params.yaml", file=sys.stderr)
        return 1 if errors else 0
    # Values as read, like 'params diff': a param is an input, not a measurement to round.
    if revisions is None:
        if as_json:
            sys.stdout.write(show_to_json(snaps[0]))
        else:
            sys.stdout.write(format_show(snaps[0], kind="Param", precision=None,
                                         markdown=markdown))
    elif as_json:
        sys.stdout.write(show_revisions_to_json(snaps))
    else:
        sys.stdout.write(format_show_revisions(snaps, kind="Param", precision=None,
                                               markdown=markdown))
    return 0


def _table_precision(precision: int | None) -> int:
    from gitext.pipeline.metrics.format import DEFAULT_PRECISION

    return DEFAULT_PRECISION if precision is None else precision


def _repo_paths(repo: Any, paths: Sequence[str] | None) -> list[str] | None:
    """Paths typed relative to the current directory, as repo-relative POSIX paths."""
    if paths is None:
        return None
    from pathlib import Path

    root = Path(repo.root).resolve()
    out = []
    for p in paths:
        full = (Path.cwd() / p).resolve()  # an absolute p replaces the cwd
        try:
            out.append(full.relative_to(root).as_posix())
        except ValueError:
            from gitext.errors import UsageError

            raise UsageError(f"{p} is outside the repository {root}") from None
    return out


def metrics_diff(*, a_rev: str, b_rev: str | None, show_all: bool,
                 targets: Sequence[str] | None, as_json: bool, markdown: bool,
                 precision: int | None) -> int:
    from gitext.git.repo import Repo
    from gitext.pipeline.metrics.diff import diff_metrics
    from gitext.pipeline.metrics.format import iter_errors
    from gitext.pipeline.metrics.read import collect_metrics

    repo = Repo.discover()
    paths = _repo_paths(repo, targets)
    old = collect_metrics(repo, a_rev, targets=paths)
    new = collect_metrics(repo, b_rev, targets=paths)
    _warn(list(iter_errors(old, new)))
    if not (old.values or new.values or old.errors or new.errors):
        print("no metrics: declare them under 'metrics:' in dvc.yaml, or pass --targets",
              file=sys.stderr)
        return 0
    rows = diff_metrics(old.values, new.values, all=show_all)
    return _print_diff(rows, old.label, new.label, kind="Metric", as_json=as_json,
                       markdown=markdown, precision=precision, with_change=True)


def params_diff(*, a_rev: str, b_rev: str | None, show_all: bool, as_json: bool,
                markdown: bool, targets: Sequence[str] | None = None,
                deps_only: bool = False) -> int:
    from gitext.git.repo import Repo
    from gitext.pipeline.metrics.diff import diff_params
    from gitext.pipeline.metrics.format import iter_errors
    from gitext.pipeline.metrics.read import collect_params

    repo = Repo.discover()
    paths = _repo_paths(repo, targets)
    old = collect_params(repo, a_rev, targets=paths, deps_only=deps_only)
    new = collect_params(repo, b_rev, targets=paths, deps_only=deps_only)
    _warn(list(iter_errors(old, new)))
    if not (old.values or new.values or old.errors or new.errors):
        print("no params: stages list none and there is no params.yaml", file=sys.stderr)
        return 0
    rows = diff_params(old.values, new.values, all=show_all)
    return _print_diff(rows, old.label, new.label, kind="Param", as_json=as_json,
                       markdown=markdown, precision=None, with_change=False)


def _print_diff(rows: Sequence[Any], old_label: str, new_label: str, *, kind: str,
                as_json: bool, markdown: bool, precision: int | None,
                with_change: bool) -> int:
    from gitext.pipeline.metrics.format import diff_to_json, format_diff

    if as_json:
        sys.stdout.write(diff_to_json(rows, precision=precision, with_change=with_change))
        return 0
    if not rows:
        print(f"no {kind.lower()} changed between {old_label} and {new_label}",
              file=sys.stderr)
        return 0
    table_precision = _table_precision(precision) if with_change else None
    sys.stdout.write(format_diff(rows, old_label=old_label, new_label=new_label, kind=kind,
                                 precision=table_precision, markdown=markdown,
                                 show_change=with_change))
    return 0


def _can_draw_boxes() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "┌─┐│└┘┬▼".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def dag_command(*, target: str | None, dot: bool, mermaid: bool, full: bool,
                outs: bool = False, markdown: bool = False, collapse: bool = False) -> int:
    from gitext.errors import PipelineError, UsageError
    from gitext.git.repo import Repo
    from gitext.pipeline import dag as d
    from gitext.pipeline.dvcyaml.loader import load_all_pipelines

    if full and target is None:
        raise UsageError("--full needs a TARGET stage", hint="git archives dag --full STAGE")
    if collapse and outs:
        raise UsageError("--collapse-foreach-matrix groups stages; --outs draws outputs",
                         hint="use one of them")
    repo = Repo.discover()
    pipelines = load_all_pipelines(repo.root)
    if not pipelines:  # a dvc.yaml without stages draws the empty graph, as DVC does
        raise PipelineError(f"no stages: {repo.root} has no dvc.yaml",
                            hint="add stages to dvc.yaml (see docs/pipelines.md)")
    graph = d.build_graph(pipelines)
    d.detect_problems(graph)
    stages = None if target is None else d.resolve_targets(graph, [target], root=repo.root)
    graph = d.add_data_sources(graph, _dvc_files(repo), repo.root)
    if outs:
        graph = _outputs_to_draw(graph, stages, target=target, full=full)
    elif stages is not None:
        graph = d.ancestors_graph(graph, stages, full=full)
    if collapse:
        graph = d.collapse_groups(graph)
    sys.stdout.write(_render_dag(graph, dot=dot, mermaid=mermaid, markdown=markdown))
    return 0


def _dvc_files(repo: Any) -> list[str]:
    """The ``.dvc`` files of the work tree (tracked, or new and not ignored), by name: what
    ``dvc dag`` draws as data sources. Their contents are not read here."""
    out = repo.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                   "*.dvc").stdout.decode("utf-8", "surrogateescape")
    names = [n for n in dict.fromkeys(out.split("\0")) if n and not n.startswith(".dvc/")]
    return sorted(n for n in names if (repo.root / n).is_file())


def _outputs_to_draw(graph: Any, stages: list[str] | None, *, target: str | None,
                     full: bool) -> Any:
    """``dag --outs``: the graph of outputs (of ``stages`` and what they need, if given)."""
    from gitext.errors import PipelineError
    from gitext.pipeline import dag as d

    out_graph = d.outs_graph(graph)
    if stages is not None:
        wanted = d.stage_outputs(graph, stages)
        if not wanted:
            raise PipelineError(f"stage '{target}' has no outputs to draw",
                                hint="draw its stages instead: "
                                     f"git archives dag {shell_arg(target or '')}")
        out_graph = d.ancestors_graph(out_graph, wanted, full=full)
    if not out_graph.nodes:
        raise PipelineError("no outputs: no stage in dvc.yaml declares outs, metrics or "
                            "plots", hint="draw the stages instead: git archives dag")
    return out_graph


def _render_dag(graph: Any, *, dot: bool, mermaid: bool, markdown: bool) -> str:
    from gitext.pipeline import dag as d

    if dot:
        return d.render_dot(graph)
    if mermaid:
        return d.render_mermaid(graph)
    if markdown:
        return f"```mermaid\n{d.render_mermaid(graph)}```\n"
    from gitext.pipeline.dag_ascii import render_ascii

    return render_ascii(graph, unicode=_can_draw_boxes())
