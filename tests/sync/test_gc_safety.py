"""gc and commit never lose data: attacks on the gc/git-add race, on worktree indexes, on
DVC projects, and commits of pointers whose content exists nowhere."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.s3 import add_dir_remote, make_data_repo


def _key(data: bytes) -> str:
    d = hashlib.sha256(data).hexdigest()
    return f"files/sha256/{d[:2]}/{d[2:]}"


def _md5_key(data: bytes) -> str:
    d = hashlib.md5(data).hexdigest()
    return f"files/md5/{d[:2]}/{d[2:]}"


def _wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


# -- item 5: the gc / git add race ------------------------------------------------------------

def test_gc_during_a_running_git_add_deletes_nothing_it_stored(tmp_path: Path) -> None:
    """`git add` stores a.bin's object through the clean filter, then (holding index.lock)
    cleans z.slow, whose filter sleeps: the object is in the cache and in no index. gc
    --expire now in that window must not delete it; the commit and a checkout of another
    branch and back must then give the file back."""
    repo = make_data_repo(tmp_path / "r", {"old.bin": b"old" * 1000})
    (repo / ".gitattributes").write_text(
        (repo / ".gitattributes").read_text() + "*.slow filter=slow\n")
    git(repo, "config", "filter.slow.clean", "sleep 4; cat")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "slow filter")
    git(repo, "switch", "-qc", "other")
    git(repo, "switch", "-q", "main")
    data = os.urandom(50_000)
    (repo / "a.bin").write_bytes(data)
    (repo / "z.slow").write_text("slow\n")
    cache = repo / ".git" / "archives"
    add = subprocess.Popen(["git", "add", "a.bin", "z.slow"], cwd=repo,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: (cache / _key(data)).is_file()
                  and (repo / ".git" / "index.lock").exists())
        proc = archives(repo, "gc", "--workspace", "--expire", "now", check=False)
        assert proc.returncode == 1, proc.stdout
        err = proc.stderr.decode()
        assert "index.lock exists" in err and proc.stdout == b""
        assert err.count("\n") == 2 and "hint: run gc again when it has finished" in err
        assert (cache / _key(data)).is_file()
        # a dry run is refused as well: its plan would list the object as garbage
        assert archives(repo, "gc", "-w", "--dry", "--expire", "now",
                        check=False).returncode == 1
    finally:
        assert add.wait(30) == 0, add.stderr.read() if add.stderr else b""
    assert not (repo / ".git" / "index.lock").exists()
    # once staged, the index keeps it whatever --expire says
    out = archives(repo, "gc", "--workspace", "--expire", "now").stdout.decode()
    assert _key(data) not in out and (cache / _key(data)).is_file()
    git(repo, "commit", "-qm", "a")
    git(repo, "switch", "-q", "other")
    assert not (repo / "a.bin").exists()
    archives(repo, "gc", "--workspace", "--expire", "now")
    git(repo, "switch", "-q", "main")
    assert (repo / "a.bin").read_bytes() == data


def test_a_stale_index_lock_names_the_file_to_remove_shell_quoted(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "my repo", {"a.bin": b"a" * 1000})
    (repo / ".git" / "index.lock").write_bytes(b"")
    proc = archives(repo, "gc", "-w", "--expire", "now", check=False)
    assert proc.returncode == 1
    assert f"rm '{repo / '.git' / 'index.lock'}'" in proc.stderr.decode()
    (repo / ".git" / "index.lock").unlink()
    assert archives(repo, "gc", "-w", "--expire", "now").returncode == 0


def test_gc_keeps_what_the_index_of_a_worktree_whose_folder_is_gone_names(
        tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"a" * 1000})
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", os.fspath(wt))
    staged = os.urandom(3000)
    (wt / "s.bin").write_bytes(staged)
    git(wt, "add", "s.bin")  # staged only, never committed
    shutil.move(os.fspath(wt), os.fspath(tmp_path / "moved"))  # the folder moved away
    cache = repo / ".git" / "archives"
    out = archives(repo, "gc", "--workspace", "--expire", "now").stdout.decode()
    assert (cache / _key(staged)).is_file(), out
    shutil.move(os.fspath(tmp_path / "moved"), os.fspath(wt))
    git(wt, "commit", "-qm", "s")
    (wt / "s.bin").unlink()
    git(wt, "checkout", "--", "s.bin")
    assert (wt / "s.bin").read_bytes() == staged


# -- item 5: pre-commit refuses pointers whose content exists nowhere --------------------------

def _stage_then_lose(repo: Path, name: str, data: bytes) -> None:
    (repo / name).write_bytes(data)
    past = time.time() - 60  # not racily clean: git commit will not clean it again
    os.utime(repo / name, (past, past))
    git(repo, "add", "--", name)
    (repo / ".git" / "archives" / _key(data)).unlink()


def test_commit_of_a_pointer_whose_object_is_nowhere_is_refused(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"a" * 1000})
    lost = os.urandom(2000)
    name = "it's new\nline.bin"
    _stage_then_lose(repo, name, lost)
    proc = git(repo, "commit", "-qm", "x", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "refusing to commit 1 pointer(s)" in err and "none is configured" in err
    assert '  "it\'s new\\nline.bin" (sha256:' in err  # printed escaped, on one line
    assert "git add --renormalize -- $'it\\047s new\\012line.bin'" in err
    assert "git restore --staged -- $'it\\047s new\\012line.bin'" in err
    assert git(repo, "rev-list", "--count", "HEAD").stdout.strip() == b"1"
    # the suggested fix works: the file still holds its content
    git(repo, "add", "--renormalize", "--", name)
    git(repo, "commit", "-qm", "x")
    # --no-verify still bypasses, as git intends
    lost2 = os.urandom(2000)
    _stage_then_lose(repo, "b.bin", lost2)
    assert git(repo, "commit", "-qm", "y", check=False).returncode != 0
    git(repo, "commit", "-qm", "y", "--no-verify")


def test_commit_of_a_pointer_whose_object_is_on_the_remote_passes(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"a" * 1000})
    remote = add_dir_remote(repo, tmp_path / "remote", commit=True)
    data = os.urandom(2000)
    (repo / "x.bin").write_bytes(data)
    past = time.time() - 60
    os.utime(repo / "x.bin", (past, past))
    git(repo, "add", "x.bin")
    archives(repo, "push")  # HEAD's objects only: x.bin is staged, push it by hand
    (remote / _key(data)).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo / ".git" / "archives" / _key(data), remote / _key(data))
    (repo / ".git" / "archives" / _key(data)).unlink()
    git(repo, "commit", "-qm", "x")  # on the remote: fine
    assert not (repo / ".git" / "archives" / _key(data)).exists()  # the remote was asked
    # a pointer-looking text file outside the filter is not data
    fake = (b"version https://git-lfs.github.com/spec/v1\n"
            b"oid sha256:" + b"ab" * 32 + b"\nsize 12\n")
    (repo / "example.txt").write_bytes(fake)
    git(repo, "add", "example.txt")
    git(repo, "commit", "-qm", "docs")
    # not on the remote either: refused, naming the remote
    _stage_then_lose(repo, "y.bin", os.urandom(2000))
    err = git(repo, "commit", "-qm", "y", check=False).stderr.decode()
    assert "nor on data remote 'storage'" in err and "  y.bin (sha256:" in err


@pytest.fixture
def listener() -> Iterator[tuple[str, list[bytes]]]:
    """A TCP listener on loopback that records every connection's first bytes."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    seen.append(conn.recv(4096))
                except OSError:
                    seen.append(b"")
    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}", seen
    stop.set()
    t.join(2)
    srv.close()


