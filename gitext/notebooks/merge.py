"""A cell-aware three-way merge of nbformat 4 notebooks (git's ``merge=archives-nb``).

Cells of each side are matched to the base's: by cell id when every side has real ids
(unique, and not the positional ``"0"``, ``"1"``, … the stripper writes), otherwise by
content — identical cells first, then, in what is left between them, cells of the same
type whose sources are alike (a modified cell). Against that matching, per base cell: a
change on one side wins; the same change on both counts once; a cell both sides changed
is merged field by field (its source line by line, with the pairing code's
:func:`~gitext.notebooks.pairing.merge.merge_cells`; its metadata key by key); inserts at
different places all go in. Notebook metadata is merged key by key.

What cannot merge becomes a *conflict region* in the result, which stays a valid
notebook: a markdown cell ``<<<<<<< local``, the local cells, ``=======``, the remote
cells, ``>>>>>>> remote`` (nbdime's inline markers, as whole cells). A notebook metadata
key changed differently on both sides keeps the local value and is listed in such a
region at the top.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gitext.codec.shellquote import shell_arg
from gitext.errors import NotebookError
from gitext.notebooks.notebook_json import (
    NotebookFormatError,
    dump_v4,
    notebook_version,
    parse_notebook_json,
    v4_from_disk,
    v4_to_disk,
)
from gitext.notebooks.pairing.cells import CellKey
from gitext.notebooks.pairing.merge import merge_cells
from gitext.notebooks.strip import strip_bytes
from gitext.notebooks.strip_options import StripOptions

Cell = dict[str, Any]
MARK_LOCAL, MARK_SEP, MARK_REMOTE = "<<<<<<< local", "=======", ">>>>>>> remote"
_SIMILAR = 0.5  # difflib ratio above which an unmatched cell counts as the same, edited


class NotebookMergeError(NotebookError):
    """A side of a merge that is not an nbformat 4 notebook: nothing is merged."""


@dataclass
class MergeResult:
    notebook: dict[str, Any]
    conflicts: list[str] = field(default_factory=list)  # one line per conflict region


@dataclass
class _Side:
    """One side against the base: base index -> its cell (None: deleted); inserts by anchor
    (the base index they stand before; ``len(base)`` is the end)."""


    cells: dict[int, Cell | None]
    inserts: dict[int, list[Cell]]


def v4_cells(nb: dict[str, Any], *, side: str) -> list[Cell]:
    """The cells of an nbformat 4 notebook, read as in memory (sources joined)."""
    if notebook_version(nb)[0] != 4:
        raise NotebookFormatError(f"the {side} side is nbformat {notebook_version(nb)[0]}: "
                                  "only nbformat 4 notebooks are merged cell by cell")
    v4_from_disk(nb)
    cells: list[Cell] = nb["cells"]
    return cells


def ids_usable(*sides: Sequence[Cell]) -> bool:
    for cells in sides:
        ids = [c.get("id") for c in cells]
        if not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
            return False
        if cells and ids == [str(i) for i in range(len(ids))]:
            return False
    return any(sides)


def _content_key(cell: Cell) -> str:
    return json.dumps({k: v for k, v in cell.items() if k != "id"}, sort_keys=True)


def _similar(a: Cell, b: Cell) -> bool:
    if a.get("cell_type") != b.get("cell_type"):
        return False
    sa, sb = str(a.get("source", "")), str(b.get("source", ""))
    if len(sa) + len(sb) > 4000:  # long cells: compare lines, not characters
        sm = difflib.SequenceMatcher(None, sa.splitlines(), sb.splitlines(), autojunk=False)
    else:
        sm = difflib.SequenceMatcher(None, sa, sb, autojunk=False)
    return sm.real_quick_ratio() >= _SIMILAR and sm.quick_ratio() >= _SIMILAR \
        and sm.ratio() >= _SIMILAR


def _pair_similar(base: Sequence[Cell], side: Sequence[Cell], stretch: tuple[int, int, int, int],
                  match: dict[int, int]) -> None:
    """Within a changed stretch, pair base and side cells that are alike, keeping order."""
    i1, i2, j, j2 = stretch
    for i in range(i1, i2):
        for k in range(j, j2):
            if _similar(base[i], side[k]):
                match[i] = k
                j = k + 1
                break


def _match(base: Sequence[Cell], side: Sequence[Cell], by_id: bool) -> dict[int, int]:
    keys_b = [c["id"] if by_id else _content_key(c) for c in base]
    keys_s = [c["id"] if by_id else _content_key(c) for c in side]
    sm = difflib.SequenceMatcher(None, keys_b, keys_s, autojunk=False)
    match: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            match.update({i1 + n: j1 + n for n in range(i2 - i1)})
        elif tag == "replace" and not by_id:
            _pair_similar(base, side, (i1, i2, j1, j2), match)
    return match


def _side(base: Sequence[Cell], side: Sequence[Cell], by_id: bool) -> _Side:
    """An inserted cell stands right after the base cell matched before it, so a side that
    replaced cells has its new ones where the old ones began (and a replacement on both
    sides meets at one place, as a conflict)."""
    match = _match(base, side, by_id)
    back = {j: i for i, j in match.items()}
    inserts: dict[int, list[Cell]] = {}
    anchor = 0
    for j, cell in enumerate(side):
        if j in back:
            anchor = back[j] + 1
        else:
            inserts.setdefault(anchor, []).append(cell)
    return _Side({i: (side[match[i]] if i in match else None) for i in range(len(base))},
                 inserts)


def cell_sides(base: Sequence[Cell], side: Sequence[Cell], by_id: bool,
               ) -> tuple[dict[int, Cell | None], dict[int, list[Cell]]]:
    """``side`` against ``base``: each base cell's counterpart (None: deleted) and the
    inserted cells by the base index they stand before."""
    found = _side(base, side, by_id)
    return found.cells, found.inserts


def _same(a: Cell | None, b: Cell | None, by_id: bool) -> bool:
    if a is None or b is None:
        return a is b
    return a == b if by_id else _content_key(a) == _content_key(b)


def merge_dicts(base: dict[str, Any], local: dict[str, Any], remote: dict[str, Any],
                ) -> tuple[dict[str, Any], list[str]]:
    """Key-wise three-way merge: (merged, keys changed differently on both sides).

    A conflicting key keeps the local value (or its absence)."""
    merged: dict[str, Any] = {}
    clashes: list[str] = []
    for key in [*local, *(k for k in remote if k not in local),
                *(k for k in base if k not in local and k not in remote)]:
        b, lo, re = base.get(key, _ABSENT), local.get(key, _ABSENT), remote.get(key, _ABSENT)
        if re in (lo, b):
            value = lo
        elif lo == b:
            value = re
        else:
            value = lo
            clashes.append(key)
        if value is not _ABSENT:
            merged[key] = value
    return merged, clashes


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


def _merge_source(base: str, local: str, remote: str) -> str | None:
    """Line by line, by the pairing code's merge (its keys are pairs: a tag and a line)."""
    def keys(text: str) -> list[CellKey]:
        return [("line", line) for line in text.splitlines(True)]

    lines, conflicts = merge_cells(keys(base), keys(local), keys(remote))
    if conflicts or lines is None:
        return None
    return "".join(line for _, line in lines)


