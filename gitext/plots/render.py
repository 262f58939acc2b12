"""The plots page: one HTML file that needs nothing else. By default it carries the
renderer (the vendored ``vega``, ``vega-lite``, ``vega-embed`` and ``vega-interpreter``
builds in ``vendor/``, inlined once) and each chart's Vega-Lite spec as JSON, drawn to SVG
by the browser. ``static=True`` draws each chart here instead, to SVG, with
``vl-convert-python`` (the ``[plots]`` extra: an embedded JavaScript engine) for a page
with no script at all. Images are inlined as ``data:`` URLs. Either page fetches nothing:
a Content-Security-Policy says so to the browser.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitext.errors import PipelineError
from gitext.plots.collect import Image, Plot

EXTRA = "plots"
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
# The live page: inline scripts only (no eval: Vega's expressions are interpreted), no
# remote script, no connect-src (the renderer cannot fetch data).
_LIVE_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
             "script-src 'unsafe-inline'")
VENDOR = Path(__file__).parent / "vendor"
_VENDORED = ("vega", "vega-lite", "vega-interpreter", "vega-embed")
_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; }
section { display: inline-block; vertical-align: top; margin: 0 2em 2em 0; }
h2 { font-size: 1em; font-weight: normal; font-family: monospace; }
figure { display: inline-block; margin: 0 1em 1em 0; }
figure img { max-width: 600px; border: 1px solid #ddd; }
figcaption { font-family: monospace; font-size: 0.9em; }
"""


def _converter() -> Any:
    try:
        import vl_convert
    except ImportError:
        from gitext.remotes.extras import install_command

        raise PipelineError(
            "plots show --static needs git-archives' [plots] extra (vl-convert-python is "
            "not installed); without --static the page draws its charts in the browser",
            hint=f"install it: {install_command(EXTRA)}") from None
    return vl_convert


_WARM_UP_SPEC = {"data": {"values": [{"a": 1}]}, "mark": "point",
                 "encoding": {"x": {"field": "a", "type": "quantitative"}}}
VL_VERSION = "5.21"


def warm_up() -> threading.Thread:
    """Start the renderer's JavaScript engine in a thread (it releases the GIL): its
    start-up, most of a page's cost, overlaps the reading of the plot files. Raises now,
    not later, when the extra is missing."""
    converter = _converter()

    def run() -> None:
        with contextlib.suppress(Exception):  # the real call reports any problem
            converter.vegalite_to_svg(vl_spec=_WARM_UP_SPEC, vl_version=VL_VERSION,
                                      allowed_base_urls=[])

    thread = threading.Thread(target=run, name="vl-convert warm-up", daemon=True)
    thread.start()
    return thread


def to_svg(spec: dict[str, Any], what: str) -> str:
    """One chart as an SVG document."""
    converter = _converter()
    try:
        svg = converter.vegalite_to_svg(vl_spec=spec, vl_version=VL_VERSION,
                                        allowed_base_urls=[])
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no reason given"
        raise PipelineError(f"plot '{what}': Vega-Lite could not draw it: {first}",
                            hint="check the plot's template, x and y in dvc.yaml") from None
    return str(svg)


_SVG_IDS = re.compile(r'(\bid="|url\(#|href="#)')


def _own_ids(svg: str, prefix: str) -> str:
    """Each inline SVG's ids (gradients, clip paths) made its own: several in one page
    would otherwise share ``gradient_0`` and draw each other's legends."""
    return _SVG_IDS.sub(lambda m: f"{m.group(1)}{prefix}-", svg)