def test_an_ordinary_commit_asks_no_remote(tmp_path: Path,
                                           listener: tuple[str, list[bytes]]) -> None:
    url, seen = listener
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"a" * 1000})
    cfg = repo / ".archives" / "config"
    cfg.parent.mkdir(exist_ok=True)
    for k, v in {"url": "s3://bucket/p", "endpointurl": url, "pathstyle": "true",
                 "region": "us-east-1"}.items():
        git(repo, "config", "-f", os.fspath(cfg), f"remote.s.{k}", v)
    git(repo, "config", "-f", os.fspath(cfg), "core.remote", "s")
    (repo / "b.bin").write_bytes(os.urandom(3000))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "b")  # its object is cached: no network
    assert seen == []


# -- item 6: gc in a DVC project ------------------------------------------------------------

_DVC_FILE = """outs:
- md5: {md5}
  size: {size}
  hash: md5
  path: data.csv
"""


def _dvc_add(repo: Path, data: bytes, remote: Path, name: str = "data.csv") -> str:
    """What `dvc add data.csv && dvc push` leave: data.csv.dvc and .gitignore committed,
    the object in the remote's md5 layout."""
    (repo / f"{name}.dvc").write_text(
        _DVC_FILE.format(md5=hashlib.md5(data).hexdigest(), size=len(data)))
    (repo / ".gitignore").write_text("/data.csv\n")
    key = _md5_key(data)
    (remote / key).parent.mkdir(parents=True, exist_ok=True)
    (remote / key).write_bytes(data)
    git(repo, "add", f"{name}.dvc", ".gitignore")
    git(repo, "commit", "-qm", f"data {len(data)}")
    return key


