"""In a DVC project the md5 objects live in DVC's cache (``.dvc/cache`` or ``cache.dir``),
with no configuration step; our sha256 objects stay in ``.git/archives``. A cache folder
the repository chose must not lead our writes outside the clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitext.codec.hashing import ObjectId
from gitext.errors import ConfigError
from gitext.git.repo import Repo
from gitext.store.dvccache import open_store
from tests.helpers import archives, git
from tests.helpers.pipelines import write

DVC_YAML = "stages:\n  s:\n    cmd: mkdir -p out && cp in.txt out/a.txt\n    deps: [in.txt]\n" \
           "    outs: [out]\n"


def dvc_project(repo: Path, config: str = "") -> None:
    write(repo, {".dvc/config": config, ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
                 "in.txt": "hello\n", "dvc.yaml": DVC_YAML})


def objects_under(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def test_md5_objects_go_to_dvcs_default_cache_and_sha256_stay_ours(repo: Path) -> None:
    dvc_project(repo)
    archives(repo, "repro")
    cached = objects_under(repo / ".dvc" / "cache" / "files" / "md5")
    assert cached and any(name.endswith(".dir") for name in cached)
    assert not (repo / ".git" / "archives" / "files" / "md5").exists()
    store = open_store(Repo.discover(repo))
    oid, _ = store.add_bytes(b"x" * 10, "sha256")
    assert store.path(oid).is_relative_to(repo / ".git" / "archives")
    assert "up to date" in archives(repo, "status").stdout.decode()


def test_a_cache_dir_of_the_users_own_config_is_used_as_given(repo: Path,
                                                              tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared-cache"
    dvc_project(repo)
    (repo / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {elsewhere}\n")
    archives(repo, "repro")
    assert objects_under(elsewhere / "files" / "md5")
    assert not (repo / ".dvc" / "cache").exists()
    # relative to the file's folder, as DVC reads it
    (repo / ".dvc" / "config.local").write_text("[cache]\n    dir = ../../rel-cache\n")
    store = open_store(Repo.discover(repo))
    assert store.root_for("md5") == tmp_path / "rel-cache"


HOSTILE = [
    ("absolute", lambda tmp: f"[cache]\n    dir = {tmp / 'victim'}\n"),
    ("relative", lambda tmp: "[cache]\n    dir = ../../victim\n"),
    ("git-dir", lambda tmp: "[cache]\n    dir = ../.git/hooks\n"),
]


@pytest.mark.parametrize(("kind", "config"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_committed_cache_dir_outside_the_clone_writes_nothing(
        repo: Path, tmp_path: Path, kind: str, config: object) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    assert callable(config)
    dvc_project(repo, config(tmp_path))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hostile")
    proc = archives(repo, "repro", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert ".dvc/config" in err and "nothing was written" in err, err
    assert len([ln for ln in err.splitlines() if not ln.startswith("hint:")]) == 1, err
    assert objects_under(victim) == []
    assert not list((repo / ".git" / "hooks").glob("files*"))
    assert not (repo / "out").exists()  # the stage did not run either


def test_a_committed_symlink_for_the_default_cache_is_refused(repo: Path,
                                                             tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    dvc_project(repo)
    os.symlink(victim, repo / ".dvc" / "cache")
    git(repo, "add", "-A")
    git(repo, "add", "-f", ".dvc/cache")
    git(repo, "commit", "-qm", "hostile link")
    store = open_store(Repo.discover(repo))
    with pytest.raises(ConfigError, match="outside the clone"):
        store.add_bytes(b"data\n", "md5")
    assert objects_under(victim) == []


def test_a_committed_link_inside_the_cache_folder_is_refused(repo: Path,
                                                            tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    dvc_project(repo)
    (repo / ".dvc" / "cache").mkdir()
    os.symlink(victim, repo / ".dvc" / "cache" / "files")
    git(repo, "add", "-A")
    git(repo, "add", "-f", ".dvc/cache/files")
    git(repo, "commit", "-qm", "hostile inner link")
    store = open_store(Repo.discover(repo))
    with pytest.raises(ConfigError, match="holds files git tracks"):
        store.has(ObjectId("md5", "0" * 32))
    assert objects_under(victim) == []


def test_a_committed_config_local_does_not_count_as_the_users_choice(
        repo: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    dvc_project(repo)
    (repo / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {victim}\n")
    git(repo, "add", "-A")
    git(repo, "add", "-f", ".dvc/config.local")
    git(repo, "commit", "-qm", "hostile local config")
    proc = archives(repo, "repro", check=False)
    assert proc.returncode != 0 and ".dvc/config.local" in proc.stderr.decode()
    assert objects_under(victim) == []


def test_the_large_file_filter_never_reads_dvcs_config(repo: Path, tmp_path: Path) -> None:
    """sha256 objects do not depend on DVC's cache: a broken .dvc/config does not stop
    git add of a tracked large file."""
    dvc_project(repo, "[cache\n")
    archives(repo, "install")
    archives(repo, "track", "*.bin")
    (repo / "big.bin").write_bytes(b"\0" * 1000)
    git(repo, "add", "big.bin")
    assert git(repo, "cat-file", "-p", ":big.bin").stdout.startswith(b"version https://")


def test_md5_objects_an_earlier_version_kept_move_into_dvcs_cache_once(repo: Path) -> None:
    write(repo, {"in.txt": "hello\n", "dvc.yaml": DVC_YAML})
    archives(repo, "repro")  # not a DVC project yet: md5 objects in .git/archives
    legacy = repo / ".git" / "archives" / "files" / "md5"
    before = objects_under(legacy)
    assert before
    dvc_project(repo)  # `dvc init` later
    assert "up to date" in archives(repo, "status").stdout.decode()
    assert objects_under(repo / ".dvc" / "cache" / "files" / "md5") == before
    assert not legacy.exists()


def test_the_clones_store_is_opened_only_through_open_store() -> None:
    """``LocalStore(repo.archives_dir)`` would miss DVC's cache: every module outside
    ``gitext/store`` opens the clone's store with open_store/store_for."""
    import ast

    package = Path(__file__).resolve().parents[2] / "gitext"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.parent.name == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "LocalStore" and node.args
                    and "archives_dir" in ast.unparse(node.args[0])):
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not found, f"open the store with gitext.store.dvccache.open_store: {found}"


def test_a_cache_dir_of_the_users_global_dvc_config_is_used(repo: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    glob = tmp_path / "xdg" / "dvc" / "config"
    glob.parent.mkdir(parents=True)
    glob.write_text(f"[cache]\n    dir = {tmp_path / 'global-cache'}\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    dvc_project(repo)
    store = open_store(Repo.discover(repo))
    oid, _ = store.add_bytes(b"data\n", "md5")
    assert store.path(oid) == tmp_path / "global-cache" / oid.key
