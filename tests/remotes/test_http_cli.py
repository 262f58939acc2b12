"""The read-only http remote as a user meets it, through git and the console script: a
team's writers push to their directory remote, which a web server publishes; the committed
default is that http mirror. Clones read from it (checkout, pull, fetch, remote status);
push and gc refuse it clearly; damage and dropped connections leave nothing partial; and a
URL only the repository chose never receives the user's credentials."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BIN_DIR, archives, git
from tests.helpers.http_remote_server import HttpRemote, HttpRemoteServer
from tests.helpers.peers import run_dvc
from tests.helpers.s3 import cache_objects, make_data_repo

FILES = {"a.bin": os.urandom(60_000), "sub/b.bin": os.urandom(90_000), "c.bin": b"c" * 5000}
USER = "alice"
PASSWORD = "pa55-never-printed-7Hq2"


@pytest.fixture(autouse=True)
def _no_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")


def _text(proc: object) -> str:
    out = getattr(proc, "stdout", b"") + getattr(proc, "stderr", b"")
    return bytes(out).decode(errors="replace")


def _publish(tmp_path: Path, remote: HttpRemote) -> Path:
    """The writer's repository: data pushed by ``git push`` to its own directory remote
    ``storage`` (the folder the web server publishes); the committed default is the http
    ``mirror``. Returns the bare origin."""
    src = make_data_repo(tmp_path / "src", FILES)
    archives(src, "remote", "add", "-d", "mirror", remote.url)
    archives(src, "remote", "add", "--local", "storage", str(remote.folder))
    archives(src, "remote", "default", "--local", "storage")
    git(src, "add", ".archives")
    git(src, "commit", "-qm", "the http mirror is the default")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(src, "remote", "add", "origin", str(origin))
    git(src, "push", "-q", "origin", "main")  # the pre-push hook uploads to 'storage'
    return origin


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory,
              http_remote_server: HttpRemoteServer) -> Iterator[tuple[Path, HttpRemote]]:
    """Published once for this module (in a HOME of its own, as every test has): the bare
    origin, and the remote folder the server publishes."""
    home = tmp_path_factory.mktemp("publisher-home")
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    with pytest.MonkeyPatch.context() as env:
        for key, value in {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                           "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Test",
                           "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "Test",
                           "GIT_COMMITTER_EMAIL": "t@example.invalid",
                           "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}.items():
            env.setenv(key, value)
        folder = http_remote_server.root / f"pub-{uuid.uuid4().hex[:10]}"
        folder.mkdir()
        remote = HttpRemote(http_remote_server, folder, f"{http_remote_server.url}/{folder.name}")
        origin = _publish(tmp_path_factory.mktemp("publisher"), remote)
    assert len([p for p in (folder / "files").rglob("*") if p.is_file()]) == len(FILES)
    yield origin, remote


@pytest.fixture
def origin(published: tuple[Path, HttpRemote], http_remote: HttpRemote) -> Path:
    """The published origin, with the server's knobs reset for this test (``mirror``)."""
    return published[0]


@pytest.fixture
def mirror(published: tuple[Path, HttpRemote], origin: Path) -> HttpRemote:
    return published[1]


def _clone(origin: Path, dest: Path, *, fill: bool = True) -> Path:
    """A clone set up with ``git archives install``; with ``fill``, its checkout fetches
    the data (else its data files stay pointers: git had no filter when it checked out)."""
    if not fill:
        git(dest.parent, "clone", "-q", str(origin), str(dest))
        archives(dest, "install")
        return dest
    git(dest.parent, "clone", "-q", "--no-checkout", str(origin), str(dest))
    archives(dest, "install")
    git(dest, "checkout", "-q", "main")
    return dest


def test_a_fresh_clone_checks_out_identical_files_from_the_http_mirror(
        origin: Path, tmp_path: Path, mirror: HttpRemote) -> None:
    dest = _clone(origin, tmp_path / "clone")
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
    assert mirror.server.seen("GET")
    assert all("Authorization" not in r.headers for r in mirror.server.seen())


