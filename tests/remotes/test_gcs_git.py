"""A gs:// data remote used as users do, against a real fake-gcs-server: git push uploads,
a fresh clone checks out identical files, pull / fetch / remote status / gc --remote, a
corrupted remote object, a server that fails or drops connections mid-transfer, and bad
credentials, buckets and keys: one clear line each, no secret, nothing partial."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import archives, git, serve_http
from tests.helpers.gcs_server import GcsServer
from tests.helpers.s3 import (
    FaultProxy,
    _make_handler,
    cache_objects,
    drop_cache,
    make_data_repo,
    trust_globally,
)

PREFIX = "proj"


def _key(data: bytes) -> str:
    d = hashlib.sha256(data).hexdigest()
    return f"files/sha256/{d[:2]}/{d[2:]}"


def set_gcs_remote(repo: Path, bucket: str, endpoint: str, *, name: str = "storage",
                   extra: dict[str, str] | None = None) -> None:
    """Commit-ready ``.archives/config`` naming ``gs://bucket/proj`` at ``endpoint``; the
    user confirms the endpoint and asks for anonymous requests in their global git config
    (so that clones in this test's HOME may use it too)."""
    cfg = repo / ".archives" / "config"
    cfg.parent.mkdir(exist_ok=True)
    for k, v in {"url": f"gs://{bucket}/{PREFIX}", "endpointurl": endpoint,
                 **(extra or {})}.items():
        git(repo, "config", "-f", str(cfg), f"remote.{name}.{k}", v)
    git(repo, "config", "-f", str(cfg), "core.remote", name)
    trust_globally(repo, name, "endpointurl", endpoint)
    trust_globally(repo, name, "unsigned", "true")


def _published(tmp_path: Path, bucket: str, endpoint: str, files: dict[str, bytes],
               **extra: str) -> tuple[Path, Path]:
    """(repo, bare origin): ``files`` committed with the remote and pushed with git push."""
    repo = make_data_repo(tmp_path / "r", files)
    set_gcs_remote(repo, bucket, endpoint, extra=extra or None)
    git(repo, "add", ".archives")
    git(repo, "commit", "-qm", "data remote")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(origin))
    git(repo, "remote", "add", "origin", os.fspath(origin))
    git(repo, "push", "-q", "origin", "main")
    return repo, origin


def _clone(tmp_path: Path, origin: Path, name: str = "clone",
           env: dict[str, str] | None = None) -> Path:
    clone = tmp_path / name
    git(tmp_path, "clone", "-q", "--no-checkout", os.fspath(origin), os.fspath(clone))
    archives(clone, "install")
    git(clone, "checkout", "-q", "main", env=env)
    return clone


def _on_remote(server: GcsServer, bucket: str) -> dict[str, bytes]:
    return {k.removeprefix(PREFIX + "/"): v for k, v in server.objects(bucket, PREFIX).items()}


def _cache_intact(repo: Path) -> None:
    for key in cache_objects(repo):
        data = (repo / ".git" / "archives" / key).read_bytes()
        algo, ab, rest = key.split("/")[1:]
        assert hashlib.new(algo, data).hexdigest() == ab + rest


@pytest.fixture
def gcs_proxy(gcs_server: GcsServer) -> Iterator[FaultProxy]:
    p = FaultProxy(gcs_server.url)
    with serve_http(_make_handler(p)) as p.url:
        yield p


FILES = {"a.bin": b"a" * 10_000, "d/b.bin": os.urandom(20_000), "d/e/c.bin": os.urandom(5)}


def test_git_push_uploads_and_a_fresh_clone_checks_out_identical_files(
        tmp_path: Path, gcs_server: GcsServer, gcs_bucket: str) -> None:
    _repo, origin = _published(tmp_path, gcs_bucket, gcs_server.url, FILES)
    assert _on_remote(gcs_server, gcs_bucket) == {_key(d): d for d in FILES.values()}
    clone = _clone(tmp_path, origin)
    for name, data in FILES.items():
        assert (clone / name).read_bytes() == data, name
    assert git(clone, "status", "--porcelain").stdout == b""


