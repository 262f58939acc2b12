"""Reading plot files: CSV/TSV/JSON/YAML records, images by their bytes, and the one-line
errors for a ragged row, a missing column or an image that is not one."""

from __future__ import annotations

import pytest

from gitext.errors import PipelineError
from gitext.plots.data import check_image, load_records, require_columns

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def test_csv_and_tsv_are_records_with_numbers_read_as_numbers() -> None:
    assert load_records(b"epoch,loss,note\n1,0.5,a\n2,0.25,b\n", "t.csv") == [
        {"epoch": 1, "loss": 0.5, "note": "a"}, {"epoch": 2, "loss": 0.25, "note": "b"}]
    assert load_records(b"a\tb\n1\tx\n", "t.tsv") == [{"a": 1, "b": "x"}]


def test_a_csv_without_a_header_names_its_columns_by_position() -> None:
    assert load_records(b"1,2\n3,4\n", "t.csv", header=False) == [
        {"0": 1, "1": 2}, {"0": 3, "1": 4}]


def test_a_ragged_csv_row_is_an_error_naming_the_file_and_line() -> None:
    with pytest.raises(PipelineError, match=r"^plots/cm\.csv:3: this row has 3 fields but "
                                            r"the header has 2$"):
        load_records(b"actual,predicted\n1,1\n1,0,7\n", "plots/cm.csv")


def test_json_and_yaml_are_a_list_of_records_or_a_mapping_holding_one() -> None:
    assert load_records(b'[{"x": 1, "y": 2}]', "p.json") == [{"x": 1, "y": 2}]
    assert load_records(b'{"meta": 1, "train": [{"x": 1}], "test": [{"x": 2}]}',
                        "p.json") == [{"x": 1}]
    assert load_records(b"roc:\n  - fpr: 0.0\n    tpr: 0.5\n", "p.yaml") == [
        {"fpr": 0.0, "tpr": 0.5}]
    assert load_records(b"", "p.yaml") == []


def test_a_json_holding_no_records_is_an_error() -> None:
    with pytest.raises(PipelineError, match=r"^p\.json: holds no list of records"):
        load_records(b'{"acc": 0.9}', "p.json")
    with pytest.raises(PipelineError, match=r"^p\.json: cannot parse"):
        load_records(b"[{", "p.json")


def test_a_missing_column_names_the_file_its_columns_and_the_closest() -> None:
    records = [{"epoch": 1, "loss": 0.5}]
    require_columns(records, ["epoch", "loss"], "t.csv")
    with pytest.raises(PipelineError, match=r"^t\.csv: no column 'los' \(its columns: epoch, "
                                            r"loss\); did you mean 'loss'\?$"):
        require_columns(records, ["los"], "t.csv")


def test_images_are_checked_by_their_first_bytes() -> None:
    assert check_image(PNG_1PX, "a.png") == "image/png"
    assert check_image(b"\xff\xd8\xff\xe0rest", "a.jpg") == "image/jpeg"
    assert check_image(b"GIF89a....", "a.gif") == "image/gif"
    assert check_image(b'<?xml version="1.0"?>\n<svg xmlns="x"/>', "a.svg") == "image/svg+xml"
    with pytest.raises(PipelineError, match=r"^eval/importance\.png: not a PNG image"):
        check_image(b"col,val\n1,2\n", "eval/importance.png")
    with pytest.raises(PipelineError, match=r"^a\.svg: not an SVG image"):
        check_image(b"<html><svg/></html>", "a.svg")
