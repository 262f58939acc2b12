"""Stripping: properties, options, deterministic ids, bad input, the command's file modes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitext.config import Config
from gitext.errors import ConfigError, NotebookError, UsageError
from gitext.notebooks.strip import (
    clean_notebook,
    strip_and_compare,
    strip_bytes,
    strip_notebook,
)
from gitext.notebooks.strip_options import StripOptions, options_from_config, parse_max_size
from tests.helpers import archives
from tests.helpers.nbgen import notebook, to_bytes

options = st.builds(
    StripOptions, keep_output=st.booleans(), keep_count=st.booleans(), keep_id=st.booleans(),
    drop_empty_cells=st.booleans(), strip_init_cells=st.booleans(),
    drop_tagged_cells=st.sampled_from([(), ("skip",), ("a", "b")]),
    max_size=st.sampled_from([0, 10, 1000]),
    keep_output_types=st.sampled_from([(), ("stream:stderr",), ("error",)]),
    drop_output_types=st.sampled_from([(), ("stream",)]),
)


def _cell(source: str, **extra: Any) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": 3, "metadata": {}, "outputs": [],
            "source": source, **extra}


def _nb(cells: list[dict[str, Any]], minor: int = 5) -> bytes:
    return to_bytes({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": minor})


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(nb=notebook(), opts=options)
def test_stripping_is_idempotent(nb: dict[str, Any], opts: StripOptions) -> None:
    try:
        once = strip_bytes(to_bytes(nb), name="h.ipynb", opts=opts)
    except NotebookError:
        return  # contradictory keep_output metadata drawn: an error either way
    assert strip_bytes(once, name="h.ipynb", opts=opts) == once
    assert not strip_and_compare(once, name="h.ipynb", opts=opts)[1]


@settings(max_examples=100)
@given(nb=notebook())
def test_default_stripping_leaves_no_outputs_counts_or_volatile_metadata(
        nb: dict[str, Any]) -> None:
    for cell in nb["cells"]:
        cell["metadata"].pop("init_cell", None)
        if "tags" in cell["metadata"]:
            cell["metadata"]["tags"] = [t for t in cell["metadata"]["tags"] if t != "keep_output"]
    out = json.loads(strip_bytes(to_bytes(nb), name="h.ipynb", opts=StripOptions()))
    assert "widgets" not in out["metadata"]
    for i, cell in enumerate(out["cells"]):
        assert cell.get("outputs", []) == []
        assert cell.get("execution_count") is None
        assert not {"collapsed", "scrolled", "ExecuteTime"} & set(cell["metadata"])
        if nb["nbformat_minor"] == 5:
            assert cell["id"] == str(i)


@settings(max_examples=100, deadline=None)
@given(nb=notebook(), indent=st.sampled_from([None, 1, 2]))
def test_serialisation_is_byte_identical_to_nbformats_writer(nb: dict[str, Any],
                                                              indent: int | None) -> None:
    import nbformat

    opts = StripOptions(keep_output=True, keep_count=True, keep_id=True,
                        keep_metadata_keys=("metadata.widgets", "cell.metadata.collapsed",
                                            "cell.metadata.scrolled",
                                            "cell.metadata.ExecuteTime"))
    for cell in nb["cells"]:
        cell["metadata"].pop("init_cell", None)
    data = json.dumps(nb, indent=indent, ensure_ascii=bool(indent)).encode()
    node = nbformat.reads(data.decode(), as_version=nbformat.NO_CONVERT)  # type: ignore[no-untyped-call]
    expected: str = nbformat.writes(node)  # type: ignore[no-untyped-call]
    assert strip_bytes(data, name="h.ipynb", opts=opts) == (expected + "\n").encode()


def test_the_hot_path_does_not_import_nbformat() -> None:
    code = ("import sys; from gitext.notebooks.strip import strip_bytes;"
            " from gitext.notebooks.strip_options import StripOptions;"
            "strip_bytes(sys.stdin.buffer.read(), name='a.ipynb', opts=StripOptions());"
            "print('nbformat' in sys.modules, 'jsonschema' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], input=_nb([_cell("x")]),
                          capture_output=True, check=True)
    assert proc.stdout.strip() == b"False False"


def test_a_200kb_png_notebook_strips_to_its_sources() -> None:
    """(How fast: bench/run.py W8.)"""
    png = base64.b64encode(os.urandom(150_000)).decode()
    out = {"output_type": "display_data", "metadata": {},
           "data": {"image/png": png, "text/plain": "<Figure>"}}
    data = _nb([_cell("plot()", outputs=[out], id="a"), _cell("x", id="b")])
    stripped = json.loads(strip_bytes(data, name="a.ipynb", opts=StripOptions()))
    assert ["".join(c["source"]) for c in stripped["cells"]] == ["plot()", "x"]
    assert all(c["outputs"] == [] for c in stripped["cells"])
    assert png not in json.dumps(stripped)


def test_keep_id_fills_missing_and_duplicate_ids_deterministically() -> None:
    data = _nb([_cell("a"), _cell("b", id="same"), _cell("c", id="same"), _cell("d", id="k")])
    opts = StripOptions(keep_id=True)
    first = json.loads(strip_bytes(data, name="n.ipynb", opts=opts))
    again = json.loads(strip_bytes(data, name="n.ipynb", opts=opts))
    ids = [c["id"] for c in first["cells"]]
    assert ids == [c["id"] for c in again["cells"]]
    assert ids[1] == "same" and ids[3] == "k"
    assert len(set(ids)) == 4
    assert all(len(i) == 8 for i in (ids[0], ids[2]))


def test_without_keep_id_every_cell_of_a_45_notebook_gets_its_position_as_id() -> None:
    data = _nb([_cell("a"), _cell("b", id="x")])
    out = json.loads(strip_bytes(data, name="n.ipynb", opts=StripOptions()))
    assert [c["id"] for c in out["cells"]] == ["0", "1"]


def test_a_notebook_older_than_45_gets_no_ids() -> None:
    data = _nb([_cell("a")], minor=4)
    out = json.loads(strip_bytes(data, name="n.ipynb", opts=StripOptions(keep_id=True)))
    assert "id" not in out["cells"][0]


def test_drop_tagged_cells_applies_every_tag() -> None:
    cells = [_cell("a", metadata={"tags": ["a"]}), _cell("b", metadata={"tags": ["b"]}),
             _cell("c", metadata={"tags": ["c"]})]
    out = json.loads(strip_bytes(_nb(cells), name="n.ipynb",
                                 opts=StripOptions(drop_tagged_cells=("a", "b"))))
    assert [c["source"] for c in out["cells"]] == [["c"]]


def test_drop_tagged_cells_flag_splits_on_spaces(tmp_path: Path) -> None:
    cells = [_cell("a", metadata={"tags": ["a"]}), _cell("b", metadata={"tags": ["b"]}),
             _cell("c")]
    proc = archives(tmp_path, "nb", "strip", "--no-config", "--drop-tagged-cells", "a b",
                    input_bytes=_nb(cells))
    assert [c["source"] for c in json.loads(proc.stdout)["cells"]] == [["c"]]


def _outputs_cell() -> dict[str, Any]:
    return _cell("x", outputs=[
        {"output_type": "stream", "name": "stdout", "text": "out\n"},
        {"output_type": "stream", "name": "stderr", "text": "err\n"},
        {"output_type": "error", "ename": "E", "evalue": "v", "traceback": []},
    ])


def _kinds(data: bytes, opts: StripOptions) -> list[str]:
    out = json.loads(strip_bytes(data, name="n.ipynb", opts=opts))
    return [o.get("name", o["output_type"]) for o in out["cells"][0]["outputs"]]


def test_keep_output_type_keeps_only_the_named_types() -> None:
    data = _nb([_outputs_cell()])
    assert _kinds(data, StripOptions(keep_output_types=("stream:stderr", "error"))) == [
        "stderr", "error"]
    assert _kinds(data, StripOptions(keep_output=True, drop_output_types=("stream",))) == [
        "error"]
    assert _kinds(data, StripOptions(keep_output=True)) == ["stdout", "stderr", "error"]


def test_cell_and_notebook_keep_output_metadata_are_honoured() -> None:
    cell = _outputs_cell()
    cell["metadata"] = {"tags": ["keep_output"]}
    assert len(_kinds(_nb([cell]), StripOptions())) == 3
    nb = json.loads(_nb([_outputs_cell()]))
    nb["metadata"]["keep_output"] = True
    assert len(_kinds(to_bytes(nb), StripOptions())) == 3


def test_max_size_keeps_small_outputs_only() -> None:
    data = _nb([_outputs_cell()])
    # nbstripout's size: the strings' lengths; "error"+"E"+"v" = 7, "stream"+"stdout"+"out\n" = 16
    assert _kinds(data, StripOptions(max_size=16)) == ["stdout", "stderr", "error"]
    assert _kinds(data, StripOptions(max_size=7)) == ["error"]
    assert _kinds(data, StripOptions(max_size=6)) == []


def test_strip_notebook_works_on_an_in_memory_notebook() -> None:
    nb = json.loads(_nb([_outputs_cell()]))
    assert strip_notebook(nb, StripOptions())["cells"][0]["outputs"] == []


def test_max_size_accepts_nbstripouts_suffixes() -> None:
    assert parse_max_size("50") == 50
    assert parse_max_size("10k") == 10_000
    assert parse_max_size("2M") == 2_000_000
    with pytest.raises(UsageError, match="'ten' is not a size"):
        parse_max_size("ten")


def test_an_extra_key_outside_metadata_or_cell_is_refused() -> None:
    with pytest.raises(UsageError, match="'outputs' must start with"):
        StripOptions(extra_keys=("outputs",))


def test_options_come_from_the_nb_section_of_the_config() -> None:
    cfg = Config({
        "nb.keep-output": ["true"], "nb.keep-count": ["yes"], "nb.keep-id": ["true"],
        "nb.extra-keys": ["metadata.a", "cell.metadata.b metadata.c"],
        "nb.keep-metadata-keys": ["cell.metadata.collapsed"],
        "nb.drop-empty-cells": ["true"], "nb.drop-tagged-cells": ["x y"],
        "nb.strip-init-cells": ["true"], "nb.max-size": ["1k"],
        "nb.keep-output-type": ["stream:stderr"], "nb.drop-output-type": ["error"],
        "nb.mode": ["Zeppelin"], "nb.on-error": ["passthrough"],
    })
    assert options_from_config(cfg) == StripOptions(
        keep_output=True, keep_count=True, keep_id=True,
        extra_keys=("metadata.a", "cell.metadata.b", "metadata.c"),
        keep_metadata_keys=("cell.metadata.collapsed",), drop_empty_cells=True,
        drop_tagged_cells=("x", "y"), strip_init_cells=True, max_size=1000,
        keep_output_types=("stream:stderr",), drop_output_types=("error",),
        mode="zeppelin", on_error="passthrough")
    assert options_from_config(Config({})) == StripOptions()


@pytest.mark.parametrize("key,value,message", [
    ("nb.on-error", "ignore", "config nb.on-error: 'ignore' is not one of error, passthrough"),
    ("nb.keep-output", "maybe", "config nb.keep-output: 'maybe' is not a boolean"),
    ("nb.max-size", "big", "config nb.max-size: 'big' is not a size"),
    ("nb.extra-keys", "foo", "config nb.extra-keys: extra key 'foo' must start with"),
])
def test_a_bad_config_value_is_a_config_error(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        options_from_config(Config({key: [value]}))
    assert exc.value.message.startswith(message)


BAD = [
    (b"\xff\xfe{}", "not UTF-8"),
    (b"", "empty file"),
    (b"{\"cells\": [", "not valid JSON (line 1, column 12"),
    (b"[1, 2]", "not a notebook (the JSON is not an object)"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "no list of cells"),
    (b'{"nbformat": 4, "cells": [1], "metadata": {}}', "cell 0 is not a JSON object"),
    (b'{"nbformat": 5, "cells": []}', "unsupported nbformat version 5"),
    (b'{"nbformat": "4", "cells": []}', "non-numeric nbformat version"),
    (b'{"metadata": {}}', "no cells and no nbformat version"),
    (b'{"nbformat": 3, "metadata": {}}', "no worksheets"),
    (b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": [1]}]}',
     "cell 0 has a source that is not text"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
]


@pytest.mark.parametrize("data,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_raises_one_line_naming_the_file(data: bytes, message: str) -> None:
    with pytest.raises(NotebookError) as exc:
        strip_bytes(data, name="dir/bad.ipynb", opts=StripOptions())
    assert exc.value.message.startswith("dir/bad.ipynb: ")
    assert message in exc.value.message
    assert "\n" not in exc.value.message
    assert exc.value.hint


def test_a_zeppelin_file_without_paragraphs_is_refused() -> None:
    with pytest.raises(NotebookError, match=r"n\.zpln: is not a Zeppelin notebook"):
        strip_bytes(b"{}", name="n.zpln", opts=StripOptions())


def test_passthrough_returns_the_bytes_unchanged_with_a_warning() -> None:
    opts = StripOptions(on_error="passthrough")
    assert clean_notebook(b"nope", name="a.ipynb", opts=opts) == (
        b"nope", "a.ipynb: not valid JSON (line 1, column 1: Expecting value) "
                 "(stored unchanged: nb.on-error = passthrough)")
    with pytest.raises(NotebookError):
        clean_notebook(b"nope", name="a.ipynb", opts=StripOptions())
    good = _nb([_cell("x")])
    assert clean_notebook(good, name="a.ipynb", opts=opts)[1] is None


def test_a_bom_is_accepted_and_dropped() -> None:
    data = _nb([_cell("x")])
    assert strip_bytes(b"\xef\xbb\xbf" + data, name="a.ipynb", opts=StripOptions()) == \
        strip_bytes(data, name="a.ipynb", opts=StripOptions())


def test_a_lone_surrogate_escape_survives_as_the_same_escape() -> None:
    data = b'{"cells": [], "metadata": {"x": "a\\ud800b"}, "nbformat": 4, "nbformat_minor": 4}'
    out = strip_bytes(data, name="a.ipynb", opts=StripOptions())
    assert b'"x": "a\\ud800b"' in out
    out.decode("utf-8")


def test_non_ascii_is_kept_and_the_output_ends_with_one_newline() -> None:
    out = strip_bytes(_nb([_cell("naïve ☃")]), name="a.ipynb", opts=StripOptions())
    assert "naïve ☃".encode() in out
    assert out.endswith(b"}\n") and not out.endswith(b"\n\n")


# ---------------------------------------------------------------------------- command

def test_strip_in_place_rewrites_atomically_and_keeps_the_mode(tmp_path: Path) -> None:
    nb = tmp_path / "a.ipynb"
    nb.write_bytes(_nb([_outputs_cell()]))
    nb.chmod(0o640)
    archives(tmp_path, "nb", "strip", "--no-config", str(nb))
    assert json.loads(nb.read_bytes())["cells"][0]["outputs"] == []
    assert nb.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ipynb"]


def test_strip_in_place_leaves_an_unchanged_notebook_untouched(tmp_path: Path) -> None:
    nb = tmp_path / "a.ipynb"
    nb.write_bytes(json.dumps(json.loads(_nb([_cell("x", execution_count=None, id="0")])),
                              indent=4).encode())
    before = nb.read_bytes(), nb.stat().st_mtime_ns
    time.sleep(0.01)
    archives(tmp_path, "nb", "strip", "--no-config", str(nb))
    assert (nb.read_bytes(), nb.stat().st_mtime_ns) == before


def test_one_bad_file_among_many_is_reported_and_the_rest_are_stripped(
        tmp_path: Path) -> None:
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    good.write_bytes(_nb([_outputs_cell()]))
    bad.write_bytes(b"{oops")
    proc = archives(tmp_path, "nb", "strip", "--no-config", str(bad), str(good),
                    "missing.ipynb", "notes.txt", check=False)
    assert proc.returncode == 1
    err = proc.stderr.decode().splitlines()
    assert err[0].startswith(f"git-archives: error: {bad}: not valid JSON")
    assert err[1] == "git-archives: error: cannot read missing.ipynb: No such file or directory"
    assert err[2].startswith("git-archives: warning: skipping notes.txt")
    assert bad.read_bytes() == b"{oops"
    assert json.loads(good.read_bytes())["cells"][0]["outputs"] == []


def test_passthrough_on_stdin_writes_the_input_unchanged(tmp_path: Path) -> None:
    proc = archives(tmp_path, "nb", "strip", "--no-config", "--on-error", "passthrough",
                    input_bytes=b"not json")
    assert proc.stdout == b"not json"
    assert b"warning: <stdin>: not valid JSON" in proc.stderr


def test_writing_to_dev_null_works(tmp_path: Path) -> None:
    data = _nb([_outputs_cell()])
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.run([str(Path(sys.executable).parent / "git-archives"), "nb",
                               "strip", "--no-config"], input=data, stdout=devnull,
                              stderr=subprocess.PIPE, check=False, cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stderr == b""


def test_textconv_flag_prints_stripped_files_and_leaves_them(tmp_path: Path) -> None:
    nb = tmp_path / "a.ipynb"
    nb.write_bytes(_nb([_outputs_cell()]))
    before = nb.read_bytes()
    proc = archives(tmp_path, "nb", "strip", "--no-config", "-t", str(nb))
    assert proc.stdout == strip_bytes(before, name="a.ipynb", opts=StripOptions())
    assert nb.read_bytes() == before


def test_verify_exits_1_when_a_file_would_change(tmp_path: Path) -> None:
    nb = tmp_path / "a.ipynb"
    nb.write_bytes(_nb([_outputs_cell()]))
    proc = archives(tmp_path, "nb", "strip", "--no-config", "--verify", str(nb), check=False)
    assert proc.returncode == 1
    assert proc.stdout == f"Dry run: would have stripped {nb}\n".encode()
