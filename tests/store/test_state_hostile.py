"""A corrupt ``state.db`` (the stat-keyed hash cache) is moved aside, never deleted, a fresh
one is started, and ``doctor`` / ``fsck`` say so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.repos import pointer_text, setup_repo, staged_blob, status_porcelain

GARBAGE = b"this is not an SQLite database, it is what a crash or a bad disk left\n" * 80


def _corrupt(repo: Path) -> Path:
    db = repo / ".git" / "archives" / "state.db"
    assert db.exists()
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    db.write_bytes(GARBAGE)
    return db


@pytest.fixture
def tracked(tmp_path: Path) -> Path:
    repo = setup_repo(tmp_path / "repo", "*.bin")
    (repo / "a.bin").write_bytes(os.urandom(3000))
    git(repo, "add", "a.bin")
    git(repo, "commit", "-q", "-m", "a")
    return repo


def test_a_corrupt_state_db_is_moved_aside_and_rebuilt(tracked: Path) -> None:
    db = _corrupt(tracked)
    (tracked / "b.bin").write_bytes(b"new content\n")
    proc = git(tracked, "add", "b.bin")
    assert "state.db" in proc.stderr.decode()
    assert staged_blob(tracked, "b.bin") == pointer_text(b"new content\n")
    aside = sorted(db.parent.glob("state.db.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == GARBAGE  # kept, byte for byte
    import sqlite3

    with sqlite3.connect(db) as conn:  # a working database again, with the new row
        rows = conn.execute("SELECT count(*) FROM hashes").fetchone()[0]
    assert rows >= 1
    (tracked / "b.bin").touch()
    assert status_porcelain(tracked) == "A  b.bin\n"


def test_doctor_and_fsck_report_a_rebuilt_state_db(tracked: Path) -> None:
    _corrupt(tracked)
    proc = archives(tracked, "fsck", check=False)
    out = proc.stdout.decode() + proc.stderr.decode()
    assert "state.db" in out and "corrupt" in out and "moved to" in out, out
    assert proc.returncode == 1
    proc = archives(tracked, "doctor", check=False)
    out = proc.stdout.decode()
    assert "FAIL" in out and "state.db" in out and "state.db.corrupt-" in out, out
    assert "what was lost" in out or "lost" in out


def test_doctor_names_a_corrupt_state_db_before_anything_opened_it(tracked: Path) -> None:
    db = _corrupt(tracked)
    proc = archives(tracked, "doctor", check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1
    assert f"{db} is corrupt" in out and "fix: git archives fsck" in out, out
    assert db.read_bytes() == GARBAGE  # doctor only looks


def test_fsck_on_a_healthy_state_db_says_nothing_about_it(tracked: Path) -> None:
    proc = archives(tracked, "fsck")
    assert "state.db" not in proc.stdout.decode() + proc.stderr.decode()
