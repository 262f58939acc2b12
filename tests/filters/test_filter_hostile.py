"""Hostile attributes: whatever .gitattributes says, the filters never make the files git
and DVC read as configuration into pointers, and never fail a git command over a file
that is not what the filter expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitext.git.protected import is_protected
from tests.helpers import archives, git
from tests.helpers.repos import pointer_text, setup_repo, staged_blob, status_porcelain

PROTECTED = {
    ".gitattributes": None,  # written by the test
    ".gitignore": b"*.tmp\n",
    "sub/.gitignore": b"*.log\n",
    ".archives/config": b"[nb]\n\tkeep-count = true\n",
    ".archives/notes.txt": b"anything under .archives/\n",
    "data.csv.dvc": b"outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: data.csv\n",
    "dvc.yaml": b"stages: {}\n",
    "sub/dvc.lock": b"schema: '2.0'\n",
    ".dvcignore": b"*.tmp\n",
    ".dvc/config": b"[core]\n\tno_scm = false\n",
}


@pytest.mark.parametrize("path", [*PROTECTED, "a/b/.gitattributes", "x.DVC"])
def test_the_protected_list(path: str) -> None:
    assert is_protected(path)


@pytest.mark.parametrize("path", ["data.csv", "dvc.yaml.bak", "my.dvc.txt", "archives/x",
                                  "docs/.archivesx", "gitignore"])
def test_ordinary_files_are_not_protected(path: str) -> None:
    assert not is_protected(path)


def test_track_everything_never_makes_configuration_a_pointer(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    (repo / ".gitattributes").write_text("* filter=archives\n")
    for path, data in PROTECTED.items():
        if data is not None:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_bytes(data)
    (repo / "data.csv").write_text("a,b\n")
    git(repo, "add", "-A")
    assert staged_blob(repo, ".gitattributes") == b"* filter=archives\n"
    for path, data in PROTECTED.items():
        if data is not None:
            assert staged_blob(repo, path) == data, path
    assert staged_blob(repo, "data.csv") == pointer_text(b"a,b\n")
    git(repo, "commit", "-q", "-m", "all")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    archives(clone, "install")
    git(clone, "checkout", "-q", "main")
    assert (clone / ".gitattributes").read_bytes() == b"* filter=archives\n"
    assert status_porcelain(clone) == ""


def test_a_protected_file_committed_as_a_pointer_is_restored_and_named(
        tmp_path: Path) -> None:
    """An old commit holds .gitignore as a pointer: checkout gives the content back with a
    warning saying how to store it plainly; adding it stores it plainly."""
    repo = setup_repo(tmp_path / "repo")
    (repo / ".gitattributes").write_text("*.bin filter=archives -text\n"
                                         ".gitignore filter=archives -text\n")
    (repo / "same.bin").write_bytes(b"*.tmp\n")  # puts the content in the cache
    git(repo, "add", "same.bin", ".gitattributes")
    blob = git(repo, "hash-object", "-w", "--stdin",
               input_bytes=pointer_text(b"*.tmp\n")).stdout.decode().strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},.gitignore")
    git(repo, "commit", "-q", "-m", "gitignore as a pointer")
    assert not (repo / ".gitignore").exists()
    proc = git(repo, "checkout", "--", ".gitignore")
    assert (repo / ".gitignore").read_bytes() == b"*.tmp\n"
    err = proc.stderr.decode()
    assert ".gitignore is stored as a pointer" in err
    assert "git add .gitignore" in err
    git(repo, "add", ".gitignore")
    assert staged_blob(repo, ".gitignore") == b"*.tmp\n"


def test_the_notebook_filter_on_a_text_file_never_kills_git(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    (repo / ".gitattributes").write_text("*.txt filter=archives-nb\n")
    (repo / "readme.txt").write_text("not a notebook\n")
    git(repo, "add", ".gitattributes")
    proc = git(repo, "add", "readme.txt")
    assert staged_blob(repo, "readme.txt") == b"not a notebook\n"
    assert proc.stderr.decode().count("readme.txt") == 1
    git(repo, "commit", "-q", "-m", "x")
    (repo / "readme.txt").touch()
    proc = git(repo, "status", "--porcelain")
    assert proc.stdout == b""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    archives(clone, "install")
    git(clone, "checkout", "-q", "main")
    assert (clone / "readme.txt").read_text() == "not a notebook\n"
    assert status_porcelain(clone) == ""


def test_a_broken_notebook_named_ipynb_still_follows_nb_on_error(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    (repo / "bad.ipynb").write_text("{not json")
    proc = git(repo, "add", "bad.ipynb", check=False)
    assert proc.returncode != 0
    assert "bad.ipynb" in proc.stderr.decode()


def test_a_broken_config_does_not_kill_the_notebook_filter(tmp_path: Path) -> None:
    """Unknown options: strip with the defaults (which keep the least), warn once."""
    repo = setup_repo(tmp_path / "repo")
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text("[nb\n\tkeep-output = true\n")
    nb = ('{"cells": [{"cell_type": "code", "execution_count": 3, "id": "c1", '
          '"metadata": {}, "outputs": [{"name": "stdout", "output_type": "stream", '
          '"text": ["hi\\n"]}], "source": ["print(1)"]}], "metadata": {}, '
          '"nbformat": 4, "nbformat_minor": 5}\n')
    (repo / "a.ipynb").write_text(nb)
    proc = git(repo, "add", "a.ipynb")
    err = proc.stderr.decode()
    assert sum(".archives/config" in ln for ln in err.splitlines()) == 1, err
    assert "Traceback" not in err
    staged = staged_blob(repo, "a.ipynb")
    assert b"outputs" in staged and b"hi" not in staged
    assert (repo / "a.ipynb").read_text() == nb  # the work tree keeps its outputs


def test_a_hostile_file_name_cannot_forge_a_message_line(tmp_path: Path) -> None:
    """A committed name with a newline and shell syntax, its object not in the cache: the
    warning stays one line and the suggested command quotes the name."""
    origin = setup_repo(tmp_path / "origin", "*.bin")
    name = "x\ngit-archives: all good $(touch pwned).bin"
    blob = git(origin, "hash-object", "-w", "--stdin",
               input_bytes=pointer_text(b"secret data\n")).stdout.decode().strip()
    git(origin, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}")
    git(origin, "commit", "-q", "--no-verify", "-m", "hostile name")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(origin), str(clone))
    archives(clone, "install")
    err = git(clone, "checkout", "-q", "main").stderr.decode()
    lines = [ln for ln in err.splitlines() if "pwned" in ln]
    assert len(lines) == 1, err
    assert not any(ln.startswith("git-archives: all good") for ln in err.splitlines())
    assert "pull -- $'x\\012git-archives: all good $(touch pwned).bin'" in lines[0]
    out = archives(clone, "status").stdout.decode()
    assert "x\\ngit-archives: all good" in out and "\ngit-archives: all good" not in out
