"""status and repro on real git repos with real shell commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitext.errors import PipelineError
from gitext.pipeline.model import Pipeline
from gitext.pipeline.repro import ReproResult, repro
from gitext.pipeline.status import status
from tests.helpers.pipelines import make_pipeline, write

TWO_STAGES: dict[str, dict[str, Any]] = {
    "prepare": {"cmd": "mkdir -p prep && cat raw/*.txt > prep/all.txt",
                "deps": ["raw"], "outs": ["prep"], "params": ["seed"]},
    "train": {"cmd": "wc -l < prep/all.txt > model.txt", "deps": ["prep"],
              "outs": ["model.txt"], "params": ["lr"]},
}


def setup(repo: Path, stages: dict[str, dict[str, Any]] | None = None) -> list[Pipeline]:
    write(repo, {"raw/a.txt": "a\n", "raw/b.txt": "b\n", "params.yaml": "lr: 0.1\nseed: 3\n"})
    return make_pipeline(repo, stages or TWO_STAGES)


def run(repo: Path, pl: list[Pipeline], *args: str, **kw: Any) -> tuple[ReproResult,
                                                                         list[str]]:
    lines: list[str] = []
    result = repro(repo, list(args) or None, pipelines=pl, out=lines.append, **kw)
    return result, lines


def reasons(repo: Path, pl: list[Pipeline]) -> dict[str, list[str]]:
    report = status(repo, pipelines=pl)
    return {s.id: [str(r) for r in s.reasons] + [f"upstream {u}" for u in s.upstream]
            for s in report.stages if s.stale}


def test_a_fresh_pipeline_runs_every_stage_then_nothing(repo: Path) -> None:
    pl = setup(repo)
    assert reasons(repo, pl) == {"prepare": ["never run (no entry in dvc.lock)"],
                                 "train": ["never run (no entry in dvc.lock)",
                                           "upstream prepare"]}
    result, lines = run(repo, pl)
    assert result.ran == ["prepare", "train"]
    assert (repo / "model.txt").read_text().strip() == "2"
    assert "> mkdir -p prep && cat raw/*.txt > prep/all.txt" in lines
    assert any(line.startswith("Stage 'train' finished in") for line in lines)
    assert status(repo, pipelines=pl).up_to_date
    result, _ = run(repo, pl)
    assert result.ran == [] and result.unchanged == ["prepare", "train"]


def test_status_names_each_reason_and_marks_downstream_stale(repo: Path) -> None:
    pl = setup(repo)
    run(repo, pl)
    (repo / "raw" / "a.txt").write_text("changed\n")
    assert reasons(repo, pl) == {"prepare": ["dep raw modified"], "train": ["upstream prepare"]}
    write(repo, {"params.yaml": "lr: 0.2\nseed: 3\n"})
    assert reasons(repo, pl)["train"] == ["param params.yaml:lr modified", "upstream prepare"]
    run(repo, pl)
    (repo / "model.txt").unlink()
    assert reasons(repo, pl) == {"train": ["out model.txt deleted"]}


def test_a_changed_command_makes_the_stage_stale(repo: Path) -> None:
    pl = setup(repo)
    run(repo, pl)
    pl[0].stages["train"].cmd = ["wc -c < prep/all.txt > model.txt"]
    assert reasons(repo, pl) == {"train": ["command changed"]}
    result, _ = run(repo, pl)
    assert result.ran == ["train"]


def test_removing_a_dependency_from_dvc_yaml_makes_the_stage_stale(repo: Path) -> None:
    """DVC misses this (iterative/dvc#9913)."""
    stages = {"s": {"cmd": "cat raw/a.txt raw/b.txt > out.txt", "deps": ["raw/a.txt", "raw/b.txt"],
                    "outs": ["out.txt"]}}
    pl = setup(repo, stages)
    run(repo, pl)
    stages["s"]["deps"] = ["raw/a.txt"]
    pl = make_pipeline(repo, stages)
    assert reasons(repo, pl) == {"s": ["dep list changed: removed raw/b.txt"]}
    stages["s"]["outs"] = ["out.txt", "extra.txt"]
    stages["s"]["cmd"] = "cat raw/a.txt > out.txt && touch extra.txt"
    pl = make_pipeline(repo, stages)
    got = reasons(repo, pl)["s"]
    assert "out list changed: added extra.txt" in got and "out extra.txt new" in got


def test_a_removed_param_key_makes_the_stage_stale(repo: Path) -> None:
    stages = {"s": {"cmd": "echo hi > o.txt", "deps": ["raw"], "outs": ["o.txt"],
                    "params": ["lr", "seed"]}}
    pl = setup(repo, stages)
    run(repo, pl)
    stages["s"]["params"] = ["lr"]
    pl = make_pipeline(repo, stages)
    assert reasons(repo, pl) == {"s": ["param list changed: removed params.yaml:seed"]}


def test_always_changed_stages_always_run_and_frozen_ones_never(repo: Path) -> None:
    stages: dict[str, dict[str, Any]] = {
        "always": {"cmd": "date +%N > now.txt", "outs": ["now.txt"], "always_changed": True},
        "frozen": {"cmd": "echo x > f.txt", "deps": ["raw"], "outs": ["f.txt"]}}
    pl = setup(repo, stages)
    run(repo, pl)
    assert reasons(repo, pl) == {"always": ["always changed"]}
    pl[0].stages["frozen"].frozen = True
    (repo / "raw" / "a.txt").write_text("new\n")
    result, lines = run(repo, pl)
    assert result.ran == ["always"] and result.frozen == ["frozen"]
    assert "Stage 'frozen' is frozen: not reproduced" in lines


def test_outputs_are_removed_before_a_run_unless_persist(repo: Path) -> None:
    stages = {"s": {"cmd": "test ! -e gone.txt && echo run >> kept.txt && echo x > gone.txt",
                    "deps": ["raw"], "outs": ["gone.txt", {"kept.txt": {"persist": True}}]}}
    pl = setup(repo, stages)
    run(repo, pl)
    (repo / "raw" / "a.txt").write_text("again\n")
    result, _ = run(repo, pl)
    assert result.ran == ["s"]
    assert (repo / "kept.txt").read_text() == "run\nrun\n"


def test_each_command_line_runs_in_its_own_shell_with_dvc_env(repo: Path) -> None:
    stages = {"s": {"cmd": "cd raw\npwd > $DVC_ROOT/where.txt\necho $DVC_STAGE > stage.txt",
                    "outs": ["where.txt", "stage.txt"]}}
    pl = setup(repo, stages)
    result, _ = run(repo, pl)
    assert result.ok
    assert (repo / "where.txt").read_text().strip() == str(repo)
    assert (repo / "stage.txt").read_text().strip() == "s"


def test_cached_outputs_go_to_the_store_and_are_git_ignored(repo: Path) -> None:
    stages = {"s": {"cmd": "mkdir -p out && echo 1 > out/m.txt && echo '{}' > metrics.json",
                    "outs": ["out"], "metrics": [{"metrics.json": {"cache": False}}]}}
    pl = setup(repo, stages)
    (repo / ".gitignore").write_text("*.log")  # no final newline: DVC adds one first
    run(repo, pl)
    assert (repo / ".gitignore").read_text() == "*.log\n/out\n"
    objects = list((repo / ".git" / "archives" / "files" / "md5").rglob("*"))
    assert any(p.name.endswith(".dir") for p in objects)
    run(repo, pl, force=True)
    assert (repo / ".gitignore").read_text() == "*.log\n/out\n"


def test_parallel_jobs_run_independent_stages_at_once(repo: Path) -> None:
    # Each of a and b waits (up to 10 s) for the other to have started: run one after the
    # other, the first would give up and fail; run at once, both finish.
    def meet(me: str, other: str) -> str:
        return (f"touch {me}.started && for i in $(seq 200); do [ -e {other}.started ] && break; "
                f"sleep 0.05; done && [ -e {other}.started ] && echo {me} > {me}.txt")

    stages = {"a": {"cmd": meet("a", "b"), "outs": ["a.txt"]},
              "b": {"cmd": meet("b", "a"), "outs": ["b.txt"]},
              "c": {"cmd": "cat a.txt b.txt > c.txt", "deps": ["a.txt", "b.txt"],
                    "outs": ["c.txt"]}}
    pl = setup(repo, stages)
    result, lines = run(repo, pl, jobs=2)
    assert result.ran[-1] == "c" and sorted(result.ran) == ["a", "b", "c"]
    assert (repo / "c.txt").read_text() == "a\nb\n"
    assert any(line.startswith("[a] > touch a.started") for line in lines)


def test_a_failing_stage_stops_its_descendants_but_siblings_keep_results(repo: Path) -> None:
    stages = {"bad": {"cmd": "echo partial > bad.txt\nexit 3", "outs": ["bad.txt"]},
              "after": {"cmd": "cp bad.txt after.txt", "deps": ["bad.txt"],
                        "outs": ["after.txt"]},
              "good": {"cmd": "echo ok > good.txt", "outs": ["good.txt"]}}
    pl = setup(repo, stages)
    result, _ = run(repo, pl, jobs=2)
    assert [(f.stage, f.command, f.exit_code) for f in result.failed] == [("bad", "exit 3", 3)]
    assert result.blocked == ["after"] and result.ran == ["good"]
    assert "exit code 3" in result.failed[0].message or "code 3" in result.failed[0].message
    lock = (repo / "dvc.lock").read_text()
    assert "good:" in lock and "bad:" not in lock


def test_the_run_cache_restores_outputs_seen_before(repo: Path) -> None:
    stages = {"s": {"cmd": "cat raw/a.txt >> count.txt; cp raw/a.txt out.txt",
                    "deps": ["raw/a.txt"], "outs": ["out.txt"]}}
    pl = setup(repo, stages)
    run(repo, pl)
    (repo / "raw" / "a.txt").write_text("two\n")
    run(repo, pl)
    (repo / "raw" / "a.txt").write_text("a\n")
    result, lines = run(repo, pl)
    assert result.restored == ["s"] and result.ran == []
    assert "Stage 's' is cached - skipping run, checking out outputs" in lines
    assert (repo / "out.txt").read_text() == "a\n"
    assert (repo / "count.txt").read_text() == "a\ntwo\n"  # the command did not run again
    assert status(repo, pipelines=pl).up_to_date


def test_targets_downstream_single_item_dry_and_force(repo: Path) -> None:
    pl = setup(repo)
    result, _ = run(repo, pl, "prepare")
    assert result.ran == ["prepare"]
    result, lines = run(repo, pl, "train", dry=True)
    assert result.would_run == ["train"] and not (repo / "model.txt").exists()
    assert "> wc -l < prep/all.txt > model.txt" in lines
    run(repo, pl)
    result, _ = run(repo, pl, "train", force=True, single_item=True)
    assert result.ran == ["train"]
    result, _ = run(repo, pl, "prepare", force=True, downstream=True)
    assert result.ran == ["prepare", "train"]
    (repo / "raw" / "a.txt").write_text("changed\n")
    result, _ = run(repo, pl, dry=True)
    assert result.would_run == ["prepare", "train"]


def test_a_missing_dependency_is_a_clear_error_and_nothing_is_written(repo: Path) -> None:
    stages = {"s": {"cmd": "echo x > o.txt", "deps": ["nope.csv"], "outs": ["o.txt"]}}
    pl = setup(repo, stages)
    result, _ = run(repo, pl)
    assert "dependency 'nope.csv' does not exist" in result.failed[0].message
    assert not (repo / "dvc.lock").exists()


def test_a_stage_that_deletes_its_own_dependency_fails_and_keeps_the_lock(repo: Path) -> None:
    stages = {"s": {"cmd": "cat raw/a.txt > o.txt", "deps": ["raw/a.txt"], "outs": ["o.txt"]}}
    pl = setup(repo, stages)
    run(repo, pl)
    before = (repo / "dvc.lock").read_text()
    pl[0].stages["s"].cmd = ["cat raw/a.txt > o.txt && rm raw/a.txt"]
    result, _ = run(repo, pl)
    assert "is gone after the stage ran" in result.failed[0].message
    assert (repo / "dvc.lock").read_text() == before


def test_a_stage_that_does_not_write_its_output_fails(repo: Path) -> None:
    pl = setup(repo, {"s": {"cmd": "true", "outs": ["o.txt"]}})
    result, _ = run(repo, pl)
    assert "did not create output 'o.txt'" in result.failed[0].message


def test_a_cycle_is_refused_before_anything_runs(repo: Path) -> None:
    stages = {"a": {"cmd": "cp b.txt a.txt", "deps": ["b.txt"], "outs": ["a.txt"]},
              "b": {"cmd": "cp a.txt b.txt", "deps": ["a.txt"], "outs": ["b.txt"]}}
    pl = setup(repo, stages)
    with pytest.raises(PipelineError, match="cycle"):
        run(repo, pl)


def test_a_corrupt_lock_is_a_clear_error_and_is_kept(repo: Path) -> None:
    pl = setup(repo)
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages:\n  prepare: [1, 2\n")
    with pytest.raises(PipelineError, match=r"dvc.lock:\d+"):
        run(repo, pl)
    assert (repo / "dvc.lock").read_text() == "schema: '2.0'\nstages:\n  prepare: [1, 2\n"


def test_a_legacy_dvc2_lock_is_read_with_dos2unix_ids(repo: Path) -> None:
    import hashlib

    write(repo, {"in.txt": "x\r\ny\r\n", "out.txt": "z\r\n"})
    pl = make_pipeline(repo, {"s": {"cmd": "cp in.txt out.txt", "deps": ["in.txt"],
                                    "outs": ["out.txt"]}})
    legacy_in = hashlib.md5(b"x\ny\n").hexdigest()
    legacy_out = hashlib.md5(b"z\n").hexdigest()
    (repo / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  s:\n    cmd: cp in.txt out.txt\n    deps:\n"
        f"    - path: in.txt\n      md5: {legacy_in}\n      size: 6\n    outs:\n"
        f"    - path: out.txt\n      md5: {legacy_out}\n      size: 3\n")
    assert status(repo, pipelines=pl).up_to_date
    (repo / "in.txt").write_text("changed\n")
    assert reasons(repo, pl) == {"s": ["dep in.txt modified"]}


def test_a_stage_with_no_deps_params_or_outs_always_runs_as_in_dvc(repo: Path) -> None:
    pl = setup(repo, {"ping": {"cmd": "echo ping >> log.txt"}})
    run(repo, pl)
    assert reasons(repo, pl) == {"ping": ["always changed"]}
    run(repo, pl)
    assert (repo / "log.txt").read_text() == "ping\nping\n"
