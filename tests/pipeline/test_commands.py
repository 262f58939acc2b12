"""The verbs as a user runs them: git archives repro / checkout / status."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.helpers import archives
from tests.helpers.pipelines import write

DVC_YAML = """\
stages:
  prep:
    cmd: mkdir -p out && cp raw/a.txt out/a.txt
    deps: [raw]
    outs: [out]
  train:
    cmd:
      - echo training
      - cat out/a.txt > model.txt
    deps: [out]
    params: [lr]
    outs: [model.txt]
"""


def project(repo: Path) -> None:
    write(repo, {"raw/a.txt": "a\n", "params.yaml": "lr: 0.1\n", "dvc.yaml": DVC_YAML})


def test_repro_streams_each_stage_and_then_status_is_clean(repo: Path) -> None:
    project(repo)
    out = archives(repo, "repro").stdout.decode()
    assert "Running stage 'prep':" in out and "> cat out/a.txt > model.txt" in out
    assert "training" in out
    status = archives(repo, "status").stdout.decode()
    assert "Data and pipelines are up to date." in status
    write(repo, {"params.yaml": "lr: 0.2\n"})
    status = archives(repo, "status").stdout.decode()
    assert "train: param params.yaml:lr modified" in status
    out = archives(repo, "repro", "--dry").stdout.decode()
    assert "Would run stage 'train'" in out


def test_repro_json_reports_what_ran(repo: Path) -> None:
    project(repo)
    data = json.loads(archives(repo, "repro", "--json", "-j", "2").stdout)
    assert data["ran"] == ["prep", "train"] and data["failed"] == []


def test_a_failing_command_exits_1_naming_stage_command_and_code(repo: Path) -> None:
    write(repo, {"dvc.yaml": "stages:\n  s:\n    cmd: exit 7\n    outs: [o.txt]\n"})
    proc = archives(repo, "repro", check=False)
    assert proc.returncode == 1
    assert "stage 's' failed: command 'exit 7' exited with code 7" in proc.stderr.decode()


def test_checkout_puts_outputs_back_and_keeps_user_changes(repo: Path) -> None:
    project(repo)
    archives(repo, "repro")
    (repo / "model.txt").unlink()
    out = archives(repo, "checkout").stdout.decode()
    assert "restored  model.txt" in out
    assert (repo / "model.txt").read_text() == "a\n"
    (repo / "out" / "a.txt").unlink()
    (repo / "out" / "mine.txt").write_text("mine\n")
    proc = archives(repo, "checkout", check=False)
    assert proc.returncode == 1 and "kept      out" in proc.stderr.decode()
    assert (repo / "out" / "mine.txt").exists()


def _age(repo: Path) -> None:
    """Date the work tree an hour back, so parse-cache entries made now are not racy."""
    import os

    old = time.time_ns() - 3600 * 10**9
    for folder, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            os.utime(Path(folder) / name, ns=(old, old))
        os.utime(folder, ns=(old, old))


def _status_and_yaml_loaded(repo: Path) -> tuple[str, bool]:
    """``git archives status`` run in-process in a fresh interpreter; whether PyYAML got
    imported on the way."""
    import subprocess
    import sys

    code = ("import sys; from gitext.cli import main; rc = main(['status']); "
            "print('YAML-LOADED' if 'yaml' in sys.modules else 'YAML-NOT-LOADED'); "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True,
                          check=True)
    out = proc.stdout.decode()
    return out, "YAML-LOADED" in out


def test_a_clean_status_answers_from_the_parse_cache_and_still_sees_edits(repo: Path) -> None:
    project(repo)
    archives(repo, "repro")
    _age(repo)
    out, loaded = _status_and_yaml_loaded(repo)  # parses, and fills the cache
    assert "Data and pipelines are up to date." in out and loaded
    out, loaded = _status_and_yaml_loaded(repo)
    assert "Data and pipelines are up to date." in out and not loaded
    write(repo, {"params.yaml": "lr: 0.3\n"})  # same size: the stat still tells
    out, _ = _status_and_yaml_loaded(repo)
    assert "train: param params.yaml:lr modified" in out
    write(repo, {"params.yaml": "lr: 0.1\n",
                 "dvc.yaml": DVC_YAML.replace("echo training", "echo learning")})
    out, _ = _status_and_yaml_loaded(repo)
    assert "train: command changed" in out and "prep: " not in out, out
