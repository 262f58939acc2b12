"""DVC's ``[parsing]`` settings and the form of ``cmd`` (string or list) that the lock keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitext.errors import PipelineError
from gitext.pipeline.dvcyaml.loader import load_pipeline
from gitext.pipeline.dvcyaml.templating import ParsingConfig, read_parsing_config
from gitext.pipeline.lockfile import Lock, dump_lock, make_entry

ARGS_YAML = (
    "vars:\n- args: {a: 1, on: true, off: false, d: [x, 'y z'], e: {f: [1, 2]}}\n"
    "stages:\n  s:\n    cmd: run ${args}\n"
)


def _project(root: Path, dvc_yaml: str, **files: str) -> Path:
    (root / "dvc.yaml").write_text(dvc_yaml)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_without_a_dvc_config_bools_are_store_true_and_lists_nargs(tmp_path: Path) -> None:
    root = _project(tmp_path, ARGS_YAML)
    assert read_parsing_config(root) == ParsingConfig("store_true", "nargs")
    assert load_pipeline(root).stages["s"].cmd == ["run --a 1 --on --d x 'y z' --e.f 1 2"]


def test_boolean_optional_writes_no_flag_for_false(tmp_path: Path) -> None:
    root = _project(tmp_path, ARGS_YAML,
                    **{".dvc/config": "[parsing]\n    bool = boolean_optional\n"})
    assert load_pipeline(root).stages["s"].cmd == [
        "run --a 1 --on --no-off --d x 'y z' --e.f 1 2"
    ]


def test_list_append_repeats_the_option_for_each_item(tmp_path: Path) -> None:
    root = _project(tmp_path, ARGS_YAML, **{".dvc/config": "[parsing]\nlist = append\n"})
    assert load_pipeline(root).stages["s"].cmd == [
        "run --a 1 --on --d x --d 'y z' --e.f 1 --e.f 2"
    ]


def test_config_local_overrides_config_and_values_are_case_insensitive(tmp_path: Path) -> None:
    root = _project(tmp_path, ARGS_YAML, **{
        ".dvc/config": "[core]\n    remote = store\n['remote \"store\"']\n    url = /tmp/x\n"
                       "[parsing]\n    bool = store_true\n    list = APPEND  # team choice\n",
        ".dvc/config.local": "[parsing]\n    bool = \"Boolean_Optional\"\n",
    })
    assert read_parsing_config(root) == ParsingConfig("boolean_optional", "append")


def test_a_bad_parsing_value_names_the_file_and_line(tmp_path: Path) -> None:
    root = _project(tmp_path, ARGS_YAML, **{".dvc/config": "[core]\n  no_scm = true\n"
                                                           "[parsing]\n  bool = yes\n"})
    with pytest.raises(PipelineError, match=r"\.dvc/config:4: parsing\.bool is 'yes', "
                                            r"expected store_true or boolean_optional"):
        load_pipeline(root)


def test_an_unknown_parsing_setting_is_an_error(tmp_path: Path) -> None:
    root = _project(tmp_path, ARGS_YAML, **{".dvc/config": "[parsing]\n  dict = flat\n"})
    with pytest.raises(PipelineError, match=r"\.dvc/config:2: unknown setting 'parsing\.dict'"):
        load_pipeline(root)


def test_settings_only_change_mappings_unpacked_in_cmd(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        "stages:\n  s:\n    cmd: run --x ${flag} ${opts.n}\n",
        **{"params.yaml": "flag: false\nopts: {n: 3}\n",
           ".dvc/config": "[parsing]\nbool = boolean_optional\nlist = append\n"},
    )
    assert load_pipeline(root).stages["s"].cmd == ["run --x false 3"]


@pytest.mark.parametrize(("written", "cmd", "lock_cmd"), [
    ("cmd: echo one", ["echo one"], "echo one"),
    ("cmd: [echo one]", ["echo one"], ["echo one"]),
    ("cmd:\n    - echo one\n    - echo two", ["echo one", "echo two"], ["echo one", "echo two"]),
    ("cmd: |\n      echo one\n      echo two", ["echo one\necho two\n"], "echo one\necho two\n"),
])
def test_the_lock_form_of_cmd_is_the_form_dvc_yaml_gave(
        tmp_path: Path, written: str, cmd: list[str], lock_cmd: str | list[str]) -> None:
    stage = load_pipeline(_project(tmp_path, f"stages:\n  s:\n    {written}\n")).stages["s"]
    assert stage.cmd == cmd
    assert stage.lock_cmd == lock_cmd
    assert stage.cmd_is_list is isinstance(lock_cmd, list)


def test_a_foreach_stage_keeps_a_one_item_cmd_list_as_a_list(tmp_path: Path) -> None:
    root = _project(tmp_path, "stages:\n  s:\n    foreach: [a, b]\n    do:\n"
                              "      cmd: ['echo ${item}']\n")
    stages = load_pipeline(root).stages
    assert [stages[n].lock_cmd for n in ("s@a", "s@b")] == [["echo a"], ["echo b"]]


def test_a_one_item_list_is_written_to_the_lock_as_a_list(tmp_path: Path) -> None:
    stage = load_pipeline(_project(tmp_path, "stages:\n  s:\n    cmd: [echo one]\n")).stages["s"]
    lock = Lock()
    lock.set("s", make_entry(stage.lock_cmd, [], {}, []))
    assert dump_lock(lock) == "schema: '2.0'\nstages:\n  s:\n    cmd:\n    - echo one\n"


def _spelling(value: str) -> st.SearchStrategy[str]:
    cased = st.sampled_from([value, value.upper(), value.title()])
    return st.tuples(cased, st.sampled_from(["{}", "'{}'", '"{}"', "{}  # note", "{} ; x"])
                     ).map(lambda pair: pair[1].format(pair[0]))


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bool_style=st.none() | st.sampled_from(["store_true", "boolean_optional"]),
       list_style=st.none() | st.sampled_from(["nargs", "append"]),
       data=st.data())
def test_any_spelling_of_the_parsing_section_reads_as_dvc_reads_it(
        tmp_path_factory: pytest.TempPathFactory, bool_style: str | None,
        list_style: str | None, data: st.DataObject) -> None:
    root = tmp_path_factory.mktemp("cfg")
    lines = ["# team config", "[core]", "    remote = s3store", "['remote \"s3store\"']",
             "    url = s3://bucket/path", data.draw(st.sampled_from(["[parsing]", "[ parsing ]",
                                                                       "['parsing']"]))]
    if bool_style is not None:
        lines.append(f"    bool = {data.draw(_spelling(bool_style))}")
    if list_style is not None:
        lines.append(f"\tlist={data.draw(_spelling(list_style))}")
    lines += ["[cache]", "    bool = not-a-parsing-setting"]
    (root / ".dvc").mkdir()
    (root / ".dvc" / "config").write_text("\n".join(lines) + "\n")
    assert read_parsing_config(root) == ParsingConfig(bool_style or "store_true",
                                                      list_style or "nargs")
