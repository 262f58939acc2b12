"""A Git LFS server as the data remote: a real giftless on loopback, real git-lfs beside us,
and a fault-injecting proxy for what a server (or an attacker's) can answer."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import archives, git
from tests.helpers.lfs_server import Giftless, LfsFaultProxy, json_fault, status_fault
from tests.helpers.listener import listening
from tests.helpers.s3 import cache_objects, drop_cache

USER, PASSWORD = "alice", "S3CRET-lfs-pass-0123456789"
SECRETS = (PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
FILES = {"a.bin": os.urandom(300_000), "b.bin": b"small one\n" * 100}


def oid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_repo(path: Path, url: str, files: dict[str, bytes], *, trust: bool = True) -> Path:
    """A repository with git-archives set up, ``*.bin`` tracked, ``.lfsconfig`` naming
    ``url`` (confirmed in the clone's own config with ``trust``), and a bare git remote."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    archives(path, "install")
    archives(path, "track", "*.bin")
    git(path, "config", "-f", ".lfsconfig", "lfs.url", url)
    if trust:
        git(path, "config", "lfs.url", url)
    for name, data in files.items():
        (path / name).write_bytes(data)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "data")
    bare = path.parent / (path.name + ".git")
    git(path.parent, "init", "-q", "--bare", str(bare))
    git(path, "remote", "add", "origin", str(bare))
    return path


