"""``dag`` draws ``.dvc`` files as data-source nodes, as ``dvc dag`` does (checked against
real DVC): an arrow to each stage that depends on their data; with ``--outs``, the data."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers import archives, git
from tests.helpers.peers import dvc_executable
from tests.helpers.pipelines import write

PIPELINE = """\
stages:
  prep:
    cmd: cp data/raw.csv prep.csv
    deps: [data/raw.csv, extra.txt]
    outs: [prep.csv]
  train:
    cmd: cp prep.csv model.pkl
    deps: [prep.csv, images]
    outs: [model.pkl]
"""


def _dot(text: str) -> tuple[set[str], set[tuple[str, str]]]:
    nodes = set(re.findall(r'^\s*"([^"]+)";$', text, re.M))
    edges = set(re.findall(r'^\s*"([^"]+)" -> "([^"]+)";$', text, re.M))
    return nodes, edges


def _project(repo: Path) -> None:
    write(repo, {"data/raw.csv": "a\n", "extra.txt": "b\n", "images/1.png": "p\n",
                 "unused.bin": "u\n", "dvc.yaml": PIPELINE})


def test_dvc_files_are_data_source_nodes(repo: Path) -> None:
    _project(repo)
    # only the names count: a .dvc file's contents are not read for the drawing
    write(repo, {"data/raw.csv.dvc": "outs: []\n", "images.dvc": "x\n", "unused.bin.dvc": ""})
    nodes, edges = _dot(archives(repo, "dag", "--dot").stdout.decode())
    assert nodes == {"prep", "train", "data/raw.csv.dvc", "images.dvc", "unused.bin.dvc"}
    assert edges == {("prep", "train"), ("data/raw.csv.dvc", "prep"), ("images.dvc", "train")}
    text = archives(repo, "dag").stdout.decode()
    assert "data/raw.csv.dvc" in text and "extra.txt" not in text  # plain deps: no node
    outs_nodes, outs_edges = _dot(archives(repo, "dag", "--outs", "--dot").stdout.decode())
    assert {"data/raw.csv", "images", "prep.csv", "model.pkl"} <= outs_nodes
    assert ("data/raw.csv", "prep.csv") in outs_edges and ("images", "model.pkl") in outs_edges
    # a target's ancestors include the data it starts from
    nodes, _ = _dot(archives(repo, "dag", "--dot", "prep").stdout.decode())
    assert nodes == {"prep", "data/raw.csv.dvc"}
    # an ignored .dvc file is not part of the project
    write(repo, {".gitignore": "unused.bin.dvc\n"})
    nodes, _ = _dot(archives(repo, "dag", "--dot").stdout.decode())
    assert "unused.bin.dvc" not in nodes


def test_the_graph_is_dvcs(repo: Path) -> None:
    dvc = str(dvc_executable())
    _project(repo)
    subprocess.run([dvc, "init", "-q"], cwd=repo, check=True)
    # one `dvc add` of the three targets writes the same three .dvc files as three runs
    subprocess.run([dvc, "add", "-q", "data/raw.csv", "images", "unused.bin"], cwd=repo,
                   check=True, capture_output=True)
    git(repo, "add", "-A")
    theirs = subprocess.run([dvc, "dag", "--dot"], cwd=repo, check=True,
                            capture_output=True, text=True).stdout
    ours = archives(repo, "dag", "--dot").stdout.decode()
    assert _dot(ours) == _dot(theirs)
    theirs_outs = subprocess.run([dvc, "dag", "--dot", "--outs"], cwd=repo, check=True,
                                 capture_output=True, text=True).stdout
    assert _dot(archives(repo, "dag", "--dot", "--outs").stdout.decode()) == _dot(theirs_outs)