def test_remote_status_fetch_and_pull_read_the_mirror(origin: Path, tmp_path: Path) -> None:
    dest = _clone(origin, tmp_path / "clone", fill=False)
    status = _text(archives(dest, "remote", "status"))
    assert "3 to fetch" in status, status
    archives(dest, "fetch")
    assert len(cache_objects(dest)) == len(FILES)
    archives(dest, "pull")
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
    assert "in sync" in _text(archives(dest, "remote", "status"))
    proc = archives(dest, "pull", "--run-cache", check=False)  # needs a listing: refused
    assert proc.returncode != 0
    assert "is read-only: it cannot list its objects" in _text(proc), _text(proc)


def test_push_and_gc_refuse_the_read_only_mirror_before_any_request(
        origin: Path, tmp_path: Path, mirror: HttpRemote) -> None:
    dest = _clone(origin, tmp_path / "clone")
    (dest / "new.bin").write_bytes(os.urandom(3000))
    git(dest, "add", "new.bin")
    git(dest, "commit", "-qm", "new data")
    mirror.server.requests.clear()
    for proc in (git(dest, "push", "origin", "main", check=False),
                 archives(dest, "push", check=False),
                 archives(dest, "gc", "-w", "--remote", "--yes", check=False)):
        text = _text(proc)
        assert proc.returncode != 0, text
        assert "remote 'mirror'" in text and "is read-only" in text, text
    assert mirror.server.seen() == []
    assert git(origin, "log", "--oneline", "main").stdout.count(b"\n") == 2  # not pushed


def test_a_corrupt_object_on_the_server_is_refused_and_never_cached(
        origin: Path, tmp_path: Path, mirror: HttpRemote) -> None:
    victim = next(p for p in (mirror.folder / "files").rglob("*") if p.is_file()
                  and p.stat().st_size == 5000)
    good = victim.read_bytes()
    victim.chmod(0o644)
    victim.write_bytes(b"C" * 5000)
    dest = _clone(origin, tmp_path / "clone", fill=False)
    try:
        proc = archives(dest, "pull", check=False)
    finally:
        victim.write_bytes(good)
    text = _text(proc)
    assert proc.returncode == 1, text
    assert "does not match its id" in text, text
    assert len(cache_objects(dest)) == 2
    assert (dest / "c.bin").read_bytes().startswith(b"version https://git-lfs")
    assert (dest / "a.bin").read_bytes() == FILES["a.bin"]


def test_a_server_that_keeps_dropping_leaves_nothing_partial_and_a_retry_succeeds(
        origin: Path, tmp_path: Path, mirror: HttpRemote) -> None:
    dest = _clone(origin, tmp_path / "clone", fill=False)
    mirror.server.fault("drop", 200, method="GET", after=0)  # (no byte to resume after)
    proc = archives(dest, "fetch", check=False)
    text = _text(proc)
    assert proc.returncode != 0, text
    assert "kept breaking off" in text, text
    big = [n for n, d in FILES.items() if len(d) > 10_000]
    assert len(cache_objects(dest)) <= len(FILES) - len(big)  # the big ones: not even partly
    assert not any((dest / ".git" / "archives" / "tmp").rglob("fetch-*"))
    mirror.server.reset()
    archives(dest, "pull")
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data


def _private_mirror(mirror: HttpRemote, home: Path) -> None:
    """The server now wants a login, which the user's git credential helper has."""
    mirror.server.basic(USER, PASSWORD)
    store = home / "git-credentials"
    store.write_text(f"http://{USER}:{PASSWORD}@{mirror.server.url.removeprefix('http://')}\n")
    git(home, "config", "--global", "credential.helper", f"store --file={store}")


def test_a_committed_url_never_receives_the_users_credentials_until_confirmed(
        origin: Path, tmp_path: Path, mirror: HttpRemote, isolated_home: Path) -> None:
    _private_mirror(mirror, isolated_home)
    dest = _clone(origin, tmp_path / "clone", fill=False)
    proc = archives(dest, "pull", check=False)
    text = _text(proc)
    assert proc.returncode != 0, text
    assert "comes only from the repository's committed config" in text, text
    assert PASSWORD not in text
    assert mirror.server.seen() and not any(
        "Authorization" in r.headers for r in mirror.server.seen())
    # the user confirms the URL in their own config: now their credentials go there
    archives(dest, "remote", "modify", "--local", "mirror", "url", mirror.url)
    archives(dest, "pull")
    assert (dest / "a.bin").read_bytes() == FILES["a.bin"]


