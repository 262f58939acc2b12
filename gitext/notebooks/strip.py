"""Strip outputs, execution counts and volatile metadata from notebooks.

The pure core of ``filter=archives-nb`` and ``git archives nb strip``. It does what
nbstripout 0.9.1 does by default, with every one of its options (see
``docs/notebooks.md``), and writes exactly the bytes nbformat's writer would: for
nbformat 4 that is JSON with ``indent=1``, sorted keys, ``", "``/``": "`` separators,
non-ASCII characters kept, multi-line text split into lists of lines, and one trailing
newline.

The options (what to keep, what else to strip) are :mod:`gitext.notebooks.strip_options`.

The hot path (nbformat 4, the only version written since 2015) uses the standard library
``json`` only; nbformat itself is imported only for nbformat 2 and 3 files, whose disk
format has its own line-splitting rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from gitext.codec.shellquote import display, shell_arg
from gitext.errors import NotebookError
from gitext.notebooks.strip_options import StripOptions


def _restore_hint(name: str) -> str:
    if name.startswith("<"):
        return "fix the notebook, or restore it from git"
    return f"fix {display(name)}, or restore it with: git checkout -- {shell_arg(name)}"


class NotebookFormatError(NotebookError):
    """A file handed to the notebook stripper that is not a readable notebook."""

    exit_code = 1


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


def notebook_version(nb: dict[str, Any]) -> tuple[int, int]:
    """(major, minor) as nbformat reads them: a missing version is 1.0."""
    major = nb.get("nbformat", 1)
    minor = nb.get("nbformat_minor", 0)
    if not isinstance(major, int) or isinstance(major, bool) or not isinstance(minor, int):
        raise NotebookFormatError("has a non-numeric nbformat version")
    return major, minor


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


# ---------------------------------------------------------------------------- disk format

_SPLIT_MIMES = frozenset({"application/javascript", "image/svg+xml"})


def is_json_mime(mime: str) -> bool:
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json"))


def _join_bundle(bundle: Any) -> None:
    if isinstance(bundle, dict):
        for k, v in bundle.items():
            if (isinstance(v, list) and not is_json_mime(k)
                    and all(isinstance(s, str) for s in v)):
                bundle[k] = "".join(v)


def _split_bundle(bundle: Any) -> None:
    if isinstance(bundle, dict):
        for k, v in bundle.items():
            if isinstance(v, str) and (k.startswith("text/") or k in _SPLIT_MIMES):
                bundle[k] = v.splitlines(True)


def _v4_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise NotebookFormatError("is not a notebook (no list of cells)")
    for i, c in enumerate(cells):
        if not isinstance(c, dict):
            raise NotebookFormatError(f"is not a notebook (cell {i} is not a JSON object)")
    return cells


def v4_from_disk(nb: dict[str, Any]) -> None:
    """nbformat 4 read normalisation: join lists of lines, drop transient keys."""
    for i, cell in enumerate(_v4_cells(nb)):
        src = cell.get("source")
        if isinstance(src, list):
            if not all(isinstance(s, str) for s in src):
                raise NotebookFormatError(f"cell {i} has a source that is not text")
            cell["source"] = "".join(src)
        attachments = cell.get("attachments")
        if isinstance(attachments, dict):
            for bundle in attachments.values():
                _join_bundle(bundle)
        if cell.get("cell_type") == "code" and isinstance(cell.get("outputs"), list):
            for out in cell["outputs"]:
                if not isinstance(out, dict):
                    continue
                otype = out.get("output_type", "")
                if otype in ("execute_result", "display_data"):
                    _join_bundle(out.get("data"))
                elif (otype and isinstance(out.get("text"), list)
                      and all(isinstance(s, str) for s in out["text"])):
                    out["text"] = "".join(out["text"])
    _strip_transient(nb)


def _strip_transient(nb: dict[str, Any]) -> None:
    meta = nb.get("metadata")
    if isinstance(meta, dict):
        for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):
            meta.pop(key, None)
    for cell in nb.get("cells") or []:
        if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop("trusted", None)


def _v4_to_disk(nb: dict[str, Any]) -> None:
    """nbformat 4 write normalisation: multi-line text becomes lists of lines."""
    for cell in _v4_cells(nb):
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(True)
        attachments = cell.get("attachments")
        if isinstance(attachments, dict):
            for bundle in attachments.values():
                _split_bundle(bundle)
        if cell.get("cell_type") == "code" and isinstance(cell.get("outputs"), list):
            for out in cell["outputs"]:
                if not isinstance(out, dict):
                    continue
                otype = out.get("output_type")
                if otype in ("execute_result", "display_data"):
                    _split_bundle(out.get("data"))
                elif otype == "stream" and isinstance(out.get("text"), str):
                    out["text"] = out["text"].splitlines(True)
    _strip_transient(nb)


def _dump(obj: Any, **kwargs: Any) -> bytes:
    text = json.dumps(obj, **kwargs)
    if not text.endswith("\n"):
        text += "\n"
    # A lone surrogate (from a "\udXXX" escape in the input) can only sit inside a JSON
    # string, where backslashreplace writes it back as the very same JSON escape.
    return text.encode("utf-8", "backslashreplace")


def _dump_v4(nb: dict[str, Any]) -> bytes:
    return _dump(nb, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)


def _nbformat_version_module(major: int) -> Any:
    import nbformat  # old-format files only: the hot path never pays for this import

    return nbformat.versions[major]


# ---------------------------------------------------------------------------- bytes in/out

def parse_notebook_json(data: bytes, *, name: str) -> dict[str, Any]:
    """Decode and parse ``data``, or raise :class:`NotebookFormatError` naming ``name``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookFormatError(
            f"{name}: not UTF-8 (invalid byte at offset {exc.start})",
            hint="save the notebook as UTF-8",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise NotebookFormatError(f"{name}: empty file, not a notebook", hint=_restore_hint(name))
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookFormatError(
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            hint=_restore_hint(name),
        ) from None
    except RecursionError:
        raise NotebookFormatError(f"{name}: JSON nested too deeply",
                                  hint=_restore_hint(name)) from None
    if not isinstance(nb, dict):
        raise NotebookFormatError(f"{name}: not a notebook (the JSON is not an object)",
                                  hint=_restore_hint(name))
    return nb


def _is_zeppelin(name: str, opts: StripOptions) -> bool:
    return opts.mode == "zeppelin" or (opts.mode == "auto" and name.endswith(".zpln"))


def _strip_parsed(nb: dict[str, Any], data: bytes, *, name: str, opts: StripOptions,
                  want_change: bool) -> tuple[bytes, bool]:
    def original() -> dict[str, Any]:
        return parse_notebook_json(data, name=name)

    try:
        if _is_zeppelin(name, opts):
            before = _dump(nb, indent=2) if want_change else b""
            out = _dump(strip_zeppelin(nb), indent=2)
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
                _v4_to_disk(nb)
                out = _dump_v4(nb)
                if not want_change:
                    return out, False
                _v4_to_disk(orig)
                return out, out != _dump_v4(orig)
            # nbformat 1 (and files with no version at all) are written as nbformat does.
            out = _dump(nb, indent=4)
            return out, want_change and out != _dump(orig, indent=4)
        return _strip_old(nb, opts, name=name, want_change=want_change)
    except NotebookFormatError as exc:
        if exc.message.startswith(f"{name}: "):
            raise
        raise NotebookFormatError(f"{name}: {exc.message}",
                                  hint=exc.hint or _restore_hint(name)) from None
    except (TypeError, KeyError, AttributeError, ValueError, RecursionError) as exc:
        # A structure our reading of the schema did not anticipate: still one line.
        raise NotebookFormatError(f"{name}: not a readable notebook ({type(exc).__name__}: {exc})",
                                  hint=_restore_hint(name)) from None


def _strip_old(nb: dict[str, Any], opts: StripOptions, *, name: str,
               want_change: bool) -> tuple[bytes, bool]:
    """nbformat 2 and 3: their line-splitting and byte encoding rules live in nbformat."""
    major, minor = notebook_version(nb)
    if not isinstance(nb.get("worksheets"), list):
        raise NotebookFormatError(f"is not an nbformat {major} notebook (no worksheets)")
    mod = _nbformat_version_module(major)
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
