"""Strip outputs, execution counts and volatile metadata from notebooks.

The pure core of ``filter=archives-nb`` and ``git archives nb strip``. It does what
nbstripout 0.9.1 does by default, with every one of its options (see
``docs/notebooks.md``), and writes exactly the bytes nbformat's writer would (see
:mod:`gitext.notebooks.notebook_json`, which reads and writes the JSON).

The options (what to keep, what else to strip) are :mod:`gitext.notebooks.strip_options`.

The hot path (nbformat 4, the only version written since 2015) uses the standard library
``json`` only; nbformat itself is imported only for nbformat 2 and 3 files, whose disk
format has its own line-splitting rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from gitext.errors import NotebookError
from gitext.notebooks.notebook_json import (
    NotebookFormatError,
    dump_json,
    dump_v4,
    nbformat_version_module,
    notebook_version,
    parse_notebook_json,
    restore_hint,
    v4_from_disk,
    v4_to_disk,
)
from gitext.notebooks.strip_options import StripOptions


class CellMetadataError(NotebookError):
    """A cell whose ``keep_output`` metadata contradicts its ``keep_output`` tag."""


# ---------------------------------------------------------------------------- stripping

def pop_path(d: Any, key: str) -> None:
    """Remove ``key`` from ``d``, where dots in ``key`` may step into nested dicts.

    The whole key is tried first at every level, so ``application/vnd.x.v1+cell`` (a key
    that itself contains dots) is found.
    """
    while isinstance(d, dict):
        if key in d:
            del d[key]
            return
        head, dot, tail = key.partition(".")
        if not dot or head not in d:
            return
        d, key = d[head], tail


def output_size(item: Any) -> int:
    """nbstripout's size of an output: total length of its strings, ``str()`` of the rest."""
    if isinstance(item, str):
        return len(item)
    if isinstance(item, list):
        return sum(output_size(x) for x in item)
    if isinstance(item, dict):
        return sum(output_size(x) for x in item.values())
    return len(str(item))


def _matches(output: dict[str, Any], spec: str) -> bool:
    otype, colon, name = spec.partition(":")
    return output.get("output_type") == otype and (not colon or output.get("name") == name)


def _tags(cell: dict[str, Any]) -> list[Any]:
    meta = cell.get("metadata")
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return tags if isinstance(tags, list) else []


def _keep_cell_output(cell: dict[str, Any], default: bool, strip_init_cells: bool,
                      index: int) -> bool:
    meta = cell.get("metadata")
    if not isinstance(meta, dict):
        return default
    if "init_cell" in meta:
        return bool(meta["init_cell"]) and not strip_init_cells
    has_meta = "keep_output" in meta
    meta_value = bool(meta.get("keep_output", False))
    has_tag = "keep_output" in _tags(cell)
    if has_meta and has_tag and not meta_value:
        raise CellMetadataError(
            f"cell {index}: metadata keep_output is false but the cell is tagged keep_output",
            hint="remove the keep_output tag or set the cell's keep_output metadata to true",
        )
    if has_meta or has_tag:
        return meta_value or has_tag
    return default


def _cell_lists(nb: dict[str, Any], major: int) -> Iterator[list[Any]]:
    # nbformat 2 and 3 keep cells in worksheets; 1 and 4 at the top level. A notebook
    # without an ``nbformat`` key is read as version 1, as nbformat does.
    if "nbformat" in nb and major < 4:
        for ws in nb.get("worksheets") or []:
            if isinstance(ws, dict) and isinstance(ws.get("cells"), list):
                yield ws["cells"]
    elif isinstance(nb.get("cells"), list):
        yield nb["cells"]


def _source_text(cell: dict[str, Any]) -> str:
    src = cell.get("source", cell.get("input", ""))
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _fresh_id(index: int, cell: dict[str, Any], seen: set[str]) -> str:
    # Deterministic, unlike nbformat's validator (which invents random ids): the same
    # notebook always gets the same ids, and unchanged cells keep theirs across runs.
    basis = f"{index}\0{cell.get('cell_type', '')}\0{_source_text(cell)}"
    salt = 0
    while True:
        cid = hashlib.sha256(f"{basis}\0{salt}".encode("utf-8", "surrogatepass")).hexdigest()[:8]
        if cid not in seen:
            return cid
        salt += 1


