"""gc in a DVC project shares DVC's cache: objects that only DVC's run-cache or DVC's
experiments name are not ours to judge, so gc refuses (and deletes nothing) while they exist."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("owner", ["run-cache", "experiments"])
def test_gc_refuses_while_dvc_names_objects_we_do_not_read(tmp_path: Path, owner: str) -> None:
    repo, obj = _dvc_project(tmp_path)
    if owner == "run-cache":
        entry = repo / ".dvc" / "cache" / "runs" / "ab" / "abcdef" / "0123"
        entry.parent.mkdir(parents=True)
        entry.write_text("cmd: true\nouts: []\n")
        said = "DVC's run-cache"
    else:
        git(repo, "update-ref", "refs/exps/ab/cd/exp-1", "HEAD")
        said = "DVC experiments (refs/exps)"
    proc = archives(repo, "gc", "-w", "--expire", "now", "--yes", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and said in err and "dvc gc" in err, err
    assert obj.is_file()


def test_without_them_gc_collects_what_nothing_names(tmp_path: Path) -> None:
    repo, obj = _dvc_project(tmp_path)
    proc = archives(repo, "gc", "-w", "--expire", "now", "--yes", check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert not obj.exists()