def _image(image: Image, show_rev: bool) -> str:
    url = f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"
    caption = f"{image.rev}: {image.path}" if show_rev else image.path
    return (f'<figure><img src="{url}" alt="{html.escape(image.path)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _section(plot: Plot, body: str) -> str:
    return (f'<section class="plot" data-plot="{html.escape(plot.id)}">'
            f"<h2>{html.escape(plot.id)}</h2>{body}</section>")


def page(plots: Sequence[Plot], *, title: str, revisions: Sequence[str],
         static: bool = False) -> str:
    """The whole HTML document: charts drawn by the inlined renderer, or (``static``)
    drawn here to inline SVG."""
    show_rev = len(revisions) > 1
    sections, specs = [], {}
    for n, plot in enumerate(plots):
        if plot.spec is None:
            body = "".join(_image(i, show_rev) for i in plot.images)
        elif static:
            body = _own_ids(to_svg(plot.spec, plot.id), f"p{n}")
        else:
            specs[f"chart-{n}"] = plot.spec
            body = f'<div class="chart" id="chart-{n}"></div>'
        sections.append(_section(plot, body))
    heading = html.escape(title)
    revs = html.escape(", ".join(revisions))
    scripts = "" if static else _scripts(specs)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP if static else _LIVE_CSP}">'
        f"<title>{heading}</title><style>{_STYLE}</style></head>\n<body>"
        f"<h1>{heading}</h1><p>{revs}</p>\n" + "\n".join(sections) + "\n"
        + scripts + "</body></html>\n")


_SCRIPT_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                                "\u2028": "\\u2028", "\u2029": "\\u2029"})


def script_json(value: Any) -> str:
    """JSON safe inside ``<script>``: no ``<``, ``>`` or ``&`` is left as itself (they
    become ``\\u003c``…, the same string to JavaScript), so no ``</script>`` or ``<!--``
    in the data ends or bends the script element."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(
        _SCRIPT_UNSAFE)


_EMBED = """(function () {
  var specs = %s;
  var opts = {renderer: "svg", actions: false, ast: true, expr: vega.expressionInterpreter};
  Object.keys(specs).forEach(function (id) {
    var el = document.getElementById(id);
    vegaEmbed(el, specs[id], opts).catch(function (err) {
      el.textContent = "could not draw this plot: " + err.message;
    });
  });
})();"""


def _vendored(name: str) -> str:
    text = (VENDOR / f"{name}.min.js").read_text(encoding="utf-8")
    if "</script" in text.lower() or "<!--" in text:  # never true of the pinned builds
        raise PipelineError(f"{VENDOR / name}.min.js cannot be inlined in a page",
                            hint="reinstall git-archives")
    return text


def _scripts(specs: dict[str, Any]) -> str:
    """The renderer, once, then the charts' specs and the call drawing each."""
    if not specs:
        return ""
    parts = [f'<script data-lib="{name}">{_vendored(name)}</script>\n' for name in _VENDORED]
    parts.append(f"<script>{_EMBED % script_json(specs)}</script>\n")
    return "".join(parts)


def specs_json(plots: Sequence[Plot]) -> str:
    """``--json``: every chart's Vega-Lite spec (data inlined) by plot id; images by
    revision, path and MIME type (their bytes are not printed)."""
    out: dict[str, Any] = {}
    for plot in plots:
        if plot.spec is not None:
            out[plot.id] = plot.spec
        else:
            out[plot.id] = {"images": [{"rev": i.rev, "path": i.path, "type": i.mime}
                                       for i in plot.images]}
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def write_page(root: Path | None, out_dir: str, text: str) -> Path:
    """Write ``out_dir/index.html`` and return that path as given. Inside the clone (the
    default ``dvc_plots`` is) the folder is a path the repository may have committed as a
    symlink, so the write goes through :class:`~gitext.fs.worktree.WorkTree`, which
    refuses one leading out; a folder the user named outside the clone is written
    directly."""
    shown = Path(out_dir) / "index.html"  # as the user named it
    target = Path(os.path.abspath(out_dir)) / "index.html"
    data = text.encode("utf-8")
    if root is not None:
        try:
            rel = target.relative_to(os.path.abspath(root)).as_posix()
        except ValueError:
            rel = None
        if rel is not None:
            from gitext.fs.worktree import WorkTree

            with WorkTree(root) as wt:
                wt.write_bytes(rel, data, sync=False)
            return shown
    from gitext.fs.atomic import atomic_write

    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, data)
    return shown
