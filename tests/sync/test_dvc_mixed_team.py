"""A mixed team on one git repository and one DVC directory remote: one person uses DVC,
another git-archives (pipeline outputs; ``.dvc`` files are another module's). Real DVC,
both orders: nothing re-run, nothing re-uploaded, and neither tool calls the other's work
changed. The remote is DVC's, committed in ``.dvc/config``: the git-archives user confirms
the folder once (``remote modify --local``), as for any committed directory remote."""

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
    cmd: wc -l data/prep/all.txt > model.txt && python3 -c 'print(1)' > /dev/null
    deps: [data/prep]
    params: [lr]
    outs: [model.txt]
"""


def listing(store: Path) -> dict[str, float]:
    return {p.relative_to(store).as_posix(): p.stat().st_mtime
            for p in store.rglob("*") if p.is_file()}


def team(tmp_path: Path, exe: Path) -> tuple[Path, Path, Path]:
    """(origin, the DVC user's clone, the remote): DVC set the project up."""
    origin, dvc_user, store = tmp_path / "origin.git", tmp_path / "dvcuser", tmp_path / "store"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(dvc_user))
    dvc(exe, dvc_user, "init", "-q")
    dvc(exe, dvc_user, "config", "core.analytics", "false")
    dvc(exe, dvc_user, "remote", "add", "-d", "storage", str(store))
    write(dvc_user, {"data/raw/a.txt": "a\n", "data/raw/b.txt": "b\n", "params.yaml": "lr: 1\n",
                     "dvc.yaml": DVC_YAML})
    return origin, dvc_user, store


def our_clone(origin: Path, where: Path, store: Path) -> Path:
    git(where.parent, "clone", "-q", str(origin), str(where))
    archives(where, "install")
    archives(where, "remote", "modify", "--local", "storage", "url", str(store))
    return where


def test_dvc_pushes_we_pull_and_nobody_reruns_or_reuploads(tmp_path: Path,
                                                            dvc_exe: Path) -> None:
    origin, dvc_user, store = team(tmp_path, dvc_exe)
    dvc(dvc_exe, dvc_user, "repro", "-q")
    git(dvc_user, "add", "-A")
    git(dvc_user, "commit", "-qm", "dvc repro")
    dvc(dvc_exe, dvc_user, "push", "-q")
    git(dvc_user, "push", "-q", "origin", "HEAD:main")
    before = listing(store)

    ours = our_clone(origin, tmp_path / "ours", store)
    archives(ours, "pull")
    assert (ours / "data" / "prep" / "all.txt").read_text() == "a\nb\n"
    assert (ours / "model.txt").read_text() == (dvc_user / "model.txt").read_text()
    assert "up to date" in archives(ours, "status").stdout.decode()
    assert json.loads(archives(ours, "repro", "--json").stdout)["ran"] == []
    assert dvc(dvc_exe, ours, "status").strip() == "Data and pipelines are up to date."
    assert "Cache and remote 'storage' are in sync" in dvc(dvc_exe, ours, "status", "-c")
    archives(ours, "push")
    assert listing(store) == before  # nothing re-uploaded
    assert git(ours, "status", "--porcelain").stdout == b""


def test_we_push_dvc_pulls_and_nobody_reruns_or_reuploads(tmp_path: Path,
                                                          dvc_exe: Path) -> None:
    origin, dvc_user, store = team(tmp_path, dvc_exe)
    git(dvc_user, "add", "-A")
    git(dvc_user, "commit", "-qm", "project")
    git(dvc_user, "push", "-q", "origin", "HEAD:main")

    ours = our_clone(origin, tmp_path / "ours", store)
    write(ours, {"params.yaml": "lr: 2\n"})
    archives(ours, "repro")
    git(ours, "add", "-A")
    git(ours, "commit", "-qm", "our repro")
    git(ours, "push", "-q", "origin", "HEAD:main")  # pre-push uploads to DVC's remote
    pushed = listing(store)
    assert any(k.endswith(".dir") for k in pushed)

    git(dvc_user, "pull", "-q", "origin", "main")
    dvc(dvc_exe, dvc_user, "pull", "-q")
    assert (dvc_user / "data" / "prep" / "all.txt").read_text() == "a\nb\n"
    assert dvc(dvc_exe, dvc_user, "status").strip() == "Data and pipelines are up to date."
    assert "Cache and remote 'storage' are in sync" in dvc(dvc_exe, dvc_user, "status", "-c")
    assert "didn't change" in dvc(dvc_exe, dvc_user, "repro")
    dvc(dvc_exe, dvc_user, "push", "-q")
    assert listing(store) == pushed  # nothing re-uploaded
    assert "up to date" in archives(ours, "status").stdout.decode()
