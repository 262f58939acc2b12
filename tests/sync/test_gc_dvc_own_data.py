"""gc in a DVC project shares DVC's cache: objects that only DVC's run-cache names are not
ours to judge, so gc refuses (and deletes nothing) while it exists. DVC's experiments are
commits under refs/exps: gc reads them and keeps what their dvc.lock names."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.helpers import archives, git


def _dvc_project(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".dvc").mkdir()
    (repo / ".dvc" / "config").write_text("")
    archives(repo, "install")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "project")
    data = b"only DVC's run-cache names this\n"
    md5 = hashlib.md5(data).hexdigest()
    obj = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True)
    obj.write_bytes(data)
    return repo, obj


def test_gc_refuses_while_dvc_run_cache_names_objects_we_do_not_read(tmp_path: Path) -> None:
    repo, obj = _dvc_project(tmp_path)
    entry = repo / ".dvc" / "cache" / "runs" / "ab" / "abcdef" / "0123"
    entry.parent.mkdir(parents=True)
    entry.write_text("cmd: true\nouts: []\n")
    proc = archives(repo, "gc", "-w", "--expire", "now", "--yes", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "DVC's run-cache" in err and "dvc gc" in err, err
    assert obj.is_file()


def test_gc_keeps_what_an_experiment_commit_names(tmp_path: Path) -> None:
    repo, obj = _dvc_project(tmp_path)
    md5 = obj.parent.name + obj.name
    lock = ("schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    outs:\n"
            f"    - path: model.bin\n      hash: md5\n      md5: {md5}\n      size: 32\n")
    blob = git(repo, "hash-object", "-w", "--stdin", input_bytes=lock.encode()).stdout
    tree = git(repo, "mktree", input_bytes=b"100644 blob " + blob.strip() + b"\tdvc.lock\n")
    commit = git(repo, "commit-tree", "-p", "HEAD", "-m", "exp", tree.stdout.decode().strip())
    git(repo, "update-ref", "refs/exps/ab/cd/exp-1", commit.stdout.decode().strip())
    proc = archives(repo, "gc", "-w", "--expire", "now", "--yes", check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert obj.is_file()


def test_without_them_gc_collects_what_nothing_names(tmp_path: Path) -> None:
    repo, obj = _dvc_project(tmp_path)
    proc = archives(repo, "gc", "-w", "--expire", "now", "--yes", check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert not obj.exists()
