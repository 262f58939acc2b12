"""Attacks on the work tree: a committed symlink, a hostile manifest or output path must never
make git-archives write (or delete) outside the clone. Written as the attacker would: the
repository, its dvc.lock and its data remote are theirs; the victim runs git and git-archives
as the README says."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from gitext.fs.worktree import UnsafePathError, WorkTree, is_git_dir_name, split_repo_path
from tests.helpers import archives, git

PAYLOAD = b"[core]\n\tfsmonitor = touch PWNED\n"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _put_object(remote: Path, data: bytes) -> str:
    md5 = _md5(data)
    dest = remote / "files" / "md5" / md5[:2] / md5[2:]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return md5


def _lock(outs: dict[str, str]) -> str:
    lines = ["schema: '2.0'", "stages:", "  build:", "    cmd: 'true'", "    outs:"]
    for path, md5 in outs.items():
        lines += [f"    - path: {path}", "      hash: md5", f"      md5: {md5}"]
    return "\n".join(lines) + "\n"


def _attacker_repo(tmp_path: Path, outs: dict[str, str], links: dict[str, str]) -> Path:
    """A bare origin whose main commits dvc.yaml/dvc.lock naming ``outs`` and the committed
    symlinks ``links`` (path -> target)."""
    work = tmp_path / "attacker"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    yaml = "stages:\n  build:\n    cmd: 'true'\n    outs:\n" + "".join(
        f"    - {p}\n" for p in outs)
    (work / "dvc.yaml").write_text(yaml)
    (work / "dvc.lock").write_text(_lock(outs))
    (work / ".gitignore").write_text("".join(f"/{p}\n" for p in outs))
    for path, target in links.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, work / path)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "innocent")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", os.fspath(work), os.fspath(origin))
    return origin


def _victim_clone(tmp_path: Path, origin: Path, remote: Path) -> Path:
    clone = tmp_path / "victim" / "clone"
    clone.parent.mkdir()
    git(tmp_path, "clone", "-q", os.fspath(origin), os.fspath(clone))
    archives(clone, "install")
    archives(clone, "remote", "add", "--local", "-d", "storage", os.fspath(remote))
    return clone


def test_a_committed_symlink_cannot_redirect_an_output_into_the_users_config(
        tmp_path: Path, isolated_home: Path) -> None:
    remote = tmp_path / "remote"
    md5 = _put_object(remote, PAYLOAD)
    target = isolated_home / ".config"
    target.mkdir(exist_ok=True)
    clone_dir = tmp_path / "victim" / "clone"
    rel_target = os.path.relpath(target, clone_dir)
    origin = _attacker_repo(tmp_path, {"lnk/git/config": md5}, {"lnk": rel_target})
    clone = _victim_clone(tmp_path, origin, remote)

    proc = archives(clone, "pull", check=False)

    assert not (target / "git" / "config").exists(), "wrote through the committed symlink"
    assert proc.returncode != 0
    err = proc.stderr.decode() + proc.stdout.decode()
    assert "lnk" in err and "symbolic link" in err
    assert (clone / "lnk").is_symlink()  # the victim's tree is left as git made it


def test_a_plain_git_pull_with_the_output_cached_writes_nothing_outside(
        tmp_path: Path, isolated_home: Path) -> None:
    remote = tmp_path / "remote"
    md5 = _put_object(remote, PAYLOAD)
    ssh = isolated_home / ".ssh"
    ssh.mkdir()
    origin = _attacker_repo(tmp_path, {"lnk/authorized_keys": md5}, {})
    clone = _victim_clone(tmp_path, origin, remote)
    archives(clone, "pull")  # the output is now cached and in place, as the attacker wants
    assert (clone / "lnk" / "authorized_keys").read_bytes() == PAYLOAD

    # The attacker now swaps the folder for a symlink to ~/.ssh and the victim pulls.
    work = tmp_path / "attacker"
    os.symlink(os.path.relpath(ssh, clone), work / "lnk")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "tidy")
    git(work, "push", "-q", os.fspath(origin), "main")
    proc = git(clone, "pull", "-q", "--no-rebase", "origin", "main", check=False)

    assert not (ssh / "authorized_keys").exists(), "the post-merge hook wrote ~/.ssh"
    assert proc.returncode == 0  # git's own pull still succeeds; we refused our part
    assert "symbolic link" in proc.stderr.decode()


def test_a_directory_output_behind_a_symlink_is_neither_filled_nor_pruned(
        tmp_path: Path, isolated_home: Path) -> None:
    remote = tmp_path / "remote"
    inner = _put_object(remote, b"model\n")
    manifest = json.dumps([{"md5": inner, "relpath": "m.bin"}]).encode()
    dir_md5 = _md5(manifest)
    dest = remote / "files" / "md5" / dir_md5[:2] / (dir_md5[2:] + ".dir")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(manifest)
    victim_files = isolated_home / "Documents"
    victim_files.mkdir()
    (victim_files / "thesis.tex").write_text("years of work\n")
    rel = os.path.relpath(victim_files, tmp_path / "victim" / "clone")
    origin = _attacker_repo(tmp_path, {"models": dir_md5 + ".dir"}, {"models": rel})
    clone = _victim_clone(tmp_path, origin, remote)

    archives(clone, "pull", check=False)
    archives(clone, "checkout", check=False)
    forced = archives(clone, "checkout", "--force", check=False)

    assert (victim_files / "thesis.tex").read_text() == "years of work\n"
    assert sorted(p.name for p in victim_files.iterdir()) == ["thesis.tex"]
    assert (clone / "models").is_symlink() or (clone / "models" / "m.bin").is_file()
    assert forced.returncode != 0 or not (clone / "models").is_symlink()


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", ".git/config",
                                  ".GIT/config", "sub/.Git/hooks/pre-commit", "git~1/config",
                                  ".git./config", "a//b", "", "\u200c.git/config"])
def test_paths_that_leave_the_clone_or_enter_git_are_refused(path: str) -> None:
    with pytest.raises(UnsafePathError):
        split_repo_path(path)


def test_plain_names_are_accepted() -> None:
    assert split_repo_path("data/raw/a.csv") == ("data", "raw", "a.csv")
    assert split_repo_path("out/") == ("out",)
    assert split_repo_path(".gitignore") == (".gitignore",)
    assert not is_git_dir_name(".github") and not is_git_dir_name(".gitx")


def test_a_symlink_at_the_file_itself_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "f.txt")
    with WorkTree(root) as wt:
        wt.write_bytes("f.txt", b"new\n")
    assert outside.read_text() == "keep me\n"
    assert not (root / "f.txt").is_symlink() and (root / "f.txt").read_bytes() == b"new\n"


def test_removing_a_folder_never_follows_a_symlink_inside_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    root = tmp_path / "root"
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "sub" / "f").write_text("y")
    os.chmod(root / "d" / "sub" / "f", 0o444)
    os.symlink(outside, root / "d" / "link")
    with WorkTree(root) as wt:
        assert wt.remove("d")
    assert not (root / "d").exists() and (outside / "precious").exists()


def test_a_symlink_in_the_middle_is_refused_for_every_kind_of_write(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    os.symlink(outside, root / "a" / "b")
    with WorkTree(root) as wt:
        for action in (lambda: wt.write_bytes("a/b/c", b"x"), lambda: wt.makedirs("a/b/c"),
                       lambda: wt.remove("a/b/c"), lambda: wt.link("a/b/c", root / "a")):
            with pytest.raises(UnsafePathError, match="symbolic link"):
                action()
    assert list(outside.iterdir()) == []


def test_a_file_name_of_250_bytes_can_be_written(tmp_path: Path) -> None:
    name = "n" * 250
    with WorkTree(tmp_path) as wt:
        wt.write_bytes(f"d/{name}", b"data")
    assert (tmp_path / "d" / name).read_bytes() == b"data"
    assert os.listdir(tmp_path / "d") == [name]


@pytest.mark.parametrize("out", [".GIT/config", "sub/.Git/hooks/post-checkout", ".git./x",
                                 ".DVC/config"])
def test_dvc_yaml_outputs_inside_git_metadata_are_refused_in_any_case(
        tmp_path: Path, out: str) -> None:
    from gitext.errors import PipelineError
    from gitext.pipeline.dvcyaml.loader import load_pipeline

    (tmp_path / "dvc.yaml").write_text(
        f"stages:\n  s:\n    cmd: 'true'\n    outs:\n    - {out}\n")
    with pytest.raises(PipelineError, match="metadata") as info:
        load_pipeline(tmp_path, tmp_path / "dvc.yaml")
    assert "dvc.yaml" in str(info.value)


def test_a_hostile_manifest_from_the_remote_is_named_as_such(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    manifest = json.dumps([{"md5": _md5(b"x"), "relpath": "../../escape"}]).encode()
    dir_md5 = _md5(manifest)
    dest = remote / "files" / "md5" / dir_md5[:2] / (dir_md5[2:] + ".dir")
    dest.parent.mkdir(parents=True)
    dest.write_bytes(manifest)
    _put_object(remote, b"x")
    origin = _attacker_repo(tmp_path, {"models": dir_md5 + ".dir"}, {})
    clone = _victim_clone(tmp_path, origin, remote)

    proc = archives(clone, "pull", check=False)

    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "would leave its directory" in err and "does not match its id" not in err
    assert not (tmp_path / "victim" / "escape").exists()


@pytest.mark.parametrize("link, args", [
    (".gitattributes", ["track", "*.bin"]),
    (".archives", ["track", "--larger-than", "1mb"]),
    (".archives", ["remote", "add", "store", "/tmp/x"]),
])
def test_commands_that_edit_committed_files_never_write_through_a_committed_symlink(
        tmp_path: Path, link: str, args: list[str]) -> None:
    victim = tmp_path / "victim-dotfiles"
    victim.mkdir()
    (victim / "bashrc").write_text("alias ll='ls -l'\n")
    work = tmp_path / "attacker"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    target = victim / "bashrc" if link == ".gitattributes" else victim
    os.symlink(target, work / link)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "x")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(work), os.fspath(clone))

    proc = archives(clone, *args, check=False)

    assert proc.returncode != 0 and "symbolic link" in proc.stderr.decode()
    assert sorted(p.name for p in victim.iterdir()) == ["bashrc"]
    assert (victim / "bashrc").read_text() == "alias ll='ls -l'\n"
