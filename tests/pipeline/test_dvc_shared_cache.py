"""Real DVC and we share DVC's cache with no configuration step (no ``dvc config
cache.dir``): what one tool ran and stored, the other calls up to date and runs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.peers import run_dvc as dvc
from tests.helpers.pipelines import write

pytestmark = pytest.mark.slow


DVC_YAML = """stages:
  prep:
    cmd: mkdir -p data/prep && cat data/raw/*.txt > data/prep/all.txt
    deps: [data/raw]
    outs: [data/prep]
  train:
    cmd: wc -l data/prep/all.txt > model.txt && echo ran >> runs.log
    deps: [data/prep]
    outs: [model.txt]
"""


def project(root: Path, exe: Path) -> None:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    dvc(exe, root, "init", "-q")
    write(root, {"data/raw/a.txt": "a\n", "data/raw/b.txt": "b\n", "dvc.yaml": DVC_YAML})


def test_after_dvc_repro_we_are_clean_and_run_nothing(tmp_path: Path, dvc_exe: Path) -> None:
    root = tmp_path / "p"
    project(root, dvc_exe)
    dvc(dvc_exe, root, "repro", "-q")
    assert "up to date" in archives(root, "status").stdout.decode()
    out = archives(root, "repro", "--json").stdout
    assert json.loads(out)["ran"] == []
    assert (root / "runs.log").read_text() == "ran\n"
    # Outputs DVC cached are in the one cache: removing one, our checkout brings it back.
    (root / "model.txt").unlink()
    archives(root, "checkout")
    assert (root / "model.txt").read_text().split()[0] == "2"
    assert not (root / ".git" / "archives" / "files" / "md5").exists()


def test_after_our_repro_dvc_is_clean_and_finds_our_outputs_cached(
        tmp_path: Path, dvc_exe: Path) -> None:
    root = tmp_path / "p"
    project(root, dvc_exe)
    archives(root, "repro")
    assert dvc(dvc_exe, root, "status").strip() == "Data and pipelines are up to date."
    # DVC can restore what we stored: its checkout reads our objects from its cache.
    (root / "data" / "prep" / "all.txt").unlink()
    dvc(dvc_exe, root, "checkout", "-q")
    assert (root / "data" / "prep" / "all.txt").read_text() == "a\nb\n"
    assert "didn't change" in dvc(dvc_exe, root, "repro")
    assert (root / "runs.log").read_text() == "ran\n"
