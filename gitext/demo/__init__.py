"""``git archives demo``: the tutorial ("Infinite Archives") walked end to end.

Each step prints the command a user would type and what it answers, runs it for real in a
scratch directory, and checks the tutorial's expected figures; any surprise stops the demo
with a non-zero exit.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from gitext.errors import ArchivesError

if TYPE_CHECKING:
    from importlib.abc import Traversable

PREPARE = '''"""Add a power column (strength + intelligence) to the raw adventurers."""
import csv
import os

os.makedirs("data/processed", exist_ok=True)
with open("data/raw/adventurers.csv", newline="") as f:
    rows = list(csv.DictReader(f))
for row in rows:
    row["power"] = int(row["strength"]) + int(row["intelligence"])
with open("data/processed/adventurers_prepared.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=[*rows[0].keys()])
    writer.writeheader()
    writer.writerows(rows)
print(f"Data prepared: {len(rows)} adventurers")
'''

ANALYZE = '''"""Summarise the prepared adventurers of at least analyze.min_level (params.yaml)
into metrics/analysis.json."""
import csv
import json
import os

import yaml

with open("params.yaml") as f:
    min_level = yaml.safe_load(f)["analyze"]["min_level"]
with open("data/processed/adventurers_prepared.csv", newline="") as f:
    rows = [r for r in csv.DictReader(f) if int(r["level"]) >= min_level]
levels = [int(r["level"]) for r in rows]
powers = [int(r["power"]) for r in rows]
metrics = {
    "total_adventurers": len(rows),
    "avg_level": round(sum(levels) / len(levels), 2),
    "max_level": max(levels),
    "avg_power": round(sum(powers) / len(powers), 2),
    "max_power": max(powers),
}
os.makedirs("metrics", exist_ok=True)
with open("metrics/analysis.json", "w") as f:
    json.dump(metrics, f, indent=2)
    f.write("\\n")
print(json.dumps(metrics))
'''

DVC_YAML = """stages:
  prepare:
    cmd: python src/prepare.py
    deps:
      - src/prepare.py
      - data/raw/adventurers.csv
    outs:
      - data/processed/adventurers_prepared.csv
  analyze:
    cmd: python src/analyze.py
    deps:
      - src/analyze.py
      - data/processed/adventurers_prepared.csv
    params:
      - analyze.min_level
    metrics:
      - metrics/analysis.json:
          cache: false
plots:
  - data/processed/adventurers_prepared.csv:
      template: bar_horizontal_sorted
      x: power
      y: name
      title: Power by adventurer
"""

# A notebook as Jupyter saves it after a run: outputs and execution counts.
NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "id": "intro", "metadata": {},
         "source": ["# Exploring the adventurers"]},
        {"cell_type": "code", "execution_count": 7, "id": "count", "metadata": {},
         "outputs": [{"data": {"text/plain": ["10"]}, "execution_count": 7,
                      "metadata": {}, "output_type": "execute_result"}],
         "source": ["import csv\n",
                    "rows = list(csv.DictReader(open('../data/raw/adventurers.csv')))\n",
                    "len(rows)"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                "name": "python3"}},
    "nbformat": 4, "nbformat_minor": 5,
}

PARAMS = """# analyze.min_level: only adventurers of at least this level are counted
analyze:
  min_level: 0
