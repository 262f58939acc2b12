"""The "phantom modified" notebook and nbstripout #108, with real git and the real hooks.

git calls a file modified, without running any filter, when its size changed. Re-running a
notebook changes its outputs and so its size. ``nb refresh`` (and the hooks and ``watch``
that run it) re-registers such entries so git compares them by content instead.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gitext.git.repo import Repo
from gitext.notebooks.refresh import refresh
from gitext.notebooks.watch import watch
from tests.helpers import archives, git


def _cell(source: str, cid: str, outputs: list[Any] | None = None,
          count: int | None = None) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": count, "id": cid, "metadata": {},
            "outputs": outputs or [], "source": [source]}


def _write(path: Path, cells: list[dict[str, Any]]) -> None:
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3",
                                                      "display_name": "Python 3",
                                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1, sort_keys=True) + "\n")


def _stream(text: str) -> list[dict[str, Any]]:
    return [{"name": "stdout", "output_type": "stream", "text": [text]}]


def _run(path: Path, text: str, count: int = 1) -> None:
    """What Jupyter does when the notebook runs again: new outputs, new counts, new size."""
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            cell["outputs"] = _stream(f"{text} {i}\n")
            cell["execution_count"] = count + i
    path.write_text(json.dumps(nb, indent=1, sort_keys=True) + "\n")


def _status(repo: Path) -> str:
    return git(repo, "status", "--porcelain").stdout.decode()


@pytest.fixture
def nbrepo(repo: Path) -> Path:
    archives(repo, "install")
    _write(repo / "nb.ipynb", [_cell("print('a')", "c1"), _cell("x = 2", "c2")])
    git(repo, "add", "nb.ipynb")
    git(repo, "commit", "-qm", "notebook")
    return repo


def test_git_itself_calls_an_output_only_change_modified(nbrepo: Path) -> None:
    # The problem being solved, as plain git shows it.
    _run(nbrepo / "nb.ipynb", "a long output line")
    assert _status(nbrepo) == " M nb.ipynb\n"
    assert git(nbrepo, "diff").stdout == b""


def test_refresh_makes_status_clean_and_writes_no_file(nbrepo: Path) -> None:
    nb = nbrepo / "nb.ipynb"
    _run(nb, "a long output line")
    before = nb.read_bytes()
    head = git(nbrepo, "rev-parse", ":nb.ipynb").stdout
    out = archives(nbrepo, "nb", "refresh").stdout.decode()
    assert "re-registered nb.ipynb" in out
    assert _status(nbrepo) == ""
    assert nb.read_bytes() == before
    assert git(nbrepo, "rev-parse", ":nb.ipynb").stdout == head


def test_a_real_edit_after_refresh_is_still_modified(nbrepo: Path) -> None:
    nb = nbrepo / "nb.ipynb"
    _run(nb, "output")
    archives(nbrepo, "nb", "refresh")
    data = json.loads(nb.read_text())
    data["cells"][1]["source"] = ["x = 3"]
    nb.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    assert _status(nbrepo) == " M nb.ipynb\n"
    out = archives(nbrepo, "nb", "refresh").stdout.decode()
    assert "modified nb.ipynb" in out
    assert _status(nbrepo) == " M nb.ipynb\n"


def test_refresh_leaves_a_staged_change_staged(nbrepo: Path) -> None:
    nb = nbrepo / "nb.ipynb"
    data = json.loads(nb.read_text())
    data["cells"][1]["source"] = ["x = 4"]
    nb.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    git(nbrepo, "add", "nb.ipynb")
    staged = git(nbrepo, "rev-parse", ":nb.ipynb").stdout
    _run(nb, "more output than before")
    report = refresh(Repo.discover(nbrepo))
    assert report.refreshed == ["nb.ipynb"]
    assert git(nbrepo, "rev-parse", ":nb.ipynb").stdout == staged
    assert _status(nbrepo) == "M  nb.ipynb\n"


def test_dry_run_changes_nothing(nbrepo: Path) -> None:
    _run(nbrepo / "nb.ipynb", "output")
    out = archives(nbrepo, "nb", "refresh", "--dry-run").stdout.decode()
    assert "would re-register nb.ipynb" in out
    assert _status(nbrepo) == " M nb.ipynb\n"


def test_checkout_refused_over_outputs_goes_ahead_after_refresh(nbrepo: Path) -> None:
    git(nbrepo, "checkout", "-q", "-b", "other")
    _write(nbrepo / "nb.ipynb", [_cell("print('a')", "c1"), _cell("x = 2", "c2"),
                                 _cell("y = 5", "c3")])
    git(nbrepo, "commit", "-qam", "third cell")
    git(nbrepo, "checkout", "-q", "main")
    _run(nbrepo / "nb.ipynb", "precious result")
    refused = git(nbrepo, "checkout", "other", check=False)
    assert refused.returncode != 0 and b"would be overwritten" in refused.stderr
    archives(nbrepo, "nb", "refresh")
    proc = git(nbrepo, "checkout", "other")
    err = proc.stderr.decode()
    assert "nb.ipynb was replaced" in err and "restore-outputs nb.ipynb" in err
    assert _status(nbrepo) == ""
    # The outputs git would have refused to lose come back for the unchanged cells.
    out = archives(nbrepo, "nb", "restore-outputs", "nb.ipynb").stdout.decode()
    assert "outputs put back in 2 cell(s)" in out
    cells = json.loads((nbrepo / "nb.ipynb").read_text())["cells"]
    assert [c["outputs"][0]["text"] if c["outputs"] else None for c in cells] == [
        ["precious result 0\n"], ["precious result 1\n"], None]
    assert _status(nbrepo) == ""
    # refresh's copy is used up (the filter's own kept copies stay, bounded, for --list)
    assert b"(refresh)" not in archives(nbrepo, "nb", "restore-outputs").stdout


def test_git_pull_is_not_blocked_by_output_only_changes(tmp_path: Path, nbrepo: Path) -> None:
    # nbstripout #108: the fetch moves origin/main, the reference-transaction hook
    # re-registers the notebook, and the merge step goes ahead.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(nbrepo), str(clone))
    archives(clone, "install")
    _write(nbrepo / "nb.ipynb", [_cell("print('a')", "c1"), _cell("x = 2", "c2"),
                                 _cell("z = 9", "c3")])
    git(nbrepo, "commit", "-qam", "upstream adds a cell")
    _run(clone / "nb.ipynb", "local run")
    assert _status(clone) == " M nb.ipynb\n"
    proc = git(clone, "pull", "-q", "--ff-only")
    assert "differ only in outputs" in proc.stderr.decode()
    assert git(clone, "rev-parse", "HEAD").stdout == git(nbrepo, "rev-parse", "HEAD").stdout
    assert _status(clone) == ""
    archives(clone, "nb", "restore-outputs", "nb.ipynb")
    assert "local run 1" in (clone / "nb.ipynb").read_text()
    assert _status(clone) == ""


def test_a_real_local_edit_still_blocks_the_pull(tmp_path: Path, nbrepo: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(nbrepo), str(clone))
    archives(clone, "install")
    _write(nbrepo / "nb.ipynb", [_cell("print('b')", "c1"), _cell("x = 2", "c2")])
    git(nbrepo, "commit", "-qam", "upstream edit")
    _write(clone / "nb.ipynb", [_cell("print('mine')", "c1"), _cell("x = 2", "c2")])
    proc = git(clone, "pull", "-q", "--ff-only", check=False)
    assert proc.returncode != 0 and b"would be overwritten" in proc.stderr
    assert "print('mine')" in (clone / "nb.ipynb").read_text()


def test_the_reference_transaction_shim_chains_to_the_users_hook(nbrepo: Path) -> None:
    archives(nbrepo, "uninstall")
    hook = nbrepo / ".git" / "hooks" / "reference-transaction"
    log = nbrepo / ".git" / "reftx.log"
    hook.write_text(f"#!/bin/sh\necho \"$1\" >> {log}\ncat >> {log}\n")
    hook.chmod(0o755)
    archives(nbrepo, "install")
    git(nbrepo, "commit", "-q", "--allow-empty", "-m", "x")
    text = log.read_text()
    assert "prepared" in text and "committed" in text and "refs/heads/main" in text
    archives(nbrepo, "uninstall")
    assert hook.read_text().startswith("#!/bin/sh\necho")


def test_watch_refreshes_a_notebook_saved_with_new_outputs(nbrepo: Path) -> None:
    stop, ready = threading.Event(), threading.Event()
    messages: list[str] = []
    thread = threading.Thread(target=watch, args=(nbrepo,), kwargs={
        "debounce": 0.1, "stop_event": stop, "report": messages.append, "ready": ready},
        daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        _run(nbrepo / "nb.ipynb", "saved from the editor")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("outputs only" in m for m in messages):
            time.sleep(0.05)
        assert any("outputs only: nb.ipynb" in m for m in messages), messages
        assert _status(nbrepo) == ""
    finally:
        stop.set()
        thread.join(10)


def test_doctor_names_a_notebook_that_differs_only_in_outputs(nbrepo: Path) -> None:
    _run(nbrepo / "nb.ipynb", "output")
    proc = archives(nbrepo, "doctor", check=False)
    out = (proc.stdout + proc.stderr).decode()
    assert "1 notebook(s) look modified to git but differ only in outputs: 'nb.ipynb'" in out
    assert "git archives nb refresh" in out


def _load_jupyter_config(path: Path) -> dict[str, Any]:
    from traitlets.config import Config

    namespace: dict[str, Any] = {"c": Config()}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # as Jupyter loads it
    return namespace


def test_the_jupyter_post_save_hook_refreshes_a_saved_notebook(tmp_path: Path,
                                                               nbrepo: Path) -> None:
    cfg = tmp_path / "jupyter" / "jupyter_server_config.py"
    cfg.parent.mkdir()
    user_part = ("calls = []\n"
                 "def mine(model, os_path, contents_manager, **kw):\n"
                 "    calls.append(os_path)\n"
                 "c.FileContentsManager.post_save_hook = mine\n")
    cfg.write_text(user_part)
    out = archives(nbrepo, "nb", "jupyter-hook", "--config", str(cfg)).stdout.decode()
    assert "added the post-save hook" in out
    again = archives(nbrepo, "nb", "jupyter-hook", "--config", str(cfg)).stdout.decode()
    assert "already present" in again
    namespace = _load_jupyter_config(cfg)
    hook = namespace["c"].FileContentsManager.post_save_hook
    nb = nbrepo / "nb.ipynb"
    _run(nb, "saved by Jupyter")
    assert _status(nbrepo) == " M nb.ipynb\n"
    hook(model={}, os_path=str(nb), contents_manager=None)
    assert namespace["calls"] == [str(nb)]  # the user's own hook was kept and ran first
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _status(nbrepo):
        time.sleep(0.05)
    assert _status(nbrepo) == ""
    archives(nbrepo, "nb", "jupyter-hook", "--uninstall", "--config", str(cfg))
    assert cfg.read_text() == user_part


def test_the_reference_transaction_hook_starts_python_after_a_fetch_not_a_push(
        tmp_path: Path, nbrepo: Path) -> None:
    """A push moves remote-tracking refs to this clone's own heads: nothing will merge, so
    the shim decides in the shell (one git call) and no Python starts. A fetch that brings
    someone else's commit still runs the hook."""
    spy_dir = tmp_path / "spy"
    spy_dir.mkdir()
    log = tmp_path / "calls.log"
    real = shutil.which("git-archives")
    assert real is not None
    spy = spy_dir / "git-archives"
    spy.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\n'
                   f'exec {shlex.quote(real)} "$@"\n')
    spy.chmod(0o755)
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(nbrepo), str(clone))
    archives(clone, "install")
    git(clone, "remote", "add", "mine", str(tmp_path / "origin.git"))
    env = {**os.environ, "PATH": f"{spy_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["git", "push", "-q", "mine", "main"], cwd=clone, env=env, check=True)
    assert git(clone, "rev-parse", "refs/remotes/mine/main").returncode == 0
    calls = log.read_text() if log.exists() else ""
    assert "hook reference-transaction" not in calls, calls
    git(nbrepo, "commit", "-q", "--allow-empty", "-m", "upstream")
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=clone, env=env, check=True)
    assert "hook reference-transaction committed" in log.read_text()
