"""One metrics or params file's content, flattened: JSON, YAML (1.2, as DVC reads it), TOML,
or CSV/TSV (header = names, *last* row = values); and choosing keys in a flat mapping."""

from __future__ import annotations

import csv
import importlib
import io
import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from gitext.errors import PipelineError
from gitext.pipeline.metrics.snapshot import MISSING, Flat

METRIC_SUFFIXES = (".json", ".yaml", ".yml", ".toml", ".csv", ".tsv")


def flatten(data: Mapping[Any, Any], prefix: str = "") -> Flat:
    """Nested mappings to ``{"a.b.c": value}``; lists and scalars are values."""
    flat: Flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            nested = flatten(value, f"{name}.")
            if nested:
                flat.update(nested)
            else:
                flat[name] = {}
        else:
            flat[name] = value
    return flat


def _number(text: str) -> Any:
    raw = text.strip()
    if re.fullmatch(r"[-+]?\d+", raw):
        return int(raw)
    try:
        return float(raw)
    except ValueError:
        return text


def _load_toml(text: str) -> Any:
    try:
        toml = importlib.import_module("tomllib")
    except ModuleNotFoundError:  # Python 3.10
        try:
            toml = importlib.import_module("tomli")
        except ModuleNotFoundError:
            raise PipelineError(
                "reading TOML needs Python 3.11 or the 'tomli' package",
                hint="pip install tomli",
            ) from None
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise ValueError(str(exc)) from None


def _load_table(text: str, delimiter: str) -> Flat:
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    if len(rows) < 2:
        raise ValueError("needs a header row and at least one row of values")
    header, last = rows[0], rows[-1]
    if len(last) != len(header):
        raise ValueError(
            f"the last row has {len(last)} fields but the header has {len(header)}")
    return {name: _number(cell) for name, cell in zip(header, last, strict=True)}


def parse_metrics(data: bytes, name: str) -> Flat:
    """The flat metrics of one file's bytes; the format comes from ``name``'s suffix
    (unknown suffixes are read as YAML, which also reads JSON). Raises PipelineError."""
    suffix = PurePosixPath(name).suffix.lower()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PipelineError(f"{name}: not UTF-8 text",
                            hint="metrics files are JSON, YAML, TOML or CSV") from None
    try:
        if suffix in (".csv", ".tsv"):
            return _load_table(text, "\t" if suffix == ".tsv" else ",")
        if suffix == ".json":
            loaded = json.loads(text)
        elif suffix == ".toml":
            loaded = _load_toml(text)
        else:
            from gitext.pipeline.yaml12 import load_yaml

            loaded = load_yaml(text, file=name)
    except (ValueError, csv.Error) as exc:
        raise PipelineError(f"{name}: cannot parse: {exc}",
                            hint=f"fix the syntax of {name}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise PipelineError(f"{name}: holds a {type(loaded).__name__}, not key/value pairs",
                            hint="a metrics file maps names to values, e.g. {\"acc\": 0.9}")
    return flatten(loaded)



def select_keys(flat: Flat, keys: tuple[str, ...] | None) -> Flat:
    """The entries named by ``keys``: a key selects itself and everything under it, and a
    key into a list (``layers.0.size``) selects that item."""
    if keys is None:
        return dict(flat)
    selected = {k: v for k, v in flat.items()
                if any(k == want or k.startswith(want + ".") for want in keys)}
    for want in keys:
        if any(k == want or k.startswith(want + ".") for k in selected):
            continue
        for k, v in flat.items():
            if isinstance(v, list) and want.startswith(k + "."):
                found = _index(v, want[len(k) + 1:].split("."))
                if found is not MISSING:
                    selected[want] = found
    return selected


def _index(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return MISSING
    return value

