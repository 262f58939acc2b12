"""install / uninstall, the hook shims, track / untrack and the size rule, on real git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitext.git.install import HOOK_NAMES, SHIM_MARKER, render_shim
from tests.helpers import BIN_DIR, REPO_ROOT, archives, git
from tests.helpers.repos import pointer_text, setup_repo, staged_blob, status_porcelain


def _config(repo: Path, key: str) -> str | None:
    proc = git(repo, "config", "--get", key, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def test_install_sets_the_filter_config_and_every_hook(repo: Path) -> None:
    archives(repo, "install")
    # The absolute launcher: a git started without it on PATH still runs the filters.
    assert _config(repo, "filter.archives.process") == f"{BIN_DIR}/git-archives filter-process"
    assert _config(repo, "filter.archives.required") == "true"
    assert _config(repo, "filter.archives-nb.process") == \
        f"{BIN_DIR}/git-archives filter-process --notebooks"
    for name in HOOK_NAMES:
        text = (repo / ".git" / "hooks" / name).read_text()
        assert SHIM_MARKER in text and f"hook {name}" in text
        assert os.access(repo / ".git" / "hooks" / name, os.X_OK)


def test_install_is_idempotent(repo: Path) -> None:
    archives(repo, "install")
    before = {n: (repo / ".git" / "hooks" / n).read_text() for n in HOOK_NAMES}
    out = archives(repo, "install").stdout.decode()
    assert "hook " not in out and "set filter" not in out
    assert {n: (repo / ".git" / "hooks" / n).read_text() for n in HOOK_NAMES} == before
    assert not list((repo / ".git" / "hooks").glob("*.pre-archives"))


def test_a_users_hook_is_chained_and_uninstall_restores_it_exactly(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    mine = "#!/bin/sh\necho mine-ran >> \"$(git rev-parse --git-dir)/ran\"\nexit 0\n"
    (hooks / "pre-commit").write_text(mine)
    (hooks / "pre-commit").chmod(0o755)
    git(repo, "config", "filter.archives.required", "false")  # a value the user had
    archives(repo, "install")
    assert (hooks / "pre-commit.pre-archives").read_text() == mine
    (repo / "f.txt").write_text("x")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", "x")
    assert (repo / ".git" / "ran").read_text() == "mine-ran\n"
    archives(repo, "uninstall")
    assert (hooks / "pre-commit").read_text() == mine
    assert not (hooks / "pre-commit.pre-archives").exists()
    for name in ("post-checkout", "post-merge", "pre-push"):
        assert not (hooks / name).exists()
    assert _config(repo, "filter.archives.required") == "false"
    assert _config(repo, "filter.archives.process") is None
    assert _config(repo, "filter.archives-nb.process") is None


def test_a_failing_user_hook_still_blocks_the_commit(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\necho no >&2\nexit 3\n")
    (hooks / "pre-commit").chmod(0o755)
    archives(repo, "install")
    (repo / "f.txt").write_text("x")
    git(repo, "add", "f.txt")
    proc = git(repo, "commit", "-q", "-m", "x", check=False)
    assert proc.returncode != 0 and b"no" in proc.stderr


def test_install_honours_core_hooks_path(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", ".githooks")
    archives(repo, "install")
    assert SHIM_MARKER in (repo / ".githooks" / "post-checkout").read_text()
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()
    archives(repo, "uninstall")
    assert not (repo / ".githooks" / "post-checkout").exists()


def test_install_refuses_to_clobber_a_hook_it_cannot_set_aside(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-push.pre-archives").write_text("#!/bin/sh\nexit 0\n")
    proc = archives(repo, "install", check=False)
    assert proc.returncode == 1
    assert b"refusing to overwrite" in proc.stderr
    assert (hooks / "pre-push").read_text() == "#!/bin/sh\nexit 0\n"


def test_global_install_sets_user_config_only(repo: Path, isolated_home: Path) -> None:
    archives(repo, "install", "--global")
    text = (isolated_home / ".gitconfig").read_text()
    assert "filter-process" in text
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    archives(repo, "uninstall", "--global")
    assert "filter-process" not in (isolated_home / ".gitconfig").read_text()


def test_the_shims_in_hooks_folder_are_what_install_writes() -> None:
    for name in HOOK_NAMES:
        committed = (REPO_ROOT / "hooks" / name).read_text()
        assert committed == render_shim(name, "git-archives")


def test_pre_commit_refuses_a_large_untracked_file_and_no_verify_skips(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text("[size]\n\tlimit = 100kb\n")
    (repo / "big.csv").write_bytes(b"x" * 200_000)
    (repo / "big.bin").write_bytes(b"y" * 200_000)  # tracked: a pointer, fine
    git(repo, "add", ".")
    proc = git(repo, "commit", "-q", "-m", "big", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "big.csv (200.0 KB)" in err
    assert "git archives track -- big.csv && git add --renormalize -- big.csv" in err
    assert "big.bin" not in err
    git(repo, "commit", "-q", "--no-verify", "-m", "big")


def test_track_and_untrack_edit_gitattributes(repo: Path) -> None:
    archives(repo, "install")
    out = archives(repo, "track", "data/**", "*.pkl", "with space.bin").stdout.decode()
    assert "Tracking 'data/**'" in out
    text = (repo / ".gitattributes").read_text()
    assert "data/** filter=archives diff=archives merge=archives -text\n" in text
    assert '"with space.bin" filter=archives' in text
    assert "already tracked" in archives(repo, "track", "*.pkl").stdout.decode()
    (repo / "with space.bin").write_bytes(b"abc")
    git(repo, "add", "with space.bin")
    assert staged_blob(repo, "with space.bin") == pointer_text(b"abc")
    archives(repo, "untrack", "*.pkl")
    assert "*.pkl" not in (repo / ".gitattributes").read_text()
    assert "data/**" in (repo / ".gitattributes").read_text()


def test_size_rule_stores_only_large_files_as_pointers_and_pointers_stay_pointers(
        repo: Path) -> None:
    archives(repo, "install")
    archives(repo, "track", "--larger-than", "100kb")
    (repo / "small.txt").write_text("tiny\n")
    (repo / "large.dat").write_bytes(os.urandom(150_000))
    git(repo, "add", ".")
    assert staged_blob(repo, "small.txt") == b"tiny\n"
    assert staged_blob(repo, "large.dat").startswith(b"version https://git-lfs")
    assert staged_blob(repo, ".gitattributes").startswith(b"# git-archives")
    git(repo, "commit", "-q", "-m", "sized")
    (repo / "large.dat").write_bytes(b"now small\n")
    git(repo, "add", "large.dat")
    assert staged_blob(repo, "large.dat") == pointer_text(b"now small\n")
    (repo / "small.txt").unlink()
    git(repo, "checkout", "--", "small.txt")
    proc = git(repo, "checkout", "HEAD", "--", "small.txt")
    assert b"not a pointer" not in proc.stderr
    assert status_porcelain(repo) == "M  large.dat\n"


def test_doctor_reports_what_is_missing_with_the_fix(repo: Path) -> None:
    proc = archives(repo, "doctor", check=False)
    assert proc.returncode == 1
    assert "filter.archives.process is not set" in proc.stdout.decode()
    assert "fix: git archives install" in proc.stdout.decode()
    archives(repo, "install")
    proc = archives(repo, "doctor", check=False)
    assert "FAIL" not in proc.stdout.decode(), proc.stdout.decode()


def test_committed_config_cannot_smuggle_secrets_or_commands(repo: Path) -> None:
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text(
        '[remote "s"]\n\turl = /tmp/x\n\tsecretaccesskey = AKIA-NOPE\n'
        "[alias]\n\tx = !rm -rf /\n")
    from gitext.config import Config

    cfg = Config.load(repo)
    assert cfg.get("remote.s.url") == "/tmp/x"
    assert cfg.get("remote.s.secretaccesskey") is None
    assert cfg.get("alias.x") is None


@pytest.mark.parametrize("hook", ["pre-commit", "post-checkout"])
def test_shims_say_what_to_do_when_the_tool_is_not_on_path(repo: Path, hook: str) -> None:
    archives(repo, "install")
    shim = (repo / ".git" / "hooks" / hook).read_text().replace(str(BIN_DIR / "git-archives"),
                                                               "/nonexistent/git-archives")
    (repo / ".git" / "hooks" / hook).write_text(shim)
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"]}
    proc = subprocess.run(["sh", str(repo / ".git" / "hooks" / hook), "a", "b", "1"], cwd=repo,
                          capture_output=True, env=env, check=False)
    assert b"not found on PATH" in proc.stderr and b"install.sh" in proc.stderr


def test_uninstall_keeps_a_shim_the_user_edited_and_says_so(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    mine = "#!/bin/sh\nexit 0\n"
    (hooks / "pre-push").write_text(mine)
    (hooks / "pre-push").chmod(0o755)
    archives(repo, "install")
    edited = (hooks / "pre-commit").read_text() + "echo my addition\n"
    (hooks / "pre-commit").write_text(edited)
    (hooks / "pre-push").write_text((hooks / "pre-push").read_text() + "# my note\n")
    again = archives(repo, "install").stdout.decode()  # a second install keeps it too
    assert (hooks / "pre-commit").read_text() == edited
    assert "hook pre-commit: kept" in again
    proc = archives(repo, "uninstall")
    out = proc.stdout.decode()
    assert proc.returncode == 0
    assert (hooks / "pre-commit").read_text() == edited
    kept = [ln for ln in out.splitlines() if ln.startswith("hook pre-commit:")]
    assert len(kept) == 1 and "kept" in kept[0] and "you changed it" in kept[0]
    push = [ln for ln in out.splitlines() if ln.startswith("hook pre-push:")]
    assert len(push) == 1 and "rename pre-push.pre-archives back to pre-push" in push[0]
    assert (hooks / "pre-push.pre-archives").read_text() == mine  # nothing lost
    for name in ("post-checkout", "post-merge", "reference-transaction"):
        assert not (hooks / name).exists()


def test_uninstall_without_a_recorded_digest_still_tells_edited_from_ours(repo: Path) -> None:
    import json

    hooks = repo / ".git" / "hooks"
    archives(repo, "install")
    record = repo / ".git" / "archives" / "install.json"
    raw = json.loads(record.read_text())
    del raw["shims"]  # as an older install wrote it
    record.write_text(json.dumps(raw))
    (hooks / "post-merge").write_text((hooks / "post-merge").read_text() + "# mine\n")
    out = archives(repo, "uninstall").stdout.decode()
    assert (hooks / "post-merge").read_text().endswith("# mine\n")
    assert "hook post-merge: kept" in out
    assert not (hooks / "pre-commit").exists() and "hook pre-commit: removed" in out


def test_install_says_one_line_per_thing(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-commit").chmod(0o755)
    out = archives(repo, "install").stdout.decode().splitlines()
    info = repo / ".git" / "info" / "attributes"
    assert out == [
        "filters: archives (large files) and archives-nb (notebooks) set in this clone's "
        "git config",
        f"notebooks: *.ipynb go through the notebook filter ({info})",
        f"hooks: {', '.join(HOOK_NAMES)} installed in {hooks}; yours still run first "
        "(pre-commit, kept as *.pre-archives)",
        f"git-archives is set up for {repo}.",
    ]


def test_a_chained_pre_push_hook_and_ours_both_read_gits_lines(repo: Path, tmp_path: Path
                                                              ) -> None:
    """Without a hook of the user's, ours reads git's stdin itself (no copy); with one, the
    lines are copied to both: the user's sees them, and ours still uploads."""
    hooks = repo / ".git" / "hooks"
    mine = "#!/bin/sh\ncat >> \"$(git rev-parse --git-dir)/pushed\"\nexit 0\n"
    (hooks / "pre-push").write_text(mine)
    (hooks / "pre-push").chmod(0o755)
    archives(repo, "install")
    store = tmp_path / "store"
    archives(repo, "remote", "add", "-d", "storage", str(store))
    archives(repo, "track", "*.bin")
    (repo / "a.bin").write_bytes(b"data for the remote\n" * 100)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "data")
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "push", "-q", str(bare), "HEAD:refs/heads/main")
    head = git(repo, "rev-parse", "HEAD").stdout.decode().strip()
    assert f"{head} refs/heads/main" in (repo / ".git" / "pushed").read_text()
    assert [p for p in store.rglob("*") if p.is_file()]  # ours uploaded too
