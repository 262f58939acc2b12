"""install.sh on a clean HOME: idempotent, PATH advice, clone setup, --uninstall."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, git


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_install_sh_installs_configures_a_clone_and_uninstalls(tmp_path: Path,
                                                               isolated_home: Path) -> None:
    env = dict(os.environ, PATH="/usr/bin:/bin", HOME=str(isolated_home))
    env.pop("XDG_DATA_HOME", None)
    env.pop("VIRTUAL_ENV", None)
    env["PYTHON"] = shutil.which("python3") or "python3"
    script = str(REPO_ROOT / "install.sh")
    first = subprocess.run(["sh", script], env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    link = isolated_home / ".local" / "bin" / "git-archives"
    assert link.is_symlink() and os.access(link, os.X_OK)
    assert "is not on your PATH" in first.stdout
    pages = isolated_home / ".local" / "share" / "man" / "man1"
    assert (pages / "git-archives.1").is_file() and (pages / "git-archives-push.1").is_file()
    assert f"manual pages are in {pages}" in first.stdout
    again = subprocess.run(["sh", script], env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "creating" not in again.stdout  # idempotent
    clone = tmp_path / "clone"
    clone.mkdir()
    git(clone, "init", "-q")
    inside = subprocess.run(["sh", script], cwd=clone, env=env, capture_output=True, text=True,
                            check=False)
    assert inside.returncode == 0, inside.stderr
    assert "filter-process" in git(clone, "config", "filter.archives.process").stdout.decode()
    assert (clone / ".git" / "hooks" / "pre-commit").exists()
    gone = subprocess.run(["sh", script, "--uninstall"], cwd=clone, env=env,
                          capture_output=True, text=True, check=False)
    assert gone.returncode == 0, gone.stderr
    assert not link.exists() and not link.is_symlink()
    assert not list(pages.glob("git-archives*.1"))
    assert not (clone / ".git" / "hooks" / "pre-commit").exists()
    assert git(clone, "config", "filter.archives.process", check=False).returncode == 1
