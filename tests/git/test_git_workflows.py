"""Real git driving the real filter process: the everyday workflows."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import BIN_DIR, archives, git
from tests.helpers.repos import (
    committed_blob,
    pointer_text,
    setup_repo,
    staged_blob,
    status_porcelain,
)


def test_add_stores_a_pointer_and_checkout_brings_the_content_back(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    data = os.urandom(300_000)
    (repo / "model.bin").write_bytes(data)
    git(repo, "add", "model.bin")
    git(repo, "commit", "-q", "-m", "model")
    assert committed_blob(repo, "HEAD", "model.bin") == pointer_text(data)
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "model.bin").write_bytes(b"v2" * 1000)
    git(repo, "commit", "-q", "-am", "v2")
    git(repo, "checkout", "-q", "main")
    assert (repo / "model.bin").read_bytes() == data
    assert status_porcelain(repo) == ""
    git(repo, "checkout", "-q", "other")
    assert (repo / "model.bin").read_bytes() == b"v2" * 1000
    assert status_porcelain(repo) == ""


@pytest.mark.parametrize("name,data", [
    ("crlf and nul.bin", b"line\r\nwith\0nul\r\n" * 1000),
    ("empty.bin", b""),
    ("ünïcødé データ.bin", os.urandom(5000)),
    ("exact.bin", os.urandom(65516)),
    ("double.bin", os.urandom(65516 * 2)),
    ("plus-one.bin", os.urandom(65516 * 3 + 1)),
    ("minus-one.bin", os.urandom(65516 - 1)),
])
def test_bytes_survive_the_round_trip_exactly(tmp_path: Path, name: str, data: bytes) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    (repo / name).write_bytes(data)
    git(repo, "add", "--", name)
    git(repo, "commit", "-q", "-m", "add")
    assert committed_blob(repo, "HEAD", name) == pointer_text(data)
    (repo / name).unlink()
    git(repo, "checkout", "--", name)
    assert (repo / name).read_bytes() == data
    assert status_porcelain(repo) == ""


def test_the_executable_bit_is_kept(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    f = repo / "tool.bin"
    f.write_bytes(b"#!/bin/sh\necho hi\n" + os.urandom(100))
    f.chmod(0o755)
    git(repo, "add", "tool.bin")
    git(repo, "commit", "-q", "-m", "tool")
    f.unlink()
    git(repo, "checkout", "--", "tool.bin")
    assert f.stat().st_mode & stat.S_IXUSR
    assert git(repo, "ls-files", "-s", "tool.bin").stdout.startswith(b"100755")


def test_stash_rebase_and_merge_keep_content_and_pointers(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "data/**")
    (repo / "data").mkdir()
    (repo / "data" / "a.csv").write_text("a,b\n1,2\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a")
    # stash
    (repo / "data" / "a.csv").write_text("a,b\n1,2\n3,4\n")
    git(repo, "stash", "-q")
    assert (repo / "data" / "a.csv").read_text() == "a,b\n1,2\n"
    git(repo, "stash", "pop", "-q")
    assert (repo / "data" / "a.csv").read_text() == "a,b\n1,2\n3,4\n"
    git(repo, "commit", "-q", "-am", "a2")
    # branch + rebase
    git(repo, "checkout", "-q", "-b", "feature", "HEAD~1")
    (repo / "data" / "b.csv").write_text("x\n1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "b")
    git(repo, "rebase", "-q", "main")
    assert (repo / "data" / "a.csv").read_text() == "a,b\n1,2\n3,4\n"
    assert (repo / "data" / "b.csv").read_text() == "x\n1\n"
    # merge back
    git(repo, "checkout", "-q", "main")
    assert not (repo / "data" / "b.csv").exists()
    git(repo, "merge", "-q", "--no-edit", "feature")
    assert (repo / "data" / "b.csv").read_text() == "x\n1\n"
    assert committed_blob(repo, "HEAD", "data/b.csv") == pointer_text(b"x\n1\n")
    assert status_porcelain(repo) == ""


def test_git_status_does_not_rehash_touched_files(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    for i in range(20):
        (repo / f"f{i}.bin").write_bytes(os.urandom(10_000))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "many")
    for i in range(20):
        os.utime(repo / f"f{i}.bin")
    assert status_porcelain(repo) == ""
    # A real change of the same size is still seen.
    p = repo / "f3.bin"
    data = bytearray(p.read_bytes())
    data[5000] ^= 0xFF
    p.write_bytes(bytes(data))
    assert status_porcelain(repo) == " M f3.bin\n"
    git(repo, "add", "f3.bin")
    assert staged_blob(repo, "f3.bin") == pointer_text(bytes(data))


def test_clone_without_the_objects_leaves_pointers_and_a_later_checkout_fills_them(
        tmp_path: Path) -> None:
    origin = setup_repo(tmp_path / "origin", "*.bin")
    data = os.urandom(50_000)
    (origin / "w.bin").write_bytes(data)
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "w")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(origin), str(clone))
    archives(clone, "install")
    proc = git(clone, "checkout", "-q", "main")
    assert b"w.bin" in proc.stderr and b"git archives pull" in proc.stderr
    assert (clone / "w.bin").read_bytes() == pointer_text(data)
    assert status_porcelain(clone) == ""
    out = archives(clone, "status").stdout.decode()
    assert "w.bin" in out and "pull" in out
    # The object arrives (as a fetch would put it); the next checkout fills the file in.
    shutil.copytree(origin / ".git" / "archives" / "files", clone / ".git" / "archives" / "files",
                    dirs_exist_ok=True)
    git(clone, "checkout", "-q", "-b", "next")
    assert (clone / "w.bin").read_bytes() == data
    assert status_porcelain(clone) == ""


def test_skip_smudge_leaves_pointers(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    (repo / "a.bin").write_bytes(b"content")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a")
    (repo / "a.bin").unlink()
    env = dict(os.environ, GIT_ARCHIVES_SKIP_SMUDGE="1")
    git(repo, "checkout", "--", "a.bin", env=env)
    assert (repo / "a.bin").read_bytes() == pointer_text(b"content")


def test_two_worktrees_add_concurrently_into_one_store(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "wt")
    shared = os.urandom(400_000)
    for base in (repo, tmp_path / "wt"):
        for i in range(15):
            (base / f"f{i}.bin").write_bytes(shared if i == 0 else os.urandom(100_000))
    procs = [subprocess.Popen(["git", "add", "."], cwd=base, stderr=subprocess.PIPE)
             for base in (repo, tmp_path / "wt")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = repo / ".git" / "archives" / "files" / "sha256"
    assert not (tmp_path / "wt" / ".git").is_dir()  # a worktree's .git is a file
    for base in (repo, tmp_path / "wt"):
        for i in range(15):
            data = (base / f"f{i}.bin").read_bytes()
            oid = hashlib.sha256(data).hexdigest()
            assert (store / oid[:2] / oid[2:]).read_bytes() == data
    assert not list((repo / ".git" / "archives" / "tmp").iterdir())


def test_a_writer_killed_mid_write_leaves_no_visible_object(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from gitext.store.objects import LocalStore\n"
        "class Slow:\n"
        "    n = 0\n"
        "    def read(self, k=-1):\n"
        "        Slow.n += 1\n"
        "        if Slow.n == 3: os.kill(os.getpid(), 9)\n"
        "        return b'x' * 65536\n"
        f"LocalStore(Path({str(repo / '.git' / 'archives')!r})).add_stream(Slow(), 'sha256')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert proc.returncode == -9
    files = repo / ".git" / "archives" / "files"
    assert not files.exists() or not any(files.rglob("*"))
    leftovers = list((repo / ".git" / "archives" / "tmp").iterdir())
    assert len(leftovers) == 1
    old = leftovers[0].stat().st_mtime - 7200
    os.utime(leftovers[0], (old, old))
    out = archives(repo, "fsck").stdout.decode()
    assert "stale temp file" in out
    assert not list((repo / ".git" / "archives" / "tmp").iterdir())


def test_fsck_quarantines_a_corrupt_object_and_never_deletes_it(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    data = os.urandom(4096)
    (repo / "c.bin").write_bytes(data)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "c")
    oid = hashlib.sha256(data).hexdigest()
    obj = repo / ".git" / "archives" / "files" / "sha256" / oid[:2] / oid[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"rotten" + data[6:])
    proc = archives(repo, "fsck", check=False)
    assert proc.returncode == 1
    assert f"corrupt: sha256:{oid}" in proc.stdout.decode()
    assert not obj.exists()
    quarantined = list((repo / ".git" / "archives" / "quarantine").iterdir())
    assert quarantined and quarantined[0].read_bytes().startswith(b"rotten")
    # The work tree keeps its good copy; checking it out again refuses nothing silently.
    assert (repo / "c.bin").read_bytes() == data


def test_a_full_disk_during_clean_answers_error_and_leaves_no_temp_file(tmp_path: Path) -> None:
    import resource

    repo = setup_repo(tmp_path / "r", "*.bin")
    (repo / "huge.bin").write_bytes(os.urandom(3_000_000))

    def limit() -> None:  # EFBIG on writes past 1 MB: what a full disk looks like to us
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    proc = subprocess.run(["git", "add", "huge.bin"], cwd=repo, capture_output=True,
                          check=False, preexec_fn=limit)
    assert proc.returncode != 0
    assert b"huge.bin" in proc.stderr and b"cannot write to the store" in proc.stderr
    cache = repo / ".git" / "archives"  # nothing partial: no temp file, no unsealed pack
    for d in (cache / "tmp", cache / "chunks" / "tmp", cache / "chunks" / "packs"):
        assert not (d.is_dir() and list(d.iterdir())), d
    assert git(repo, "ls-files", "huge.bin").stdout == b""


def test_a_corrupt_object_is_never_served_and_the_checkout_goes_on(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    for name in ("a.bin", "b.bin"):
        (repo / name).write_bytes(name.encode() * 100)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "two")
    oid = hashlib.sha256(b"a.bin" * 100).hexdigest()
    obj = repo / ".git" / "archives" / "files" / "sha256" / oid[:2] / oid[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"X" * 500)
    (repo / "a.bin").unlink()
    (repo / "b.bin").unlink()
    proc = git(repo, "checkout", "--", ".")
    assert b"a.bin" in proc.stderr and b"corrupt" in proc.stderr
    assert (repo / "b.bin").read_bytes() == b"b.bin" * 100
    assert (repo / "a.bin").read_bytes() == pointer_text(b"a.bin" * 100)
    assert not obj.exists()
    assert list((repo / ".git" / "archives" / "quarantine").iterdir())


def test_console_script_is_what_git_runs() -> None:
    assert (BIN_DIR / "git-archives").exists()


def test_big_files_take_the_kernel_copy_and_splice_paths_byte_exactly(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    git(repo, "config", "archives.chunking.threshold", "off")  # whole objects: these paths
    one = os.urandom(3 * 65516 * 16 + 7)  # over the 1 MiB copy threshold and 4 MiB smudge
    two = bytearray(one)
    two[-1] ^= 0xFF
    (repo / "big.bin").write_bytes(one + one)
    git(repo, "add", "big.bin")
    git(repo, "commit", "-q", "-m", "one")
    assert committed_blob(repo, "HEAD", "big.bin") == pointer_text(one + one)
    git(repo, "checkout", "-q", "-b", "two")
    (repo / "big.bin").write_bytes(bytes(two) + one)
    git(repo, "commit", "-q", "-am", "two")
    for _ in range(2):  # the first serve may re-hash; the second is spliced from the cache
        git(repo, "checkout", "-q", "main")
        assert (repo / "big.bin").read_bytes() == one + one
        assert status_porcelain(repo) == ""
        git(repo, "checkout", "-q", "two")
        assert (repo / "big.bin").read_bytes() == bytes(two) + one
        assert status_porcelain(repo) == ""
    oid = hashlib.sha256(one + one).hexdigest()
    obj = repo / ".git" / "archives" / "files" / "sha256" / oid[:2] / oid[2:]
    assert obj.read_bytes() == one + one and (obj.stat().st_mode & 0o222) == 0