def strip_notebook(nb: dict[str, Any], opts: StripOptions, *,
                   name: str = "<notebook>") -> dict[str, Any]:
    """Strip a Jupyter notebook in place (and return it).

    ``nb`` is the in-memory form nbformat reads: for nbformat 4, multi-line text joined
    into strings (``strip_bytes`` does this). Zeppelin notebooks go through
    :func:`strip_zeppelin`.
    """
    major, minor = notebook_version(nb)
    meta = nb.get("metadata")
    keep_output = opts.keep_output
    if not keep_output and isinstance(meta, dict) and "keep_output" in meta:
        keep_output = bool(meta["keep_output"])
    if isinstance(meta, dict):
        for key in opts._nb_keys:
            pop_path(meta, key)

    keeps: list[Callable[[dict[str, Any]], bool]] = []
    if opts.drop_empty_cells:
        keeps.append(lambda c: bool(_source_text(c).strip()))
    if opts.drop_tagged_cells:
        drop = set(opts.drop_tagged_cells)
        keeps.append(lambda c: not any(isinstance(t, str) and t in drop for t in _tags(c)))

    has_ids = (major, minor) >= (4, 5)
    seen_ids: set[str] = set()
    index = 0
    for cells in _cell_lists(nb, major):
        for c in cells:
            if not isinstance(c, dict):
                raise NotebookFormatError(f"cell {index} is not a JSON object")
        if keeps:
            cells[:] = [c for c in cells if all(k(c) for k in keeps)]
        for cell in cells:
            try:
                keep_this = _keep_cell_output(cell, keep_output, opts.strip_init_cells, index)
            except CellMetadataError as exc:
                raise CellMetadataError(f"{name}: {exc.message}", hint=exc.hint) from None
            _strip_outputs(cell, keep_this, opts)
            _strip_count_and_id(cell, index, opts, has_ids=has_ids, seen_ids=seen_ids)
            for key in opts._cell_keys:
                pop_path(cell, key)
            index += 1
    return nb


def _strip_count_and_id(cell: dict[str, Any], index: int, opts: StripOptions, *,
                        has_ids: bool, seen_ids: set[str]) -> None:
    """Execution counts become null; ids become the cell's index (with keep-id: kept, or a
    fresh one where missing or repeated)."""
    if not opts.keep_count:
        if "prompt_number" in cell:
            cell["prompt_number"] = None
        if "execution_count" in cell:
            cell["execution_count"] = None
    if not opts.keep_id:
        if "id" in cell or has_ids:
            cell["id"] = str(index)
    elif has_ids:
        cid = cell.get("id")
        if not isinstance(cid, str) or not cid or cid in seen_ids:
            cid = _fresh_id(index, cell, seen_ids)
            cell["id"] = cid
        seen_ids.add(cid)


def _strip_outputs(cell: dict[str, Any], keep_this: bool, opts: StripOptions) -> None:
    outputs = cell.get("outputs")
    if not isinstance(outputs, list):
        return
    if not keep_this or opts.keep_output_types:
        # As nbstripout: listed keep-types (and anything within max-size) survive; with
        # keep-output-type set this filter applies even to cells that keep their output.
        outputs = [
            o for o in outputs
            if output_size(o) <= opts.max_size
            or (isinstance(o, dict) and any(_matches(o, t) for t in opts.keep_output_types))
        ]
    if not opts.keep_count:
        for o in outputs:
            if isinstance(o, dict) and "execution_count" in o:
                o["execution_count"] = None
    if opts.drop_output_types:
        outputs = [o for o in outputs
                   if not (isinstance(o, dict)
                           and any(_matches(o, t) for t in opts.drop_output_types))]
    cell["outputs"] = outputs


def strip_zeppelin(nb: dict[str, Any]) -> dict[str, Any]:
    """Empty the ``results`` of every paragraph of a Zeppelin notebook (in place)."""
    paragraphs = nb.get("paragraphs")
    if not isinstance(paragraphs, list) or not all(isinstance(p, dict) for p in paragraphs):
        raise NotebookFormatError("is not a Zeppelin notebook (no list of paragraphs)")
    for p in paragraphs:
        if "results" in p:
            p["results"] = {}
    return nb


def _is_zeppelin(name: str, opts: StripOptions) -> bool:
    return opts.mode == "zeppelin" or (opts.mode == "auto" and name.endswith(".zpln"))


