"""``git archives get URL PATH``: a file or folder of another repository with its data
(pointer files, plain files, pipeline outputs), and nothing written outside OUT whatever
that repository holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.s3 import add_dir_remote

PIPELINE = """\
stages:
  make:
    cmd: mkdir -p out && echo one > out/x.txt && echo two > out/y.txt && echo m > model.txt
    outs: [out, model.txt]
"""


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A repository with pointer files, a plain file and pipeline outputs, all pushed to
    its committed directory remote (confirmed by the user globally, as for any clone)."""
    repo = tmp_path / "source"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    archives(repo, "install")
    archives(repo, "track", "*.bin")
    add_dir_remote(repo, tmp_path / "remote", commit=True)
    (repo / "data" / "sub").mkdir(parents=True)
    (repo / "data" / "a.bin").write_bytes(b"A" * 3000)
    (repo / "data" / "sub" / "b.bin").write_bytes(b"old" * 1000)
    (repo / "data" / "plain.txt").write_text("plain\n")
    os.chmod(repo / "data" / "plain.txt", 0o755)
    (repo / "dvc.yaml").write_text(PIPELINE)
    archives(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    (repo / "data" / "sub" / "b.bin").write_bytes(b"new" * 1000)
    git(repo, "commit", "-qam", "v2")
    archives(repo, "push", "--all-commits")
    return repo


def test_get_copies_files_folders_and_outputs(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    url = os.fspath(source)
    out = archives(dest, "get", url, "data").stdout.decode()
    assert out.startswith("get: wrote data (3 file(s)")
    assert (dest / "data" / "a.bin").read_bytes() == b"A" * 3000
    assert (dest / "data" / "sub" / "b.bin").read_bytes() == b"new" * 1000
    assert (dest / "data" / "plain.txt").read_text() == "plain\n"
    assert os.access(dest / "data" / "plain.txt", os.X_OK)
    assert not (dest / ".git").exists() and list(dest.iterdir()) == [dest / "data"]
    archives(dest, "get", url, "data/sub/b.bin", "-o", "old.bin", "--rev", "v1")
    assert (dest / "old.bin").read_bytes() == b"old" * 1000
    archives(dest, "get", url, "out", "-o", os.fspath(dest / "data"))  # into a folder
    assert (dest / "data" / "out" / "y.txt").read_text() == "two\n"
    archives(dest, "get", url, "model.txt")
    assert (dest / "model.txt").read_text() == "m\n"
    archives(dest, "get", url, "out/x.txt", "-o", "x.txt")  # a file of a folder output
    assert (dest / "x.txt").read_text() == "one\n"
    head = git(source, "rev-parse", "HEAD~1").stdout.decode().strip()
    archives(dest, "get", url, "data/sub/b.bin", "-o", "by-id.bin", "--rev", head)
    assert (dest / "by-id.bin").read_bytes() == b"old" * 1000


def test_get_refuses_without_writing(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.bin").write_bytes(b"mine")
    url = os.fspath(source)
    for args, message in (((url, "data/a.bin"), "already exists"),
                          ((url, "nope"), "'nope' is neither in"),
                          ((url, "../etc"), "is not a path inside the repository"),
                          ((os.fspath(tmp_path / "no-repo"), "x"), "cannot clone")):
        proc = archives(dest, "get", *args, check=False)
        assert proc.returncode != 0
        assert message in proc.stderr.decode(), proc.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["a.bin"]
    assert (dest / "a.bin").read_bytes() == b"mine"


def test_data_missing_from_the_remote_writes_nothing(source: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    for f in remote.rglob("*"):
        if f.is_file() and "sha256" in f.parts:
            f.unlink()
    dest = tmp_path / "dest"
    dest.mkdir()
    proc = archives(dest, "get", os.fspath(source), "data", check=False)
    assert proc.returncode == 1
    assert "is not on the repository's remote" in proc.stderr.decode()
    assert list(dest.iterdir()) == []


def _hostile(tmp_path: Path) -> Path:
    """A repository whose tree git itself would never check out: ``data/../escape.txt``,
    ``data/.git/hooks/post-checkout`` and a symlink ``data/link`` to ``/``."""
    repo = tmp_path / "hostile"
    git(tmp_path, "init", "-q", "-b", "main", os.fspath(repo))

    def blob(text: str) -> str:
        return git(repo, "hash-object", "-w", "--stdin",
                   input_bytes=text.encode()).stdout.decode().strip()

    def tree(entries: str) -> str:
        return git(repo, "mktree", input_bytes=entries.encode()).stdout.decode().strip()

    escape = tree(f"100644 blob {blob('pwned')}\tescape.txt\n")
    hook = blob("#!/bin/sh\necho pwned\n")
    hooks = tree(f"100755 blob {hook}\tpost-checkout\n")
    dotgit = tree(f"040000 tree {hooks}\thooks\n")
    data = tree(f"040000 tree {escape}\t..\n040000 tree {dotgit}\t.git\n"
                f"120000 blob {blob('/')}\tlink\n100644 blob {blob('ok')}\tok.txt\n")
    root = tree(f"040000 tree {data}\tdata\n")
    commit = git(repo, "commit-tree", root, "-m", "hostile").stdout.decode().strip()
    git(repo, "update-ref", "refs/heads/main", commit)
    return repo


def test_a_hostile_repository_cannot_make_get_write_outside_out(tmp_path: Path) -> None:
    repo = _hostile(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    proc = archives(dest, "get", os.fspath(repo), "data", check=False)
    assert proc.returncode != 0
    assert "git-archives: error:" in proc.stderr.decode()
    assert not (tmp_path / "escape.txt").exists() and not (dest / "escape.txt").exists()
    assert list(dest.iterdir()) == []  # nothing partial either
    # the one harmless file alone is fine
    archives(dest, "get", os.fspath(repo), "data/ok.txt")
    assert (dest / "ok.txt").read_text() == "ok"
    # a symlink is never recreated from someone else's tree
    link = archives(dest, "get", os.fspath(repo), "data/link", check=False)
    assert link.returncode != 0 and not (dest / "link").exists() \
        and not (dest / "link").is_symlink()
