"""Pipeline verbs: ``repro`` and ``checkout``, and the pipeline part of ``status``.

Only the standard library is imported here; the pipeline modules load when a verb runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display


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
    p.add_argument("-j", "--jobs", type=_positive, default=1, metavar="N",
                   help="run up to N independent stages at once")
    p.add_argument("-f", "--force", action="store_true",
                   help="run the selected stages even if nothing changed")
    p.add_argument("--dry", action="store_true", help="only say what would run")
    p.add_argument("--downstream", action="store_true",
                   help="the targets and the stages that depend on them")
    p.add_argument("-s", "--single-item", action="store_true",
                   help="only the targets, not the stages they depend on")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    p.set_defaults(func=lambda ns: cmd_repro(
        targets=ns.targets, jobs=ns.jobs, force=ns.force, dry=ns.dry,
        downstream=ns.downstream, single_item=ns.single_item, as_json=ns.json))


def _add_checkout(sub: Any) -> None:
    """``checkout``."""
    p = sub.add_parser("checkout", help="put pipeline outputs and .dvc-tracked data back as "
                                           "dvc.lock and .dvc files record them")
    p.add_argument("-f", "--force", action="store_true",
                   help="also overwrite outputs changed here and saved nowhere")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda ns: cmd_checkout(force=ns.force, as_json=ns.json))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def cmd_repro(*, targets: list[str], jobs: int, force: bool, dry: bool, downstream: bool,
              single_item: bool, as_json: bool) -> int:
    from gitext.errors import UsageError
    from gitext.pipeline.repro import repro

    if single_item and downstream:
        raise UsageError("--single-item and --downstream cannot be used together")
    root, archives_dir = _where()

    # With --json, stdout carries only the JSON: progress and command output go to stderr.
    stream = sys.stderr if as_json else sys.stdout

    def emit(line: str) -> None:
        print(line, file=stream, flush=True)

    result = repro(root, targets or None, jobs=jobs, force=force, dry=dry,
                   downstream=downstream, single_item=single_item,
                   out=emit, inherit_output=not as_json, archives_dir=archives_dir)
    if as_json:
        import json

        print(json.dumps({
            "ran": result.ran, "restored": result.restored, "unchanged": result.unchanged,
            "frozen": result.frozen, "would_run": result.would_run, "blocked": result.blocked,
            "failed": [{"stage": f.stage, "message": f.message, "command": f.command,
                        "exit_code": f.exit_code} for f in result.failed],
            "seconds": result.seconds}, indent=1))
    if result.failed:
        for f in result.failed:
            print(f"git-archives: error: stage '{f.stage}' failed: {f.message}", file=sys.stderr)
        if result.blocked:
            print("not run because a stage they depend on failed: "
                  + ", ".join(result.blocked), file=sys.stderr)
        print("hint: fix the command, then run 'git archives repro' again; finished stages "
              "keep their results", file=sys.stderr)
        return 1
    if not as_json and not dry:
        if result.ran or result.restored:
            print(f"Ran {len(result.ran)} stage(s), restored {len(result.restored)} from the "
                  "run-cache. Commit dvc.lock (and the .gitignore files) with git.")
        elif not result.frozen:
            print("Data and pipelines are up to date.")
    return 0


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


def pipeline_status_lines(root: Path, *, archives_dir: Path | None = None) -> list[str]:
    """What ``git archives status`` prints about the pipeline: one line per stale stage
    with its reasons (downstream stages included), or DVC's "up to date" sentence.
    Pass ``archives_dir`` (``repo.archives_dir``) to save a ``git rev-parse``."""
    from gitext.errors import ArchivesError
    from gitext.pipeline.status import status

    try:
        report = status(root, archives_dir=archives_dir)
    except ArchivesError as exc:
        return [f"Pipeline: {exc.message}"]
    if not report.stages:
        return []  # no dvc.yaml anywhere: nothing to say
    if report.up_to_date:
        return ["Data and pipelines are up to date."]
    lines = [f"Pipeline: {len(report.stale)} stale stage(s) — run 'git archives repro':"]
    lines += [f"  {st.id}: {st.describe()}" for st in report.stale]
    return lines
