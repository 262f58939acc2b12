"""``-S`` parsing (property tests) and editing YAML/JSON/TOML params files in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitext.errors import ArchivesError, UsageError
from gitext.exp.params_set import apply_overrides, edit_file, parse_override
from gitext.pipeline.params import parse_params

NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
SCALARS = st.one_of(
    st.integers(-10**9, 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
        lambda s: s not in ("true", "false", "null")),
)


def _yaml_text(value: Any) -> str:
    return json.dumps(value)  # JSON scalars are YAML 1.2 flow scalars


@settings(deadline=None)  # the machine may be busy: no per-example deadline
@given(st.lists(NAMES, min_size=1, max_size=4), SCALARS,
       st.sampled_from(["", "+", "++"]))
def test_key_and_value_round_trip(parts: list[str], value: Any, op: str) -> None:
    ov = parse_override(f"{op}{'.'.join(parts)}={_yaml_text(value)}")
    assert ov.file == "params.yaml"
    assert ov.key == tuple(parts)
    assert ov.op == {"": "set", "+": "add", "++": "force"}[op]
    assert ov.value == value
    assert type(ov.value) is type(value)


@settings(deadline=None)  # the machine may be busy: no per-example deadline
@given(NAMES, st.integers(0, 99), st.sampled_from(["p.json", "sub/p.toml", "a.yml"]))
def test_list_index_forms_and_file_prefix(name: str, index: int, file: str) -> None:
    brackets = parse_override(f"{file}:{name}.layers[{index}]=1")
    dots = parse_override(f"{file}:{name}.layers.{index}=1")
    assert brackets.file == dots.file == file
    assert brackets.key == (name, "layers", index)
    assert dots.key == (name, "layers", str(index))


@settings(deadline=None)  # the machine may be busy: no per-example deadline
@given(st.text(max_size=20))
def test_parser_never_fails_with_anything_but_a_usage_error(text: str) -> None:
    try:
        parse_override(text)
    except UsageError as exc:
        assert "\n" not in exc.message


def test_value_with_colon_after_equals_is_not_a_file() -> None:
    ov = parse_override("url=http://host:1/x")
    assert (ov.file, ov.key, ov.value) == ("params.yaml", ("url",), "http://host:1/x")


YAML_TEXT = """\
# the tutorial's params
train:
  lr: 0.01   # learning rate
  epochs: 10
  layers: [64, 32]
  optimizer: "adam"
  version: '1.5'
prepare:
  split: 0.2
"""


@pytest.fixture
def params(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text(YAML_TEXT)
    (tmp_path / "p.json").write_text('{\n  "a": {\n    "b": 1,\n    "c": [1, 2]\n  }\n}\n')
    (tmp_path / "p.toml").write_text("# keep me\n[train]\nlr = 0.1  # rate\nlayers = [1, 2]\n")
    return tmp_path


def test_yaml_edit_keeps_comments_and_quotes(params: Path) -> None:
    changed = apply_overrides(params, [parse_override(s) for s in (
        "train.lr=0.1", "train.layers[1]=16", "train.version=2.0", "+train.new.deep=x",
        "~prepare.split", "train.optimizer=sgd")])
    assert changed == ["params.yaml"]
    text = (params / "params.yaml").read_text()
    assert "# the tutorial's params" in text and "# learning rate" in text
    data = yaml.safe_load(text)
    assert data["train"] == {"lr": 0.1, "epochs": 10, "layers": [64, 16], "optimizer": "sgd",
                             "version": "2.0", "new": {"deep": "x"}}
    assert data["prepare"] == {}


def test_json_and_toml_edits(params: Path) -> None:
    apply_overrides(params, [parse_override(s) for s in (
        "p.json:a.c.1=5", "p.json:a.b=2", "p.toml:train.lr=1e-3", "p.toml:train.layers.0=7",
        "p.toml:+train.opt=adam")])
    assert json.loads((params / "p.json").read_text()) == {"a": {"b": 2, "c": [1, 5]}}
    assert (params / "p.json").read_text().startswith('{\n  "a"')
    toml = (params / "p.toml").read_text()
    assert "# keep me" in toml and "# rate" in toml
    assert parse_params(toml, file="p.toml", suffix=".toml") == {
        "train": {"lr": 0.001, "layers": [7, 2], "opt": "adam"}}


@pytest.mark.parametrize(("arg", "message"), [
    ("train.lrr=1", r"no parameter 'train.lrr' \(did you mean 'train.lr'.*use -S '\+train.lrr=1'"),
    ("train.lr=abc", r"'train.lr' is a number \(0.01\), not a string"),
    ("train.layers=3", r"'train.layers' is a list"),
    ("+train.lr=1", r"'train.lr' already exists"),
    ("train.layers[5]=1", r"no parameter 'train.layers.5'"),
    ("x.py:a=1", r"YAML, JSON and TOML params files only"),
    ("../p.yaml:a=1", r"inside the repository"),
    ("missing.yaml:a=1", r"missing.yaml: no such params file"),
    ("train..lr=1", r"bad key"),
    ("train.lr", r"expected \[FILE:\]KEY=VALUE"),
])
def test_bad_overrides_say_one_line_and_write_nothing(params: Path, arg: str,
                                                      message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        apply_overrides(params, [parse_override("train.epochs=3"), parse_override(arg)])
    assert "\n" not in info.value.message
    assert (params / "params.yaml").read_text() == YAML_TEXT


def test_force_changes_type_and_non_params_file_is_refused(params: Path) -> None:
    text = edit_file(params / "params.yaml", "params.yaml", [parse_override("++train.lr=abc")])
    assert yaml.safe_load(text)["train"]["lr"] == "abc"
    (params / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match=r"list\.yaml is not a params file"):
        apply_overrides(params, [parse_override("list.yaml:a=1")])


def test_a_committed_symlink_cannot_pull_an_outside_file_into_the_experiment(
        tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("token: abc\n")
    root = tmp_path / "wt"
    root.mkdir()
    (root / "params.yaml").symlink_to(outside / "secret.yaml")
    (root / "conf").symlink_to(outside)
    with pytest.raises(UsageError, match=r"params.yaml: -S edits regular files only"):
        apply_overrides(root, [parse_override("token=x")])
    with pytest.raises(ArchivesError):
        apply_overrides(root, [parse_override("conf/secret.yaml:token=x")])
    assert (outside / "secret.yaml").read_text() == "token: abc\n"
    assert (root / "params.yaml").is_symlink()
