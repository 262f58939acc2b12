from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitext.errors import PipelineError
from gitext.pipeline.dag import (
    ancestors_graph,
    build_graph,
    detect_problems,
    render_dot,
    render_mermaid,
    resolve_targets,
    topological_order,
)
from gitext.pipeline.dag_ascii import render_ascii
from gitext.pipeline.model import Dep, Out, Pipeline, Stage
from tests.helpers.graphs import pipeline, stage

CHAIN = pipeline(stage("prepare", ["data/raw.csv"], ["data/prepared.csv"]),
                 stage("analyze", ["data/prepared.csv"], ["metrics/analysis.json"]))
DIAMOND = pipeline(stage("a", [], ["x"]), stage("b", ["x"], ["y"]), stage("c", ["x"], ["z"]),
                   stage("d", ["y", "z"], ["w"]))


def test_a_chain_is_drawn_as_two_boxes_and_an_arrow() -> None:
    assert render_ascii(build_graph([CHAIN])) == (
        "┌─────────┐\n"
        "│ prepare │\n"
        "└────┬────┘\n"
        "     │\n"
        "     ▼\n"
        "┌─────────┐\n"
        "│ analyze │\n"
        "└─────────┘\n"
    )


def test_a_chain_in_plain_ascii_uses_no_box_drawing_characters() -> None:
    text = render_ascii(build_graph([CHAIN]), unicode=False)
    assert text == (
        "+---------+\n"
        "| prepare |\n"
        "+----+----+\n"
        "     |\n"
        "     v\n"
        "+---------+\n"
        "| analyze |\n"
        "+---------+\n"
    )
    assert text.isascii()


def test_a_diamond_fans_out_and_back_in() -> None:
    assert render_ascii(build_graph([DIAMOND])) == (
        "    ┌───┐\n"
        "    │ a │\n"
        "    └─┬─┘\n"
        "  ┌───┴───┐\n"
        "  ▼       ▼\n"
        "┌───┐   ┌───┐\n"
        "│ b │   │ c │\n"
        "└─┬─┘   └─┬─┘\n"
        "  └───┬───┘\n"
        "      ▼\n"
        "    ┌───┐\n"
        "    │ d │\n"
        "    └───┘\n"
    )


def test_disconnected_parts_are_drawn_one_after_another() -> None:
    graph = build_graph([pipeline(
        stage("prepare", ["raw"], ["prep"]), stage("lonely", [], ["q"]),
        stage("analyze", ["prep"], ["m"]))])
    assert render_ascii(graph) == (
        "┌─────────┐\n"
        "│ prepare │\n"
        "└────┬────┘\n"
        "     │\n"
        "     ▼\n"
        "┌─────────┐\n"
        "│ analyze │\n"
        "└─────────┘\n"
        "\n"
        "┌────────┐\n"
        "│ lonely │\n"
        "└────────┘\n"
    )


def test_an_edge_that_skips_a_layer_is_routed_beside_the_middle_stage() -> None:
    graph = build_graph([pipeline(
        stage("featurize", [], ["features"]), stage("train", ["features"], ["model"]),
        stage("evaluate", ["features", "model"], ["eval"]))])
    assert render_ascii(graph) == (
        "  ┌───────────┐\n"
        "  │ featurize │\n"
        "  └─────┬─────┘\n"
        "    ┌───┴───┐\n"
        "    ▼       │\n"
        "┌───────┐   │\n"
        "│ train │   │\n"
        "└───┬───┘   │\n"
        "    └───┬───┘\n"
        "        ▼\n"
        "  ┌──────────┐\n"
        "  │ evaluate │\n"
        "  └──────────┘\n"
    )


def test_a_wide_fan_in_joins_on_one_line() -> None:
    graph = build_graph([pipeline(
        stage("one", [], ["1"]), stage("two", [], ["2"]), stage("three", [], ["3"]),
        stage("merge", ["1", "2", "3"], ["m"]))])
    assert render_ascii(graph) == (
        "┌─────┐   ┌─────┐   ┌───────┐\n"
        "│ one │   │ two │   │ three │\n"
        "└──┬──┘   └──┬──┘   └───┬───┘\n"
        "   └─────────┼──────────┘\n"
        "             ▼\n"
        "         ┌───────┐\n"
        "         │ merge │\n"
        "         └───────┘\n"
    )


def test_dot_output_lists_every_stage_then_every_edge() -> None:
    assert render_dot(build_graph([DIAMOND])) == (
        "strict digraph pipeline {\n"
        '    "a";\n    "b";\n    "c";\n    "d";\n'
        '    "a" -> "b";\n    "a" -> "c";\n    "b" -> "d";\n    "c" -> "d";\n'
        "}\n"
    )


def test_mermaid_output_is_a_top_down_flowchart() -> None:
    assert render_mermaid(build_graph([CHAIN])) == (
        "flowchart TD\n"
        '    node1["prepare"]\n'
        '    node2["analyze"]\n'
        "    node1 --> node2\n"
    )


def test_stages_in_another_dvc_yaml_are_named_by_path() -> None:
    sub = pipeline(stage("train", ["x"], ["y"]), file="models/dvc.yaml")
    graph = build_graph([DIAMOND, sub])
    assert "models/dvc.yaml:train" in graph.nodes
    assert graph.successors["a"] == ["b", "c", "models/dvc.yaml:train"]
    assert resolve_targets(graph, ["train"]) == ["models/dvc.yaml:train"]
    assert resolve_targets(graph, ["models/dvc.yaml"]) == ["models/dvc.yaml:train"]


