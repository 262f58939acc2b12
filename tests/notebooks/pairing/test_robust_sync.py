"""Sync never loses an edit: ``--prefer`` settles only the cells both sides changed, a side
is written only while it holds what sync read (compare-and-swap on content), a stale editor
save after a sync is a conflict, and a file that cannot be read refuses its pair alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import gitext.notebooks.pairing.sync as sync_module
from gitext.notebooks.pairing.formats import read_or_none
from gitext.notebooks.pairing.merge import merge_cells, undoes
from gitext.notebooks.pairing.pair import pair
from gitext.notebooks.pairing.sync import NotebookSyncError, sync
from tests.helpers.notebooks import edit_notebook_cell, edit_text, make_notebook, outputs, sources

BASE = ["# Title", "a = 1", "b = 2", "c = 3", "print(a + b + c)"]


@pytest.fixture
def paired(repo: Path) -> tuple[Path, Path]:
    nb = repo / "n.ipynb"
    make_notebook(nb, BASE)
    pair(repo, [nb], "ipynb,py:percent")
    return nb, repo / "n.py"


def _code(src: str) -> tuple[str, str]:
    return ("code", src)


def test_prefer_keeps_the_other_sides_edits_to_other_cells() -> None:
    base = [_code(s) for s in ("a", "b", "c")]
    ours = [_code(s) for s in ("a1", "b", "c1")]
    theirs = [_code(s) for s in ("a2", "b2", "c")]
    assert merge_cells(base, ours, theirs) == (None, [1])
    assert merge_cells(base, ours, theirs, prefer="theirs") == (
        [_code("a2"), _code("b2"), _code("c1")], [1])
    assert merge_cells(base, ours, theirs, prefer="ours") == (
        [_code("a1"), _code("b2"), _code("c1")], [1])


def test_undoes_tells_a_save_from_an_older_copy() -> None:
    before = [_code("a = 1"), _code("b = 2")]
    synced = [_code("a = 555"), _code("b = 2")]
    assert undoes(before, synced, [_code("a = 1"), _code("b = 2")])
    assert undoes(before, synced, [_code("a = 1"), _code("b = 20")])  # stale, and edited
    assert not undoes(before, synced, [_code("a = 555"), _code("b = 20")])  # a fresh edit
    assert not undoes(before, synced, [_code("a = 556"), _code("b = 2")])


@pytest.mark.parametrize("prefer", ["text", "notebook"])
def test_prefer_resolves_only_the_conflicting_cells(repo: Path, paired: tuple[Path, Path],
                                                    prefer: str) -> None:
    nb, py = paired
    edit_notebook_cell(nb, 1, "a = 10")  # both change cell 2...
    edit_notebook_cell(nb, 3, "c = 30")  # ...the notebook alone changes cell 4
    edit_text(py, "a = 1", "a = 11")
    edit_text(py, "print(a + b + c)", "print(a * b * c)")  # ...and the text alone cell 5
    with pytest.raises(NotebookSyncError, match="both changed cell 2"):
        sync(repo, [])
    result = sync(repo, [], prefer=prefer)[0]  # type: ignore[arg-type]
    assert result.action == "merged" and f"the {prefer}'s version was kept" in result.detail
    first = "a = 11" if prefer == "text" else "a = 10"
    assert sources(nb) == ["# Title", first, "b = 2", "c = 30", "print(a * b * c)"]
    assert f"\n{first}\n" in py.read_text() and "\nc = 30\n" in py.read_text()
    assert outputs(nb)[2], "an unchanged cell kept its output"
    assert sync(repo, [])[0].action == "unchanged"


def test_a_stale_editor_save_after_a_sync_is_a_conflict_not_a_revert(
        repo: Path, paired: tuple[Path, Path]) -> None:
    # The watch scenario, one sync call at a time: Jupyter holds the notebook...
    nb, py = paired
    in_the_editor = nb.read_bytes()
    # ...the .py is edited and synced into the notebook...
    edit_text(py, "a = 1", "a = 555")
    assert sync(repo, [py], explicit_files=False)[0].action == "notebook-updated"
    assert sources(nb)[1] == "a = 555"
    # ...then Jupyter saves its copy, which predates that sync (and has an edit of its own).
    nb.write_bytes(in_the_editor)
    edit_notebook_cell(nb, 3, "c = 30")
    stale = nb.read_bytes()
    with pytest.raises(NotebookSyncError) as info:
        sync(repo, [nb], explicit_files=False)
    assert "n.ipynb was saved from a copy older than the last sync" in info.value.message
    assert info.value.hint is not None and "--prefer" in info.value.hint
    assert "a = 555" in py.read_text(), "the .py edit survived"
    assert nb.read_bytes() == stale, "the editor's save was not overwritten"
    # Settled in favour of the text: its edit, and the editor's own edit, both stay.
    sync(repo, [], prefer="text")
    assert sources(nb) == ["# Title", "a = 555", "b = 2", "c = 3" + "0", "print(a + b + c)"]
    assert "a = 555" in py.read_text() and "c = 30" in py.read_text()


def test_a_save_between_read_and_write_is_never_overwritten(
        repo: Path, paired: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    nb, py = paired
    edit_text(py, "b = 2", "b = 20")
    saved: dict[str, bytes] = {}

    def read_then_the_editor_saves(path: Path) -> bytes | None:
        data = read_or_none(path)
        if path == nb and not saved:  # the editor saves right after sync has read
            edit_notebook_cell(nb, 3, "c = 33")
            saved["bytes"] = nb.read_bytes()
        return data

    monkeypatch.setattr(sync_module, "read_or_none", read_then_the_editor_saves)
    with pytest.raises(NotebookSyncError) as info:
        sync(repo, [])
    assert "n.ipynb was saved while the sync ran (its new content is kept)" in info.value.message
    assert info.value.hint is not None and "run the sync again" in info.value.hint
    assert nb.read_bytes() == saved["bytes"]
    monkeypatch.undo()
    assert sync(repo, [])[0].action == "merged"
    assert sources(nb)[2:4] == ["b = 20", "c = 33"]


def test_a_text_not_in_its_format_refuses_its_pair_alone(repo: Path,
                                                         paired: tuple[Path, Path]) -> None:
    nb, py = paired
    other = repo / "o.ipynb"
    make_notebook(other, BASE)
    pair(repo, [other], "ipynb,py:percent")
    py.write_text("import os\nprint(os.getcwd())\n")  # no '# %%': one cell to jupytext
    edit_text(repo / "o.py", "a = 1", "a = 7")
    before = nb.read_bytes()
    with pytest.raises(NotebookSyncError) as info:
        sync(repo, [])
    assert "n.py: not in the py:percent format (no '%%' cell markers)" in info.value.message
    assert nb.read_bytes() == before, "no cell of the notebook was lost"
    assert sources(other)[1] == "a = 7", "the other pair was synced"


def test_a_notebook_with_a_byte_order_mark_syncs(repo: Path) -> None:
    nb = repo / "bom.ipynb"
    make_notebook(nb, BASE, formats="ipynb,py:percent")
    nb.write_bytes(b"\xef\xbb\xbf" + nb.read_bytes())
    assert sync(repo, [])[0].action == "created-text"
    assert "a = 1" in (repo / "bom.py").read_text()


def test_an_nbformat_3_notebook_keeps_its_cells_and_outputs(repo: Path) -> None:
    cells = [{"cell_type": "code", "input": src, "language": "python", "prompt_number": i,
              "metadata": {}, "collapsed": False,
              "outputs": [{"output_type": "stream", "stream": "stdout", "text": f"out {i}\n"}]}
             for i, src in enumerate(BASE[1:])]
    nb = repo / "v3.ipynb"
    nb.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [
        {"cells": cells, "metadata": {}}],
        "metadata": {"name": "", "jupytext": {"formats": "ipynb,py:percent"}}}))
    sync(repo, [])
    edit_text(repo / "v3.py", "b = 2", "b = 20")
    assert sync(repo, [])[0].action == "notebook-updated"
    now = json.loads(nb.read_text())
    assert now["nbformat"] == 4
    assert sources(nb) == ["a = 1", "b = 20", "c = 3", "print(a + b + c)"]
    assert [bool(c["outputs"]) for c in now["cells"]] == [True, False, True, True]


def test_the_guarded_write_replaces_the_file_by_one_rename(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A reader (an editor, watch) must never find the file missing: no unlink of it first.
    from gitext.notebooks.pairing import guarded

    target = repo / "a.py"
    target.write_bytes(b"old")
    unlinked: list[object] = []
    real_unlink = os.unlink

    def unlink(path: object, *args: object, **kwargs: object) -> None:
        unlinked.append(path)
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", unlink)
    guarded.write_if_unchanged(repo, target, b"new", b"old")
    assert target.read_bytes() == b"new" and unlinked == []
    with pytest.raises(guarded.ChangedUnderneath):
        guarded.write_if_unchanged(repo, target, b"newer", b"old")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in repo.iterdir()) == [".git", "a.py"]  # no temp file left
