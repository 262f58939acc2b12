"""Item 2 of the hardening issue: configuration that cannot be read never changes what is
stored. With the size rule (``* filter=archives`` + ``size.largerthan``) a missing, broken
or not-yet-checked-out ``.archives/config`` must not turn small files into pointers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.helpers import archives, git
from tests.helpers.repos import pointer_text, staged_blob, status_porcelain

BIG = 5_000


def _sized_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    archives(path, "install")
    archives(path, "track", "--larger-than", "1kb")
    (path / "small.txt").write_text("tiny\n")
    (path / "notes.md").write_text("# notes\n")
    (path / "big.bin").write_bytes(os.urandom(BIG))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "sized")
    assert staged_blob(path, "small.txt") == b"tiny\n"
    assert staged_blob(path, "big.bin").startswith(b"version https://git-lfs")
    return path


def _restat(*files: Path) -> None:
    """Change each file's stat (not its content) so git cleans it again."""
    for f in files:
        data = f.read_bytes()
        f.unlink()
        f.write_bytes(data)


def test_moving_the_config_away_changes_no_stored_form(tmp_path: Path) -> None:
    repo = _sized_repo(tmp_path / "repo")
    gitattributes = staged_blob(repo, ".gitattributes")
    aside = tmp_path / "config.aside"
    shutil.move(str(repo / ".archives" / "config"), aside)
    (repo / "small.txt").write_text("tiny, edited\n")
    (repo / "big.bin").write_bytes(os.urandom(BIG))
    _restat(repo / "notes.md", repo / ".gitattributes")
    proc = git(repo, "status", "--porcelain")
    err = proc.stderr.decode()
    assert ".archives/config" in err and "git checkout -- .archives/config" in err
    assert err.count(".archives/config is missing") == 1  # warned once
    git(repo, "add", "-A")
    # what git stored plainly stays plain, what it stored as a pointer stays a pointer
    assert staged_blob(repo, ".gitattributes") == gitattributes
    assert staged_blob(repo, "small.txt") == b"tiny, edited\n"
    assert staged_blob(repo, "notes.md") == b"# notes\n"
    assert staged_blob(repo, "big.bin") == pointer_text((repo / "big.bin").read_bytes())
    shutil.move(str(aside), repo / ".archives" / "config")
    git(repo, "add", "-A")
    assert status_porcelain(repo) == "M  big.bin\nM  small.txt\n"