def test_a_directory_output_feeds_a_stage_that_reads_a_file_inside_it() -> None:
    graph = build_graph([pipeline(stage("split", [], ["data/split"]),
                                  stage("train", ["data/split/train.csv"], ["model"]),
                                  stage("stats", ["data"], ["s.json"]))])
    assert graph.successors["split"] == ["train", "stats"]


def test_a_cycle_is_an_error_naming_its_stages() -> None:
    graph = build_graph([pipeline(stage("a", ["z"], ["x"], line=2), stage("b", ["x"], ["y"]),
                                  stage("c", ["y"], ["z"]), stage("d", ["x"], ["w"]))])
    with pytest.raises(PipelineError) as err:
        detect_problems(graph)
    assert err.value.message == "the pipeline has a cycle: a -> b -> c -> a (dvc.yaml:2:3)"
    assert err.value.hint
    with pytest.raises(PipelineError, match="a -> b -> c -> a"):
        topological_order(graph)


def test_two_stages_writing_one_output_is_an_error_naming_both() -> None:
    graph = build_graph([pipeline(stage("make", [], ["out.csv"], line=2),
                                  stage("remake", [], ["out.csv"], line=7))])
    with pytest.raises(PipelineError) as err:
        detect_problems(graph)
    assert err.value.message == ("output 'out.csv' is written by two stages: "
                                 "'make' (dvc.yaml:2:3) and 'remake' (dvc.yaml:7:3)")


def test_an_output_inside_another_stages_output_directory_is_an_error() -> None:
    graph = build_graph([pipeline(stage("make", [], ["data"]),
                                  stage("other", [], ["data/x.csv"]))])
    with pytest.raises(PipelineError, match=r"'data' and 'data/x\.csv' overlap: 'make'"):
        detect_problems(graph)


def test_topological_order_follows_declaration_order_among_free_stages() -> None:
    graph = build_graph([pipeline(stage("report", ["m"], ["r"]), stage("train", ["d"], ["m"]),
                                  stage("prep", [], ["d"]), stage("docs", [], ["html"]))])
    assert topological_order(graph) == ["prep", "train", "report", "docs"]
    assert topological_order(graph, ["train"]) == ["prep", "train"]
    assert topological_order(graph, ["train"], downstream=True) == ["train", "report"]


def test_dag_of_a_target_keeps_only_its_ancestors_unless_full() -> None:
    graph = build_graph([DIAMOND])
    assert list(ancestors_graph(graph, ["b"]).nodes) == ["a", "b"]
    assert list(ancestors_graph(graph, ["b"], full=True).nodes) == ["a", "b", "c", "d"]


def test_an_unknown_target_is_an_error_with_a_hint() -> None:
    with pytest.raises(PipelineError, match="no stage named 'nope'"):
        resolve_targets(build_graph([DIAMOND]), ["nope"])


@st.composite
def dags(draw: st.DrawFn) -> Pipeline:
    n = draw(st.integers(1, 9))
    stages = []
    for i in range(n):
        parents = draw(st.lists(st.integers(0, max(0, i - 1)), max_size=3)) if i else []
        stages.append(Stage(f"s{i}", ["true"],
                            deps=[Dep(f"o{p}", f"o{p}") for p in sorted(set(parents))],
                            outs=[Out(f"o{i}", f"o{i}")]))
    order = draw(st.permutations(stages))
    return Pipeline(Path("/r/dvc.yaml"), Path("/r"), {s.name: s for s in order})


@settings(max_examples=60, deadline=None)
@given(dags())
def test_any_acyclic_pipeline_draws_every_stage_once_and_orders_parents_first(
        p: Pipeline) -> None:
    graph = build_graph([p])
    detect_problems(graph)
    order = topological_order(graph)
    assert sorted(order) == sorted(graph.nodes)
    for a, b in graph.edges():
        assert order.index(a) < order.index(b)
    text = render_ascii(graph)
    for sid in graph.nodes:
        assert text.count(f"│ {sid} │") == 1
    # Every box with a consumer has an exit, and every arrow head enters a box.
    lines = text.splitlines()
    arrows = sum(line.count("▼") for line in lines)
    with_parents = sum(1 for s in graph.nodes if graph.predecessors[s])
    assert arrows >= with_parents


def test_a_long_edge_beside_a_fan_out_joins_its_target_without_crossing() -> None:
    graph = build_graph([pipeline(
        stage("data_split", [], ["train_data", "test_data"]),
        stage("train", ["train_data"], ["model.pth", "model.pkl"]),
        stage("evaluate", ["test_data", "model.pkl"], ["results"]),
        stage("sagemaker", ["model.pth"], ["model.tar.gz"]))])
    assert render_ascii(graph) == (
        "               ┌────────────┐\n"
        "               │ data_split │\n"
        "               └──────┬─────┘\n"
        "                  ┌───┴───┐\n"
        "                  ▼       │\n"
        "              ┌───────┐   │\n"
        "              │ train │   │\n"
        "              └───┬───┘   │\n"
        "      ┌───────────┴───┬───┘\n"
        "      ▼               ▼\n"
        "┌───────────┐   ┌──────────┐\n"
        "│ sagemaker │   │ evaluate │\n"
        "└───────────┘   └──────────┘\n"
    )
