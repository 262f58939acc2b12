"""A notebook's JSON on disk: parsing it, and writing it back byte for byte as nbformat would.

For nbformat 4 that is JSON with ``indent=1``, sorted keys, ``", "``/``": "`` separators,
non-ASCII characters kept, multi-line text split into lists of lines, and one trailing
newline; :func:`v4_from_disk` and :func:`v4_to_disk` convert between that and the
in-memory form (text joined into strings). Only the standard library ``json`` is used;
nbformat itself is imported only for nbformat 2 and 3 files
(:func:`nbformat_version_module`), whose disk format has its own line-splitting rules.
"""

from __future__ import annotations

import json
from typing import Any

from gitext.codec.shellquote import display, shell_arg
from gitext.errors import NotebookError


def restore_hint(name: str) -> str:
    if name.startswith("<"):
        return "fix the notebook, or restore it from git"
    return f"fix {display(name)}, or restore it with: git checkout -- {shell_arg(name)}"


class NotebookFormatError(NotebookError):
    """A file handed to the notebook stripper that is not a readable notebook."""

    exit_code = 1




def notebook_version(nb: dict[str, Any]) -> tuple[int, int]:
    """(major, minor) as nbformat reads them: a missing version is 1.0."""
    major = nb.get("nbformat", 1)
    minor = nb.get("nbformat_minor", 0)
    if not isinstance(major, int) or isinstance(major, bool) or not isinstance(minor, int):
        raise NotebookFormatError("has a non-numeric nbformat version")
    return major, minor



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


def v4_to_disk(nb: dict[str, Any]) -> None:
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


def dump_json(obj: Any, **kwargs: Any) -> bytes:
    text = json.dumps(obj, **kwargs)
    if not text.endswith("\n"):
        text += "\n"
    # A lone surrogate (from a "\udXXX" escape in the input) can only sit inside a JSON
    # string, where backslashreplace writes it back as the very same JSON escape.
    return text.encode("utf-8", "backslashreplace")


def dump_v4(nb: dict[str, Any]) -> bytes:
    return dump_json(nb, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)


def nbformat_version_module(major: int) -> Any:
    import nbformat  # old-format files only: the hot path never pays for this import

    return nbformat.versions[major]



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
        raise NotebookFormatError(f"{name}: empty file, not a notebook", hint=restore_hint(name))
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookFormatError(
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            hint=restore_hint(name),
        ) from None
    except RecursionError:
        raise NotebookFormatError(f"{name}: JSON nested too deeply",
                                  hint=restore_hint(name)) from None
    if not isinstance(nb, dict):
        raise NotebookFormatError(f"{name}: not a notebook (the JSON is not an object)",
                                  hint=restore_hint(name))
    return nb
