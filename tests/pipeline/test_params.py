"""Params files: YAML 1.2, JSON, TOML and Python, dotted keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitext.errors import PipelineError
from gitext.pipeline.params import flatten, get_param, has_param, load_params_file


def test_yaml_params_use_yaml_1_2_scalars(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("lr: 1e-5\nflag: yes\nmode: 0o17\n")
    assert load_params_file(path) == {"lr": 1e-5, "flag": "yes", "mode": 15}


def test_json_toml_and_python_params_load(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"a": {"b": [1, 2]}}')
    (tmp_path / "p.toml").write_text("a = 1\n[s]\nb = 'x'\n")
    (tmp_path / "p.py").write_text(
        "import os\nLR = 0.1\nNAME: str = 'n'\nCOMPUTED = os.getcwd()\n"
        "class Train:\n    epochs = 3\n    layers = [1, 2]\n"
    )
    assert load_params_file(tmp_path / "p.json") == {"a": {"b": [1, 2]}}
    assert load_params_file(tmp_path / "p.toml") == {"a": 1, "s": {"b": "x"}}
    assert load_params_file(tmp_path / "p.py") == {
        "LR": 0.1,
        "NAME": "n",
        "Train": {"epochs": 3, "layers": [1, 2]},
    }


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("p.yaml", "a: [1\n", r"p\.yaml:2:1: "),
        ("p.json", '{"a": }', r"p\.json:1:7: invalid JSON"),
        ("p.toml", "a = \n", r"p\.toml: invalid TOML"),
        ("p.py", "x = (\n", r"p\.py:1:\d+: invalid Python"),
        ("p.yaml", "- 1\n- 2\n", r"p\.yaml: expected a mapping of params"),
        ("p.ini", "a=1\n", r"unsupported type '\.ini'"),
    ],
)
def test_a_malformed_params_file_is_a_clear_error(
    tmp_path: Path, name: str, text: str, pattern: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(PipelineError, match=pattern):
        load_params_file(tmp_path / name)


def test_a_missing_params_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="does not exist"):
        load_params_file(tmp_path / "params.yaml")


def test_get_param_follows_dots_and_list_indices() -> None:
    data = {"train": {"lr": 0.1, "layers": [{"size": 8}]}, "top": None}
    assert get_param(data, "train.lr") == 0.1
    assert get_param(data, "train.layers.0.size") == 8
    assert get_param(data, "top") is None
    assert has_param(data, "train")
    assert not has_param(data, "train.momentum")


def test_a_missing_param_names_the_file_and_key() -> None:
    with pytest.raises(PipelineError, match=r"param 'train\.momentum' does not exist in p\.yaml"):
        get_param({"train": {"lr": 1}}, "train.momentum", file="p.yaml")


def test_flatten_joins_nested_keys_with_dots() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1]}}, "e": {}}) == {"a.b": 1, "a.c.d": [1], "e": {}}


keys = st.from_regex(r"\A[a-z]{1,5}\Z")
nested = st.recursive(
    st.integers(), lambda inner: st.dictionaries(keys, inner, min_size=1, max_size=3), max_leaves=10
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, nested, max_size=4))
def test_every_flattened_key_gets_its_value_back(data: dict[str, object]) -> None:
    for key, value in flatten(data).items():
        assert get_param(data, key) == value
