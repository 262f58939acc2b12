"""Real DVC reads what ``exp run`` records: ``dvc exp show --json`` lists our experiment
under its baseline with its params and metrics, its outputs are in DVC's cache, and
``dvc exp apply`` brings it into the workspace."""

from __future__ import annotations

import json
from pathlib import Path

from tests.exp.test_run import make_project
from tests.helpers import archives, git
from tests.helpers.peers import run_dvc


def test_dvc_exp_show_lists_our_experiment(tmp_path: Path, dvc_exe: Path) -> None:
    root = make_project(tmp_path / "proj")
    run_dvc(dvc_exe, root, "init", "-q")
    run_dvc(dvc_exe, root, "config", "core.analytics", "false")
    git(root, "add", ".dvc")
    git(root, "commit", "-qm", "dvc init")
    archives(root, "exp", "run", "-S", "train.epochs=20", "-n", "more-epochs")
    rows = json.loads(run_dvc(dvc_exe, root, "exp", "show", "--json"))
    baseline = next(r for r in rows if r["name"] == "main")
    (exp,) = [rev for e in baseline["experiments"] for rev in e["revs"]]
    assert exp["name"] == "more-epochs"
    assert exp["data"]["params"]["params.yaml"]["data"]["train"] == {"lr": 0.01, "epochs": 20}
    assert exp["data"]["metrics"]["metrics.json"]["data"] == {"acc": 0.2}
    md5 = exp["data"]["outs"]["models/model.bin"]["hash"]
    assert (root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).is_file()
    assert not (root / ".dvc" / "config.local").exists()
    run_dvc(dvc_exe, root, "exp", "apply", "more-epochs")  # DVC checks our outputs out
    assert "'epochs': 20" in (root / "models" / "model.bin").read_text()
