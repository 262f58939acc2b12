"""``exp show`` and ``exp diff``, and the listing/resolving they use, over experiments made
with git plumbing (one repository for the module)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from gitext.errors import UsageError
from gitext.exp.listing import list_experiments, resolve
from gitext.exp.table import build_rows, build_table, find_column, render_text
from gitext.git.repo import Repo
from tests.helpers import archives, git
from tests.helpers.exps import Spec, exp_ref, failed_ref, make_experiments, queue_ref

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    params:
    - train.lr
    - train.epochs
    metrics:
    - metrics.json:
        cache: false
"""


def _params(lr: float, epochs: int = 10) -> bytes:
    return f"train:\n  lr: {lr}\n  epochs: {epochs}\n".encode()


def _metrics(acc: float, loss: float) -> bytes:
    return json.dumps({"acc": acc, "loss": loss}).encode()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """main (baseline B2) with three experiments, and an older baseline B1 with one of the
    same name as one of B2's."""
    root = tmp_path_factory.mktemp("exp-show")
    git(root, "init", "-q", "-b", "main")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_bytes(_params(0.1))
    (root / "metrics.json").write_bytes(_metrics(0.5, 1.0))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "one")
    b1 = git(root, "rev-parse", "HEAD").stdout.decode().strip()
    (root / "metrics.json").write_bytes(_metrics(0.6, 0.9))
    git(root, "commit", "-q", "-am", "two")
    b2 = git(root, "rev-parse", "HEAD").stdout.decode().strip()
    make_experiments(root, b1, [Spec("lr-high", {"params.yaml": _params(0.5),
                                                 "metrics.json": _metrics(0.4, 1.2)})])
    make_experiments(root, b2, [
        Spec("lr-high", {"params.yaml": _params(0.5), "metrics.json": _metrics(0.7, 0.8)},
             when=1_700_000_100),
        Spec("lr-low", {"params.yaml": _params(0.01, 20), "metrics.json": _metrics(0.9, 0.3)},
             when=1_700_000_200),
        Spec("broke", {"params.yaml": _params(9.0)}, status="failed", when=1_700_000_300),
        Spec("later", {"params.yaml": _params(0.2)}, status="queued", when=1_700_000_400),
    ])
    return root, b1, b2


def test_listing_reads_every_kind_with_its_baseline(project: tuple[Path, str, str]) -> None:
    root, b1, b2 = project
    exps = {(e.name, e.baseline): e for e in list_experiments(Repo.discover(root))}
    assert set(exps) == {("lr-high", b1), ("lr-high", b2), ("lr-low", b2), ("broke", b2),
                         ("later", b2)}
    assert exps[("broke", b2)].status == "failed"
    assert exps[("broke", b2)].ref == failed_ref(b2, "broke")
    assert exps[("later", b2)].status == "queued"
    assert exps[("later", b2)].ref == queue_ref("later")
    assert exps[("lr-low", b2)].ref == exp_ref(b2, "lr-low")


def test_resolve_name_ref_prefix_and_bad_names(project: tuple[Path, str, str]) -> None:
    root, b1, b2 = project
    exps = list_experiments(Repo.discover(root))
    low = resolve(exps, "lr-low")
    assert low.baseline == b2
    assert resolve(exps, low.commit[:8]) == low
    assert resolve(exps, exp_ref(b1, "lr-high")).baseline == b1
    with pytest.raises(UsageError) as amb:
        resolve(exps, "lr-high")
    assert "ambiguous" in amb.value.message
    assert b1[:7] in amb.value.message and b2[:7] in amb.value.message
    with pytest.raises(UsageError) as unknown:
        resolve(exps, "lr-lwo")
    assert unknown.value.hint is not None and "'lr-low'" in unknown.value.hint


def test_table_rows_columns_sort_and_only_changed(project: tuple[Path, str, str]) -> None:
    root, _b1, b2 = project
    repo = Repo.discover(root)
    rows = build_rows(repo, list_experiments(repo))
    assert [(r.typ, r.label) for r in rows] == [
        ("workspace", "workspace"), ("baseline", "main"), ("experiment", "lr-high"),
        ("experiment", "lr-low"), ("experiment", "broke"), ("experiment", "later")]
    table = build_table(rows, sort_by="acc", descending=True)
    assert [c.name for c in table.columns] == ["acc", "loss", "train.lr", "train.epochs"]
    assert [r.label for r in table.rows][2:] == ["lr-low", "lr-high", "broke", "later"]
    by_name = {r.label: r for r in table.rows}
    acc = find_column(table.columns, "metrics.json:acc")
    assert table.value(by_name["lr-low"], acc) == 0.9
    # a queued experiment has not run: no metrics; a failed one keeps its tree's
    assert by_name["later"].values["metrics"] == {}
    assert by_name["broke"].status == "failed"
    assert by_name["later"].values["params"]["params.yaml"]["train.lr"] == 0.2
    text = render_text(table)
    assert "└── later" in text and b2[:7] in text
    narrow = build_table(rows, only_changed=True)
    assert "train.epochs" in [c.name for c in narrow.columns]
    same = build_table([r for r in rows if r.label in ("main", "lr-high")], only_changed=True)
    assert [c.name for c in same.columns] == ["acc", "loss", "train.lr"]
    with pytest.raises(UsageError) as bad:
        build_table(rows, sort_by="acuracy")
    assert bad.value.hint is not None and "acc" in bad.value.hint


