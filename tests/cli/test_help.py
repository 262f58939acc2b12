"""Manual pages from the parsers: ``help --man-dir`` writes one per verb, ``man`` finds them,
``--help`` opens them as git does, and without ``man`` the argparse help is printed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gitext.cli import VERB_MODULES
from gitext.commands.help import NO_PAGE, render_pages
from tests.helpers import BIN_DIR, archives, git

needs_man = pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")


def _man_env(man_root: Path) -> dict[str, str]:
    env = dict(os.environ, MANPATH=str(man_root), MANPAGER="cat", PAGER="cat",
               MANWIDTH="100", PATH=f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}")
    env.pop("GIT_ARCHIVES_HELP", None)
    return env


@pytest.fixture(scope="module")
def man_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("man")
    out = archives(root, "help", "--man-dir", str(root / "man1")).stdout.decode()
    assert out.startswith("wrote ") and "manual pages" in out
    return root


def test_a_page_for_the_command_and_every_verb() -> None:
    pages = render_pages()
    wanted = {"git-archives.1"} | {f"git-archives-{v}.1" for v in VERB_MODULES
                                   if v not in NO_PAGE}
    assert set(pages) == wanted
    for name, text in pages.items():
        title = name[:-2].upper().replace("-", "\\-")
        assert text.startswith(f'.TH {title} "1"'), name
        assert ".SH NAME" in text and ".SH SYNOPSIS" in text and ".SH SEE ALSO" in text
    push = pages["git-archives-push.1"]
    assert "git\\-archives\\-push \\- upload the data" in push
    assert "\\fB\\-\\-remote\\fR" in push  # every option of the verb is described
    top = pages["git-archives.1"]
    assert "\\fBgit\\-archives\\-repro\\fR(1)" in top  # SEE ALSO names each verb's page


def test_man_dir_replaces_pages_of_verbs_that_are_gone(tmp_path: Path) -> None:
    folder = tmp_path / "man1"
    folder.mkdir()
    (folder / "git-archives-old-verb.1").write_text(".TH OLD\n")
    (folder / "other.1").write_text(".TH OTHER\n")
    archives(tmp_path, "help", "--man-dir", str(folder))
    assert not (folder / "git-archives-old-verb.1").exists()
    assert (folder / "other.1").exists()  # not ours: left alone
    assert (folder / "git-archives-gc.1").is_file()


@needs_man
def test_man_finds_the_pages_through_manpath(man_root: Path) -> None:
    import subprocess

    found = subprocess.run(["man", "-w", "git-archives-push"], env=_man_env(man_root),
                           capture_output=True, text=True, check=False)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == man_root / "man1" / "git-archives-push.1"


@needs_man
def test_verb_help_opens_the_manual_page(man_root: Path) -> None:
    shown = archives(man_root, "gc", "--help", env=_man_env(man_root)).stdout.decode()
    assert "GIT-ARCHIVES-GC(1)" in shown and "NAME" in shown
    assert "usage:" not in shown  # the page, not argparse's text
    again = archives(man_root, "help", "push", env=_man_env(man_root)).stdout.decode()
    assert "GIT-ARCHIVES-PUSH(1)" in again


@needs_man
def test_git_turns_archives_help_into_the_page(man_root: Path, tmp_path: Path) -> None:
    # git itself runs `git help archives` for `git archives --help`
    env = _man_env(man_root)
    shown = git(tmp_path, "archives", "--help", env=env).stdout.decode()
    assert "GIT-ARCHIVES(1)" in shown
    assert "GIT-ARCHIVES(1)" in git(tmp_path, "help", "archives", env=env).stdout.decode()


def test_without_man_help_prints_the_argparse_text(tmp_path: Path, man_root: Path) -> None:
    no_man = tmp_path / "bin"  # a PATH on which there is no man
    no_man.mkdir()
    env = dict(_man_env(man_root), PATH=str(no_man))
    text = archives(tmp_path, "push", "--help", env=env).stdout.decode()
    assert text.startswith("usage: git archives push")
    top = archives(tmp_path, "--help", env=env).stdout.decode()
    assert top.startswith("usage: git archives") and "repro" in top
    assert archives(tmp_path, "help", "gc", env=env).stdout.decode().startswith(
        "usage: git archives gc")
    # man present but asked for text
    if shutil.which("man"):
        forced = archives(tmp_path, "gc", "--help",
                          env=dict(_man_env(man_root), GIT_ARCHIVES_HELP="text"))
        assert forced.stdout.decode().startswith("usage: git archives gc")


def test_a_page_that_is_not_installed_falls_back_to_the_text(tmp_path: Path) -> None:
    env = _man_env(tmp_path / "empty")  # man (if any) finds no page here
    out = archives(tmp_path, "repro", "--help", env=env).stdout.decode()
    assert out.startswith("usage: git archives repro")


def test_short_h_and_unknown_verbs(tmp_path: Path) -> None:
    assert archives(tmp_path, "gc", "-h").stdout.decode().startswith("usage: git archives gc")
    bad = archives(tmp_path, "help", "no-such-verb", check=False)
    assert bad.returncode != 0
    assert b"'no-such-verb' is not a git-archives verb" in bad.stderr
