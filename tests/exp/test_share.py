"""``exp push/pull``: refs through a bare git remote, data through a directory data remote;
a second clone pulls an experiment and ``exp apply`` gives it the output's bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from gitext.errors import UsageError
from gitext.exp.listing import list_experiments
from gitext.exp.share import select
from gitext.git.repo import Repo
from tests.helpers import archives, git
from tests.helpers.exps import Spec, cached_blob, exp_ref, make_experiments
from tests.helpers.repos import setup_repo
from tests.helpers.s3 import trust_globally

EXP_MODEL = b"weights only the experiment produced\n"


def _origin_and_clone(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    store = tmp_path / "store"
    store.mkdir()
    a = setup_repo(tmp_path / "a", "models/**")
    (a / ".archives").mkdir(exist_ok=True)
    git(a, "config", "-f", ".archives/config", "remote.storage.url", os.fspath(store))
    git(a, "config", "-f", ".archives/config", "core.remote", "storage")
    trust_globally(a, "storage", "url", os.fspath(store))
    (a / "models").mkdir()
    (a / "models" / "model.bin").write_bytes(b"baseline weights\n")
    (a / "params.yaml").write_text("lr: 0.1\n")
    git(a, "add", ".")
    git(a, "commit", "-q", "-m", "base")
    git(a, "remote", "add", "origin", os.fspath(origin))
    git(a, "push", "-q", "origin", "main")
    base = git(a, "rev-parse", "HEAD").stdout.decode().strip()
    return origin, store, a, base


def test_pull_in_a_second_clone_then_apply_gives_the_bytes(tmp_path: Path) -> None:
    origin, store, a, base = _origin_and_clone(tmp_path)
    blob = cached_blob(a, "models/model.bin", EXP_MODEL)
    make_experiments(a, base, [
        Spec("tuned", {"params.yaml": b"lr: 0.5\n", "models/model.bin": ("blob", blob)}),
        Spec("crashed", {"params.yaml": b"lr: 9\n"}, status="failed")])

    out = archives(a, "exp", "push", "origin", "--all").stdout.decode()
    assert "1 experiment(s) (tuned)" in out
    remote_refs = git(a, "ls-remote", "origin", "refs/*").stdout.decode()
    assert exp_ref(base, "tuned") in remote_refs and "crashed" not in remote_refs
    digest = hashlib.sha256(EXP_MODEL).hexdigest()
    assert any(digest[2:] in p.name for p in store.rglob("*") if p.is_file())

    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", os.fspath(origin), os.fspath(b))
    archives(b, "install")
    archives(b, "exp", "pull", "origin", "tuned")
    assert [e.name for e in list_experiments(Repo.discover(b))] == ["tuned"]
    archives(b, "exp", "apply", "tuned")
    assert (b / "models" / "model.bin").read_bytes() == EXP_MODEL
    assert (b / "params.yaml").read_text() == "lr: 0.5\n"

    archives(b, "exp", "remove", "-g", "origin", "tuned")
    assert "refs/exps" not in git(a, "ls-remote", "origin").stdout.decode()
    # nothing left to send: no ref moves (a bare 'git push' would push the branch)
    archives(b, "exp", "remove", "tuned")
    git(b, "commit", "-qm", "applied, not pushed")
    before = git(a, "ls-remote", "origin").stdout
    out = archives(b, "exp", "push", "origin", "--all", "--no-cache").stdout.decode()
    assert "0 experiment(s)" in out
    assert git(a, "ls-remote", "origin").stdout == before


def test_select_refuses_unfinished_and_needs_a_choice(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "commit", "-q", "--allow-empty", "-m", "base")
    base = git(root, "rev-parse", "HEAD").stdout.decode().strip()
    make_experiments(root, base, [Spec("ok", {"f": b"1"}),
                                  Spec("wip", {"f": b"2"}, status="queued")])
    exps = list_experiments(Repo.discover(root))
    assert [e.name for e in select(exps, [], all_=True, verb="push")] == ["ok"]
    with pytest.raises(UsageError, match="'wip' is queued"):
        select(exps, ["wip"], all_=False, verb="push")
    with pytest.raises(UsageError, match="--all"):
        select(exps, [], all_=False, verb="push")
