"""The notebook filter never breaks git: a bad option is a warning naming its file and key
(the other options still apply), one bad notebook fails alone while the process serves the
next, and git finds the filters without ``git-archives`` on PATH."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from gitext.codec import pktline
from gitext.git.launcher import launcher_problem
from tests.helpers import BIN_DIR, archives, git
from tests.helpers.repos import setup_repo, staged_blob

NOTEBOOK = {"cells": [{"cell_type": "code", "execution_count": 3, "id": "c1",
                       "metadata": {"collapsed": True}, "source": ["print(1)"],
                       "outputs": [{"name": "stdout", "output_type": "stream",
                                    "text": ["hi\n"]}]}],
            "metadata": {"foo": {"x": 1}, "kernelspec": {"name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


NBFORMAT_3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [
    {"metadata": {}, "cells": [{"cell_type": "code", "collapsed": False, "input": ["print(1)"],
                                "language": "python", "metadata": {}, "prompt_number": 3,
                                "outputs": [{"output_type": "stream", "stream": "stdout",
                                             "text": ["1\n"]}]}]}]}


def _write_notebook(path: Path) -> None:
    path.write_text(json.dumps(NOTEBOOK, indent=1) + "\n")


def test_a_config_typo_is_a_warning_naming_the_file_and_the_rest_applies(
        tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text(
        "[nb]\n\textra-keys = kernelspec metadata.foo\n\tkeep-count = true\n")
    git(repo, "config", "archives.nb.mode", "jupiterr")
    _write_notebook(repo / "a.ipynb")
    proc = git(repo, "add", "a.ipynb")  # rc 0: git goes on
    err = proc.stderr.decode()
    assert ("git-archives: warning: .archives/config: nb.extra-keys: extra key 'kernelspec' "
            "must start with 'metadata.' or 'cell.'; ignored") in err, err
    assert ("git-archives: warning: .git/config: archives.nb.mode: 'jupiterr' is not one of "
            "auto, jupyter, zeppelin; using auto") in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 2, err
    staged = json.loads(staged_blob(repo, "a.ipynb"))
    assert staged["cells"][0]["execution_count"] == 3  # keep-count still applies
    assert "foo" not in staged["metadata"]  # and the good extra key
    assert staged["metadata"]["kernelspec"] == {"name": "python3"}
    git(repo, "commit", "-qm", "a")
    (repo / "a.ipynb").unlink()
    assert git(repo, "checkout", "--", "a.ipynb").returncode == 0
    out = archives(repo, "doctor", check=False).stdout.decode()
    assert "notebook option left out: .archives/config: nb.extra-keys: extra key " \
           "'kernelspec'" in out
    assert "notebook option left out: .git/config: archives.nb.mode" in out


def _session(*requests: tuple[str, bytes]) -> bytes:
    out = (pktline.encode_text("git-filter-client") + pktline.encode_text("version=2")
           + pktline.FLUSH + pktline.encode_text("capability=clean")
           + pktline.encode_text("capability=smudge") + pktline.FLUSH)
    for path, content in requests:
        out += (pktline.encode_text("command=clean") + pktline.encode_text(f"pathname={path}")
                + pktline.FLUSH + pktline.encode(content) + pktline.FLUSH)
    return out


def test_a_failing_notebook_answers_error_and_the_process_serves_the_next(
        tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    good = json.dumps(NOTEBOOK).encode()
    proc = subprocess.run([str(BIN_DIR / "git-archives"), "filter-process", "--notebooks"],
                          cwd=repo, capture_output=True, check=False,
                          input=_session(("bad.ipynb", b"{not json"), ("good.ipynb", good),
                                         ("bom.ipynb", b"\xef\xbb\xbf" + good),
                                         ("v3.ipynb", json.dumps(NBFORMAT_3).encode())))
    assert proc.returncode == 0
    s = io.BytesIO(proc.stdout)
    assert pktline.read_text_list(s) == ["git-filter-server", "version=2"]
    pktline.read_text_list(s)
    assert pktline.read_text_list(s) == ["status=error"]
    for name in ("good", "bom", "v3"):
        assert pktline.read_text_list(s) == ["status=success"]
        stripped = b"".join(pktline.iter_payloads(s))
        assert b'"outputs": []' in stripped and not stripped.startswith(b"\xef")
        assert pktline.read_text_list(s) == []  # the status list after the content: unchanged
        if name == "v3":  # stripped in its own format, its cell kept
            assert json.loads(stripped)["nbformat"] == 3 and b'"print(1)"' in stripped
    assert proc.stderr.decode().splitlines() == [
        "git-archives: bad.ipynb: not valid JSON (line 1, column 2: Expecting property name "
        "enclosed in double quotes) (fix bad.ipynb, or restore it with: git checkout -- "
        "bad.ipynb)"]


def test_git_add_of_a_good_and_a_bad_notebook_names_the_bad_one(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    _write_notebook(repo / "good.ipynb")
    (repo / "bad.ipynb").write_text("{not json")
    proc = git(repo, "add", "good.ipynb", "bad.ipynb", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "bad.ipynb: not valid JSON" in err and "clean filter 'archives-nb' failed" in err
    assert "hung up" not in err and "Traceback" not in err
    assert (repo / "bad.ipynb").read_text() == "{not json"  # nothing lost
    git(repo, "add", "good.ipynb")
    assert b'"outputs": []' in staged_blob(repo, "good.ipynb")


def test_the_filters_run_without_git_archives_on_path(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo", "*.bin")
    _write_notebook(repo / "a.ipynb")
    (repo / "data.bin").write_bytes(b"large\n" * 100)
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # a GUI client's git
    proc = subprocess.run(["git", "add", "a.ipynb", "data.bin"], cwd=repo, env=env,
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b'"outputs": []' in staged_blob(repo, "a.ipynb")
    assert staged_blob(repo, "data.bin").startswith(b"version https://git-lfs.github.com/")


def test_doctor_names_a_recorded_launcher_that_is_gone(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    git(repo, "config", "filter.archives-nb.process",
        "/gone/bin/git-archives filter-process --notebooks")
    proc = archives(repo, "doctor", check=False)
    out = proc.stdout.decode()
    assert proc.returncode != 0
    assert ("filter.archives-nb.process runs /gone/bin/git-archives, which no longer "
            "exists") in out
    assert "git archives install  (records the absolute path" in out


@pytest.mark.parametrize("value,problem", [
    ("'/no where/git-archives' filter-process", "runs /no where/git-archives, which no "
                                                "longer exists"),
    (f"{BIN_DIR}/git-archives filter-process", None),
    ("git-lfs filter-process", None),  # not ours: another check's business
])
def test_launcher_problem(value: str, problem: str | None) -> None:
    assert launcher_problem(value) == problem


def test_a_bare_launcher_name_is_reported() -> None:
    problem = launcher_problem("git-archives filter-process")
    assert problem is not None and problem.startswith("runs git-archives from PATH")
