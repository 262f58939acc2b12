"""Loading dvc.yaml: stages, deps and outs as DVC resolves them, and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitext.errors import PipelineError
from gitext.pipeline.dvcyaml.loader import load_all_pipelines, load_pipeline
from gitext.pipeline.model import Pipeline
from tests.helpers import DATA as TEST_DATA

DATA = TEST_DATA / "pipeline"
PROJECTS = ("example-get-started", "example-get-started-experiments", "example-pokemon-classifier")


def _as_dvc_reports(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Our pipeline in the shape of data/expected/*.json (made by DVC 3.67's own loader)."""
    return [
        {
            "name": stage.name,
            "cmd": stage.cmd,
            "wdir": stage.repo_wdir,
            "deps": [{"path": d.path, "repo_path": d.repo_path} for d in stage.deps],
            "params": [
                {
                    "file": p.file,
                    "repo_path": p.repo_path,
                    "keys": list(p.keys) if p.keys is not None else None,
                }
                for p in stage.params
            ],
            "outs": [
                {
                    "path": o.path,
                    "repo_path": o.repo_path,
                    "kind": o.kind,
                    "cache": o.cache,
                    "persist": o.persist,
                }
                for o in stage.outs
            ],
            "frozen": stage.frozen,
            "always_changed": stage.always_changed,
            "desc": stage.desc,
            "meta": stage.meta,
        }
        for stage in pipeline.stages.values()
    ]


