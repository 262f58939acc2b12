"""What ``exp show|diff|apply|branch|remove|push|pull|gc`` do once parsed (see
:mod:`gitext.commands.exp_manage` for their options): call :mod:`gitext.exp` and print."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from gitext.errors import UsageError

if TYPE_CHECKING:
    from gitext.exp.listing import Experiment
    from gitext.git.repo import Repo


def _repo() -> Repo:
    from gitext.git.repo import Repo

    return Repo.discover()


def _experiments(repo: Repo) -> list[Experiment]:
    from gitext.exp.listing import list_experiments

    return list_experiments(repo)


def _names(exps: list[Experiment]) -> str:
    shown = ", ".join(e.name for e in exps[:10])
    return shown + (f" and {len(exps) - 10} more" if len(exps) > 10 else "")


def cmd_show(ns: argparse.Namespace) -> int:
    from gitext.exp import table as t

    repo = _repo()
    rows = t.build_rows(repo, _experiments(repo), all_baselines=ns.all_commits)
    built = t.build_table(rows, sort_by=ns.sort_by, descending=ns.sort_order == "desc",
                          only_changed=ns.only_changed)
    if ns.json:
        sys.stdout.write(t.render_json(built))
    elif ns.csv:
        sys.stdout.write(t.render_csv(built))
    else:
        text = t.render_text(built, markdown=ns.markdown, precision=ns.precision)
        if ns.no_pager or ns.markdown:
            sys.stdout.write(text)
        else:
            import pydoc

            pydoc.pager(text.rstrip("\n"))  # pages only on a terminal ($PAGER, else less)
    for row in rows:
        for path, why in sorted(row.errors.items()):
            text = why if why.startswith(path) else f"{path}: {why}"
            print(f"warning: {row.label}: {text}", file=sys.stderr)
    return 0


def cmd_diff(ns: argparse.Namespace) -> int:
    from gitext.exp.table import diff_target
    from gitext.pipeline.metrics.diff import diff_metrics, diff_params
    from gitext.pipeline.metrics.format import diff_to_json, format_diff, iter_errors
    from gitext.pipeline.metrics.read import collect_metrics, collect_params

    repo = _repo()
    exps = _experiments(repo)
    a_label, a_commit, a_base = diff_target(repo, exps, ns.a)
    if ns.b is None:
        if not a_base:
            raise UsageError(f"exp diff: '{ns.a}' is not an experiment, so it has no baseline",
                             hint="name the other side: 'git archives exp diff A B'")
        old, new = (a_base[:7], a_base), (a_label, a_commit)
    else:
        b_label, b_commit, _ = diff_target(repo, exps, ns.b)
        old, new = (a_label, a_commit), (b_label, b_commit)
    snaps = {kind: (read(repo, old[1], label=old[0]), read(repo, new[1], label=new[0]))
             for kind, read in (("params", collect_params), ("metrics", collect_metrics))}
    for line in iter_errors(*snaps["params"], *snaps["metrics"]):
        print(f"warning: {line}", file=sys.stderr)
    rows = {"params": diff_params(snaps["params"][0].values, snaps["params"][1].values,
                                  all=ns.all_),
            "metrics": diff_metrics(snaps["metrics"][0].values, snaps["metrics"][1].values,
                                    all=ns.all_)}
    if ns.json:
        out = {kind: json.loads(diff_to_json(rows[kind], with_change=kind == "metrics"))
               for kind in ("metrics", "params")}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return 0
    shown = False
    for kind, title in (("metrics", "Metric"), ("params", "Param")):
        if rows[kind]:
            if shown:
                sys.stdout.write("\n")
            sys.stdout.write(format_diff(rows[kind], old_label=old[0], new_label=new[0],
                                         kind=title, markdown=ns.markdown,
                                         show_change=kind == "metrics"))
            shown = True
    if not shown:
        print(f"no params or metrics changed between {old[0]} and {new[0]}", file=sys.stderr)
    return 0


def cmd_apply(ns: argparse.Namespace) -> int:
    from gitext.codec.shellquote import display
    from gitext.exp.listing import resolve
    from gitext.exp.manage import apply_experiment

    repo = _repo()
    exp = resolve(_experiments(repo), ns.experiment)
    report = apply_experiment(repo, exp, force=ns.force)
    print(f"applied '{exp.name}': {len(report.changes)} file(s) changed and staged; "
          "'git commit' records it")
    if report.outputs_restored:
        print(f"restored {report.outputs_restored} pipeline output(s) from the cache")
    missing = report.left_as_pointers + report.outputs_missing
    if missing:
        print(f"warning: not in the cache, left as pointers or absent: "
              f"{' '.join(display(p) for p in missing[:10])}",
              file=sys.stderr)
        print("hint: fetch them with 'git archives pull'", file=sys.stderr)
        return 1
    return 0


def cmd_branch(ns: argparse.Namespace) -> int:
    from gitext.exp.listing import resolve
    from gitext.exp.manage import branch_experiment

    repo = _repo()
    exp = resolve(_experiments(repo), ns.experiment)
    branch_experiment(repo, exp, ns.branch)
    print(f"branch '{ns.branch}' now points at experiment '{exp.name}' ({exp.commit[:7]})")
    return 0


def cmd_remove(ns: argparse.Namespace) -> int:
    from gitext.exp.listing import QUEUED, resolve_many
    from gitext.exp.manage import delete_refs

    picks = sum(1 for p in (ns.experiments, ns.all_, ns.queue) if p)
    if picks != 1:
        raise UsageError("exp remove: give experiment names, --all or --queue (one of them)")
    repo = _repo()
    if ns.git_remote is not None:
        return _remove_remote(repo, ns)
    exps = _experiments(repo)
    if ns.all_:
        chosen = exps
    elif ns.queue:
        chosen = [e for e in exps if e.status == QUEUED]
    else:
        chosen = resolve_many(exps, ns.experiments)
    delete_refs(repo, chosen)
    print(f"removed {len(chosen)} experiment(s)" + (f": {_names(chosen)}" if chosen else ""))
    return 0


def _remove_remote(repo: Repo, ns: argparse.Namespace) -> int:
    from gitext.exp.listing import resolve_many
    from gitext.exp.share import delete_remote_refs, remote_experiments

    if ns.queue:
        raise UsageError("exp remove: queued experiments are never on a git remote")
    there = remote_experiments(repo, ns.git_remote)
    chosen = there if ns.all_ else resolve_many(there, ns.experiments)
    delete_remote_refs(repo, ns.git_remote, chosen)
    print(f"removed {len(chosen)} experiment(s) on '{ns.git_remote}'"
          + (f": {_names(chosen)}" if chosen else ""))
    return 0


def _data_remote(repo: Repo, name: str | None) -> Any:
    from gitext.config import Config
    from gitext.remotes import open_remote

    return open_remote(Config.load(repo.root), name, root=repo.root)


def cmd_push(ns: argparse.Namespace) -> int:
    return _share(ns, upload=True)


def cmd_pull(ns: argparse.Namespace) -> int:
    return _share(ns, upload=False)


def _share(ns: argparse.Namespace, *, upload: bool) -> int:
    from gitext.exp import share

    verb = "push" if upload else "pull"
    if ns.jobs is not None and ns.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    repo = _repo()
    pool = _experiments(repo) if upload else share.remote_experiments(repo, ns.git_remote)
    chosen = share.select(pool, ns.experiments, all_=ns.all_, verb=verb)
    rem = None if ns.no_cache or not chosen else _data_remote(repo, ns.remote)
    try:
        if upload:
            if rem is not None:
                _report_data(verb, share.move_data(repo, rem, chosen, upload=True,
                                                   jobs=ns.jobs), rem)
            share.push_refs(repo, ns.git_remote, chosen)
        else:
            share.fetch_refs(repo, ns.git_remote, chosen)
            if rem is not None:
                _report_data(verb, share.move_data(repo, rem, chosen, upload=False,
                                                   jobs=ns.jobs), rem)
    finally:
        if rem is not None:
            rem.close()
    print(f"exp {verb}: {len(chosen)} experiment(s)"
          + (f" ({_names(chosen)})" if chosen else "") + f" {'to' if upload else 'from'} "
          f"'{ns.git_remote}'")
    return 0


def _report_data(verb: str, report: Any, rem: Any) -> None:
    from gitext.errors import ArchivesError

    if report is None:
        return
    print(f"{verb}: {report.summary()} [{rem.name}: {rem.url}]")
    if not report.ok:
        raise ArchivesError(f"exp {verb}: some data did not move; the refs were "
                            + ("not pushed" if verb == "push" else "fetched"),
                            hint=f"see above, then 'git archives exp {verb}' again")


def cmd_gc(ns: argparse.Namespace) -> int:
    from gitext.exp.manage import GcScope, delete_refs, gc_candidates

    repo = _repo()
    scope = GcScope(workspace=ns.workspace, all_branches=ns.all_branches,
                    all_tags=ns.all_tags)
    doomed = gc_candidates(repo, _experiments(repo), scope)
    if ns.dry_run:
        print(f"would remove {len(doomed)} experiment(s)"
              + (f": {_names(doomed)}" if doomed else ""))
        return 0
    delete_refs(repo, doomed)
    print(f"removed {len(doomed)} experiment(s)" + (f": {_names(doomed)}" if doomed else "")
          + "; their data stays cached until 'git archives gc'")
    return 0
