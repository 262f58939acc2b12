"""A hook with nothing to do finds its repository and decides there is nothing to do without
running git (bench/run.py W4 measures how long it takes)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitext.git.repo import Repo
from gitext.notebooks.refresh import nothing_to_refresh
from tests.helpers import BIN_DIR, git
from tests.helpers.repos import setup_repo


def _same(a: Repo, b: Repo) -> bool:
    return (a.worktree, a.git_dir.resolve(), a.common_dir.resolve()) == (
        b.worktree, b.git_dir.resolve(), b.common_dir.resolve())


def test_for_hook_finds_what_git_finds_in_a_clone_and_a_linked_worktree(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    for top in (repo, tmp_path / "wt"):
        monkeypatch.chdir(top)
        assert _same(Repo.for_hook(), Repo.discover(top))
    monkeypatch.chdir(tmp_path / "wt")
    assert Repo.for_hook().common_dir.resolve() == (repo / ".git").resolve()


def test_for_hook_asks_git_when_the_cwd_is_not_a_top_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = setup_repo(tmp_path / "r")
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    assert _same(Repo.for_hook(), Repo.discover(repo))


def _spy_on_git(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PATH with a ``git`` that notes each call in a log, then runs the real git."""
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True,
                          check=True).stdout.strip()
    spy_dir = tmp_path / "spy"
    spy_dir.mkdir()
    log = tmp_path / "git-calls.log"
    (spy_dir / "git").write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    (spy_dir / "git").chmod(0o755)
    env = {**os.environ, "PATH": f"{spy_dir}{os.pathsep}{BIN_DIR}{os.pathsep}{os.environ['PATH']}"}
    return env, log


def test_a_post_checkout_with_nothing_to_do_runs_no_git(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    head = git(repo, "rev-parse", "HEAD").stdout.decode().strip()
    env, log = _spy_on_git(tmp_path)
    for hook, args in (("post-checkout", [head, head, "1"]), ("post-merge", ["0"])):
        proc = subprocess.run([str(repo / ".git" / "hooks" / hook), *args], cwd=repo,
                              env=env, capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == b""
    assert not log.exists(), log.read_text()


def test_a_notebook_in_the_index_still_gets_the_refresh(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    assert nothing_to_refresh(Repo.discover(repo))
    (repo / "a.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, '
                                  '"nbformat_minor": 5}\n')
    git(repo, "add", "a.ipynb")
    assert not nothing_to_refresh(Repo.discover(repo))


@pytest.mark.parametrize("case", ["nested-attributes", "other-pattern", "index-v4"])
def test_anything_the_quick_look_cannot_rule_out_means_refresh(tmp_path: Path,
                                                              case: str) -> None:
    repo = setup_repo(tmp_path / "r")
    (repo / "data.txt").write_text("x\n")
    git(repo, "add", "data.txt")
    if case == "nested-attributes":
        (repo / "sub").mkdir()
        (repo / "sub" / ".gitattributes").write_text("*.nb filter=archives-nb\n")
        git(repo, "add", "sub/.gitattributes")
    elif case == "other-pattern":
        (repo / ".gitattributes").write_text("*.nbjson filter=archives-nb\n")
    else:
        git(repo, "update-index", "--index-version", "4")
    assert not nothing_to_refresh(Repo.discover(repo))
