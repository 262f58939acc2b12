"""An ``azure://`` remote through the real console script and real git, against Azurite:
git push (pre-push) uploads, a fresh clone checks out identical files, pull, fetch, remote
status, gc --remote, a corrupted remote object, an upload killed midway, a server that dies
mid-push, and the bad input of issue 12 as one clear line with no secret in any output."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import BIN_DIR, archives, git, serve_http
from tests.helpers.azurite_server import ACCOUNT_KEY, Azurite, start_azurite, stop_azurite
from tests.helpers.s3 import (
    FaultProxy,
    _make_handler,
    cache_objects,
    drop_cache,
    make_data_repo,
    push_and_fetch_back,
)

pytest.importorskip("azure.storage.blob", reason="the [azure] extra is not installed")
pytestmark = pytest.mark.usefixtures("no_azure_env")

POINTER_HEAD = b"version https://git-lfs.github.com/spec/v1"
CONN_ENV = "AZURE_STORAGE_CONNECTION_STRING"


def _key(data: bytes) -> str:
    d = hashlib.sha256(data).hexdigest()
    return f"files/sha256/{d[:2]}/{d[2:]}"


def _set_remote(repo: Path, container: str, **extra: str) -> None:
    """The committed remote: URL and tuning only (the connection string is the user's)."""
    cfg = repo / ".archives" / "config"
    cfg.parent.mkdir(exist_ok=True)
    for k, v in {"url": f"azure://{container}/proj", **extra}.items():
        git(repo, "config", "-f", str(cfg), f"remote.storage.{k}", v)
    git(repo, "config", "-f", str(cfg), "core.remote", "storage")
    git(repo, "add", ".archives")
    git(repo, "commit", "-qm", "data remote")


def _blobs(azurite: Azurite, container: str) -> dict[str, bytes]:
    """What a reader of the container sees: every committed blob under proj/."""
    c = azurite.service().get_container_client(container)
    return {b.name.removeprefix("proj/"): c.download_blob(b.name).readall()
            for b in c.list_blobs(name_starts_with="proj/")}


def _intact(blobs: dict[str, bytes]) -> None:
    for key, data in blobs.items():
        algo, ab, rest = key.split("/")[1:]
        assert hashlib.new(algo, data).hexdigest() == ab + rest, key


def _published(tmp_path: Path, azurite: Azurite, container: str, files: dict[str, bytes],
               **extra: str) -> tuple[Path, Path]:
    repo = make_data_repo(tmp_path / "r", files, chunking="off")
    _set_remote(repo, container, **extra)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    git(repo, "remote", "add", "origin", os.fspath(origin))
    git(repo, "push", "-q", "origin", "main")
    return repo, origin


def test_git_push_uploads_and_a_fresh_clone_checks_out_identical_files(
        tmp_path: Path, azurite: Azurite, az_container: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, azurite.connection_string())
    files = {f"d/f{i}.bin": os.urandom(20_000 + i) for i in range(6)}
    files["big.bin"] = os.urandom(3 * 1024 * 1024)
    _repo, origin = _published(tmp_path, azurite, az_container, files,
                               multipartthreshold="1mib", multipartchunksize="1mib")
    blobs = _blobs(azurite, az_container)
    assert set(blobs) == {_key(d) for d in files.values()}
    _intact(blobs)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", os.fspath(origin), os.fspath(clone))
    archives(clone, "install")
    git(clone, "checkout", "-q", "main")
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    assert git(clone, "status", "--porcelain").stdout == b""


def test_pull_fetch_and_remote_status_with_a_local_connection_string(
        tmp_path: Path, azurite: Azurite, az_container: str) -> None:
    files = {f"d/f{i}.bin": os.urandom(10_000 + i) for i in range(3)}
    repo = make_data_repo(tmp_path / "r", files, chunking="off")
    _set_remote(repo, az_container)
    conn = azurite.connection_string()
    archives(repo, "remote", "modify", "--local", "storage", "connectionstring", conn)
    push_and_fetch_back(repo, 3)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(repo), os.fspath(clone))
    assert (clone / "d/f0.bin").read_bytes().startswith(POINTER_HEAD)  # no filter yet
    archives(clone, "install")
    archives(clone, "remote", "modify", "--local", "storage", "connectionstring", conn)
    assert "3 object(s) downloaded" in archives(clone, "pull").stdout.decode()
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    listed = archives(repo, "remote", "list", "-v").stdout.decode()
    assert "azure://" in listed and ACCOUNT_KEY not in listed


