"""The cell-aware three-way merge of notebooks (pure: no git)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitext.notebooks.merge import (
    MARK_LOCAL,
    MARK_REMOTE,
    MARK_SEP,
    NotebookMergeError,
    merge_dicts,
    merge_files,
    merge_notebooks,
)
from gitext.notebooks.strip_options import StripOptions


def nb(*sources: str, ids: list[str] | None = None,
       meta: dict[str, Any] | None = None) -> dict[str, Any]:
    cells: list[dict[str, Any]] = [{"cell_type": "markdown" if s.startswith("#") else "code",
              "id": ids[i] if ids else str(i), "metadata": {}, "source": s}
             for i, s in enumerate(sources)]
    for c in cells:
        if c["cell_type"] == "code":
            c.update(outputs=[], execution_count=None)
    return {"cells": cells, "metadata": meta or {}, "nbformat": 4, "nbformat_minor": 5}


def merged(base: dict[str, Any] | None, local: dict[str, Any],
           remote: dict[str, Any]) -> tuple[list[str], list[str]]:
    result = merge_notebooks(base, local, remote)
    return [c["source"] for c in result.notebook["cells"]], result.conflicts


def test_a_deleted_cell_the_other_side_edited_is_a_conflict() -> None:
    cells, conflicts = merged(nb("a = 1", "b = 2"), nb("b = 2"), nb("a = 100", "b = 2"))
    assert cells == [MARK_LOCAL, MARK_SEP, "a = 100", MARK_REMOTE, "b = 2"]
    assert conflicts == ["cells near base cell 1: 0 local vs 1 remote"]


def test_different_cells_at_one_place_conflict_and_the_same_cell_counts_once() -> None:
    base = nb("a = 1")
    cells, conflicts = merged(base, nb("a = 1", "l = 1"), nb("a = 1", "r = 1"))
    assert conflicts == ["cells near base cell 2: 1 local vs 1 remote"]
    assert cells == ["a = 1", MARK_LOCAL, "l = 1", MARK_SEP, "r = 1", MARK_REMOTE]
    assert merged(base, nb("a = 1", "same"), nb("a = 1", "same")) == (["a = 1", "same"], [])


def test_real_ids_match_cells_even_when_their_content_changed_completely() -> None:
    base = nb("a = 1", "b = 2", ids=["k1", "k2"])
    local = nb("totally different", "b = 2", ids=["k1", "k2"])
    remote = nb("a = 1", "c = 3", "b = 2", ids=["k1", "new", "k2"])
    assert merged(base, local, remote) == (["totally different", "c = 3", "b = 2"], [])


def test_no_common_ancestor_merges_identical_cells_and_marks_the_rest() -> None:
    cells, conflicts = merged(None, nb("x = 1"), nb("y = 1"))
    assert cells == [MARK_LOCAL, "x = 1", MARK_SEP, "y = 1", MARK_REMOTE] and conflicts


def test_metadata_merges_key_by_key_and_a_clash_keeps_local() -> None:
    assert merge_dicts({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "c": 3}) == (
        {"a": 2, "c": 3}, [])
    assert merge_dicts({"a": 1}, {"a": 2}, {}) == ({"a": 2}, ["a"])


def test_the_result_is_stripped_bytes_and_bad_sides_are_named() -> None:
    def raw(n: dict[str, Any]) -> bytes:
        return json.dumps(n).encode()

    out, conflicts = merge_files(raw(nb("a = 1")), raw(nb("a = 2")), raw(nb("a = 1")),
                                 name="n.ipynb", opts=StripOptions())
    assert conflicts == [] and out.endswith(b"}\n") and b'"a = 2"' in out
    with pytest.raises(NotebookMergeError, match=r"^cannot merge n\.ipynb: the base side is "):
        merge_files(b"[1]", raw(nb("a")), raw(nb("b")), name="n.ipynb", opts=StripOptions())
    old = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}
    with pytest.raises(NotebookMergeError, match="nbformat 3"):
        merge_files(b"", raw(old), raw(nb("b")), name="n.ipynb", opts=StripOptions())


def test_one_cell_edited_on_both_sides_merges_although_positional_ids_moved() -> None:
    base = nb("# T", "a = 1\nb = 2\nc = 3", "x")
    local = nb("# new", "# T", "a = 10\nb = 2\nc = 3", "x")  # ids shift by one
    remote = nb("a = 1\nb = 2\nc = 30", "x")  # ids shift back by one
    assert merged(base, local, remote) == (["# new", "a = 10\nb = 2\nc = 30", "x"], [])


def test_a_notebook_metadata_clash_keeps_local_and_is_listed_at_the_top() -> None:
    result = merge_notebooks(nb("a", meta={"k": 1, "same": 0}), nb("a", meta={"k": 2, "same": 0}),
                             nb("a", meta={"k": 3, "same": 5}))
    assert result.notebook["metadata"] == {"k": 2, "same": 5}
    marker = result.notebook["cells"][0]
    assert marker["metadata"] == {"archives-merge": "metadata"}
    assert "- `k`: local `2`, remote `3`" in marker["source"]
    assert result.conflicts == ["notebook metadata: k"]
