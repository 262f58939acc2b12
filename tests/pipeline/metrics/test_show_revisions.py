"""``metrics show -a/-T/-A``, ``params show`` and ``dag --outs`` on real git repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitext.errors import PipelineError
from gitext.git.repo import Repo
from gitext.pipeline.dag import build_graph, outs_graph, render_dot, stage_outputs
from gitext.pipeline.metrics.revisions import list_revisions
from tests.helpers import git
from tests.helpers.graphs import pipeline, stage

from .test_metrics_repo import commit, run_cli, write

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    params:
    - train.lr
    - other.toml:
      - opt.name
    metrics:
    - m/score.json:
        cache: false
"""


@pytest.fixture
def history(repo: Path) -> Path:
    """main: v1 (tagged) then v2; branch 'side' from v1; the workspace edited."""
    commit(repo, "v1", {"dvc.yaml": DVC_YAML, "m/score.json": '{"acc": 0.5, "ok": true}',
                        "params.yaml": "train:\n  lr: 0.1\n  epochs: 3\n",
                        "other.toml": "[opt]\nname = 'adam'\nmomentum = 0.9\n"})
    git(repo, "tag", "v1")
    commit(repo, "v2", {"m/score.json": '{"acc": 0.75, "ok": true}',
                        "params.yaml": "train:\n  lr: 0.2\n  epochs: 3\n"})
    git(repo, "checkout", "-q", "-b", "side", "v1")
    commit(repo, "side", {"m/score.json": '{"acc": 0.8, "loss": 0.125}'})
    git(repo, "checkout", "-q", "main")
    write(repo, {"m/score.json": '{"acc": 0.875}'})
    return repo


