"""Pipeline verbs: ``repro`` and ``checkout``, and the pipeline part of ``status``.

Only the standard library is imported here; the pipeline modules load when a verb runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display
from gitext.commands import positive_int


def _where() -> tuple[Path, Path]:
    """The work tree's root and the local cache (one ``git rev-parse``)."""
    from gitext.git.repo import Repo

    repo = Repo.discover(Path.cwd())
    return repo.root, repo.archives_dir


def register(sub: Any) -> None:
    _add_repro(sub)
    _add_checkout(sub)


def _add_repro(sub: Any) -> None:
    """``repro``."""
    p = sub.add_parser(
        "repro", help="run the stale stages of dvc.yaml (DVC's rules; -j for parallel)",
        description="Bring the pipeline up to date: run each stage whose command, "
                    "dependencies, params or outputs changed, in dependency order.")
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="stage name, path/to/dvc.yaml:stage, or a dvc.yaml (default: all)")
    p.add_argument("-j", "--jobs", type=positive_int, default=1, metavar="N",
                   help="run up to N independent stages at once")
    p.add_argument("-f", "--force", action="store_true",
                   help="run the selected stages even if nothing changed")
    p.add_argument("--dry", action="store_true", help="only say what would run")
    p.add_argument("--downstream", action="store_true",
                   help="the targets and the stages that depend on them")
    p.add_argument("-s", "--single-item", action="store_true",
                   help="only the targets, not the stages they depend on")
    p.add_argument("-k", "--keep-going", action="store_true",
                   help="after a failure, still run the stages that do not depend on it "
                        "(by default, as in DVC, no stage starts after one failed)")
    p.add_argument("--allow-missing", action="store_true",
                   help="skip a stage whose only change is data missing from the work tree "
                        "or the cache (as DVC; with --dry: is the pipeline up to date "
                        "without its data?)")
    p.add_argument("--pull", action="store_true",
                   help="first fetch what the commit needs from the default remote "
                        "(data, outputs and the run-cache, as 'pull --run-cache'), so "
                        "stages are restored rather than run")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    p.add_argument("--mlflow", metavar="URI",
                   help="after a successful run, log params, metrics and the outputs' "
                        "pointers to this MLflow tracking server (default: mlflow.trackingUri "
                        "in your config, else MLFLOW_TRACKING_URI; docs/mlflow.md)")
    p.set_defaults(func=lambda ns: cmd_repro(
        targets=ns.targets, jobs=ns.jobs, force=ns.force, dry=ns.dry,
        downstream=ns.downstream, single_item=ns.single_item, as_json=ns.json,
        keep_going=ns.keep_going, allow_missing=ns.allow_missing, pull=ns.pull,
        mlflow=ns.mlflow))


def _add_checkout(sub: Any) -> None:
    """``checkout``."""
    p = sub.add_parser("checkout", help="put pipeline outputs and .dvc-tracked data back as "
                                           "dvc.lock and .dvc files record them")
    p.add_argument("-f", "--force", action="store_true",
                   help="also overwrite outputs changed here and saved nowhere")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda ns: cmd_checkout(force=ns.force, as_json=ns.json))



def cmd_repro(*, targets: list[str], jobs: int, force: bool, dry: bool, downstream: bool,
              single_item: bool, as_json: bool, keep_going: bool = False,
              allow_missing: bool = False, pull: bool = False,
              mlflow: str | None = None) -> int:
    from gitext.errors import UsageError
    from gitext.pipeline.repro import repro

    if single_item and downstream:
        raise UsageError("--single-item and --downstream cannot be used together")
    root, archives_dir = _where()

    # With --json, stdout carries only the JSON: progress and command output go to stderr.
    stream = sys.stderr if as_json else sys.stdout

    def emit(line: str) -> None:
        print(line, file=stream, flush=True)

    if pull:
        import contextlib

        with contextlib.redirect_stdout(stream):  # --json: stdout is the JSON alone
            _pull_first(emit)
    result = repro(root, targets or None, jobs=jobs, force=force, dry=dry,
                   downstream=downstream, single_item=single_item,
                   out=emit, inherit_output=not as_json, archives_dir=archives_dir,
                   keep_going=keep_going, allow_missing=allow_missing)
    to_add = [] if dry else _changed_for_git(root, list(result.touched))
    if as_json:
        import json

        print(json.dumps({
            "ran": result.ran, "restored": result.restored, "unchanged": result.unchanged,
            "frozen": result.frozen, "would_run": result.would_run, "blocked": result.blocked,
            "stopped": result.stopped, "missing": result.missing,
            "failed": [{"stage": f.stage, "message": f.message, "command": f.command,
                        "exit_code": f.exit_code} for f in result.failed],
            "seconds": result.seconds, "git_add": to_add}, indent=1))
    if result.failed:
        _report_failures(result)
    elif not as_json and not dry:
        if result.ran or result.restored:
            print(f"Ran {len(result.ran)} stage(s), restored {len(result.restored)} from the "
                  "run-cache.")
        elif not result.frozen:
            print("Data and pipelines are up to date.")
    if to_add and not as_json:
        import os

        from gitext.codec.shellquote import shell_args

        here = [os.path.relpath(os.path.join(root.resolve(), p), Path.cwd().resolve())
                for p in to_add]  # as typed from this folder
        print(f"To track the changes with git, run:\n\n\tgit add {shell_args(here)}")
    if not result.failed and not dry and (result.ran or result.restored):
        log_to_mlflow(root, mlflow, emit)
    return 1 if result.failed else 0


