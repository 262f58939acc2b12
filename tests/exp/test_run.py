"""``exp run`` end to end on a tiny pipeline: the experiment's commit and ref, the queue,
``--run-all -j 2`` with a failure, and the user's branch, index and files left alone."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitext.exp import names
from gitext.exp.run import LOG_LIMIT, _Log, message, trailer
from tests.helpers import archives, git
from tests.helpers.repos import setup_repo

TRAIN = """\
import json, os, sys, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
if p["lr"] > 1:
    sys.exit("diverged: lr too high")
os.makedirs("models", exist_ok=True)
open("models/model.bin", "w").write(str(p) * 10)
json.dump({"acc": p["lr"] * p["epochs"]}, open("metrics.json", "w"))
"""
DVC_YAML = """\
stages:
  train:
    cmd: python3 src/train.py
    deps: [data/raw.csv, src/train.py]
    params: [train.lr, train.epochs]
    outs: [models/model.bin]
    metrics:
      - metrics.json:
          cache: false
"""
PARAMS = "# hyper-parameters\ntrain:\n  lr: 0.01  # learning rate\n  epochs: 10\n"


def make_project(root: Path) -> Path:
    setup_repo(root, "models/**")
    for rel, text in {"params.yaml": PARAMS, "src/train.py": TRAIN, "dvc.yaml": DVC_YAML,
                      "data/raw.csv": "1,2,3\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pipeline")
    archives(root, "repro")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first run")
    return root


def snapshot(root: Path) -> dict[str, object]:
    """What must not change in the user's checkout: status, index bytes, HEAD, every
    file's mtime and bytes."""
    files = {}
    for dirpath, dirs, filenames in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in filenames:
            p = Path(dirpath) / name
            files[str(p.relative_to(root))] = (p.stat().st_mtime_ns, p.read_bytes())
    return {
        "status": git(root, "status", "--porcelain").stdout,
        "index": hashlib.sha256((root / ".git" / "index").read_bytes()).hexdigest(),
        "head": git(root, "rev-parse", "HEAD", "main").stdout,
        "branch": git(root, "symbolic-ref", "HEAD").stdout,
        "files": files,
    }


@dataclass
class Runs:
    root: Path
    baseline: str
    before: dict[str, object]
    after: dict[str, object]
    first: subprocess.CompletedProcess[bytes]
    dup: subprocess.CompletedProcess[bytes]
    bad: subprocess.CompletedProcess[bytes]
    queued: subprocess.CompletedProcess[bytes]
    run_all: subprocess.CompletedProcess[bytes]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = make_project(tmp_path_factory.mktemp("exp") / "proj")
    baseline = git(root, "rev-parse", "HEAD").stdout.decode().strip()
    (root / "data" / "raw.csv").write_text("1,2,3\n4,5,6\n")  # unstaged change
    (root / "notes.txt").write_text("a new file, staged\n")
    git(root, "add", "notes.txt")
    git(root, "status")  # let git refresh its index now, not during the runs
    before = snapshot(root)
    first = archives(root, "exp", "run", "-S", "train.lr=0.02", "-n", "first")
    dup = archives(root, "exp", "run", "-n", "first", check=False)
    bad = archives(root, "exp", "run", "-S", "train.lrr=1", check=False)
    queued = archives(root, "exp", "run", "--queue", "-S", "train.epochs=5")
    archives(root, "exp", "run", "--queue", "-S", "train.lr=2", "-n", "boom")
    run_all = archives(root, "exp", "run", "--run-all", "-j", "2", check=False)
    return Runs(root, baseline, before, snapshot(root), first, dup, bad, queued, run_all)


def _show(root: Path, rev: str, path: str) -> str:
    return git(root, "show", f"{rev}:{path}").stdout.decode()


def test_the_users_checkout_is_untouched(runs: Runs) -> None:
    assert runs.after == runs.before
    worktrees = git(runs.root, "worktree", "list", "--porcelain").stdout.decode()
    assert worktrees.count("worktree ") == 1
    assert not list((runs.root / ".git" / "archives" / "exps").glob("wt-*"))


def test_an_experiment_is_a_commit_on_the_baseline_under_refs_exps(runs: Runs) -> None:
    ref = names.exp_ref(runs.baseline, "first")
    assert ref == f"refs/exps/{runs.baseline[:2]}/{runs.baseline[2:]}/first"
    assert git(runs.root, "rev-parse", f"{ref}^@").stdout.decode().split() == [runs.baseline]
    msg = git(runs.root, "log", "-1", "--format=%B", ref).stdout.decode()
    assert msg.startswith("archives exp: first\n\n")
    assert trailer(msg, "Archives-Exp-Baseline") == runs.baseline
    assert trailer(msg, "Archives-Exp-Params") == "train.lr=0.02"
    assert trailer(msg, "Archives-Exp-Status") == "success"
    params = _show(runs.root, ref, "params.yaml")
    assert "lr: 0.02  # learning rate" in params and params.startswith("# hyper-parameters")
    assert _show(runs.root, ref, "data/raw.csv") == "1,2,3\n4,5,6\n"  # the workspace's change
    assert _show(runs.root, ref, "notes.txt") == "a new file, staged\n"
    assert "train.lr: 0.02" in _show(runs.root, ref, "dvc.lock")
    assert _show(runs.root, ref, "metrics.json") == '{"acc": 0.2}'
    out = runs.first.stdout.decode()
    assert f"Experiment 'first' done: {ref}" in out
    assert "metrics.json  acc" in out


def test_a_used_name_and_an_unknown_key_are_refused_in_one_line(runs: Runs) -> None:
    assert runs.dup.returncode == 2
    assert "an experiment named 'first' already exists" in runs.dup.stderr.decode()
    err = runs.bad.stderr.decode()
    assert runs.bad.returncode == 2
    assert "params.yaml: no parameter 'train.lrr' (did you mean 'train.lr'" in err


def test_run_all_records_success_and_failure_and_empties_the_queue(runs: Runs) -> None:
    name = runs.queued.stdout.decode().split("'")[1]
    assert runs.run_all.returncode == 1
    out = runs.run_all.stdout.decode()
    assert f"{name}: done: {names.exp_ref(runs.baseline, name)}" in out
    assert "boom: FAILED" in out
    assert "1 of 2 experiment(s) failed: boom" in runs.run_all.stderr.decode()
    assert git(runs.root, "for-each-ref", names.QUEUE_PREFIX).stdout == b""
    assert "train.epochs: 5" in _show(runs.root, names.exp_ref(runs.baseline, name),
                                      "dvc.lock")
    failed = names.failed_ref(runs.baseline, "boom")
    msg = git(runs.root, "log", "-1", "--format=%B", failed).stdout.decode()
    assert trailer(msg, "Archives-Exp-Status") == "failed"
    assert trailer(msg, "Archives-Exp-Params") == "train.lr=2"
    log = msg.split("\n--- log ---\n", 1)[1]
    assert "diverged: lr too high" in log
    assert "lr: 2" in _show(runs.root, failed, "params.yaml")


def test_the_log_keeps_the_last_64_kib_and_trailers_stop_at_it() -> None:
    seen: list[str] = []
    log = _Log(seen.append)
    for i in range(10_000):
        log(f"line {i:05d} " + "x" * 20)
    assert len(seen) == 10_000
    text = log.text()
    assert len(text) <= LOG_LIMIT and text.endswith("line 09999 " + "x" * 20)
    msg = message("n", "b" * 40, "", "failed", "Archives-Exp-Status: success")
    assert trailer(msg, "Archives-Exp-Status") == "failed"