def test_a_wrong_local_password_is_one_clear_line_without_the_secret(
        origin: Path, tmp_path: Path, mirror: HttpRemote) -> None:
    mirror.server.basic(USER, PASSWORD)
    dest = _clone(origin, tmp_path / "clone", fill=False)
    archives(dest, "remote", "modify", "--local", "mirror", "url", mirror.url)
    archives(dest, "remote", "modify", "--local", "mirror", "user", USER)
    archives(dest, "remote", "modify", "--local", "mirror", "password", "wrong-" + PASSWORD)
    assert PASSWORD not in _text(archives(dest, "remote", "list", "-v"))
    proc = archives(dest, "fetch", check=False)
    text = _text(proc)
    assert proc.returncode != 0, text
    assert "the password in your git config was refused" in text, text
    assert PASSWORD not in text
    assert [ln for ln in text.splitlines() if ln.startswith("git-archives: error")] == [
        ln for ln in text.splitlines() if "error" in ln]
    assert not cache_objects(dest)


def test_a_url_with_a_password_is_refused_and_one_the_user_adds_is_theirs(repo: Path) -> None:
    archives(repo, "install")
    proc = archives(repo, "remote", "add", "mirror",
                    f"https://{USER}:{PASSWORD}@data.example.org/x", check=False)
    assert proc.returncode != 0
    assert PASSWORD not in _text(proc)
    # a URL the user adds is confirmed in their clone: their credentials may go there
    archives(repo, "remote", "add", "mirror", "https://data.example.org/x")
    assert git(repo, "config", "archives.remote.mirror.url").stdout.strip() == \
        b"https://data.example.org/x"


def test_a_dvc_http_remote_reads_the_same_both_ways(tmp_path: Path, http_remote: HttpRemote,
                                                   dvc_exe: Path) -> None:
    """A DVC project whose committed default remote is DVC's ``http`` kind (with DVC's
    option names), its data pushed by DVC to the folder the server publishes: our pull
    reads it over http, and DVC pulls what our server serves."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    alice = tmp_path / "alice"
    git(tmp_path, "clone", "-q", str(origin), str(alice))
    (alice / "data").mkdir()
    (alice / "data" / "one.csv").write_text("id,v\n1,2\n")
    (alice / "data" / "raw").mkdir()
    (alice / "data" / "raw" / "a.txt").write_text("a\n")
    run_dvc(dvc_exe, alice, "init", "-q")
    run_dvc(dvc_exe, alice, "add", "-q", "data/one.csv", "data/raw")
    # what 'dvc remote add -d mirror URL', 'dvc remote modify mirror read_timeout 30' (and
    # ssl_verify) and 'dvc remote add --local store DIR' write (fewer slow DVC starts)
    (alice / ".dvc" / "config").write_text(
        f"[core]\n    remote = mirror\n['remote \"mirror\"']\n    url = {http_remote.url}\n"
        "    read_timeout = 30\n    ssl_verify = true\n")
    (alice / ".dvc" / "config.local").write_text(
        f"['remote \"store\"']\n    url = {http_remote.folder}\n")
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "dvc project, http mirror")
    run_dvc(dvc_exe, alice, "push", "-q", "-r", "store")
    git(alice, "push", "-q", "origin", "main")

    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(origin), str(bob))
    archives(bob, "install")
    proc = archives(bob, "pull")
    assert "DVC option" not in _text(proc), _text(proc)
    assert (bob / "data" / "one.csv").read_text() == "id,v\n1,2\n"
    assert (bob / "data" / "raw" / "a.txt").read_text() == "a\n"
    assert all("Authorization" not in r.headers for r in http_remote.server.seen())

    carol = tmp_path / "carol"  # a DVC-only teammate, from the same server
    git(tmp_path, "clone", "-q", str(origin), str(carol))
    run_dvc(dvc_exe, carol, "pull", "-q")
    assert (carol / "data" / "raw" / "a.txt").read_text() == "a\n"


def test_a_url_naming_no_remote_folder_says_what_is_missing(
        origin: Path, tmp_path: Path, mirror: HttpRemote) -> None:
    dest = _clone(origin, tmp_path / "clone", fill=False)
    archives(dest, "remote", "modify", "--local", "mirror", "url",
             f"{mirror.server.url}/no-such-folder")
    proc = archives(dest, "pull", check=False)
    text = _text(proc)
    assert proc.returncode != 0, text
    assert "3 missing on the remote [mirror: " in text and "/no-such-folder]" in text, text
    assert not cache_objects(dest)
