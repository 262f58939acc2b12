"""Parsing metric files, comparing snapshots and the table/markdown/JSON output."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitext.errors import PipelineError
from gitext.pipeline.metrics.diff import diff_metrics, diff_params, numeric_change
from gitext.pipeline.metrics.format import (
    diff_to_json,
    format_change,
    format_diff,
    format_show,
    format_value,
    show_to_json,
)
from gitext.pipeline.metrics.parse import flatten, parse_metrics, select_keys
from gitext.pipeline.metrics.snapshot import MISSING, Snapshot

TUTORIAL_OLD = {"metrics/analysis.json": {
    "total_adventurers": 10, "avg_level": 12.9, "max_level": 20, "avg_power": 26.5,
    "max_power": 29}}
TUTORIAL_NEW = {"metrics/analysis.json": {
    "total_adventurers": 12, "avg_level": 13.58, "max_level": 20, "avg_power": 26.58,
    "max_power": 29}}


def test_json_yaml_and_toml_metrics_flatten_nested_keys_with_dots() -> None:
    expected = {"train.acc": 0.9, "train.loss": 0.1, "epochs": 3}
    assert parse_metrics(b'{"train": {"acc": 0.9, "loss": 0.1}, "epochs": 3}', "m.json") \
        == expected
    assert parse_metrics(b"train:\n  acc: 0.9\n  loss: 0.1\nepochs: 3\n", "m.yaml") == expected
    assert parse_metrics(b"epochs = 3\n[train]\nacc = 0.9\nloss = 0.1\n", "m.toml") == expected


def test_yaml_metrics_are_read_with_yaml_1_2_rules() -> None:
    assert parse_metrics(b"a: 1e-5\nb: yes\nc: 0o17\n", "m.yml") == {
        "a": 1e-5, "b": "yes", "c": 15}


def test_a_csv_metric_takes_the_header_as_names_and_the_last_row_as_values() -> None:
    text = b"epoch,loss,acc,note\n1,0.9,0.5,warmup\n2,0.4,0.75,done\n"
    assert parse_metrics(text, "logs/train.csv") == {
        "epoch": 2, "loss": 0.4, "acc": 0.75, "note": "done"}
    assert parse_metrics(b"a\tb\n1\t2.5\n", "m.tsv") == {"a": 1, "b": 2.5}


def test_a_csv_without_values_is_an_error_naming_the_file() -> None:
    with pytest.raises(PipelineError, match=r"^m\.csv: cannot parse: needs a header"):
        parse_metrics(b"a,b\n", "m.csv")


def test_a_malformed_json_metric_is_an_error_naming_the_file() -> None:
    with pytest.raises(PipelineError, match=r"^m\.json: cannot parse"):
        parse_metrics(b"{nope", "m.json")


def test_a_metric_file_that_is_a_list_is_refused() -> None:
    with pytest.raises(PipelineError, match="not key/value pairs"):
        parse_metrics(b"[1, 2]", "m.json")


def test_the_tutorial_diff_lists_only_changed_metrics_with_signed_changes() -> None:
    rows = diff_metrics(TUTORIAL_OLD, TUTORIAL_NEW)
    assert format_diff(rows, old_label="HEAD", new_label="workspace") == (
        "Path                   Metric             HEAD  workspace  Change\n"
        "metrics/analysis.json  avg_level          12.9      13.58   +0.68\n"
        "metrics/analysis.json  avg_power          26.5      26.58   +0.08\n"
        "metrics/analysis.json  total_adventurers    10         12      +2\n"
    )


def test_all_also_lists_unchanged_metrics_with_a_zero_change() -> None:
    rows = diff_metrics(TUTORIAL_OLD, TUTORIAL_NEW, all=True)
    assert [(r.key, format_change(r.change)) for r in rows] == [
        ("avg_level", "+0.68"), ("avg_power", "+0.08"), ("max_level", "0"),
        ("max_power", "0"), ("total_adventurers", "+2")]


def test_markdown_output_is_a_github_table_with_numbers_right_aligned() -> None:
    rows = diff_metrics(TUTORIAL_OLD, TUTORIAL_NEW)
    assert format_diff(rows, old_label="HEAD", new_label="workspace", markdown=True) == (
        "| Path                  | Metric            | HEAD | workspace | Change |\n"
        "| --------------------- | ----------------- | ---: | --------: | -----: |\n"
        "| metrics/analysis.json | avg_level         | 12.9 |     13.58 |  +0.68 |\n"
        "| metrics/analysis.json | avg_power         | 26.5 |     26.58 |  +0.08 |\n"
        "| metrics/analysis.json | total_adventurers |   10 |        12 |     +2 |\n"
    )


def test_json_output_has_old_new_and_an_exact_diff() -> None:
    rows = diff_metrics(TUTORIAL_OLD, TUTORIAL_NEW)
    assert json.loads(diff_to_json(rows)) == {"metrics/analysis.json": {
        "avg_level": {"old": 12.9, "new": 13.58, "diff": 0.68},
        "avg_power": {"old": 26.5, "new": 26.58, "diff": 0.08},
        "total_adventurers": {"old": 10, "new": 12, "diff": 2}}}


def test_precision_rounds_values_and_changes() -> None:
    old = {"m.json": {"auc": 0.763981}}
    new = {"m.json": {"auc": 0.801807}}
    rows = diff_metrics(old, new)
    assert format_diff(rows, old_label="v1", new_label="v2", precision=2) == (
        "Path    Metric    v1   v2  Change\n"
        "m.json  auc     0.76  0.8   +0.04\n"
    )
    assert format_diff(rows, old_label="v1", new_label="v2").splitlines()[1] == (
        "m.json  auc     0.76398  0.80181  +0.03783")
    assert json.loads(diff_to_json(rows, precision=3)) == {
        "m.json": {"auc": {"old": 0.764, "new": 0.802, "diff": 0.038}}}


def test_booleans_and_strings_show_values_but_no_change() -> None:
    old = {"m.json": {"passed": False, "model": "rf", "n": 1}}
    new = {"m.json": {"passed": True, "model": "xgb", "n": 1}}
    rows = diff_metrics(old, new)
    assert [(r.key, r.change) for r in rows] == [("model", None), ("passed", None)]
    assert format_diff(rows, old_label="a", new_label="b") == (
        "Path    Metric      a     b  Change\n"
        "m.json  model      rf   xgb       -\n"
        "m.json  passed  false  true       -\n"
    )
    assert json.loads(diff_to_json(rows)) == {"m.json": {
        "model": {"old": "rf", "new": "xgb"}, "passed": {"old": False, "new": True}}}


def test_a_metric_that_appears_or_disappears_shows_a_dash() -> None:
    rows = diff_metrics({"m.json": {"old_only": 1}}, {"m.json": {"new_only": 2.5},
                                                      "n.json": {"x": 1}})
    assert [(r.path, r.key, r.old, r.new, r.change) for r in rows] == [
        ("m.json", "new_only", MISSING, 2.5, None), ("m.json", "old_only", 1, MISSING, None),
        ("n.json", "x", MISSING, 1, None)]
    table = format_diff(rows, old_label="HEAD", new_label="workspace")
    assert table.splitlines()[1] == "m.json  new_only     -        2.5       -"


def test_a_number_that_turns_into_a_string_is_listed_without_a_change() -> None:
    rows = diff_metrics({"m.json": {"x": 1}}, {"m.json": {"x": "1"}})
    assert [(r.old, r.new, r.change) for r in rows] == [(1, "1", None)]


def test_params_diff_has_no_change_column_and_keeps_values_unrounded() -> None:
    rows = diff_params({"params.yaml": {"train.lr": 0.0001234567, "train.seed": 1}},
                       {"params.yaml": {"train.lr": 0.001, "train.seed": 1}})
    assert format_diff(rows, old_label="HEAD~1", new_label="workspace", kind="Param",
                       precision=None, show_change=False) == (
        "Path         Param           HEAD~1  workspace\n"
        "params.yaml  train.lr  0.0001234567      0.001\n"
    )


def test_show_lists_every_metric_sorted_by_file_then_key() -> None:
    snap = Snapshot("workspace", {"b.json": {"z": 1, "a": 0.123456789},
                                  "a.csv": {"loss": 0.5}})
    assert format_show(snap) == (
        "Path    Metric    Value\n"
        "a.csv   loss        0.5\n"
        "b.json  a       0.12346\n"
        "b.json  z             1\n"
    )
    assert list(json.loads(show_to_json(snap))) == ["a.csv", "b.json"]
    assert json.loads(show_to_json(snap))["b.json"] == {"a": 0.123456789, "z": 1}


def test_values_are_formatted_for_reading() -> None:
    assert format_value(MISSING) == "-"
    assert format_value(None) == "null"
    assert format_value(True) == "true"
    assert format_value(3.0) == "3"
    assert format_value(-0.000001) == "0"
    assert format_value(1e20) == "1e+20"
    assert format_value([1, 2]) == "[1, 2]"
    assert format_value(float("nan")) == "nan"
    assert format_change(-0.5) == "-0.5"
    assert format_change(None) == "-"


def test_select_keys_takes_a_key_and_everything_under_it() -> None:
    flat = {"base.seed": 1, "base.dir": "x", "baseline": 2, "train.lr": 0.1}
    assert select_keys(flat, ("base",)) == {"base.seed": 1, "base.dir": "x"}
    assert select_keys(flat, None) == flat


def test_flatten_keeps_an_empty_mapping_as_a_value() -> None:
    assert flatten({"a": {}, "b": {"c": [1]}}) == {"a": {}, "b.c": [1]}


finite = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12,
                   max_value=1e12)


@given(finite, finite)
def test_a_numeric_change_is_the_exact_decimal_difference(a: float, b: float) -> None:
    change = numeric_change(a, b)
    assert change is not None
    from decimal import Decimal

    # Exact in decimal: float subtraction itself may lose digits to cancellation.
    assert change == float(Decimal(repr(b)) - Decimal(repr(a)))


@given(st.dictionaries(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=5),
                       st.one_of(st.integers(), finite, st.booleans(), st.text(max_size=5)),
                       max_size=6))
def test_json_metric_files_round_trip_through_parse(data: dict[str, object]) -> None:
    assert parse_metrics(json.dumps(data).encode(), "m.json") == data


def test_select_keys_reaches_into_lists_by_index() -> None:
    flat = {"layers": [{"size": 4}, {"size": 8}], "lr": 0.1}
    assert select_keys(flat, ("layers.1.size",)) == {"layers.1.size": 8}
    assert select_keys(flat, ("layers.5.size",)) == {}


def _reads_as_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


cells = st.one_of(st.integers(-10**6, 10**6), finite,
                  st.text(st.characters(categories=["L"]), min_size=1, max_size=6)
                  .filter(_reads_as_text))


@given(st.lists(st.text(st.characters(categories=["L"]), min_size=1, max_size=6),
                min_size=1, max_size=5, unique=True).flatmap(
    lambda names: st.tuples(st.just(names), st.lists(
        st.lists(cells, min_size=len(names), max_size=len(names)), min_size=1, max_size=4))))
def test_a_csv_metric_reads_back_the_last_row_written(
        table: tuple[list[str], list[list[object]]]) -> None:
    names, rows = table
    text = "\n".join([",".join(names), *(",".join(map(repr, r)).replace("'", "")
                                         for r in rows)]) + "\n"
    assert parse_metrics(text.encode(), "log.csv") == dict(zip(names, rows[-1], strict=True))
