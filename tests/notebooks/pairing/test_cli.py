"""The verbs as a user types them: ``git archives nb pair|sync`` through the console script."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import archives
from tests.helpers.notebooks import edit_notebook_cell, edit_text, make_notebook, sources


def test_nb_pair_then_sync_from_the_command_line(repo: Path) -> None:
    make_notebook(repo / "notebooks" / "a.ipynb")
    out = archives(repo, "nb", "pair", "--formats", "ipynb,py:percent", "notebooks/")
    assert out.stdout.decode().splitlines() == ["wrote notebooks/a.ipynb",
                                                "wrote notebooks/a.py"]
    edit_text(repo / "notebooks" / "a.py", "a = 1", "a = 2")
    out = archives(repo / "notebooks", "nb", "sync", "--dry-run")
    assert out.stdout.decode().startswith(
        "notebook-updated: a.ipynb <-> a.py: would write a.ipynb")
    assert sources(repo / "notebooks" / "a.ipynb")[1] == "a = 1"
    archives(repo, "nb", "sync")
    assert sources(repo / "notebooks" / "a.ipynb")[1] == "a = 2"
    out = archives(repo, "nb", "sync")
    assert out.stdout == b"" and out.stderr.decode() == "1 pair(s) already in sync\n"


def test_nb_sync_refuses_a_conflict_with_one_line_and_a_hint(repo: Path) -> None:
    make_notebook(repo / "a.ipynb")
    archives(repo, "nb", "pair", "--formats", "ipynb,py:percent", "a.ipynb")
    edit_notebook_cell(repo / "a.ipynb", 1, "a = 10")
    edit_text(repo / "a.py", "a = 1", "a = 11")
    out = archives(repo, "nb", "sync", check=False)
    assert out.returncode == 1
    err = out.stderr.decode().splitlines()
    assert err[0] == ("git-archives: error: refusing to sync: a.ipynb and a.py both changed "
                      "cell 2 since the last sync; nothing of this pair was written")
    assert err[1].startswith("hint: keep one side's version of the cells both changed with: "
                             "git archives nb sync --prefer notebook")
    assert "Traceback" not in out.stderr.decode()
    archives(repo, "nb", "sync", "--prefer", "notebook", "a.ipynb")
    assert "a = 10" in (repo / "a.py").read_text()


def test_nb_pair_without_formats_says_where_to_put_them(repo: Path) -> None:
    make_notebook(repo / "a.ipynb")
    out = archives(repo, "nb", "pair", "a.ipynb", check=False)
    assert out.returncode == 1
    assert out.stderr.decode().splitlines() == [
        "git-archives: error: a.ipynb: no jupytext formats apply to it",
        "hint: pass --formats ipynb,py:percent, or set formats in jupytext.toml"]