def test_remote_status_fetch_and_pull_in_a_clone_left_with_pointers(
        tmp_path: Path, gcs_server: GcsServer, gcs_bucket: str) -> None:
    _repo, origin = _published(tmp_path, gcs_bucket, gcs_server.url, FILES)
    clone = _clone(tmp_path, origin, env={**os.environ, "GIT_ARCHIVES_SKIP_SMUDGE": "1"})
    assert (clone / "a.bin").read_bytes().startswith(b"version https://git-lfs")
    assert "3 to fetch" in archives(clone, "remote", "status").stdout.decode()
    assert "3 object(s) downloaded" in archives(clone, "fetch").stdout.decode()
    assert len(cache_objects(clone)) == 3
    assert (clone / "a.bin").read_bytes().startswith(b"version https://git-lfs")
    archives(clone, "pull")
    for name, data in FILES.items():
        assert (clone / name).read_bytes() == data, name
    assert git(clone, "status", "--porcelain").stdout == b""


def test_gc_on_the_remote_keeps_what_history_needs(tmp_path: Path, gcs_server: GcsServer,
                                                   gcs_bucket: str) -> None:
    old, new = os.urandom(4000), os.urandom(4000)
    repo, _origin = _published(tmp_path, gcs_bucket, gcs_server.url, {"a.bin": old})
    (repo / "a.bin").write_bytes(new)
    git(repo, "commit", "-qam", "new a")
    git(repo, "push", "-q", "origin", "main")
    stray = "files/sha256/00/" + "0" * 62
    gcs_server.client().bucket(gcs_bucket).blob(f"{PREFIX}/{stray}").upload_from_string(b"x")
    assert set(_on_remote(gcs_server, gcs_bucket)) == {_key(old), _key(new), stray}
    # just written: the grace period keeps the unreferenced object
    out = archives(repo, "gc", "--all-commits", "--remote", "--yes").stdout.decode()
    assert "removed 0 object(s)" in out and "kept 1 unreferenced" in out
    # history keeps the old version; the stray object goes
    archives(repo, "gc", "--all-commits", "--remote", "--yes", "--expire", "now")
    assert set(_on_remote(gcs_server, gcs_bucket)) == {_key(old), _key(new)}
    # the work tree alone needs the new version only
    archives(repo, "gc", "-w", "--remote", "--yes", "--expire", "now")
    assert _on_remote(gcs_server, gcs_bucket) == {_key(new): new}


def test_a_remote_object_with_wrong_bytes_is_refused_and_never_cached(
        tmp_path: Path, gcs_server: GcsServer, gcs_bucket: str) -> None:
    repo, _origin = _published(tmp_path, gcs_bucket, gcs_server.url, FILES)
    digest = hashlib.sha256(FILES["d/b.bin"]).hexdigest()
    gcs_server.client().bucket(gcs_bucket).blob(
        f"{PREFIX}/{_key(FILES['d/b.bin'])}").upload_from_string(b"not the content")
    drop_cache(repo)
    proc = archives(repo, "fetch", check=False)
    assert proc.returncode == 1
    assert b"1 refused as corrupt" in proc.stdout
    assert f"remote object sha256:{digest} does not match its id".encode() in proc.stderr
    assert len(cache_objects(repo)) == 2
    _cache_intact(repo)


