"""The conformance table of nbstripout 0.9.1 (tests/data/conformance/README.md) as data."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from gitext.notebooks.strip_options import StripOptions

GOLDEN_DIR = ("conformance", "nbstripout", "notebooks")


@dataclass(frozen=True)
class Case:
    input: str
    expected: str
    flags: str
    options: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.expected}[{self.flags}]" if self.flags else self.expected

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.flags)

    def strip_options(self) -> StripOptions:
        return StripOptions(**self.options)

    def config_lines(self) -> list[str]:
        """The same options as ``.archives/config`` lines under ``[nb]``."""
        lines = []
        for key, value in self.options.items():
            name = {"keep_output_types": "keep-output-type",
                    "drop_output_types": "drop-output-type"}.get(key, key.replace("_", "-"))
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, tuple):
                text = " ".join(value)
            else:
                text = str(value)
            lines.append(f"\t{name} = {text}")
        return lines


CASES = [
    Case("test_drop_empty_cells.ipynb", "test_drop_empty_cells_dontdrop.ipynb.expected", "", {}),
    Case("test_drop_empty_cells.ipynb", "test_drop_empty_cells.ipynb.expected",
         "--drop-empty-cells", {"drop_empty_cells": True}),
    Case("test_drop_tagged_cells.ipynb", "test_drop_tagged_cells_dontdrop.ipynb.expected", "", {}),
    Case("test_drop_tagged_cells.ipynb", "test_drop_tagged_cells.ipynb.expected",
         "--drop-tagged-cells=test", {"drop_tagged_cells": ("test",)}),
    Case("test_execution_timing.ipynb", "test_execution_timing.ipynb.expected", "", {}),
    Case("test_max_size.ipynb", "test_max_size.ipynb.expected", "--max-size 50 --keep-id",
         {"max_size": 50, "keep_id": True}),
    Case("test_max_size.ipynb", "test_max_size.ipynb.expected_sequential_id", "--max-size 50",
         {"max_size": 50}),
    Case("test_empty_metadata.ipynb", "test_empty_metadata.ipynb.expected", "", {}),
    Case("test_metadata.ipynb", "test_metadata.ipynb.expected", "", {}),
    Case("test_metadata.ipynb", "test_metadata_extra_keys.ipynb.expected",
         '--extra-keys "metadata.kernelspec metadata.language_info"',
         {"extra_keys": ("metadata.kernelspec", "metadata.language_info")}),
    Case("test_metadata.ipynb", "test_metadata_keep_count.ipynb.expected", "--keep-count",
         {"keep_count": True}),
    Case("test_metadata.ipynb", "test_metadata_keep_output.ipynb.expected", "--keep-output",
         {"keep_output": True}),
    Case("test_metadata.ipynb", "test_metadata_keep_output_keep_count.ipynb.expected",
         "--keep-output --keep-count", {"keep_output": True, "keep_count": True}),
    Case("test_metadata_notebook.ipynb", "test_metadata_notebook.ipynb.expected", "", {}),
    Case("test_keep_metadata_keys.ipynb", "test_keep_metadata_keys.ipynb.expected",
         '--keep-metadata-keys "cell.metadata.scrolled cell.metadata.collapsed metadata.a"',
         {"keep_metadata_keys": ("cell.metadata.scrolled", "cell.metadata.collapsed",
                                 "metadata.a")}),
    Case("test_metadata_period.ipynb", "test_metadata_period.ipynb.expected",
         '--extra-keys "cell.metadata.application/vnd.databricks.v1+cell '
         'metadata.application/vnd.databricks.v1+notebook"',
         {"extra_keys": ("cell.metadata.application/vnd.databricks.v1+cell",
                         "metadata.application/vnd.databricks.v1+notebook")}),
    Case("test_strip_init_cells.ipynb", "test_strip_init_cells.ipynb.expected",
         "--strip-init-cells", {"strip_init_cells": True}),
    Case("test_nbformat2.ipynb", "test_nbformat2.ipynb.expected", "", {}),
    Case("test_nbformat45.ipynb", "test_nbformat45.ipynb.expected", "--keep-id",
         {"keep_id": True}),
    Case("test_nbformat45.ipynb", "test_nbformat45.ipynb.expected_sequential_id", "", {}),
    Case("test_missing_nbformat.ipynb", "test_missing_nbformat.ipynb.expected", "", {}),
    Case("test_unicode.ipynb", "test_unicode.ipynb.expected", "", {}),
    Case("test_widgets.ipynb", "test_widgets.ipynb.expected", "", {}),
    Case("test_zeppelin.zpln", "test_zeppelin.zpln.expected", "--mode zeppelin",
         {"mode": "zeppelin"}),
]
