"""``git archives nb diff``: text and the HTML page (checked in headless chromium), on one
repository for the module: a notebook at HEAD~1, HEAD, and edited in the work tree."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gitext.notebooks.review import cell_rows
from tests.helpers import archives, git
from tests.helpers.listener import listening
from tests.plots.test_browser import page_host, run_browser

PNG_A = base64.b64encode(b"\x89PNG\r\n\x1a\nAAAA").decode()
PNG_B = base64.b64encode(b"\x89PNG\r\n\x1a\nBBBB").decode()
HOSTILE = ("# Results\n\nSee *this* <script>document.title='pwned'</script>\n\n"
           "![remote](http://nbdiff-control.test/x.png)")


def notebook(cells: Sequence[tuple[str, str, str | None]]) -> bytes:
    out: list[dict[str, Any]] = []
    for i, (kind, source, png) in enumerate(cells):
        cell: dict[str, Any] = {"cell_type": kind, "id": str(i), "metadata": {},
                                "source": source}
        if kind == "code":
            cell["execution_count"] = i
            cell["outputs"] = [] if png is None else [
                {"output_type": "display_data", "metadata": {},
                 "data": {"image/png": png, "text/plain": "<Figure>"}}]
        out.append(cell)
    return json.dumps({"cells": out, "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5}).encode()


V1 = [("markdown", "# Title", None), ("code", "import math\nx = 1", None),
      ("code", "plot(x)", None), ("code", "print('unchanged')", None)]
V2 = [("markdown", "# Title", None), ("code", "import math\nx = 2", None),
      ("code", "plot(x)", None), ("code", "print('unchanged')", None),
      ("markdown", HOSTILE, None)]
WORK = [("markdown", "# Title", None), ("code", "import math\nx = 2", None),
        ("code", "plot(x, color='red')", PNG_B), ("code", "print('unchanged')", None),
        ("markdown", HOSTILE, None)]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("review") / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    archives(path, "install", "--skip-hooks")
    for version in (V1, V2):
        (path / "nb.ipynb").write_bytes(notebook(version))
        git(path, "add", "nb.ipynb")
        git(path, "commit", "-qm", "version")
    (path / "nb.ipynb").write_bytes(notebook(WORK))
    return path


def test_rows_pair_edited_cells_and_show_inserts() -> None:
    old = [json.loads(notebook(V1))["cells"][i] for i in range(4)]
    new = json.loads(notebook(V2))["cells"]
    kinds = [r.kind for r in cell_rows(old, new)]
    assert kinds == ["same", "changed", "same", "same", "added"]


def test_text_diff_between_two_revisions_and_against_the_work_tree(repo: Path) -> None:
    out = archives(repo, "nb", "diff", "HEAD~1", "HEAD").stdout.decode()
    assert "--- a/nb.ipynb\n+++ b/nb.ipynb\n" in out
    assert "-x = 1\n+x = 2\n" in out and "+# %% [markdown] | # Results\n" in out
    work = archives(repo, "nb", "diff").stdout.decode()  # index against the work tree
    assert "-plot(x)\n" in work and "image/png" not in work  # stripped, as git diff shows
    bad = archives(repo, "nb", "diff", "nosuchrev", check=False)
    assert bad.returncode == 2 and bad.stderr.decode().startswith(
        "git-archives: error: nosuchrev: neither a revision nor a path in the work tree\n")


def test_the_html_page_is_self_contained_and_shows_both_sides(repo: Path,
                                                              tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    archives(repo, "nb", "diff", "HEAD~1", "--html", "-o", str(page))
    text = page.read_text()
    assert "Content-Security-Policy" in text and "<script" not in text.lower()
    assert "http://nbdiff-control.test/x.png not loaded]</span>" in text  # named only
    assert "<em>this</em>" in text  # markdown rendered
    assert f"data:image/png;base64,{PNG_B}" in text  # the work tree's kept output
    assert '<span class="del">x = 1</span>' in text and '<span class="add">x = 2</span>' in text


def test_the_page_loads_offline_in_chromium(repo: Path, tmp_path: Path) -> None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    page = tmp_path / "page.html"
    archives(repo, "nb", "diff", "HEAD~1", "--html", "-o", str(page))
    control = tmp_path / "control.html"  # proves the listener sees what a page fetches
    control.write_text('<img src="http://nbdiff-control.test/pixel.png">')
    with listening() as listener:
        run_browser(exe, control, tmp_path / "profile", listener.url, "--dump-dom")
        assert "nbdiff-control.test" in {page_host(r.path) for r in listener.requests}
        listener.requests.clear()
        dom = run_browser(exe, page, tmp_path / "profile", listener.url, "--dump-dom")
        assert [r.path for r in listener.requests if page_host(r.path) is not None] == []
    assert "<title>Notebook changes: HEAD~1 vs work tree</title>" in dom  # no script ran
    assert dom.count('<tr class="changed">') == 2 and dom.count('<tr class="added">') == 1
    assert "<h1>Results</h1>" in dom