def test_dropped_connections_and_server_errors_are_retried(
        tmp_path: Path, gcs_server: GcsServer, gcs_bucket: str, gcs_proxy: FaultProxy) -> None:
    files = {f"d/f{i}.bin": os.urandom(30_000 + i) for i in range(4)}
    repo = make_data_repo(tmp_path / "r", files)
    set_gcs_remote(repo, gcs_bucket, gcs_proxy.url, extra={"jobs": "2"})
    gcs_proxy.add("drop", 2, method="POST")
    gcs_proxy.add("503", 2, method="POST")
    assert "4 object(s) uploaded" in archives(repo, "push").stdout.decode()
    assert gcs_proxy.outcomes("drop") == 2 and gcs_proxy.outcomes("503") == 2
    assert _on_remote(gcs_server, gcs_bucket) == {_key(d): d for d in files.values()}
    drop_cache(repo)
    gcs_proxy.add("truncate", 2, method="GET")
    gcs_proxy.add("500", 2, method="GET")
    assert "4 object(s) downloaded" in archives(repo, "fetch").stdout.decode()
    assert gcs_proxy.outcomes("truncate") == 2
    assert len(cache_objects(repo)) == 4
    _cache_intact(repo)


def test_a_store_that_keeps_failing_leaves_nothing_partial_and_the_retry_succeeds(
        tmp_path: Path, gcs_server: GcsServer, gcs_bucket: str, gcs_proxy: FaultProxy) -> None:
    files = {f"d/f{i}.bin": os.urandom(30_000 + i) for i in range(4)}
    repo = make_data_repo(tmp_path / "r", files)
    set_gcs_remote(repo, gcs_bucket, gcs_proxy.url, extra={"jobs": "1", "retries": "2"})
    gcs_proxy.add("drop", 100, method="POST")
    proc = archives(repo, "push", check=False)
    assert proc.returncode == 1
    assert b"kept failing" in proc.stderr
    assert _on_remote(gcs_server, gcs_bucket) == {}  # no partial object
    gcs_proxy.faults.clear()
    archives(repo, "push")
    drop_cache(repo)
    archives(repo, "remote", "status")  # (its bucket check passes: the downloads fail)
    gcs_proxy.add("500", 100, method="GET")
    proc = archives(repo, "fetch", check=False)
    assert proc.returncode == 1 and b"kept failing (500) after 2 attempts" in proc.stderr
    assert cache_objects(repo) == set()
    assert not list((repo / ".git" / "archives" / "tmp").iterdir())
    gcs_proxy.faults.clear()
    assert "4 object(s) downloaded" in archives(repo, "fetch").stdout.decode()
    _cache_intact(repo)


def test_a_missing_bucket_is_one_clear_line(tmp_path: Path, gcs_server: GcsServer) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"x" * 100})
    set_gcs_remote(repo, "no-such-bucket", gcs_server.url)
    proc = archives(repo, "push", check=False)
    assert proc.returncode == 1
    lines = proc.stderr.decode().strip().splitlines()
    assert lines[0] == ("git-archives: error: bucket 'no-such-bucket' does not exist at "
                        f"{gcs_server.url}")


def test_refused_credentials_and_a_bad_key_file_reveal_no_secret(
        tmp_path: Path, gcs_server: GcsServer, gcs_bucket: str, gcs_proxy: FaultProxy) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"x" * 100})
    set_gcs_remote(repo, gcs_bucket, gcs_proxy.url, extra={"retries": "1"})
    gcs_proxy.add("403", 5)
    proc = archives(repo, "push", check=False)
    assert proc.returncode == 1
    assert b"denied permission (403) to open the bucket" in proc.stderr
    secret = "-----BEGIN PRIVATE KEY-----\\nMIIEvQ-s3cr3t-never-printed\\n"
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account", "private_key": secret,
                               "client_email": "sa@p.iam.gserviceaccount.com"}))
    git(repo, "config", "--global", "--unset", "archives.remote.storage.unsigned")
    archives(repo, "remote", "modify", "--local", "storage", "credentialsfile", str(key))
    outputs = []
    for args in (["push"], ["fetch"], ["remote", "status"], ["remote", "list", "-v"]):
        proc = archives(repo, *args, check=False)
        outputs.append((proc.stdout + proc.stderr).decode())
    text = "\n".join(outputs)
    assert "credentialsfile" in text and "cannot be used" in text
    assert "s3cr3t" not in text and "MIIEvQ" not in text
    assert "s3cr3t" not in (repo / ".archives" / "config").read_text()


