"""DVC itself must agree with us: same lock text, and each tool calls the other's work
up to date. Needs DVC in a venv (reused from /work/dvcvenv, else installed once from PyPI
into <checkout>/.cache/dvc-venv)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitext.pipeline.model import Pipeline
from gitext.pipeline.repro import repro
from gitext.pipeline.status import status
from tests.helpers import DATA
from tests.helpers.peers import run_dvc
from tests.helpers.pipelines import git, make_pipeline, write

pytestmark = pytest.mark.slow

STAGES: dict[str, Any] = {
    "prepare": {"cmd": "mkdir -p data/prep && cat data/raw/*.txt > data/prep/all.txt",
                "deps": ["data/raw", "prep.sh"], "outs": ["data/prep"],
                "params": ["prepare.seed", {"conf/extra.yaml": ["alpha"]}]},
    "train": {"cmd": ["wc -l data/prep/all.txt > model.txt",
                      "printf '{\"acc\": 0.5}' > metrics.json"],
              "deps": ["data/prep"], "outs": ["model.txt"],
              "metrics": [{"metrics.json": {"cache": False}}], "params": ["train"]},
    "report": {"cmd": "cat ../model.txt > summary.txt", "wdir": "reports",
               "deps": ["../model.txt"], "outs": ["summary.txt"]},
}


def project(root: Path, dvc_exe: Path) -> list[Pipeline]:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {"data/raw/a.txt": "a\r\n", "data/raw/b.txt": "b\n", "prep.sh": "echo\n",
                 "params.yaml": "prepare:\n  seed: 3\ntrain:\n  lr: 1e-5\n  on: yes\n",
                 "conf/extra.yaml": "alpha: 0.5\n", "reports/.keep": ""})
    (root / "prep.sh").chmod(0o755)
    run_dvc(dvc_exe, root, "init", "-q")
    # One cache for both tools: ours, which is DVC 3's layout.
    run_dvc(dvc_exe, root, "config", "--local", "cache.dir", str(root / ".git" / "archives"))
    return make_pipeline(root, STAGES)


def test_dvc_says_up_to_date_after_our_repro(tmp_path: Path, dvc_exe: Path) -> None:
    root = tmp_path / "ours"
    pl = project(root, dvc_exe)
    assert repro(root, pipelines=pl, out=lambda _l: None).ok
    assert run_dvc(dvc_exe, root, "status").strip() == "Data and pipelines are up to date."
    # Both see the same stale stage after an edit.
    (root / "data" / "raw" / "b.txt").write_text("changed\n")
    theirs = json.loads(run_dvc(dvc_exe, root, "status", "--json"))
    ours = status(root, pipelines=pl)
    assert set(theirs) == {s.id for s in ours.stages if s.reasons} == {"prepare"}
    assert [s.id for s in ours.stale] == ["prepare", "train", "report"]


def test_we_agree_after_dvc_repro_and_the_lock_files_are_identical(
        tmp_path: Path, dvc_exe: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    pl_ours = project(ours, dvc_exe)
    pl_theirs = project(theirs, dvc_exe)
    assert repro(ours, pipelines=pl_ours, out=lambda _l: None).ok
    run_dvc(dvc_exe, theirs, "repro", "-q")
    assert status(theirs, pipelines=pl_theirs).up_to_date
    assert (ours / "dvc.lock").read_text() == (theirs / "dvc.lock").read_text()
    for gitignore in (".gitignore", "data/.gitignore", "reports/.gitignore"):
        assert (ours / gitignore).read_text() == (theirs / gitignore).read_text(), gitignore
    # DVC's `repro` after ours runs nothing.
    assert "didn't change" in run_dvc(dvc_exe, ours, "repro")


def test_dvc_3_and_we_read_a_legacy_dvc_2_lock_alike(tmp_path: Path, dvc_exe: Path) -> None:
    import hashlib

    root = tmp_path / "legacy"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {"in.txt": "x\r\ny\r\n", "out.txt": "z\r\n"})
    run_dvc(dvc_exe, root, "init", "-q")
    pl = make_pipeline(root, {"s": {"cmd": "cp in.txt out.txt", "deps": ["in.txt"],
                                    "outs": [{"out.txt": {"cache": False}}]}})
    legacy_in = hashlib.md5(b"x\ny\n").hexdigest()
    legacy_out = hashlib.md5(b"z\n").hexdigest()
    (root / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  s:\n    cmd: cp in.txt out.txt\n    deps:\n"
        f"    - path: in.txt\n      md5: {legacy_in}\n      size: 6\n    outs:\n"
        f"    - path: out.txt\n      md5: {legacy_out}\n      size: 3\n")
    assert run_dvc(dvc_exe, root, "status").strip() == "Data and pipelines are up to date."
    assert status(root, pipelines=pl).up_to_date


# -- .dvcignore ----------------------------------------------------------------------------------

_DVC_MATCHER = """
import json, sys
from dvc.ignore import DvcIgnorePatterns
data = json.load(open(sys.argv[1]))
out = []
for lines in data["patterns"]:
    ig = DvcIgnorePatterns([ln.strip() for ln in lines
                            if ln.strip() and not ln.strip().startswith("#")], "/r", "/")
    row = []
    for path, is_dir in data["paths"]:
        folder, _, name = ("/r/" + path).rpartition("/")
        row.append(ig.matches(folder, name, is_dir))
    out.append(row)
