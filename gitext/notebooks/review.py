"""Two versions of notebooks, cell against cell: what ``git archives nb diff`` shows.

:func:`notebook_sides` reads both sides of every changed notebook — blobs of commits or of
the index through one ``git cat-file --batch``, the work tree from its files — and
:func:`cell_rows` lines their cells up (by id or by content, as the merge driver does)
into rows: unchanged, changed, added, deleted. The text form and the HTML page are built
from those rows (:mod:`gitext.notebooks.review_html` for the page).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gitext.errors import NotebookError, UsageError
from gitext.git.repo import Repo
from gitext.notebooks.merge import Cell, cell_sides, ids_usable
from gitext.notebooks.notebook_json import notebook_version, parse_notebook_json, v4_from_disk
from gitext.notebooks.strip import strip_bytes
from gitext.notebooks.strip_options import StripOptions
from gitext.notebooks.textconv import notebook_to_text

RowKind = Literal["same", "changed", "added", "deleted"]
WORKTREE = "work tree"
INDEX = "index"


@dataclass
class Side:
    label: str  # "HEAD", "index", "work tree", a revision
    data: bytes | None  # None: the notebook does not exist on this side


@dataclass
class NotebookPair:
    path: str
    old: Side
    new: Side


@dataclass
class Row:
    kind: RowKind
    old: Cell | None
    new: Cell | None
    outputs_changed: bool = False


def _changed_paths(repo: Repo, revs: Sequence[str], paths: Sequence[str]) -> list[str]:
    spec = list(paths) or ["*.ipynb"]
    out = repo.git("diff", "--name-only", "--no-renames", "-z", *revs, "--", *spec).stdout
    names = [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]
    return [n for n in names if n.endswith(".ipynb") or n in paths]


def notebook_sides(repo: Repo, revs: Sequence[str], paths: Sequence[str]) -> list[NotebookPair]:
    """Both sides of each notebook that differs: ``revs`` as ``git diff`` takes them (none:
    index against work tree; one: that commit against the work tree; two: commit against
    commit)."""
    if len(revs) > 2:
        raise UsageError("nb diff takes at most two revisions")
    for rev in revs:
        repo.resolve_rev(rev)  # an unknown revision is one clear line
    names = _changed_paths(repo, revs, paths)
    old_label = revs[0] if revs else INDEX
    new_label = revs[1] if len(revs) == 2 else WORKTREE
    old_keys = [f"{revs[0]}:{n}" if revs else f":{n}" for n in names]
    new_keys = [f"{revs[1]}:{n}" for n in names] if len(revs) == 2 else []
    blobs = dict(repo.cat_blobs(old_keys + new_keys))  # one git cat-file --batch
    top = repo.root
    pairs = []
    for k, name in enumerate(names):
        old = blobs.get(old_keys[k]) or None
        if new_keys:
            new = blobs.get(new_keys[k]) or None
        else:
            file = top / name
            new = file.read_bytes() if file.is_file() else None
        pairs.append(NotebookPair(name, Side(old_label, old), Side(new_label, new)))
    return pairs


def read_cells(data: bytes | None, *, name: str) -> tuple[dict[str, Any], list[Cell]]:
    """The notebook (in memory form) and its cells; an absent side has none."""
    if data is None:
        return {}, []
    nb = parse_notebook_json(data, name=name)
    if notebook_version(nb)[0] != 4:
        raise NotebookError(f"{name}: nbformat {notebook_version(nb)[0]}: only nbformat 4 "
                            "notebooks are compared cell by cell")
    v4_from_disk(nb)
    return nb, nb["cells"]


def _visible(cell: Cell) -> tuple[Any, ...]:
    """What makes two cells differ for review: type, source, metadata (ids are positional
    after stripping, counts are volatile)."""
    return (cell.get("cell_type"), cell.get("source"), cell.get("metadata"),
            cell.get("attachments"))


def _outputs_differ(a: Cell, b: Cell) -> bool:
    """Outputs count only when both sides have some: a stripped side has none."""
    oa, ob = a.get("outputs") or [], b.get("outputs") or []
    return bool(oa and ob) and json.dumps(oa, sort_keys=True) != json.dumps(ob, sort_keys=True)


def cell_rows(old: Sequence[Cell], new: Sequence[Cell]) -> list[Row]:
    by_id = ids_usable(old, new)
    matched, inserts = cell_sides(old, new, by_id)
    rows: list[Row] = []
    for i in range(len(old) + 1):
        rows += [Row("added", None, c) for c in inserts.get(i, [])]
        if i == len(old):
            break
        now = matched[i]
        if now is None:
            rows.append(Row("deleted", old[i], None))
        elif _visible(old[i]) != _visible(now):
            rows.append(Row("changed", old[i], now, _outputs_differ(old[i], now)))
        else:
            outputs = _outputs_differ(old[i], now)
            rows.append(Row("changed" if outputs else "same", old[i], now, outputs))
    return rows


def text_diff(pair: NotebookPair, opts: StripOptions) -> list[str]:
    """A unified diff of both sides' text forms, stripped as the filter stores them."""
    def text(side: Side) -> list[str]:
        if side.data is None:
            return []
        name = f"{side.label}:{pair.path}"
        try:
            shown = notebook_to_text(strip_bytes(side.data, name=name, opts=opts), name=name,
                                     color=False)
        except NotebookError:
            shown = side.data.decode("utf-8", "replace")  # a broken notebook: as it is
        return shown.splitlines(keepends=True)

    a_name = f"a/{pair.path}" if pair.old.data is not None else "/dev/null"
    b_name = f"b/{pair.path}" if pair.new.data is not None else "/dev/null"
    return list(difflib.unified_diff(text(pair.old), text(pair.new), a_name, b_name))