"""

EXPECTED_FIRST = {"total_adventurers": 10, "avg_level": 12.9, "max_level": 20,
                  "avg_power": 26.5, "max_power": 29}
EXPECTED_SECOND = {"total_adventurers": 12, "avg_level": 13.58, "max_level": 20,
                   "avg_power": 26.58, "max_power": 29}


class DemoFailed(ArchivesError):
    """A demo step did not give what the tutorial expects."""


class Demo:
    def __init__(self, base: Path, *, out: Callable[[str], None] = print) -> None:
        self.base = base
        self.out = out
        self.cwd = base
        self.step_no = 0
        exe_dir = str(Path(sys.argv[0]).resolve().parent) if sys.argv[0] else ""
        py_dir = str(Path(sys.executable).parent)
        # `git archives` must find this git-archives, and the stages' `python` this Python.
        path = os.pathsep.join(d for d in (exe_dir, py_dir, os.environ.get("PATH", "")) if d)
        self.env = dict(os.environ, PATH=path, GIT_AUTHOR_NAME="Demo",
                        GIT_AUTHOR_EMAIL="demo@example.invalid", GIT_COMMITTER_NAME="Demo",
                        GIT_COMMITTER_EMAIL="demo@example.invalid", GIT_ADVICE="0")
        self.env.pop("GIT_DIR", None)
        self.env.pop("GIT_WORK_TREE", None)

    def step(self, title: str) -> None:
        self.step_no += 1
        self.out(f"\n== {self.step_no}. {title}")

    def run(self, cmd: str, *, check: bool = True, show: bool = True) -> str:
        """Print the command as a user would type it, run it, print its output."""
        rel = os.path.relpath(self.cwd, self.base)
        prompt = f"[{rel}]$ " if rel != "." else "$ "
        self.out(f"{prompt}{cmd}")
        proc = subprocess.run(cmd, shell=True, cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, check=False)
        text = (proc.stdout + proc.stderr).rstrip("\n")
        if show and text:
            self.out("\n".join("  " + ln for ln in text.splitlines()))
        if check and proc.returncode != 0:
            raise DemoFailed(f"demo step failed: '{cmd}' exited with {proc.returncode}",
                             hint=f"the scratch repository is kept in {self.base}")
        return proc.stdout

    def write(self, rel: str, text: str) -> None:
        path = self.cwd / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.out(f"  (wrote {rel})")

    def expect(self, what: str, ok: bool) -> None:
        if not ok:
            raise DemoFailed(f"demo check failed: {what}",
                             hint=f"the scratch repository is kept in {self.base}")
        self.out(f"  ✓ {what}")

    def metrics(self, repo: Path) -> dict[str, float]:
        data: dict[str, float] = json.loads((repo / "metrics" / "analysis.json").read_text())
        return data

    def notebook(self, proj: Path) -> None:
        """A notebook with outputs is committed stripped; re-running it changes nothing git
        sees."""
        self.step("A notebook: git stores it without its outputs")
        self.write("notebooks/explore.ipynb", _notebook_text(7))
        self.run("git add notebooks/explore.ipynb")
        self.run("git diff --cached -- notebooks/explore.ipynb")
        staged = json.loads(self.run("git show :notebooks/explore.ipynb", show=False))
        code = staged["cells"][1]
        self.expect("the staged notebook has no outputs and no execution count",
                    code["outputs"] == [] and code["execution_count"] is None)
        self.expect("the notebook in the work tree keeps its outputs",
                    json.loads((proj / "notebooks/explore.ipynb").read_text())
                    ["cells"][1]["outputs"] != [])
        self.run("git commit -q -m 'Explore the adventurers'")
        (proj / "notebooks/explore.ipynb").write_text(_notebook_text(12))
        self.out("  (ran the notebook again: new execution counts)")
        out = self.run("git diff -- notebooks/explore.ipynb")
        self.expect("git diff shows no change: outputs and counts are not what git stores",
                    out.strip() == "")
        out = self.run("git add notebooks/explore.ipynb && git status --short")
        self.expect("staged again, there is nothing to commit", out.strip() == "")

    def plots(self, proj: Path) -> None:
        """dvc.yaml's plot, in one self-contained page that works offline: the Vega renderer
        and the chart's spec with its data are inlined (nothing is fetched)."""
        self.step("Plot the adventurers' power")
        self.run("git archives plots show")
        page = proj / "dvc_plots" / "index.html"
        text = page.read_text(encoding="utf-8") if page.is_file() else ""
        self.expect("dvc_plots/index.html carries the renderer and the chart's data, and "
                    "allows no fetch (its Content-Security-Policy)",
                    "vega-embed" in text and "default-src 'none'" in text
                    and "Power by adventurer" in text)

    def experiments(self, proj: Path) -> None:
        """Two experiments with other parameters, each run in a worktree of its own and kept
        as a git ref; the user's files do not move."""
        self.step("Experiments: count only the seasoned adventurers")
        self.run("git archives exp run -n veterans -S analyze.min_level=10")
        self.run("git archives exp run -n elders -S analyze.min_level=15")
        out = self.run("git archives exp show --no-pager")
        self.expect("exp show lists both experiments beside the baseline",
                    "veterans" in out and "elders" in out)
        self.expect("the work tree still holds the baseline's metrics",
                    self.metrics(proj) == EXPECTED_SECOND)
        out = self.run("git status --short")
        self.expect("nothing in the work tree changed", out.strip() == "")
        self.run("git archives exp diff veterans elders")

    def main(self) -> None:
        data = resources.files("gitext.demo")
        proj = self.base / "infinite-archives"
        proj.mkdir()
        self.cwd = proj
        self.create()
        self.raw_data(proj, data)
        self.pipeline(proj)
        self.more_data(proj, data)
        self.notebook(proj)
        self.plots(proj)
        self.experiments(proj)
        self.share(proj)
        self.out(f"\nThe demo finished. Its repositories are in {self.base}")

    def create(self) -> None:
        self.step("Create the project: the ML layout, its rules, git-archives in the clone")
        self.run("git init -q -b main")
        self.run("git archives init --template ml")
        self.write("README.md", "# Infinite Archives\n\nAdventurers, measured.\n")
        self.write("requirements.txt", "pyyaml  # the stages read params.yaml\n")
        self.run("git add . && git commit -q -m 'Project layout'")

    def raw_data(self, proj: Path, data: Traversable) -> None:
        self.step("Add the raw data: files under data/ are stored as pointers")
        self.run("git archives track")
        (proj / "data/raw/adventurers.csv").write_bytes(
            data.joinpath("adventurers.csv").read_bytes())
        self.out("  (copied adventurers.csv to data/raw/)")
        self.run("git add data/raw/adventurers.csv")
        self.run("git commit -q -m 'Add the adventurers'")
        blob = self.run("git cat-file -p HEAD:data/raw/adventurers.csv")
        self.expect("the committed blob is a Git LFS pointer",
                    blob.startswith("version https://git-lfs.github.com/spec/v1"))
        self.run("git archives ls-files")

    def pipeline(self, proj: Path) -> None:
        self.step("Write the prepare and analyze stages")
        self.write("src/prepare.py", PREPARE)
        self.write("src/analyze.py", ANALYZE)
        self.write("dvc.yaml", DVC_YAML)
        self.write("params.yaml", PARAMS)
        self.run("git add src dvc.yaml params.yaml && "
                 "git commit -q -m 'Pipeline: prepare and analyze'")

        self.step("Run the pipeline and look at the metrics")
        out = self.run("git archives repro")
        self.expect("both stages ran", "prepare" in out and "analyze" in out)
        self.run("git archives metrics show")
        self.expect(f"metrics are {EXPECTED_FIRST}", self.metrics(proj) == EXPECTED_FIRST)
        self.run("git add dvc.lock metrics .gitignore data/processed/.gitignore 2>/dev/null; "
                 "git add -A && git commit -q -m 'First analysis'")
        self.run("git status --short")

    def more_data(self, proj: Path, data: Traversable) -> None:
        self.step("Two more adventurers join: only the affected stages run")
        with open(proj / "data/raw/adventurers.csv", "ab") as f:
            f.write(data.joinpath("added-rows.csv").read_bytes())
        self.out("  (appended added-rows.csv to data/raw/adventurers.csv)")
        self.run("git add data/raw/adventurers.csv")
        self.run("git archives status")
        out = self.run("git archives repro")
        self.expect("prepare and analyze ran again", "prepare" in out and "analyze" in out)
        out = self.run("git archives repro")
        self.expect("a second repro runs nothing",
                    "Running stage" not in out and "up to date" in out.lower())
        diff = self.run("git archives metrics diff")
        self.expect("metrics diff shows total_adventurers 10 → 12 and leaves max_level out",
                    "total_adventurers" in diff and "max_level" not in diff)
        self.expect(f"metrics are {EXPECTED_SECOND}", self.metrics(proj) == EXPECTED_SECOND)
        self.run("git add -A && git commit -q -m 'Two more adventurers'")
        self.run("git archives dag")

    def share(self, proj: Path) -> None:
        """Push to a local-directory remote; a teammate's clone pulls and has it all."""
        self.step("Push the data to a local-directory remote, clone elsewhere, pull")
        remote = self.base / "storage"
        self.run(f"git archives remote add -d storage {shlex.quote(str(remote))}")
        self.run("git add .archives/config && git commit -q -m 'Data remote'")
        self.run("git archives push")
        self.cwd = self.base
        self.run("git clone -q infinite-archives teammate")
        clone = self.base / "teammate"
        self.cwd = clone
        self.run("git archives install")
        # a clone uses a committed directory remote only once its user confirms it
        self.run(f"git archives remote modify --local storage url {shlex.quote(str(remote))}")
        self.run("git archives pull")
        self.run("git archives status")
        for rel in ("data/raw/adventurers.csv", "data/processed/adventurers_prepared.csv",
                    "metrics/analysis.json"):
            self.expect(f"{rel} is identical in the clone",
                        (clone / rel).read_bytes() == (proj / rel).read_bytes())
        out = self.run("git archives repro --dry")
        self.expect("the clone has nothing to re-run",
                    "would run" not in out.lower() and "didn't change" in out)
        self.run("git archives metrics show")


def _notebook_text(count: int) -> str:
    nb = json.loads(json.dumps(NOTEBOOK))
    cell = nb["cells"][1]
    cell["execution_count"] = cell["outputs"][0]["execution_count"] = count
    return json.dumps(nb, indent=1) + "\n"


def run_demo(*, directory: Path | None = None, keep: bool = True) -> int:
    if shutil.which("git") is None:
        raise ArchivesError("git is not installed", hint="install git, then run the demo again")
    base = Path(tempfile.mkdtemp(prefix="git-archives-demo-", dir=directory))
    demo = Demo(base)
    demo.main()
    if not keep:
        from gitext.store.objects import remove_tree_safely

        remove_tree_safely(base)
    return 0
