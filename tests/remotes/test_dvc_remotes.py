"""DVC's remotes (``.dvc/config`` and the user's DVC files) usable by name, DVC's default
as ours when ours is unset, and the committed ``.dvc/config`` as untrusted as our own
committed ``.archives/config``."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from gitext.config import Config
from tests.helpers import archives, git
from tests.helpers.pipelines import write

DVC_YAML = "stages:\n  s:\n    cmd: echo out > o.txt\n    outs: [o.txt]\n"


def dvc_project(repo: Path, config: str, local: str = "") -> None:
    write(repo, {".dvc/config": config, ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
                 "dvc.yaml": DVC_YAML})
    if local:
        (repo / ".dvc" / "config.local").write_text(local)
    archives(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "project")


def remote_files(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def test_dvcs_default_remote_from_its_local_config_is_ours(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    dvc_project(repo, "[core]\n    remote = team\n",
                local=f"['remote \"team\"']\n    url = {store}\n")
    out = archives(repo, "push")
    assert remote_files(store) and all(f.startswith("files/md5/") for f in remote_files(store))
    assert "DVC option" not in out.stderr.decode()
    listing = archives(repo, "remote", "list").stdout.decode()
    assert listing.strip() == f"team\t{store} (default)\t[DVC: .dvc/config.local]"


def test_a_committed_dvc_directory_remote_needs_the_users_word(repo: Path,
                                                              tmp_path: Path) -> None:
    store = tmp_path / "store"
    # DVC writes a relative path relative to .dvc/ (the config file's folder)
    rel = Path("..", "..", "store")
    dvc_project(repo, f"[core]\n    remote = team\n['remote \"team\"']\n    url = {rel}\n")
    proc = archives(repo, "push", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and not store.exists()
    assert "comes only from .dvc/config" in err
    confirm = f"git archives remote modify --local team url {shlex.quote(str(store))}"
    assert confirm in err, err
    listing = archives(repo, "remote", "list").stdout.decode()
    assert "[DVC: .dvc/config]  (from .dvc/config, not confirmed: not used)" in listing
    archives(repo, "remote", "modify", "--local", "team", "url", str(store))
    archives(repo, "push")
    assert remote_files(store)


def test_a_dvc_remote_of_a_kind_we_lack_is_one_line_naming_it(repo: Path) -> None:
    dvc_project(repo, "['remote \"dav\"']\n    url = webdavs://host/path\n"
                      "['remote \"hd\"']\n    url = hdfs://cluster/p\n")
    proc = archives(repo, "push", "-r", "dav", check=False)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode != 0
    assert lines[0].endswith("remote 'dav' (.dvc/config) is a DVC WebDAV remote "
                             "(webdavs://host/path), which git-archives cannot open"), lines
    assert lines[1].startswith("hint:") and "davfs2" in lines[1]
    proc = archives(repo, "push", "-r", "hd", check=False)
    assert "DVC HDFS remote" in proc.stderr.decode()


def test_dvc_s3_options_map_and_credentials_come_only_from_the_users_files(
        repo: Path) -> None:
    write(repo, {".dvc/config": "['remote \"s3r\"']\n    url = s3://b/p\n"
                                "    endpointurl = https://minio.example\n    region = eu-1\n"
                                "    profile = theirs\n    access_key_id = AKIA\n"
                                "    ssl_verify = false\n"})
    cfg = Config.load(repo)
    opts = cfg.section("remote.s3r")
    assert opts == {"url": "s3://b/p", "endpointurl": "https://minio.example",
                    "region": "eu-1"}
    assert not cfg.is_local("remote.s3r.endpointurl")
    assert {"remote.s3r.profile", "remote.s3r.accesskeyid"} <= set(cfg.ignored)
    assert cfg.dvc_unused["s3r"] == ["ssl_verify"]
    (repo / ".dvc" / "config.local").write_text(
        "['remote \"s3r\"']\n    profile = mine\n    endpointurl = http://127.0.0.1:9\n")
    cfg = Config.load(repo)
    assert cfg.get("remote.s3r.profile") == "mine" and cfg.is_local("remote.s3r.profile")
    assert cfg.is_local("remote.s3r.endpointurl")


def test_a_committed_dvc_endpoint_is_refused_naming_dvcs_file(repo: Path) -> None:
    dvc_project(repo, "[core]\n    remote = s3r\n['remote \"s3r\"']\n    url = s3://b/p\n"
                      "    endpointurl = http://127.0.0.1:9\n")
    proc = archives(repo, "push", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "the endpoint http://127.0.0.1:9 comes only from .dvc/config" in err


@pytest.mark.parametrize("ours_local", [False, True])
def test_our_remote_settings_win_over_dvcs_option_by_option(repo: Path, tmp_path: Path,
                                                           ours_local: bool) -> None:
    write(repo, {".dvc/config": "[core]\n    remote = dvcone\n['remote \"team\"']\n"
                                "    url = s3://dvc-bucket/p\n    region = eu-1\n"})
    args = ["--local"] if ours_local else []
    archives(repo, "remote", "add", "--force", *args, "team", "s3://our-bucket/p")
    cfg = Config.load(repo)
    assert cfg.section("remote.team") == {"url": "s3://our-bucket/p", "region": "eu-1"}
    assert cfg.get("core.remote") == "dvcone"  # ours is unset: DVC's default
    archives(repo, "remote", "default", *args, "team")
    assert Config.load(repo).get("core.remote") == "team"


def test_remove_of_a_dvc_remote_points_to_dvc(repo: Path) -> None:
    write(repo, {".dvc/config": "['remote \"team\"']\n    url = s3://b/p\n"})
    proc = archives(repo, "remote", "remove", "team", check=False)
    assert proc.returncode != 0
    assert "is DVC's (.dvc/config)" in proc.stderr.decode()
    assert "dvc remote remove team" in proc.stderr.decode()


def test_a_malformed_dvc_config_leaves_pointers_and_fails_pull_naming_file_and_line(
        repo: Path, tmp_path: Path) -> None:
    archives(repo, "install")
    archives(repo, "track", "*.bin")
    write(repo, {".dvc/config": "[core]\n    remote = team\n['remote \"team\"'\n"})
    (repo / "big.bin").write_bytes(b"\1" * 2000)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    archives(clone, "install")
    proc = git(clone, "checkout", "-q", "main")  # does not abort
    assert (clone / "big.bin").read_bytes().startswith(b"version https://git-lfs")
    assert b".dvc/config:3" in proc.stderr
    proc = archives(clone, "pull", check=False)
    assert proc.returncode != 0
    assert f"{clone / '.dvc' / 'config'}:3:" in proc.stderr.decode()
