"""A repository made with real git-lfs: ``git archives install`` serves ``filter=lfs`` in the
clone (overriding the user's global ``git lfs install``), git-lfs reads what we commit, and
git-lfs's own hooks never trap a push."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from tests.helpers import BIN_DIR, archives, git
from tests.helpers.lfs import lfs_install_global, lfs_object, lfs_origin
from tests.helpers.repos import pointer_text, staged_blob

A = os.urandom(5000)
B = os.urandom(3000)


def _config(repo: Path, key: str, *scope: str) -> str | None:
    proc = git(repo, "config", *scope, "--get", key, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def _clone(tmp_path: Path, home: Path, name: str = "clone") -> tuple[Path, Path]:
    lfs_install_global(home)
    origin = lfs_origin(tmp_path, {"a.bin": A, "readme.txt": b"hello\n"}, other={"b.bin": B})
    clone = tmp_path / name
    git(tmp_path, "clone", "-q", str(origin), str(clone))  # checked out by git-lfs
    return origin, clone


def test_install_serves_filter_lfs_in_the_clone_only(tmp_path: Path, isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    out = archives(clone, "install").stdout.decode()
    exe = f"{BIN_DIR}/git-archives"
    assert _config(clone, "filter.lfs.process", "--local") == f"{exe} filter-process"
    assert _config(clone, "filter.lfs.clean", "--local") == f"{exe} filter-clean -- %f"
    assert _config(clone, "filter.lfs.smudge", "--local") == f"{exe} filter-smudge -- %f"
    assert _config(clone, "filter.lfs.required", "--local") == "true"
    # The user's global git-lfs setup is untouched; nothing committed changed.
    assert _config(clone, "filter.lfs.process", "--global") == "git-lfs filter-process"
    assert git(clone, "status", "--porcelain").stdout == b""
    assert "lfs: this repository's filter=lfs files are served by git-archives" in out
    # One line per thing: no line repeats its subject.
    subjects = [ln.split(":", 1)[0] for ln in out.splitlines()]
    assert len(subjects) == len(set(subjects)) and len(subjects) <= 7, out
    # Files check out through our filter (the object comes from .git/lfs/objects).
    (clone / "a.bin").unlink()
    git(clone, "checkout", "--", "a.bin")
    assert (clone / "a.bin").read_bytes() == A
    assert git(clone, "status", "--porcelain").stdout == b""


def test_what_we_add_under_an_lfs_rule_is_a_pointer_git_lfs_reads(tmp_path: Path,
                                                                  isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    archives(clone, "install")
    data = os.urandom(4096)
    (clone / "new.bin").write_bytes(data)
    git(clone, "add", "new.bin")
    assert staged_blob(clone, "new.bin") == pointer_text(data)
    git(clone, "commit", "-q", "-m", "ours")
    listed = git(clone, "lfs", "ls-files", "--long").stdout.decode()
    assert f"{hashlib.sha256(data).hexdigest()} * new.bin" in listed
    fsck = git(clone, "lfs", "fsck", "--pointers", check=False)
    assert fsck.returncode == 0 and b"fsck OK" in fsck.stdout, fsck.stdout + fsck.stderr


def test_a_teammate_on_plain_git_lfs_and_us_share_one_repository(tmp_path: Path,
                                                                 isolated_home: Path) -> None:
    origin, ours = _clone(tmp_path, isolated_home, "ours")
    archives(ours, "install")
    data = os.urandom(7000)
    (ours / "new.bin").write_bytes(data)
    git(ours, "add", "new.bin")
    git(ours, "commit", "-q", "-m", "ours")
    git(ours, "push", "-q", "origin", "main")
    # Our pre-push put the bytes where git-lfs keeps them for a git remote that is a path on
    # this machine (its standalone-file transfer): the origin's own lfs/objects.
    oid = hashlib.sha256(data).hexdigest()
    assert (origin / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).read_bytes() == data
    theirs = tmp_path / "theirs"
    git(tmp_path, "clone", "-q", str(origin), str(theirs))  # plain git-lfs
    assert (theirs / "new.bin").read_bytes() == data
    assert f"{oid[:10]} * new.bin" in git(theirs, "lfs", "ls-files").stdout.decode()
    assert b"fsck OK" in git(theirs, "lfs", "fsck").stdout
    # And back: what they add with git-lfs, we check out (from the objects their git-lfs
    # fetched into our clone's .git/lfs, with no data remote of ours).
    theirs_data = os.urandom(6000)
    (theirs / "t.bin").write_bytes(theirs_data)
    git(theirs, "add", "t.bin")
    git(theirs, "commit", "-q", "-m", "theirs")
    git(theirs, "push", "-q", "origin", "main")
    git(ours, "fetch", "-q", "origin")
    git(ours, "lfs", "fetch", "origin", "origin/main")
    git(ours, "merge", "-q", "--ff-only", "origin/main")
    assert (ours / "t.bin").read_bytes() == theirs_data
    assert git(ours, "status", "--porcelain").stdout == b""


def test_git_lfs_hooks_are_set_aside_and_never_refuse_our_push(tmp_path: Path,
                                                               isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    hooks = clone / ".git" / "hooks"
    lfs_hooks = {n: (hooks / n).read_text() for n in ("pre-push", "post-checkout",
                                                      "post-commit", "post-merge")}
    assert all("git lfs" in t for t in lfs_hooks.values())  # git-lfs wrote them on clone
    out = archives(clone, "install").stdout.decode()
    line = [ln for ln in out.splitlines() if ln.startswith("git-lfs hooks:")]
    assert len(line) == 1 and "set aside as *.git-lfs" in line[0], out
    for name, text in lfs_hooks.items():
        assert (hooks / f"{name}.git-lfs").read_text() == text
        assert not (hooks / f"{name}.pre-archives").exists()
    assert not (hooks / "post-commit").exists()
    # git-lfs's pre-push would refuse this (the object is in our store, not .git/lfs).
    (clone / "new.bin").write_bytes(os.urandom(2000))
    git(clone, "add", "new.bin")
    git(clone, "commit", "-q", "-m", "new")
    push = git(clone, "push", "origin", "main", check=False)
    assert push.returncode == 0, push.stderr.decode()
    archives(clone, "uninstall")
    for name, text in lfs_hooks.items():
        assert (hooks / name).read_text() == text
        assert not (hooks / f"{name}.git-lfs").exists()
    assert _config(clone, "filter.lfs.process", "--local") is None


def test_a_chained_git_lfs_hook_is_named_by_doctor_and_set_aside_by_install(
        tmp_path: Path, isolated_home: Path) -> None:
    """As an older install left it: git-lfs's pre-push chained as pre-push.pre-archives."""
    _origin, clone = _clone(tmp_path, isolated_home)
    archives(clone, "install")
    hooks = clone / ".git" / "hooks"
    (hooks / "pre-push.git-lfs").rename(hooks / "pre-push.pre-archives")
    doctor = archives(clone, "doctor", check=False)
    assert doctor.returncode == 1
    text = doctor.stdout.decode()
    assert "git-lfs's own hooks still run before ours: pre-push.pre-archives" in text
    assert "fix: git archives install" in text
    out = archives(clone, "install").stdout.decode()
    assert "git-lfs hooks: pre-push set aside" in out
    assert not (hooks / "pre-push.pre-archives").exists()
    assert "git-lfs's own hooks" not in archives(clone, "doctor", check=False).stdout.decode()


