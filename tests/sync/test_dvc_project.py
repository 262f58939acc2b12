"""A DVC-shaped project (dvc.yaml + dvc.lock as DVC writes them; DVC itself not needed):
``cache: false`` outputs live in git, so they are never fetched, pushed or kept-checked."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.helpers import archives, git
from tests.helpers.s3 import add_dir_remote

DVC_YAML = """stages:
  train:
    cmd: python train.py
    deps:
    - data.csv
    outs:
    - model.pkl
    - reports:
        cache: false
    metrics:
    - metrics.json:
        cache: false
"""

LOCK = """schema: '2.0'
stages:
  train:
    cmd: python train.py
    deps:
    - path: data.csv
      hash: md5
      md5: {data}
      size: {data_size}
    outs:
    - path: metrics.json
      hash: md5
      md5: {metrics}
      size: {metrics_size}
    - path: model.pkl
      hash: md5
      md5: {model}
      size: {model_size}
    - path: reports
      hash: md5
      md5: {reports}.dir
      size: {reports_size}
      nfiles: 1
"""


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _write_lock(repo: Path, model: bytes) -> None:
    data = (repo / "data.csv").read_bytes()
    metrics = (repo / "metrics.json").read_bytes()
    summary = (repo / "reports" / "summary.txt").read_bytes()
    (repo / "dvc.lock").write_text(LOCK.format(
        data=_md5(data), data_size=len(data), metrics=_md5(metrics),
        metrics_size=len(metrics), model=_md5(model), model_size=len(model),
        # a manifest that is nowhere: DVC never stores one for a cache: false folder
        reports=_md5(b"reports manifest " + summary), reports_size=len(summary)))


def _project(tmp_path: Path) -> tuple[Path, Path, bytes]:
    from gitext.store.objects import LocalStore

    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    archives(repo, "install")
    remote = add_dir_remote(repo, tmp_path / "remote")
    model = os.urandom(5000)
    (repo / "data.csv").write_text("x,y\n1,2\n")
    (repo / "metrics.json").write_text('{"acc": 0.5}\n')
    (repo / "reports").mkdir()
    (repo / "reports" / "summary.txt").write_text("fine\n")
    (repo / "model.pkl").write_bytes(model)
    (repo / ".gitignore").write_text("/model.pkl\n")
    (repo / "dvc.yaml").write_text(DVC_YAML)
    _write_lock(repo, model)
    # `dvc repro && dvc push` left the model in the cache and on the remote (md5 layout)
    LocalStore(repo / ".git" / "archives").add_bytes(model, "md5")
    key = f"files/md5/{_md5(model)[:2]}/{_md5(model)[2:]}"
    (remote / key).parent.mkdir(parents=True, exist_ok=True)
    (remote / key).write_bytes(model)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    git(repo, "remote", "add", "origin", os.fspath(origin))
    return repo, origin, model


def test_push_pull_and_gc_leave_cache_false_outputs_to_git(tmp_path: Path) -> None:
    repo, origin, model = _project(tmp_path)
    # pre-push: metrics.json and reports/ are not "missing in the local cache"
    proc = git(repo, "push", "-q", "origin", "main", check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    # a later commit changes dvc.lock but not dvc.yaml: the pushed range holds only the lock
    (repo / "metrics.json").write_text('{"acc": 0.9}\n')
    _write_lock(repo, model)
    git(repo, "commit", "-qam", "better")
    proc = git(repo, "push", "-q", "origin", "main", check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    # a clone pulls the model and exits 0: nothing it needs is missing
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(origin), os.fspath(clone))
    archives(clone, "install")
    proc = archives(clone, "pull", check=False)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert (clone / "model.pkl").read_bytes() == model
    assert (clone / "metrics.json").read_text() == '{"acc": 0.9}\n'
    assert archives(clone, "fetch", "--all-commits").returncode == 0
    # status does not count them as missing; gc is not stopped by the absent manifest
    out = archives(clone, "remote", "status").stdout.decode()
    assert "missing" not in out and "1 object(s) referenced" in out
    out = archives(clone, "gc", "-w", "--expire", "now").stdout.decode()
    assert "removed 0 object(s)" in out
    assert (clone / ".git" / "archives" / f"files/md5/{_md5(model)[:2]}/{_md5(model)[2:]}"
            ).is_file()


def test_an_output_cached_in_one_dvc_yaml_version_is_still_moved(tmp_path: Path) -> None:
    """Only outputs every dvc.yaml version declares `cache: false` are left out: a hostile
    or older version that says so cannot make push skip (or gc drop) a cached output."""
    from gitext.pipeline.dvcproject import UncachedOutputs

    u = UncachedOutputs()
    u.add_yaml("", DVC_YAML.encode())
    assert ("", "train", "metrics.json") in u and ("", "train", "./reports") in u
    assert ("", "train", "model.pkl") not in u
    u.add_yaml("", DVC_YAML.replace("    - metrics.json:\n        cache: false\n",
                                    "    - metrics.json\n").encode())
    assert ("", "train", "metrics.json") not in u
    assert ("sub", "train", "reports") not in u  # another folder's dvc.yaml says nothing
