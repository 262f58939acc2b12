"""The notebook merge driver (``merge=archives-nb``) under real ``git merge`` and ``git rebase``,
and the per-cell hunk headers of ``git diff``. One installed repository for the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import archives, git

KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}
BASE = ["# Analysis", "import math\nx = 1\ny = 2\nz = 3", "print(x)", "print(y)", "print(z)"]


def notebook(sources: list[str], *, meta: dict[str, Any] | None = None,
             outputs: bool = True) -> bytes:
    cells: list[dict[str, Any]] = []
    for i, src in enumerate(sources):
        if src.startswith("#"):
            cells.append({"cell_type": "markdown", "id": f"x{i}", "metadata": {},
                          "source": src.splitlines(True)})
        else:
            out = [{"output_type": "stream", "name": "stdout", "text": [f"{i}\n"]}]
            cells.append({"cell_type": "code", "execution_count": i + 1, "id": f"x{i}",
                          "metadata": {}, "outputs": out if outputs else [],
                          "source": src.splitlines(True)})
    nb = {"cells": cells, "metadata": meta or {"kernelspec": KERNEL},
          "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1).encode()


def sources(data: bytes) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(data)["cells"]]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nbmerge") / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    archives(path, "install", "--skip-hooks")  # the hooks are not what is tested here
    (path / "nb.ipynb").write_bytes(notebook(BASE))
    git(path, "add", "nb.ipynb")
    git(path, "commit", "-qm", "base")
    return path


@pytest.fixture
def clean_state(repo: Path) -> Iterator[Path]:
    yield repo
    git(repo, "merge", "--abort", check=False)
    git(repo, "rebase", "--abort", check=False)
    git(repo, "checkout", "-qf", "main")


def branch(repo: Path, name: str, content: bytes, start: str = "main") -> None:
    git(repo, "checkout", "-qf", "-B", name, start)
    (repo / "nb.ipynb").write_bytes(content)
    git(repo, "commit", "-qam", name)


def test_install_sets_the_driver_the_attribute_and_the_hunk_headers(repo: Path) -> None:
    driver = git(repo, "config", "merge.archives-nb.driver").stdout.decode().strip()
    assert driver.endswith(" nb merge-driver %O %A %B %P")
    assert Path(driver.split(" ")[0].strip("'")).is_absolute()
    attrs = git(repo, "check-attr", "merge", "diff", "--", "nb.ipynb").stdout.decode()
    assert "merge: archives-nb" in attrs and "diff: archives-nb" in attrs
    assert git(repo, "config", "diff.archives-nb.xfuncname").stdout.decode().strip() \
        == "^(# %%.*)$"


def test_edits_to_different_cells_and_inserts_merge_cleanly(clean_state: Path) -> None:
    repo = clean_state
    local = list(BASE)
    local[1] = "import math\nx = 10\ny = 2\nz = 3"  # a line of cell 2
    local.insert(3, "print('local insert')")
    remote = list(BASE)
    remote[1] = "import math\nx = 1\ny = 2\nz = 30"  # another line of the same cell
    remote[4] = "print(z * 2)"
    del remote[2]
    branch(repo, "clean-r", notebook(remote))
    branch(repo, "clean-l", notebook(local))
    proc = git(repo, "merge", "-q", "--no-edit", "clean-r", check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    committed = git(repo, "show", "HEAD:nb.ipynb").stdout
    assert sources(committed) == ["# Analysis", "import math\nx = 10\ny = 2\nz = 30",
                                  "print('local insert')", "print(y)", "print(z * 2)"]
    # written as the clean filter stores it: stripping it again changes nothing
    assert archives(repo, "nb", "strip", input_bytes=committed).stdout == committed
    assert git(repo, "status", "--porcelain").stdout == b""


def test_a_same_cell_conflict_leaves_a_notebook_that_opens(clean_state: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    repo = clean_state
    local, remote = list(BASE), list(BASE)
    local[2], remote[2] = "print(x + 1)", "print(x - 1)"
    remote[3] = "print(y, 'remote')"  # a clean edit next to the conflict
    branch(repo, "conf-r", notebook(remote))
    branch(repo, "conf-l", notebook(local))
    proc = git(repo, "merge", "--no-edit", "conf-r", check=False)
    assert proc.returncode == 1
    assert "CONFLICT" in proc.stdout.decode()
    assert "nb.ipynb: 1 notebook conflict(s)" in proc.stderr.decode()
    assert git(repo, "status", "--porcelain").stdout == b"UU nb.ipynb\n"
    text = (repo / "nb.ipynb").read_bytes()
    nb = nbformat.reads(text.decode(), as_version=4)
    nbformat.validate(nb)
    assert sources(text) == ["# Analysis", "import math\nx = 1\ny = 2\nz = 3",
                             "<<<<<<< local", "print(x + 1)", "=======", "print(x - 1)",
                             ">>>>>>> remote", "print(y, 'remote')", "print(z)"]


def test_rebase_replays_a_notebook_edit_onto_a_moved_branch(clean_state: Path) -> None:
    repo = clean_state
    upstream, mine = list(BASE), list(BASE)
    upstream.append("print('appended upstream')")
    mine[0] = "# Analysis, revised"
    branch(repo, "up", notebook(upstream))
    branch(repo, "mine", notebook(mine), start="main")
    proc = git(repo, "rebase", "up", check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert sources(git(repo, "show", "HEAD:nb.ipynb").stdout) == [
        "# Analysis, revised", *BASE[1:], "print('appended upstream')"]


def test_a_non_notebook_side_is_one_line_and_keeps_the_local_file(clean_state: Path) -> None:
    repo = clean_state
    git(repo, "checkout", "-qf", "-B", "bad-r2", "main")  # the filter would refuse it:
    blob = git(repo, "hash-object", "-w", "--stdin", input_bytes=b"{ not json\n").stdout
    git(repo, "update-index", "--cacheinfo", f"100644,{blob.decode().strip()},nb.ipynb")
    git(repo, "commit", "-qm", "broken")
    local = list(BASE)
    local[4] = "print(z, 'local')"
    branch(repo, "good-l", notebook(local))
    proc = git(repo, "merge", "--no-edit", "bad-r2", check=False)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "cannot merge nb.ipynb: the remote side is not a notebook" in err
    assert "Traceback" not in err
    assert sources((repo / "nb.ipynb").read_bytes()) == local  # nothing lost: ours
    assert git(repo, "status", "--porcelain").stdout == b"UU nb.ipynb\n"


def test_git_diff_hunk_headers_name_the_cell(clean_state: Path) -> None:
    repo = clean_state
    long = list(BASE)
    long[1] = "import math\nx = 1\ny = 2\nz = 3\na = 4\nb = 5\nc = 6\nd = 7"
    branch(repo, "hunks", notebook(long))
    changed = list(long)
    changed[1] = long[1].replace("d = 7", "d = 70")
    (repo / "nb.ipynb").write_bytes(notebook(changed))
    out = git(repo, "diff", "--no-color").stdout.decode()
    assert "@@ # %% | import math\n" in out
    git(repo, "checkout", "--", "nb.ipynb")


def test_install_upgrades_an_earlier_notebook_line_and_uninstall_removes_it(
        tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    info = tmp_path / ".git" / "info" / "attributes"
    info.write_text("# git-archives: notebooks (added by 'git archives install')\n"
                    "*.ipynb filter=archives-nb diff=archives-nb\n*.csv text\n")
    archives(tmp_path, "install", "--skip-hooks")
    assert info.read_text() == ("*.csv text\n# git-archives: notebooks (added by 'git archives "
                                "install')\n*.ipynb filter=archives-nb diff=archives-nb "
                                "merge=archives-nb\n")
    archives(tmp_path, "uninstall")
    assert info.read_text() == "*.csv text\n"
    assert git(tmp_path, "config", "merge.archives-nb.driver", check=False).returncode == 1


def test_a_hostile_notebook_name_reaches_the_driver_as_data(clean_state: Path) -> None:
    repo = clean_state
    name = "$(touch pwned)';touch pwned2;'.ipynb"
    git(repo, "checkout", "-qf", "-B", "hostile", "main")
    (repo / name).write_bytes(notebook(BASE))
    git(repo, "add", "--", name)
    git(repo, "commit", "-qm", "hostile base")
    local, remote = list(BASE), list(BASE)
    local[2], remote[4] = "print(x, 'l')", "print(z, 'r')"
    for side, cells in (("hostile-r", remote), ("hostile-l", local)):
        git(repo, "checkout", "-qf", "-B", side, "hostile")
        (repo / name).write_bytes(notebook(cells))
        git(repo, "commit", "-qam", side)
    proc = git(repo, "merge", "-q", "--no-edit", "hostile-r", check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert sources(git(repo, "show", f"HEAD:{name}").stdout)[2:5:2] == [
        "print(x, 'l')", "print(z, 'r')"]
    assert not list(repo.rglob("pwned*"))
