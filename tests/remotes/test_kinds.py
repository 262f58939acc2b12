"""The kinds of remote (gitext.remotekinds): option names (ours and DVC's), where each may
come from, did-you-mean, the missing-extra message, and the trust rules that run before any
backend of a new kind exists (an SSH host or a GCS endpoint only the repository chose gets
no connection at all)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitext.errors import UsageError
from gitext.remotekinds import KINDS, kind_of, option_name
from gitext.remotes import check_url, option_key
from gitext.remotes.extras import install_command, requirements
from tests.helpers import archives, git
from tests.helpers.repos import setup_repo


@pytest.mark.parametrize(("dvc_name", "url", "ours"), [
    ("account_name", "azure://c/p", "accountname"),
    ("connection_string", "azure://c/p", "connectionstring"),
    ("sas_token", "azure://c/p", "sastoken"),
    ("credentialpath", "gs://b/p", "credentialsfile"),
    ("credentialpath", "s3://b/p", "credentialsfile"),
    ("allow_anonymous_login", "gs://b/p", "unsigned"),
    ("projectname", "gs://b/p", "projectname"),
    ("keyfile", "ssh://h/p", "keyfile"),
    ("allow_agent", "ssh://h/p", "allowagent"),
    ("ssl_verify", "https://h/p", "sslverify"),
    ("access_key_id", "s3://b/p", "accesskeyid"),
])
def test_dvc_option_names_map_to_ours_for_the_urls_kind(dvc_name: str, url: str,
                                                        ours: str) -> None:
    assert option_name(dvc_name, url) == ours


def test_an_option_of_another_kind_is_not_taken() -> None:
    assert option_name("projectname", "s3://b/p") is None
    assert option_name("accountname", "gs://b/p") is None
    with pytest.raises(UsageError, match="not an option for S3 remotes"):
        option_key("projectname", "s3://b/p")


def test_a_misspelt_option_gets_the_closest_one() -> None:
    with pytest.raises(UsageError, match="did you mean 'accountname'"):
        option_key("acount_name", "azure://c/p")
    assert option_key("acount_name", "azure://c/p", unset=True) == "acount_name"


@given(st.text(max_size=30))
def test_option_names_never_crash_and_are_always_known(name: str) -> None:
    for kind in KINDS:
        ours = kind.ours(name)
        assert ours is None or ours in kind.options


def test_every_option_belongs_to_exactly_one_place_per_kind() -> None:
    for kind in KINDS:
        assert not (kind.committed & kind.private), kind.title
        assert not (kind.committed & kind.secret), kind.title
        assert not (kind.private & kind.secret), kind.title


@pytest.mark.parametrize("url", ["ssh://me@lab-server:2222/srv/a", "sftp://h/p", "gs://b/p",
                                 "azure://container/p", "https://data.example.org/p"])
def test_urls_of_the_new_kinds_are_accepted(url: str) -> None:
    check_url(url)
    assert kind_of(url) is not None


@pytest.mark.parametrize("url", ["ssh://me:hunter2@host/p", "https://u:hunter2@host/p",
                                 "https://token@host/p", "gs://u:hunter2@bucket/p"])
def test_a_url_carrying_a_password_is_refused(url: str) -> None:
    with pytest.raises(UsageError, match="credentials") as info:
        check_url(url)
    assert "hunter2" not in str(info.value) + (info.value.hint or "")


def test_the_install_command_names_the_extras_requirements() -> None:
    assert any(r.startswith("google-cloud-storage") for r in requirements("gcs"))
    assert {r.split(">")[0] for r in requirements("all")} >= {
        "google-cloud-storage", "azure-storage-blob", "asyncssh"}
    command = install_command("azure")
    assert command.startswith(sys.executable) or sys.executable in command
    assert "azure-storage-blob" in command and "-m pip install" in command


# -- the command line ------------------------------------------------------------------------

@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return setup_repo(tmp_path / "repo")


def test_remote_modify_takes_dvcs_names_and_stores_ours(repo: Path) -> None:
    archives(repo, "remote", "add", "blob", "azure://container/ml-project")
    archives(repo, "remote", "modify", "blob", "account_name", "myaccount")
    committed = (repo / ".archives" / "config").read_text()
    assert "accountname = myaccount" in committed


def test_remote_modify_refuses_a_misspelt_option_with_the_closest(repo: Path) -> None:
    archives(repo, "remote", "add", "blob", "azure://container/ml-project")
    proc = archives(repo, "remote", "modify", "blob", "acount_name", "x", check=False)
    assert proc.returncode == 2
    assert b"did you mean 'accountname'" in proc.stderr


def test_a_secret_of_a_new_kind_stays_local_and_is_never_shown(repo: Path) -> None:
    secret = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=c2VjcmV0LWtleQ=="
    archives(repo, "remote", "add", "blob", "azure://container/ml-project")
    proc = archives(repo, "remote", "modify", "blob", "connection_string", secret, check=False)
    assert proc.returncode == 2 and b"secret" in proc.stderr
    proc = archives(repo, "remote", "modify", "--local", "blob", "connection_string", secret)
    assert secret.encode() not in proc.stdout + proc.stderr
    assert secret not in (repo / ".archives" / "config").read_text()
    listing = archives(repo, "remote", "list", "-v")
    assert secret.encode() not in listing.stdout + listing.stderr
    assert b"****" in listing.stdout


# -- trust: nothing is sent where only the repository pointed -------------------------------

@pytest.fixture
def tcp_listener() -> Iterator[tuple[int, list[bytes]]]:
    """A bare TCP listener on loopback recording what each connection sends first."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    seen.append(conn.recv(4096) or b"<connected>")
                except OSError:
                    seen.append(b"<connected>")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join(timeout=2)
    server.close()