def merge_cell(base: Cell, local: Cell, remote: Cell) -> Cell | None:
    """Both sides changed one cell: merged field by field, or None if they clash."""
    if not (base.get("cell_type") == local.get("cell_type") == remote.get("cell_type")):
        return None
    rest = ("source", "metadata", "id")  # ids: matched already (or positional, re-made)
    merged, clashes = merge_dicts({k: v for k, v in base.items() if k not in rest},
                                  {k: v for k, v in local.items() if k not in rest},
                                  {k: v for k, v in remote.items() if k not in rest})
    meta, meta_clashes = merge_dicts(*(_dict(c.get("metadata")) for c in (base, local, remote)))
    source = _merge_source(*(str(c.get("source", "")) for c in (base, local, remote)))
    if clashes or meta_clashes or source is None:
        return None
    merged["metadata"] = meta
    merged["source"] = source
    if "id" in local:
        merged["id"] = local["id"]
    return merged


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _marker(text: str, role: str) -> Cell:
    return {"cell_type": "markdown", "id": "", "metadata": {"archives-merge": role},
            "source": text}


class _Builder:
    def __init__(self) -> None:
        self.cells: list[Cell] = []
        self.local: list[Cell] = []
        self.remote: list[Cell] = []
        self.conflicts: list[str] = []
        self._first = 0  # 1-based base cell where the open conflict starts

    def take(self, cells: Sequence[Cell]) -> None:
        self.close()
        self.cells.extend(copy.deepcopy(list(cells)))

    def clash(self, local: Sequence[Cell], remote: Sequence[Cell], where: int) -> None:
        if not (self.local or self.remote):
            self._first = where
        self.local.extend(copy.deepcopy(list(local)))
        self.remote.extend(copy.deepcopy(list(remote)))

    def close(self) -> None:
        if not (self.local or self.remote):
            return
        self.cells += [_marker(MARK_LOCAL, "local"), *self.local, _marker(MARK_SEP, "separator"),
                       *self.remote, _marker(MARK_REMOTE, "remote")]
        self.conflicts.append(f"cells near base cell {self._first}: "
                              f"{len(self.local)} local vs {len(self.remote)} remote")
        self.local, self.remote = [], []


