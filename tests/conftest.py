"""Shared fixtures: real git in temporary directories, with HOME isolated."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = REPO_ROOT / "tests" / "data"
BIN_DIR = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own HOME and git identity; the user's config is never touched."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    # The console script of this checkout must be what git runs as the filter.
    monkeypatch.setenv("PATH", f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}")
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    yield home


def git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None,
        input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run real git; on failure show its stderr."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False,
                          env=env, input=input_bytes)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr.decode()}"
        )
    return proc


def archives(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None,
             input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``git-archives`` console script as a user would."""
    proc = subprocess.run([str(BIN_DIR / "git-archives"), *args], cwd=cwd, capture_output=True,
                          check=False, env=env, input=input_bytes)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"git-archives {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout.decode()}\n{proc.stderr.decode()}"
        )
    return proc


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository (no git-archives setup)."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


@pytest.fixture
def shared_dir() -> Path:
    """The conformance data and tutorial files, carried in ``tests/data`` (see its README):
    a fresh clone runs every test without the steering folder beside it."""
    return DATA
