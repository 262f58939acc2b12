"""``.pre-commit-hooks.yaml`` run by the real pre-commit framework (PyPI), from this checkout
at its HEAD commit, as a user's ``.pre-commit-config.yaml`` would name it.

pre-commit builds the hook's environment once per commit (a venv with git-archives and its
dependencies, about 12 s of CPU with a warm pip cache): slow-marked, and the environment is
kept in ``.cache/pre-commit`` for later runs of the same commit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import BIN_DIR, REPO_ROOT, git
from tests.helpers.notebooks import make_notebook, outputs

# Read before the fixtures isolate HOME: pip's own cache keeps the hook env's build short.
PIP_CACHE = Path(os.environ.get("PIP_CACHE_DIR") or Path.home() / ".cache" / "pip")
PRE_COMMIT_HOME = REPO_ROOT / ".cache" / "pre-commit"


def _head_with_hooks() -> str:
    head = git(REPO_ROOT, "rev-parse", "HEAD").stdout.decode().strip()
    if git(REPO_ROOT, "cat-file", "-e", f"{head}:.pre-commit-hooks.yaml", check=False
           ).returncode != 0:
        pytest.skip("this checkout's HEAD has no .pre-commit-hooks.yaml (commit it first)")
    return head


def _pre_commit(repo: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PRE_COMMIT_HOME=str(PRE_COMMIT_HOME), PIP_CACHE_DIR=str(PIP_CACHE))
    return subprocess.run([str(BIN_DIR / "pre-commit"), "run", "--all-files"], cwd=repo,
                          env=env, capture_output=True, text=True, check=False, timeout=900)


@pytest.mark.slow
def test_both_hooks_through_the_pre_commit_framework(repo: Path) -> None:
    if shutil.which("pre-commit", path=str(BIN_DIR)) is None:
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    rev = _head_with_hooks()
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {json.dumps(str(REPO_ROOT))}\n  rev: {rev}\n  hooks:\n"
        "  - id: git-archives-nb-strip\n  - id: git-archives-nb-sync\n")
    make_notebook(repo / "a.ipynb", formats="ipynb,py:percent")
    (repo / "module.py").write_text("x = 1\n")  # no jupytext header: never paired
    git(repo, "add", "-A")

    first = _pre_commit(repo)
    assert first.returncode == 1, first.stdout + first.stderr
    out = first.stdout
    assert "git-archives-nb-strip\n- files were modified by this hook" in out
    assert "created-text: a.ipynb <-> a.py: write a.py" in out
    assert "paired files were brought in step: add them (git add) and commit again" in out
    assert not any(outputs(repo / "a.ipynb"))  # stripped in place
    assert (repo / "a.py").is_file() and not (repo / "module.ipynb").exists()