def test_hooks_left_by_git_lfs_uninstall_are_named_with_the_command_to_remove_them(
        tmp_path: Path, isolated_home: Path) -> None:
    """A plain git-archives repository where git-lfs's hooks were chained, then
    'git lfs uninstall' removed git-lfs's filter: the chained copies must not trap pushes."""
    repo = tmp_path / "plain"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    lfs_install_global(isolated_home)
    git(repo, "lfs", "install", "--local")  # hooks, and filter config in the clone
    hooks = repo / ".git" / "hooks"
    archives(repo, "install", "--skip-notebooks")
    # An older install chained git-lfs's hooks; emulate it, then git-lfs goes away.
    for name in ("pre-push", "post-checkout", "post-merge"):
        aside = hooks / f"{name}.git-lfs"
        if aside.exists():
            aside.rename(hooks / f"{name}.pre-archives")
    git(repo, "lfs", "uninstall", "--local")
    git(repo, "lfs", "uninstall")
    assert _config(repo, "filter.lfs.process") is None
    doctor = archives(repo, "doctor", check=False).stdout.decode()
    assert "(left behind by 'git lfs uninstall')" in doctor
    assert f"fix: rm -- {hooks / 'pre-push.pre-archives'}" in doctor
    out = archives(repo, "install").stdout.decode()
    line = [ln for ln in out.splitlines() if ln.startswith("git-lfs hooks:")]
    assert len(line) == 1 and "delete them if you no longer use git-lfs: rm -- " in line[0]
    assert not (hooks / "pre-push.pre-archives").exists()


