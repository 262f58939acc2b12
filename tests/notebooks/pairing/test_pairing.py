"""Pair discovery, formats from configuration or metadata, header stability, the state file."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext.formats
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitext.errors import NotebookError, UsageError
from gitext.fs.atomic import atomic_write
from gitext.git.repo import Repo
from gitext.notebooks.pairing.cells import stable_header
from gitext.notebooks.pairing.formats import TEXT_EXTENSIONS
from gitext.notebooks.pairing.merge import merge_cells
from gitext.notebooks.pairing.pair import pair
from gitext.notebooks.pairing.state import open_state
from gitext.notebooks.pairing.sync import sync
from tests.helpers.notebooks import BASE_SOURCES, edit_text, load, make_notebook, sources


def test_text_extensions_match_what_jupytext_can_pair() -> None:
    assert set(jupytext.formats.NOTEBOOK_EXTENSIONS) - {".ipynb"} == TEXT_EXTENSIONS


def test_pair_with_formats_writes_them_into_the_notebook_and_the_text_header(
        repo: Path) -> None:
    nb = repo / "notebooks" / "a.ipynb"
    make_notebook(nb)
    written = pair(repo, [repo / "notebooks"], "ipynb,py:percent")
    py = repo / "notebooks" / "a.py"
    assert written == [nb, py]
    assert load(nb)["metadata"]["jupytext"]["formats"] == "ipynb,py:percent"
    text = py.read_text()
    assert "formats: ipynb,py:percent" in text
    assert "# %%\na = 1\n" in text
    # pairing again changes nothing
    assert pair(repo, [nb], "ipynb,py:percent") == []


def test_the_text_header_carries_no_jupytext_version(repo: Path) -> None:
    nb = repo / "a.ipynb"
    make_notebook(nb)
    pair(repo, [nb], "ipynb,md")
    text = (repo / "a.md").read_text()
    assert "jupytext_version" not in text
    assert "format_name: markdown" in text


def test_a_header_written_by_another_jupytext_version_causes_no_rewrite(repo: Path) -> None:
    nb = repo / "a.ipynb"
    make_notebook(nb)
    pair(repo, [nb], "ipynb,py:percent")
    py = repo / "a.py"
    # A teammate's jupytext wrote its version line; the cells are the same.
    old_line = "format_version: '1.3'\n"
    py.write_text(py.read_text().replace(
        old_line, old_line + "#       jupytext_version: 1.14.0\n"))
    before = py.read_bytes()
    assert [r.action for r in sync(repo, [])] == ["unchanged"]
    assert py.read_bytes() == before


def test_stable_header_drops_only_the_version_line() -> None:
    text = ("# ---\n# jupyter:\n#   jupytext:\n#     text_representation:\n"
            "#       extension: .py\n#       jupytext_version: 1.16.1\n# ---\n\n"
            "# %%\njupytext_version = 3\n")
    out = stable_header(text)
    assert "jupytext_version: 1.16.1" not in out
    assert out.endswith("# %%\njupytext_version = 3\n")
    assert stable_header("x = 1\n") == "x = 1\n"


@pytest.mark.parametrize("config_name, content", [
    ("jupytext.toml", 'formats = "ipynb,py:percent"\n'),
    (".jupytext.toml", 'formats = "ipynb,py:percent"\n'),
    ("pyproject.toml", '[project]\nname = "x"\n\n[tool.jupytext]\nformats = "ipynb,py:percent"\n'),
])
def test_formats_come_from_the_configuration_file(repo: Path, config_name: str,
                                                  content: str) -> None:
    (repo / config_name).write_text(content)
    nb = repo / "sub" / "a.ipynb"
    make_notebook(nb)
    assert pair(repo, [nb]) == [repo / "sub" / "a.py"]
    assert "jupytext" not in load(nb)["metadata"]  # config pairing leaves metadata alone
    edit_text(repo / "sub" / "a.py", "a = 1", "a = 2")
    assert sync(repo, [])[0].action == "notebook-updated"
    assert sources(nb)[1] == "a = 2"


def test_a_pyproject_without_a_jupytext_table_pairs_nothing(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[project]\nname = "jupytext-user"\n')
    make_notebook(repo / "a.ipynb")
    assert sync(repo, []) == []
    with pytest.raises(NotebookError, match="no jupytext formats apply"):
        pair(repo, [repo / "a.ipynb"])


def test_prefix_formats_pair_across_folders(repo: Path) -> None:
    (repo / "jupytext.toml").write_text('formats = "notebooks///ipynb,scripts///py:percent"\n')
    nb = repo / "notebooks" / "a.ipynb"
    make_notebook(nb)
    assert pair(repo, [nb]) == [repo / "scripts" / "a.py"]


def test_a_plain_module_found_in_a_folder_never_grows_a_notebook(repo: Path) -> None:
    (repo / "jupytext.toml").write_text('formats = "ipynb,py:percent"\n')
    (repo / "lib.py").write_text("def f():\n    return 1\n")
    assert sync(repo, []) == []
    assert not (repo / "lib.ipynb").exists()


def test_a_text_notebook_alone_builds_its_notebook(repo: Path) -> None:
    nb = repo / "a.ipynb"
    make_notebook(nb, formats="ipynb,py:percent")
    sync(repo, [])
    nb.unlink()
    state = open_state(repo)
    state.path.unlink()  # as in a fresh clone: no record, only the text
    results = sync(repo, [])
    assert [r.action for r in results] == ["created-notebook"]
    assert sources(nb) == BASE_SOURCES
    assert load(nb)["metadata"]["jupytext"] == {"formats": "ipynb,py:percent"}


def test_the_state_lives_in_the_common_git_dir(repo: Path) -> None:
    make_notebook(repo / "a.ipynb")
    pair(repo, [repo / "a.ipynb"], "ipynb,py:percent")
    state = open_state(repo)
    assert state.path.parent == Repo.discover(repo).archives_dir / "nbsync"
    doc = json.loads(state.path.read_text())
    assert doc["version"] == 1
    (entry,) = doc["pairs"].values()
    assert entry["cells"][1] == ["code", "a = 1"]


def test_a_damaged_state_file_only_costs_the_first_sync_question(repo: Path) -> None:
    make_notebook(repo / "a.ipynb")
    pair(repo, [repo / "a.ipynb"], "ipynb,py:percent")
    open_state(repo).path.write_text("{not json")
    assert sync(repo, [])[0].action == "unchanged"


def test_a_notebook_that_is_not_json_is_named_in_the_error(repo: Path) -> None:
    (repo / "jupytext.toml").write_text('formats = "ipynb,py:percent"\n')
    make_notebook(repo / "a.ipynb")
    sync(repo, [])
    (repo / "a.ipynb").write_text("{oops")
    with pytest.raises(NotebookError, match=r"a\.ipynb: not a notebook") as info:
        sync(repo, [])
    assert info.value.hint


def test_formats_without_ipynb_are_refused(repo: Path) -> None:
    make_notebook(repo / "a.ipynb")
    with pytest.raises(NotebookError, match="do not include ipynb"):
        pair(repo, [repo / "a.ipynb"], "py:percent,md")


def test_paths_outside_the_work_tree_are_refused(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="outside the work tree"):
        sync(repo, [tmp_path])


def test_writes_are_atomic_and_keep_the_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


# ---------------------------------------------------------------- the cell-level merge

cells = st.lists(st.sampled_from([("code", s) for s in "abcdefgh"]), max_size=8)


@given(cells, cells)
def test_a_merge_with_one_side_unchanged_takes_the_other(base: list[tuple[str, str]],
                                                         other: list[tuple[str, str]]) -> None:
    assert merge_cells(base, base, other) == (other, [])
    assert merge_cells(base, other, base) == (other, [])


@given(cells, cells)
def test_the_same_edit_on_both_sides_merges_to_it(base: list[tuple[str, str]],
                                                  other: list[tuple[str, str]]) -> None:
    assert merge_cells(base, other, other) == (other, [])


def test_edits_to_different_cells_merge_and_to_the_same_cell_conflict() -> None:
    base = [("code", "a"), ("code", "b"), ("code", "c")]
    ours = [("code", "A"), ("code", "b"), ("code", "c")]
    theirs = [("code", "a"), ("code", "b"), ("code", "C")]
    assert merge_cells(base, ours, theirs) == (
        [("code", "A"), ("code", "b"), ("code", "C")], [])
    merged, clash = merge_cells(base, ours, [("code", "X"), ("code", "b"), ("code", "c")])
    assert merged is None and clash == [1]


def test_an_insertion_next_to_the_other_sides_edit_is_a_conflict() -> None:
    base = [("code", "a"), ("code", "b")]
    ours = [("code", "A"), ("code", "b")]
    theirs = [("code", "new"), ("code", "a"), ("code", "b")]
    merged, _ = merge_cells(base, ours, theirs)
    assert merged is None


def test_pairing_a_plain_script_builds_its_notebook_and_gives_it_a_header(repo: Path) -> None:
    script = repo / "t.py"
    script.write_text("# %%\nx = 1\n\n# %% [markdown]\n# hello\n")
    written = pair(repo, [script], "ipynb,py:percent")
    assert written == [repo / "t.ipynb", script]
    assert sources(repo / "t.ipynb") == ["x = 1", "hello"]
    assert "formats: ipynb,py:percent" in script.read_text()
    assert script.read_text().endswith("# %%\nx = 1\n\n# %% [markdown]\n# hello\n")
    assert sync(repo, [])[0].action == "unchanged"


def test_a_notebook_rebuilt_from_the_same_text_is_byte_identical(repo: Path) -> None:
    nb = repo / "a.ipynb"
    make_notebook(nb, formats="ipynb,py:percent")
    sync(repo, [])
    nb.unlink()
    sync(repo, [])
    first = nb.read_bytes()
    nb.unlink()
    sync(repo, [])
    assert nb.read_bytes() == first