def _committed_remote(repo: Path, lines: str) -> None:
    (repo / ".archives").mkdir(exist_ok=True)
    (repo / ".archives" / "config").write_text(
        '[core]\n\tremote = storage\n[remote "storage"]\n' + lines)
    git(repo, "add", ".archives/config")
    git(repo, "commit", "-qm", "remote")


def test_a_committed_ssh_host_gets_no_connection(
        repo: Path, tcp_listener: tuple[int, list[bytes]]) -> None:
    port, seen = tcp_listener
    _committed_remote(repo, f"\turl = ssh://git@127.0.0.1:{port}/srv/data\n")
    proc = archives(repo, "fetch", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "SSH host" in err and ".archives/config" in err
    assert "git archives remote modify --local storage url" in err
    assert seen == []


def test_a_committed_gcs_endpoint_gets_no_request(
        repo: Path, tcp_listener: tuple[int, list[bytes]]) -> None:
    port, seen = tcp_listener
    _committed_remote(repo, "\turl = gs://bucket/p\n"
                      f"\tendpointurl = http://127.0.0.1:{port}\n")
    proc = archives(repo, "fetch", check=False)
    assert proc.returncode != 0
    assert "only to Google" in proc.stderr.decode()
    assert seen == []


def test_an_option_of_another_kind_is_named_when_the_remote_opens(repo: Path,
                                                                  tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    archives(repo, "remote", "add", "-d", "storage", str(store))
    git(repo, "config", "archives.remote.storage.projectname", "p")
    git(repo, "commit", "-qm", "remote", "--allow-empty")
    proc = archives(repo, "remote", "status", check=False)
    assert "option 'projectname' does not apply to directory remotes" in proc.stderr.decode()


@pytest.mark.parametrize(("url", "blocked", "extra"), [
    ("gs://bucket/p", "google.cloud", "google-cloud-storage"),
    ("azure://container/p", "azure.storage", "azure-storage-blob"),
    ("ssh://127.0.0.1:9/srv", "asyncssh", "asyncssh"),
])
def test_a_kind_whose_sdk_is_missing_names_the_install_command(
        repo: Path, url: str, blocked: str, extra: str) -> None:
    archives(repo, "remote", "add", "-d", "storage", url)
    # a commit to fetch for, and the user's word for a host (an ssh:// one is refused before
    # its SDK is imported otherwise)
    archives(repo, "remote", "modify", "--local", "storage", "url", url)
    git(repo, "commit", "-qm", "remote", "--allow-empty")
    code = ("import sys\n"
            f"sys.modules[{blocked!r}] = None  # as if the extra were not installed\n"
            "from gitext.cli import main\n"
            "sys.exit(main(['fetch']))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True,
                          check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "extra" in err and extra in err and "-m pip install" in err, err
    assert "Traceback" not in err


def test_an_ssh_url_the_user_adds_is_confirmed_in_their_clone(repo: Path) -> None:
    """The user chose the host: their own clone uses it at once; a clone of the repository
    sees it as unconfirmed until its user confirms it."""
    url = "ssh://me@127.0.0.1:9/srv/archives"
    archives(repo, "remote", "add", "-d", "lab", url)
    assert git(repo, "config", "archives.remote.lab.url").stdout.decode().strip() == url
    assert b"not confirmed" not in archives(repo, "remote", "list", "-v").stdout
    git(repo, "config", "--unset", "archives.remote.lab.url")
    listing = archives(repo, "remote", "list", "-v").stdout.decode()
    assert "not confirmed: not used" in listing


def test_the_shared_option_parsers_name_the_option_and_the_fix() -> None:
    from gitext.errors import ConfigError
    from gitext.remotes.backend import bool_option, seconds_option, whole_option

    assert whole_option({}, "jobs", 16) == 16
    assert whole_option({"jobs": "0"}, "jobs", 16) == 1
    assert seconds_option({"timeout": "2.5"}, "timeout", 30) == 2.5
    assert bool_option({"pathstyle": "path"}, "pathstyle", true=("path",)) is True
    assert bool_option({"unsigned": ""}, "unsigned") is True  # git's: an empty value is true
    for call, words in ((lambda: whole_option({"jobs": "many"}, "jobs", 16), "whole number"),
                        (lambda: seconds_option({"timeout": "-1"}, "timeout", 30), "seconds"),
                        (lambda: bool_option({"unsigned": "perhaps"}, "unsigned"), "boolean")):
        with pytest.raises(ConfigError, match=words) as info:
            call()
        assert "remote modify" in (info.value.hint or "") or "true or false" in (
            info.value.hint or "")
