"""The readable text form of notebooks, and git diff through the archives-nb driver."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from gitext.errors import NotebookError
from gitext.notebooks.textconv import human_size, notebook_to_text
from tests.helpers import archives, git
from tests.helpers.golden import GOLDEN_DIR

PNG_183K = base64.b64encode(b"\x89PNG" + b"\0" * 182_996).decode()


def _notebook(source: str = "x = 1\nprint(x)\n", *, outputs: list[Any] | None = None) -> bytes:
    cells = [
        {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# Title\nSome text"},
        {"cell_type": "code", "execution_count": 2, "id": "c",
         "metadata": {"tags": ["setup"]}, "source": source.splitlines(True),
         "outputs": outputs if outputs is not None else [
             {"output_type": "stream", "name": "stdout", "text": ["1\n"]},
             {"output_type": "display_data", "metadata": {},
              "data": {"image/png": PNG_183K, "text/plain": ["<Figure size 640x480>"]}},
             {"output_type": "error", "ename": "ValueError", "evalue": "bad",
              "traceback": ["a", "b"]},
         ]},
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1).encode()


def test_cells_are_shown_with_percent_headers_and_outputs_summarised() -> None:
    text = notebook_to_text(_notebook(), name="a.ipynb", color=False)
    assert text == (
        "# nbformat 4.5\n"
        '# metadata.kernelspec: {"name": "python3"}\n'
        "\n"
        "# %% [markdown] id=m | # Title\n"
        "# Title\n"
        "Some text\n"
        "\n"
        '# %% id=c execution_count=2 tags=["setup"] | x = 1\n'
        "x = 1\n"
        "print(x)\n"
        "# out: stdout\n"
        "1\n"
        "# out: text/plain\n"
        "<Figure size 640x480>\n"
        "# out: [image/png 183 KB]\n"
        "# out: error ValueError: bad [traceback 2 lines]\n"
    )


def test_colour_is_only_added_when_asked_for() -> None:
    plain = notebook_to_text(_notebook(), name="a.ipynb", color=False)
    coloured = notebook_to_text(_notebook(), name="a.ipynb", color=True)
    assert "\x1b[" not in plain
    assert "\x1b[1;36m# %% [markdown] id=m | # Title\x1b[m" in coloured
    assert "\x1b[35m# out: [image/png 183 KB]\x1b[m" in coloured


@pytest.mark.parametrize("n,shown", [(0, "0 B"), (999, "999 B"), (183_000, "183 KB"),
                                     (1_500_000, "1.5 MB"), (2_000_000_000, "2.0 GB")])
def test_sizes_are_shown_in_powers_of_1000(n: int, shown: str) -> None:
    assert human_size(n) == shown


@pytest.mark.parametrize("name", ["test_nbformat2.ipynb", "test_missing_nbformat.ipynb",
                                  "test_zeppelin.zpln", "test_unicode.ipynb",
                                  "test_widgets.ipynb"])
def test_every_golden_input_has_a_text_form(data_dir: Path, name: str) -> None:
    data = data_dir.joinpath(*GOLDEN_DIR, name).read_bytes()
    text = notebook_to_text(data, name=name, color=False)
    assert "# %%" in text


def test_nbformat2_lines_are_rejoined_with_newlines(data_dir: Path) -> None:
    data = data_dir.joinpath(*GOLDEN_DIR, "test_nbformat2.ipynb").read_bytes()
    text = notebook_to_text(data, name="n.ipynb", color=False)
    assert 'def f(x):\n    """My function\n' in text


def test_headers_name_the_cell_by_its_first_line_and_real_id_only() -> None:
    cells: list[dict[str, Any]] = [
        {"cell_type": "code", "id": str(i), "metadata": {}, "outputs": [],
         "execution_count": None, "source": src}
        for i, src in enumerate(["\n\n  import   pandas  as pd\n", "y" * 80, ""])]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    text = notebook_to_text(json.dumps(nb).encode(), name="a.ipynb", color=False)
    headers = [line for line in text.splitlines() if line.startswith("# %%")]
    # positional ids (what the stripper writes) are noise, so they are not shown
    assert headers == ["# %% | import pandas as pd", f"# %% | {'y' * 57}...", "# %%"]


def test_a_bad_notebook_raises_naming_the_file() -> None:
    with pytest.raises(NotebookError, match=r"^b\.ipynb: not valid JSON"):
        notebook_to_text(b"{", name="b.ipynb", color=False)


def test_the_textconv_command_shows_a_broken_notebook_as_it_is(tmp_path: Path) -> None:
    bad = tmp_path / "b.ipynb"
    bad.write_bytes(b"{broken")
    proc = archives(tmp_path, "nb", "textconv", str(bad))
    assert proc.stdout == b"{broken"
    assert proc.stderr.decode().startswith(f"git-archives: warning: {bad}: not valid JSON")


def test_nb_diff_of_two_notebooks_is_a_unified_text_diff(tmp_path: Path) -> None:
    (tmp_path / "a.ipynb").write_bytes(_notebook("# first\nx = 1\n"))
    (tmp_path / "b.ipynb").write_bytes(_notebook("# first\nx = 2\n"))
    proc = archives(tmp_path, "nb", "diff", "a.ipynb", "b.ipynb", check=False)
    assert proc.returncode == 1
    assert b"-x = 1\n+x = 2\n" in proc.stdout
    same = archives(tmp_path, "nb", "diff", "a.ipynb", "a.ipynb")
    assert same.stdout == b""


def _setup_textconv(repo: Path) -> None:
    git(repo, "config", "diff.archives-nb.textconv", "git-archives nb textconv")
    (repo / ".gitattributes").write_text("*.ipynb diff=archives-nb\n")


def test_git_diff_shows_cell_text_through_the_textconv_driver(repo: Path) -> None:
    _setup_textconv(repo)
    (repo / "a.ipynb").write_bytes(_notebook("# first\nx = 1\n"))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    (repo / "a.ipynb").write_bytes(_notebook("# first\nx = 2\n"))
    out = git(repo, "diff", "--no-color").stdout.decode()
    assert "-x = 1\n+x = 2\n" in out
    assert ' # %% tags=["setup"] | # first\n' in out  # stripped as the filter would
    assert "\x1b[" not in out
    coloured = git(repo, "-c", "color.diff=always", "diff").stdout.decode()
    assert "\x1b[31m-x = 1\x1b[m" in coloured  # git's colours, not ours


def test_git_diff_hides_output_only_changes_with_the_strip_filter(repo: Path) -> None:
    archives(repo, "install")
    (repo / "a.ipynb").write_bytes(_notebook(outputs=[]))
    git(repo, "add", "a.ipynb")
    git(repo, "commit", "-qm", "one")
    (repo / "a.ipynb").write_bytes(_notebook())  # outputs appear after a run
    assert git(repo, "diff", "--stat").stdout == b""
    (repo / "a.ipynb").write_bytes(_notebook("x = 3\n"))
    out = git(repo, "diff", "--no-color").stdout.decode()
    assert "+x = 3\n" in out
    assert "image/png" not in out  # the stripped side shows no outputs
