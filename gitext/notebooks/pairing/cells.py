"""A notebook or a text notebook as a list of cells, and back.

What a sync compares is each cell's type and source (:func:`cell_keys`); a notebook rebuilt
from the text side keeps every cell it can match whole (outputs, metadata, id) and takes
the others from the text without outputs (:func:`build_notebook`). jupytext and nbformat
are imported inside the functions that need them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import shell_arg
from gitext.errors import NotebookError
from gitext.notebooks.pairing.formats import HEADER_PROBE, formats_in_metadata

CellKey = tuple[str, str]

def _norm_source(source: Any) -> str:
    text = "".join(source) if isinstance(source, list) else str(source)
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def cell_keys(nb: Any) -> list[CellKey]:
    """What a sync compares: each cell's type and source (trailing blanks ignored)."""
    return [(str(c.get("cell_type", "")), _norm_source(c.get("source", ""))) for c in nb.cells]


def writes_text(nb: Any, fmt: str, config: Any) -> str:
    import jupytext

    text: str = jupytext.writes(nb, fmt, config=config)
    return stable_header(text)


# A cell marker of the formats that have one: '# %%' in Python, '// %%', '-- %%', '% %%'...
_CELL_MARKER = re.compile(r"^\S{1,3} ?%%", re.MULTILINE)
_HEADER = re.compile(r"\A\S{1,3} ?---\n.*?^\S{1,3} ?---$", re.MULTILINE | re.DOTALL)


def read_text_bytes(data: bytes, fmt: str, config: Any, path: Path) -> Any:
    import jupytext

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotebookError(f"{path}: not UTF-8 text", hint="save it as UTF-8") from None
    style = fmt.partition(":")[2]
    body = _HEADER.sub("", text, count=1)
    if style in ("percent", "hydrogen") and body.strip() and not _CELL_MARKER.search(body):
        # jupytext would read the whole file as one cell, and sync would merge it so.
        raise NotebookError(f"{path}: not in the {fmt} format (no '%%' cell markers), so "
                            "its cells cannot be told apart",
                            hint="restore the paired file (git checkout), or delete it and "
                                 "sync again to write it from the notebook")
    try:
        return jupytext.reads(text, fmt, config=config)
    except Exception as exc:  # noqa: BLE001 - jupytext raises many types for bad input
        raise NotebookError(f"{path}: jupytext cannot read it as {fmt}: {exc}",
                            hint="fix the file, or pair with another format") from None


def _nbformat() -> Any:
    """nbformat, typed loosely: its functions are untyped."""
    import importlib

    return importlib.import_module("nbformat")


def read_notebook_bytes(data: bytes, path: Path) -> Any:
    nbformat = _nbformat()
    try:  # a byte-order mark is not JSON, but editors write it: read past it
        nb = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
    except UnicodeDecodeError:
        raise NotebookError(f"{path}: not UTF-8", hint="save the notebook as UTF-8") from None
    except Exception:  # noqa: BLE001 - nbformat raises JSON and validation errors alike
        raise NotebookError(f"{path}: not a notebook (not valid notebook JSON)",
                            hint="repair it, or restore it with: "
                                 f"git checkout -- {shell_arg(path.name)}"
                            ) from None
    if nb.metadata.get("orig_nbformat", 4) < 4:
        # An upgraded nbformat 2/3 notebook holds nodes jupytext cannot write as YAML: once
        # through JSON, it is a notebook as read from a version 4 file.
        nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    return nb


def notebook_keys_in_format(nb: Any, fmt: str, config: Any) -> list[CellKey]:
    """The notebook's cells as the text format would give them back (a round trip)."""
    import jupytext

    return cell_keys(jupytext.reads(jupytext.writes(nb, fmt, config=config), fmt, config=config))


_VERSION_LINE = re.compile(r"^.*\bjupytext_version:.*(?:\n|$)", re.M)


def stable_header(text: str) -> str:
    """Drop ``jupytext_version`` from the header so contributors' versions do not churn it."""
    head_end = text.find("text_representation:")
    if head_end < 0 or head_end > HEADER_PROBE:
        return text
    window_end = min(len(text), head_end + 400)
    window = text[head_end:window_end]
    window = _VERSION_LINE.sub("", window, count=1)
    return text[:head_end] + window + text[window_end:]


def dump_notebook(nb: Any) -> bytes:
    nbformat = _nbformat()

    meta = nb.metadata.get("jupytext")
    if isinstance(meta, dict):
        meta.pop("text_representation", None)
        if not meta:
            del nb.metadata["jupytext"]
    text: str = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")


def _stable_id(index: int, key: CellKey, used: set[str]) -> str:
    seed = f"{index}\0{key[0]}\0{key[1]}"
    n = 0
    while True:
        cid = hashlib.sha1(f"{seed}\0{n}".encode(), usedforsecurity=False).hexdigest()[:8]
        if cid not in used:
            used.add(cid)
            return cid
        n += 1


def match_cells(old: Sequence[CellKey], new: Sequence[CellKey]) -> dict[int, int]:
    """new index → old index for cells whose type and source did not change."""
    sm = difflib.SequenceMatcher(None, old, new, autojunk=False)
    out: dict[int, int] = {}
    for block in sm.get_matching_blocks():
        for k in range(block.size):
            out[block.b + k] = block.a + k
    return out


def build_notebook(target: Sequence[CellKey], old_nb: Any | None, text_nb: Any | None) -> Any:
    """A notebook with cells ``target``: unchanged cells keep the old notebook's cell whole
    (outputs, metadata, id); every other cell comes from the text without outputs."""
    import importlib

    v4: Any = importlib.import_module("nbformat.v4")
    base = old_nb if old_nb is not None else text_nb
    nb = v4.new_notebook()
    if base is not None:
        nb.metadata = json.loads(json.dumps(base.metadata))
        nb.nbformat, nb.nbformat_minor = base.nbformat, base.nbformat_minor
    with_ids = nb.nbformat_minor >= 5
    if old_nb is not None and text_nb is not None:
        text_formats = formats_in_metadata(text_nb.metadata)
        if text_formats:
            nb.metadata.setdefault("jupytext", {})["formats"] = text_formats
    old_cells = list(old_nb.cells) if old_nb is not None else []
    text_cells = list(text_nb.cells) if text_nb is not None else []
    from_old = match_cells(cell_keys(old_nb), target) if old_nb is not None else {}
    from_text = match_cells(cell_keys(text_nb), target) if text_nb is not None else {}
    used: set[str] = {str(c.get("id")) for i, c in enumerate(old_cells)
                      if i in from_old.values() and c.get("id")}
    cells = []
    for j, key in enumerate(target):
        if j in from_old:
            cells.append(old_cells[from_old[j]])
            continue
        src_cell = text_cells[from_text[j]] if j in from_text else None
        source = src_cell.source if src_cell is not None else key[1]
        metadata = dict(src_cell.get("metadata", {})) if src_cell is not None else {}
        if key[0] == "code":
            cell = v4.new_code_cell(source, metadata=metadata)  # no outputs: they would be stale
        elif key[0] == "markdown":
            cell = v4.new_markdown_cell(source, metadata=metadata)
        else:
            cell = v4.new_raw_cell(source, metadata=metadata)
        if with_ids:
            cell.id = _stable_id(j, key, used)
        else:
            cell.pop("id", None)
        cells.append(cell)
    nb.cells = cells
    return nb
