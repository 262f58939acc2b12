"""``git archives migrate --from-dvc``: .dvc-tracked data becomes pointer-tracked files in one
commit, with real DVC writing the starting point."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.peers import run_dvc
from tests.helpers.repos import pointer_text
from tests.helpers.s3 import add_dir_remote

pytestmark = pytest.mark.slow

FILES = {"data/one.csv": b"id,v\n1,2\n", "data/raw/a.txt": b"a\n",
         "data/raw/sub/b c.txt": b"b\n", "models/m.bin": b"\x00weights\r\n"}


def _project(tmp_path: Path, exe: Path) -> Path:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    run_dvc(exe, repo, "init", "-q")
    archives(repo, "install")
    for rel, data in FILES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    (repo / "data" / "notes.txt").write_text("kept out of git by the user\n")
    run_dvc(exe, repo, "add", "-q", "data/one.csv", "data/raw", "models/m.bin")
    with (repo / "data" / ".gitignore").open("a") as f:
        f.write("/notes.txt\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dvc add")
    return repo


def _md5_objects(repo: Path) -> set[str]:
    base = repo / ".dvc" / "cache" / "files" / "md5"
    return {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}


def test_dry_run_shows_the_plan_and_changes_nothing(tmp_path: Path, dvc_exe: Path) -> None:
    repo = _project(tmp_path, dvc_exe)
    head = git(repo, "rev-parse", "HEAD").stdout
    out = archives(repo, "migrate", "--from-dvc", "--dry-run").stdout.decode()
    assert out.splitlines()[0] == ("migrate --from-dvc: 3 .dvc file(s), 3 output(s), "
                                   "4 file(s) become pointers")
    assert "data/raw (folder of 2 file(s), 4 B)" in out
    assert "remove data/raw.dvc; track '/data/raw/**' in .gitattributes" in out
    assert out.rstrip().endswith("dry run: nothing changed")
    assert git(repo, "rev-parse", "HEAD").stdout == head
    assert git(repo, "status", "--porcelain").stdout == b""
    assert (repo / "data" / "raw.dvc").is_file()


def test_migrate_makes_one_commit_of_pointers_and_keeps_the_content(tmp_path: Path,
                                                                    dvc_exe: Path) -> None:
    repo = _project(tmp_path, dvc_exe)
    md5_before = _md5_objects(repo)
    head = git(repo, "rev-parse", "HEAD").stdout.decode().strip()
    out = archives(repo, "migrate", "--from-dvc").stdout.decode()
    assert "committed" in out
    assert git(repo, "rev-parse", "HEAD~1").stdout.decode().strip() == head
    changed = git(repo, "show", "--name-status", "--format=", "HEAD").stdout.decode()
    assert sorted(changed.splitlines()) == sorted([
        "A\t.gitattributes",
        "M\tdata/.gitignore", "D\tdata/one.csv.dvc", "D\tdata/raw.dvc",
        "A\tdata/one.csv", "A\tdata/raw/a.txt", "A\tdata/raw/sub/b c.txt",
        "D\tmodels/.gitignore", "D\tmodels/m.bin.dvc", "A\tmodels/m.bin"])
    for rel, data in FILES.items():
        assert git(repo, "cat-file", "blob", f"HEAD:{rel}").stdout == pointer_text(data)
        assert (repo / rel).read_bytes() == data
        oid = hashlib.sha256(data).hexdigest()
        assert (repo / ".git/archives/files/sha256" / oid[:2] / oid[2:]).is_file()
    assert (repo / "data" / ".gitignore").read_text() == "/notes.txt\n"
    assert not (repo / "models" / ".gitignore").exists()
    attrs = (repo / ".gitattributes").read_text()
    for rule in ("/data/one.csv ", "/data/raw/** ", "/models/m.bin "):
        assert rule + "filter=archives diff=archives merge=archives -text" in attrs
    assert _md5_objects(repo) == md5_before  # the md5 objects are left where they were
    assert git(repo, "status", "--porcelain").stdout == b""
    assert archives(repo, "status").stdout == b"Large files: all 4 present.\n"
    # A teammate's clone gets the files from the data remote, as for any pointer.
    add_dir_remote(repo, tmp_path / "remote", commit=True)
    archives(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    archives(clone, "install")
    archives(clone, "pull")
    for rel, data in FILES.items():
        assert (clone / rel).read_bytes() == data


def test_paths_select_dvc_files_and_unknown_ones_are_refused(tmp_path: Path,
                                                             dvc_exe: Path) -> None:
    repo = _project(tmp_path, dvc_exe)
    out = archives(repo / "data", "migrate", "--from-dvc", "raw", "--dry-run").stdout
    assert b"1 .dvc file(s)" in out and b"data/raw (folder" in out
    out = archives(repo, "migrate", "--from-dvc", "-n", "models/m.bin.dvc", "data").stdout
    assert b"3 .dvc file(s)" in out
    proc = archives(repo, "migrate", "--from-dvc", "nothing/here", check=False)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines()[0] == \
        "git-archives: error: migrate: no .dvc file tracks 'nothing/here'"


def test_dirty_tree_or_absent_data_is_refused_and_nothing_changes(tmp_path: Path,
                                                                  dvc_exe: Path) -> None:
    repo = _project(tmp_path, dvc_exe)
    head = git(repo, "rev-parse", "HEAD").stdout
    (repo / "data" / ".gitignore").write_text("/one.csv\n/raw\n/notes.txt\n/x\n")
    proc = archives(repo, "migrate", "--from-dvc", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert err.startswith("git-archives: error: migrate refused: the index or work tree has "
                          "uncommitted changes (data/.gitignore)")
    git(repo, "checkout", "--", "data/.gitignore")
    (repo / "data" / "one.csv").unlink()
    (repo / "data" / "one.csv").write_bytes(b"changed by hand\n")
    proc = archives(repo, "migrate", "--from-dvc", check=False)
    assert proc.returncode != 0
    assert "migrate: data/one.csv.dvc: 'data/one.csv' is not as data/one.csv.dvc records it " \
        "(modified); nothing was changed" in proc.stderr.decode()
    assert git(repo, "rev-parse", "HEAD").stdout == head
    assert git(repo, "status", "--porcelain").stdout == b""


def test_a_failed_migration_puts_everything_back(tmp_path: Path, dvc_exe: Path) -> None:
    """A committed attribute deeper down wins over ours: the files would be stored plainly.
    migrate notices before committing and restores the index, .dvc and .gitignore files."""
    repo = _project(tmp_path, dvc_exe)
    (repo / "data" / ".gitattributes").write_text("raw/** -filter -diff -merge\n")
    git(repo, "add", "data/.gitattributes")
    git(repo, "commit", "-qm", "plain here")
    head = git(repo, "rev-parse", "HEAD").stdout
    proc = archives(repo, "migrate", "--from-dvc", check=False)
    assert proc.returncode == 1
    assert "was not stored as a pointer; nothing was committed" in proc.stderr.decode()
    assert git(repo, "rev-parse", "HEAD").stdout == head
    assert git(repo, "status", "--porcelain").stdout == b""
    assert not (repo / ".gitattributes").exists()
    assert (repo / "data" / "raw.dvc").is_file() and (repo / "models" / ".gitignore").is_file()
    for rel, data in FILES.items():
        assert (repo / rel).read_bytes() == data
