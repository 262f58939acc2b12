"""Metrics and params read from real git repositories: workspace and revisions, no checkout."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from gitext.git.repo import Repo
from gitext.pipeline.metrics.diff import diff_metrics
from gitext.pipeline.metrics.read import collect_metrics, collect_params
from gitext.pipeline.metrics.snapshot import MISSING
from tests.helpers import git

ANALYSIS_V1 = {"total_adventurers": 10, "avg_level": 12.9, "max_level": 20,
               "avg_power": 26.5, "max_power": 29}
ANALYSIS_V2 = {"total_adventurers": 12, "avg_level": 13.58, "max_level": 20,
               "avg_power": 26.58, "max_power": 29}

TUTORIAL_DVC_YAML = """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps:
    - src/prepare.py
    - data/raw/adventurers.csv
    outs:
    - data/processed/adventurers_prepared.csv
  analyze:
    cmd: python src/analyze.py
    deps:
    - src/analyze.py
    - data/processed/adventurers_prepared.csv
    metrics:
    - metrics/analysis.json:
        cache: false
"""


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def commit(root: Path, message: str, files: dict[str, str | bytes]) -> None:
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def analysis(values: Mapping[str, object]) -> str:
    return json.dumps(values, indent=2) + "\n"


def run_cli(argv: list[str]) -> int:
    """The report verbs through argparse, as the cli wires them."""
    from gitext.commands import pipeline_report

    parser = argparse.ArgumentParser(prog="git archives")
    pipeline_report.register(parser.add_subparsers(dest="verb"))
    ns = parser.parse_args(argv)
    code: int = ns.func(ns)
    return code


def test_targets_compare_json_yaml_toml_and_csv_between_head_and_workspace(repo: Path) -> None:
    commit(repo, "v1", {
        "m/a.json": '{"train": {"acc": 0.5, "loss": 1.0}}',
        "m/b.yaml": "f1: 0.25\nok: false\n",
        "m/c.toml": "[eval]\nauc = 0.7\n",
        "m/d.csv": "epoch,loss\n1,0.9\n2,0.8\n",
    })
    write(repo, {
        "m/a.json": '{"train": {"acc": 0.75, "loss": 1.0}}',
        "m/b.yaml": "f1: 0.5\nok: true\n",
        "m/c.toml": "[eval]\nauc = 0.75\n",
        "m/d.csv": "epoch,loss\n1,0.9\n2,0.8\n3,0.5\n",
    })
    r = Repo.discover(repo)
    old = collect_metrics(r, "HEAD", targets=["m"])
    new = collect_metrics(r, None, targets=["m"])
    assert old.errors == new.errors == {}
    rows = diff_metrics(old.values, new.values)
    assert [(row.path, row.key, row.old, row.new, row.change) for row in rows] == [
        ("m/a.json", "train.acc", 0.5, 0.75, 0.25),
        ("m/b.yaml", "f1", 0.25, 0.5, 0.25),
        ("m/b.yaml", "ok", False, True, None),
        ("m/c.toml", "eval.auc", 0.7, 0.75, 0.05),
        ("m/d.csv", "epoch", 2, 3, 1),
        ("m/d.csv", "loss", 0.8, 0.5, -0.3),
    ]


def test_two_revisions_are_compared_from_git_objects_without_a_checkout(repo: Path) -> None:
    commit(repo, "v1", {"m.json": '{"acc": 0.5}'})
    git(repo, "tag", "v1")
    commit(repo, "v2", {"m.json": '{"acc": 0.625}'})
    git(repo, "checkout", "-q", "-b", "side", "v1")
    commit(repo, "side", {"other.txt": "x"})
    write(repo, {"m.json": '{"acc": 0.1}'})  # a dirty workspace must not matter
    head_before = git(repo, "rev-parse", "HEAD").stdout
    r = Repo.discover(repo)
    old = collect_metrics(r, "v1", targets=["m.json"])
    new = collect_metrics(r, "main", targets=["m.json"])
    assert (old.label, new.label) == ("v1", "main")
    assert diff_metrics(old.values, new.values)[0].change == 0.125
    assert git(repo, "rev-parse", "HEAD").stdout == head_before
    assert (repo / "m.json").read_text() == '{"acc": 0.1}'


def test_a_metric_file_missing_at_one_side_shows_as_absent(repo: Path) -> None:
    commit(repo, "v1", {"README": "x"})
    write(repo, {"m.json": '{"acc": 0.5}'})
    r = Repo.discover(repo)
    rows = diff_metrics(collect_metrics(r, "HEAD", targets=["m.json"]).values,
                        collect_metrics(r, None, targets=["m.json"]).values)
    assert [(row.old, row.new) for row in rows] == [(MISSING, 0.5)]


def test_a_broken_metric_file_is_reported_and_the_others_still_compared(repo: Path) -> None:
    commit(repo, "v1", {"a.json": '{"x": 1}', "b.json": '{"y": 1}'})
    write(repo, {"a.json": "{oops", "b.json": '{"y": 2}'})
    r = Repo.discover(repo)
    new = collect_metrics(r, None, targets=["a.json", "b.json"])
    assert list(new.errors) == ["a.json"]
    assert new.errors["a.json"].startswith("a.json: cannot parse")
    assert new.values == {"b.json": {"y": 2}}


def test_an_unknown_revision_is_a_clear_error(repo: Path) -> None:
    commit(repo, "v1", {"m.json": "{}"})
    from gitext.errors import ArchivesError

    with pytest.raises(ArchivesError, match="unknown revision 'nope'"):
        collect_metrics(Repo.discover(repo), "nope", targets=["m.json"])


# --- with dvc.yaml -------------------------------------------------------------------------

@pytest.fixture
def tutorial(repo: Path) -> Path:
    commit(repo, "pipeline", {
        "dvc.yaml": TUTORIAL_DVC_YAML,
        "metrics/analysis.json": analysis(ANALYSIS_V1),
        "params.yaml": "prepare:\n  seed: 1\nanalyze:\n  digits: 2\n",
    })
    write(repo, {"metrics/analysis.json": analysis(ANALYSIS_V2)})
    return repo


def test_metrics_diff_of_the_tutorial_shows_the_three_changed_metrics(
        tutorial: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tutorial)
    assert run_cli(["metrics", "diff"]) == 0
    assert capsys.readouterr().out == (
        "Path                   Metric             HEAD  workspace  Change\n"
        "metrics/analysis.json  avg_level          12.9      13.58   +0.68\n"
        "metrics/analysis.json  avg_power          26.5      26.58   +0.08\n"
        "metrics/analysis.json  total_adventurers    10         12      +2\n"
    )
    assert run_cli(["metrics", "diff", "--all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metrics/analysis.json"]["max_level"] == {"old": 20, "new": 20, "diff": 0}


def test_metrics_show_prints_the_workspace_values(
        tutorial: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tutorial / "metrics")
    assert run_cli(["metrics", "show", "--md"]) == 0
    assert capsys.readouterr().out == (
        "| Path                  | Metric            | Value |\n"
        "| --------------------- | ----------------- | ----: |\n"
        "| metrics/analysis.json | avg_level         | 13.58 |\n"
        "| metrics/analysis.json | avg_power         | 26.58 |\n"
        "| metrics/analysis.json | max_level         |    20 |\n"
        "| metrics/analysis.json | max_power         |    29 |\n"
        "| metrics/analysis.json | total_adventurers |    12 |\n"
    )


def test_params_diff_compares_stage_params_and_params_yaml(
        tutorial: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    write(tutorial, {"params.yaml": "prepare:\n  seed: 2\nanalyze:\n  digits: 2\n"})
    monkeypatch.chdir(tutorial)
    assert run_cli(["params", "diff"]) == 0
    assert capsys.readouterr().out == (
        "Path         Param         HEAD  workspace\n"
        "params.yaml  prepare.seed     1          2\n"
    )
    r = Repo.discover(tutorial)
    assert collect_params(r, None).values == {
        "params.yaml": {"prepare.seed": 2, "analyze.digits": 2}}


def test_a_cached_metric_at_a_revision_is_read_from_the_store_via_the_lock(
        repo: Path) -> None:
    old_bytes = b'{"acc": 0.5, "nested": {"f1": 0.25}}'
    md5 = hashlib.md5(old_bytes).hexdigest()
    lock = ("schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    outs:\n"
            f"    - path: eval/metrics.json\n      hash: md5\n      md5: {md5}\n"
            f"      size: {len(old_bytes)}\n")
    commit(repo, "v1", {
        "dvc.yaml": "stages:\n  train:\n    cmd: python train.py\n    metrics:\n"
                    "    - eval/metrics.json\n",
        "dvc.lock": lock,
        ".gitignore": "/eval/metrics.json\n",
    })
    r = Repo.discover(repo)
    obj = r.archives_dir / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True)
    obj.write_bytes(old_bytes)
    write(repo, {"eval/metrics.json": '{"acc": 0.75, "nested": {"f1": 0.25}}'})
    old = collect_metrics(r, "HEAD")
    assert old.errors == {}
    assert old.values == {"eval/metrics.json": {"acc": 0.5, "nested.f1": 0.25}}
    rows = diff_metrics(old.values, collect_metrics(r, None).values)
    assert [(row.key, row.change) for row in rows] == [("acc", 0.25)]
    # A corrupt object is reported, never served.
    obj.chmod(0o644)
    obj.write_bytes(b'{"acc": 0.9}')
    assert "corrupt" in collect_metrics(r, "HEAD").errors["eval/metrics.json"]
    obj.unlink()
    assert "not in the local cache" in collect_metrics(r, "HEAD").errors["eval/metrics.json"]


def test_a_top_level_metric_inside_a_cached_directory_output_is_read_via_its_manifest(
        repo: Path) -> None:
    inner = b"acc: 0.5\n"
    inner_md5 = hashlib.md5(inner).hexdigest()
    manifest = json.dumps([{"md5": inner_md5, "relpath": "metrics.yaml"}]).encode()
    dir_md5 = hashlib.md5(manifest).hexdigest()
    lock = ("schema: '2.0'\nstages:\n  evaluate:\n    cmd: python ev.py\n    outs:\n"
            f"    - path: eval\n      hash: md5\n      md5: {dir_md5}.dir\n      size: 9\n"
            "      nfiles: 1\n")
    commit(repo, "v1", {
        "dvc.yaml": "stages:\n  evaluate:\n    cmd: python ev.py\n    outs:\n    - eval\n"
                    "metrics:\n- eval/metrics.yaml\n",
        "dvc.lock": lock,
    })
    r = Repo.discover(repo)
    store = r.archives_dir / "files" / "md5"
    for digest, data, suffix in ((inner_md5, inner, ""), (dir_md5, manifest, ".dir")):
        path = store / digest[:2] / (digest[2:] + suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    snap = collect_metrics(r, "HEAD")
    assert snap.errors == {}
    assert snap.values == {"eval/metrics.yaml": {"acc": 0.5}}


def test_dag_draws_the_tutorial_pipeline_and_its_dot_and_mermaid_forms(
        tutorial: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tutorial)
    assert run_cli(["dag"]) == 0
    assert capsys.readouterr().out == (
        "┌─────────┐\n"
        "│ prepare │\n"
        "└────┬────┘\n"
        "     │\n"
        "     ▼\n"
        "┌─────────┐\n"
        "│ analyze │\n"
        "└─────────┘\n"
    )
    assert run_cli(["dag", "--dot"]) == 0
    assert '"prepare" -> "analyze";' in capsys.readouterr().out
    assert run_cli(["dag", "--mermaid", "prepare"]) == 0
    assert capsys.readouterr().out == 'flowchart TD\n    node1["prepare"]\n'


def test_dag_refuses_two_stages_writing_one_output(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitext.errors import PipelineError

    write(repo, {"dvc.yaml": "stages:\n  make:\n    cmd: echo\n    outs:\n    - out.csv\n"
                             "  remake:\n    cmd: echo\n    outs:\n    - out.csv\n"})
    monkeypatch.chdir(repo)
    with pytest.raises(PipelineError, match=r"'make'.*and 'remake'"):
        run_cli(["dag"])


def test_dag_of_dvcs_get_started_example(
        repo: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    example = data_dir / "conformance" / "dvc" / "example-get-started"
    write(repo, {"dvc.yaml": (example / "dvc.yaml").read_text(),
                 "params.yaml": (example / "params.yaml").read_text()})
    monkeypatch.chdir(repo)
    assert run_cli(["dag"]) == 0
    assert capsys.readouterr().out == (
        "   ┌─────────┐\n"
        "   │ prepare │\n"
        "   └────┬────┘\n"
        "        │\n"
        "        ▼\n"
        "  ┌───────────┐\n"
        "  │ featurize │\n"
        "  └─────┬─────┘\n"
        "    ┌───┴───┐\n"
        "    ▼       │\n"
        "┌───────┐   │\n"
        "│ train │   │\n"
        "└───┬───┘   │\n"
        "    └───┬───┘\n"
        "        ▼\n"
        "  ┌──────────┐\n"
        "  │ evaluate │\n"
        "  └──────────┘\n"
    )
    assert run_cli(["dag", "train"]) == 0
    assert "evaluate" not in capsys.readouterr().out


def test_each_revision_uses_its_own_dvc_yaml_to_find_metrics(
        repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, "v1", {
        "dvc.yaml": "stages:\n  train:\n    cmd: echo\n    metrics:\n"
                    "    - train.json:\n        cache: false\n",
        "train.json": '{"loss": 0.5}',
    })
    commit(repo, "v2", {
        "dvc.yaml": "stages:\n  train:\n    cmd: echo\n    metrics:\n"
                    "    - train.json:\n        cache: false\n"
                    "  evaluate:\n    cmd: echo\n    metrics:\n"
                    "    - eval.toml:\n        cache: false\n",
        "train.json": '{"loss": 0.25}',
        "eval.toml": "auc = 0.9\n[per_class]\ncat = 0.8\n",
    })
    write(repo, {"train.json": '{"loss": 0.0}'})  # the workspace is not involved
    monkeypatch.chdir(repo)
    assert run_cli(["metrics", "diff", "HEAD~1", "HEAD"]) == 0
    assert capsys.readouterr().out == (
        "Path        Metric         HEAD~1  HEAD  Change\n"
        "eval.toml   auc                 -   0.9       -\n"
        "eval.toml   per_class.cat       -   0.8       -\n"
        "train.json  loss              0.5  0.25   -0.25\n"
    )


def test_params_diff_between_revisions_follows_stage_keys_and_top_level_files(
        repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    dvc_yaml = ("params:\n- config/extra.json\n"
                "stages:\n  train:\n    cmd: echo\n    params:\n    - train\n"
                "    - custom.toml:\n      - model.depth\n")
    commit(repo, "v1", {
        "dvc.yaml": dvc_yaml,
        "params.yaml": "train:\n  lr: 0.01\n  flag: true\nother: 1\n",
        "custom.toml": "[model]\ndepth = 3\nwidth = 8\n",
        "config/extra.json": '{"batch": 32}',
    })
    commit(repo, "v2", {
        "params.yaml": "train:\n  lr: 0.001\n  flag: false\nother: 1\n",
        "custom.toml": "[model]\ndepth = 4\nwidth = 16\n",
        "config/extra.json": '{"batch": 64}',
    })
    monkeypatch.chdir(repo)
    assert run_cli(["params", "diff", "HEAD~1", "HEAD"]) == 0
    assert capsys.readouterr().out == (
        "Path               Param        HEAD~1   HEAD\n"
        "config/extra.json  batch            32     64\n"
        "custom.toml        model.depth       3      4\n"
        "params.yaml        train.flag     true  false\n"
        "params.yaml        train.lr       0.01  0.001\n"
    )
    assert run_cli(["params", "diff", "--all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params.yaml"]["other"] == {"old": 1, "new": 1}
    assert "model.width" not in data["custom.toml"]


def test_no_changes_print_nothing_on_stdout_and_a_note_on_stderr(
        tutorial: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    write(tutorial, {"metrics/analysis.json": analysis(ANALYSIS_V1)})
    monkeypatch.chdir(tutorial)
    assert run_cli(["metrics", "diff"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "no metric changed between HEAD and workspace" in err


def test_a_missing_cached_metric_warns_and_the_rest_still_prints(
        repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    md5 = hashlib.md5(b"never stored").hexdigest()
    lock = ("schema: '2.0'\nstages:\n  train:\n    cmd: echo\n    outs:\n"
            f"    - path: m.json\n      hash: md5\n      md5: {md5}\n      size: 3\n")
    commit(repo, "v1", {
        "dvc.yaml": "stages:\n  train:\n    cmd: echo\n    metrics:\n    - m.json\n"
                    "  other:\n    cmd: echo\n    metrics:\n    - o.json:\n"
                    "        cache: false\n",
        "dvc.lock": lock, "o.json": '{"x": 1}',
    })
    write(repo, {"m.json": '{"y": 2}', "o.json": '{"x": 2}'})
    monkeypatch.chdir(repo)
    assert run_cli(["metrics", "diff"]) == 0
    out, err = capsys.readouterr()
    assert out == (
        "Path    Metric  HEAD  workspace  Change\n"
        "m.json  y          -          2       -\n"
        "o.json  x          1          2      +1\n"
    )
    assert err == (f"git-archives: warning: HEAD: m.json: md5 {md5} is not in the "
                   "local cache (fetch it with 'git archives pull')\n")


def test_a_metric_committed_as_a_pointer_is_read_through_the_store(repo: Path) -> None:
    content = b'{"acc": 0.5}'
    digest = hashlib.sha256(content).hexdigest()
    pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\n"
               f"size {len(content)}\n")
    commit(repo, "v1", {"m.json": pointer})
    r = Repo.discover(repo)
    obj = r.archives_dir / "files" / "sha256" / digest[:2] / digest[2:]
    obj.parent.mkdir(parents=True)
    obj.write_bytes(content)
    assert collect_metrics(r, "HEAD", targets=["m.json"]).values == {"m.json": {"acc": 0.5}}


def test_a_cached_metric_of_a_stage_with_a_wdir_is_found_through_the_lock(repo: Path) -> None:
    data = b"loss: 0.125\n"
    md5 = hashlib.md5(data).hexdigest()
    commit(repo, "v1", {
        "dvc.yaml": "stages:\n  train:\n    cmd: echo\n    wdir: sub\n    metrics:\n"
                    "    - out/m.yaml\n",
        "dvc.lock": "schema: '2.0'\nstages:\n  train:\n    cmd: echo\n    outs:\n"
                    f"    - path: out/m.yaml\n      hash: md5\n      md5: {md5}\n"
                    f"      size: {len(data)}\n",
    })
    r = Repo.discover(repo)
    obj = r.archives_dir / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True)
    obj.write_bytes(data)
    assert collect_metrics(r, "HEAD").values == {"sub/out/m.yaml": {"loss": 0.125}}


def test_reading_a_revision_leaves_no_scratch_files_behind(
        tutorial: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    r = Repo.discover(tutorial)
    assert collect_metrics(r, "HEAD").values == {"metrics/analysis.json": ANALYSIS_V1}
    assert collect_params(r, "HEAD").values["params.yaml"]["prepare.seed"] == 1
    assert list(scratch.iterdir()) == []
    assert git(tutorial, "status", "--porcelain").stdout.decode() == \
        " M metrics/analysis.json\n"


def test_dag_falls_back_to_plain_ascii_when_the_terminal_cannot_show_boxes(
        tutorial: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.chdir(tutorial)
    assert run_cli(["dag"]) == 0
    out.flush()
    assert raw.getvalue().decode("ascii").splitlines()[:3] == [
        "+---------+", "| prepare |", "+----+----+"]
