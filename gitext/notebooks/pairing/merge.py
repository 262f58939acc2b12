"""The three-way decision for a pair whose two sides differ.

Against the cells (and formats) recorded at the last sync: the side that did not change
takes the other's content; ``--prefer`` settles a pair whose both sides changed by keeping
one; otherwise :func:`merge_cells` combines edits that touch different cells, and anything
else is a conflict for the user to settle.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, Literal

from gitext.notebooks.pairing.cells import CellKey

Prefer = Literal["notebook", "text"]
Hunk = tuple[int, int, tuple[CellKey, ...]]
# What decide() answers: which way to copy, merge cell by cell, or why it cannot.
Direction = Literal["to-text", "to-notebook", "merge", "no-record", "both-formats"]


def decide(base: Sequence[CellKey] | None, base_formats: Any, *, n_keys: Sequence[CellKey],
           t_keys: Sequence[CellKey], n_formats: Any, t_formats: Any,
           prefer: Prefer | None) -> Direction:
    """Which way a pair goes when its notebook (``n_*``) and text (``t_*``) differ.

    ``base`` is None when there is no record of a previous sync. ``no-record`` and
    ``both-formats`` are conflicts; ``merge`` still may be one (see :func:`merge_cells`).
    """
    nb_changed = base is None or n_keys != base or n_formats != base_formats
    # A header without formats (config pairing, or an older text) declares no change of them.
    text_changed = base is None or t_keys != base or (
        t_formats is not None and t_formats != base_formats)
    if prefer == "notebook" or (base is not None and not text_changed):
        return "to-text"
    if prefer == "text" or (base is not None and not nb_changed):
        return "to-notebook"
    if base is None:
        return "no-record"
    if n_formats != t_formats and base_formats not in (n_formats, t_formats):
        return "both-formats"
    return "merge"


def merged_formats(base_formats: Any, n_formats: Any, t_formats: Any) -> Any:
    """The paired formats after a merge: the side that changed them wins."""
    return n_formats if n_formats != base_formats else t_formats


def _hunks(base: Sequence[CellKey], side: Sequence[CellKey]) -> list[Hunk]:
    sm = difflib.SequenceMatcher(None, base, side, autojunk=False)
    return [(i1, i2, tuple(side[j1:j2])) for tag, i1, i2, j1, j2 in sm.get_opcodes()
            if tag != "equal"]


def _clash(a: Hunk, b: Hunk) -> bool:
    a1, a2, _ = a
    b1, b2, _ = b
    if a1 < b2 and b1 < a2:
        return True  # both rewrote some of the same cells
    # An insertion where the other side changed cells: the order of the two is a guess.
    return (a1 == a2 and b1 <= a1 <= b2) or (b1 == b2 and a1 <= b1 <= a2)


def merge_cells(base: Sequence[CellKey], ours: Sequence[CellKey],
                theirs: Sequence[CellKey]) -> tuple[list[CellKey] | None, list[int]]:
    """Cell-level three-way merge: (merged cells, []) or (None, 1-based base cells in conflict).

    Edits merge when they touch different cells (adjacent cells are fine); the same edit on
    both sides counts once; anything else is a conflict.
    """
    ha, hb = _hunks(base, ours), _hunks(base, theirs)
    conflicts: set[int] = set()
    kept: list[Hunk] = list(ha)
    for h in hb:
        if h in ha:
            continue
        clashing = [a for a in ha if _clash(a, h)]
        if clashing:
            for a in [*clashing, h]:
                conflicts.update(range(a[0] + 1, max(a[1], a[0] + 1) + 1))
            continue
        kept.append(h)
    if conflicts:
        return None, sorted(conflicts)
    merged = list(base)
    for i1, i2, repl in sorted(kept, key=lambda h: (h[0], h[1]), reverse=True):
        merged[i1:i2] = list(repl)
    return merged, []
