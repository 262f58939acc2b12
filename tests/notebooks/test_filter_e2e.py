"""The golden notebooks through the real ``filter=archives-nb`` process, via ``git add``."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.golden import CASES, GOLDEN_DIR, Case

# One repository per distinct option set: the filter reads .archives/config once.
GROUPS = [list(g) for _, g in itertools.groupby(sorted(CASES, key=lambda c: c.flags),
                                                key=lambda c: c.flags)]


@pytest.mark.parametrize("cases", GROUPS, ids=[g[0].flags or "defaults" for g in GROUPS])
def test_git_add_stores_the_golden_bytes(data_dir: Path, repo: Path,
                                         cases: list[Case]) -> None:
    golden = data_dir.joinpath(*GOLDEN_DIR)
    archives(repo, "install")
    (repo / ".gitattributes").write_text("*.zpln filter=archives-nb diff=archives-nb\n")
    lines = cases[0].config_lines()
    if lines:
        (repo / ".archives").mkdir()
        (repo / ".archives" / "config").write_text("[nb]\n" + "\n".join(lines) + "\n")
    names = {}
    for i, case in enumerate(cases):
        name = f"case{i}{Path(case.input).suffix}"
        shutil.copyfile(golden / case.input, repo / name)
        names[name] = case
    git(repo, "add", *names)
    for name, case in names.items():
        staged = git(repo, "cat-file", "-p", f":{name}").stdout
        assert staged == (golden / case.expected).read_bytes(), case.id
        # the working copy keeps its outputs
        assert (repo / name).read_bytes() == (golden / case.input).read_bytes()


def test_git_add_of_a_bad_notebook_fails_for_that_file_only(data_dir: Path,
                                                            repo: Path) -> None:
    golden = data_dir.joinpath(*GOLDEN_DIR)
    archives(repo, "install")
    shutil.copyfile(golden / "test_invalid_json.ipynb", repo / "bad.ipynb")
    shutil.copyfile(golden / "test_metadata.ipynb", repo / "good.ipynb")
    proc = git(repo, "add", "bad.ipynb", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "bad.ipynb: not valid JSON" in err and "Traceback" not in err
    git(repo, "add", "good.ipynb")
    assert git(repo, "cat-file", "-p", ":good.ipynb").stdout == (
        golden / "test_metadata.ipynb.expected").read_bytes()


def test_passthrough_commits_a_bad_notebook_unchanged(data_dir: Path, repo: Path) -> None:
    golden = data_dir.joinpath(*GOLDEN_DIR)
    archives(repo, "install")
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text("[nb]\n\ton-error = passthrough\n")
    shutil.copyfile(golden / "test_invalid_json.ipynb", repo / "bad.ipynb")
    proc = git(repo, "add", "bad.ipynb")
    assert b"bad.ipynb: not valid JSON" in proc.stderr
    assert git(repo, "cat-file", "-p", ":bad.ipynb").stdout == (
        golden / "test_invalid_json.ipynb").read_bytes()
