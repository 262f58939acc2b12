"""repro's DVC flags (-k/--keep-going, --allow-missing, --pull) and its closing line naming
the files to ``git add``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.helpers import archives, git
from tests.helpers.pipelines import write
from tests.helpers.s3 import trust_globally

TWO_BRANCHES = """\
stages:
  bad:
    cmd: exit 3
    outs: [bad.txt]
  good:
    cmd: echo ok > good.txt
    outs: [good.txt]
"""

CHAIN = """\
stages:
  prep:
    cmd: mkdir -p "my data" && cp raw.txt "my data/prep.txt"
    deps: [raw.txt]
    outs: ["my data/prep.txt"]
  train:
    cmd: cat "my data/prep.txt" > model.txt
    deps: ["my data/prep.txt"]
    outs: [model.txt]
"""


def test_repro_names_the_files_to_git_add_quoted(repo: Path) -> None:
    write(repo, {"raw.txt": "r\n", "dvc.yaml": CHAIN})
    out = archives(repo, "repro").stdout.decode()
    assert out.endswith("To track the changes with git, run:\n\n"
                        "\tgit add dvc.lock 'my data/.gitignore' .gitignore\n")
    git(repo, "add", "dvc.lock", "my data/.gitignore", ".gitignore")
    # from a subfolder, relative to it; only what differs from the index
    write(repo, {"raw.txt": "changed\n"})
    sub = repo / "my data"
    again = archives(sub, "repro").stdout.decode()
    assert again.endswith("\tgit add ../dvc.lock\n")
    git(repo, "add", "dvc.lock")
    quiet = archives(repo, "repro").stdout.decode()
    assert "git add" not in quiet and "Data and pipelines are up to date." in quiet
    data = json.loads(archives(repo, "repro", "-f", "--json").stdout)
    assert data["git_add"] == []  # same results: the lock is unchanged


def test_repro_stops_at_the_first_failure_unless_keep_going(repo: Path) -> None:
    write(repo, {"dvc.yaml": TWO_BRANCHES})
    proc = archives(repo, "repro", check=False)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "stage 'bad' failed" in err
    assert "not run because repro stops at the first failure (-k/--keep-going" in err
    assert "good" in err and not (repo / "good.txt").exists()
    kept = archives(repo, "repro", "-k", check=False)
    assert kept.returncode == 1
    assert (repo / "good.txt").read_text() == "ok\n"
    data = json.loads(archives(repo, "repro", "--keep-going", "--json", check=False).stdout)
    assert data["failed"][0]["stage"] == "bad" and data["stopped"] == []


def test_allow_missing_skips_stages_whose_data_alone_is_missing(repo: Path) -> None:
    archives(repo, "install")
    write(repo, {"raw.txt": "r\n", "dvc.yaml": CHAIN})
    archives(repo, "repro")
    # a fresh clone's situation: outputs neither in the work tree nor in the cache
    (repo / "model.txt").unlink()
    shutil.rmtree(repo / "my data")
    shutil.rmtree(repo / ".git" / "archives" / "files")
    dry = archives(repo, "repro", "--dry").stdout.decode()
    assert "Would run stage 'prep'" in dry and "Would run stage 'train'" in dry
    allowed = archives(repo, "repro", "--allow-missing", "--dry").stdout.decode()
    assert "Would run" not in allowed
    assert "Stage 'train' didn't change, skipping (its data is missing: dep my data/prep.txt " \
           "deleted; out model.txt deleted)" in allowed
    # a real change is not forgiven: prep runs, so train's missing input is made here
    write(repo, {"raw.txt": "new\n"})
    changed = archives(repo, "repro", "--allow-missing", "--dry").stdout.decode()
    assert "Would run stage 'prep' (dep raw.txt modified" in changed
    assert "Would run stage 'train'" in changed


def test_repro_pull_restores_from_the_remote_instead_of_running(repo: Path,
                                                                tmp_path: Path) -> None:
    archives(repo, "install")
    remote = tmp_path / "remote"
    remote.mkdir()
    (repo / ".archives").mkdir()
    git(repo, "config", "-f", ".archives/config", "remote.storage.url", os.fspath(remote))
    git(repo, "config", "-f", ".archives/config", "core.remote", "storage")
    trust_globally(repo, "storage", "url", os.fspath(remote))
    log = tmp_path / "runs.log"  # outside both clones: counts every run of train
    write(repo, {"raw.txt": "r\n", "dvc.yaml": CHAIN.replace(
        "cat ", f"echo ran >> '{log}' && cat ")})
    archives(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    archives(repo, "push", "--run-cache")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(repo), os.fspath(clone))
    archives(clone, "install")
    out = archives(clone, "repro", "--pull").stdout.decode()
    assert "Data and pipelines are up to date." in out
    assert log.read_text() == "ran\n"  # the first run only: nothing ran in the clone
    assert (clone / "model.txt").read_text() == "r\n"
    # without --pull the clone would have run both stages
    assert "Running stage" not in out
