"""Putting outputs back as dvc.lock records them."""

from __future__ import annotations

import os
from pathlib import Path

from gitext.fs.worktree import WorkTree
from gitext.pipeline import outputs
from gitext.pipeline.checkout import checkout_outputs
from gitext.pipeline.model import Pipeline
from gitext.pipeline.repro import repro
from gitext.pipeline.status import status
from tests.helpers.pipelines import make_pipeline, write

STAGES = {"s": {"cmd": "mkdir -p out && cp raw/a.txt out/a.txt && cp raw/b.txt model.bin",
                "deps": ["raw"], "outs": ["out", "model.bin"]}}


def built(repo: Path) -> list[Pipeline]:
    write(repo, {"raw/a.txt": "a\n", "raw/b.txt": "b\n"})
    pl = make_pipeline(repo, STAGES)
    assert repro(repo, pipelines=pl, out=lambda _line: None).ok
    return pl


def test_deleted_outputs_come_back_as_links_to_the_read_only_cache(repo: Path) -> None:
    pl = built(repo)
    (repo / "model.bin").unlink()
    (repo / "out" / "a.txt").unlink()
    report = checkout_outputs(repo, pipelines=pl)
    assert sorted(report.restored) == ["model.bin", "out"] and report.ok
    assert (repo / "model.bin").read_text() == "b\n"
    assert (repo / "out" / "a.txt").read_text() == "a\n"
    assert (repo / "model.bin").stat().st_nlink == 2  # a hard link into the cache
    assert not os.access(repo / "model.bin", os.W_OK) or os.geteuid() == 0
    assert status(repo, pipelines=pl).up_to_date


def test_outputs_already_in_place_are_left_alone(repo: Path) -> None:
    pl = built(repo)
    report = checkout_outputs(repo, pipelines=pl)
    assert report.restored == [] and sorted(report.unchanged) == ["model.bin", "out"]


def test_a_file_changed_by_the_user_is_kept_unless_forced(repo: Path) -> None:
    pl = built(repo)
    (repo / "model.bin").write_text("my own work\n")
    (repo / "out" / "extra.txt").write_text("notes\n")
    report = checkout_outputs(repo, pipelines=pl)
    assert sorted(p for p, _ in report.conflicts) == ["model.bin", "out"]
    assert (repo / "model.bin").read_text() == "my own work\n"
    assert (repo / "out" / "extra.txt").exists()
    report = checkout_outputs(repo, pipelines=pl, force=True)
    assert sorted(report.restored) == ["model.bin", "out"]
    assert (repo / "model.bin").read_text() == "b\n"
    assert not (repo / "out" / "extra.txt").exists()


def test_an_older_version_saved_in_the_cache_is_replaced_without_asking(repo: Path) -> None:
    pl = built(repo)
    old_lock = (repo / "dvc.lock").read_text()
    (repo / "raw" / "b.txt").write_text("b2\n")
    assert repro(repo, pipelines=pl, out=lambda _line: None).ok
    assert (repo / "model.bin").read_text() == "b2\n"
    (repo / "dvc.lock").write_text(old_lock)  # as if git checked out the older commit
    report = checkout_outputs(repo, pipelines=pl)
    assert "model.bin" in report.restored and not report.conflicts
    assert (repo / "model.bin").read_text() == "b\n"


def test_outputs_missing_from_the_cache_are_reported(repo: Path) -> None:
    pl = built(repo)
    lock = (repo / "dvc.lock").read_text()
    (repo / "model.bin").unlink()
    lines = lock.splitlines()
    i = next(n for n, line in enumerate(lines) if "path: model.bin" in line)
    lines[i + 2] = "      md5: " + "ab" * 16
    (repo / "dvc.lock").write_text("\n".join(lines) + "\n")
    report = checkout_outputs(repo, pipelines=pl)
    assert report.missing == ["model.bin"] and not report.ok


def test_without_any_lock_file_checkout_does_nothing(repo: Path) -> None:
    report = checkout_outputs(repo)
    assert report.to_dict() == {"restored": [], "unchanged": [], "conflicts": [],
                                "missing": [], "skipped": [], "refused": []}


def test_checkout_never_runs_a_pipeline_command(repo: Path) -> None:
    pl = built(repo)
    pl[0].stages["s"].cmd = ["touch ran.txt"]
    (repo / "raw" / "a.txt").write_text("stale now\n")
    (repo / "model.bin").unlink()
    checkout_outputs(repo, pipelines=pl)
    assert not (repo / "ran.txt").exists()
    assert (repo / "model.bin").read_text() == "b\n"


def test_a_persist_output_linked_from_the_cache_becomes_a_private_copy(tmp_path: Path) -> None:
    cached = tmp_path / "object"
    cached.write_text("v1\n")
    cached.chmod(0o444)
    out = tmp_path / "out.txt"
    os.link(cached, out)
    with WorkTree(tmp_path) as wt:
        outputs.unprotect(wt, "out.txt")
    assert out.stat().st_nlink == 1 and os.access(out, os.W_OK)
    out.write_text("v2\n")
    assert cached.read_text() == "v1\n"
