"""nbstripout's 24 golden cases, byte for byte, through the library and the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitext.notebooks.strip import strip_and_compare, strip_bytes
from tests.helpers import archives
from tests.helpers.golden import CASES, GOLDEN_DIR, Case


@pytest.fixture
def golden(data_dir: Path) -> Path:
    return data_dir.joinpath(*GOLDEN_DIR)


def test_the_table_has_all_24_conformance_cases() -> None:
    assert len(CASES) == 24
    assert len({c.id for c in CASES}) == 24


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_strip_bytes_matches_the_golden_file(golden: Path, case: Case) -> None:
    data = (golden / case.input).read_bytes()
    out = strip_bytes(data, name=case.input, opts=case.strip_options())
    assert out == (golden / case.expected).read_bytes()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_stripping_the_golden_output_again_changes_nothing(golden: Path, case: Case) -> None:
    expected = (golden / case.expected).read_bytes()
    out, changed = strip_and_compare(expected, name=case.input, opts=case.strip_options())
    assert out == expected
    assert not changed


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_nb_strip_command_matches_the_golden_file(golden: Path, tmp_path: Path,
                                                  case: Case) -> None:
    data = (golden / case.input).read_bytes()
    proc = archives(tmp_path, "nb", "strip", "--no-config", *case.argv, input_bytes=data)
    assert proc.stdout == (golden / case.expected).read_bytes()
    assert proc.stderr == b""


def test_nb_strip_reads_the_options_from_archives_config(golden: Path, repo: Path) -> None:
    case = next(c for c in CASES if c.expected == "test_metadata_extra_keys.ipynb.expected")
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text("[nb]\n" + "\n".join(case.config_lines()) + "\n")
    proc = archives(repo, "nb", "strip", input_bytes=(golden / case.input).read_bytes())
    assert proc.stdout == (golden / case.expected).read_bytes()


def test_dry_run_reports_no_change_for_an_already_stripped_notebook(golden: Path,
                                                                   tmp_path: Path) -> None:
    nb = tmp_path / "test_nochange.ipynb"
    nb.write_bytes((golden / "test_nochange.ipynb").read_bytes())
    proc = archives(tmp_path, "nb", "strip", "--no-config", "--verify", str(nb))
    assert proc.returncode == 0
    assert proc.stdout == b""
    proc = archives(tmp_path, "nb", "strip", "--no-config", "--dry-run",
                    input_bytes=nb.read_bytes())
    assert proc.stdout == b""


def test_invalid_json_is_one_line_naming_the_file(golden: Path, tmp_path: Path) -> None:
    nb = tmp_path / "test_invalid_json.ipynb"
    original = (golden / "test_invalid_json.ipynb").read_bytes()
    nb.write_bytes(original)
    proc = archives(tmp_path, "nb", "strip", "--no-config", str(nb), check=False)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert err.count("\n") == 1
    assert str(nb) in err and "not valid JSON (line 33, column 1" in err
    assert "Traceback" not in err
    assert nb.read_bytes() == original


def test_contradictory_keep_output_metadata_is_a_clear_error(golden: Path,
                                                             tmp_path: Path) -> None:
    proc = archives(tmp_path, "nb", "strip", "--no-config", check=False,
                    input_bytes=(golden / "test_metadata_exception.ipynb").read_bytes())
    assert proc.returncode == 1
    assert proc.stdout == b""
    lines = proc.stderr.decode().splitlines()
    assert lines[0] == ("git-archives: error: <stdin>: cell 0: metadata keep_output is false "
                        "but the cell is tagged keep_output")
    assert lines[1].startswith("hint: ")
