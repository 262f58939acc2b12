"""The dvc.lock codec against locks DVC wrote."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitext.errors import PipelineError
from gitext.pipeline.dvcyaml.loader import load_pipeline
from gitext.pipeline.lockfile import (
    Lock,
    LockedFile,
    LockEntry,
    dump_lock,
    lock_folding,
    make_entry,
    parse_lock,
    read_lock,
    write_lock,
)
from gitext.pipeline.params import get_param, load_params_file
from tests.helpers import DATA as TEST_DATA

DATA = TEST_DATA / "pipeline"
PROJECTS = ("example-get-started", "example-get-started-experiments", "example-pokemon-classifier")


@pytest.mark.parametrize("project", PROJECTS)
def test_conformance_locks_are_rewritten_byte_for_byte(data_dir: Path, project: str) -> None:
    path = data_dir / "conformance" / "dvc" / project / "dvc.lock"
    text = path.read_text(encoding="utf-8")
    lock = read_lock(path)
    # These locks were written by DVC with ruamel.yaml 0.17: its folding rule gives them back.
    assert dump_lock(lock, ruamel="0.17") == text
    assert parse_lock(dump_lock(lock)) == lock


def test_rewriting_a_lock_keeps_the_folding_rule_it_was_written_with(
        data_dir: Path, tmp_path: Path) -> None:
    source = data_dir / "conformance" / "dvc" / "example-get-started-experiments" / "dvc.lock"
    text = source.read_text(encoding="utf-8")
    assert lock_folding(text) == "0.17"  # it has a folded command
    assert dump_lock(read_lock(source)) != text  # today's DVC would fold it elsewhere
    target = tmp_path / "dvc.lock"
    target.write_text(text, encoding="utf-8")
    write_lock(target, read_lock(target))
    assert target.read_text(encoding="utf-8") == text
    # A new lock, or one whose lines tell nothing, folds as today's DVC does.
    long_cmd = "python train.py " + " ".join(f"--option-{n} value" for n in range(5))
    fresh = Lock()
    fresh.set("train", make_entry(long_cmd, [], {}, []))
    target.unlink()
    write_lock(target, fresh)
    written = target.read_text(encoding="utf-8")
    assert "--option-2 value \n      --option-3" in written
    assert lock_folding(written) == "0.18"
    assert lock_folding("schema: '2.0'\nstages: {}\n") is None


def test_the_folding_rule_found_from_an_already_read_lock_is_the_same(
        data_dir: Path) -> None:
    for project in PROJECTS:
        text = (data_dir / "conformance" / "dvc" / project / "dvc.lock").read_text(
            encoding="utf-8")
        assert lock_folding(text, parse_lock(text)) == lock_folding(text), project
        # A lock that is not the text's own: the text is parsed after all.
        assert lock_folding(text, Lock()) == lock_folding(text), project
    fresh = Lock()
    fresh.set("s", make_entry("run " + "x" * 90, [], {}, []))
    for rule in ("0.17", "0.18"):
        text = dump_lock(fresh, ruamel=rule)
        assert lock_folding(text, fresh) == lock_folding(text)


def test_write_lock_refuses_text_that_does_not_read_back_and_keeps_the_old_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitext.pipeline import lockfile

    path = tmp_path / "dvc.lock"
    path.write_text("previous\n")
    monkeypatch.setattr(lockfile, "dump_lock",
                        lambda lock, ruamel="0.18": "schema: '2.0'\nstages:\n  s: [\n")
    with pytest.raises(PipelineError, match=r"dvc\.lock:\d+:\d+"):
        write_lock(path, Lock({"s": LockEntry(cmd="run")}), ruamel="0.18")
    monkeypatch.setattr(lockfile, "dump_lock",
                        lambda lock, ruamel="0.18": "schema: '2.0'\nstages:\n  s: {cmd: 1}\n")
    with pytest.raises(PipelineError, match="cmd"):
        write_lock(path, Lock({"s": LockEntry(cmd="run")}), ruamel="0.18")
    assert path.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvc.lock"]


def test_a_dvc_2_lock_reads_as_legacy_entries(data_dir: Path) -> None:
    lock = read_lock(data_dir / "conformance/dvc/example-pokemon-classifier/dvc.lock")
    entry = lock.stages["data_preprocess"]
    assert all(dep.legacy for dep in entry.deps)
    assert entry.deps[0] == LockedFile(
        path="data/external/images-gen-1-8",
        md5="c48566c030889e71a791e1412d7dddf7.dir",
        size=118179012,
        nfiles=905,
        hash=None,
    )
    assert entry.deps[0].is_dir


def test_a_dvc_3_lock_reads_hash_md5_entries(data_dir: Path) -> None:
    lock = read_lock(data_dir / "conformance/dvc/example-get-started/dvc.lock")
    prepare = lock.stages["prepare"]
    assert prepare.cmd == "python src/prepare.py data/data.xml"
    assert [d.path for d in prepare.deps] == ["data/data.xml", "src/prepare.py"]
    assert not prepare.deps[0].legacy
    assert prepare.params == {"params.yaml": {"prepare.seed": 20170428, "prepare.split": 0.2}}


def _params_values(root: Path, stage_params: Any) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}
    for param in stage_params:
        data = load_params_file(root / param.repo_path)
        if param.keys is None:
            values[param.file] = data
        else:
            values[param.file] = {key: get_param(data, key, file=param.file) for key in param.keys}
    return values


def test_an_entry_built_in_any_order_dumps_as_dvc_wrote_it() -> None:
    # data/lockproj/dvc.lock was written by `dvc repro` (DVC 3.67) for data/lockproj/dvc.yaml.
    root = DATA / "lockproj"
    expected = (root / "dvc.lock").read_text(encoding="utf-8")
    dvc_lock = parse_lock(expected)
    pipeline = load_pipeline(root)
    rng = random.Random(7)
    ours = Lock()
    for name, stage in pipeline.stages.items():
        recorded = dvc_lock.stages[name]
        deps, outs = list(recorded.deps), list(recorded.outs)
        rng.shuffle(deps)
        rng.shuffle(outs)
        params = _params_values(root, reversed(stage.params))
        cmd = stage.cmd[0] if len(stage.cmd) == 1 else stage.cmd
        ours.set(name, make_entry(cmd, deps, params, outs))
    assert dump_lock(ours) == expected


def test_set_keeps_a_stage_in_place_and_appends_new_ones() -> None:
    lock = Lock()
    lock.set("a", LockEntry(cmd="one"))
    lock.set("b", LockEntry(cmd="two"))
    lock.set("a", LockEntry(cmd="three"))
    assert list(lock.stages) == ["a", "b"]
    assert dump_lock(lock) == "schema: '2.0'\nstages:\n  a:\n    cmd: three\n  b:\n    cmd: two\n"


CORRUPT = {
    "not yaml": ("schema: '2.0'\nstages: [\n", r"dvc\.lock:3:1: "),
    "wrong schema": (
        "schema: '3.0'\nstages: {}\n",
        r"dvc\.lock:1:9: corrupt lock file: unsupported",
    ),
    "dvc 1 lock": ("train:\n  cmd: x\n", r"dvc\.lock:1:1: corrupt lock file: no 'schema'"),
    "bad md5": (
        "schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n    - path: a\n"
        "      md5: ../../etc\n",
        r"dvc\.lock:7:12: corrupt lock file: invalid md5",
    ),
    "no cmd": (
        "schema: '2.0'\nstages:\n  s:\n    deps: []\n",
        r"dvc\.lock:4:5: corrupt lock file: missing 'cmd'",
    ),
    "unknown key": (
        "schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outz: []\n",
        r"dvc\.lock:5:11: corrupt lock file: unknown key 'outz'",
    ),
    "negative size": (
        "schema: '2.0'\nstages:\n  s:\n    cmd: x\n    deps:\n    - path: a\n      size: -1\n",
        r"dvc\.lock:7:13: corrupt lock file: 'size' must be",
    ),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_lock_is_an_error_with_line_and_column(name: str) -> None:
    text, pattern = CORRUPT[name]
    with pytest.raises(PipelineError, match=f"^{pattern}"):
        parse_lock(text, file="dvc.lock")


def test_a_missing_lock_reads_as_empty(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "dvc.lock") == Lock()


def test_write_lock_replaces_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "dvc.lock"
    path.write_text("old\n")
    lock = Lock({"s": LockEntry(cmd="run", outs=[LockedFile("o", md5="0" * 32, size=1)])})
    write_lock(path, lock)
    assert read_lock(path) == lock
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvc.lock"]


def test_write_lock_keeps_the_previous_lock_when_dumping_fails(tmp_path: Path) -> None:
    path = tmp_path / "dvc.lock"
    path.write_text("previous\n")
    bad = Lock({"s": LockEntry(cmd="run", params={"params.yaml": {"k": object()}})})
    with pytest.raises(Exception):
        write_lock(path, bad)
    assert path.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvc.lock"]


# NEL and U+2028/9 do not survive ruamel's (DVC's) writer either; see test_yaml12.
safe_text = st.characters(blacklist_characters="\x85\u2028\u2029", blacklist_categories=["Cs"])
md5s = st.from_regex(r"\A[0-9a-f]{32}(\.dir)?\Z")
paths = st.from_regex(r"\A[a-z][a-z0-9_./-]{0,20}\Z")
values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(safe_text, max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.from_regex(r"\A[a-z_]{1,8}\Z"), inner, max_size=3),
    ),
    max_leaves=8,
)
files = st.builds(
    LockedFile,
    path=paths,
    md5=st.one_of(st.none(), md5s),
    size=st.one_of(st.none(), st.integers(0, 2**40)),
    nfiles=st.one_of(st.none(), st.integers(0, 10**6)),
    isexec=st.one_of(st.none(), st.just(True)),
    hash=st.sampled_from([None, "md5"]),
)
entries = st.builds(
    LockEntry,
    cmd=st.one_of(
        st.text(safe_text, min_size=1, max_size=100),
        st.lists(st.text(safe_text, min_size=1, max_size=30), min_size=1, max_size=3),
    ),
    deps=st.lists(files, max_size=3),
    params=st.dictionaries(
        paths, st.dictionaries(st.from_regex(r"\A[a-z_.]{1,12}\Z"), values, max_size=3), max_size=2
    ),
    outs=st.lists(files, max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"\A[a-z_@0-9-]{1,12}\Z"), entries, max_size=4))
def test_any_lock_reads_back_as_it_was_written(stages: dict[str, LockEntry]) -> None:
    lock = Lock(stages)
    text = dump_lock(lock)
    assert parse_lock(text) == lock
    assert dump_lock(parse_lock(text)) == text