def _strip_parsed(nb: dict[str, Any], data: bytes, *, name: str, opts: StripOptions,
                  want_change: bool) -> tuple[bytes, bool]:
    def original() -> dict[str, Any]:
        return parse_notebook_json(data, name=name)

    try:
        if _is_zeppelin(name, opts):
            before = dump_json(nb, indent=2) if want_change else b""
            out = dump_json(strip_zeppelin(nb), indent=2)
            return out, want_change and out != before
        major, _ = notebook_version(nb)
        if major not in (1, 2, 3, 4):
            raise NotebookFormatError(f"unsupported nbformat version {major}")
        if major in (1, 4):
            if major == 4:
                v4_from_disk(nb)
            elif not isinstance(nb.get("cells"), list):
                raise NotebookFormatError("is not a notebook (no cells and no nbformat version)")
            if want_change:
                orig = original()
                if major == 4:
                    v4_from_disk(orig)
            strip_notebook(nb, opts, name=name)
            if major == 4:
                v4_to_disk(nb)
                out = dump_v4(nb)
                if not want_change:
                    return out, False
                v4_to_disk(orig)
                return out, out != dump_v4(orig)
            # nbformat 1 (and files with no version at all) are written as nbformat does.
            out = dump_json(nb, indent=4)
            return out, want_change and out != dump_json(orig, indent=4)
        return _strip_old(nb, opts, name=name, want_change=want_change)
    except NotebookFormatError as exc:
        if exc.message.startswith(f"{name}: "):
            raise
        raise NotebookFormatError(f"{name}: {exc.message}",
                                  hint=exc.hint or restore_hint(name)) from None
    except (TypeError, KeyError, AttributeError, ValueError, RecursionError) as exc:
        # A structure our reading of the schema did not anticipate: still one line.
        raise NotebookFormatError(f"{name}: not a readable notebook ({type(exc).__name__}: {exc})",
                                  hint=restore_hint(name)) from None


def _strip_old(nb: dict[str, Any], opts: StripOptions, *, name: str,
               want_change: bool) -> tuple[bytes, bool]:
    """nbformat 2 and 3: their line-splitting and byte encoding rules live in nbformat."""
    major, minor = notebook_version(nb)
    if not isinstance(nb.get("worksheets"), list):
        raise NotebookFormatError(f"is not an nbformat {major} notebook (no worksheets)")
    mod = nbformat_version_module(major)
    node = mod.to_notebook_json(nb, minor=minor)
    before = mod.writes_json(node) if want_change else ""
    strip_notebook(node, opts, name=name)
    text: str = mod.writes_json(node)
    changed = want_change and text != before
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8", "backslashreplace"), changed


def strip_bytes(data: bytes, *, name: str, opts: StripOptions) -> bytes:
    """The stripped notebook, serialised as nbformat (or Zeppelin) would write it.

    Raises :class:`gitext.errors.NotebookError` (naming ``name``) for input that is not
    UTF-8, not JSON, or not a notebook, and for contradictory cell metadata.
    """
    nb = parse_notebook_json(data, name=name)
    out, _ = _strip_parsed(nb, data, name=name, opts=opts, want_change=False)
    return out


def strip_and_compare(data: bytes, *, name: str, opts: StripOptions) -> tuple[bytes, bool]:
    """``strip_bytes`` plus whether stripping changed the notebook's content.

    The comparison is of content, as nbstripout's ``--dry-run`` makes it: an
    already-stripped notebook that differs only in layout (indentation, key order) is
    not "changed".
    """
    nb = parse_notebook_json(data, name=name)
    return _strip_parsed(nb, data, name=name, opts=opts, want_change=True)


def clean_notebook(data: bytes, *, name: str, opts: StripOptions) -> tuple[bytes, str | None]:
    """What the clean filter stores: the stripped bytes and an optional warning.

    With ``on_error = passthrough`` an unreadable notebook is returned unchanged along
    with a one-line warning; with ``error`` (the default) the NotebookError propagates.
    """
    try:
        return strip_bytes(data, name=name, opts=opts), None
    except NotebookError as exc:
        if opts.on_error != "passthrough":
            raise
        return data, f"{exc.message} (stored unchanged: nb.on-error = passthrough)"
