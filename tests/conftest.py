"""Shared fixtures: real git in temporary directories, with HOME isolated."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BIN_DIR, DATA, git

# Session fixtures for every folder that needs them: the servers (moto for S3 with its fault
# proxy, giftless for Git LFS) and the peer tools (DVC, git-lfs).
from tests.helpers.azurite_server import az_container, az_proxy, azurite, no_azure_env
from tests.helpers.gcs_server import gcs_bucket, gcs_server
from tests.helpers.http_remote_server import http_remote, http_remote_server
from tests.helpers.lfs_server import giftless, git_lfs, lfs_proxy
from tests.helpers.peers import dvc_exe
from tests.helpers.s3 import aws_env, bucket, moto_endpoint, proxy
from tests.helpers.sshd_server import sshd

__all__ = ["aws_env", "az_container", "az_proxy", "azurite", "bucket", "dvc_exe", "gcs_bucket",
           "gcs_server", "giftless", "git_lfs", "http_remote", "http_remote_server", "lfs_proxy",
           "moto_endpoint", "no_azure_env", "proxy", "sshd"]


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
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


@pytest.fixture(autouse=True, scope="session")
def isolated_session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A HOME for module- and session-scoped fixtures too (they run before any test's own
    HOME exists): nothing a test does may reach the real ~/.gitconfig."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        home = tmp_path_factory.mktemp("session-home")
        _isolate(monkeypatch, home)
        yield home


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own HOME and git identity; the user's config is never touched."""
    home = tmp_path_factory.mktemp("home")
    _isolate(monkeypatch, home)
    yield home


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository (no git-archives setup)."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


@pytest.fixture
def data_dir() -> Path:
    """The conformance data and tutorial files, carried in ``tests/data`` (see its README):
    a fresh clone runs every test without the steering folder beside it."""
    return DATA
