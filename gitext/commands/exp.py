"""``git archives exp``: experiments. ``exp run`` lives here; the verbs that read and manage
experiments (show, diff, apply, ...) come from :mod:`gitext.commands.exp_manage` when it is
installed beside this module (its ``register(exp_subparsers)`` adds them).

Only the standard library is imported at module level; :mod:`gitext.exp` loads when a verb
runs.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from gitext.commands import positive_int


def register(sub: Any) -> None:
    exp = sub.add_parser("exp", help="run experiments (parameter changes) in isolated worktrees "
                                     "and keep each as a git ref",
                         description="Experiments: run the pipeline with changed parameters "
                                     "without touching your branch, and keep each result "
                                     "under refs/exps/ (DVC's layout).")
    esub = exp.add_subparsers(dest="exp_verb", metavar="<command>")
    exp.set_defaults(func=lambda ns: _missing(exp))
    _add_run(esub)
    if importlib.util.find_spec("gitext.commands.exp_manage") is not None:
        importlib.import_module("gitext.commands.exp_manage").register(esub)


def _missing(parser: Any) -> int:
    parser.print_help(sys.stderr)
    return 2


def _add_run(esub: Any) -> None:
    p = esub.add_parser(
        "run", help="run the pipeline as an experiment (in a temporary worktree)",
        description="Run 'repro' in a temporary worktree of HEAD plus your uncommitted "
                    "tracked changes plus the -S edits, and record the result as "
                    "refs/exps/<baseline>/<name>. Your branch, index and files are not "
                    "touched.")
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="stages to reproduce (default: all), as for 'repro'")
    p.add_argument("-S", "--set-param", action="append", default=[], metavar="[FILE:]KEY=VALUE",
                   dest="set_param",
                   help="change a parameter (file default params.yaml; '+KEY=V' adds a key, "
                        "'++KEY=V' sets it whatever its type, '~KEY' deletes it); repeatable")
    p.add_argument("-n", "--name", metavar="NAME",
                   help="the experiment's name (default: generated, like 'cased-hobs')")
    p.add_argument("--queue", action="store_true",
                   help="record the experiment to run later with --run-all; run nothing now")
    p.add_argument("--run-all", action="store_true", help="run every queued experiment")
    p.add_argument("-j", "--jobs", type=positive_int, default=None, metavar="N",
                   help="with --run-all: run up to N experiments at once (default 1)")
    p.add_argument("--mlflow", metavar="URI",
                   help="log each finished experiment to this MLflow tracking server "
                        "(default: mlflow.trackingUri in your config, else "
                        "MLFLOW_TRACKING_URI; docs/mlflow.md)")
    p.set_defaults(func=lambda ns: cmd_exp_run(
        targets=ns.targets, set_param=ns.set_param, name=ns.name, queue=ns.queue,
        run_all=ns.run_all, jobs=ns.jobs, mlflow=ns.mlflow))


def _check_args(*, targets: list[str], set_param: list[str], name: str | None, queue: bool,
                run_all: bool, jobs: int | None) -> None:
    from gitext.errors import UsageError

    if run_all and (set_param or name or targets or queue):
        raise UsageError("--run-all runs the queue as it is: it takes no -S, -n, --queue "
                         "or targets (queue them with 'exp run --queue -S ...')")
    if jobs is not None and not run_all:
        raise UsageError("-j/--jobs goes with --run-all (one experiment runs its stages "
                         "one at a time)")
    if queue and targets:
        raise UsageError("--queue does not keep targets: a queued experiment runs the whole "
                         "pipeline")


def _mlflow_logger(cli_uri: str | None) -> Any:
    """What ``exp run`` calls for each finished experiment (in its worktree, before that
    goes): one MLflow run, as ``repro`` logs one (docs/mlflow.md)."""
    from gitext.commands.pipeline import log_to_mlflow

    def emit(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def recorded(wt_repo: Any, outcome: Any) -> None:
        log_to_mlflow(wt_repo.root, cli_uri, emit, run_name=outcome.name,
                      source_name="git archives exp run", commit=outcome.commit,
                      exp_ref=outcome.ref)

    return recorded


def cmd_exp_run(*, targets: list[str], set_param: list[str], name: str | None, queue: bool,
                run_all: bool, jobs: int | None, mlflow: str | None = None) -> int:
    from gitext.exp.params_set import parse_override
    from gitext.git.repo import Repo

    _check_args(targets=targets, set_param=set_param, name=name, queue=queue,
                run_all=run_all, jobs=jobs)
    repo = Repo.discover()
    if queue and mlflow is not None:
        from gitext.errors import UsageError

        raise UsageError("--mlflow goes with the run (exp run --run-all --mlflow URI), not "
                         "with --queue")
    recorded = _mlflow_logger(mlflow)
    if run_all:
        return _run_all(repo, jobs or 1, recorded)
    overrides = [parse_override(s) for s in set_param]
    if queue:
        from gitext.exp.queue import queue_experiment

        q = queue_experiment(repo, overrides, name=name)
        print(f"Queued experiment '{q.name}' ({q.ref}).\n"
              "Run the queue with: git archives exp run --run-all")
        return 0
    from gitext.exp.run import run_experiment

    def echo(line: str) -> None:
        print(line, flush=True)

    outcome = run_experiment(repo, overrides, name=name, targets=targets, echo=echo,
                             recorded=recorded)
    return _report(outcome)


def _report(outcome: Any) -> int:
    if outcome.status != "success":
        print(f"git-archives: error: experiment '{outcome.name}' failed: {outcome.error}\n"
              f"hint: its work tree and log are kept as {outcome.ref}", file=sys.stderr)
        return 1
    print(f"\nExperiment '{outcome.name}' done: {outcome.ref}")
    snap = outcome.metrics
    if snap is not None and snap.values:
        from gitext.pipeline.metrics.format import format_show

        print(format_show(snap))
    for path, err in sorted((snap.errors if snap is not None else {}).items()):
        print(f"git-archives: warning: {path}: {err}", file=sys.stderr)
    return 0


def _run_all(repo: Any, jobs: int, recorded: Any) -> int:
    from gitext.exp.queue import list_queue, run_all

    if not list_queue(repo):
        print("No queued experiments (queue one with 'git archives exp run --queue -S ...').")
        return 0

    def echo_for(exp_name: str) -> Any:
        def echo(line: str) -> None:
            print(f"[{exp_name}] {line}", flush=True)
        return echo

    results = run_all(repo, jobs=jobs, echo_for=echo_for, recorded=recorded)
    failed = []
    print()
    for item in results:
        if isinstance(item, tuple):
            q, err = item
            failed.append(q.name)
            print(f"  {q.name}: not run: {err} (still queued)")
        elif item.status == "success":
            print(f"  {item.name}: done: {item.ref}")
        else:
            failed.append(item.name)
            print(f"  {item.name}: FAILED: {item.error} (log kept in {item.ref})")
    if failed:
        print(f"git-archives: error: {len(failed)} of {len(results)} experiment(s) failed: "
              + ", ".join(failed), file=sys.stderr)
        return 1
    print(f"{len(results)} experiment(s) done.")
    return 0