def test_gc_on_the_remote_keeps_what_history_needs(tmp_path: Path, azurite: Azurite,
                                                   az_container: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, azurite.connection_string())
    old, new = os.urandom(5000), os.urandom(5000)
    repo = make_data_repo(tmp_path / "r", {"a.bin": old}, chunking="off")
    _set_remote(repo, az_container)
    (repo / "a.bin").write_bytes(new)
    git(repo, "commit", "-qam", "v2")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    git(repo, "remote", "add", "origin", os.fspath(origin))
    git(repo, "push", "-q", "origin", "main")  # both versions go up (pre-push)
    stray = os.urandom(100)
    azurite.service().get_blob_client(az_container, f"proj/{_key(stray)}").upload_blob(stray)
    out = archives(repo, "gc", "--all-commits", "--remote", "--yes", "--expire", "now"
                   ).stdout.decode()
    assert "removed 1 object(s)" in out
    assert set(_blobs(azurite, az_container)) == {_key(old), _key(new)}
    out = archives(repo, "gc", "--workspace", "--remote", "--yes", "--expire", "now"
                   ).stdout.decode()
    assert "removed 1 object(s)" in out  # the old version, pushed and only in history
    assert set(_blobs(azurite, az_container)) == {_key(new)}


def test_a_corrupted_remote_object_is_refused_and_nothing_enters_the_cache(
        tmp_path: Path, azurite: Azurite, az_container: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, azurite.connection_string())
    files = {"a.bin": os.urandom(5000), "b.bin": os.urandom(5000)}
    repo = make_data_repo(tmp_path / "r", files, chunking="off")
    _set_remote(repo, az_container)
    archives(repo, "push")
    bad = _key(files["a.bin"])
    azurite.service().get_blob_client(az_container, f"proj/{bad}").upload_blob(
        b"not the content", overwrite=True)
    drop_cache(repo)
    proc = archives(repo, "fetch", check=False)
    assert proc.returncode == 1
    assert b"1 refused as corrupt" in proc.stdout
    digest = hashlib.sha256(files["a.bin"]).hexdigest()
    assert f"remote object sha256:{digest} does not match its id".encode() in proc.stderr
    assert cache_objects(repo) == {_key(files["b.bin"])}
    assert not list((repo / ".git" / "archives" / "tmp").iterdir())


