"""Comparing two snapshots as ``dvc metrics diff`` / ``dvc params diff`` do: only changed
values unless ``all``; a change computed for numbers only (not booleans or strings), exactly
in decimal (13.58 - 12.9 is 0.68, not 0.6799999999999997); rows sorted by file, then key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from gitext.pipeline.metrics.snapshot import MISSING, Flat


@dataclass(frozen=True)
class DiffRow:
    path: str
    key: str
    old: Any  # MISSING when absent
    new: Any
    change: int | float | None  # None: not numbers on both sides


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric_change(old: Any, new: Any) -> int | float | None:
    """``new - old`` for two numbers, exact in decimal; None otherwise."""
    if not (is_number(old) and is_number(new)):
        return None
    if isinstance(old, int) and isinstance(new, int):
        return new - old
    if not (math.isfinite(old) and math.isfinite(new)):
        return float(new) - float(old)
    try:
        return float(Decimal(repr(float(new))) - Decimal(repr(float(old))))
    except InvalidOperation:  # pragma: no cover - finite floats always convert
        return float(new) - float(old)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b) and not (is_number(a) and is_number(b)):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def diff_snapshots(old: Mapping[str, Flat], new: Mapping[str, Flat], *,
                   all: bool = False, with_change: bool = True) -> list[DiffRow]:
    """Rows for every key whose value differs (every key with ``all``), sorted by file
    then key. ``with_change=False`` leaves the change empty (params)."""
    rows: list[DiffRow] = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path, {}), new.get(path, {})
        for key in sorted(set(before) | set(after)):
            a, b = before.get(key, MISSING), after.get(key, MISSING)
            if not all and _same(a, b):
                continue
            change = numeric_change(a, b) if with_change else None
            rows.append(DiffRow(path, key, a, b, change))
    return rows


def diff_metrics(old: Mapping[str, Flat], new: Mapping[str, Flat], *,
                 all: bool = False) -> list[DiffRow]:
    """What changed between two metric snapshots' values."""
    return diff_snapshots(old, new, all=all, with_change=True)


def diff_params(old: Mapping[str, Flat], new: Mapping[str, Flat], *,
                all: bool = False) -> list[DiffRow]:
    """What changed between two params snapshots' values (no change column, as DVC)."""
    return diff_snapshots(old, new, all=all, with_change=False)