print(json.dumps(out))
"""


def test_dvcs_own_matcher_still_gives_the_answers_of_our_case_table(dvc_exe: Path) -> None:
    """Re-asks DVC's DvcIgnorePatterns every case of dvcignore_cases.json (which the fast
    tests check our matcher against), so the table stays DVC's word, not ours."""
    cases = DATA / "dvcignore_cases.json"
    proc = subprocess.run([str(dvc_exe.parent / "python"), "-c", _DVC_MATCHER, str(cases)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(cases.read_text())["dvc"]


IGNORING: dict[str, Any] = {
    "count": {"cmd": "mkdir -p out && ls -R data/raw > out/listing.txt && cp -r data/raw out/copy",
              "deps": ["data/raw"], "outs": ["out"]},
}


def ignoring_project(root: Path, dvc_exe: Path) -> list[Pipeline]:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {"data/raw/a.txt": "a\n", "data/raw/b.tmp": "t\n", "data/raw/keep/k.tmp": "k\n",
                 "data/raw/skip/x": "x\n", "data/raw/sub/c.txt": "c\n",
                 "data/raw/sub/d.txt": "d\n",
                 ".dvcignore": "*.tmp\n!**/keep/*.tmp\nout/copy/sub/\n",
                 "data/.dvcignore": "raw/skip/\n",
                 "data/raw/sub/.dvcignore": ".dvcignore\nc.txt\n"})
    run_dvc(dvc_exe, root, "init", "-q")
    run_dvc(dvc_exe, root, "config", "--local", "cache.dir", str(root / ".git" / "archives"))
    return make_pipeline(root, IGNORING)


def test_dvcignore_gives_the_same_directory_ids_and_lock_as_dvc(tmp_path: Path,
                                                                dvc_exe: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    pl_ours = ignoring_project(ours, dvc_exe)
    pl_theirs = ignoring_project(theirs, dvc_exe)
    assert repro(ours, pipelines=pl_ours, out=lambda _l: None).ok
    run_dvc(dvc_exe, theirs, "repro", "-q")
    assert (ours / "dvc.lock").read_text() == (theirs / "dvc.lock").read_text()
    assert "nfiles: 3" in (ours / "dvc.lock").read_text()  # a.txt, keep/k.tmp, sub/d.txt
    assert run_dvc(dvc_exe, ours, "status").strip() == "Data and pipelines are up to date."
    assert status(theirs, pipelines=pl_theirs).up_to_date
    # An ignored file appearing changes nothing for either tool.
    for root in (ours, theirs):
        write(root, {"data/raw/new.tmp": "n\n"})
    assert run_dvc(dvc_exe, ours, "status").strip() == "Data and pipelines are up to date."
    assert status(ours, pipelines=pl_ours).up_to_date
