"""``nb diff --html``: one self-contained page showing changed cells side by side.

Nothing on the page reaches the network or runs: no script at all, styles inline, images
inlined as ``data:`` URIs, and a Content-Security-Policy that forbids every other source
(a notebook from a cloned repository is untrusted: its markdown's raw HTML is escaped,
its remote images are not loaded, and ``text/html`` outputs are not rendered).
Markdown is rendered by ``markdown-it-py`` (the ``[nbdiff]`` extra).
"""

from __future__ import annotations

import base64
import difflib
import html
import json
from collections.abc import Sequence
from typing import Any

from gitext.errors import ArchivesError
from gitext.notebooks.review import NotebookPair, Row, cell_rows, read_cells

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
_TEXTS = ("text/markdown", "text/latex", "text/plain")
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 1.5em;color:#222}
h2{font-size:1.1em;margin:1.6em 0 .4em;padding:.3em .5em;background:#eef1f5}
table.nb{border-collapse:collapse;width:100%;table-layout:fixed}
table.nb td{vertical-align:top;border:1px solid #dde;padding:4px 6px;overflow:auto}
td.head{background:#f6f6f8;color:#555;font-size:.85em}
pre{margin:0;white-space:pre-wrap;font:12.5px/1.4 ui-monospace,monospace}
.del{background:#fde8e8}.add{background:#e6f6e6}
td.missing{background:repeating-linear-gradient(45deg,#fafafa,#fafafa 6px,#f0f0f0 6px,#f0f0f0 12px)}
.out{border-top:1px dashed #ccc;margin-top:4px;padding-top:4px}
.out img{max-width:100%}.note{color:#777;font-style:italic}
tr.same td{color:#999;text-align:center;font-size:.85em}
"""


def _markdown() -> Any:
    try:
        from markdown_it import MarkdownIt
    except ModuleNotFoundError:
        raise ArchivesError("nb diff --html renders markdown with markdown-it-py, which is "
                            "not installed",
                            hint="pip install 'git-archives[nbdiff]'") from None
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    default_image = md.renderer.rules.get("image")  # type: ignore[attr-defined]

    def image(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        if src.startswith("attachment:"):
            uri = (env.get("attachments") or {}).get(src.removeprefix("attachment:"))
            if uri:
                token.attrSet("src", uri)
                src = uri
        if src.startswith("data:image/"):
            return str(default_image(tokens, idx, options, env)) if default_image else ""
        alt = html.escape(token.content or "image")
        return f'<span class="note">[image {alt}: {html.escape(src)} not loaded]</span>'

    md.add_render_rule("image", image)
    return md


def _data_uri(mime: str, value: Any) -> str | None:
    text = "".join(value) if isinstance(value, list) else value
    if not isinstance(text, str):
        return None
    if mime == "image/svg+xml":
        text = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()
    return f"data:{mime};base64,{''.join(text.split())}"


def _attachments(cell: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    atts = cell.get("attachments")
    for name, bundle in (atts.items() if isinstance(atts, dict) else []):
        for mime in _IMAGES:
            if isinstance(bundle, dict) and mime in bundle:
                uri = _data_uri(mime, bundle[mime])
                if uri:
                    found[name] = uri
                    break
    return found


def _bundle(md: Any, data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    for mime in _IMAGES:
        if mime in data and (uri := _data_uri(mime, data[mime])):
            return f'<img alt="{mime}" src="{html.escape(uri)}">'
    for mime in _TEXTS:
        if mime in data:
            value = data[mime]
            text = "".join(value) if isinstance(value, list) else str(value)
            return md.render(text) if mime == "text/markdown" else \
                f"<pre>{html.escape(text)}</pre>"
    shown = ", ".join(sorted(data))
    return f'<span class="note">[{html.escape(shown)} output not shown]</span>'


def _outputs(md: Any, cell: dict[str, Any]) -> str:
    parts = []
    for out in cell.get("outputs") or []:
        if not isinstance(out, dict):
            continue
        otype = out.get("output_type")
        if otype == "stream":
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            parts.append(f"<pre>{html.escape(text)}</pre>")
        elif otype in ("execute_result", "display_data"):
            parts.append(_bundle(md, out.get("data")))
        elif otype == "error":
            parts.append(f"<pre class=\"del\">{html.escape(str(out.get('ename', '')))}: "
                         f"{html.escape(str(out.get('evalue', '')))}</pre>")
    return "".join(f'<div class="out">{p}</div>' for p in parts)


def _lines(lines: Sequence[str], marks: set[int], cls: str) -> str:
    return "".join(f'<span class="{cls}">{html.escape(ln)}</span>' if i in marks
                   else html.escape(ln) for i, ln in enumerate(lines))


def _source_pair(old: str, new: str) -> tuple[str, str]:
    """Both sources with the lines that differ marked."""
    a, b = old.splitlines(True), new.splitlines(True)
    gone: set[int] = set()
    came: set[int] = set()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            gone.update(range(i1, i2))
            came.update(range(j1, j2))
    return _lines(a, gone, "del"), _lines(b, came, "add")


def _cell_html(md: Any, cell: dict[str, Any] | None, source_html: str | None) -> str:
    if cell is None:
        return '<td class="missing"></td>'
    ctype = cell.get("cell_type", "code")
    source = str(cell.get("source", ""))
    if ctype == "markdown" and source_html is None:
        body = md.render(source, {"attachments": _attachments(cell)})
    else:
        body = f"<pre>{source_html if source_html is not None else html.escape(source)}</pre>"
    meta = cell.get("metadata")
    tags = f" {html.escape(json.dumps(meta, sort_keys=True))}" if meta else ""
    return (f'<td><div class="note">[{html.escape(str(ctype))}]{tags}</div>{body}'
            f"{_outputs(md, cell)}</td>")


def _row_html(md: Any, row: Row) -> str:
    if row.kind == "changed" and row.old is not None and row.new is not None \
            and row.old.get("source") != row.new.get("source"):
        left, right = _source_pair(str(row.old.get("source", "")),
                                   str(row.new.get("source", "")))
        return f'<tr class="changed">{_cell_html(md, row.old, left)}' \
               f"{_cell_html(md, row.new, right)}</tr>"
    return f'<tr class="{row.kind}">{_cell_html(md, row.old, None)}' \
           f"{_cell_html(md, row.new, None)}</tr>"


def _table(md: Any, pair: NotebookPair) -> str:
    _, old = read_cells(pair.old.data, name=f"{pair.old.label}:{pair.path}")
    _, new = read_cells(pair.new.data, name=f"{pair.new.label}:{pair.path}")
    rows = cell_rows(old, new)
    out = [f'<tr><td class="head">{html.escape(pair.old.label)}'
           f'{"" if pair.old.data is not None else " (absent)"}</td>'
           f'<td class="head">{html.escape(pair.new.label)}'
           f'{"" if pair.new.data is not None else " (absent)"}</td></tr>']
    same = 0
    for row in [*rows, None]:
        if row is not None and row.kind == "same":
            same += 1
            continue
        if same:
            out.append(f'<tr class="same"><td colspan="2">{same} unchanged cell(s)</td></tr>')
            same = 0
        if row is not None:
            out.append(_row_html(md, row))
    changed = sum(r.kind != "same" for r in rows)
    return (f"<h2>{html.escape(pair.path)} <span class=\"note\">({changed} cell(s) differ)"
            f'</span></h2><table class="nb">{"".join(out)}</table>')


def render_page(pairs: Sequence[NotebookPair], *, title: str) -> str:
    """The whole page; raises NotebookError for a side that is not an nbformat 4 notebook."""
    md = _markdown()
    body = "".join(_table(md, p) for p in pairs) or '<p class="note">No notebook differs.</p>'
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n")
