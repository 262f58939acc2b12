"""DVC itself renders ``cmd`` as we do: ``[parsing]`` settings, and the lock keeps the form
(string or list) dvc.yaml gave. Needs DVC: :func:`tests.peers.dvc_executable` reuses
/work/dvcvenv or installs it once into <checkout>/.cache/dvc-venv (skipped when offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitext.pipeline.dvcyaml.loader import load_pipeline
from gitext.pipeline.lockfile import dump_lock, parse_lock
from tests.helpers import git
from tests.helpers.peers import run_dvc

pytestmark = pytest.mark.slow

DVC_YAML = """\
vars:
- args: {lr: 0.5, fast: true, slow: false, layers: [8, 'a b'], opt: {name: adam}}
stages:
  string:
    cmd: echo ${args} > string.txt
    outs: [string.txt]
  one_item_list:
    cmd: [echo one > one.txt]
    outs: [one.txt]
  two_item_list:
    cmd:
    - echo two > two.txt
    - echo more >> two.txt
    outs: [two.txt]
  multi_line:
    cmd: |
      echo three > three.txt
      echo ${args.opt.name} >> three.txt
    outs: [three.txt]
  looped:
    foreach: [x, y]
    do:
      cmd: ['echo ${item} > ${item}.txt']
      outs: [ '${item}.txt' ]
"""


@pytest.mark.parametrize(("bool_style", "list_style"), [
    (None, None), ("boolean_optional", "append"),
])
def test_dvc_runs_and_locks_the_commands_we_resolve(
        repo: Path, dvc_exe: Path, bool_style: str | None, list_style: str | None) -> None:
    run_dvc(dvc_exe, repo, "init", "-q")
    if bool_style is not None:
        run_dvc(dvc_exe, repo, "config", "parsing.bool", bool_style)
    if list_style is not None:
        run_dvc(dvc_exe, repo, "config", "parsing.list", list_style)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pipeline")
    run_dvc(dvc_exe, repo, "repro", "-q")
    text = (repo / "dvc.lock").read_text()
    lock = parse_lock(text)
    stages = load_pipeline(repo).stages
    assert sorted(lock.stages) == sorted(stages)
    for name, entry in lock.stages.items():
        assert entry.cmd == stages[name].lock_cmd, name
    # Our writer gives back DVC's bytes for DVC's lock, cmd forms included.
    assert dump_lock(lock) == text
    expected = "--lr 0.5 --fast"
    if bool_style == "boolean_optional":
        expected += " --no-slow"
    expected += " --layers 8 --layers a b" if list_style == "append" else " --layers 8 a b"
    expected += " --opt.name adam"
    assert (repo / "string.txt").read_text() == expected + "\n"