def _inserts(out: _Builder, lo: list[Cell], re: list[Cell], where: int, by_id: bool) -> None:
    if not lo or not re:
        out.take(lo or re)
    elif len(lo) == len(re) and all(_same(a, b, by_id) for a, b in zip(lo, re, strict=True)):
        out.take(lo)
    else:
        out.clash(lo, re, where)


def _one_cell(out: _Builder, b: Cell, lo: Cell | None, re: Cell | None, *, where: int,
              by_id: bool) -> None:
    if _same(lo, b, by_id) or _same(lo, re, by_id):
        out.take([re] if re is not None else [])
    elif _same(re, b, by_id):
        out.take([lo] if lo is not None else [])
    elif lo is not None and re is not None and (merged := merge_cell(b, lo, re)) is not None:
        out.take([merged])
    else:
        out.clash([lo] if lo is not None else [], [re] if re is not None else [], where)


def merge_notebooks(base: dict[str, Any] | None, local: dict[str, Any],
                    remote: dict[str, Any]) -> MergeResult:
    """Merge parsed nbformat 4 notebooks (``base`` None: no common ancestor)."""
    lcells, rcells = v4_cells(local, side="local"), v4_cells(remote, side="remote")
    bcells = v4_cells(base, side="base") if base is not None else []
    by_id = ids_usable(bcells, lcells, rcells)
    ls, rs = _side(bcells, lcells, by_id), _side(bcells, rcells, by_id)
    out = _Builder()
    for i in range(len(bcells) + 1):
        _inserts(out, ls.inserts.get(i, []), rs.inserts.get(i, []), i + 1, by_id)
        if i < len(bcells):
            _one_cell(out, bcells[i], ls.cells[i], rs.cells[i], where=i + 1, by_id=by_id)
    out.close()
    meta, clashes = merge_dicts(_dict((base or {}).get("metadata")), _dict(local.get("metadata")),
                                _dict(remote.get("metadata")))
    top = {k: v for k, v in local.items() if k not in ("cells", "metadata")}
    top["nbformat_minor"] = max(local.get("nbformat_minor", 0), remote.get("nbformat_minor", 0))
    cells = out.cells
    conflicts = list(out.conflicts)
    if clashes:
        cells = [_metadata_conflict(clashes, local, remote), *cells]
        conflicts.insert(0, "notebook metadata: " + ", ".join(clashes))
    return MergeResult({**top, "metadata": meta, "cells": cells}, conflicts)


def _metadata_conflict(keys: Sequence[str], local: dict[str, Any],
                       remote: dict[str, Any]) -> Cell:
    def shown(nb: dict[str, Any], key: str) -> str:
        value = _dict(nb.get("metadata")).get(key, _ABSENT)
        return "(absent)" if value is _ABSENT else json.dumps(value, sort_keys=True)

    lines = [MARK_LOCAL + " notebook metadata (the local values are kept)", ""]
    for key in keys:
        lines += [f"- `{key}`: local `{shown(local, key)}`, remote `{shown(remote, key)}`"]
    lines += ["", MARK_REMOTE + " (delete this cell once settled)"]
    return _marker("\n".join(lines), "metadata")


def _read_side(data: bytes, *, name: str, side: str, opts: StripOptions) -> dict[str, Any]:
    try:
        return parse_notebook_json(strip_bytes(data, name=name, opts=opts), name=name)
    except NotebookError as exc:
        raise NotebookMergeError(
            f"cannot merge {name}: the {side} side is not a notebook we can merge "
            f"({exc.message.removeprefix(name + ': ')}); the file keeps the local version",
            hint=f"settle it by hand, e.g. 'git checkout --theirs -- {shell_arg(name)}' or "
                 f"'--ours', then 'git add -- {shell_arg(name)}'") from None


def merge_files(base: bytes, local: bytes, remote: bytes, *, name: str,
                opts: StripOptions) -> tuple[bytes, list[str]]:
    """The merged notebook's bytes, stripped as the clean filter writes them, and the
    conflicts left in it (none: a clean merge). ``base`` empty: no common ancestor.

    Raises :class:`NotebookMergeError` (naming ``name`` and the side) when a side is not an
    nbformat 4 notebook."""
    sides = {"local": local, "remote": remote, "base": base}
    parsed = {side: _read_side(data, name=name, side=side, opts=opts)
              for side, data in sides.items() if data.strip() or side != "base"}
    try:
        result = merge_notebooks(parsed.get("base"), parsed["local"], parsed["remote"])
    except NotebookFormatError as exc:
        raise NotebookMergeError(f"cannot merge {name}: {exc.message}; the file keeps the "
                                 "local version",
                                 hint="settle it by hand, then 'git add' it") from None
    v4_to_disk(result.notebook)
    merged = dump_v4(result.notebook)
    return strip_bytes(merged, name=name, opts=opts), result.conflicts