def _sha(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", rev).stdout.decode().strip()


def test_revisions_of_branches_tags_and_commits_are_grouped_by_commit(history: Path) -> None:
    git(history, "tag", "-a", "-m", "annotated", "release", "main")
    r = Repo.discover(history)
    main, side, v1 = _sha(history, "main"), _sha(history, "side"), _sha(history, "v1")
    assert [(x.label, x.commit) for x in list_revisions(r, all_branches=True)] == [
        ("main", main), ("side", side)]
    assert [(x.label, x.commit) for x in list_revisions(r, all_branches=True, all_tags=True)] == [
        ("main, release", main), ("side", side), ("v1", v1)]
    newest_first = git(history, "rev-list", "--branches", "--tags", "HEAD").stdout.split()
    assert [x.label for x in list_revisions(r, all_commits=True)] == [
        sha.decode()[:7] for sha in newest_first]
    assert sorted(x.commit for x in list_revisions(r, all_commits=True)) == sorted(
        [main, side, v1])
    assert list_revisions(r) == []


def test_metrics_show_all_branches_has_a_column_per_branch(
        history: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(history)
    assert run_cli(["metrics", "show", "-a"]) == 0
    assert capsys.readouterr().out == (
        "Path          Metric  workspace  main   side\n"
        "m/score.json  acc         0.875  0.75    0.8\n"
        "m/score.json  loss            -     -  0.125\n"
        "m/score.json  ok              -  true      -\n"
    )
    assert run_cli(["metrics", "show", "--all-tags", "--precision", "1", "--md"]) == 0
    assert capsys.readouterr().out == (
        "| Path         | Metric | workspace | v1   |\n"
        "| ------------ | ------ | --------: | ---: |\n"
        "| m/score.json | acc    |       0.9 |  0.5 |\n"
        "| m/score.json | ok     |         - | true |\n"
    )


def test_metrics_show_all_commits_as_json_is_keyed_by_revision(
        history: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(history)
    assert run_cli(["metrics", "show", "-A", "--json", "m/score.json"]) == 0
    data = json.loads(capsys.readouterr().out)
    v1 = _sha(history, "v1")[:7]
    newest_first = git(history, "rev-list", "--branches", "--tags", "HEAD").stdout.split()
    assert list(data) == ["workspace", *(sha.decode()[:7] for sha in newest_first)]
    assert data[v1] == {"m/score.json": {"acc": 0.5, "ok": True}}
    assert data["workspace"] == {"m/score.json": {"acc": 0.875}}


def test_a_revision_without_metrics_shows_dashes_and_a_broken_one_warns(
        history: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    git(history, "checkout", "-q", "-b", "broken")
    commit(history, "broken", {"m/score.json": "{oops"})
    git(history, "checkout", "-q", "main")
    monkeypatch.chdir(history)
    assert run_cli(["metrics", "show", "-a"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].split() == [
        "Path", "Metric", "workspace", "broken", "main", "side"]
    assert captured.out.splitlines()[1].split() == [
        "m/score.json", "acc", "0.75", "-", "0.75", "0.8"]
    assert "warning: broken: m/score.json: cannot parse" in captured.err


def test_params_show_lists_the_params_stages_use_per_file(
        history: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(history)
    assert run_cli(["params", "show"]) == 0
    assert capsys.readouterr().out == (
        "Path         Param         Value\n"
        "other.toml   opt.name       adam\n"
        "params.yaml  train.epochs      3\n"
        "params.yaml  train.lr        0.2\n"
    )
    assert run_cli(["params", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "other.toml": {"opt.name": "adam"},
        "params.yaml": {"train.epochs": 3, "train.lr": 0.2}}


def test_params_show_all_tags_agrees_with_params_diff(
        history: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(history)
    assert run_cli(["params", "show", "-T", "--md"]) == 0
    assert capsys.readouterr().out == (
        "| Path        | Param        | workspace | v1   |\n"
        "| ----------- | ------------ | --------: | ---: |\n"
        "| other.toml  | opt.name     |      adam | adam |\n"
        "| params.yaml | train.epochs |         3 |    3 |\n"
        "| params.yaml | train.lr     |       0.2 |  0.1 |\n"
    )
    assert run_cli(["params", "diff", "v1"]) == 0
    assert capsys.readouterr().out == (
        "Path         Param      v1  workspace\n"
        "params.yaml  train.lr  0.1        0.2\n"
    )


def test_params_show_without_params_says_so(
        repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, "v1", {"dvc.yaml": "stages:\n  s:\n    cmd: echo\n"})
    monkeypatch.chdir(repo)
    assert run_cli(["params", "show", "-a"]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "", "no params: stages list none and there is no params.yaml\n")


# --- dag --outs -----------------------------------------------------------------------------

PIPE = pipeline(
    stage("prepare", ["data/raw.csv"], ["data/prep", "data/stats.json"]),
    stage("train", ["data/prep/train.csv"], ["model.pkl"]),
    stage("evaluate", ["model.pkl", "data/prep"], ["eval/metrics.json", "eval/plots"]),
)


def test_the_outs_graph_links_each_output_to_the_outputs_made_from_it() -> None:
    graph = outs_graph(build_graph([PIPE]))
    assert list(graph.nodes) == ["data/prep", "data/stats.json", "model.pkl",
                                 "eval/metrics.json", "eval/plots"]
    assert graph.edges() == [
        ("data/prep", "model.pkl"), ("data/prep", "eval/metrics.json"),
        ("data/prep", "eval/plots"), ("model.pkl", "eval/metrics.json"),
        ("model.pkl", "eval/plots"),
    ]
    assert stage_outputs(build_graph([PIPE]), ["evaluate"]) == ["eval/metrics.json",
                                                                "eval/plots"]
    assert render_dot(graph).splitlines()[6] == '    "data/prep" -> "model.pkl";'


def test_dag_outs_of_a_target_draws_only_the_outputs_it_needs(
        repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"dvc.yaml": "stages:\n"
                             "  prepare:\n    cmd: p\n    outs: [prep, stats.json]\n"
                             "  train:\n    cmd: t\n    deps: [prep]\n    outs: [model]\n"
                             "  other:\n    cmd: o\n    deps: [stats.json]\n    outs: [o.txt]\n"})
    monkeypatch.chdir(repo)
    assert run_cli(["dag", "--outs", "--mermaid", "train"]) == 0
    assert capsys.readouterr().out == (
        'flowchart TD\n    node1["prep"]\n    node2["model"]\n    node1 --> node2\n')
    assert run_cli(["dag", "-o", "--dot", "--full", "train"]) == 0
    assert capsys.readouterr().out.count(";") == 3  # prep, model and the edge: not o.txt
    assert run_cli(["dag", "--outs"]) == 0
    assert capsys.readouterr().out == (
        "┌──────┐\n"
        "│ prep │\n"
        "└───┬──┘\n"
        "    │\n"
        "    ▼\n"
        "┌───────┐\n"
        "│ model │\n"
        "└───────┘\n"
        "\n"
        "┌────────────┐\n"
        "│ stats.json │\n"
        "└──────┬─────┘\n"
        "       │\n"
        "       ▼\n"
        "   ┌───────┐\n"
        "   │ o.txt │\n"
        "   └───────┘\n"
    )


def test_dag_outs_of_a_stage_without_outputs_is_an_error(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, {"dvc.yaml": "stages:\n  s:\n    cmd: echo\n"})
    monkeypatch.chdir(repo)
    with pytest.raises(PipelineError, match="stage 's' has no outputs to draw"):
        run_cli(["dag", "--outs", "s"])
    with pytest.raises(PipelineError, match="no outputs"):
        run_cli(["dag", "--outs"])


def test_a_revision_whose_dvc_yaml_does_not_load_is_a_warning_not_a_failure(
        history: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    git(history, "checkout", "-q", "-b", "typo")
    commit(history, "typo", {"dvc.yaml": DVC_YAML.replace("    params:", "    parms:")})
    git(history, "checkout", "-q", "main")
    monkeypatch.chdir(history)
    assert run_cli(["metrics", "show", "-a"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].split() == [
        "Path", "Metric", "workspace", "main", "side", "typo"]
    assert ("warning: typo: dvc.yaml:4:5: stage 'train': unknown key 'parms' in a stage"
            in captured.err)
    assert run_cli(["params", "show", "-a"]) == 0
    assert "warning: typo: dvc.yaml:4:5:" in capsys.readouterr().err


def test_params_deps_and_targets_narrow_show_and_diff_alike(
        history: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    write(history, {"params.yaml": "train:\n  lr: 0.2\n  epochs: 4\n",
                    "extra.json": '{"seed": 7}'})
    monkeypatch.chdir(history / "m")  # targets are typed relative to the current directory
    assert run_cli(["params", "show", "--deps", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "other.toml": {"opt.name": "adam"}, "params.yaml": {"train.lr": 0.2}}
    assert run_cli(["params", "diff", "--deps"]) == 0
    assert capsys.readouterr().out == ""  # train.epochs changed, but no stage uses it
    assert run_cli(["params", "diff", "--targets", "../params.yaml"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == [
        "params.yaml", "train.epochs", "3", "4"]
    assert run_cli(["params", "show", "--targets", "../extra.json", "../other.toml"]) == 0
    assert capsys.readouterr().out == (
        "Path        Param     Value\n"
        "extra.json  seed          7\n"
        "other.toml  opt.name   adam\n"
    )


FOREACH_YAML = """\
stages:
  prepare:
    cmd: p
    outs: [data]
  train:
    foreach: [small, large]
    do:
      cmd: t ${item}
      deps: [data]
      outs: ['model-${item}']
  report:
    cmd: r
    deps: [model-small, model-large]
"""


def test_dag_collapses_foreach_stages_and_prints_markdown(
        repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"dvc.yaml": FOREACH_YAML})
    monkeypatch.chdir(repo)
    assert run_cli(["dag", "--md"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("```mermaid\nflowchart TD\n") and out.endswith("\n```\n")
    assert 'node2["train@small"]' in out
    assert run_cli(["dag", "--collapse-foreach-matrix", "--dot"]) == 0
    assert capsys.readouterr().out == (
        'strict digraph pipeline {\n    "prepare";\n    "train";\n    "report";\n'
        '    "prepare" -> "train";\n    "train" -> "report";\n}\n')
    from gitext.errors import UsageError

    with pytest.raises(UsageError, match="--collapse-foreach-matrix groups stages"):
        run_cli(["dag", "--collapse-foreach-matrix", "--outs"])
