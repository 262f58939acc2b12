"""S3 through a fault-injecting proxy: dropped connections, 500/503, slow and truncated
responses, bad buckets, refused credentials. Nothing may be lost or corrupted: a command
either succeeds after retries or fails with a clear message and no partial object."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.s3 import (
    ACCESS_KEY,
    SECRET_KEY,
    FaultProxy,
    cache_objects,
    drop_cache,
    make_data_repo,
    s3_client,
    set_s3_remote,
)


def _repo(tmp_path: Path, bucket: str, endpoint: str,
          **extra: str) -> tuple[Path, dict[str, bytes]]:
    files = {f"d/f{i}.bin": os.urandom(30_000 + i) for i in range(4)}
    repo = make_data_repo(tmp_path / "r", files)
    set_s3_remote(repo, bucket, endpoint, extra=extra or None)
    return repo, files


def _remote_intact(moto_endpoint: str, bucket: str, files: dict[str, bytes]) -> None:
    s3 = s3_client(moto_endpoint)
    for data in files.values():
        digest = hashlib.sha256(data).hexdigest()
        key = f"proj/files/sha256/{digest[:2]}/{digest[2:]}"
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest


def _cache_intact(repo: Path) -> None:
    for key in cache_objects(repo):
        data = (repo / ".git" / "archives" / key).read_bytes()
        algo, ab, rest = key.split("/")[1:]
        assert hashlib.new(algo, data).hexdigest() == ab + rest


@pytest.mark.parametrize("fault", ["503", *(pytest.param(f, marks=pytest.mark.slow)
                                            for f in ("500", "drop", "slow"))])
def test_push_survives_transient_faults_on_upload(fault: str, tmp_path: Path, bucket: str,
                                                  proxy: FaultProxy, moto_endpoint: str) -> None:
    repo, files = _repo(tmp_path, bucket, proxy.url, jobs="2")
    proxy.add(fault, 3, method="PUT")
    out = archives(repo, "push").stdout.decode()
    assert "4 object(s) uploaded" in out
    assert proxy.outcomes(fault) == 3
    _remote_intact(moto_endpoint, bucket, files)


@pytest.mark.parametrize("fault", ["truncate", *(pytest.param(f, marks=pytest.mark.slow)
                                                 for f in ("drop", "503"))])
def test_fetch_survives_broken_downloads_and_verifies_everything(
        fault: str, tmp_path: Path, bucket: str, proxy: FaultProxy) -> None:
    repo, _files = _repo(tmp_path, bucket, proxy.url, jobs="2")
    archives(repo, "push")
    before = cache_objects(repo)
    drop_cache(repo)
    proxy.add(fault, 3, method="GET")
    out = archives(repo, "fetch").stdout.decode()
    assert "4 object(s) downloaded" in out
    assert proxy.outcomes(fault) == 3
    assert cache_objects(repo) == before
    _cache_intact(repo)


def test_a_store_that_keeps_failing_fails_clearly_and_keeps_nothing_partial(
        tmp_path: Path, bucket: str, proxy: FaultProxy) -> None:
    repo, _ = _repo(tmp_path, bucket, proxy.url, retries="2", jobs="1")
    archives(repo, "push")
    drop_cache(repo)
    proxy.add("500", 40, method="GET")
    proc = archives(repo, "fetch", check=False)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "kept failing (InternalError) after 2 attempts" in err
    assert cache_objects(repo) == set()
    assert not list((repo / ".git" / "archives" / "tmp").iterdir())
    proxy.faults.clear()
    assert "4 object(s) downloaded" in archives(repo, "fetch").stdout.decode()


def test_bytes_damaged_in_transit_are_fetched_again(tmp_path: Path, bucket: str,
                                                    proxy: FaultProxy) -> None:
    repo, _ = _repo(tmp_path, bucket, proxy.url, jobs="1")
    archives(repo, "push")
    drop_cache(repo)
    proxy.add("corrupt", 2, method="GET")
    assert "4 object(s) downloaded" in archives(repo, "fetch").stdout.decode()
    assert proxy.outcomes("corrupt") == 2
    _cache_intact(repo)


def test_a_remote_object_stored_with_wrong_bytes_is_refused(tmp_path: Path, bucket: str,
                                                            moto_endpoint: str) -> None:
    repo, files = _repo(tmp_path, bucket, moto_endpoint)
    archives(repo, "push")
    digest = hashlib.sha256(files["d/f0.bin"]).hexdigest()
    s3_client(moto_endpoint).put_object(Bucket=bucket, Key=f"proj/files/sha256/{digest[:2]}/"
                                        f"{digest[2:]}", Body=b"not the content")
    drop_cache(repo)
    proc = archives(repo, "fetch", check=False)
    assert proc.returncode == 1
    assert b"1 refused as corrupt" in proc.stdout
    assert f"remote object sha256:{digest} does not match its id".encode() in proc.stderr
    assert len(cache_objects(repo)) == 3
    _cache_intact(repo)


def test_a_bucket_that_does_not_exist_is_named(tmp_path: Path, moto_endpoint: str,
                                               aws_env: None) -> None:
    repo, _ = _repo(tmp_path, "no-such-bucket-here", moto_endpoint)
    proc = archives(repo, "push", check=False)
    assert proc.returncode == 1
    assert b"bucket 'no-such-bucket-here' does not exist" in proc.stderr


def test_refused_credentials_are_reported_without_revealing_them(
        tmp_path: Path, bucket: str, proxy: FaultProxy) -> None:
    repo, _ = _repo(tmp_path, bucket, proxy.url, retries="1")
    proxy.add("403", 5)
    proc = archives(repo, "push", check=False)
    assert proc.returncode == 1
    text = (proc.stdout + proc.stderr).decode()
    assert "refused the credentials (" in text
    assert SECRET_KEY not in text and ACCESS_KEY not in text


def test_an_unreachable_endpoint_is_reported(tmp_path: Path, aws_env: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo, _ = _repo(tmp_path, "bucket", f"http://127.0.0.1:{port}", retries="1")
    proc = archives(repo, "push", check=False)
    assert proc.returncode == 1
    assert f"cannot reach http://127.0.0.1:{port}".encode() in proc.stderr


def test_missing_credentials_say_where_to_put_them(tmp_path: Path, bucket: str,
                                                   moto_endpoint: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    repo, _ = _repo(tmp_path, bucket, moto_endpoint, retries="1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    proc = archives(repo, "push", check=False)
    assert proc.returncode == 1 and b"no credentials found" in proc.stderr


def test_credentials_never_appear_in_any_output_or_committed_file(
        tmp_path: Path, bucket: str, proxy: FaultProxy) -> None:
    repo, _ = _repo(tmp_path, bucket, proxy.url, retries="1")
    archives(repo, "remote", "modify", "--local", "storage", "secretaccesskey", SECRET_KEY)
    archives(repo, "remote", "modify", "--local", "storage", "accesskeyid", ACCESS_KEY)
    outputs = []
    for args in (["remote", "list", "-v"], ["push"], ["fetch"], ["remote", "status"],
                 ["pull"], ["gc", "--workspace", "--remote", "--dry-run"]):
        proc = archives(repo, *args, check=False)
        outputs.append(proc.stdout + proc.stderr)
    proxy.add("403", 3)
    proc = archives(repo, "push", "--all-commits", check=False)
    outputs.append(proc.stdout + proc.stderr)
    proxy.add("500", 3)
    outputs.append(archives(repo, "fetch", check=False).stderr)
    blob = b"\n".join(outputs).decode()
    assert SECRET_KEY not in blob and ACCESS_KEY not in blob
    committed = (repo / ".archives" / "config").read_text()
    assert SECRET_KEY not in committed and ACCESS_KEY not in committed
    assert "refused the credentials" in blob  # the failing run was really exercised
    git(repo, "add", "-A")
    assert SECRET_KEY.encode() not in git(repo, "diff", "--cached").stdout


def test_an_interrupted_fetch_leaves_nothing_partial_and_the_next_one_completes(
        tmp_path: Path, bucket: str, proxy: FaultProxy) -> None:
    import signal
    import subprocess
    import time

    from tests.helpers import BIN_DIR

    repo, _ = _repo(tmp_path, bucket, proxy.url, jobs="1")
    archives(repo, "push")
    drop_cache(repo)
    proxy.add("slow", 8, method="GET", delay=0.5)
    proc = subprocess.Popen([str(BIN_DIR / "git-archives"), "fetch"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while proxy.outcomes("slow") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    assert len(cache_objects(repo)) < 4
    _cache_intact(repo)
    assert not list((repo / ".git" / "archives" / "tmp").iterdir())
    proxy.faults.clear()
    out = archives(repo, "fetch").stdout.decode()
    assert "already there" in out
    assert len(cache_objects(repo)) == 4
    _cache_intact(repo)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_pull_stopped_by_a_signal_releases_the_index_lock_and_leaves_no_temp_files(
        tmp_path: Path, bucket: str, proxy: FaultProxy, signame: str) -> None:
    """git removes its index.lock when it is terminated; a pull must too, or every later
    git command that writes the index fails until the user deletes the lock by hand."""
    import os
    import signal
    import subprocess
    import time

    from tests.helpers import BIN_DIR, git

    repo, _ = _repo(tmp_path, bucket, proxy.url, jobs="1")
    git(repo, "add", ".archives")
    git(repo, "commit", "-qm", "data remote")
    archives(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", os.fspath(repo), os.fspath(clone))
    archives(clone, "install")
    git(clone, "checkout", "-q", "main", env={**os.environ, "GIT_ARCHIVES_SKIP_SMUDGE": "1"})
    proxy.add("slow", 8, method="GET", delay=0.5)
    proc = subprocess.Popen([str(BIN_DIR / "git-archives"), "pull"], cwd=clone,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lock = clone / ".git" / "index.lock"
    deadline = time.monotonic() + 30
    while not (lock.exists() and proxy.outcomes("slow") >= 1) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lock.exists()  # the pull holds the index while it fills files in
    signum = getattr(signal, signame)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert b"stopped by signal" in err
    assert not lock.exists()
    assert not list((clone / ".git" / "archives" / "tmp").iterdir())
    assert [p for p in clone.rglob("*.tmp") if ".git" not in p.parts] == []
    proxy.faults.clear()
    archives(clone, "pull")  # and the next one completes
    assert git(clone, "status", "--porcelain").stdout == b""
