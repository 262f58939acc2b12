"""Real DVC 3 and we read the same plots alike: ids and their order, which are images, and
for each chart its x field, its y field and how many rows each revision gives it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.helpers import archives
from tests.helpers.peers import run_dvc
from tests.plots.test_plots_repo import FILES, TRAIN, commit


def ours(root: Path, *args: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(archives(root, "plots", *args, "--json").stdout)
    return found


def dvcs(exe: Path, root: Path, *args: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(run_dvc(exe, root, "plots", *args, "--json"))["data"]
    return found


def summary(spec: dict[str, Any]) -> tuple[str, str, Counter[str]]:
    enc = spec.get("encoding") or spec.get("spec", {}).get("encoding", {})
    y = enc.get("y", {}).get("field") or spec["layer"][0]["encoding"]["y"]["field"]
    return enc["x"]["field"], y, Counter(r["rev"] for r in spec["data"]["values"])


def test_show_and_diff_agree_with_dvc(repo: Path, dvc_exe: Path) -> None:
    run_dvc(dvc_exe, repo, "init", "-q")
    run_dvc(dvc_exe, repo, "config", "core.analytics", "false")
    commit(repo, "v1", FILES)
    commit(repo, "v2", {"plots/train.csv": TRAIN + "4,0.2,0.9\n"})
    for args in (("show",), ("diff", "HEAD~1", "HEAD")):
        mine, theirs = ours(repo, *args), dvcs(dvc_exe, repo, *args)
        assert list(mine) == list(theirs), args
        for plot_id, entries in theirs.items():
            if entries[0]["type"] == "image":  # DVC: one entry per revision
                assert [i["rev"] for i in mine[plot_id]["images"]] == [
                    rev for e in entries for rev in e["revisions"]]
                continue
            (entry,) = entries
            assert summary(mine[plot_id]) == summary(entry["content"]), (args, plot_id)
