"""A notebook as readable text, for git's ``diff.archives-nb.textconv``.

Cells become percent-style blocks (``# %%``, ``# %% [markdown]``) holding their source;
outputs follow as ``# out:`` lines, where text is shown and everything else is
summarised by type and size (``# out: [image/png 183 KB]``). The text carries no colour
unless asked for, so under ``git diff`` git's own ``color.diff`` settings decide.
"""

from __future__ import annotations

import json
from typing import Any

from gitext.notebooks.notebook_json import (
    NotebookFormatError,
    is_json_mime,
    notebook_version,
    parse_notebook_json,
    v4_from_disk,
)

# Shown in full; every other mime type is summarised as [type size].
_SHOWN_MIMES = ("text/plain", "text/markdown", "text/latex")
_TEXTUAL_PREFIXES = ("text/",)
_TEXTUAL_MIMES = frozenset({"image/svg+xml", "application/javascript"})

_TITLE_WIDTH = 60
_BOLD_CYAN = "\x1b[1;36m"
_MAGENTA = "\x1b[35m"
_RESET = "\x1b[m"


def human_size(n: int) -> str:
    """``183 KB`` style: decimal units, as file browsers show them."""
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.0f} KB"
    if n < 1_000_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1_000_000_000:.1f} GB"


def _text(value: Any) -> str:
    if isinstance(value, list):
        parts = [v if isinstance(v, str) else json.dumps(v) for v in value]
        # nbformat 2 wrote lines without their newlines; 3 and 4 keep them.
        sep = "" if any(p.endswith("\n") for p in parts) or len(parts) < 2 else "\n"
        return sep.join(parts)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _payload_size(mime: str, value: Any) -> int:
    """Bytes the value stands for: base64 is decoded, text is counted as UTF-8."""
    if is_json_mime(mime) or not isinstance(value, (str, list)):
        return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    text = _text(value)
    if mime.startswith(_TEXTUAL_PREFIXES) or mime in _TEXTUAL_MIMES:
        return len(text.encode("utf-8", "surrogatepass"))
    b64 = "".join(text.split())
    return max(0, len(b64) * 3 // 4 - b64[-2:].count("="))


class _Writer:
    def __init__(self, color: bool) -> None:
        self.color = color
        self.lines: list[str] = []

    def header(self, line: str) -> None:
        self.lines.append(f"{_BOLD_CYAN}{line}{_RESET}" if self.color else line)

    def out(self, line: str) -> None:
        self.lines.append(f"{_MAGENTA}{line}{_RESET}" if self.color else line)

    def body(self, text: str) -> None:
        if text:
            self.lines.extend(text.splitlines())

    def blank(self) -> None:
        self.lines.append("")

    def result(self) -> str:
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""


def _meta_suffix(meta: Any) -> str:
    if not isinstance(meta, dict) or not meta:
        return ""
    return "".join(
        f" {k}={json.dumps(meta[k], sort_keys=True, ensure_ascii=False)}" for k in sorted(meta)
    )


def _title(source: str) -> str:
    """The cell's first non-blank line, shortened: it names the cell in ``git diff``'s hunk
    headers (``diff.archives-nb.xfuncname`` matches the ``# %%`` lines)."""
    for raw in source.splitlines():
        line = " ".join(raw.split())
        if line:
            return " | " + (line if len(line) <= _TITLE_WIDTH
                            else line[:_TITLE_WIDTH - 3] + "...")
    return ""


def _real_ids(cells: list[Any]) -> bool:
    """Ids worth showing: not the positional "0", "1", ... the stripper writes."""
    ids = [c.get("id") for c in cells if isinstance(c, dict)]
    return bool(ids) and ids != [str(i) for i in range(len(ids))] and all(
        isinstance(i, str) for i in ids)


def _bundle(w: _Writer, data: Any, prefix: str) -> None:
    if not isinstance(data, dict):
        return
    for mime in sorted(data, key=lambda m: (m not in _SHOWN_MIMES, m)):
        value = data[mime]
        if mime in _SHOWN_MIMES:
            w.out(f"{prefix}{mime}")
            w.body(_text(value))
        else:
            w.out(f"{prefix}[{mime} {human_size(_payload_size(mime, value))}]")


def _outputs(w: _Writer, outputs: Any) -> None:
    if not isinstance(outputs, list):
        return
    for out in outputs:
        if not isinstance(out, dict):
            continue
        otype = out.get("output_type", "?")
        if otype == "stream":
            w.out(f"# out: {out.get('name', out.get('stream', 'stream'))}")
            w.body(_text(out.get("text", "")))
        elif otype in ("execute_result", "display_data", "pyout"):
            if "data" in out:
                _bundle(w, out.get("data"), "# out: ")
            else:  # nbformat 2/3: mime types are keys of the output itself
                legacy = {k: v for k, v in out.items()
                          if k not in ("output_type", "prompt_number", "metadata")}
                for key, value in sorted(legacy.items()):
                    if key == "text":
                        w.out("# out: text/plain")
                        w.body(_text(value))
                    else:
                        w.out(f"# out: [{key} {human_size(_payload_size(key, value))}]")
        elif otype in ("error", "pyerr"):
            tb = out.get("traceback")
            lines = len(tb) if isinstance(tb, list) else 0
            w.out(f"# out: error {out.get('ename', '')}: {out.get('evalue', '')}"
                  + (f" [traceback {lines} lines]" if lines else ""))
        else:
            w.out(f"# out: {otype}")


def _cells_of(nb: dict[str, Any]) -> list[Any]:
    if "nbformat" in nb and notebook_version(nb)[0] < 4:
        cells: list[Any] = []
        for ws in nb.get("worksheets") or []:
            if isinstance(ws, dict) and isinstance(ws.get("cells"), list):
                cells.extend(ws["cells"])
        return cells
    found = nb.get("cells")
    return found if isinstance(found, list) else []


def _jupyter(nb: dict[str, Any], w: _Writer) -> None:
    major, minor = notebook_version(nb)
    if major == 4:
        v4_from_disk(nb)
    w.header(f"# nbformat {major}.{minor}" if "nbformat" in nb else "# notebook")
    meta = nb.get("metadata")
    if isinstance(meta, dict):
        for key in sorted(meta):
            value = json.dumps(meta[key], sort_keys=True, ensure_ascii=False)
            w.header(f"# metadata.{key}: {value}")
    cells = _cells_of(nb)
    show_ids = _real_ids(cells)
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        w.blank()
        ctype = cell.get("cell_type", "code")
        kind = "" if ctype == "code" else f" [{ctype}]"
        extra = f" id={cell['id']}" if show_ids and "id" in cell else ""
        count = cell.get("execution_count", cell.get("prompt_number"))
        if count is not None:
            extra += f" execution_count={count}"
        source = _text(cell.get("source", cell.get("input", "")))
        w.header(f"# %%{kind}{extra}{_meta_suffix(cell.get('metadata'))}{_title(source)}")
        w.body(source)
        attachments = cell.get("attachments")
        if isinstance(attachments, dict):
            for aname in sorted(attachments):
                _bundle(w, attachments[aname], f"# attachment {aname}: ")
        _outputs(w, cell.get("outputs"))


def _zeppelin(nb: dict[str, Any], w: _Writer) -> None:
    w.header(f"# zeppelin: {_text(nb.get('name', ''))}")
    for p in nb.get("paragraphs") or []:
        if not isinstance(p, dict):
            continue
        w.blank()
        title = p.get("title")
        w.header(f"# %% [paragraph]{' ' + _text(title) if title else ''}")
        w.body(_text(p.get("text", "")))
        results = p.get("results")
        msgs = results.get("msg") if isinstance(results, dict) else None
        for msg in msgs if isinstance(msgs, list) else []:
            if not isinstance(msg, dict):
                continue
            mtype = _text(msg.get("type", "TEXT"))
            data = _text(msg.get("data", ""))
            if mtype == "TEXT":
                w.out("# out: TEXT")
                w.body(data)
            else:
                w.out(f"# out: [{mtype} {human_size(len(data.encode('utf-8', 'surrogatepass')))}]")


def notebook_to_text(data: bytes, *, name: str, color: bool) -> str:
    """The notebook in ``data`` as text for diffing (see the module docstring).

    Raises :class:`gitext.errors.NotebookError` naming ``name`` if ``data`` is not a
    notebook; the caller decides whether to fall back to the raw bytes.
    """
    nb = parse_notebook_json(data, name=name)
    w = _Writer(color)
    if isinstance(nb.get("paragraphs"), list) and "cells" not in nb and "worksheets" not in nb:
        _zeppelin(nb, w)
    else:
        try:
            _jupyter(nb, w)
        except NotebookFormatError as exc:
            raise NotebookFormatError(f"{name}: {exc.message}", hint=exc.hint) from None
    return w.result()