def test_a_corrupt_git_lfs_object_is_never_served(tmp_path: Path, isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    git(clone, "lfs", "fetch", "--all")
    git(clone, "branch", "-q", "other", "origin/other")
    archives(clone, "install")
    oid = hashlib.sha256(B).hexdigest()
    bad = lfs_object(clone, oid)
    bad.chmod(0o644)
    bad.write_bytes(b"x" * len(B))
    proc = git(clone, "checkout", "other", check=False)
    err = proc.stderr.decode()
    lines = [ln for ln in err.splitlines() if str(bad) in ln]
    assert len(lines) == 1 and "is corrupt" in lines[0] and "rm -- " in lines[0], err
    assert (clone / "b.bin").read_bytes() == pointer_text(B)  # left as a pointer
    assert not (clone / ".git" / "archives" / "files" / "sha256" / oid[:2] / oid[2:]).exists()
    assert bad.read_bytes() == b"x" * len(B)  # git-lfs's folder is never changed


def test_a_former_git_lfs_clone_needs_no_download(tmp_path: Path, isolated_home: Path) -> None:
    origin, clone = _clone(tmp_path, isolated_home)
    git(clone, "lfs", "fetch", "--all")
    git(clone, "branch", "-q", "other", "origin/other")
    archives(clone, "install")
    origin.rename(tmp_path / "gone.git")  # no remote at all
    git(clone, "checkout", "-q", "other")
    assert (clone / "b.bin").read_bytes() == B and (clone / "a.bin").read_bytes() == A
    assert git(clone, "status", "--porcelain").stdout == b""
    oid = hashlib.sha256(B).hexdigest()
    ours = clone / ".git" / "archives" / "files" / "sha256" / oid[:2] / oid[2:]
    assert ours.read_bytes() == B
    assert ours.stat().st_ino == lfs_object(clone, oid).stat().st_ino  # a hard link


def test_track_lfs_writes_the_rule_git_lfs_writes(tmp_path: Path, isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    archives(clone, "install")
    out = archives(clone, "track", "--lfs", "*.dat").stdout.decode()
    assert "Tracking '*.dat' (filter=lfs)" in out and "git archives install" not in out
    lines = (clone / ".gitattributes").read_text().splitlines()
    assert "*.dat filter=lfs diff=lfs merge=lfs -text" in lines
    # git-lfs lists it as its own rule, and reads what we store under it.
    assert "*.dat (.gitattributes)" in git(clone, "lfs", "track").stdout.decode()
    data = os.urandom(3000)
    (clone / "x.dat").write_bytes(data)
    git(clone, "add", ".gitattributes", "x.dat")
    assert staged_blob(clone, "x.dat") == pointer_text(data)
    git(clone, "commit", "-q", "-m", "dat")
    assert "x.dat" in git(clone, "lfs", "ls-files").stdout.decode()
    listed = archives(clone, "track").stdout.decode()
    assert "tracked: *.dat (filter=lfs)" in listed and "tracked: *.bin (filter=lfs)" in listed


def test_committed_track_driver_makes_lfs_the_default(tmp_path: Path,
                                                      isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    archives(clone, "install")
    (clone / ".archives").mkdir()
    (clone / ".archives" / "config").write_text("[track]\n\tdriver = lfs\n")
    archives(clone, "track", "*.csv")
    assert "*.csv filter=lfs diff=lfs merge=lfs -text" in \
        (clone / ".gitattributes").read_text().splitlines()
    (clone / ".archives" / "config").write_text("[track]\n\tdriver = lsf\n")
    bad = archives(clone, "track", "*.tsv", check=False)
    assert bad.returncode != 0
    err = bad.stderr.decode()
    assert "track.driver = lsf is not 'archives' or 'lfs'" in err and ".archives/config" in err
    assert "*.tsv" not in (clone / ".gitattributes").read_text()


def test_push_and_pull_use_git_lfs_objects_without_downloading(tmp_path: Path,
                                                               isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    git(clone, "lfs", "fetch", "--all")
    archives(clone, "install")
    store = tmp_path / "store"
    archives(clone, "remote", "add", "--local", "-d", "storage", str(store))
    # pull: everything is in .git/lfs already, so nothing comes from the (empty) remote.
    out = archives(clone, "pull", "--all-commits").stdout.decode()
    assert "pull:" in out
    for data in (A, B):
        oid = hashlib.sha256(data).hexdigest()
        ours = clone / ".git" / "archives" / "files" / "sha256" / oid[:2] / oid[2:]
        assert ours.read_bytes() == data
        assert not (store / "files" / "sha256" / oid[:2] / oid[2:]).exists()
    # push uploads objects the clone only had from git-lfs.
    archives(clone, "push", "--all-commits")
    for data in (A, B):
        oid = hashlib.sha256(data).hexdigest()
        assert (store / "files" / "sha256" / oid[:2] / oid[2:]).read_bytes() == data


def test_migrate_never_follows_a_committed_symlink(tmp_path: Path, isolated_home: Path) -> None:
    """A clone's '.gitattributes -> ../outside' must not make migrate read or write there."""
    outside = tmp_path / "outside"
    outside.write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    repo = tmp_path / "hostile"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / ".gitattributes").symlink_to("../outside")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "link")
    proc = archives(repo, "migrate", "--from-lfs", check=False)
    assert proc.returncode != 0
    assert ".gitattributes" in proc.stderr.decode()
    assert outside.read_text() == "*.bin filter=lfs diff=lfs merge=lfs -text\n"
    assert git(repo, "rev-list", "--count", "HEAD").stdout.strip() == b"1"


def test_git_lfs_hooks_are_recognised_only_as_git_lfs_writes_them(tmp_path: Path) -> None:
    from gitext.git.lfs import is_git_lfs_hook

    def hook(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    guard = ("command -v git-lfs >/dev/null 2>&1 || { echo >&2 \"\\nThis repository is "
             "configured for Git LFS but 'git-lfs' was not found on your path.\\n\"; exit 2; }")
    assert is_git_lfs_hook(hook("pre-push", f"#!/bin/sh\n{guard}\ngit lfs pre-push \"$@\"\n"))
    assert is_git_lfs_hook(hook("post-merge", "#!/bin/sh\r\ngit lfs post-merge \"$@\"\r\n"))
    # Chained under another name, it still must run its own hook.
    assert is_git_lfs_hook(hook("pre-push.pre-archives", "#!/bin/sh\ngit lfs pre-push \"$@\"\n"),
                           "pre-push")
    assert not is_git_lfs_hook(hook("post-checkout", "#!/bin/sh\ngit lfs pre-push \"$@\"\n"))
    # A hook of the user's that also calls git-lfs is theirs: chained, never set aside.
    assert not is_git_lfs_hook(hook("pre-push", "#!/bin/sh\n./lint.sh\ngit lfs pre-push \"$@\"\n"))
    assert not is_git_lfs_hook(hook("pre-push", "#!/bin/sh\n# nothing\n"))


def test_single_file_clean_and_smudge_match_the_filter_process(tmp_path: Path,
                                                               isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    archives(clone, "install")
    data = os.urandom(9000)
    cleaned = archives(clone, "filter-clean", "--", "z.bin", input_bytes=data).stdout
    assert cleaned == pointer_text(data)
    smudged = archives(clone, "filter-smudge", "--", "z.bin", input_bytes=cleaned).stdout
    assert smudged == data
    # A pointer whose content is nowhere stays a pointer, with one line saying so.
    missing = pointer_text(os.urandom(100))
    proc = archives(clone, "filter-smudge", "--", "m.bin", input_bytes=missing)
    assert proc.stdout == missing and b"m.bin" in proc.stderr


def test_status_counts_git_lfs_objects_as_present(tmp_path: Path, isolated_home: Path) -> None:
    _origin, clone = _clone(tmp_path, isolated_home)
    archives(clone, "install")
    status = archives(clone, "status").stdout.decode()
    assert "missing" not in status and "Large files: all 1 present." in status
    assert "cached" in archives(clone, "ls-files").stdout.decode()
    shutil.rmtree(clone / ".git" / "lfs" / "objects")
    archive = clone / ".git" / "archives" / "files"
    if archive.exists():
        shutil.rmtree(archive)
    assert "Objects missing from the local cache (1)" in archives(clone, "status").stdout.decode()


def test_a_local_path_remote_is_shared_with_git_lfs_both_ways(tmp_path: Path,
                                                              isolated_home: Path) -> None:
    """git-lfs's standalone-file transfer: with a git remote that is a repository on this
    machine, objects go to and come from its lfs/objects, for git-lfs and for us alike."""
    origin, _theirs = _clone(tmp_path, isolated_home, "theirs")
    ours = tmp_path / "ours"
    git(tmp_path, "-c", "filter.lfs.smudge=git-lfs smudge --skip", "-c",
        "filter.lfs.process=git-lfs filter-process --skip", "clone", "-q", str(origin), str(ours))
    archives(ours, "install")
    shutil.rmtree(ours / ".git" / "lfs", ignore_errors=True)  # nothing local: all from origin
    archives(ours, "pull")
    assert (ours / "a.bin").read_bytes() == A
    assert git(ours, "status", "--porcelain").stdout == b""
    data = os.urandom(9000)
    (ours / "mine.bin").write_bytes(data)
    git(ours, "add", "mine.bin")
    git(ours, "commit", "-q", "-m", "ours")
    git(ours, "push", "-q", "origin", "main")
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(origin), str(fresh))  # plain git-lfs
    assert (fresh / "mine.bin").read_bytes() == data
    assert b"fsck OK" in git(fresh, "lfs", "fsck").stdout
    proc = archives(ours, "gc", "--remote", "lfs", "-A", "--expire", "now", "--yes", check=False)
    assert proc.returncode != 0 and "gc --remote does not apply" in proc.stderr.decode()