def test_a_new_file_is_refused_not_guessed_while_the_config_is_missing(
        tmp_path: Path) -> None:
    repo = _sized_repo(tmp_path / "repo")
    (repo / ".archives" / "config").unlink()
    (repo / "new-small.txt").write_text("new\n")
    proc = git(repo, "add", "new-small.txt", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "new-small.txt" in err and ".archives/config" in err
    assert "git checkout -- .archives/config" in err
    assert git(repo, "ls-files", "new-small.txt").stdout == b""  # nothing staged
    assert (repo / "new-small.txt").read_text() == "new\n"  # nothing lost
    git(repo, "checkout", "--", ".archives/config")
    git(repo, "add", "new-small.txt")
    assert staged_blob(repo, "new-small.txt") == b"new\n"


def test_a_config_deleted_and_committed_is_no_longer_expected(tmp_path: Path) -> None:
    """Once the removal is committed there is no rule to guess: plain attributes apply."""
    repo = _sized_repo(tmp_path / "repo")
    git(repo, "rm", "-q", ".archives/config")
    git(repo, "commit", "-q", "-m", "drop the size rule")
    (repo / "new.txt").write_text("new\n")
    git(repo, "add", "new.txt")
    assert staged_blob(repo, "new.txt") == pointer_text(b"new\n")  # * filter=archives
    assert staged_blob(repo, ".gitattributes").startswith(b"# git-archives")


def test_a_broken_config_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    repo = _sized_repo(tmp_path / "repo")
    gitattributes = staged_blob(repo, ".gitattributes")
    (repo / ".archives" / "config").write_text("[size\n\tlargerthan = 1kb\n")
    (repo / "small.txt").write_text("tiny, edited\n")
    (repo / "big.bin").write_bytes(os.urandom(BIG))
    _restat(repo / ".gitattributes")
    proc = git(repo, "status", "--porcelain")
    err = proc.stderr.decode()
    lines = [ln for ln in err.splitlines() if ".archives/config" in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    git(repo, "add", "small.txt", "big.bin", ".gitattributes")
    assert staged_blob(repo, ".gitattributes") == gitattributes
    assert staged_blob(repo, "small.txt") == b"tiny, edited\n"
    assert staged_blob(repo, "big.bin").startswith(b"version https://git-lfs")


def test_a_bad_size_value_is_treated_as_an_unreadable_config(tmp_path: Path) -> None:
    repo = _sized_repo(tmp_path / "repo")
    (repo / ".archives" / "config").write_text("[size]\n\tlargerthan = banana\n")
    (repo / "small.txt").write_text("tiny, edited\n")
    proc = git(repo, "add", "small.txt")
    assert "banana" in proc.stderr.decode()
    assert staged_blob(repo, "small.txt") == b"tiny, edited\n"


def test_a_config_restored_mid_process_is_reread(tmp_path: Path) -> None:
    """One git command, one filter process: the config appears between two files."""
    repo = _sized_repo(tmp_path / "repo")
    cfg = repo / ".archives" / "config"
    saved = cfg.read_bytes()
    cfg.unlink()
    # git checks out files in index order: '.archives/config' comes before 'z-*.txt'
    for i in range(3):
        (repo / f"z-{i}.txt").write_text(f"small {i}\n")
    cfg.write_bytes(saved)
    git(repo, "add", "-A")
    for i in range(3):
        assert staged_blob(repo, f"z-{i}.txt") == f"small {i}\n".encode()


def test_a_clone_prints_no_renormalize_lines_for_small_files(tmp_path: Path) -> None:
    origin = _sized_repo(tmp_path / "origin")
    for i in range(20):
        (origin / f"s{i:02}.txt").write_text(f"small {i}\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "more small files")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(origin), str(clone))
    archives(clone, "install")
    shutil.copytree(origin / ".git" / "archives" / "files",
                    clone / ".git" / "archives" / "files", dirs_exist_ok=True)
    proc = git(clone, "checkout", "-q", "main")
    err = proc.stderr.decode()
    assert "renormalize" not in err, err
    assert "missing" not in err, err
    assert (clone / "s00.txt").read_text() == "small 0\n"
    assert (clone / "big.bin").read_bytes() == (origin / "big.bin").read_bytes()
    assert status_porcelain(clone) == ""


def test_a_clone_still_names_a_large_file_committed_plainly(tmp_path: Path) -> None:
    """The renormalize hint is kept where the config, once read, says 'pointer'."""
    origin = _sized_repo(tmp_path / "origin")
    big_plain = os.urandom(BIG)
    (origin / "plain.bin").write_bytes(big_plain)
    git(origin, "-c", "filter.archives.process=", "-c", "filter.archives.required=false",
        "-c", "filter.archives.clean=cat", "add", "plain.bin")
    assert staged_blob(origin, "plain.bin") == big_plain
    git(origin, "commit", "-q", "-m", "a large file committed plainly")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(origin), str(clone))
    archives(clone, "install")
    err = git(clone, "checkout", "-q", "main").stderr.decode()
    assert "git add --renormalize -- plain.bin" in err
    assert "small.txt" not in err


def test_a_config_that_is_a_symlink_is_not_followed(tmp_path: Path) -> None:
    """A committed symlink would let the repository choose which of the user's files we
    read as its config: it is refused like a broken config."""
    repo = _sized_repo(tmp_path / "repo")
    elsewhere = tmp_path / "users-own-file"
    elsewhere.write_text("[size]\n\tlargerthan = 1b\n")
    cfg = repo / ".archives" / "config"
    cfg.unlink()
    cfg.symlink_to(elsewhere)
    (repo / "small.txt").write_text("tiny, edited\n")
    proc = git(repo, "add", "small.txt")
    assert ".archives/config: is a symbolic link" in proc.stderr.decode()
    assert staged_blob(repo, "small.txt") == b"tiny, edited\n"
    out = archives(repo, "doctor", check=False).stdout.decode()
    assert "FAIL .archives/config: is a symbolic link" in out
