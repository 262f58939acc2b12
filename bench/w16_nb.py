"""W16MERGE and W16DIFF: issue 16's notebook figures, git-archives only.

W16MERGE times the merge driver process (``git archives nb merge-driver %O %A %B %P``, as
git runs it) on a 200-cell notebook (the figure's size: ``--scale`` does not change it;
smaller notebooks made the edits of the two sides collide) whose two sides edited 10
cells each, one inserted 3 cells and the other deleted 2: a clean merge. Target <= 200 ms.

W16DIFF times ``git archives nb diff --html -o page.html`` (index against work tree) of the
same notebook, with a 30 KB PNG output in every tenth code cell of the work tree and 20
cells edited. Target <= 1 s.

Imported lazily by run.py's WORKLOADS table; it takes run.py's helpers from the module
that defines the context it is given (``__main__`` when run.py runs as a script).
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import sys
from typing import Any

W16_MERGE = "merge driver, 200-cell notebook (edits on both sides)"
W16_DIFF = "nb diff --html, 200-cell notebook with images"
MERGE_STEPS = (W16_MERGE,)
DIFF_STEPS = (W16_DIFF,)
CELLS = 200


def _cells(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cells: list[dict[str, Any]] = []
    for i in range(n):
        if i % 5 == 0:
            cells.append({"cell_type": "markdown", "id": str(i), "metadata": {},
                          "source": f"## Section {i}\n\nSome *text* about step {i}."})
        else:
            body = "\n".join(f"v{i}_{k} = {rng.randrange(1000)} * x + {k}" for k in range(6))
            cells.append({"cell_type": "code", "execution_count": None, "id": str(i),
                          "metadata": {}, "outputs": [], "source": body})
    return cells


def _notebook(cells: list[dict[str, Any]]) -> bytes:
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3",
                                                      "language": "python",
                                                      "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    return (json.dumps(nb, indent=1, sort_keys=True) + "\n").encode()


def _edit(cells: list[dict[str, Any]], which: range) -> None:
    for i in which:
        cells[i]["source"] += f"\nedited_{i} = True"


def _sides(n: int) -> tuple[bytes, bytes, bytes]:
    base = _cells(n, 16)
    local, remote = json.loads(json.dumps(base)), json.loads(json.dumps(base))
    _edit(local, range(1, n, max(1, n // 10)))
    _edit(remote, range(3, n, max(1, n // 10)))
    for k in range(3):
        local.insert(min(len(local), 50 + k * 40), {
            "cell_type": "code", "execution_count": None, "id": f"new{k}", "metadata": {},
            "outputs": [], "source": f"inserted_{k} = {k}"})
    for gone in sorted({n * 3 // 5, n * 33 // 40}, reverse=True):  # 120 and 165: unedited
        del remote[gone]
    return _notebook(base), _notebook(local), _notebook(remote)


def w16merge(ctx: Any) -> None:
    run = sys.modules[type(ctx).__module__]
    if ctx.tool.name != "archives":
        raise run.NotApplicable(f"{ctx.tool.name}: W16MERGE times git-archives' merge driver")
    n = CELLS  # the figure's notebook, at every --scale
    repo = ctx.fresh("w16merge")
    ctx.git_init(repo)
    base, local, remote = _sides(n)
    (repo / "base.ipynb").write_bytes(base)
    (repo / "remote.ipynb").write_bytes(remote)

    def merge(_i: int) -> float:
        (repo / "local.ipynb").write_bytes(local)  # the driver writes its result here
        took = ctx.timed([["git", "archives", "nb", "merge-driver", "base.ipynb",
                           "local.ipynb", "remote.ipynb", "nb.ipynb"]], repo)
        merged = json.loads((repo / "local.ipynb").read_bytes())
        if len(merged["cells"]) != n + 1:  # 3 inserted, 2 deleted
            raise run.CommandFailed(["merge-driver"], 1,
                                    f"{len(merged['cells'])} cells merged, not {n + 1}")
        return float(took)

    ctx.record("W16MERGE", W16_MERGE, lambda: run.median_of(ctx.repeat, merge))


def w16diff(ctx: Any) -> None:
    run = sys.modules[type(ctx).__module__]
    if ctx.tool.name != "archives":
        raise run.NotApplicable(f"{ctx.tool.name}: W16DIFF times git-archives' nb diff --html")
    n = CELLS  # the figure's notebook, at every --scale
    repo = ctx.fresh("w16diff")
    ctx.git_init(repo)
    ctx.run(["git", "archives", "install", "--skip-hooks"], repo)
    cells = _cells(n, 16)
    (repo / "nb.ipynb").write_bytes(_notebook(cells))
    ctx.commit(repo, "notebook")
    png = base64.b64encode(random.Random(1).randbytes(30_000)).decode()
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code" and i % 10 == 1:
            cell["outputs"] = [{"output_type": "display_data", "metadata": {},
                                "data": {"image/png": png, "text/plain": "<Figure>"}}]
    _edit(cells, range(2, n, max(1, n // 20)))
    (repo / "nb.ipynb").write_bytes(_notebook(cells))
    page = repo / "page.html"

    def diff(_i: int) -> float:
        page.unlink(missing_ok=True)
        took = ctx.timed([["git", "archives", "nb", "diff", "--html", "-o", "page.html"]], repo)
        if 'class="changed"' not in page.read_text(encoding="utf-8"):
            raise run.CommandFailed(["nb", "diff", "--html"], 1, "the page shows no change")
        return float(took)

    ctx.record("W16DIFF", W16_DIFF, lambda: run.median_of(ctx.repeat, diff))
    shutil.rmtree(repo, ignore_errors=True)
