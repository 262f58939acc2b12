"""Small builders for repositories set up with git-archives."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.helpers import archives, git


def setup_repo(path: Path, *patterns: str) -> Path:
    """git init + git archives install + track patterns (committed)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    archives(path, "install")
    if patterns:
        archives(path, "track", *patterns)
        git(path, "add", ".gitattributes")
        git(path, "commit", "-q", "-m", "track")
    return path


def pointer_text(data: bytes) -> bytes:
    if not data:
        return b""
    oid = hashlib.sha256(data).hexdigest()
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\n"
            f"size {len(data)}\n").encode()


def staged_blob(repo: Path, path: str) -> bytes:
    return git(repo, "cat-file", "blob", f":{path}").stdout


def committed_blob(repo: Path, rev: str, path: str) -> bytes:
    return git(repo, "cat-file", "blob", f"{rev}:{path}").stdout


def status_porcelain(repo: Path) -> str:
    return git(repo, "status", "--porcelain").stdout.decode()
