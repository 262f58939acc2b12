"""Pairing inside Jupyter without ``watch``: the post-save hook of ``nb jupyter-hook`` syncs a
saved notebook or text file with its other side — called as Jupyter Server calls it
(``post_save_hook(model=, os_path=, contents_manager=)``), and through a real
``FileContentsManager.save``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitext.notebooks.jupyter_hook import render_block
from tests.helpers import archives
from tests.helpers.notebooks import edit_notebook_cell, edit_text, make_notebook, sources

Hook = Callable[..., None]


class _Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, fmt: str, *args: Any) -> None:
        self.warnings.append(fmt % args)


class _ContentsManager:
    def __init__(self) -> None:
        self.log = _Log()


def _hook() -> Hook:
    from traitlets.config import Config

    namespace: dict[str, Any] = {"c": Config()}
    exec(compile(render_block("git-archives"), "jupyter_server_config.py", "exec"), namespace)
    hook: Hook = namespace["c"].FileContentsManager.post_save_hook
    return hook


def _wait_for_hook() -> None:
    for t in threading.enumerate():
        if t.name == "git-archives-post-save":
            t.join(60)


@pytest.fixture
def paired(repo: Path) -> Path:
    """a.ipynb paired with a.py by its metadata, synced once (each hook call below starts a
    real ``git-archives nb sync``: they are few on purpose)."""
    from gitext.notebooks.pairing.sync import sync

    archives(repo, "install")
    make_notebook(repo / "a.ipynb", formats="ipynb,py:percent")
    sync(repo, ["a.ipynb"])
    return repo


def test_the_post_save_hook_syncs_a_text_save_and_logs_a_refusal(paired: Path) -> None:
    hook, cm = _hook(), _ContentsManager()
    edit_text(paired / "a.py", "b = 2", "b = 20")  # a text file saved in Jupyter's editor
    hook(model={"type": "file"}, os_path=str(paired / "a.py"), contents_manager=cm)
    _wait_for_hook()
    assert sources(paired / "a.ipynb")[2] == "b = 20"
    assert cm.log.warnings == []
    edit_notebook_cell(paired / "a.ipynb", 1, "a = 10")
    edit_text(paired / "a.py", "a = 1", "a = 11")
    hook(model={"type": "notebook"}, os_path=str(paired / "a.ipynb"), contents_manager=cm)
    _wait_for_hook()
    assert len(cm.log.warnings) == 1
    assert cm.log.warnings[0].startswith("git-archives: git-archives: error: refusing to sync: "
                                         "a.ipynb and a.py both changed cell 2")
    assert "a = 11" in (paired / "a.py").read_text()  # nothing overwritten


def test_a_real_contents_manager_save_syncs_the_pair(paired: Path) -> None:
    pytest.importorskip("jupyter_server", reason="jupyter_server is not installed")
    from jupyter_server.services.contents.filemanager import FileContentsManager

    cm = FileContentsManager(root_dir=str(paired))
    cm.post_save_hook = _hook()
    model = cm.get("a.ipynb")  # type: ignore[no-untyped-call]
    model["content"].cells[1].source = "a = 42"
    cm.save(model, "a.ipynb")  # type: ignore[no-untyped-call]
    _wait_for_hook()
    assert "a = 42" in (paired / "a.py").read_text()