def _expected(name: str) -> dict[str, Any]:
    return json.loads((DATA / "expected" / f"{name}.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("project", PROJECTS)
def test_conformance_pipelines_load_with_the_stages_dvc_reports(
    data_dir: Path, project: str
) -> None:
    pipeline = load_pipeline(data_dir / "conformance" / "dvc" / project)
    expected = _expected(project)
    assert _as_dvc_reports(pipeline) == expected["stages"]
    assert pipeline.metrics == expected["metrics"]
    assert pipeline.params == expected["params"]
    assert pipeline.plots == expected["plots"]
    assert pipeline.artifacts == expected["artifacts"]


@pytest.mark.parametrize("project", ["templated", "templated2"])
def test_templating_foreach_matrix_vars_and_wdir_resolve_as_dvc_does(project: str) -> None:
    # data/expected/<project>.json is what DVC 3.67's own loader resolved for data/<project>.
    pipeline = load_pipeline(DATA / project)
    expected = _expected(project)
    assert _as_dvc_reports(pipeline) == expected["stages"]
    assert pipeline.metrics == expected["metrics"]
    assert pipeline.params == expected["params"]
    assert pipeline.plots == expected["plots"]
    assert pipeline.artifacts == expected["artifacts"]


def test_generated_stages_know_their_group_and_key() -> None:
    stages = load_pipeline(DATA / "templated").stages
    assert (stages["train@1"].group, stages["train@1"].key) == ("train", "1")
    assert (stages["bykey@eu"].group, stages["bykey@eu"].key) == ("bykey", "eu")
    assert stages["grid@large-sgd-cfg1"].group == "grid"
    assert stages["prepare"].group is None
    loc = stages["grid@large-sgd-cfg1"].loc
    assert loc is not None
    assert (loc.file, loc.line, loc.column) == ("dvc.yaml", 48, 3)


def _load(tmp_path: Path, text: str, **files: str) -> Pipeline:
    (tmp_path / "dvc.yaml").write_text(text)
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    return load_pipeline(tmp_path)


def _error(tmp_path: Path, text: str, **files: str) -> str:
    with pytest.raises(PipelineError) as info:
        _load(tmp_path, text, **files)
    return str(info.value)


def test_cmd_dict_interpolation_follows_dvc_rules(tmp_path: Path) -> None:
    pipeline = _load(
        tmp_path,
        "vars:\n- args: {a: 1, b: true, c: false, d: [x, 'y z'], e: {f: g}, h: it's}\n"
        "stages:\n  s:\n    cmd: run ${args} --flag ${args.b}\n",
    )
    assert pipeline.stages["s"].cmd == [
        "run --a 1 --b --d x 'y z' --e.f g --h 'it'\"'\"'s' --flag true"
    ]


def test_exact_interpolation_keeps_the_type(tmp_path: Path) -> None:
    pipeline = _load(
        tmp_path,
        "stages:\n  s:\n    cmd: run\n    meta:\n      n: ${n}\n      on: ${b}\nmetrics:\n- ${m}\n",
        **{"params.yaml": "n: 3\nb: true\nm: m.json\n"},
    )
    assert pipeline.stages["s"].meta == {"n": 3, "on": True}
    assert pipeline.metrics == ["m.json"]


def test_a_mapping_cannot_be_interpolated_outside_cmd_even_alone(tmp_path: Path) -> None:
    # DVC refuses "meta: ${m}" for a mapping m as well: only cmd unpacks mappings.
    message = _error(
        tmp_path, "stages:\n  s:\n    cmd: run\n    meta: ${m}\n", **{"params.yaml": "m: {k: 1}\n"}
    )
    assert message.startswith("dvc.yaml:4:11: stage 's', meta: cannot interpolate data of type")


def test_escaped_interpolation_is_literal(tmp_path: Path) -> None:
    pipeline = _load(
        tmp_path, "stages:\n  s:\n    cmd: echo \\${HOME} ${x}\n", **{"params.yaml": "x: 1\n"}
    )
    assert pipeline.stages["s"].cmd == ["echo ${HOME} 1"]


def test_an_escaped_interpolation_alone_is_unescaped_too(tmp_path: Path) -> None:
    pipeline = _load(tmp_path, "stages:\n  s:\n    cmd: echo \\${HOME}\n")
    assert pipeline.stages["s"].cmd == ["echo ${HOME}"]


def test_foreach_over_a_list_of_scalars_uses_the_values_as_names(tmp_path: Path) -> None:
    pipeline = _load(
        tmp_path,
        "stages:\n  s:\n    foreach: [1, true, 0.5, a]\n    do:\n      cmd: echo ${item}\n",
    )
    assert list(pipeline.stages) == ["s@1", "s@true", "s@0.5", "s@a"]
    assert pipeline.stages["s@true"].cmd == ["echo true"]


ERRORS = {
    "unknown stage key": (
        "stages:\n  train:\n    cmd: x\n    outz: [a]\n",
        r"^dvc\.yaml:4:5: stage 'train': unknown key 'outz' in a stage",
    ),
    "missing cmd": (
        "stages:\n  train:\n    deps: [a]\n",
        r"^dvc\.yaml:3:5: stage 'train': missing required key 'cmd'",
    ),
    "bool expected": (
        "stages:\n  train:\n    cmd: x\n    frozen: maybe\n",
        r"^dvc\.yaml:4:13: stage 'train', frozen: expected true or false, got a string",
    ),
    "templated bool": (
        "stages:\n  train:\n    cmd: x\n    always_changed: ${flag}\n",
        r"^dvc\.yaml:4:21: stage 'train', always_changed: expected true or false",
    ),
    "unknown output option": (
        "stages:\n  t:\n    cmd: x\n    outs:\n    - a.txt:\n        cached: false\n",
        r"^dvc\.yaml:6:9: stage 't', outs\.0\.a\.txt: unknown key 'cached' in output",
    ),
    "output outside repo": (
        "stages:\n  t:\n    cmd: x\n    outs:\n    - ../escape.txt\n",
        r"^dvc\.yaml:5:7: stage 't', outs\.0: output '\.\./escape\.txt' is outside the repository",
    ),
    "absolute output": (
        "stages:\n  t:\n    cmd: x\n    outs:\n    - /etc/passwd\n",
        r"^dvc\.yaml:5:7: stage 't', outs\.0: output '/etc/passwd' is an absolute path",
    ),
    "wdir outside repo": (
        "stages:\n  t:\n    cmd: x\n    wdir: ../..\n",
        r"^dvc\.yaml:4:11: stage 't', wdir: wdir '\.\./\.\.' is outside the repository",
    ),
    "unknown variable": (
        "stages:\n  t:\n    cmd: echo ${nope}\n",
        r"^dvc\.yaml:3:10: stage 't', cmd: could not find 'nope'",
    ),
    "list in string": (
        "vars:\n- l: [1, 2]\nstages:\n  t:\n    cmd: x\n    deps:\n    - a${l}\n",
        r"^dvc\.yaml:7:7: stage 't', deps\.0: cannot interpolate data of type 'list'",
    ),
    "redefined var": (
        "vars:\n- a: 1\n- a: 2\nstages: {}\n",
        r"^dvc\.yaml:3:3: vars\.1: cannot redefine 'a'",
    ),
    "template in vars": (
        "vars:\n- a: ${b}\nstages: {}\n",
        r"^dvc\.yaml:2:6: vars\.0\.a: interpolation",
    ),
    "foreach over scalar": (
        "vars:\n- n: 3\nstages:\n  t:\n    foreach: ${n}\n    do:\n      cmd: x\n",
        r"^dvc\.yaml:5:14: stage 't', foreach: expected a list or mapping",
    ),
    "foreach without do": (
        "stages:\n  t:\n    foreach: [a]\n    cmd: x\n",
        r"^dvc\.yaml:4:5: stage 't': unknown key 'cmd' in a foreach stage",
    ),
    "unknown top key": (
        "stage:\n  t:\n    cmd: x\n",
        r"^dvc\.yaml:1:1: unknown key 'stage' in dvc\.yaml",
    ),
    "bad yaml": ("stages:\n  t:\n    cmd: [x\n", r"^dvc\.yaml:4:1: "),
    "duplicate stage": (
        "stages:\n  t:\n    cmd: x\n  t:\n    cmd: y\n",
        r"^dvc\.yaml:4:3: found duplicate key 't'",
    ),
    "reserved item": (
        "stages:\n  t:\n    foreach: [a]\n    do:\n      vars:\n      - item: 1\n      cmd: x\n",
        r"^dvc\.yaml:6:9: stage 't@a', do\.vars\.0: attempted to modify reserved key 'item'",
    ),
    "missing vars file": (
        "vars:\n- missing.yaml\nstages: {}\n",
        r"^dvc\.yaml:2:3: vars\.0: vars file missing\.yaml does not exist",
    ),
    "non-list params for file": (
        "stages:\n  t:\n    cmd: x\n    params:\n    - other.yaml: key\n",
        r"^dvc\.yaml:5:19: stage 't', params\.0\.other\.yaml: expected a list of keys",
    ),
    "url dependency": (
        "stages:\n  t:\n    cmd: x\n    deps:\n    - s3://bucket/key\n",
        r"^dvc\.yaml:5:7: stage 't', deps\.0: dependency 's3://bucket/key' is a URL",
    ),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_dvc_yaml_is_an_error_with_line_column_and_stage(tmp_path: Path, name: str) -> None:
    text, pattern = ERRORS[name]
    message = _error(tmp_path, text)
    import re

    assert re.search(pattern, message), message


def test_errors_in_a_subdirectory_name_the_file_relative_to_the_root(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "dvc.yaml").write_text("stages:\n  t:\n    cmd: 3\n")
    with pytest.raises(PipelineError, match=r"^sub/dvc\.yaml:3:10: stage 't', cmd: expected"):
        load_pipeline(tmp_path, tmp_path / "sub" / "dvc.yaml")


def test_paths_in_a_subdirectory_pipeline_are_repo_relative(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "params.yaml").write_text("n: 2\n")
    (tmp_path / "sub" / "dvc.yaml").write_text(
        "stages:\n  t:\n    cmd: x ${n}\n    wdir: w\n    deps: [../in.txt]\n"
        "    params: [n]\n    outs: [out.txt]\nmetrics: [m.json]\n"
    )
    stage = load_pipeline(tmp_path, Path("sub/dvc.yaml")).stages["t"]
    assert stage.cmd == ["x 2"]
    assert stage.repo_wdir == "sub/w"
    assert [d.repo_path for d in stage.deps] == ["sub/in.txt"]
    assert [o.repo_path for o in stage.outs] == ["sub/w/out.txt"]
    assert [(p.file, p.repo_path, p.keys) for p in stage.params] == [
        ("params.yaml", "sub/w/params.yaml", ("n",))
    ]


def test_load_all_pipelines_finds_every_dvc_yaml_and_skips_hidden_dirs(tmp_path: Path) -> None:
    for folder in (".", "b", "a/deep", ".git/x", "node_modules/p", "env"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    found = [p.file.relative_to(tmp_path).as_posix() for p in load_all_pipelines(tmp_path)]
    assert found == ["dvc.yaml", "a/deep/dvc.yaml", "b/dvc.yaml"]


def test_an_empty_dvc_yaml_is_an_empty_pipeline(tmp_path: Path) -> None:
    assert _load(tmp_path, "").stages == {}


def test_conformance_projects_copied_into_a_repo_load_the_same(
    data_dir: Path, tmp_path: Path
) -> None:
    source = data_dir / "conformance" / "dvc" / "example-get-started"
    shutil.copytree(source, tmp_path / "proj")
    pipeline = load_pipeline(tmp_path / "proj")
    assert list(pipeline.stages) == ["prepare", "featurize", "train", "evaluate"]
    assert pipeline.file == (tmp_path / "proj" / "dvc.yaml").resolve()


def test_a_malformed_params_yaml_used_for_vars_names_its_own_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "stages:\n  t:\n    cmd: x\n", **{"params.yaml": "a: [1\n"})
    assert message.startswith("params.yaml:2:1: ")


def test_an_invalid_expression_is_an_error(tmp_path: Path) -> None:
    message = _error(tmp_path, "stages:\n  t:\n    cmd: echo ${a..b}\n")
    assert message.startswith("dvc.yaml:3:10: stage 't', cmd: invalid expression ${a..b}")


primitives = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=10),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=primitives)
def test_a_value_inside_a_string_is_written_as_dvc_writes_it(tmp_path: Path, value: object) -> None:
    from gitext.pipeline.yamldump import dump_yaml

    (tmp_path / "params.yaml").write_text(dump_yaml({"v": value}))
    (tmp_path / "dvc.yaml").write_text("stages:\n  t:\n    cmd: a${v}b\n    desc: ${v}x\n")
    stage = load_pipeline(tmp_path).stages["t"]
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    assert stage.cmd == [f"a{text}b"]
    assert stage.desc == f"{text}x"


def test_an_error_in_a_generated_stage_names_the_generated_stage(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        "stages:\n  t:\n    foreach: [a, b]\n    do:\n      cmd: x\n"
        "      outs:\n      - /abs/${item}\n",
    )
    assert message.startswith("dvc.yaml:7:9: stage 't@a', do.outs.0: output '/abs/a' is an abs")
