"""Every remote verb through the real console script, on a directory and on S3 (moto)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.s3 import (
    add_dir_remote,
    cache_objects,
    drop_cache,
    make_data_repo,
    set_s3_remote,
)

POINTER_HEAD = b"version https://git-lfs.github.com/spec/v1"


def _files(n: int = 3, size: int = 20_000) -> dict[str, bytes]:
    return {f"data/f{i}.bin": os.urandom(size) for i in range(n)} | {"big.bin": os.urandom(300_000)}


# The S3 variants repeat the directory ones over HTTP: slow-marked (test_faults and
# test_git_flows keep S3 in the fast set).
@pytest.fixture(params=["dir", pytest.param("s3", marks=pytest.mark.slow)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _configure(kind: str, repo: Path, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "dir":
        return os.fspath(add_dir_remote(repo, tmp_path / "remote"))
    bucket = request.getfixturevalue("bucket")
    set_s3_remote(repo, bucket, request.getfixturevalue("moto_endpoint"))
    return f"s3://{bucket}/proj"


# -- remote add/list/modify/remove/default ----------------------------------------------------

def test_remote_add_writes_the_url_and_default_to_the_committed_file(repo: Path) -> None:
    out = archives(repo, "remote", "add", "-d", "storage", "s3://team-bucket/ml").stdout.decode()
    assert "added remote 'storage'" in out
    text = (repo / ".archives" / "config").read_text()
    assert 'remote "storage"' in text and "url = s3://team-bucket/ml" in text
    assert "remote = storage" in text
    listing = archives(repo, "remote", "list").stdout.decode()
    assert listing.strip() == "storage\ts3://team-bucket/ml (default)\t[.archives/config]"
    assert archives(repo, "remote", "default").stdout.decode().strip() == "storage"


def test_remote_add_refuses_a_duplicate_unless_forced(repo: Path) -> None:
    archives(repo, "remote", "add", "r", "/tmp/a")
    proc = archives(repo, "remote", "add", "r", "/tmp/b", check=False)
    assert proc.returncode != 0 and b"already exists" in proc.stderr
    archives(repo, "remote", "add", "--force", "r", "/tmp/b")
    assert b"/tmp/b" in archives(repo, "remote", "list").stdout


def test_remote_add_refuses_an_unknown_scheme_with_the_supported_ones(repo: Path) -> None:
    proc = archives(repo, "remote", "add", "r", "webdav://host/x", check=False)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "unknown remote URL scheme 'webdav://'" in err
    assert all(f"{s}://" in err for s in ("s3", "gs", "azure", "ssh", "https"))
    assert not (repo / ".archives" / "config").exists()


def test_remote_add_refuses_credentials_inside_the_url(repo: Path) -> None:
    proc = archives(repo, "remote", "add", "r", "s3://AKIAXX:hunter2@bucket/x", check=False)
    assert proc.returncode == 2 and b"credentials" in proc.stderr
    assert b"hunter2" not in proc.stderr + proc.stdout


def test_remote_modify_puts_private_and_secret_options_in_the_clone_only(repo: Path) -> None:
    archives(repo, "remote", "add", "-d", "s", "s3://b/p")
    archives(repo, "remote", "modify", "s", "region", "eu-west-1")
    archives(repo, "remote", "modify", "s", "profile", "work")
    refused = archives(repo, "remote", "modify", "s", "secretaccesskey", "TOPSECRET",
                       check=False)
    assert refused.returncode == 2 and b"--local" in refused.stderr
    archives(repo, "remote", "modify", "--local", "s", "secretaccesskey", "TOPSECRET")
    committed = (repo / ".archives" / "config").read_text()
    assert "region = eu-west-1" in committed
    assert "work" not in committed and "TOPSECRET" not in committed
    local = git(repo, "config", "--get-regexp", "archives").stdout.decode()
    assert "archives.remote.s.profile work" in local
    listing = archives(repo, "remote", "list", "-v").stdout.decode()
    assert "profile = work" in listing and "TOPSECRET" not in listing and "****" in listing


def test_remote_modify_refuses_an_unknown_option(repo: Path) -> None:
    archives(repo, "remote", "add", "s", "/tmp/x")
    proc = archives(repo, "remote", "modify", "s", "colour", "blue", check=False)
    assert proc.returncode == 2 and b"unknown remote option" in proc.stderr


def test_remote_remove_drops_both_places_and_the_default(repo: Path) -> None:
    archives(repo, "remote", "add", "-d", "s", "s3://bucket/x")
    archives(repo, "remote", "modify", "s", "profile", "p")
    archives(repo, "remote", "remove", "s")
    assert b"s\t" not in archives(repo, "remote", "list").stdout
    assert archives(repo, "remote", "default", check=False).returncode == 1
    assert git(repo, "config", "--get-regexp", "archives.remote", check=False).stdout == b""


def test_remote_default_switches_between_remotes(repo: Path) -> None:
    archives(repo, "remote", "add", "-d", "a", "/tmp/a")
    archives(repo, "remote", "add", "b", "/tmp/b")
    archives(repo, "remote", "default", "b")
    assert archives(repo, "remote", "default").stdout.strip() == b"b"
    archives(repo, "remote", "default", "--local", "a")
    assert archives(repo, "remote", "default").stdout.strip() == b"a"
    proc = archives(repo, "remote", "default", "zzz", check=False)
    assert proc.returncode != 0 and b"no remote named 'zzz'" in proc.stderr


def test_push_without_any_remote_says_how_to_add_one(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"abc" * 100})
    proc = archives(repo, "push", check=False)
    assert proc.returncode == 1 and b"git archives remote add" in proc.stderr


# -- push / fetch / pull / status ------------------------------------------------------------

def test_push_uploads_only_what_the_remote_lacks(kind: str, tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    repo = make_data_repo(tmp_path / "r", _files())
    _configure(kind, repo, request, tmp_path)
    first = archives(repo, "push").stdout.decode()
    assert "4 object(s) uploaded" in first
    (repo / "data" / "new.bin").write_bytes(os.urandom(1000))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    second = archives(repo, "push").stdout.decode()
    assert "1 object(s) uploaded" in second and "4 already there" in second
    assert "0 object(s) uploaded" in archives(repo, "push").stdout.decode()


def test_fetch_into_an_empty_cache_gets_everything_verified(kind: str, tmp_path: Path,
                                                            request: pytest.FixtureRequest) -> None:
    repo = make_data_repo(tmp_path / "r", _files())
    _configure(kind, repo, request, tmp_path)
    archives(repo, "push")
    before = cache_objects(repo)
    drop_cache(repo)
    out = archives(repo, "fetch", "-j", "3").stdout.decode()
    assert "4 object(s) downloaded" in out
    assert cache_objects(repo) == before
    assert "0 object(s) downloaded" in archives(repo, "fetch").stdout.decode()
    assert archives(repo, "fsck").returncode == 0


def test_clone_then_pull_fills_in_every_pointer(kind: str, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    files = _files()
    repo = make_data_repo(tmp_path / "r", files)
    _configure(kind, repo, request, tmp_path)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remote")
    archives(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(repo), os.fspath(clone))
    assert (clone / "big.bin").read_bytes().startswith(POINTER_HEAD)  # no filter yet
    archives(clone, "install")
    out = archives(clone, "pull").stdout.decode()
    assert "4 object(s) downloaded" in out
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name


def test_pull_with_include_fetches_only_the_matching_part(kind: str, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    files = _files()
    repo = make_data_repo(tmp_path / "r", files)
    _configure(kind, repo, request, tmp_path)
    archives(repo, "push")
    drop_cache(repo)
    archives(repo, "fetch", "--include", "data/*")
    got = cache_objects(repo)
    assert len(got) == 3
    big = hashlib.sha256(files["big.bin"]).hexdigest()
    assert not any(big[2:] in k for k in got)
    archives(repo, "fetch", "big.bin")
    assert len(cache_objects(repo)) == 4


def test_remote_status_says_what_push_and_fetch_would_move(kind: str, tmp_path: Path,
                                                           request: pytest.FixtureRequest) -> None:
    repo = make_data_repo(tmp_path / "r", _files(2))
    _configure(kind, repo, request, tmp_path)
    out = archives(repo, "remote", "status").stdout.decode()
    assert "3 to push" in out
    archives(repo, "push")
    assert "in sync" in archives(repo, "remote", "status").stdout.decode()
    drop_cache(repo)
    assert "3 to fetch" in archives(repo, "remote", "status").stdout.decode()


def test_a_remote_object_whose_bytes_do_not_match_is_refused_and_never_checked_out(
        tmp_path: Path) -> None:
    files = {"a.bin": os.urandom(5000), "b.bin": os.urandom(5000)}
    repo = make_data_repo(tmp_path / "r", files)
    remote = add_dir_remote(repo, tmp_path / "remote", commit=True)
    archives(repo, "push")
    bad = remote / "files" / "sha256" / hashlib.sha256(files["a.bin"]).hexdigest()[:2]
    obj = next(bad.iterdir())
    obj.unlink()  # (the remote's file is a hard link to the cache's: replace, not edit)
    obj.write_bytes(b"tampered" + files["a.bin"][8:])
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(repo), os.fspath(clone))
    archives(clone, "install")
    proc = archives(clone, "pull", check=False)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "does not match its id" in err and hashlib.sha256(files["a.bin"]).hexdigest() in err
    assert (clone / "a.bin").read_bytes().startswith(POINTER_HEAD)
    assert (clone / "b.bin").read_bytes() == files["b.bin"]
    assert not list((clone / ".git" / "archives" / "tmp").iterdir())


def test_push_names_objects_missing_from_the_local_cache(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": os.urandom(3000)})
    add_dir_remote(repo, tmp_path / "remote")
    drop_cache(repo)
    proc = archives(repo, "push", check=False)
    assert proc.returncode == 1
    assert b"1 missing in the local cache" in proc.stdout
    assert b"is not in the local cache" in proc.stderr


def test_push_all_commits_covers_history_and_rev_selects_one(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": b"v1" * 1000})
    (repo / "a.bin").write_bytes(b"v2" * 1000)
    git(repo, "commit", "-qam", "v2")
    add_dir_remote(repo, tmp_path / "remote")
    assert "1 object(s) uploaded" in archives(repo, "push", "--rev", "HEAD~1").stdout.decode()
    assert "1 object(s) uploaded" in archives(repo, "push", "--all-commits").stdout.decode()
    assert "2 already there" in archives(repo, "push", "--all-commits").stdout.decode()
    proc = archives(repo, "push", "--rev", "nope", check=False)
    assert proc.returncode == 1 and b"unknown revision 'nope'" in proc.stderr
