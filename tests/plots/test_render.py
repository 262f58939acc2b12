"""The page writer's pure parts: JSON that is safe inside ``<script>``, and the renderer
inlined once however many charts the page has."""

from __future__ import annotations

import json
import re

from gitext.plots.collect import Plot
from gitext.plots.render import page, script_json


def test_script_json_leaves_no_markup_and_round_trips() -> None:
    value = {"</script><script>alert(1)</script>": ["<!--", "-->", "a&b", "\u2028\u2029"]}
    text = script_json(value)
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert json.loads(text) == value


def test_the_renderer_is_inlined_once_for_several_charts() -> None:
    spec = {"data": {"values": [{"a": 1}]}, "mark": "point",
            "encoding": {"x": {"field": "a", "type": "quantitative"}}}
    plots = [Plot(id=f"p{n}", spec=spec, images=[]) for n in range(3)]
    text = page(plots, title="t", revisions=["workspace"])
    assert re.findall(r'<script data-lib="([^"]+)">', text) == [
        "vega", "vega-lite", "vega-interpreter", "vega-embed"]
    assert text.count('<div class="chart" id="chart-') == 3
