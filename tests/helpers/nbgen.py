"""Hypothesis strategies for nbformat 4 notebooks, valid against the schema."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
lines = st.lists(st.sampled_from(["", "x = 1", "  ", "print('é')", "# %%", "ünï", "\t"]),
                 max_size=4).map("\n".join) | text
tag = st.sampled_from(["keep_output", "skip", "a", "b", "init"])
cell_meta = st.fixed_dictionaries({}, optional={
    "collapsed": st.booleans(), "scrolled": st.booleans(), "tags": st.lists(tag, max_size=3),
    "ExecuteTime": st.just({"end_time": "2020-01-01"}), "custom": text,
    "init_cell": st.booleans(),
})


@st.composite
def output(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["stream", "display_data", "execute_result", "error"]))
    if kind == "stream":
        return {"output_type": "stream", "name": draw(st.sampled_from(["stdout", "stderr"])),
                "text": draw(lines)}
    if kind == "error":
        return {"output_type": "error", "ename": "ValueError", "evalue": draw(text),
                "traceback": draw(st.lists(text, max_size=3))}
    data: dict[str, Any] = {"text/plain": draw(lines)}
    if draw(st.booleans()):
        data["image/png"] = base64.b64encode(draw(st.binary(max_size=64))).decode()
    if draw(st.booleans()):
        data["application/json"] = {"k": draw(text)}
    out: dict[str, Any] = {"output_type": kind, "data": data, "metadata": {}}
    if kind == "execute_result":
        out["execution_count"] = draw(st.integers(1, 99))
    return out


@st.composite
def notebook(draw: st.DrawFn, minor: int | None = None) -> dict[str, Any]:
    nminor = draw(st.sampled_from([4, 5])) if minor is None else minor
    cells = []
    for i in range(draw(st.integers(0, 5))):
        ctype = draw(st.sampled_from(["code", "markdown", "raw"]))
        cell: dict[str, Any] = {"cell_type": ctype, "metadata": draw(cell_meta),
                                "source": draw(lines)}
        if nminor >= 5:
            cell["id"] = f"c{i}x"
        if ctype == "code":
            cell["execution_count"] = draw(st.none() | st.integers(1, 99))
            cell["outputs"] = draw(st.lists(output(), max_size=3))
        cells.append(cell)
    meta: dict[str, Any] = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                           "language": "python"}}
    if draw(st.booleans()):
        meta["widgets"] = {"state": {}}
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": nminor}


def to_bytes(nb: dict[str, Any], indent: int = 1) -> bytes:
    return json.dumps(nb, indent=indent, ensure_ascii=False).encode()
