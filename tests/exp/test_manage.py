"""``exp apply|branch|remove|gc``, and ``git archives gc`` keeping experiments' data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.exps import Spec, cached_blob, exp_ref, failed_ref, make_experiments, queue_ref
from tests.helpers.repos import setup_repo

BASE_MODEL = b"the baseline's model\n"
EXP_MODEL = b"the tuned model, only an experiment has it\n"


def _head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").stdout.decode().strip()


def _project(root: Path) -> tuple[str, str]:
    """An installed repository tracking models/**, and an experiment 'tuned' whose model
    object is only in the cache; returns (baseline, experiment commit)."""
    setup_repo(root, "models/**")
    (root / "params.yaml").write_text("train:\n  lr: 0.1\n")
    (root / "models").mkdir()
    (root / "models" / "model.bin").write_bytes(BASE_MODEL)
    (root / "notes.txt").write_text("notes\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    base = _head(root)
    blob = cached_blob(root, "models/model.bin", EXP_MODEL)
    commits = make_experiments(root, base, [Spec("tuned", {
        "params.yaml": b"train:\n  lr: 0.5\n", "models/model.bin": ("blob", blob),
        "notes.txt": None, "new.txt": b"added by the experiment\n"})])
    return base, commits["tuned"]


def _object(root: Path, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return root / ".git" / "archives" / "files" / "sha256" / digest[:2] / digest[2:]


def test_apply_refuses_local_edits_then_writes_and_stages(tmp_path: Path) -> None:
    root = tmp_path / "r"
    base, commit = _project(root)
    (root / "params.yaml").write_text("train:\n  lr: 0.3\n")  # a local edit
    proc = archives(root, "exp", "apply", "tuned", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "params.yaml" in err and "--force" in err and len(err.splitlines()) == 2
    assert (root / "params.yaml").read_text() == "train:\n  lr: 0.3\n"  # nothing changed
    assert (root / "models" / "model.bin").read_bytes() == BASE_MODEL
    git(root, "checkout", "--", "params.yaml")

    archives(root, "exp", "apply", "tuned")
    assert _head(root) == base  # HEAD never moves
    assert (root / "models" / "model.bin").read_bytes() == EXP_MODEL  # content, not pointer
    assert (root / "params.yaml").read_text() == "train:\n  lr: 0.5\n"
    assert not (root / "notes.txt").exists()
    assert (root / "new.txt").read_text() == "added by the experiment\n"
    # staged exactly as the experiment, and nothing left unstaged: 'git commit' records it
    git(root, "diff", "--cached", "--quiet", commit)
    assert git(root, "status", "--porcelain", "--untracked-files=no").stdout.decode() \
        .splitlines() == ["M  models/model.bin", "A  new.txt", "D  notes.txt",
                          "M  params.yaml"]


def test_gc_keeps_experiment_data_until_the_experiment_goes(tmp_path: Path) -> None:
    root = tmp_path / "r"
    _project(root)
    obj = _object(root, EXP_MODEL)
    assert obj.is_file()
    archives(root, "gc", "-w", "--expire", "now")
    assert obj.is_file()  # refs/exps keeps it
    archives(root, "exp", "remove", "tuned")
    assert git(root, "for-each-ref", "refs/exps").stdout == b""
    archives(root, "gc", "-w", "--expire", "now")
    assert not obj.exists()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("exp-manage")
    git(root, "init", "-q", "-b", "main")
    (root / "params.yaml").write_text("lr: 1\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    return root, _head(root)


def _refs(root: Path) -> set[str]:
    out = git(root, "for-each-ref", "--format=%(refname)", "refs/exps", "refs/archives")
    return set(out.stdout.decode().split())


def test_branch_and_remove_by_kind(plain: tuple[Path, str]) -> None:
    root, base = plain
    commits = make_experiments(root, base, [
        Spec("b-one", {"params.yaml": b"lr: 2\n"}),
        Spec("b-two", {"params.yaml": b"lr: 3\n"}),
        Spec("b-bad", {"params.yaml": b"lr: 4\n"}, status="failed"),
        Spec("b-later", {"params.yaml": b"lr: 5\n"}, status="queued")])
    archives(root, "exp", "branch", "b-one", "tuned-lr")
    assert git(root, "rev-parse", "tuned-lr").stdout.decode().strip() == commits["b-one"]
    again = archives(root, "exp", "branch", "b-two", "tuned-lr", check=False)
    assert again.returncode != 0 and "already exists" in again.stderr.decode()
    archives(root, "exp", "remove", "--queue")
    assert queue_ref("b-later") not in _refs(root)
    archives(root, "exp", "remove", "b-one", "b-bad")
    assert _refs(root) >= {exp_ref(base, "b-two")}
    assert not {exp_ref(base, "b-one"), failed_ref(base, "b-bad")} & _refs(root)
    bad = archives(root, "exp", "remove", "b-tow", check=False)
    assert bad.returncode != 0 and "did you mean 'b-two'" in bad.stderr.decode()
    assert exp_ref(base, "b-two") in _refs(root)  # nothing removed on a bad name
    archives(root, "exp", "remove", "--all")
    assert _refs(root) == set()


def test_exp_gc_removes_experiments_of_unreachable_baselines(plain: tuple[Path, str]) -> None:
    root, base = plain
    git(root, "checkout", "-q", "-b", "side")
    git(root, "commit", "-q", "--allow-empty", "-m", "side")
    side = _head(root)
    git(root, "checkout", "-q", "main")
    make_experiments(root, side, [Spec("g-side", {"params.yaml": b"lr: 6\n"})])
    make_experiments(root, base, [Spec("g-main", {"params.yaml": b"lr: 7\n"})])
    out = archives(root, "exp", "gc").stdout.decode()
    assert "removed 0 experiment(s)" in out
    assert "would remove 1" in archives(root, "exp", "gc", "-w", "--dry-run").stdout.decode()
    git(root, "branch", "-q", "-D", "side")
    out = archives(root, "exp", "gc").stdout.decode()
    assert "removed 1 experiment(s): g-side" in out
    assert _refs(root) == {exp_ref(base, "g-main")}


def test_run_then_show_and_apply_end_to_end(tmp_path: Path) -> None:
    """An experiment made by 'exp run' (its output a pointer, its object only in the
    cache): show lists it with its metric, apply brings its output's bytes."""
    import json

    from tests.exp.test_run import make_project

    root = make_project(tmp_path / "p")
    archives(root, "exp", "run", "-n", "wide", "-S", "train.lr=0.5")
    rows = json.loads(archives(root, "exp", "show", "--json").stdout)
    wide = next(r for r in rows if r["name"] == "wide")
    assert wide["metrics"]["metrics.json"] == {"acc": 5.0}
    assert wide["params"]["params.yaml"]["train.lr"] == 0.5
    archives(root, "exp", "apply", "wide")
    expected = str({"lr": 0.5, "epochs": 10}) * 10
    assert (root / "models" / "model.bin").read_text() == expected
    commit = git(root, "rev-parse", exp_ref(_head(root), "wide")).stdout.decode().strip()
    git(root, "diff", "--cached", "--quiet", commit)
    assert git(root, "diff", "--quiet").returncode == 0


def test_apply_of_a_hostile_experiment_writes_nothing(plain: tuple[Path, str]) -> None:
    """An experiment (pulled from someone) naming a path in git's own folder (case-folded
    '.GIT') is refused whole: not even its harmless files are written."""
    root, base = plain
    make_experiments(root, base, [Spec("evil", {"params.yaml": b"lr: 666\n",
                                                ".GIT/hooks/pre-commit": b"#!/bin/sh\n"})])
    proc = archives(root, "exp", "apply", "evil", check=False)
    assert proc.returncode != 0 and ".GIT/hooks/pre-commit" in proc.stderr.decode()
    assert (root / "params.yaml").read_text() == "lr: 1\n"
    assert not (root / ".GIT").exists()
    assert not (root / ".git" / "hooks" / "pre-commit").exists()
    assert git(root, "status", "--porcelain").stdout == b""
    archives(root, "exp", "remove", "evil")