def log_to_mlflow(root: Path, cli_uri: str | None, emit: Any, *, run_name: str | None = None,
                  source_name: str = "git archives repro", commit: str | None = None,
                  exp_ref: str | None = None) -> None:
    """Log the finished run in the work tree ``root`` to MLflow when a tracking URI is set
    (docs/mlflow.md); ``exp run`` passes its worktree and the experiment's commit and ref. A
    failure is one warning line: the run itself succeeded."""
    from gitext import log
    from gitext.errors import ArchivesError
    from gitext.exp.tracking import log_workspace_run, shown_uri, tracking_settings, tracking_wanted

    try:
        if not tracking_wanted(root, cli_uri):
            return  # nothing names a server: MLflow's modules are not even imported
        from gitext.git.repo import Repo

        repo = Repo.discover(root)
        settings = tracking_settings(repo, cli_uri)
        if settings is None:
            return
        run_id, problems = log_workspace_run(repo, settings, run_name=run_name,
                                             source_name=source_name, commit=commit,
                                             exp_ref=exp_ref)
    except ArchivesError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        log.warn(f"{exc.message}{hint}")
        return
    for problem in problems:
        log.warn(f"not logged to MLflow: {problem}")
    emit(f"Logged MLflow run {run_id} (experiment '{settings.experiment}', "
         f"{shown_uri(settings.uri)}).")


def _report_failures(result: Any) -> None:
    for f in result.failed:
        print(f"git-archives: error: stage '{f.stage}' failed: {f.message}", file=sys.stderr)
    if result.blocked:
        print("not run because a stage they depend on failed: "
              + ", ".join(result.blocked), file=sys.stderr)
    if result.stopped:
        print("not run because repro stops at the first failure (-k/--keep-going runs "
              "what does not depend on it): " + ", ".join(result.stopped), file=sys.stderr)
    print("hint: fix the command, then run 'git archives repro' again; finished stages "
          "keep their results", file=sys.stderr)


def _pull_first(emit: Any) -> None:
    """``repro --pull``: what ``git archives pull --run-cache`` brings, before evaluating.
    A remote that cannot be reached is reported and the stages are evaluated anyway (those
    whose data did not come then run, as in DVC)."""
    from gitext.commands.transfer import cmd_transfer
    from gitext.errors import ArchivesError

    try:
        code = cmd_transfer(verb="pull", remote=None, jobs=None, revs=None,
                            all_commits=False, include=[], exclude=[], run_cache=True)
    except ArchivesError as exc:
        emit(f"repro --pull: could not pull ({exc.message}); stages run as needed")
        return
    if code:
        emit("repro --pull: some data is not on the remote; stages that need it run")


def _changed_for_git(root: Path, paths: list[str]) -> list[str]:
    """Those of ``paths`` (repository-relative) that differ from git's index: what to
    ``git add`` after a repro."""
    if not paths:
        return []
    from gitext.git.repo import Repo

    repo = Repo.discover(root)
    out = repo.git("status", "--porcelain=v1", "-z", "--untracked-files=all",
                   "--ignored=no", "--", *(f":(literal){p}" for p in paths)).stdout
    changed = set()
    for rec in out.split(b"\0"):
        if len(rec) > 3 and rec[1:2] != b" ":  # the work tree differs from the index
            changed.add(rec[3:].decode("utf-8", "surrogateescape"))
    return [p for p in paths if p in changed]


def cmd_checkout(*, force: bool, as_json: bool) -> int:
    from gitext.pipeline.checkout import checkout_outputs

    root, archives_dir = _where()
    report = checkout_outputs(root, force=force, archives_dir=archives_dir)
    if as_json:
        import json

        print(json.dumps(report.to_dict(), indent=1))
    else:
        for path in report.restored:
            print(f"restored  {display(path)}")
        for path, why in report.conflicts:
            print(f"kept      {display(path)}: {why} (use --force to overwrite)", file=sys.stderr)
        for path in report.missing:
            print(f"missing   {display(path)}: not in the local cache (run 'git archives pull')",
                  file=sys.stderr)
        for path, why in report.skipped:
            print(f"skipped   {display(path)}: {why}", file=sys.stderr)
        for path, why in report.refused:
            print(f"refused   {display(path)}: {why}", file=sys.stderr)
    return 0 if report.ok else 1


def pipeline_status_lines(root: Path, *, archives_dir: Path | None = None,
                          ) -> tuple[list[str], int]:
    """What ``git archives status`` prints about the pipeline: one line per stale stage
    with its reasons (downstream stages included), or DVC's "up to date" sentence; and the
    exit code it calls for: non-zero when a ``dvc.yaml``, lock or params file cannot be
    read (the pipeline's state is unknown), and the lines are then the error for stderr.
    Pass ``archives_dir`` (``repo.archives_dir``) to save a ``git rev-parse``."""
    from gitext.codec.shellquote import scrub
    from gitext.errors import ArchivesError
    from gitext.pipeline.status import status

    try:
        report = status(root, archives_dir=archives_dir)
    except ArchivesError as exc:
        lines = [f"git-archives: error: {scrub(exc.message)}"]
        if exc.hint:
            lines.append(f"hint: {scrub(exc.hint)}")
        return lines, exc.exit_code or 1
    if not report.stages:
        return [], 0  # no dvc.yaml anywhere: nothing to say
    if report.up_to_date:
        return ["Data and pipelines are up to date."], 0
    lines = [f"Pipeline: {len(report.stale)} stale stage(s) — run 'git archives repro':"]
    lines += [f"  {st.id}: {st.describe()}" for st in report.stale]
    return lines, 0