def test_an_endpoint_only_the_repository_chose_gets_no_request_and_no_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cloned repository commits a gs:// remote whose endpoint is its own listener; the
    user has Google credentials in the environment. Nothing may reach the listener."""
    from tests.helpers.listener import listening

    with listening() as evil:
        key = tmp_path / "key.json"
        key.write_text(json.dumps({
            "type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nnot-used\n-----END PRIVATE KEY-----\n",
            "token_uri": "https://oauth2.googleapis.com/token"}))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        repo = make_data_repo(tmp_path / "r", {"a.bin": b"x" * 100})
        cfg = repo / ".archives" / "config"
        cfg.parent.mkdir(exist_ok=True)
        for k, v in {"remote.storage.url": "gs://team-bucket/proj",
                     "remote.storage.endpointurl": evil.url,
                     "core.remote": "storage"}.items():
            git(repo, "config", "-f", str(cfg), k, v)
        for args in (["push"], ["fetch"], ["remote", "status"]):
            proc = archives(repo, *args, check=False)
            assert proc.returncode != 0, args
            assert b"comes only from" in proc.stderr, proc.stderr
        assert evil.requests == []


@pytest.mark.slow
def test_a_dvc_gs_remote_is_usable_as_it_is_both_ways(
        tmp_path: Path, gcs_server: GcsServer, gcs_bucket: str, dvc_exe: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DVC (dvc-gs) pushes to gs://; our pull in a clone reads DVC's remote through DVC's
    option names; our push of new DVC data is what DVC then pulls."""
    from tests.helpers.peers import dvc_plugin, run_dvc

    dvc_plugin(dvc_exe, "dvc_gs", "dvc-gs")
    # gcsfs first asks a gRPC endpoint fake-gcs-server lacks for the bucket's type
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    alice = tmp_path / "alice"
    git(tmp_path, "clone", "-q", str(origin), str(alice))
    run_dvc(dvc_exe, alice, "init", "-q")
    (alice / ".dvc" / "config").write_text(
        "[core]\n    remote = team\n"
        f"['remote \"team\"']\n    url = gs://{gcs_bucket}/dvcproj\n"
        f"    endpointurl = {gcs_server.url}\n")
    local = "['remote \"team\"']\n    allow_anonymous_login = true\n"
    (alice / ".dvc" / "config.local").write_text(local)  # (untracked: Alice's own)
    first = os.urandom(40_000)
    (alice / "a.bin").write_bytes(first)
    run_dvc(dvc_exe, alice, "add", "-q", "a.bin")
    run_dvc(dvc_exe, alice, "push", "-q")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "dvc data on gs")
    git(alice, "push", "-q", "origin", "main")
    md5 = hashlib.md5(first).hexdigest()
    assert f"dvcproj/files/md5/{md5[:2]}/{md5[2:]}" in gcs_server.objects(gcs_bucket)

    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(origin), str(bob))
    archives(bob, "install")
    (bob / ".dvc" / "config.local").write_text(local)  # Bob's own word, as Alice's
    assert "1 output(s) of dvc.lock and .dvc files restored" in archives(
        bob, "pull").stdout.decode()
    assert (bob / "a.bin").read_bytes() == first
    second = os.urandom(30_000)
    (bob / "b.bin").write_bytes(second)
    run_dvc(dvc_exe, bob, "add", "-q", "b.bin")
    git(bob, "add", "-A")
    git(bob, "commit", "-qm", "more")
    assert "1 object(s) uploaded" in archives(bob, "push").stdout.decode()
    git(bob, "push", "-q", "origin", "main")

    git(alice, "pull", "-q", "origin", "main")
    run_dvc(dvc_exe, alice, "pull", "-q")
    assert (alice / "b.bin").read_bytes() == second
