"""An ``ssh://`` data remote end to end, through the console script and real git, against a
real OpenSSH sshd on loopback: git push, clone + checkout, pull, fetch, remote status,
gc --remote, corrupt objects, a server that dies mid-transfer, and the bad input of issue 12.
The backend's own cases are in test_ssh_backend.py."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.s3 import cache_objects, drop_cache, make_data_repo, push_and_fetch_back
from tests.helpers.sshd_server import HOST, Sshd, TcpProxy, trust_host

PASSPHRASE = "pass-phrase-never-printed-0815"


@pytest.fixture
def home(sshd: Sshd, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's HOME trusts the server and names the key for remote 'storage' (global
    config, so that a clone's filter has it too); no agent."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    for port in (sshd.port, sshd.ro_port):
        trust_host(isolated_home, port, sshd.host_key_line)
    git(isolated_home, "config", "--global", "archives.remote.storage.keyfile",
        str(sshd.user_key))
    return isolated_home


def _files() -> dict[str, bytes]:
    return {f"data/f{i}.bin": os.urandom(20_000 + i) for i in range(3)} | {
        "big.bin": os.urandom(1_500_000)}


def _set_remote(repo: Path, url: str, *, name: str = "storage", commit: bool = True) -> None:
    cfg = repo / ".archives" / "config"
    cfg.parent.mkdir(exist_ok=True)
    git(repo, "config", "-f", str(cfg), f"remote.{name}.url", url)
    git(repo, "config", "-f", str(cfg), "core.remote", name)
    # The user confirms the host (globally: clones in this HOME too), as a committed ssh://
    # URL alone is refused (docs/remotes.md, trust).
    git(repo, "config", "--global", f"archives.remote.{name}.url", url)
    if commit:
        git(repo, "add", ".archives")
        git(repo, "commit", "-qm", "data remote")


def _key(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"files/sha256/{digest[:2]}/{digest[2:]}"


def _objects(store: Path) -> set[str]:
    return {p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()}


def _clone(tmp_path: Path, origin: Path, name: str = "clone") -> Path:
    clone = tmp_path / name
    git(tmp_path, "clone", "-q", "--no-checkout", os.fspath(origin), os.fspath(clone))
    archives(clone, "install")
    return clone


@contextlib.contextmanager
def _through_proxy(sshd: Sshd, home: Path, tmp_path: Path
                   ) -> Iterator[tuple[TcpProxy, Path, dict[str, bytes], Path, str]]:
    """(proxy, repo, files, store, url): a data repository whose remote 'storage' reaches
    the server through a :class:`TcpProxy` (a host this HOME trusts); the proxy is closed
    after."""
    proxy = TcpProxy(sshd.port).start()
    try:
        trust_host(home, proxy.port, sshd.host_key_line)
        files = _files()
        repo = make_data_repo(tmp_path / "r", files, chunking="off")
        store = sshd.store(tmp_path.name)
        url = f"ssh://{sshd.user}@{HOST}:{proxy.port}{store}"
        _set_remote(repo, url)
        yield proxy, repo, files, store, url
    finally:
        proxy.close()


def test_git_push_uploads_and_a_fresh_clone_checks_out_identical_files(
        sshd: Sshd, home: Path, tmp_path: Path) -> None:
    files = _files()
    repo = make_data_repo(tmp_path / "r", files, chunking="off")
    store = sshd.store(tmp_path.name)
    _set_remote(repo, sshd.url(store))
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    git(repo, "remote", "add", "origin", os.fspath(origin))
    git(repo, "push", "-q", "origin", "main")  # the pre-push hook uploads
    assert _objects(store) == {_key(d) for d in files.values()}
    clone = _clone(tmp_path, origin)
    git(clone, "checkout", "-q", "main")
    for name, data in files.items():
        assert (clone / name).read_bytes() == data
    assert git(clone, "status", "--porcelain").stdout == b""


def test_fetch_pull_and_remote_status(sshd: Sshd, home: Path, tmp_path: Path) -> None:
    files = _files()
    repo = make_data_repo(tmp_path / "r", files, chunking="off")
    _set_remote(repo, sshd.url(sshd.store(tmp_path.name)))
    push_and_fetch_back(repo, 4)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(repo), os.fspath(clone),
        env={**os.environ, "GIT_ARCHIVES_SKIP_SMUDGE": "1"})
    archives(clone, "install")
    archives(clone, "pull")
    for name, data in files.items():
        assert (clone / name).read_bytes() == data


def test_gc_on_the_remote_keeps_what_history_needs(sshd: Sshd, home: Path,
                                                   tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"v1" * 5000}, chunking="off")
    store = sshd.store(tmp_path.name)
    _set_remote(repo, sshd.url(store))
    (repo / "a.bin").write_bytes(b"v2" * 5000)
    git(repo, "commit", "-qam", "v2")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", os.fspath(tmp_path / "origin.git"))
    git(repo, "push", "-q", "origin", "main")  # (unpushed commits' objects are kept)
    archives(repo, "push", "--all-commits")
    stray = sshd.directory / "stray"
    stray.write_bytes(b"nobody needs me")
    (store / _key(b"nobody needs me")).parent.mkdir(parents=True, exist_ok=True)
    os.replace(stray, store / _key(b"nobody needs me"))
    out = archives(repo, "gc", "--all-commits", "--remote", "--yes", "--expire", "now"
                   ).stdout.decode()
    assert "removed 1 object(s)" in out
    assert _objects(store) == {_key(b"v1" * 5000), _key(b"v2" * 5000)}
    archives(repo, "gc", "--workspace", "--remote", "--yes", "--expire", "now")
    assert _objects(store) == {_key(b"v2" * 5000)}  # only in history: --workspace drops it


def test_a_corrupt_remote_object_is_refused_and_nothing_enters_the_cache(
        sshd: Sshd, home: Path, tmp_path: Path) -> None:
    files = _files()
    repo = make_data_repo(tmp_path / "r", files, chunking="off")
    store = sshd.store(tmp_path.name)
    _set_remote(repo, sshd.url(store))
    archives(repo, "push")
    bad = store / _key(files["data/f0.bin"])
    bad.write_bytes(b"not the content" + files["data/f0.bin"][15:])
    drop_cache(repo)
    proc = archives(repo, "fetch", check=False)
    assert proc.returncode == 1
    assert b"1 refused as corrupt" in proc.stdout
    assert hashlib.sha256(files["data/f0.bin"]).hexdigest().encode() in proc.stderr
    assert _key(files["data/f0.bin"]) not in cache_objects(repo)
    assert len(cache_objects(repo)) == 3
    assert not list((repo / ".git" / "archives" / "tmp").rglob("*.*"))


def test_a_connection_cut_mid_push_is_retried_and_leaves_nothing_partial(
        sshd: Sshd, home: Path, tmp_path: Path) -> None:
    with _through_proxy(sshd, home, tmp_path) as (proxy, repo, files, store, _url):
        proxy.cut_live_after(600_000)  # inside the 1.5 MB object's upload
        out = archives(repo, "push").stdout.decode()
        assert "4 object(s) uploaded" in out and proxy.cuts == 1
        assert _objects(store) == {_key(d) for d in files.values()}  # no temp file either
        for data in files.values():
            assert (store / _key(data)).read_bytes() == data


def test_a_server_that_dies_mid_transfer_fails_cleanly_and_the_next_run_completes(
        sshd: Sshd, home: Path, tmp_path: Path) -> None:
    with _through_proxy(sshd, home, tmp_path) as (proxy, repo, files, _store, _url):
        archives(repo, "push")
        drop_cache(repo)
        # mid-download of the big object, and it does not come back
        proxy.cut_live_after(700_000, downstream=True, then_down=True)
        proc = archives(repo, "fetch", check=False)
        assert proc.returncode == 1 and proxy.cuts == 1
        err = proc.stderr.decode()
        assert f"cannot reach {HOST}:{proxy.port}" in err
        assert len(err.strip().splitlines()) <= 3  # the error and its hint (and no trace)
        assert _key(files["big.bin"]) not in cache_objects(repo)
        assert not [p for p in (repo / ".git" / "archives" / "tmp").rglob("*") if p.is_file()]
        proxy.down = False
        assert "downloaded" in archives(repo, "fetch").stdout.decode()
        assert len(cache_objects(repo)) == 4


def test_a_cloned_repositorys_ssh_host_gets_no_connection_until_the_user_confirms_it(
        sshd: Sshd, home: Path, tmp_path: Path) -> None:
    """The attack: a repository commits an ssh:// URL; cloning and pulling it must not make
    our ssh client (with the user's keys and agent) connect there on the repository's word."""
    # (the proxy's host is even one the user trusts)
    with _through_proxy(sshd, home, tmp_path) as (proxy, repo, files, _store, url):
        archives(repo, "push")
        git(repo, "config", "--global", "--unset", "archives.remote.storage.url")
        seen = proxy.accepted
        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", os.fspath(repo), os.fspath(clone))  # smudge: no remote
        archives(clone, "install")
        proc = archives(clone, "pull", check=False)
        assert proc.returncode != 0 and proxy.accepted == seen  # no connection at all
        assert f"git archives remote modify --local storage url {url}" in proc.stderr.decode()
        archives(clone, "remote", "modify", "--local", "storage", "url", url)
        archives(clone, "pull")
        assert proxy.accepted > seen
        for name, data in files.items():
            assert (clone / name).read_bytes() == data


# -- bad input: one clear line, non-zero exit, no secret --------------------------------------

def _one_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.startswith("git-archives: ")]) == 1, err
    return err


def test_a_key_the_server_refuses_is_named_without_its_passphrase(
        sshd: Sshd, home: Path, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-f",
                    str(tmp_path / "stranger")], check=True)
    repo = make_data_repo(tmp_path / "r", _files(), chunking="off")
    _set_remote(repo, sshd.url(sshd.store(tmp_path.name)))
    git(repo, "config", "archives.remote.storage.keyfile", str(tmp_path / "stranger"))
    git(repo, "config", "archives.remote.storage.passphrase", PASSPHRASE)
    proc = archives(repo, "push", check=False)
    err = _one_error(proc)
    assert f"refused the login for user {sshd.user}" in err
    listing = archives(repo, "remote", "list", "-v").stdout
    assert PASSPHRASE.encode() not in proc.stdout + proc.stderr + listing


def test_an_unknown_host_says_which_ssh_keyscan_to_run(sshd: Sshd, home: Path,
                                                       tmp_path: Path) -> None:
    (home / ".ssh" / "known_hosts").unlink()
    repo = make_data_repo(tmp_path / "r", _files(), chunking="off")
    store = sshd.store(tmp_path.name)
    _set_remote(repo, sshd.url(store))
    err = _one_error(archives(repo, "push", check=False))
    assert f"the host key of [{HOST}]:{sshd.port} is unknown" in err
    assert f"ssh-keyscan -p {sshd.port} {HOST} >> ~/.ssh/known_hosts" in err
    assert _objects(store) == set()


def test_permission_denied_on_the_server_is_one_line(sshd: Sshd, home: Path,
                                                     tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", _files(), chunking="off")
    store = sshd.store(tmp_path.name)
    _set_remote(repo, sshd.url(store, port=sshd.ro_port))
    err = _one_error(archives(repo, "push", check=False))
    assert "permission denied while trying to upload" in err
    assert _objects(store) == set()


def test_a_missing_remote_folder_says_how_to_create_it(sshd: Sshd, home: Path,
                                                       tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", _files(), chunking="off")
    missing = sshd.directory / "stores" / "absent" / "deeper"
    _set_remote(repo, sshd.url(missing))
    err = _one_error(archives(repo, "push", check=False))
    assert f"the remote folder {missing} does not exist on {HOST}:{sshd.port}" in err
    assert f"mkdir -p -- {missing}" in err


def test_a_host_that_is_down_is_one_line(home: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    repo = make_data_repo(tmp_path / "r", _files(), chunking="off")
    _set_remote(repo, f"ssh://{HOST}:{port}/srv/store")
    err = _one_error(archives(repo, "push", check=False))
    assert f"cannot reach {HOST}:{port}" in err


def test_a_url_with_a_password_is_refused_and_not_echoed(repo: Path) -> None:
    proc = archives(repo, "remote", "add", "lab", "ssh://me:hunter2@lab/srv/store",
                    check=False)
    assert proc.returncode == 2
    assert b"hunter2" not in proc.stdout + proc.stderr
    assert not (repo / ".archives" / "config").exists()


@pytest.mark.slow
def test_a_dvc_ssh_remote_is_usable_as_it_is(sshd: Sshd, home: Path, tmp_path: Path,
                                             dvc_exe: Path) -> None:
    """DVC (with dvc-ssh) pushes to the server; a clone pulls it with git-archives from the
    remote DVC's config names."""
    from tests.helpers.peers import dvc_plugin, run_dvc

    dvc_plugin(dvc_exe, "dvc_ssh", "dvc-ssh")
    store = sshd.store(tmp_path.name)
    url = sshd.url(store)
    alice = tmp_path / "alice"
    alice.mkdir()
    git(alice, "init", "-q", "-b", "main")
    run_dvc(dvc_exe, alice, "init", "-q")
    run_dvc(dvc_exe, alice, "remote", "add", "-d", "storage", url)
    run_dvc(dvc_exe, alice, "remote", "modify", "--local", "storage", "keyfile",
            str(sshd.user_key))
    data = os.urandom(300_000)
    (alice / "data.bin").write_bytes(data)
    run_dvc(dvc_exe, alice, "add", "-q", "data.bin")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "dvc add")
    run_dvc(dvc_exe, alice, "push", "-q")
    assert all(p.startswith("files/md5/") for p in _objects(store))
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", os.fspath(alice), os.fspath(bob))
    archives(bob, "install")
    archives(bob, "remote", "modify", "--local", "storage", "url", url)  # Bob trusts the host
    archives(bob, "pull")  # (its key: Bob's global config, the fixture's)
    assert (bob / "data.bin").read_bytes() == data
