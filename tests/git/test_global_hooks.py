"""A global ``core.hooksPath``: one hooks folder every repository on the machine runs.

A clone-local ``install`` must not change what other repositories run; ``install --global``
adds shims there that run the user's hooks first and act only in clones set up with
git-archives; ``uninstall --global`` puts the folder back exactly. Real git throughout.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitext.git.install import HOOK_NAMES, SHIM_MARKER
from tests.helpers import archives, git

BIG = 20 * 1024 * 1024
USER_HOOK = ('#!/bin/sh\necho "$(basename "$(pwd)") {name}" >> "$HOME/global-hook.log"\n'
             "exit 0\n")


def _global_hooks(home: Path, *names: str) -> Path:
    """The user's own global hooks folder, with hooks that log each run."""
    folder = home / "githooks"
    folder.mkdir()
    for name in names:
        (folder / name).write_text(USER_HOOK.format(name=name))
        (folder / name).chmod(0o755)
    (folder / "README").write_text("my team's hooks\n")
    git(home, "config", "--global", "core.hooksPath", str(folder))
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mode) for p in sorted(folder.iterdir())}


def _log(home: Path) -> list[str]:
    path = home / "global-hook.log"
    return path.read_text().splitlines() if path.exists() else []


def _new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def _commit_big(repo: Path, name: str = "big.csv") -> tuple[int, str]:
    with open(repo / name, "wb") as f:
        f.truncate(BIG)
    git(repo, "add", name)
    proc = git(repo, "commit", "-q", "-m", "big", check=False)
    return proc.returncode, proc.stderr.decode()


def test_clone_install_never_writes_into_a_global_hooks_folder(
        tmp_path: Path, isolated_home: Path) -> None:
    folder = _global_hooks(isolated_home, "pre-commit", "commit-msg")
    before = _snapshot(folder)
    clone = _new_repo(tmp_path / "clone")
    out = archives(clone, "install").stdout.decode()
    assert _snapshot(folder) == before
    lines = [ln for ln in out.splitlines() if ln.startswith("hooks:")]
    assert len(lines) == 1 and "not installed" in lines[0] and str(folder) in lines[0]
    assert "git archives install --global" in lines[0]
    assert git(clone, "config", "--local", "--get", "core.hooksPath", check=False).returncode
    assert not any((clone / ".git" / "hooks" / n).exists() for n in HOOK_NAMES)
    # An unrelated repository still commits a 20 MB file; the user's hooks still run there.
    other = _new_repo(tmp_path / "other")
    code, err = _commit_big(other)
    assert code == 0, err
    assert "other pre-commit" in _log(isolated_home)
    assert "other commit-msg" in _log(isolated_home)
    # uninstall of the clone leaves the global folder alone too.
    archives(clone, "uninstall")
    assert _snapshot(folder) == before


def test_install_global_chains_the_users_hooks_and_acts_only_in_set_up_clones(
        tmp_path: Path, isolated_home: Path) -> None:
    folder = _global_hooks(isolated_home, "pre-commit", "pre-push", "commit-msg")
    before = _snapshot(folder)
    clone = _new_repo(tmp_path / "clone")
    archives(clone, "install")
    out = archives(tmp_path, "install", "--global").stdout.decode()
    assert str(folder) in out
    for name in HOOK_NAMES:
        assert SHIM_MARKER in (folder / name).read_text()
    assert (folder / "pre-commit.pre-archives").read_bytes() == before["pre-commit"][0]
    assert (folder / "commit-msg").read_bytes() == before["commit-msg"][0]
    # Unrelated repository: no refusal, and the user's hooks run (pre-commit, pre-push).
    other = _new_repo(tmp_path / "other")
    code, err = _commit_big(other)
    assert code == 0, err
    assert "git-archives" not in err
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(other, "push", "-q", str(bare), "main")
    assert {"other pre-commit", "other pre-push", "other commit-msg"} <= set(_log(isolated_home))
    # The clone set up with git-archives: our pre-commit refuses, after the user's hook ran.
    code, err = _commit_big(clone)
    assert code != 0 and "refusing to commit 1 file(s)" in err
    assert "clone pre-commit" in _log(isolated_home)
    # Undone exactly.
    archives(tmp_path, "uninstall", "--global")
    assert _snapshot(folder) == before
    assert git(tmp_path, "config", "--global", "--get", "filter.archives.process",
               check=False).returncode != 0


def test_clone_install_after_install_global_says_the_shared_shims_act(
        tmp_path: Path, isolated_home: Path) -> None:
    folder = _global_hooks(isolated_home)
    archives(tmp_path, "install", "--global")
    clone = _new_repo(tmp_path / "clone")
    out = archives(clone, "install").stdout.decode()
    assert f"hooks: the shims in core.hooksPath = {folder}" in out and "run in this clone" in out
    code, err = _commit_big(clone)
    assert code != 0 and "refusing to commit" in err
    archives(clone, "uninstall")  # the clone only: the shared shims stay, and act no more
    assert all(SHIM_MARKER in (folder / n).read_text() for n in HOOK_NAMES)
    git(clone, "commit", "-q", "-m", "big now allowed")


def test_shims_an_older_install_put_in_the_global_folder_are_named(
        tmp_path: Path, isolated_home: Path) -> None:
    folder = _global_hooks(isolated_home)
    # What the old install did: the unguarded per-clone shims, in the global folder.
    git(isolated_home, "config", "--global", "--unset", "core.hooksPath")
    first = _new_repo(tmp_path / "first")
    git(first, "config", "core.hooksPath", str(folder))
    archives(first, "install")
    git(first, "config", "--unset", "core.hooksPath")
    git(isolated_home, "config", "--global", "core.hooksPath", str(folder))
    clone = _new_repo(tmp_path / "clone")
    out = archives(clone, "install").stdout.decode()
    assert "from an older install and act in every repository" in out
    archives(tmp_path, "install", "--global")  # upgrades them in place: unedited
    other = _new_repo(tmp_path / "other")
    code, err = _commit_big(other)
    assert code == 0, err


def test_a_hooks_path_set_in_the_clones_own_config_is_still_used(
        tmp_path: Path, isolated_home: Path) -> None:
    _global_hooks(isolated_home)
    clone = _new_repo(tmp_path / "clone")
    mine = clone / ".githooks"
    git(clone, "config", "core.hooksPath", str(mine))
    archives(clone, "install")
    assert all(SHIM_MARKER in (mine / n).read_text() for n in HOOK_NAMES)
    assert all(os.access(mine / n, os.X_OK) for n in HOOK_NAMES)
    code, err = _commit_big(clone)
    assert code != 0 and "refusing to commit" in err
    archives(clone, "uninstall")
    assert not any((mine / n).exists() for n in HOOK_NAMES)


def test_doctor_with_a_global_hooks_folder_suggests_the_install_that_fixes_it(
        isolated_home: Path, tmp_path: Path) -> None:
    _global_hooks(isolated_home, "pre-commit")
    repo = _new_repo(tmp_path / "r")
    archives(repo, "install")

    out = archives(repo, "doctor", check=False).stdout.decode()

    missing = [ln for ln in out.splitlines() if "missing in" in ln]
    assert missing, out
    assert "git archives install --global" in out and "shared by every repository" in out
