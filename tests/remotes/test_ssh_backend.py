"""The SSH/SFTP backend against a real OpenSSH sshd on loopback (tests/helpers/sshd_server):
the Backend interface, host keys, logins, permissions, and connections cut mid-transfer."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gitext.errors import ConfigError, ObjectMissingError
from gitext.remotes.backend import RemoteRefusedError
from gitext.remotes.ssh import SshBackend
from gitext.remotes.sshsupport import parse_url
from tests.helpers.sshd_server import HOST, Sshd, TcpProxy, trust_host

PASSPHRASE = "pass-phrase-never-printed-4711"


@pytest.fixture
def trusted(sshd: Sshd, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's HOME knows the server's host key (both ports); no agent."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    trust_host(isolated_home, sshd.port, sshd.host_key_line)
    return trust_host(isolated_home, sshd.ro_port, sshd.host_key_line)


@pytest.fixture
def backend(sshd: Sshd, trusted: Path, tmp_path: Path) -> Iterator[SshBackend]:
    b = SshBackend.from_url(sshd.url(sshd.store(tmp_path.name)),
                            {"keyfile": str(sshd.user_key)})
    yield b
    b.close()


def _key(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"files/sha256/{digest[:2]}/{digest[2:]}"


def _src(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / f"src-{hashlib.md5(data).hexdigest()}"
    p.write_bytes(data)
    return p


def _on_server(b: SshBackend) -> set[str]:
    root = Path(b.root)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_objects_go_up_and_come_back_through_every_method(backend: SshBackend,
                                                          tmp_path: Path) -> None:
    stored = {}
    for i in range(12):
        data = os.urandom(5_000 + i)
        while _key(data).startswith("files/sha256/ab/"):  # that folder is the crowded one's
            data = os.urandom(5_000 + i)
        backend.put(_key(data), _src(tmp_path, data), len(data))
        stored[_key(data)] = data
    crowded = [f"files/sha256/ab/{i:062x}" for i in range(10)]  # one folder: listed
    for key in crowded[:9]:
        backend.put(key, _src(tmp_path, key.encode()), len(key))
    absent = [_key(f"absent {i}".encode()) for i in range(3)]
    assert backend.exists_many([*stored, *crowded, *absent]) == set(stored) | set(crowded[:9])
    assert backend.exists_many([]) == set()
    listing = dict(backend.list("files/"))
    assert listing == {**{k: len(v) for k, v in stored.items()},
                       **{k: len(k) for k in crowded[:9]}}
    assert {k for k, _s, _w in backend.list_times("files/sha256/ab")} == set(crowded[:9])
    key, data = next(iter(stored.items()))
    assert backend.get(key, tmp_path / "out") == len(data)
    assert (tmp_path / "out").read_bytes() == data
    # with the size a pointer gives: no stat; one byte more is read, so an object longer
    # than its pointer says comes back longer (and fails verification)
    assert backend.get(key, tmp_path / "known", size=len(data)) == len(data)
    assert (tmp_path / "known").read_bytes() == data
    assert backend.get(key, tmp_path / "short", size=len(data) - 10) == len(data) - 9
    buf = io.BytesIO(b"stale")
    assert backend.get(key, buf) == len(data) and buf.getvalue() == data
    backend.delete(key)
    backend.delete(key)
    assert backend.exists_many([key]) == set()
    with pytest.raises(ObjectMissingError):
        backend.get(key, tmp_path / "gone")
    assert not any(".tmp-" in name for name in _on_server(backend))  # renamed into place


def test_a_small_object_of_known_size_takes_one_read_request(
        backend: SshBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """W12SSH: asyncssh's reader follows an answer shorter than asked (the one byte more)
    with a second request to see the end; a small object is read in one request, and an
    object longer than its pointer says still comes back longer."""
    import asyncssh.sftp

    reads: list[int] = []
    real = asyncssh.sftp.SFTPClientHandler.read

    async def counted(self: object, handle: bytes, offset: int, length: int) -> object:
        reads.append(length)
        return await real(self, handle, offset, length)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncssh.sftp.SFTPClientHandler, "read", counted)
    data = os.urandom(200_000)
    backend.put(_key(data), _src(tmp_path, data), len(data))
    assert backend.get(_key(data), tmp_path / "one", size=len(data)) == len(data)
    assert (tmp_path / "one").read_bytes() == data
    assert reads == [len(data) + 1]
    reads.clear()
    assert backend.get(_key(data), tmp_path / "longer", size=1000) == 1001
    assert reads == [1001]


def test_a_large_object_is_read_in_ranges_and_progress_adds_up(backend: SshBackend,
                                                               tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    import gitext.remotes.ssh as ssh

    monkeypatch.setattr(ssh, "RANGED_AT", 1 << 20)
    monkeypatch.setattr(ssh, "RANGE_CHUNK", 300_000)
    data = os.urandom(3 * 1024 * 1024 + 17)
    up: list[int] = []
    down: list[int] = []
    backend.put(_key(data), _src(tmp_path, data), len(data), up.append)
    assert backend.get(_key(data), tmp_path / "out", down.append, size=len(data)) == len(data)
    assert (tmp_path / "out").read_bytes() == data
    assert sum(up) == sum(down) == len(data)
    assert len(down) > 4  # several ranges, several chunks each


def test_an_unknown_host_key_stops_before_login_and_says_what_to_run(
        sshd: Sshd, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    b = SshBackend.from_url(sshd.url(sshd.store(tmp_path.name)), {"keyfile": str(sshd.user_key)})
    with pytest.raises(RemoteRefusedError) as err:
        b.exists_many([_key(b"x")])
    b.close()
    assert str(err.value) == (f"the host key of [{HOST}]:{sshd.port} is unknown (not in "
                              "~/.ssh/known_hosts); nothing was sent")
    assert err.value.hint is not None
    assert err.value.hint.endswith(f"ssh-keyscan -p {sshd.port} {HOST} >> ~/.ssh/known_hosts")
    # and what it suggests is what trusts it
    scan = subprocess.run(["ssh-keyscan", "-p", str(sshd.port), HOST], capture_output=True,
                          check=True).stdout
    (isolated_home / ".ssh").mkdir(exist_ok=True)
    (isolated_home / ".ssh" / "known_hosts").write_bytes(scan)
    b = SshBackend.from_url(b.url, {"keyfile": str(sshd.user_key)})
    assert b.exists_many([_key(b"x")]) == set()
    b.close()


def test_a_changed_host_key_is_called_out(sshd: Sshd, isolated_home: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True)
    other = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    trust_host(isolated_home, sshd.port, other)
    b = SshBackend.from_url(sshd.url(sshd.store(tmp_path.name)), {"keyfile": str(sshd.user_key)})
    with pytest.raises(RemoteRefusedError, match="does NOT match") as err:
        b.exists_many([_key(b"x")])
    b.close()
    assert err.value.hint is not None
    assert f"ssh-keygen -R '[{HOST}]:{sshd.port}' && ssh-keyscan" in err.value.hint


def test_a_key_the_server_does_not_accept_is_one_clear_error(sshd: Sshd, trusted: Path,
                                                             tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-f",
                    str(tmp_path / "stranger")], check=True)
    b = SshBackend.from_url(sshd.url(sshd.store(tmp_path.name)),
                            {"keyfile": str(tmp_path / "stranger"), "passphrase": PASSPHRASE})
    with pytest.raises(RemoteRefusedError) as err:
        b.exists_many([_key(b"x")])
    b.close()
    assert str(err.value) == (f"{HOST}:{sshd.port} refused the login for user {sshd.user} "
                              "(no key, agent identity or password it accepts)")
    assert PASSPHRASE not in f"{err.value} {err.value.hint} {b!r}"


def test_a_passphrase_protected_key_needs_its_passphrase(sshd: Sshd, trusted: Path,
                                                         tmp_path: Path) -> None:
    key = tmp_path / "locked"
    shutil.copyfile(sshd.user_key, key)
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", PASSPHRASE, "-f", str(key)], check=True)
    url = sshd.url(sshd.store(tmp_path.name))
    b = SshBackend.from_url(url, {"keyfile": str(key)})
    with pytest.raises(RemoteRefusedError, match="cannot be used: Passphrase must be specified"):
        b.exists_many([_key(b"x")])
    b.close()
    b = SshBackend.from_url(url, {"keyfile": str(key), "passphrase": PASSPHRASE})
    assert b.exists_many([_key(b"x")]) == set()
    b.close()


def test_the_agent_is_used_unless_allowagent_is_off(sshd: Sshd, trusted: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            threading.Event().wait(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        subprocess.run(["ssh-add", "-q", str(sshd.user_key)], check=True, capture_output=True)
        url = sshd.url(sshd.store(tmp_path.name))
        b = SshBackend.from_url(url, {})  # no keyfile: the agent's identity logs in
        assert b.exists_many([_key(b"x")]) == set()
        b.close()
        b = SshBackend.from_url(url, {"allowagent": "false"})
        with pytest.raises(RemoteRefusedError, match="refused the login"):
            b.exists_many([_key(b"x")])
        b.close()
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_a_host_alias_from_ssh_config_is_followed(sshd: Sshd, trusted: Path,
                                                  isolated_home: Path, tmp_path: Path) -> None:
    (isolated_home / ".ssh" / "config").write_text(
        f"Host lab\n  HostName {HOST}\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.user_key}\n", encoding="utf-8")
    store = sshd.store(tmp_path.name)
    b = SshBackend.from_url(f"ssh://lab{store}", {})
    data = b"through the alias"
    b.put(_key(data), _src(tmp_path, data), len(data))
    b.close()
    assert (store / _key(data)).read_bytes() == data


def test_permission_denied_on_the_server_is_one_clear_error(sshd: Sshd, trusted: Path,
                                                            tmp_path: Path) -> None:
    store = sshd.store(tmp_path.name)
    b = SshBackend.from_url(sshd.url(store, port=sshd.ro_port), {"keyfile": str(sshd.user_key)})
    data = b"read-only server"
    assert b.exists_many([_key(data)]) == set()  # reading is allowed
    with pytest.raises(RemoteRefusedError) as err:
        b.put(_key(data), _src(tmp_path, data), len(data))
    b.close()
    assert str(err.value).startswith(f"{HOST}:{sshd.ro_port}: permission denied while trying "
                                     "to upload")
    assert list(store.iterdir()) == []


def test_a_missing_remote_folder_is_made_only_if_its_parent_exists(sshd: Sshd, trusted: Path,
                                                                   tmp_path: Path) -> None:
    base = sshd.store(tmp_path.name)
    b = SshBackend.from_url(sshd.url(base / "new"), {"keyfile": str(sshd.user_key)})
    assert b.exists_many([_key(b"x")]) == set()
    b.close()
    assert (base / "new").is_dir()
    b = SshBackend.from_url(sshd.url(base / "no" / "such"), {"keyfile": str(sshd.user_key)})
    with pytest.raises(RemoteRefusedError) as err:
        b.exists_many([_key(b"x")])
    b.close()
    assert str(err.value) == (f"the remote folder {base}/no/such does not exist on "
                              f"{HOST}:{sshd.port}")
    assert f"mkdir -p -- {base}/no/such" in (err.value.hint or "")


def test_a_host_that_is_down_or_silent_is_one_clear_error(trusted: Path,
                                                           tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    b = SshBackend.from_url(f"ssh://{HOST}:{port}/srv/x", {})
    with pytest.raises(RemoteRefusedError, match=f"cannot reach {HOST}:{port} for"):
        b.exists_many([_key(b"x")])
    b.close()
    with socket.socket() as silent:  # accepts, never says a word: the timeout
        silent.bind((HOST, 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        b = SshBackend.from_url(f"ssh://{HOST}:{port}/srv/x", {"timeout": "1"})
        started = time.monotonic()

        def get(i: int) -> BaseException | None:
            try:
                b.get(_key(bytes([i])), tmp_path / f"o{i}")
            except RemoteRefusedError as exc:
                return exc
            return None

        with ThreadPoolExecutor(6) as pool:  # as a fetch's workers would
            errors = list(pool.map(get, range(6)))
        b.close()
        assert all(e is not None and "cannot reach" in str(e) and "Timeout" in str(e)
                   for e in errors)
        assert time.monotonic() - started < 3.5  # one timeout, not one per worker
        assert not list(tmp_path.glob("o*"))


def test_a_connection_cut_mid_upload_leaves_no_partial_object_and_the_retry_succeeds(
        sshd: Sshd, trusted: Path, isolated_home: Path, tmp_path: Path) -> None:
    proxy = TcpProxy(sshd.port).start()
    trust_host(isolated_home, proxy.port, sshd.host_key_line)
    store = sshd.store(tmp_path.name)
    b = SshBackend.from_url(f"ssh://{sshd.user}@{HOST}:{proxy.port}{store}",
                            {"keyfile": str(sshd.user_key)})
    try:
        assert b.exists_many([_key(b"warm-up")]) == set()
        first = b._session
        data = os.urandom(3 * 1024 * 1024)
        proxy.cut_live_after(1024 * 1024)  # the open connection dies 1 MiB into the upload
        b.put(_key(data), _src(tmp_path, data), len(data))
        assert proxy.cuts == 1 and b._session is not first  # reconnected, then retried
        assert (store / _key(data)).read_bytes() == data
        assert not [p for p in store.rglob("*") if ".tmp-" in p.name]  # the orphan is gone
    finally:
        b.close()
        proxy.close()


def test_a_connection_cut_mid_download_is_retried_with_correct_bytes(
        sshd: Sshd, trusted: Path, isolated_home: Path, tmp_path: Path) -> None:
    proxy = TcpProxy(sshd.port).start()
    trust_host(isolated_home, proxy.port, sshd.host_key_line)
    store = sshd.store(tmp_path.name)
    data = os.urandom(2 * 1024 * 1024)
    (store / "files" / "sha256" / _key(data).split("/")[2]).mkdir(parents=True)
    (store / _key(data)).write_bytes(data)
    b = SshBackend.from_url(f"ssh://{sshd.user}@{HOST}:{proxy.port}{store}",
                            {"keyfile": str(sshd.user_key)})
    try:
        assert b.exists_many([_key(data)]) == {_key(data)}
        proxy.cut_live_after(20_000, downstream=True)
        moved: list[int] = []
        assert b.get(_key(data), tmp_path / "out", moved.append) == len(data)
        assert proxy.cuts == 1
        assert (tmp_path / "out").read_bytes() == data and sum(moved) == len(data)
    finally:
        b.close()
        proxy.close()


@pytest.mark.parametrize(("url", "message"), [
    ("ssh://me:hunter2@host/srv", "carries a password"),
    ("ssh://host", "needs a host and an absolute folder"),
    ("ssh://host/", "needs a host and an absolute folder"),
    ("ssh://host:99999/srv", "invalid port"),
])
def test_bad_urls_are_refused_without_echoing_a_password(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_url(url)
    assert "hunter2" not in f"{err.value} {err.value.hint}"


def test_url_and_options_resolve_user_port_and_path() -> None:
    assert parse_url("ssh://me@lab:2222/srv/a%20b/") == ("lab", 2222, "me", "/srv/a b")
    b = SshBackend.from_url("ssh://me@lab:2222/srv/x", {"user": "you", "port": "2200"})
    assert (b.user, b.port, b.root) == ("you", 2200, "/srv/x")
    with pytest.raises(ConfigError, match=r"port = 22\.5 is not a port number"):
        SshBackend.from_url("ssh://lab/srv", {"port": "22.5"})
    with pytest.raises(ConfigError, match="timeout = 'soon' is not a number of seconds"):
        SshBackend.from_url("ssh://lab/srv", {"timeout": "soon"})
    with pytest.raises(ConfigError, match="allowagent = 'maybe' is not a boolean"):
        SshBackend.from_url("ssh://lab/srv", {"allowagent": "maybe"})


def test_the_agent_is_never_forwarded_and_known_hosts_cannot_be_switched_off(
        sshd: Sshd, trusted: Path, isolated_home: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    log = sshd.directory / "sshd.log"
    try:
        for _ in range(100):
            if sock.exists():
                break
            threading.Event().wait(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        (isolated_home / ".ssh" / "config").write_text(
            "Host *\n  ForwardAgent yes\n", encoding="utf-8")
        store = sshd.store(tmp_path.name)
        seen = len(log.read_bytes())
        b = SshBackend.from_url(sshd.url(store), {"keyfile": str(sshd.user_key)})
        assert b.exists_many([_key(b"x")]) == set()
        b.close()
        ours = log.read_bytes()[seen:]
        assert b"req subsystem" in ours and b"auth-agent-req" not in ours
        # the control: a client that does forward is seen doing it
        import asyncio

        import asyncssh

        async def forwarding() -> None:
            async with asyncssh.connect(HOST, sshd.port, username=sshd.user,
                                        client_keys=[str(sshd.user_key)],
                                        agent_forwarding=True) as conn:
                async with conn.start_sftp_client() as sftp:
                    await sftp.listdir(str(store))

        seen = len(log.read_bytes())
        asyncio.run(forwarding())
        for _ in range(50):
            if b"auth-agent-req" in log.read_bytes()[seen:]:
                break
            threading.Event().wait(0.1)
        assert b"auth-agent-req" in log.read_bytes()[seen:]
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    # 'UserKnownHostsFile none' in the user's config does not turn the check off
    (isolated_home / ".ssh" / "config").write_text(
        "Host *\n  UserKnownHostsFile none\n", encoding="utf-8")
    (isolated_home / ".ssh" / "known_hosts").unlink()
    b = SshBackend.from_url(sshd.url(store), {"keyfile": str(sshd.user_key)})
    with pytest.raises(RemoteRefusedError, match="is unknown"):
        b.exists_many([_key(b"x")])
    b.close()


def test_a_key_file_that_is_not_there_is_named(sshd: Sshd, trusted: Path,
                                               tmp_path: Path) -> None:
    b = SshBackend.from_url(sshd.url(sshd.store(tmp_path.name)),
                            {"keyfile": str(tmp_path / "nope")})
    with pytest.raises(RemoteRefusedError,
                       match=f"cannot read {tmp_path / 'nope'}: No such file or directory"):
        b.exists_many([_key(b"x")])
    b.close()
