"""``status`` exits non-zero, naming the file and line, when dvc.yaml cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import archives
from tests.helpers.pipelines import write


def test_status_fails_on_a_dvc_yaml_it_cannot_parse(repo: Path) -> None:
    archives(repo, "install")
    write(repo, {"dvc.yaml": "stages:\n  a:\n    cmd: [unclosed\n"})
    proc = archives(repo, "status", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert err.startswith("git-archives: error: ") and "dvc.yaml" in err
    assert "dvc.yaml:4:1: " in err  # where the parser stopped (end of file)
    assert "Large files: all 0 present." in proc.stdout.decode()  # the rest still said
    data = json.loads(archives(repo, "status", "--json", check=False).stdout)
    assert "dvc.yaml" in data["pipeline_error"][0] and "pipeline" not in data


def test_status_of_a_readable_pipeline_exits_0(repo: Path) -> None:
    archives(repo, "install")
    write(repo, {"dvc.yaml": "stages:\n  a:\n    cmd: echo hi > a.txt\n    outs: [a.txt]\n"})
    proc = archives(repo, "status")
    assert "a: never run" in proc.stdout.decode() and proc.returncode == 0
