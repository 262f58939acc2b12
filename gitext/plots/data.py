"""One plot file's content: a table of records (CSV, TSV, JSON, YAML) or an image.

DVC's rules: a CSV/TSV file is a header row and rows of values (``header: false`` names the
columns ``0``, ``1``, …); a JSON/YAML file is a list of records, or a mapping holding one
(the first list of records found, depth first, in the file's key order). Numbers in a
CSV/TSV are read as numbers so a chart's scales see them as such.

Images (PNG, JPEG, GIF, SVG) are recognised by their suffix and checked by their first
bytes: a ``.png`` that is not a PNG is an error, not a broken picture in the page.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from gitext.errors import PipelineError

Record = dict[str, Any]

TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".yaml", ".yml")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".svg": "image/svg+xml"}
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
          "image/gif": (b"GIF87a", b"GIF89a")}
_SVG_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?"
                        rb"(?:<!--.*?-->\s*)*(?:<!DOCTYPE[^>]*>\s*)?<svg[\s>]", re.S)
_INT = re.compile(r"\s*[-+]?\d+\s*")


def suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


def is_image(path: str) -> bool:
    return suffix(path) in IMAGE_TYPES


def is_plot_file(path: str) -> bool:
    return suffix(path) in TABLE_SUFFIXES or is_image(path)


def check_image(data: bytes, path: str) -> str:
    """The image's MIME type; raises when the bytes are not the image the suffix says."""
    mime = IMAGE_TYPES[suffix(path)]
    if mime == "image/svg+xml":
        ok = _SVG_START.match(data[:4096]) is not None
    else:
        ok = data.startswith(_MAGIC[mime])
    if not ok:
        kind = mime.split("/")[1].removesuffix("+xml").upper()
        article = "an" if kind == "SVG" else "a"
        raise PipelineError(f"{path}: not {article} {kind} image (its first bytes do not "
                            "say so)",
                            hint=f"write a real image to {path}, or rename it")
    return mime


def _number(cell: str) -> Any:
    try:
        return int(cell) if _INT.fullmatch(cell) else _float(cell)
    except ValueError:
        return cell


def _float(cell: str) -> Any:
    if "_" in cell:  # Python's float() takes 1_000; a CSV reader would not
        return cell
    value = float(cell)
    return value if math.isfinite(value) else cell


def _load_table(text: str, path: str, *, delimiter: str, header: bool) -> list[Record]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    names: list[str] | None = None
    records: list[Record] = []
    try:
        for row in reader:
            if not row:
                continue
            if names is None and header:
                names = row
                continue
            if names is None:
                names = [str(i) for i in range(len(row))]
            if len(row) != len(names):
                raise PipelineError(
                    f"{path}:{reader.line_num}: this row has {len(row)} fields but the "
                    f"{'header has' if header else 'first row has'} {len(names)}",
                    hint=f"give every row of {path} the same columns")
            records.append({n: _number(c) for n, c in zip(names, row, strict=True)})
    except csv.Error as exc:
        raise PipelineError(f"{path}:{reader.line_num}: cannot parse: {exc}",
                            hint=f"fix the syntax of {path}") from None
    return records


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping)
                                                           for v in value)


def _first_records(value: Any) -> list[Any] | None:
    """DVC's rule: the value itself when it is a list of records, else the first one found
    depth first inside a mapping."""
    if _is_records(value):
        return list(value)
    if isinstance(value, Mapping):
        for item in value.values():
            found = _first_records(item)
            if found is not None:
                return found
    return None


def _load_structured(text: str, path: str) -> list[Record]:
    if suffix(path) == ".json":
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise PipelineError(f"{path}: cannot parse: {exc}",
                                hint=f"fix the JSON syntax of {path}") from None
    else:
        from gitext.pipeline.yaml12 import load_yaml

        loaded = load_yaml(text, file=path)
    if loaded is None or loaded in ([], {}):
        return []
    records = _first_records(loaded)
    if records is None:
        raise PipelineError(
            f"{path}: holds no list of records to plot",
            hint='a plot file is a list of records, e.g. [{"step": 0, "loss": 0.5}], '
                 "or a mapping holding one")
    return [{str(k): v for k, v in r.items()} for r in records]


def load_records(data: bytes, path: str, *, header: bool = True) -> list[Record]:
    """The records of one plot file (its format from ``path``'s suffix)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PipelineError(f"{path}: not UTF-8 text",
                            hint="plot files are CSV, TSV, JSON or YAML") from None
    kind = suffix(path)
    if kind in (".csv", ".tsv"):
        return _load_table(text, path, delimiter="\t" if kind == ".tsv" else ",",
                           header=header)
    return _load_structured(text, path)


def columns(records: Sequence[Record]) -> list[str]:
    """The fields the records have, in first-seen order."""
    seen: dict[str, None] = {}
    for record in records:
        seen.update(dict.fromkeys(record))
    return list(seen)


def require_columns(records: Sequence[Record], wanted: Sequence[str], path: str) -> None:
    """Raise, naming the file and the closest column, when a wanted field is in no record."""
    have = columns(records)
    for name in wanted:
        if name in have:
            continue
        import difflib

        close = difflib.get_close_matches(name, have, n=1)
        guess = f"; did you mean '{close[0]}'?" if close else ""
        listed = ", ".join(have) if have else "none: the file holds no rows"
        raise PipelineError(f"{path}: no column '{name}' (its columns: {listed}){guess}",
                            hint="name a column the file has in dvc.yaml's x/y "
                                 "(or -x/-y)")
