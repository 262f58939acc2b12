"""Another notebook filter beside ours: ``install`` says what it replaces, ``doctor`` warns
when one is configured or wins over ours (the lines nbstripout 0.9.1 writes, by hand)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import archives, git

# What 'nbstripout --install' writes (nbstripout/_nbstripout.py, install()).
NBSTRIPOUT_LINES = "*.ipynb filter=nbstripout\n*.zpln filter=nbstripout\n*.ipynb diff=ipynb\n"


def _nbstripout_install(repo: Path) -> None:
    git(repo, "config", "filter.nbstripout.clean", '"/usr/bin/python3" -m nbstripout')
    git(repo, "config", "filter.nbstripout.smudge", "cat")
    git(repo, "config", "filter.nbstripout.required", "true")
    git(repo, "config", "diff.ipynb.textconv", '"/usr/bin/python3" -m nbstripout -t')
    info = repo / ".git" / "info" / "attributes"
    text = info.read_text() if info.exists() else ""
    info.write_text(text + ("\n" if text else "") + NBSTRIPOUT_LINES)


def test_install_after_nbstripout_says_what_it_replaced_and_doctor_warns(repo: Path) -> None:
    _nbstripout_install(repo)
    out = archives(repo, "install").stdout.decode()
    assert ("notebooks: ours replaces filter=nbstripout from .git/info/attributes line 1 "
            "('*.ipynb filter=nbstripout'); 'git archives migrate --from-nbstripout'") in out
    assert "ours replaces diff=ipynb from .git/info/attributes line 3" in out
    doctor = archives(repo, "doctor", check=False).stdout.decode()
    assert ("FAIL nbstripout's filter is configured in this clone (filter.nbstripout.clean, "
            "filter.nbstripout.smudge)\n     fix: git archives migrate --from-nbstripout") in doctor
    assert "overrides ours" not in doctor  # ours comes later in the same file: ours wins


def test_doctor_names_a_later_line_that_wins_over_ours(repo: Path) -> None:
    archives(repo, "install")
    # nbstripout run after us finds '*.ipynb filter' and skips it, but appends diff=ipynb,
    # which then wins; a .gitattributes line never beats .git/info/attributes.
    _nbstripout_install(repo)
    (repo / ".gitattributes").write_text("*.ipynb filter=other\n")
    doctor = archives(repo, "doctor", check=False).stdout.decode()
    assert ("FAIL notebooks: diff=ipynb from .git/info/attributes line 6 ('*.ipynb diff=ipynb') "
            "overrides ours") in doctor
    assert "filter=other" not in doctor
    again = archives(repo, "install").stdout.decode()
    assert "diff=ipynb from .git/info/attributes line 6 ('*.ipynb diff=ipynb') still wins " \
           "over ours" in again


def test_doctor_names_another_filter_on_tracked_notebooks(repo: Path) -> None:
    archives(repo, "install")
    info = repo / ".git" / "info" / "attributes"
    info.write_text(info.read_text() + "nb/*.ipynb filter=strip-it\n")
    (repo / "nb").mkdir()
    (repo / "nb" / "a.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, '
                                         '"nbformat_minor": 5}\n')
    git(repo, "add", "nb/a.ipynb")  # no such driver: git stores it as it is
    doctor = archives(repo, "doctor", check=False).stdout.decode()
    assert ("FAIL notebooks: filter=strip-it from .git/info/attributes line 3 "
            "('nb/*.ipynb filter=strip-it') overrides ours") in doctor
    assert "fix: remove that line from .git/info/attributes (or change it to " \
           "filter=archives-nb)" in doctor
