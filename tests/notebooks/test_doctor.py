"""doctor's notebook check on real repositories."""

from __future__ import annotations

import shutil
from pathlib import Path

from gitext.git.repo import Repo
from gitext.notebooks.doctor import (
    find_unstripped_notebooks,
    renormalize_command,
    scan_notebooks,
)
from gitext.notebooks.strip_options import StripOptions
from tests.helpers import archives, git
from tests.helpers.golden import GOLDEN_DIR


def test_committed_and_staged_notebooks_with_outputs_are_found(data_dir: Path,
                                                               repo: Path) -> None:
    golden = data_dir.joinpath(*GOLDEN_DIR)
    # committed before the filter existed: outputs and all
    shutil.copyfile(golden / "test_metadata.ipynb", repo / "old.ipynb")
    shutil.copyfile(golden / "test_nochange.ipynb", repo / "clean.ipynb")
    (repo / "sub").mkdir()
    shutil.copyfile(golden / "test_widgets.ipynb", repo / "sub" / "w i.ipynb")
    shutil.copyfile(golden / "test_invalid_json.ipynb", repo / "broken.ipynb")
    (repo / "notes.json").write_text('{"not": "a notebook"}')
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "before install")
    # staged only, not committed
    shutil.copyfile(golden / "test_unicode.ipynb", repo / "new.ipynb")
    git(repo, "add", "new.ipynb")

    scan = scan_notebooks(Repo.discover(repo), StripOptions())
    assert scan.unstripped == ["new.ipynb", "old.ipynb", "sub/w i.ipynb"]
    assert [p for p, _ in scan.unreadable] == ["broken.ipynb"]
    assert find_unstripped_notebooks(Repo.discover(repo), StripOptions()) == scan.unstripped


def test_renormalize_fixes_what_doctor_found(data_dir: Path, repo: Path) -> None:
    golden = data_dir.joinpath(*GOLDEN_DIR)
    shutil.copyfile(golden / "test_metadata.ipynb", repo / "old.ipynb")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "before install")
    found = find_unstripped_notebooks(Repo.discover(repo), StripOptions())
    assert found == ["old.ipynb"]
    archives(repo, "install")
    git(repo, *renormalize_command(found).split()[1:])
    git(repo, "commit", "-qm", "strip")
    assert find_unstripped_notebooks(Repo.discover(repo), StripOptions()) == []


def test_a_repository_without_commits_or_notebooks_has_nothing_to_report(repo: Path) -> None:
    assert find_unstripped_notebooks(Repo.discover(repo), StripOptions()) == []


def test_the_renormalize_command_quotes_paths_and_falls_back_to_everything() -> None:
    assert renormalize_command(["a.ipynb", "b c.ipynb"]) == \
        "git add --renormalize -- a.ipynb 'b c.ipynb'"
    assert renormalize_command([f"n{i}.ipynb" for i in range(11)]) == \
        "git add --renormalize ."
