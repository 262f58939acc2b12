"""Each template's Vega-Lite spec, checked by its structure: marks, encodings, data rows;
and the did-you-mean for a template that does not exist."""

from __future__ import annotations

from typing import Any

import pytest

from gitext.errors import PipelineError
from gitext.plots.templates import TEMPLATES, Chart, get_template

ROWS = [{"step": i, "loss": 1.0 / (i + 1), "rev": "workspace", "filename": "t.csv",
         "field": "loss", "series": "t.csv"} for i in range(5)]


def chart(rows: list[dict[str, Any]] | None = None, series: tuple[str, ...] = ("t.csv",),
          x: str = "step", y: str = "loss") -> Chart:
    return Chart(x=x, y=y, title="Training", x_label="epoch", y_label="loss",
                 rows=ROWS if rows is None else rows, series=series)


def marks(spec: dict[str, Any]) -> list[str]:
    """Every mark type in the spec, layers and facets included, in order."""
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        mark = node.get("mark")
        if mark is not None:
            found.append(mark if isinstance(mark, str) else mark["type"])
        for child in node.get("layer", []):
            walk(child)
        if "spec" in node:
            walk(node["spec"])

    walk(spec)
    return found


def test_every_template_inlines_the_rows_and_titles_the_chart() -> None:
    assert sorted(TEMPLATES) == sorted([
        "linear", "simple", "scatter", "smooth", "bar_horizontal", "bar_horizontal_sorted",
        "confusion", "confusion_normalized"])
    for name, build in TEMPLATES.items():
        spec = build(chart())
        assert spec["$schema"].endswith("/vega-lite/v5.json"), name
        assert spec["data"] == {"values": ROWS}, name
        assert spec["title"]["text"] == "Training", name


def test_line_templates_draw_x_against_y_as_numbers() -> None:
    assert marks(TEMPLATES["linear"](chart())) == ["line", "circle"]
    assert marks(TEMPLATES["simple"](chart())) == ["line"]
    assert marks(TEMPLATES["smooth"](chart())) == ["line", "line", "circle"]
    for name in ("linear", "simple"):
        enc = TEMPLATES[name](chart())["encoding"]
        assert enc["x"] == {"field": "step", "type": "quantitative", "title": "epoch"}
        assert enc["y"]["field"] == "loss" and enc["y"]["type"] == "quantitative"
        assert enc["y"]["scale"] == {"zero": False}
        assert "color" not in enc  # one series: no legend
    smooth = TEMPLATES["smooth"](chart())
    assert smooth["layer"][1]["transform"] == [{"loess": "loss", "on": "step",
                                                "bandwidth": 0.3}]


def test_scatter_is_points_with_colour_and_shape_per_series() -> None:
    two = [{**r, "series": s} for r in ROWS for s in ("main", "workspace")]
    spec = TEMPLATES["scatter"](chart(two, ("main", "workspace")))
    assert marks(spec) == ["point"]
    assert spec["encoding"]["color"]["field"] == "series"
    assert spec["encoding"]["shape"]["sort"] == ["main", "workspace"]


def test_bar_templates_put_the_value_on_x_and_the_category_on_y() -> None:
    rows = [{"importance": v, "feature": f, "series": "f.csv"}
            for f, v in (("a", 0.2), ("b", 0.7))]
    plain = TEMPLATES["bar_horizontal"](chart(rows, x="importance", y="feature"))
    ranked = TEMPLATES["bar_horizontal_sorted"](chart(rows, x="importance", y="feature"))
    assert marks(plain) == marks(ranked) == ["bar"]
    assert plain["encoding"]["x"]["field"] == "importance"
    assert plain["encoding"]["x"]["type"] == "quantitative"
    assert plain["encoding"]["y"] == {"field": "feature", "type": "nominal", "title": "loss"}
    assert ranked["encoding"]["y"]["sort"] == "-x"


def test_confusion_counts_pairs_and_the_normalized_one_divides_by_the_row() -> None:
    rows = [{"actual": a, "predicted": p, "series": "cm.csv"}
            for a, p in ((0, 0), (0, 1), (1, 1), (1, 1))]
    spec = TEMPLATES["confusion"](chart(rows, x="actual", y="predicted"))
    assert marks(spec) == ["rect", "text"]
    assert spec["transform"][0] == {"aggregate": [{"op": "count", "as": "xy_count"}],
                                    "groupby": ["predicted", "actual"]}
    assert spec["encoding"]["x"]["type"] == spec["encoding"]["y"]["type"] == "nominal"
    assert spec["layer"][0]["encoding"]["color"]["field"] == "xy_count"
    norm = TEMPLATES["confusion_normalized"](chart(rows, x="actual", y="predicted"))
    assert norm["layer"][0]["encoding"]["color"]["field"] == "percent_of_y"
    assert norm["layer"][0]["encoding"]["color"]["scale"] == {"domain": [0, 1]}
    assert {"joinaggregate": [{"op": "sum", "field": "xy_count", "as": "sum_y"}],
            "groupby": ["predicted"]} in norm["transform"]


def test_confusion_of_two_revisions_is_one_panel_each() -> None:
    rows = [{"actual": 0, "predicted": 0, "series": s} for s in ("HEAD", "workspace")]
    spec = TEMPLATES["confusion"](chart(rows, ("HEAD", "workspace"), x="actual",
                                        y="predicted"))
    assert spec["facet"]["column"] == {"field": "series", "sort": ["HEAD", "workspace"],
                                       "title": None}
    assert marks(spec) == ["rect", "text"]
    assert spec["transform"][0]["groupby"] == ["series", "predicted", "actual"]


def test_an_unknown_template_is_refused_with_the_closest_name() -> None:
    assert get_template("linear", "x") is TEMPLATES["linear"]
    with pytest.raises(PipelineError, match=r"^dvc\.yaml: plot 'cm': unknown plot template "
                                            r"'confusoin'; did you mean 'confusion'\?$"):
        get_template("confusoin", "dvc.yaml: plot 'cm'")