def test_show_command_formats(project: tuple[Path, str, str]) -> None:
    root, b1, _b2 = project
    data = json.loads(archives(root, "exp", "show", "-A", "--json").stdout)
    names = [(d["type"], d["name"]) for d in data]
    assert ("experiment", "lr-high") in names and ("baseline", b1[:7]) in names
    old = next(d for d in data if d["baseline"] == b1)
    assert old["metrics"] == {"metrics.json": {"acc": 0.4, "loss": 1.2}}
    rows = list(csv.DictReader(io.StringIO(archives(root, "exp", "show", "--csv",
                                                   "--sort-by", "loss").stdout.decode())))
    assert [r["Experiment"] for r in rows][2:4] == ["lr-low", "lr-high"]
    assert rows[2]["train.lr"] == "0.01" and rows[2]["State"] == "success"
    md = archives(root, "exp", "show", "--md", "--only-changed").stdout.decode()
    assert md.startswith("| Experiment") and "lr-low" in md
    plain = archives(root, "exp", "show", "--no-pager", "--precision", "1").stdout.decode()
    assert plain.splitlines()[0].split()[:4] == ["Experiment", "rev", "Created", "State"]
    low = next(line for line in plain.splitlines() if "lr-low" in line)
    assert low.split()[-4:] == ["0.9", "0.3", "0", "20"]  # lr 0.01 rounded to 1 decimal


def test_diff_against_baseline_and_between_experiments(
        project: tuple[Path, str, str]) -> None:
    root, _b1, b2 = project
    out = json.loads(archives(root, "exp", "diff", "lr-low", "--json").stdout)
    assert out["metrics"]["metrics.json"]["acc"] == {"old": 0.6, "new": 0.9, "diff": 0.3}
    assert out["params"]["params.yaml"]["train.epochs"] == {"old": 10, "new": 20}
    text = archives(root, "exp", "diff", exp_ref(b2, "lr-high"), "lr-low").stdout.decode()
    assert "Change" in text and "+0.2" in text and "train.lr" in text
    md = archives(root, "exp", "diff", "lr-low", "--md").stdout.decode()
    assert md.startswith("| Path")


def test_bad_names_are_one_line_and_exit_non_zero(project: tuple[Path, str, str]) -> None:
    root, _b1, _b2 = project
    proc = archives(root, "exp", "diff", "lr-lwo", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "no experiment named 'lr-lwo'" in err and "did you mean 'lr-low'" in err
    proc = archives(root, "exp", "apply", "lr-high", check=False)
    assert proc.returncode != 0 and "ambiguous" in proc.stderr.decode()


def test_bulk_read_agrees_with_reading_each_revision(project: tuple[Path, str, str]) -> None:
    from gitext.pipeline.metrics.bulk import collect_many
    from gitext.pipeline.metrics.read import collect_metrics, collect_params

    root, _b1, b2 = project
    repo = Repo.discover(root)
    commits = [e.commit for e in list_experiments(repo) if e.baseline == b2]
    many = collect_many(repo, b2, commits)
    for commit in commits:
        params, metrics = many[commit]
        assert params.values == collect_params(repo, commit).values
        assert metrics.values == collect_metrics(repo, commit).values


def test_an_experiment_that_changes_dvc_yaml_is_read_on_its_own(tmp_path: Path) -> None:
    from gitext.pipeline.metrics.bulk import collect_many

    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_bytes(_params(0.1))
    (root / "metrics.json").write_bytes(_metrics(0.5, 1.0))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD").stdout.decode().strip()
    more = DVC_YAML + "    - extra.json:\n        cache: false\n"
    commits = make_experiments(root, base, [Spec("more", {
        "dvc.yaml": more.encode(), "extra.json": b'{"f1": 0.8}'})])
    _params_snap, metrics = collect_many(Repo.discover(root), base, [commits["more"]])[
        commits["more"]]
    assert metrics.values["extra.json"] == {"f1": 0.8}
    assert metrics.values["metrics.json"] == {"acc": 0.5, "loss": 1.0}


def test_cat_paths_reads_many_files_and_skips_what_is_absent(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a b.txt").write_bytes(b"spaced\n")
    (root / "d").mkdir()
    (root / "d" / "x").write_bytes(b"")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "files")
    head = git(root, "rev-parse", "HEAD").stdout.decode().strip()
    got = Repo.discover(root).cat_paths([(head, "a b.txt"), (head, "nope missing"),
                                         (head, "d"), (head, "d/x"), (head, "a\nb")])
    assert got == {(head, "a b.txt"): b"spaced\n", (head, "d/x"): b""}
