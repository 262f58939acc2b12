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
Side = Literal["ours", "theirs"]
Hunk = tuple[int, int, tuple[CellKey, ...]]
# What decide() answers: which way to copy, merge cell by cell, or why it cannot.
Direction = Literal["to-text", "to-notebook", "merge", "no-record", "both-formats"]


def decide(base: Sequence[CellKey] | None, base_formats: Any, *, n_keys: Sequence[CellKey],
           t_keys: Sequence[CellKey], n_formats: Any, t_formats: Any,
           prefer: Prefer | None) -> Direction:
    """Which way a pair goes when its notebook (``n_*``) and text (``t_*``) differ.

    ``base`` is None when there is no record of a previous sync. ``no-record`` and
    ``both-formats`` are conflicts; ``merge`` still may be one (see :func:`merge_cells`).
    ``prefer`` takes a side wholly only without a record; otherwise a pair whose both sides
    changed is merged and ``prefer`` settles only the cells both changed.
    """
    nb_changed = base is None or n_keys != base or n_formats != base_formats
    # A header without formats (config pairing, or an older text) declares no change of them.
    text_changed = base is None or t_keys != base or (
        t_formats is not None and t_formats != base_formats)
    if base is None:
        return {"notebook": "to-text", "text": "to-notebook"}.get(  # type: ignore[return-value]
            prefer or "", "no-record")
    if not text_changed:
        return "to-text"
    if not nb_changed:
        return "to-notebook"
    if base_formats not in (n_formats, t_formats) and n_formats != t_formats and not prefer:
        return "both-formats"
    return "merge"


def merged_formats(base_formats: Any, n_formats: Any, t_formats: Any,
                   prefer: Prefer | None = None) -> Any:
    """The paired formats after a merge: the side that changed them wins (``prefer`` when
    both did)."""
    if prefer == "text" and base_formats not in (n_formats, t_formats):
        return t_formats
    return n_formats if n_formats != base_formats else t_formats


def undoes(replaced: Sequence[CellKey], base: Sequence[CellKey],
           side: Sequence[CellKey]) -> bool:
    """Does ``side`` undo some of what the last sync wrote into it (``replaced`` → ``base``)?
    True when, for some change the sync made, none of the cells it put there are in
    ``side`` and the cells it replaced are back: a save from a copy older than the sync."""
    have = set(side)
    for i1, i2, repl in _hunks(replaced, base):
        put, gone = set(repl) - set(replaced), set(replaced[i1:i2]) - set(base)
        if (put or gone) and not put & have and gone <= have:
            return True
    return False


def _hunks(base: Sequence[CellKey], side: Sequence[CellKey]) -> list[Hunk]:
    """The changes from ``base`` to ``side``. A run of n cells replaced by n cells is n
    one-cell changes (difflib groups neighbours): each clashes only where the other side
    changed that very cell."""
    sm = difflib.SequenceMatcher(None, base, side, autojunk=False)
    out: list[Hunk] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            out.extend((i1 + k, i1 + k + 1, (side[j1 + k],)) for k in range(i2 - i1))
        elif tag != "equal":
            out.append((i1, i2, tuple(side[j1:j2])))
    return out


def _clash(a: Hunk, b: Hunk) -> bool:
    a1, a2, _ = a
    b1, b2, _ = b
    if a1 < b2 and b1 < a2:
        return True  # both rewrote some of the same cells
    # An insertion where the other side changed cells: the order of the two is a guess.
    return (a1 == a2 and b1 <= a1 <= b2) or (b1 == b2 and a1 <= b1 <= a2)


def merge_cells(base: Sequence[CellKey], ours: Sequence[CellKey],
                theirs: Sequence[CellKey], *, prefer: Side | None = None,
                ) -> tuple[list[CellKey] | None, list[int]]:
    """Cell-level three-way merge: (merged cells, []) or (None, 1-based base cells in conflict).

    Edits merge when they touch different cells (adjacent cells are fine); the same edit on
    both sides counts once. Edits that clash are a conflict, unless ``prefer`` names the
    side whose edit wins there ("ours" or "theirs"); then the list holds the base cells it
    settled (and the merged cells are given).
    """
    ha, hb = _hunks(base, ours), _hunks(base, theirs)
    conflicts: set[int] = set()
    kept: list[Hunk] = list(ha)
    for h in hb:
        if h in ha:
            continue
        clashing = [a for a in ha if _clash(a, h)]
        if not clashing:
            kept.append(h)
            continue
        for a in [*clashing, h]:
            conflicts.update(range(a[0] + 1, max(a[1], a[0] + 1) + 1))
        if prefer == "theirs":
            kept = [k for k in kept if k not in clashing]
            kept.append(h)
    if conflicts and prefer is None:
        return None, sorted(conflicts)
    merged = list(base)
    for i1, i2, repl in sorted(kept, key=lambda h: (h[0], h[1]), reverse=True):
        merged[i1:i2] = list(repl)
    return merged, sorted(conflicts)
