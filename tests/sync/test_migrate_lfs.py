"""``git archives migrate --from-lfs``: rules become ours in one commit changing only
.gitattributes, git-lfs's objects are taken over, git-lfs stops running in this clone (and
only there), .lfsconfig is kept."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gitext.sync.migrate_lfs import rewrite_rules
from tests.helpers import BIN_DIR, archives, git
from tests.helpers.lfs import lfs_install_global, lfs_origin
from tests.helpers.repos import pointer_text, staged_blob

A = os.urandom(4000)
B = os.urandom(2500)
LFSCONFIG = b"[lfs]\n\turl = https://lfs.example.invalid/team/repo.git/info/lfs\n"


def test_rewrite_changes_only_the_lfs_drivers() -> None:
    data = (b"# keep: *.x filter=lfs\r\n*.bin filter=lfs diff=lfs merge=lfs -text lockable\r\n"
            b"*.lfsx filter=lfsx\n\"a b.dat\" filter=lfs -text\n*.txt text\n")
    new, lines = rewrite_rules(data)
    assert new == (b"# keep: *.x filter=lfs\r\n"
                   b"*.bin filter=archives diff=archives merge=archives -text lockable\r\n"
                   b"*.lfsx filter=lfsx\n\"a b.dat\" filter=archives -text\n*.txt text\n")
    assert [n for n, _, _ in lines] == [2, 4]


def _clone(tmp_path: Path, home: Path) -> tuple[Path, Path]:
    lfs_install_global(home)
    origin = lfs_origin(tmp_path, {"a.bin": A, "readme.txt": b"hi\n"}, other={"b.bin": B})
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "lfs", "fetch", "--all")
    git(clone, "branch", "-q", "other", "origin/other")
    (clone / ".lfsconfig").write_bytes(LFSCONFIG)
    git(clone, "add", ".lfsconfig")
    git(clone, "commit", "-q", "-m", "lfsconfig")
    return origin, clone


def _store_has(clone: Path, data: bytes) -> bool:
    d = hashlib.sha256(data).hexdigest()
    return (clone / ".git" / "archives" / "files" / "sha256" / d[:2] / d[2:]).is_file()


def test_dry_run_changes_nothing(tmp_path: Path, isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    head = git(clone, "rev-parse", "HEAD").stdout
    attrs = (clone / ".gitattributes").read_bytes()
    out = archives(clone, "migrate", "--from-lfs", "--dry-run").stdout.decode()
    assert "1 rule(s) would become ours" in out and "line 1: *.bin filter=lfs" in out
    assert "2 in .git/lfs/objects would be taken over" in out
    assert ".lfsconfig is kept (lfs.url = https://lfs.example.invalid/" in out
    assert git(clone, "rev-parse", "HEAD").stdout == head
    assert (clone / ".gitattributes").read_bytes() == attrs
    assert not _store_has(clone, A) and not _store_has(clone, B)
    assert git(clone, "config", "--local", "--get", "filter.lfs.process",
               check=False).returncode == 1


def test_migrate_switches_this_clone_over(tmp_path: Path, isolated_home: Path) -> None:
    origin, clone = _clone(tmp_path, isolated_home)
    head = git(clone, "rev-parse", "HEAD").stdout.decode().strip()
    proc = archives(clone, "migrate", "--from-lfs")
    out = proc.stdout.decode()
    assert "objects: 2 taken over from .git/lfs/objects" in out
    # One new commit, changing only the rules.
    assert git(clone, "rev-parse", "HEAD~1").stdout.decode().strip() == head
    changed = git(clone, "diff", "--name-only", "HEAD~1", "HEAD").stdout.decode().split()
    assert changed == [".gitattributes"]
    assert (clone / ".gitattributes").read_text().splitlines()[0] == \
        "*.bin filter=archives diff=archives merge=archives -text"
    assert (clone / ".lfsconfig").read_bytes() == LFSCONFIG
    assert _store_has(clone, A) and _store_has(clone, B)
    # git-lfs no longer runs here; the user's global git-lfs setup is unchanged.
    local = git(clone, "config", "--local", "--get", "filter.lfs.process").stdout
    assert local.strip() == f"{BIN_DIR}/git-archives filter-process".encode()
    glob = git(clone, "config", "--global", "--get", "filter.lfs.process").stdout
    assert glob.strip() == b"git-lfs filter-process"
    assert not (clone / ".git" / "hooks" / "post-commit").exists()
    assert git(clone, "status", "--porcelain").stdout == b""
    # Older commits (still filter=lfs) check out with no remote at all.
    origin.rename(tmp_path / "gone.git")
    git(clone, "checkout", "-q", "other")
    assert (clone / "b.bin").read_bytes() == B
    git(clone, "checkout", "-q", "main")
    data = os.urandom(3000)
    (clone / "new.bin").write_bytes(data)
    git(clone, "add", "new.bin")
    assert staged_blob(clone, "new.bin") == pointer_text(data)
    assert git(clone, "check-attr", "filter", "--", "new.bin").stdout.strip().endswith(
        b"archives")


def test_migrate_refuses_rules_with_uncommitted_changes(tmp_path: Path,
                                                        isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    attrs = (clone / ".gitattributes").read_bytes() + b"*.csv text\n"
    (clone / ".gitattributes").write_bytes(attrs)
    head = git(clone, "rev-parse", "HEAD").stdout
    proc = archives(clone, "migrate", "--from-lfs", check=False)
    assert proc.returncode == 2
    err = proc.stderr.decode().splitlines()
    assert err[0] == ("git-archives: error: .gitattributes has changes that are not committed: "
                      "the migration commit must change only the rules")
    assert err[1].startswith("hint: commit or stash them first")
    assert (clone / ".gitattributes").read_bytes() == attrs
    assert git(clone, "rev-parse", "HEAD").stdout == head
    assert not _store_has(clone, A)


def test_migrate_without_lfs_rules_says_there_is_nothing_to_do(repo: Path) -> None:
    (repo / ".gitattributes").write_text("*.txt text\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "attrs")
    proc = archives(repo, "migrate", "--from-lfs", check=False)
    assert proc.returncode == 2
    assert "nothing to migrate: no committed .gitattributes gives filter=lfs" in \
        proc.stderr.decode()


def test_migrate_needs_a_source(repo: Path) -> None:
    proc = archives(repo, "migrate", check=False)
    assert proc.returncode == 2 and b"--from-lfs" in proc.stderr


def test_a_clone_of_a_migrated_repository_serves_its_older_lfs_commits(
        tmp_path: Path, isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    archives(clone, "migrate", "--from-lfs")
    mate = tmp_path / "mate"
    git(tmp_path, "clone", "-q", str(clone), str(mate))
    assert b"filter=lfs" not in (mate / ".gitattributes").read_bytes()
    out = archives(mate, "install").stdout.decode()
    assert "lfs: this repository's filter=lfs files are served by git-archives" in out
    local = git(mate, "config", "--local", "--get", "filter.lfs.process").stdout
    assert local.strip() == f"{BIN_DIR}/git-archives filter-process".encode()
