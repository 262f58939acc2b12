"""W13EXP: four experiments on a tutorial-like pipeline (issue 13's figure), git-archives
beside DVC.

The pipeline: ``prepare`` (fast: copies the raw CSV) then ``train`` (about 2 s that use
little CPU: a sleep, then a small model file and ``metrics.json``), with ``train.lr`` and
``train.epochs`` in ``params.yaml``. Each experiment changes ``train.lr`` to a value not
used before, so ``train`` really runs (``prepare`` is unchanged and comes from the
run-cache).

Rows: (a) four experiments one after the other (``exp run -S train.lr=...`` four times);
(b) four experiments queued (``exp run --queue -S ...``, not timed) and then run two at a
time (``exp run --run-all -j 2``, timed). archives: ``git archives exp run``; dvc: ``dvc exp
run`` (its ``--run-all`` hands the queue to DVC's background workers and waits for them).
Target: archives (b) <= 0.6x archives (a).

The harness's helpers are taken from the module that defines the running ``Ctx``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

W13_SEQ = "4 experiments one after the other (exp run x4)"
W13_PAR = "4 queued experiments, exp run --run-all -j 2"
STEPS = (W13_SEQ, W13_PAR)
EXPERIMENTS = 4
TRAIN_SECONDS = 2.0

TRAIN = """\
import json, os, time, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
time.sleep({seconds})
os.makedirs("models", exist_ok=True)
with open("models/model.bin", "w") as f:
    f.write(repr(p) * 1000)
with open("metrics.json", "w") as f:
    json.dump({{"acc": 1 - p["lr"] / 10, "epochs": p["epochs"]}}, f)
"""
DVC_YAML = """\
stages:
  prepare:
    cmd: mkdir -p data/prepared && cp data/raw.csv data/prepared/train.csv
    deps: [data/raw.csv]
    outs: [data/prepared]
  train:
    cmd: python3 src/train.py
    deps: [data/prepared, src/train.py]
    params: [train.lr, train.epochs]
    outs: [models/model.bin]
    metrics:
      - metrics.json:
          cache: false
"""
PARAMS = "# the tutorial's hyper-parameters\ntrain:\n  lr: 0.01  # learning rate\n  epochs: 10\n"


def _commands(tool: str, lr: float) -> tuple[list[str], list[str]]:
    """(run one experiment now, queue one) for ``tool``."""
    base = ["git", "archives", "exp", "run"] if tool == "archives" else ["dvc", "exp", "run"]
    extra = [] if tool == "archives" else ["-q"]
    setp = ["-S", f"train.lr={lr}"]
    return [*base, *extra, *setp], [*base, *extra, "--queue", *setp]


def _run_all(tool: str) -> list[str]:
    if tool == "archives":
        return ["git", "archives", "exp", "run", "--run-all", "-j", "2"]
    return ["dvc", "exp", "run", "--run-all", "-j", "2"]


def _count(run: Any, ctx: Any, repo: Path, tool: str) -> int:
    if tool == "archives":
        out = ctx.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], repo).stdout
        return len(out.split())
    out = ctx.run(["dvc", "exp", "list", "--name-only", "--all-commits"], repo).stdout
    return len([line for line in out.splitlines() if line.strip()])


def _project(ctx: Any, repo: Path, seconds: float) -> None:
    ctx.tool.init_pipeline(ctx, repo)
    (repo / "data").mkdir()
    (repo / "data" / "raw.csv").write_text(
        "".join(f"{i},{i * i % 97}\n" for i in range(1000)), encoding="utf-8")
    (repo / "src").mkdir()
    (repo / "src" / "train.py").write_text(TRAIN.format(seconds=seconds), encoding="utf-8")
    (repo / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    (repo / "params.yaml").write_text(PARAMS, encoding="utf-8")
    ctx.commit(repo, "pipeline")
    ctx.run(ctx.tool.repro(), repo)
    ctx.commit(repo, "first run")


def w13exp(ctx: Any) -> None:
    run = sys.modules[type(ctx).__module__]
    tool = ctx.tool.name
    if tool not in ("archives", "dvc"):
        raise run.NotApplicable(f"{tool}: W13EXP compares git-archives with DVC")
    repo = ctx.fresh("w13exp")
    _project(ctx, repo, TRAIN_SECONDS)
    rounds = iter(range(1, 1000))

    def sequential(_i: int) -> float:
        r = next(rounds)
        cmds = [_commands(tool, round(r + k / 10, 2))[0] for k in range(EXPERIMENTS)]
        return float(ctx.timed(cmds, repo))

    def parallel(_i: int) -> float:
        r = next(rounds)
        before = _count(run, ctx, repo, tool)
        for k in range(EXPERIMENTS):
            ctx.run(_commands(tool, round(r + k / 10, 2))[1], repo)
        took = float(ctx.timed([_run_all(tool)], repo))
        made = _count(run, ctx, repo, tool) - before
        if made != EXPERIMENTS:
            raise run.CommandFailed(_run_all(tool), 1,
                                    f"{made} experiment(s) recorded, expected {EXPERIMENTS}")
        return took

    ctx.record("W13EXP", W13_SEQ, lambda: run.median_of(ctx.repeat, sequential))
    ctx.record("W13EXP", W13_PAR, lambda: run.median_of(ctx.repeat, parallel))
