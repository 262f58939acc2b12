"""The pre-commit pair check and the post-checkout regeneration, on real git repositories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gitext.git.repo import Repo
from gitext.notebooks import hooks
from gitext.notebooks.pairing.pair import pair
from gitext.notebooks.pairing.sync import sync
from tests.helpers import git
from tests.helpers.notebooks import (
    BASE_SOURCES,
    edit_notebook_cell,
    edit_text,
    make_notebook,
    sources,
)


def _paired_and_committed(repo: Path) -> tuple[Path, Path]:
    nb = repo / "nbs" / "a.ipynb"
    make_notebook(nb)
    pair(repo, [nb], "ipynb,py:percent")
    git(repo, "add", "nbs")
    git(repo, "commit", "-q", "-m", "pair")
    return nb, nb.with_suffix(".py")


def test_pre_commit_passes_a_pair_staged_in_step(repo: Path) -> None:
    _nb, py = _paired_and_committed(repo)
    edit_text(py, "b = 2", "b = 20")
    sync(repo, [])
    git(repo, "add", "nbs")
    assert hooks.check_staged_pairs(Repo.discover(repo)) == []


def test_pre_commit_refuses_a_notebook_staged_without_its_text(repo: Path) -> None:
    nb, _py = _paired_and_committed(repo)
    edit_notebook_cell(nb, 2, "b = 20")
    git(repo, "add", "nbs/a.ipynb")
    problems = hooks.check_staged_pairs(Repo.discover(repo))
    assert problems == [
        "nbs/a.ipynb and its paired nbs/a.py are staged with different cells; run: "
        "git archives nb sync -- nbs/a.ipynb && git add -- nbs/a.ipynb nbs/a.py"]


def test_pre_commit_compares_the_index_not_the_work_tree(repo: Path) -> None:
    _nb, py = _paired_and_committed(repo)
    edit_text(py, "b = 2", "b = 20")
    git(repo, "add", "nbs/a.py")
    sync(repo, [])  # the work tree agrees now, but the staged notebook is old
    assert len(hooks.check_staged_pairs(Repo.discover(repo))) == 1
    git(repo, "add", "nbs/a.ipynb")
    assert hooks.check_staged_pairs(Repo.discover(repo)) == []


def test_pre_commit_ignores_outputs_and_pairs_with_one_side_tracked(repo: Path) -> None:
    (repo / ".gitignore").write_text("*.ipynb\n")
    _nb, py = _paired_and_committed(repo)
    edit_text(py, "a = 1", "a = 5")
    git(repo, "add", "nbs/a.py")
    assert hooks.check_staged_pairs(Repo.discover(repo)) == []


def test_pre_commit_finds_config_pairs_by_the_staged_text(repo: Path) -> None:
    (repo / "jupytext.toml").write_text('formats = "ipynb,py:percent"\n')
    nb = repo / "a.ipynb"
    make_notebook(nb)
    sync(repo, [])
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "x")
    edit_text(repo / "a.py", "c = 3", "c = 4")
    git(repo, "add", "a.py")
    (problem,) = hooks.check_staged_pairs(Repo.discover(repo))
    assert problem.startswith("a.ipynb and its paired a.py")


def _run_isolated(code: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          check=True, text=True)
    return proc.stdout.strip()


def test_hooks_without_any_pairing_never_import_jupytext(repo: Path) -> None:
    make_notebook(repo / "plain.ipynb")
    (repo / "mod.py").write_text("x = 1\n")
    git(repo, "add", ".")
    out = _run_isolated(
        "import sys\n"
        "from gitext.git.repo import Repo\n"
        "from gitext.notebooks import hooks\n"
        "r = Repo.discover('.')\n"
        "print(hooks.check_staged_pairs(r), hooks.regenerate_from_text(r),"
        " 'jupytext' in sys.modules, 'nbformat' in sys.modules)", repo)
    assert out == "[] [] False False"


def test_post_checkout_builds_the_notebook_when_only_the_text_is_tracked(
        repo: Path, tmp_path: Path) -> None:
    (repo / ".gitignore").write_text("*.ipynb\n")
    (repo / "jupytext.toml").write_text('formats = "ipynb,py:percent"\n')
    make_notebook(repo / "nbs" / "a.ipynb")
    sync(repo, [])
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "text only")
    assert git(repo, "ls-files").stdout.decode().split() == [
        ".gitignore", "jupytext.toml", "nbs/a.py"]

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    messages = hooks.regenerate_from_text(Repo.discover(clone))
    assert messages == ["created nbs/a.ipynb from nbs/a.py"]
    assert sources(clone / "nbs" / "a.ipynb") == BASE_SOURCES
    # Run again: the notebook exists, nothing to do; and it is now a synced pair.
    assert hooks.regenerate_from_text(Repo.discover(clone)) == []
    assert sync(clone, [])[0].action == "unchanged"


def test_post_checkout_leaves_a_tracked_notebook_alone(repo: Path) -> None:
    (repo / "jupytext.toml").write_text('formats = "ipynb,py:percent"\n')
    nb, _py = _paired_and_committed(repo)
    nb.unlink()  # the user deleted a tracked notebook: not a checkout's business
    assert hooks.regenerate_from_text(Repo.discover(repo)) == []
    assert not nb.exists()


def test_post_checkout_never_builds_a_notebook_outside_the_clone(
        repo: Path, tmp_path: Path) -> None:
    """The attacker's texts pair themselves (jupytext headers) with notebooks in
    ``notebooks/`` — a committed symlink to a folder of the victim's — and with a prefix
    that climbs out of the clone: the hook must write neither."""
    import os

    outside = tmp_path / "victim-documents"
    outside.mkdir()
    header = ("# ---\n# jupyter:\n#   jupytext:\n#     formats: {}\n#     text_representation:\n"
              "#       extension: .py\n#       format_name: percent\n# ---\n\n# %%\nprint(1)\n")
    (repo / "scripts").mkdir()
    (repo / "scripts" / "a.py").write_text(header.format("notebooks///ipynb,scripts///py:percent"))
    climb = "../" * 12 + str(outside).lstrip("/")
    (repo / "scripts" / "b.py").write_text(header.format(f"{climb}//ipynb,py:percent"))
    (repo / "jupytext.toml").write_text("")
    clone = tmp_path / "clone"
    os.symlink(os.path.relpath(outside, clone), repo / "notebooks")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "pairs")
    git(tmp_path, "clone", "-q", str(repo), str(clone))

    messages = hooks.regenerate_from_text(Repo.discover(clone))

    assert list(outside.iterdir()) == []
    assert any("a.py" in m and "symbolic link" in m for m in messages), messages
