"""Printing snapshots and comparisons: aligned tables, markdown, JSON, and the precision
numbers are shown with."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

from gitext.pipeline.metrics.diff import DiffRow
from gitext.pipeline.metrics.snapshot import MISSING, Snapshot

DEFAULT_PRECISION = 5


def format_value(value: Any, precision: int | None = DEFAULT_PRECISION) -> str:
    """A value for a table: floats rounded to ``precision`` decimals (None: as read),
    booleans and null in JSON spelling, ``-`` when absent."""
    if value is MISSING:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value, precision)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "), default=str)
    return str(value)


def _format_float(value: float, precision: int | None) -> str:
    if not math.isfinite(value):
        return str(value)
    rounded = value if precision is None else round(value, precision)
    if rounded == 0:
        rounded = 0.0  # no "-0.0"
    text = repr(rounded)
    return text.removesuffix(".0") if "e" not in text and text.endswith(".0") else text


def format_change(change: int | float | None, precision: int | None = DEFAULT_PRECISION,
                  ) -> str:
    """``+0.68``, ``-2``, ``0``; ``-`` when there is no numeric change."""
    if change is None:
        return "-"
    text = format_value(change, precision)
    if text in ("0", "0.0"):
        return "0"
    return text if text.startswith("-") else f"+{text}"


def _align(header: Sequence[str], rows: Sequence[Sequence[str]],
           right: Sequence[bool]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = []
    for cells in (header, *rows):
        parts = [c.rjust(w) if r else c.ljust(w)
                 for c, w, r in zip(cells, widths, right, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]],
              right: Sequence[bool]) -> str:
    """A GitHub-flavoured markdown table, padded so the source reads as a table too."""
    body = [[c.replace("|", "\\|") for c in r] for r in rows]
    widths = [max(3, len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    rule = ["-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right, strict=True)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
             "| " + " | ".join(rule) + " |"]
    for cells in body:
        parts = [c.rjust(w) if r else c.ljust(w)
                 for c, w, r in zip(cells, widths, right, strict=True)]
        lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


def format_diff(rows: Sequence[DiffRow], *, old_label: str, new_label: str,
                kind: str = "Metric", precision: int | None = DEFAULT_PRECISION,
                markdown: bool = False, show_change: bool = True) -> str:
    """An aligned table (or a GitHub markdown table): Path, Metric, old, new, Change.
    Numbers are right-aligned so digits line up."""
    header = ["Path", kind, old_label, new_label]
    right = [False, False, True, True]
    if show_change:
        header.append("Change")
        right.append(True)
    body = []
    for row in rows:
        cells = [row.path, row.key, format_value(row.old, precision),
                 format_value(row.new, precision)]
        if show_change:
            cells.append(format_change(row.change, precision))
        body.append(cells)
    return (_markdown if markdown else _align)(header, body, right)


def format_show(snapshot: Snapshot, *, kind: str = "Metric",
                precision: int | None = DEFAULT_PRECISION, markdown: bool = False) -> str:
    """Every value of one snapshot: Path, Metric, Value."""
    body = [[path, key, format_value(value, precision)]
            for path in sorted(snapshot.values)
            for key, value in sorted(snapshot.values[path].items())]
    return (_markdown if markdown else _align)(["Path", kind, "Value"], body,
                                                [False, False, True])


def format_show_revisions(snapshots: Sequence[Snapshot], *, kind: str = "Metric",
                          precision: int | None = DEFAULT_PRECISION,
                          markdown: bool = False) -> str:
    """Several snapshots side by side: Path, Metric, then one column per snapshot
    (``-`` where that version has no such value). Rows sorted by file, then key."""
    keys = sorted({(path, key) for snap in snapshots
                   for path, flat in snap.values.items() for key in flat})
    body = [[path, key, *(format_value(snap.values.get(path, {}).get(key, MISSING), precision)
                          for snap in snapshots)]
            for path, key in keys]
    header = ["Path", kind, *(snap.label for snap in snapshots)]
    right = [False, False, *(True for _ in snapshots)]
    return (_markdown if markdown else _align)(header, body, right)


def show_revisions_to_json(snapshots: Sequence[Snapshot], *,
                           precision: int | None = None) -> str:
    """``{label: {path: {key: value}}}`` in the snapshots' order, files and keys sorted."""
    out = {snap.label: {path: {key: _json_value(v, precision)
                               for key, v in sorted(snap.values[path].items())}
                        for path in sorted(snap.values)}
           for snap in snapshots}
    return json.dumps(out, indent=2, default=str) + "\n"


def _json_value(value: Any, precision: int | None) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Infinity
    if precision is not None and isinstance(value, float):
        return round(value, precision)
    return value


def diff_to_json(rows: Sequence[DiffRow], *, precision: int | None = None,
                 with_change: bool = True) -> str:
    """DVC's ``--json`` shape: ``{path: {key: {"old": .., "new": .., "diff": ..}}}``.
    Absent values are null; ``diff`` only for numbers on both sides. Values are as read
    unless ``precision`` is given."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        entry: dict[str, Any] = {
            "old": None if row.old is MISSING else _json_value(row.old, precision),
            "new": None if row.new is MISSING else _json_value(row.new, precision),
        }
        if with_change and row.change is not None:
            entry["diff"] = _json_value(row.change, precision)
        out.setdefault(row.path, {})[row.key] = entry
    return json.dumps(out, indent=2, default=str) + "\n"


def show_to_json(snapshot: Snapshot, *, precision: int | None = None) -> str:
    """``{path: {key: value}}``, files and keys sorted."""
    out = {path: {key: _json_value(v, precision)
                  for key, v in sorted(snapshot.values[path].items())}
           for path in sorted(snapshot.values)}
    return json.dumps(out, indent=2, default=str) + "\n"


def iter_errors(*snapshots: Snapshot) -> Iterator[str]:
    """One line per file that could not be read: ``LABEL: path: why``."""
    for snap in snapshots:
        for path, message in sorted(snap.errors.items()):
            text = message if message.startswith(path) else f"{path}: {message}"
            yield f"{snap.label}: {text}"
