"""W13EXPSHOW: ``exp show`` over 100 experiments (issue 13's figure: <= 300 ms).

One baseline commit (a ``dvc.yaml`` stage with two params and a ``metrics.json``), then 100
experiment commits on it made with ``git fast-import`` in DVC's ref layout
(``refs/exps/<B[:2]>/<B[2:]>/<NAME>``), each with its own ``params.yaml`` and
``metrics.json``. Timed: ``git archives exp show --no-pager`` through the installed CLI;
beside it ``dvc exp show --no-pager`` on the same refs (DVC reads that layout).

Imported lazily by run.py's WORKLOADS table; it takes run.py's helpers from the module
that defines the context it is given (``__main__`` when run.py runs as a script).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

W13_EXPSHOW = "exp show over 100 experiments"
STEPS = (W13_EXPSHOW,)
EXPERIMENTS = 100

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    params:
    - train.lr
    - train.epochs
    metrics:
    - metrics.json:
        cache: false
"""


def _params(lr: float, epochs: int) -> bytes:
    return f"train:\n  lr: {lr}\n  epochs: {epochs}\n".encode()


def _metrics(rng: random.Random) -> bytes:
    return json.dumps({"acc": round(rng.random(), 4), "loss": round(rng.random(), 4)}).encode()


def _fast_import(baseline: str, count: int) -> bytes:
    """A ``git fast-import`` stream of ``count`` experiments on ``baseline``."""
    rng = random.Random(13)
    stream = bytearray()
    for i in range(count):
        name = f"exp-{i:03d}"
        msg = (f"archives exp: {name}\n\nArchives-Exp-Name: {name}\n"
               f"Archives-Exp-Baseline: {baseline}\nArchives-Exp-Status: success\n").encode()
        stream += (f"commit refs/exps/{baseline[:2]}/{baseline[2:]}/{name}\n"
                   f"committer Bench <bench@example.invalid> {1_700_000_000 + i} +0000\n"
                   f"data {len(msg)}\n").encode() + msg + f"from {baseline}\n".encode()
        for path, data in (("params.yaml", _params(round(0.001 * (i + 1), 3), 10 + i % 7)),
                           ("metrics.json", _metrics(rng))):
            stream += f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"
        stream += b"\n"
    return bytes(stream)


def w13_expshow(ctx: Any) -> None:
    run = sys.modules[type(ctx).__module__]
    tool = ctx.tool
    if tool.name not in ("archives", "dvc"):
        raise run.NotApplicable(f"{tool.name} has no experiments")
    repo: Path = ctx.fresh("w13-expshow")
    tool.init_pipeline(ctx, repo)
    (repo / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    (repo / "params.yaml").write_bytes(_params(0.01, 10))
    (repo / "metrics.json").write_bytes(json.dumps({"acc": 0.5, "loss": 0.5}).encode())
    ctx.commit(repo, "baseline")
    baseline = ctx.run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, env=ctx.env, check=True,
                   input=_fast_import(baseline, EXPERIMENTS), capture_output=True)
    command = (["git", "archives", "exp", "show", "--no-pager"] if tool.name == "archives"
               else ["dvc", "exp", "show", "--no-pager"])

    def show(_i: int) -> float:
        took = float(ctx.timed([command], repo))
        out = ctx.run(command, repo).stdout
        if f"exp-{EXPERIMENTS - 1:03d}" not in out:
            raise run.CommandFailed(command, 1, "the table lacks the 100th experiment")
        return took

    ctx.record("W13EXPSHOW", W13_EXPSHOW, lambda: run.median_of(ctx.repeat, show))