def test_a_push_killed_midway_leaves_no_partial_object_and_the_next_one_completes(
        tmp_path: Path, azurite: Azurite, az_container: str, az_proxy: FaultProxy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, azurite.connection_string(f"{az_proxy.url}/devstoreaccount1"))
    files = {"big.bin": os.urandom(6 * 1024 * 1024), "small.bin": os.urandom(3000)}
    repo = make_data_repo(tmp_path / "r", files, chunking="off")
    _set_remote(repo, az_container, multipartthreshold="1mib", multipartchunksize="1mib",
                jobs="2")
    az_proxy.add("slow", 30, method="PUT", delay=0.3)
    proc = subprocess.Popen([str(BIN_DIR / "git-archives"), "push"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(
            1 for m, p, _ in az_proxy.seen if m == "PUT" and "comp=block&" in p) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    blobs = _blobs(azurite, az_container)
    assert _key(files["big.bin"]) not in blobs  # its staged blocks are not an object
    _intact(blobs)
    az_proxy.faults.clear()
    assert "uploaded" in archives(repo, "push").stdout.decode()
    blobs = _blobs(azurite, az_container)
    assert set(blobs) == {_key(d) for d in files.values()}
    _intact(blobs)


@pytest.mark.slow  # two more Azurite starts
def test_a_server_that_dies_mid_push_fails_it_cleanly_and_the_retry_succeeds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real Azurite of its own, killed while blocks go up, restarted on its port."""
    server = start_azurite(tmp_path / "dying")
    try:
        container = server.new_container()
        p = FaultProxy(f"http://127.0.0.1:{server.port}")
        with serve_http(_make_handler(p)) as p.url:
            monkeypatch.setenv(CONN_ENV, server.connection_string(f"{p.url}/devstoreaccount1"))
            files = {"big.bin": os.urandom(6 * 1024 * 1024)}
            repo = make_data_repo(tmp_path / "r", files, chunking="off")
            _set_remote(repo, container, multipartthreshold="1mib",
                        multipartchunksize="1mib", jobs="2", retries="2")
            p.add("slow", 4, method="PUT", delay=0.3)
            push = subprocess.Popen([str(BIN_DIR / "git-archives"), "push"], cwd=repo,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(p.seen) < 3:
                time.sleep(0.05)
            stop_azurite(server)  # the server goes away mid-upload
            out, err = push.communicate(timeout=120)
            assert push.returncode == 1, out + err
            lines = [ln for ln in err.decode().splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("failed: sha256:"), err
            assert "the connection failed (ServiceResponseError) while trying to upload" in \
                lines[0]
            server = start_azurite(tmp_path / "dying", port=server.port)
            assert _blobs(server, container) == {}  # nothing partial is visible
            assert "1 object(s) uploaded" in archives(repo, "push").stdout.decode()
            blobs = _blobs(server, container)
            assert set(blobs) == {_key(files["big.bin"])}
            _intact(blobs)
    finally:
        stop_azurite(server)


# -- bad input --------------------------------------------------------------------------------

def _one_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode != 0
    err = proc.stderr.decode()
    errors = [ln for ln in err.splitlines() if ln.startswith("git-archives: error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_a_missing_container_is_one_line_and_is_not_created(
        tmp_path: Path, azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, azurite.connection_string())
    repo = make_data_repo(tmp_path / "r", {"a.bin": os.urandom(100)}, chunking="off")
    _set_remote(repo, "no-such-container")
    line = _one_error(archives(repo, "push", check=False))
    assert "container 'no-such-container' does not exist in account devstoreaccount1" in line
    names = [c.name for c in azurite.service().list_containers()]
    assert "no-such-container" not in names


def test_wrong_credentials_are_one_line_and_no_secret_is_ever_printed(
        tmp_path: Path, azurite: Azurite, az_container: str) -> None:
    wrong = "B" * 86 + "=="
    repo = make_data_repo(tmp_path / "r", {"a.bin": os.urandom(100)}, chunking="off")
    _set_remote(repo, az_container, retries="1")
    archives(repo, "remote", "modify", "--local", "storage", "connectionstring",
             azurite.connection_string(key=wrong))
    line = _one_error(archives(repo, "push", check=False))
    assert "refused the connection string (AuthorizationFailure)" in line
    listed = archives(repo, "remote", "list", "-v").stdout.decode()
    assert wrong not in listed, f"remote list -v shows the connection string: {listed}"
    outputs = []
    for args in (["fetch"], ["gc", "--workspace", "--remote", "--dry-run"], ["pull"]):
        proc = archives(repo, *args, check=False)
        outputs.append(proc.stdout + proc.stderr)
    blob = b"\n".join(outputs).decode()
    assert "refused the connection string" in blob  # (gc lists the remote)
    assert wrong not in blob and ACCOUNT_KEY not in blob
    committed = (repo / ".archives" / "config").read_text()
    assert wrong not in committed and ACCOUNT_KEY not in committed
    assert "AccountKey" not in committed


def test_permission_denied_stops_the_push_at_once_with_one_line(
        tmp_path: Path, azurite: Azurite, az_container: str) -> None:
    """A SAS token that may read but not write: the first refused upload stops the push
    (the container check lets a narrow token through; the upload itself is refused)."""
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    sas = generate_account_sas(
        "devstoreaccount1", ACCOUNT_KEY, ResourceTypes(container=True, object=True),
        AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    repo = make_data_repo(tmp_path / "r", {f"f{i}.bin": os.urandom(1000 + i) for i in range(5)},
                          chunking="off")
    _set_remote(repo, az_container, accountname="devstoreaccount1")
    archives(repo, "remote", "modify", "--local", "storage", "connectionstring",
             f"BlobEndpoint={azurite.endpoint};")
    archives(repo, "remote", "modify", "--local", "storage", "sas_token", sas)  # DVC's name
    proc = archives(repo, "push", check=False)
    line = _one_error(proc)
    assert "refused the SAS token (AuthorizationPermissionMismatch) while trying to upload" \
        in line
    assert "sig=" not in (proc.stdout + proc.stderr).decode()
    assert _blobs(azurite, az_container) == {}


def test_dvc_option_names_and_a_misspelt_one(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"x" * 100}, chunking="off")
    archives(repo, "remote", "add", "-d", "blob", "azure://container/ml-project")
    archives(repo, "remote", "modify", "blob", "account_name", "myaccount")
    cfg = repo / ".archives" / "config"
    assert git(repo, "config", "-f", str(cfg), "remote.blob.accountname").stdout == \
        b"myaccount\n"
    proc = archives(repo, "remote", "modify", "blob", "acount_name", "x", check=False)
    assert proc.returncode != 0 and b"accountname" in proc.stderr
    proc = archives(repo, "remote", "modify", "blob", "connection_string", "AccountKey=S3CR3T",
                    check=False)
    assert proc.returncode != 0 and b"--local" in proc.stderr
    assert b"S3CR3T" not in proc.stdout + proc.stderr
    assert "S3CR3T" not in cfg.read_text()
