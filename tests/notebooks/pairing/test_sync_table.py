"""The sync correctness table: which side was edited since the last sync → what sync does.

Each row starts from a freshly paired notebook (ipynb,py:percent) whose code cells all have
outputs, applies one edit pattern, runs sync and checks both files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitext.notebooks.pairing.pair import pair
from gitext.notebooks.pairing.state import open_state
from gitext.notebooks.pairing.sync import NotebookSyncError, sync
from tests.helpers.notebooks import (
    edit_notebook_cell,
    edit_text,
    load,
    make_notebook,
    outputs,
    sources,
)


@dataclass
class Row:
    name: str
    edit: Callable[[Path, Path], None]
    action: str
    nb_sources: list[str] | None  # expected notebook cells after sync (None: unchanged bytes)
    stale_outputs_dropped: list[int]  # code cells expected to have lost their outputs
    text_rewritten: bool


def _nothing(nb: Path, py: Path) -> None:
    return None


def _nb_edit(nb: Path, py: Path) -> None:
    edit_notebook_cell(nb, 2, "b = 20")


def _text_edit(nb: Path, py: Path) -> None:
    edit_text(py, "b = 2", "b = 20")


def _both_same_cell(nb: Path, py: Path) -> None:
    edit_notebook_cell(nb, 2, "b = 21")
    edit_text(py, "b = 2", "b = 22")


def _both_same_cell_identically(nb: Path, py: Path) -> None:
    edit_notebook_cell(nb, 2, "b = 20")
    edit_text(py, "b = 2", "b = 20")


def _both_different_cells(nb: Path, py: Path) -> None:
    edit_notebook_cell(nb, 1, "a = 10")
    edit_text(py, "c = 3", "c = 30")


def _both_adjacent_cells(nb: Path, py: Path) -> None:
    edit_notebook_cell(nb, 2, "b = 20")
    edit_text(py, "c = 3", "c = 30")


def _text_inserts_cell_nb_edits_other(nb: Path, py: Path) -> None:
    edit_notebook_cell(nb, 1, "a = 10")
    edit_text(py, "print(a + b + c)", "d = 4\n\n# %%\nprint(a + b + c + d)")


def _text_deletes_cell(nb: Path, py: Path) -> None:
    edit_text(py, "# %%\nc = 3\n\n", "")


def _outputs_only(nb: Path, py: Path) -> None:
    doc = load(nb)
    doc["cells"][1]["outputs"][0]["text"] = ["new output\n"]
    doc["cells"][1]["execution_count"] = 99
    nb.write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _text_deleted(nb: Path, py: Path) -> None:
    py.unlink()


def _notebook_deleted(nb: Path, py: Path) -> None:
    nb.unlink()


BASE = ["# Title", "a = 1", "b = 2", "c = 3", "print(a + b + c)"]

ROWS = [
    Row("neither side edited", _nothing, "unchanged", None, [], False),
    Row("notebook edited", _nb_edit, "text-updated", None, [], True),
    Row("text edited", _text_edit, "notebook-updated",
        ["# Title", "a = 1", "b = 20", "c = 3", "print(a + b + c)"], [2], False),
    Row("both edited, same cell", _both_same_cell, "conflict", None, [], False),
    Row("both edited, same cell, same edit", _both_same_cell_identically, "unchanged", None,
        [], False),
    Row("both edited, different cells", _both_different_cells, "merged",
        ["# Title", "a = 10", "b = 2", "c = 30", "print(a + b + c)"], [3], True),
    Row("both edited, adjacent cells", _both_adjacent_cells, "merged",
        ["# Title", "a = 1", "b = 20", "c = 30", "print(a + b + c)"], [3], True),
    Row("text adds a cell, notebook edits another", _text_inserts_cell_nb_edits_other,
        "merged", ["# Title", "a = 10", "b = 2", "c = 3", "d = 4", "print(a + b + c + d)"],
        [4, 5], True),
    Row("text deletes a cell", _text_deletes_cell, "notebook-updated",
        ["# Title", "a = 1", "b = 2", "print(a + b + c)"], [], False),
    Row("notebook re-run (outputs only)", _outputs_only, "unchanged", None, [], False),
    Row("text file deleted", _text_deleted, "created-text", None, [], True),
    Row("notebook deleted", _notebook_deleted, "created-notebook", BASE, [1, 2, 3, 4], False),
]


@pytest.fixture
def paired(repo: Path) -> tuple[Path, Path]:
    nb = repo / "nbs" / "analysis.ipynb"
    make_notebook(nb, BASE)
    written = pair(repo, [nb], "ipynb,py:percent")
    py = nb.with_suffix(".py")
    assert py in written
    return nb, py


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_sync_decides_by_content_per_the_table(row: Row, repo: Path,
                                               paired: tuple[Path, Path]) -> None:
    nb, py = paired
    original_text = py.read_bytes()
    original_outputs = outputs(nb)
    row.edit(nb, py)
    nb_before = nb.read_bytes() if nb.exists() else None
    py_before = py.read_bytes() if py.exists() else None
    py_stat = py.stat() if py.exists() else None

    if row.action == "conflict":
        with pytest.raises(NotebookSyncError) as info:
            sync(repo, [])
        assert "both changed cell 3" in info.value.message
        assert info.value.hint is not None and "--prefer" in info.value.hint
        assert nb.read_bytes() == nb_before and py.read_bytes() == py_before
        return

    results = sync(repo, [])
    assert [r.action for r in results] == [row.action]

    # The notebook: its cells, and which code cells lost their (now stale) outputs.
    if row.nb_sources is None:
        assert nb.read_bytes() == nb_before
    else:
        assert sources(nb) == row.nb_sources
        for i, cell_outputs in enumerate(outputs(nb)):
            kind = load(nb)["cells"][i]["cell_type"]
            if kind != "code":
                continue
            if i in row.stale_outputs_dropped:
                assert cell_outputs == [], f"cell {i} kept a stale output"
            else:
                assert cell_outputs, f"cell {i} lost its output"
                assert cell_outputs in original_outputs

    # The text: rewritten only when the notebook side brought something new.
    if row.text_rewritten:
        assert py.read_bytes() != py_before
    else:
        assert py.read_bytes() == py_before
        assert py_stat is not None and py.stat().st_mtime_ns == py_stat.st_mtime_ns
    if row.action == "created-text":
        assert py.read_bytes() == original_text

    # Afterwards both sides agree, and a second sync touches nothing.
    again = sync(repo, [])
    assert [r.action for r in again] == ["unchanged"]
    assert again[0].written == []


def test_a_refused_pair_is_settled_with_prefer(repo: Path, paired: tuple[Path, Path]) -> None:
    nb, py = paired
    _both_same_cell(nb, py)
    with pytest.raises(NotebookSyncError):
        sync(repo, [])
    results = sync(repo, [], prefer="text")
    assert results[0].action == "merged"
    assert sources(nb)[2] == "b = 22"
    assert sync(repo, [])[0].action == "unchanged"


def test_a_conflict_in_one_pair_does_not_stop_the_others(repo: Path,
                                                         paired: tuple[Path, Path]) -> None:
    nb, py = paired
    other = repo / "nbs" / "other.ipynb"
    make_notebook(other, BASE)
    pair(repo, [other], "ipynb,py:percent")
    _both_same_cell(nb, py)
    edit_text(other.with_suffix(".py"), "a = 1", "a = 5")
    with pytest.raises(NotebookSyncError) as info:
        sync(repo, [])
    assert {r.action for r in info.value.results} == {"conflict", "notebook-updated"}
    assert sources(other)[1] == "a = 5"


def test_first_sync_of_two_differing_files_refuses(repo: Path) -> None:
    nb = repo / "n.ipynb"
    make_notebook(nb, BASE, formats="ipynb,py:percent")
    py = repo / "n.py"
    py.write_text("# %%\nsomething = 'else'\n", encoding="utf-8")
    with pytest.raises(NotebookSyncError) as info:
        sync(repo, [])
    assert "no record of a previous sync" in info.value.message
    assert py.read_text() == "# %%\nsomething = 'else'\n"


def test_dry_run_reports_and_writes_nothing(repo: Path, paired: tuple[Path, Path]) -> None:
    nb, py = paired
    _text_edit(nb, py)
    before = nb.read_bytes()
    state = open_state(repo)
    state_before = state.path.read_bytes()
    results = sync(repo, [], dry_run=True)
    assert results[0].action == "notebook-updated" and results[0].written == [nb]
    assert nb.read_bytes() == before
    assert state.path.read_bytes() == state_before
