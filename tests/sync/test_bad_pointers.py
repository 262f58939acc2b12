"""Committed blobs that look like pointers but are not valid ones: they settle (never shown
as modified forever, never wrapped in a new pointer) and ``git archives status`` names them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.repos import setup_repo, staged_blob, status_porcelain

V = b"version https://git-lfs.github.com/spec/v1\n"
GOOD_OID = hashlib.sha256(b"hello\n").hexdigest()
BAD = {
    "bad-oid.bin": V + b"oid sha256:" + b"z" * 64 + b"\nsize 6\n",
    "short-oid.bin": V + b"oid sha256:abc\nsize 6\n",
    "bad-size.bin": V + f"oid sha256:{GOOD_OID}\nsize six\n".encode(),
    "extra-key.bin": V + f"ext-0-foo sha256:{GOOD_OID}\noid sha256:{GOOD_OID}\nsize 6\n"
    .encode(),
    "zero-size.bin": V + f"oid sha256:{GOOD_OID}\nsize 0\n".encode(),
}


def commit_blobs(repo: Path, files: dict[str, bytes], message: str = "hostile") -> None:
    """Commit exactly these bytes, as an attacker's repository would hold them (no filter)."""
    for path, data in files.items():
        blob = git(repo, "hash-object", "-w", "--stdin", input_bytes=data).stdout.decode()
        git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob.strip()},{path}")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def hostile_clone(tmp_path: Path) -> tuple[Path, str]:
    origin = setup_repo(tmp_path / "origin", "*.bin")
    commit_blobs(origin, BAD)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(origin), str(clone))
    archives(clone, "install")
    err = git(clone, "checkout", "-q", "main").stderr.decode()
    return clone, err


def test_invalid_pointers_are_checked_out_byte_for_byte_with_one_warning(
        hostile_clone: tuple[Path, str]) -> None:
    clone, err = hostile_clone
    for name, data in BAD.items():
        assert (clone / name).read_bytes() == data, name
        assert sum(name in line for line in err.splitlines()) == 1, (name, err)


def test_a_zero_size_pointer_with_a_real_oid_never_writes_an_empty_file(
        hostile_clone: tuple[Path, str]) -> None:
    clone, err = hostile_clone
    assert (clone / "zero-size.bin").stat().st_size > 0
    assert "zero-size.bin" in err


def test_invalid_pointers_settle_and_are_never_wrapped(
        hostile_clone: tuple[Path, str]) -> None:
    clone, _ = hostile_clone
    for name in BAD:
        (clone / name).touch()
    assert status_porcelain(clone) == ""
    git(clone, "add", "-A")
    assert status_porcelain(clone) == ""
    for name, data in BAD.items():
        assert staged_blob(clone, name) == data, name


def test_clean_passes_a_pointer_looking_file_through_byte_for_byte(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo", "*.bin")
    for name, data in BAD.items():
        (repo / name).write_bytes(data)
    git(repo, "add", "-A")
    for name, data in BAD.items():
        assert staged_blob(repo, name) == data, name


def test_status_lists_invalid_pointers_with_the_reason_and_the_fix(
        hostile_clone: tuple[Path, str]) -> None:
    clone, _ = hostile_clone
    out = archives(clone, "status").stdout.decode()
    assert "Invalid pointers (5)" in out, out
    assert "bad-size.bin: pointer size 'six' is not a decimal number" in out
    assert "zero-size.bin" in out and "extra-key.bin" in out
    assert "git checkout <good-commit> -- " in out
    data = json.loads(archives(clone, "status", "--json").stdout)
    by_path = {e["path"]: e for e in data["invalid_pointers"]}
    assert set(by_path) == set(BAD)
    assert "64 hex" in by_path["short-oid.bin"]["reason"]
    assert by_path["bad-oid.bin"]["fix"]
    assert data["pointers"] == 0


def test_fsck_names_invalid_pointers_and_fails(hostile_clone: tuple[Path, str]) -> None:
    clone, _ = hostile_clone
    proc = archives(clone, "fsck", check=False)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert "invalid pointer: extra-key.bin" in out
    assert "5 invalid pointer(s)" in out


def test_a_valid_empty_file_pointer_still_means_the_empty_file() -> None:
    from gitext.codec import pointer

    empty = hashlib.sha256(b"").hexdigest()
    p = pointer.parse(V + f"oid sha256:{empty}\nsize 0\n".encode())
    assert p.size == 0