def output(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode() + proc.stderr.decode()


def assert_no_secret(text: str) -> None:
    for s in SECRETS:
        assert s not in text
    assert "Traceback" not in text


def git_lfs_env(home: Path) -> None:
    git(home, "config", "--global", "filter.lfs.process", "git-lfs filter-process")
    git(home, "config", "--global", "filter.lfs.required", "true")
    git(home, "config", "--global", "lfs.locksverify", "false")


# -- interoperability with git-lfs -------------------------------------------------------------

def test_git_push_uploads_and_a_plain_git_lfs_clone_downloads(
        tmp_path: Path, giftless: Giftless, git_lfs: Path, isolated_home: Path) -> None:
    url = giftless.url("org", "ours")
    src = make_repo(tmp_path / "src", url, FILES)
    proc = git(src, "push", "-q", "origin", "main")  # the pre-push hook uploads
    assert_no_secret(output(proc))
    assert set(giftless.stored("org", "ours")) == {oid(d) for d in FILES.values()}
    status = archives(src, "remote", "status").stdout.decode()
    assert "Remote 'lfs'" in status and "in sync" in status
    git_lfs_env(isolated_home)
    git(tmp_path, "clone", "-q", str(tmp_path / "src.git"), "theirs")
    theirs = tmp_path / "theirs"
    git(theirs, "lfs", "fetch")  # reads .lfsconfig, asks the same server
    for data in FILES.values():
        o = oid(data)
        assert (theirs / ".git" / "lfs" / "objects" / o[:2] / o[2:4] / o).read_bytes() == data
        pointer = git(theirs, "lfs", "pointer", "--file=/dev/stdin", input_bytes=data)
        smudged = git(theirs, "lfs", "smudge", input_bytes=pointer.stdout).stdout
        assert smudged == data


def test_what_git_lfs_pushed_we_download(tmp_path: Path, giftless: Giftless, git_lfs: Path,
                                         isolated_home: Path) -> None:
    url = giftless.url("org", "theirs")
    src = tmp_path / "lfsuser"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    git(src, "lfs", "install", "--local")
    git(src, "config", "lfs.locksverify", "false")
    git(src, "lfs", "track", "*.bin")
    git(src, "config", "-f", ".lfsconfig", "lfs.url", url)
    for name, data in FILES.items():
        (src / name).write_bytes(data)
    git(src, "add", "-A")
    git(src, "commit", "-qm", "lfs data")
    git(tmp_path, "init", "-q", "--bare", "lfsuser.git")
    git(src, "remote", "add", "origin", str(tmp_path / "lfsuser.git"))
    git(src, "push", "-q", "origin", "main")
    assert set(giftless.stored("org", "theirs")) == {oid(d) for d in FILES.values()}

    git(tmp_path, "clone", "-q", str(tmp_path / "lfsuser.git"), "ours")
    ours = tmp_path / "ours"
    assert (ours / "a.bin").read_bytes().startswith(b"version https://git-lfs")
    archives(ours, "install")
    git(ours, "config", "lfs.url", url)  # the user confirms the server .lfsconfig names
    proc = archives(ours, "pull")
    assert "2 object(s) downloaded" in proc.stdout.decode()
    for name, data in FILES.items():
        assert (ours / name).read_bytes() == data


def test_clone_fills_files_from_the_lfs_server_with_no_setup(
        tmp_path: Path, giftless: Giftless) -> None:
    url = giftless.url("org", "clone")
    src = make_repo(tmp_path / "src", url, FILES)
    git(src, "push", "-q", "origin", "main")
    archives(tmp_path, "install", "--global")
    # The server is on another host than the git remote (a folder): the user confirms it.
    git(tmp_path, "clone", "-q", "-c", f"lfs.url={url}", str(tmp_path / "src.git"), "dst")
    for name, data in FILES.items():
        assert (tmp_path / "dst" / name).read_bytes() == data  # delayed smudge fetched them


def test_push_is_a_no_op_for_objects_already_there(tmp_path: Path, giftless: Giftless) -> None:
    src = make_repo(tmp_path / "src", giftless.url("org", "again"), FILES)
    archives(src, "push")
    out = archives(src, "push").stdout.decode()
    assert "0 object(s) uploaded" in out and "2 already there" in out


# -- trust -----------------------------------------------------------------------------------

def test_committed_lfsconfig_on_another_host_is_refused_until_confirmed(
        tmp_path: Path, giftless: Giftless) -> None:
    with listening() as evil:
        src = make_repo(tmp_path / "src", evil.url + "/org/repo.git/info/lfs", FILES,
                        trust=False)
        drop_cache(src)
        proc = archives(src, "fetch", check=False)
        assert proc.returncode != 0
        err = proc.stderr.decode()
        assert "named only by the committed .lfsconfig" in err
        assert "git config lfs.url" in err
        assert evil.requests == []  # nothing was sent there


def test_batch_hrefs_on_another_host_get_no_user_credentials(
        tmp_path: Path, lfs_proxy: LfsFaultProxy, isolated_home: Path) -> None:
    src = _private_repo(tmp_path, lfs_proxy, isolated_home, "hrefs")
    drop_cache(src)
    with listening() as evil:
        def elsewhere(doc: Any) -> Any:
            for obj in doc["objects"]:
                for action in obj.get("actions", {}).values():
                    action["href"] = evil.url + "/steal"
                    action["header"] = {}
            return doc

        lfs_proxy.add(json_fault(elsewhere), method="POST", path_part="/objects/batch")
        proc = archives(src, "fetch", check=False)
        assert proc.returncode != 0
        assert evil.requests  # the downloads went there ...
        for seen in evil.requests:  # ... without the user's credentials
            assert "Authorization" not in seen.headers
            assert_no_secret(seen.text())
    assert_no_secret(output(proc))
    assert not cache_objects(src)


# -- bad input --------------------------------------------------------------------------------

def _private_repo(tmp_path: Path, proxy: LfsFaultProxy, home: Path, name: str) -> Path:
    """A repository whose LFS server (behind ``proxy``) wants Basic credentials, which a
    git credential helper (``store``) has; its data is on the server."""
    proxy.require_basic = f"{USER}:{PASSWORD}"
    store = home / "git-credentials"
    store.write_text(f"http://{USER}:{PASSWORD}@{proxy.url.removeprefix('http://')}\n")
    git(home, "config", "--global", "credential.helper", f"store --file={store}")
    git(home, "config", "--global", "lfs.transfer.maxretries", "3")
    src = make_repo(tmp_path / name, f"{proxy.url}/org/{name}.git/info/lfs", FILES)
    assert_no_secret(output(archives(src, "push")))
    return src


@pytest.fixture
def private(tmp_path: Path, lfs_proxy: LfsFaultProxy, isolated_home: Path) -> Path:
    src = _private_repo(tmp_path, lfs_proxy, isolated_home, "private")
    drop_cache(src)
    return src


def _fetch_fails(repo: Path, *needles: str) -> str:
    proc = archives(repo, "fetch", check=False)
    text = output(proc)
    assert proc.returncode != 0, text
    for n in needles:
        assert n in text, text
    assert_no_secret(text)
    assert not cache_objects(repo)
    assert not any((repo / ".git" / "archives" / "tmp").glob("*"))
    return text


@pytest.mark.parametrize(("code", "needle"), [
    (403, "lacks read access"),
    (404, "check the LFS URL"),
    (422, "refused the request as invalid"),
])
def test_batch_refusals_give_one_clear_line(private: Path, lfs_proxy: LfsFaultProxy, code: int,
                                            needle: str) -> None:
    lfs_proxy.add(status_fault(code, b'{"message": "Repository says no"}'), count=5,
                  path_part="/objects/batch")
    text = _fetch_fails(private, f"answered {code} to the download batch request", needle,
                        "Repository says no")
    assert len([ln for ln in text.splitlines() if "error" in ln]) == 1


def test_a_batch_answer_too_large_to_be_one_is_refused_unread(private: Path,
                                                              lfs_proxy: LfsFaultProxy) -> None:
    # A server named by a cloned repository's .lfsconfig could answer without end: the
    # answer to a batch of 100 objects is a few hundred KB, so more than 16 MiB is refused
    # (not read into memory to the end) with one line.
    lfs_proxy.add(status_fault(200, b" " * (17 << 20)), count=5, path_part="/objects/batch")
    text = _fetch_fails(private, "batch answer is larger than 16 MiB")
    assert len([ln for ln in text.splitlines() if "error" in ln]) == 1


def test_refused_credentials_are_rejected_and_never_shown(
        private: Path, lfs_proxy: LfsFaultProxy, isolated_home: Path) -> None:
    lfs_proxy.require_basic = f"{USER}:another-password"
    _fetch_fails(private, "credentials were refused")
    assert PASSWORD not in (isolated_home / "git-credentials").read_text()  # rejected


def test_no_credentials_at_all(private: Path, lfs_proxy: LfsFaultProxy,
                               isolated_home: Path) -> None:
    git(isolated_home, "config", "--global", "--unset", "credential.helper")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    proc = archives(private, "fetch", check=False, env=env)
    assert proc.returncode != 0
    assert "credentials are needed" in proc.stderr.decode()


def test_server_errors_are_retried_then_reported(private: Path,
                                                 lfs_proxy: LfsFaultProxy) -> None:
    lfs_proxy.add(status_fault(503, headers=[("Retry-After", "0")]), count=2,
                  path_part="/objects/batch")
    lfs_proxy.add(status_fault(429, headers=[("Retry-After", "1")]), count=1, method="GET")
    archives(private, "fetch")
    assert len(cache_objects(private)) == 2
    drop_cache(private)
    lfs_proxy.add(status_fault(500, headers=[("Retry-After", "0")]), count=12,
                  path_part="/objects/batch")
    _fetch_fails(private, "answered 500", "try again later")


def test_malformed_json(private: Path, lfs_proxy: LfsFaultProxy) -> None:
    lfs_proxy.add(lambda m, p, s, h, d: (200, h, b'{"objects": [tru'), path_part="/objects/batch")
    _fetch_fails(private, "not Git LFS JSON")


def test_wrong_bytes_for_an_oid_never_reach_the_cache(private: Path,
                                                      lfs_proxy: LfsFaultProxy) -> None:
    lfs_proxy.add(lambda m, p, s, h, d: (s, h, bytes([d[0] ^ 1]) + d[1:]), count=2,
                  method="GET")
    _fetch_fails(private, "refused as corrupt")


def test_expired_actions_are_asked_again(private: Path, lfs_proxy: LfsFaultProxy) -> None:
    def expire(doc: Any) -> Any:
        for obj in doc["objects"]:
            for action in obj.get("actions", {}).values():
                action["expires_at"] = "2001-01-01T00:00:00Z"
        return doc

    lfs_proxy.add(json_fault(expire), path_part="/objects/batch")
    archives(private, "fetch")
    assert len(cache_objects(private)) == 2
    assert sum(1 for m, p, _ in lfs_proxy.seen if "/objects/batch" in p and m == "POST") >= 3
    drop_cache(private)
    lfs_proxy.add(json_fault(expire), count=10, path_part="/objects/batch")
    _fetch_fails(private, "already expired", "clock")


def test_a_dropped_download_resumes_with_range(private: Path, lfs_proxy: LfsFaultProxy) -> None:
    lfs_proxy.add(None, method="GET", path_part=oid(FILES["a.bin"]))
    archives(private, "fetch")
    assert len(cache_objects(private)) == 2
    ranges = [h["Range"] for m, p, h in lfs_proxy.seen if m == "GET" and h.get("Range")]
    assert len(ranges) == 1  # what arrived before the drop was kept
    start = int(ranges[0].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= len(FILES["a.bin"]) // 2


def test_gc_on_the_remote_refuses(private: Path) -> None:
    proc = archives(private, "gc", "--all-commits", "--remote", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "cannot list or delete" in err
    assert len([ln for ln in err.splitlines() if ln.startswith("git-archives")]) == 1


def test_batches_hold_at_most_100_objects(repo: Path, lfs_proxy: LfsFaultProxy) -> None:
    from gitext.remotes.lfs import open_lfs
    from gitext.remotes.lfsurl import LfsSettings

    backend = open_lfs(LfsSettings.load(repo), url=f"lfs+{lfs_proxy.url}/org/many.git/info/lfs")
    keys = [f"files/sha256/{o[:2]}/{o[2:]}" for o in (oid(str(i).encode()) for i in range(150))]
    try:
        backend.plan("download", [(k, 10) for k in keys])
        assert backend.exists_many(keys) == set()
    finally:
        backend.close()
    batches = [p for m, p, _ in lfs_proxy.seen if m == "POST" and p.endswith("/objects/batch")]
    assert len(batches) == 2


def test_a_push_uploads_the_first_batch_while_it_asks_for_the_next(
        tmp_path: Path, lfs_proxy: LfsFaultProxy) -> None:
    """As git-lfs: the first upload does not wait for every object's batch answer; a later
    push counts what the server has and uploads only the rest."""
    files = {f"f{i:03}.bin": os.urandom(1000 + i) for i in range(150)}
    src = make_repo(tmp_path / "src", f"{lfs_proxy.url}/org/pipe.git/info/lfs", files)
    out = archives(src, "push").stdout.decode()
    assert "150 object(s) uploaded" in out, out
    seen = [(m, p) for m, p, _ in lfs_proxy.seen]
    batches = [i for i, (m, p) in enumerate(seen) if m == "POST" and p.endswith("/batch")]
    puts = [i for i, (m, _p) in enumerate(seen) if m == "PUT"]
    assert len(batches) == 2 and len({seen[i] for i in puts}) == 150
    assert puts[0] < batches[1]  # uploads began before the second batch was asked
    (src / "new.bin").write_bytes(b"one more\n" * 50)
    git(src, "add", "new.bin")
    git(src, "commit", "-qm", "more")
    out = archives(src, "push").stdout.decode()
    assert "1 object(s) uploaded" in out and "150 already there" in out, out


def test_pre_commit_asks_the_lfs_server_about_staged_pointers(
        tmp_path: Path, giftless: Giftless) -> None:
    src = make_repo(tmp_path / "src", giftless.url("org", "precommit"), FILES)
    archives(src, "push")
    drop_cache(src)
    pointer = git(src, "show", "HEAD:a.bin").stdout  # content only on the server
    (src / "copy.bin").write_bytes(pointer)
    git(src, "add", "copy.bin")
    git(src, "commit", "-qm", "a pointer whose content is on the LFS server")
    lost = pointer.replace(oid(FILES["a.bin"]).encode(), oid(b"nowhere").encode())
    (src / "lost.bin").write_bytes(lost)
    git(src, "add", "lost.bin")
    proc = git(src, "commit", "-qm", "content nowhere", check=False)
    assert proc.returncode != 0
    assert "data remote 'lfs'" in proc.stderr.decode()


def test_a_push_whose_first_batch_fails_asks_it_no_more(
        tmp_path: Path, lfs_proxy: LfsFaultProxy, isolated_home: Path) -> None:
    """The first upload batch is asked before the uploads start; when it still fails after
    its retries, every upload fails with its error at once: no thread asks again."""
    git(isolated_home, "config", "--global", "lfs.transfer.maxretries", "3")
    lfs_proxy.add(status_fault(500, headers=[("Retry-After", "0")]), count=50,
                  path_part="/objects/batch")
    src = make_repo(tmp_path / "src", f"{lfs_proxy.url}/org/down.git/info/lfs", FILES)
    proc = archives(src, "push", check=False)
    assert proc.returncode != 0
    assert "answered 500" in output(proc), output(proc)
    batches = [p for m, p, _ in lfs_proxy.seen if m == "POST" and p.endswith("/objects/batch")]
    assert len(batches) == 3  # one batch, retried: not one per object or thread
    assert not [m for m, _p, _ in lfs_proxy.seen if m == "PUT"]


def test_the_thread_count_is_the_users_only_when_lfs_concurrenttransfers_is_set(
        tmp_path: Path, lfs_proxy: LfsFaultProxy) -> None:
    """Unset, git-lfs's default (8) is a bound the transfers may adapt below (as for every
    remote whose ``jobs`` nobody set); set, it is used as given."""
    from gitext.remotes import open_lfs_remote
    from gitext.sync.transfer import transfer_jobs

    src = make_repo(tmp_path / "src", f"{lfs_proxy.url}/org/jobs.git/info/lfs", FILES)
    remote = open_lfs_remote(src)
    assert remote is not None
    assert (remote.jobs, transfer_jobs(remote, None)) == (None, 8)
    remote.close()
    git(src, "config", "lfs.concurrenttransfers", "3")
    remote = open_lfs_remote(src)
    assert remote is not None
    assert (remote.jobs, transfer_jobs(remote, None)) == (3, 3)
    remote.close()
