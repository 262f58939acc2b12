"""The chart templates, as Vega-Lite v5 specs built in Python: DVC's names and what each one
draws (marks, encodings), written for a static picture (no sliders or hover, which an
inline SVG cannot have).

Every template takes the same table: one row per point with the plot's ``x`` and ``y``
fields, ``rev`` (the revision), ``filename``, ``field`` (the y column it came from) and
``series`` (the one label telling the overlaid lines apart: only the parts that vary).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gitext.errors import PipelineError

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
WIDTH = 300
HEIGHT = 300
SERIES = "series"

Spec = dict[str, Any]


class Chart:
    """What a template needs to know: fields, labels, and whether there are several series."""

    def __init__(self, *, x: str, y: str, title: str, x_label: str, y_label: str,
                 rows: list[dict[str, Any]], series: Sequence[str]) -> None:
        self.x = x
        self.y = y
        self.title = title
        self.x_label = x_label
        self.y_label = y_label
        self.rows = rows
        self.series = list(series)

    @property
    def several(self) -> bool:
        return len(self.series) > 1

    def color(self) -> dict[str, Any]:
        """Colour by series (in the order they came), or nothing for a single one."""
        if not self.several:
            return {}
        return {"color": {"field": SERIES, "type": "nominal", "sort": self.series,
                          "title": None}}

    def base(self) -> Spec:
        return {"$schema": SCHEMA, "data": {"values": self.rows},
                "title": {"text": self.title, "anchor": "middle"}}

    def quantitative(self, field: str, title: str, *, zero: bool = True) -> dict[str, Any]:
        enc: dict[str, Any] = {"field": field, "type": "quantitative", "title": title}
        if not zero:
            enc["scale"] = {"zero": False}
        return enc


def _last_point(chart: Chart) -> Spec:
    """A dot where each series ends (DVC's linear/smooth templates mark it)."""
    return {"mark": {"type": "circle", "size": 30},
            "encoding": {"x": {"aggregate": "max", "field": chart.x, "type": "quantitative",
                               "title": chart.x_label},
                         "y": {"aggregate": {"argmax": chart.x}, "field": chart.y,
                               "type": "quantitative", "title": chart.y_label,
                               "scale": {"zero": False}},
                         **({"detail": {"field": SERIES}} if chart.several else {}),
                         **chart.color()}}


def linear(chart: Chart) -> Spec:
    return {**chart.base(), "width": WIDTH, "height": HEIGHT,
            "encoding": {"x": chart.quantitative(chart.x, chart.x_label),
                         "y": chart.quantitative(chart.y, chart.y_label, zero=False),
                         **chart.color()},
            "layer": [{"mark": {"type": "line"}}, _last_point(chart)]}


def smooth(chart: Chart) -> Spec:
    loess: dict[str, Any] = {"loess": chart.y, "on": chart.x, "bandwidth": 0.3}
    if chart.several:
        loess["groupby"] = [SERIES]
    encoding = {"x": chart.quantitative(chart.x, chart.x_label),
                "y": chart.quantitative(chart.y, chart.y_label, zero=False), **chart.color()}
    return {**chart.base(), "width": WIDTH, "height": HEIGHT,
            "layer": [{"mark": {"type": "line", "opacity": 0.2}, "encoding": encoding},
                      {"transform": [loess], "mark": {"type": "line"}, "encoding": encoding},
                      _last_point(chart)]}


def simple(chart: Chart) -> Spec:
    return {**chart.base(), "width": WIDTH, "height": HEIGHT,
            "mark": {"type": "line", "tooltip": {"content": "data"}},
            "encoding": {"x": chart.quantitative(chart.x, chart.x_label),
                         "y": chart.quantitative(chart.y, chart.y_label, zero=False),
                         **chart.color()}}


def scatter(chart: Chart) -> Spec:
    shape = {"shape": {"field": SERIES, "type": "nominal", "sort": chart.series,
                       "title": None}} if chart.several else {}
    return {**chart.base(), "width": WIDTH, "height": HEIGHT,
            "mark": {"type": "point", "tooltip": {"content": "data"}},
            "encoding": {"x": chart.quantitative(chart.x, chart.x_label),
                         "y": chart.quantitative(chart.y, chart.y_label),
                         **chart.color(), **shape}}


def _bars(chart: Chart, *, sort: bool) -> Spec:
    y: dict[str, Any] = {"field": chart.y, "type": "nominal", "title": chart.y_label}
    if sort:
        y["sort"] = "-x"
    offset = {"yOffset": {"field": SERIES, "sort": chart.series}} if chart.several else {}
    return {**chart.base(), "width": WIDTH, "height": HEIGHT, "mark": {"type": "bar"},
            "encoding": {"x": {**chart.quantitative(chart.x, chart.x_label),
                               "scale": {"zero": False}},
                         "y": y, **offset, **chart.color()}}


def bar_horizontal(chart: Chart) -> Spec:
    return _bars(chart, sort=False)


def bar_horizontal_sorted(chart: Chart) -> Spec:
    return _bars(chart, sort=True)


def _confusion(chart: Chart, *, normalized: bool) -> Spec:
    """Counts of (x, y) pairs as coloured cells with their value written in; one panel per
    series. ``normalized`` divides each cell by its row's total (the rows being ``y``)."""
    group = [SERIES] if chart.several else []
    transform: list[dict[str, Any]] = [
        {"aggregate": [{"op": "count", "as": "xy_count"}],
         "groupby": [*group, chart.y, chart.x]},
        {"impute": "xy_count", "groupby": [*group, chart.y], "key": chart.x, "value": 0},
        {"impute": "xy_count", "groupby": [*group, chart.x], "key": chart.y, "value": 0},
    ]
    scale: dict[str, Any]
    if normalized:
        value, fmt, scale = "percent_of_y", ".2f", {"domain": [0, 1]}
        transform += [{"joinaggregate": [{"op": "sum", "field": "xy_count", "as": "sum_y"}],
                       "groupby": [*group, chart.y]},
                      {"calculate": "datum.sum_y ? datum.xy_count / datum.sum_y : 0",
                       "as": value}]
        light = f"datum.{value} > 0.5"
    else:
        value, fmt, scale = "xy_count", "d", {"domainMin": 0, "nice": True}
        transform += [{"joinaggregate": [{"op": "max", "field": "xy_count", "as": "max_count"}],
                       "groupby": group},
                      {"calculate": "datum.xy_count / datum.max_count", "as": "percent_of_max"}]
        light = "datum.percent_of_max > 0.5"
    inner = {
        "width": WIDTH, "height": HEIGHT,
        "encoding": {"x": {"field": chart.x, "type": "nominal", "sort": "ascending",
                           "title": chart.x_label},
                     "y": {"field": chart.y, "type": "nominal", "sort": "ascending",
                           "title": chart.y_label}},
        "layer": [{"mark": "rect", "encoding": {"color": {"field": value,
                                                          "type": "quantitative",
                                                          "title": "", "scale": scale}}},
                  {"mark": "text", "encoding": {
                      "text": {"field": value, "type": "quantitative", "format": fmt},
                      "color": {"condition": {"test": light, "value": "white"},
                                "value": "black"}}}],
    }
    spec = {**chart.base(), "transform": transform}
    if not chart.several:
        return {**spec, **inner}
    return {**spec, "facet": {"column": {"field": SERIES, "sort": chart.series,
                                         "title": None}}, "spec": inner}


def confusion(chart: Chart) -> Spec:
    return _confusion(chart, normalized=False)


def confusion_normalized(chart: Chart) -> Spec:
    return _confusion(chart, normalized=True)


TEMPLATES: dict[str, Callable[[Chart], Spec]] = {
    "linear": linear,
    "simple": simple,
    "scatter": scatter,
    "smooth": smooth,
    "bar_horizontal": bar_horizontal,
    "bar_horizontal_sorted": bar_horizontal_sorted,
    "confusion": confusion,
    "confusion_normalized": confusion_normalized,
}
DEFAULT_TEMPLATE = "linear"


def get_template(name: str, where: str) -> Callable[[Chart], Spec]:
    """The template called ``name``; ``where`` (the plot) is named when there is none."""
    found = TEMPLATES.get(name)
    if found is not None:
        return found
    import difflib

    close = difflib.get_close_matches(name, list(TEMPLATES), n=1)
    guess = f"; did you mean '{close[0]}'?" if close else ""
    raise PipelineError(f"{where}: unknown plot template '{name}'{guess}",
                        hint="the templates are: " + ", ".join(TEMPLATES))