def test_gc_keeps_what_dvc_files_name_and_collects_the_rest(tmp_path: Path) -> None:
    """.dvc files were a reason to refuse gc; now their outputs are references: every
    version in history stays on the remote, an object nothing names goes."""
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"a" * 1000})
    remote = add_dir_remote(repo, tmp_path / "remote", commit=True)
    v1 = _dvc_add(repo, b"x,y\n1,2\n", remote, name="a\nb.csv")
    v2 = _dvc_add(repo, b"x,y\n1,2\n3,4\n", remote)
    stray = _md5_key(b"nobody names me")
    (remote / stray).parent.mkdir(parents=True, exist_ok=True)
    (remote / stray).write_bytes(b"nobody names me")
    proc = archives(repo, "gc", "--remote", "--all-commits", "--expire", "now", "--yes")
    assert "gc refused" not in proc.stderr.decode()
    assert (remote / v1).is_file() and (remote / v2).is_file()
    assert not (remote / stray).exists()


def test_gc_refuses_where_dvc_remotes_are_configured(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"a" * 1000})
    (repo / ".dvc").mkdir()
    (repo / ".dvc" / "config.local").write_text(
        "[core]\n    remote = shared\n['remote \"shared\"']\n    url = /srv/dvc\n")
    proc = archives(repo, "gc", "-w", "--expire", "now", check=False)
    assert proc.returncode == 1
    assert ".dvc/config.local configures DVC remote 'shared'" in proc.stderr.decode()
    (repo / ".dvc" / "config.local").write_text("[core]\n    autostage = true\n")
    assert archives(repo, "gc", "-w", "--expire", "now").returncode == 0


def test_gc_refuses_where_a_dvc_remote_is_in_dvcs_global_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DVC's global config names remotes for every project: one there holds data this
    project's DVC commands need just as a project remote does."""
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"a" * 1000})
    (repo / ".dvc").mkdir()
    global_dir = tmp_path / "dvc-global"
    global_dir.mkdir()
    (global_dir / "config").write_text("['remote \"team\"']\n    url = /srv/team\n")
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(global_dir))
    proc = archives(repo, "gc", "-w", "--expire", "now", check=False)
    assert proc.returncode == 1
    assert "configures DVC remote 'team'" in proc.stderr.decode()
    assert str(global_dir / "config") in proc.stderr.decode()
