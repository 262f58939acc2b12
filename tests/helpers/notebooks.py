"""Small builders for pairing tests: notebooks with outputs, edits by cell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

BASE_SOURCES = SOURCES = ["# Title", "a = 1", "b = 2", "c = 3", "print(a + b + c)"]


def make_notebook(path: Path, sources: list[str] | None = None, *,
                  formats: str | None = None) -> None:
    """A notebook whose code cells all carry an output (so stale outputs can be seen)."""
    cells: list[Any] = []
    for i, src in enumerate(sources or SOURCES):
        if src.startswith("#"):
            cells.append(new_markdown_cell(src))
        else:
            cells.append(new_code_cell(src, execution_count=i, outputs=[
                new_output("stream", name="stdout", text=f"out {i}\n")]))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    if formats:
        nb.metadata["jupytext"] = {"formats": formats}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def sources(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in load(path)["cells"]]


def outputs(path: Path) -> list[Any]:
    return [c.get("outputs") for c in load(path)["cells"]]


def edit_notebook_cell(path: Path, index: int, new_source: str) -> None:
    """An edit as Jupyter makes it: source changed, outputs left as they were."""
    doc = load(path)
    doc["cells"][index]["source"] = new_source
    path.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
