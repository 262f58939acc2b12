"""Outputs kept aside by the clean filter: git stash, checkout -f and reset --hard of a
notebook whose only changes are outputs can be undone with ``nb restore-outputs``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from gitext.config import Config
from gitext.errors import ConfigError
from gitext.notebooks.kept import OutputStore, blob_id, limit_from_config
from gitext.notebooks.restore import merge_outputs
from tests.helpers import archives, git
from tests.helpers.notebooks import make_notebook
from tests.helpers.repos import setup_repo


def _run_notebook(nb: Path, text: str) -> None:
    """What running the notebook does: new outputs, the same cells."""
    doc = json.loads(nb.read_text())
    for cell in doc["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": [text]}]
    nb.write_text(json.dumps(doc, indent=1) + "\n")


def _outputs(nb: Path) -> list[object]:
    return [c.get("outputs") for c in json.loads(nb.read_text())["cells"]
            if c["cell_type"] == "code"]


@pytest.fixture(scope="module")
def nbrepo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = setup_repo(tmp_path_factory.mktemp("kept") / "repo")
    make_notebook(repo / "a.ipynb")
    (repo / "other.txt").write_text("x\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a")
    return repo


@pytest.mark.parametrize("undo", ["stash", "checkout -f", "reset --hard"])
def test_restore_outputs_undoes_what_git_dropped(nbrepo: Path, undo: str) -> None:
    nb = nbrepo / "a.ipynb"
    nb.unlink()
    git(nbrepo, "checkout", "--", "a.ipynb")  # the work tree holds the stripped blob
    _run_notebook(nb, f"before {undo}\n")  # an output-only change
    ran = _outputs(nb)
    (nbrepo / "other.txt").write_text(f"{undo}\n")  # and a real change elsewhere
    if undo == "stash":
        git(nbrepo, "stash", "-q")  # runs the clean filter: the outputs are kept aside
        assert _outputs(nb) != ran
        git(nbrepo, "stash", "pop", "-q")
    else:
        git(nbrepo, "diff", "--quiet", check=False)  # what a user looks at first
        git(nbrepo, *undo.split(), "-q")
    assert _outputs(nb) != ran, "git dropped the outputs"
    listed = archives(nbrepo, "nb", "restore-outputs", "--list").stdout.decode()
    assert "a.ipynb" in listed
    out = archives(nbrepo, "nb", "restore-outputs", "a.ipynb").stdout.decode()
    assert "a.ipynb: outputs put back in 4 cell(s)" in out
    assert _outputs(nb) == ran
    assert git(nbrepo, "status", "--porcelain", "--", "a.ipynb").stdout == b""
    git(nbrepo, "checkout", "--", "other.txt")


def test_restore_never_replaces_outputs_a_cell_has_now_without_force() -> None:
    kept: dict[str, list[dict[str, Any]]] = {"cells": [
        {"cell_type": "code", "id": "x", "source": "a", "outputs": [1]},
        {"cell_type": "code", "id": "y", "source": "b", "outputs": [2]}]}
    now: dict[str, list[dict[str, Any]]] = {"cells": [
        {"cell_type": "code", "id": "x", "source": "a", "outputs": [9]},
        {"cell_type": "code", "id": "y", "source": "b", "outputs": []},
        {"cell_type": "code", "id": "z", "source": "c", "outputs": []}]}
    assert merge_outputs(kept, now) == (1, 1)
    assert [c["outputs"] for c in now["cells"]] == [[9], [2], []]
    assert merge_outputs(kept, now, force=True) == (1, 0)
    assert [c["outputs"] for c in now["cells"]] == [[1], [2], []]


def test_the_same_source_takes_the_outputs_of_the_same_cell_id() -> None:
    kept: dict[str, list[dict[str, Any]]] = {"cells": [
        {"cell_type": "code", "id": "p", "source": "s", "outputs": ["p"]},
        {"cell_type": "code", "id": "q", "source": "s", "outputs": ["q"]}]}
    now: dict[str, list[dict[str, Any]]] = {"cells": [
        {"cell_type": "code", "id": "q", "source": "s", "outputs": []}]}
    assert merge_outputs(kept, now).restored == 1
    assert now["cells"][0]["outputs"] == ["q"]


def test_the_store_is_bounded_and_drops_the_least_recently_kept(tmp_path: Path) -> None:
    store = OutputStore(tmp_path / "kept", limit=250)
    for i, name in enumerate(("a.ipynb", "b.ipynb", "c.ipynb")):
        store.keep(name, blob_id(name.encode()), bytes([i]) * 100)
        (f,) = [k.file for k in store.entries(name)]
        os.utime(f, (time.time() - 100 + i, time.time() - 100 + i))
    store.keep("a.ipynb", blob_id(b"a.ipynb"), bytes([0]) * 100)  # seen again: newest now
    store.evict()
    assert sorted(k.path for k in store.entries()) == ["a.ipynb", "c.ipynb"]
    store.keep("huge.ipynb", "0" * 40, b"x" * 251)  # larger than the whole store
    assert store.entries("huge.ipynb") == []


def test_the_size_option(tmp_path: Path) -> None:
    assert limit_from_config(Config({})) == 200 * 1000 * 1000
    assert limit_from_config(Config({"nb.keepoutputs": ["10mb"]})) == 10 * 1000 * 1000
    assert limit_from_config(Config({"nb.keepoutputs": ["0"]})) == 0
    with pytest.raises(ConfigError, match=r"nb\.keepOutputs"):
        limit_from_config(Config({"nb.keepoutputs": ["lots"]}))
    store = OutputStore(tmp_path / "off", limit=0)
    store.keep("a.ipynb", "0" * 40, b"{}")
    assert not (tmp_path / "off").exists()


def test_keep_outputs_zero_keeps_nothing(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    git(repo, "config", "archives.nb.keepOutputs", "0")
    make_notebook(repo / "a.ipynb")
    git(repo, "add", "a.ipynb")
    assert not (repo / ".git" / "archives" / "nb-outputs").exists()
    git(repo, "config", "archives.nb.keepOutputs", "1mb")
    (repo / "a.ipynb").write_text((repo / "a.ipynb").read_text() + "\n")
    git(repo, "add", "a.ipynb")
    assert list((repo / ".git" / "archives" / "nb-outputs").rglob("*.ipynb"))
