"""Where the Git LFS server is: git-lfs's URL rules, their order, and the trust rule for a
committed ``.lfsconfig`` (real git config in temporary repositories)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from gitext.config import Config
from gitext.errors import ConfigError, RemoteError
from gitext.remotes import open_remote
from gitext.remotes.lfsapi import parse_batch
from gitext.remotes.lfshttp import retry_after, retry_backoff
from gitext.remotes.lfsurl import LfsSettings, derive_from_git_url, find_endpoint, ssh_endpoint
from gitext.remotes.trust import UntrustedRemoteError
from tests.helpers import archives, git


@pytest.mark.parametrize(("git_url", "lfs_url", "ssh"), [
    ("https://git.example.com/org/repo", "https://git.example.com/org/repo.git/info/lfs", None),
    ("https://git.example.com/org/repo.git/", "https://git.example.com/org/repo.git/info/lfs",
     None),
    ("https://bob@git.example.com:8443/org/repo.git",
     "https://git.example.com:8443/org/repo.git/info/lfs", None),
    ("http://127.0.0.1:3000/r", "http://127.0.0.1:3000/r.git/info/lfs", None),
    ("git://git.example.com/org/repo.git", "https://git.example.com/org/repo.git/info/lfs", None),
    ("ssh://git@git.example.com:2222/org/repo.git",
     "https://git.example.com/org/repo.git/info/lfs", ("git@git.example.com", "2222",
                                                       "org/repo.git")),
    ("git@github.com:org/repo.git", "https://github.com/org/repo.git/info/lfs",
     ("git@github.com", None, "org/repo.git")),
    ("github.com:org/repo", "https://github.com/org/repo.git/info/lfs",
     ("github.com", None, "org/repo")),
])
def test_derived_as_git_lfs_does(git_url: str, lfs_url: str,
                                 ssh: tuple[str, str | None, str] | None) -> None:
    assert derive_from_git_url(git_url) == (lfs_url, ssh)


@pytest.mark.parametrize("git_url", ["/srv/git/repo.git", "../repo.git", "file:///srv/repo.git",
                                     "C:\\repos\\r.git", "./x:y"])
def test_a_local_git_remote_has_no_lfs_server(git_url: str) -> None:
    assert derive_from_git_url(git_url) is None


def _repo(repo: Path, remote: str = "https://git.example.com/org/repo.git") -> Path:
    git(repo, "remote", "add", "origin", remote)
    return repo


def test_order_lfs_url_then_lfsurl_then_lfsconfig_then_derived(repo: Path) -> None:
    _repo(repo)
    assert find_endpoint(LfsSettings.load(repo)).url == \
        "https://git.example.com/org/repo.git/info/lfs"
    git(repo, "config", "-f", ".lfsconfig", "lfs.url", "https://git.example.com/cfg/info/lfs")
    found = find_endpoint(LfsSettings.load(repo))
    assert (found.url, found.source) == ("https://git.example.com/cfg/info/lfs",
                                         "lfs.url (.lfsconfig)")
    git(repo, "config", "remote.origin.lfsurl", "https://lfs.example.com/remote")
    assert find_endpoint(LfsSettings.load(repo)).url == "https://lfs.example.com/remote"
    git(repo, "config", "lfs.url", "https://lfs.example.com/top")
    assert find_endpoint(LfsSettings.load(repo)).url == "https://lfs.example.com/top"


def test_committed_lfsconfig_on_another_host_needs_confirmation(repo: Path) -> None:
    _repo(repo)
    git(repo, "config", "-f", ".lfsconfig", "lfs.url", "https://evil.example/steal/info/lfs")
    with pytest.raises(UntrustedRemoteError) as exc:
        find_endpoint(LfsSettings.load(repo))
    assert "git config lfs.url https://evil.example/steal/info/lfs" in (exc.value.hint or "")
    git(repo, "config", "lfs.url", "https://evil.example/steal/info/lfs")  # the user confirms
    assert find_endpoint(LfsSettings.load(repo)).url == "https://evil.example/steal/info/lfs"


def test_lfsconfig_url_must_be_http(repo: Path) -> None:
    _repo(repo)
    git(repo, "config", "-f", ".lfsconfig", "lfs.url", "file:///etc/passwd")
    with pytest.raises(ConfigError, match="is not an http"):
        find_endpoint(LfsSettings.load(repo))


def test_user_info_in_the_url_is_kept_out_of_it(repo: Path) -> None:
    _repo(repo)
    git(repo, "config", "lfs.url", "https://carol:pw@lfs.example.com/x/info/lfs")
    found = find_endpoint(LfsSettings.load(repo))
    assert (found.url, found.username) == ("https://lfs.example.com/x/info/lfs", "carol")


def test_no_data_remote_and_no_lfs_server(repo: Path) -> None:
    with pytest.raises(RemoteError, match="no default data remote"):
        open_remote(Config.load(repo), root=repo)
    _repo(repo, "/srv/git/local.git")  # a local git remote and no filter=lfs: no LFS either
    with pytest.raises(RemoteError, match="no default data remote"):
        open_remote(Config.load(repo), root=repo)


def test_filter_lfs_attributes_make_the_git_hosts_server_the_default(repo: Path) -> None:
    _repo(repo)
    (repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    remote = open_remote(Config.load(repo), root=repo)
    try:
        assert (remote.name, remote.url) == ("lfs", "https://git.example.com/org/repo.git/info/lfs")
    finally:
        remote.close()


def test_a_data_remote_wins_over_the_lfs_server(repo: Path, tmp_path: Path) -> None:
    _repo(repo)
    git(repo, "config", "lfs.url", "https://lfs.example.com/x/info/lfs")
    archives(repo, "remote", "add", "--local", "-d", "store", str(tmp_path / "store"))
    remote = open_remote(Config.load(repo), root=repo)
    assert remote.name == "store"
    remote.close()
    lfs = open_remote(Config.load(repo), "lfs", root=repo)  # still there by name
    assert lfs.url == "https://lfs.example.com/x/info/lfs"
    lfs.close()


def test_committed_lfs_remote_url_is_refused_until_confirmed(repo: Path) -> None:
    cfg = repo / ".archives" / "config"
    cfg.parent.mkdir()
    git(repo, "config", "-f", str(cfg), "remote.team.url", "lfs+https://evil.example/x/info/lfs")
    git(repo, "config", "-f", str(cfg), "core.remote", "team")
    with pytest.raises(UntrustedRemoteError, match="the LFS server"):
        open_remote(Config.load(repo), root=repo)
    git(repo, "config", "archives.remote.team.url", "lfs+https://evil.example/x/info/lfs")
    remote = open_remote(Config.load(repo), root=repo)
    assert remote.backend.url == "https://evil.example/x/info/lfs"
    remote.close()


def test_ssh_remote_asks_git_lfs_authenticate(repo: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The ssh command git would use is run as git-lfs runs it; a stand-in for ssh records
    its arguments and answers what a git host answers."""
    log = tmp_path / "ssh-args"
    fake = tmp_path / "fake-ssh"
    answer = json.dumps({"href": "https://lfs.example.com/org/repo.git/info/lfs",
                         "header": {"Authorization": "RemoteAuth token-123"},
                         "expires_in": 3600})
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {log}\necho '{answer}'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("GIT_SSH_COMMAND", str(fake))
    _repo(repo, "ssh://git@git.example.com:2222/org/repo.git")
    endpoint = find_endpoint(LfsSettings.load(repo))
    assert endpoint.ssh == ("git@git.example.com", "2222", "org/repo.git")
    got = ssh_endpoint(endpoint, "upload", repo)
    assert got.url == "https://lfs.example.com/org/repo.git/info/lfs"
    assert got.headers == {"Authorization": "RemoteAuth token-123"}
    assert log.read_text().split("\n")[:4] == ["-p", "2222", "--", "git@git.example.com"]
    assert "git-lfs-authenticate org/repo.git upload" in log.read_text()


def test_ssh_failure_is_one_clear_line(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_SSH_COMMAND", "sh -c 'echo Permission denied >&2; exit 255' x")
    _repo(repo, "git@git.example.com:org/repo.git")
    with pytest.raises(RemoteError, match="Permission denied") as exc:
        ssh_endpoint(find_endpoint(LfsSettings.load(repo)), "download", repo)
    assert "git config lfs.url" in (exc.value.hint or "")


# -- batch answers ------------------------------------------------------------------------------

OID = "a" * 64


def test_batch_answer_parsing_and_expiry() -> None:
    doc = {"transfer": "basic", "objects": [{"oid": OID, "size": 3, "actions": {
        "download": {"href": "https://h/x", "header": {"A": "b"}, "expires_in": 60,
                     "expires_at": "2001-01-01T00:00:00Z"}}}]}
    res = parse_batch(json.dumps(doc).encode(), {OID}, received=0.0)
    action = res[OID].actions["download"]
    assert action.header == {"A": "b"} and action.expires_at == 60.0  # the earlier one
    assert action.expired()


@pytest.mark.parametrize(("body", "why"), [
    (b"not json", "not JSON"),
    (b'{"objects": 3}', "no 'objects' list"),
    (b'{"transfer": "tus", "objects": []}', "only 'basic'"),
    (json.dumps({"objects": [{"oid": "b" * 64}]}).encode(), "not asked for"),
    (json.dumps({"objects": [{"oid": OID, "actions": {"download": {"href": "file:///x"}}}]}
                ).encode(), "no http(s) href"),
    (json.dumps({"objects": [{"oid": OID, "actions": {"download": {
        "href": "https://h/", "header": {"A": 1}}}}]}).encode(), "malformed header"),
])
def test_malformed_batch_answers(body: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_batch(body, {OID}, received=0.0)


def test_the_first_retry_is_immediate_then_backoff_grows_jittered_and_capped() -> None:
    """A dropped keep-alive connection or one racy 500 costs no wait (as urllib3 and
    git-lfs); later retries wait 50-100 % of base * 2**attempt, never above the cap."""
    assert retry_backoff(0, 0.25, 8.0) == 0.0
    for attempt in range(1, 12):
        full = min(8.0, 0.25 * 2 ** attempt)
        for _ in range(50):
            assert full / 2 <= retry_backoff(attempt, 0.25, 8.0) <= full


def test_retry_after() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(None) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after("soon") is None
