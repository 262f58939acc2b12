"""push/pull/fetch --run-cache (directory and S3 remotes), and --include never leaving a
directory manifest on a remote without its files."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.s3 import set_s3_remote, trust_globally

PIPELINE = """\
stages:
  make:
    cmd: cp in.txt out.txt && mkdir -p outdir && cp in.txt outdir/a && echo b > outdir/b
    deps: [in.txt]
    outs: [out.txt, outdir]
"""


@pytest.fixture(params=["dir", pytest.param("s3", marks=pytest.mark.slow)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _remote_root(kind: str, repo: Path, request: pytest.FixtureRequest | None,
                 tmp_path: Path) -> Path | None:
    """Configure the default remote (committed); the directory's path, or None for S3."""
    if kind == "dir":
        remote = tmp_path / "remote"
        remote.mkdir(exist_ok=True)
        (repo / ".archives").mkdir(exist_ok=True)
        git(repo, "config", "-f", ".archives/config", "remote.storage.url", os.fspath(remote))
        git(repo, "config", "-f", ".archives/config", "core.remote", "storage")
        trust_globally(repo, "storage", "url", os.fspath(remote))
        return remote
    assert request is not None
    set_s3_remote(repo, request.getfixturevalue("bucket"),
                  request.getfixturevalue("moto_endpoint"))
    return None


def _pipeline_repo(tmp_path: Path, kind: str = "dir",
                   request: pytest.FixtureRequest | None = None) -> tuple[Path, Path | None]:
    """Two runs of one stage (in.txt = A, then B) in the run-cache; B committed."""
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    archives(repo, "install")
    (repo / "dvc.yaml").write_text(PIPELINE)
    (repo / "in.txt").write_text("A\n")
    archives(repo, "repro")
    (repo / "in.txt").write_text("B\n")
    archives(repo, "repro")
    remote = _remote_root(kind, repo, request, tmp_path)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    return repo, remote


def _runs(repo: Path) -> dict[str, bytes]:
    base = repo / ".git" / "archives" / "runs"
    return {p.relative_to(base).as_posix(): p.read_bytes()
            for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")}


def _clone(repo: Path, tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(repo), os.fspath(clone))
    archives(clone, "install")
    return clone


def test_push_and_pull_with_run_cache_let_a_clone_reuse_a_run_it_never_made(
        tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    repo, remote = _pipeline_repo(tmp_path, kind, request)
    entries = _runs(repo)
    assert len(entries) == 2
    out = archives(repo, "push", "--run-cache").stdout.decode()
    assert "2 run-cache entries uploaded" in out
    if remote is not None:
        assert {p.relative_to(remote / "runs").as_posix()
                for p in (remote / "runs").rglob("*") if p.is_file()} == set(entries)
    # a second push moves nothing
    assert "0 run-cache entries uploaded, 2 already there" in archives(
        repo, "push", "--run-cache").stdout.decode()

    clone = _clone(repo, tmp_path)
    out = archives(clone, "pull", "--run-cache").stdout.decode()
    assert "2 run-cache entries downloaded" in out
    assert _runs(clone) == entries
    assert (clone / "out.txt").read_text() == "B\n"
    # the A run was never made here: it comes from the pulled run-cache, objects and all
    (clone / "in.txt").write_text("A\n")
    proc = archives(clone, "repro")
    assert b"cached - skipping run" in proc.stdout
    assert (clone / "out.txt").read_text() == "A\n"
    assert (clone / "outdir" / "a").read_text() == "A\n"


def test_fetch_run_cache_refuses_a_damaged_entry_and_one_whose_objects_are_missing(
        tmp_path: Path) -> None:
    repo, remote = _pipeline_repo(tmp_path)
    assert remote is not None
    archives(repo, "push", "--run-cache")
    bad_key = "ab" + "c" * 62
    (remote / "runs" / "ab").mkdir()
    (remote / "runs" / "ab" / ("c" * 62)).write_text('{"outs": [{"path": "x", "md5": "nope"}]}')
    orphan_key = "cd" + "e" * 62
    (remote / "runs" / "cd").mkdir()
    (remote / "runs" / "cd" / ("e" * 62)).write_text(json.dumps(
        {"outs": [{"hash": "md5", "md5": "0" * 32, "path": "out.txt", "size": 1}]}))
    clone = _clone(repo, tmp_path)
    proc = archives(clone, "fetch", "--run-cache", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert f"refused: run-cache entry {bad_key[:12]}" in err and "no valid md5" in err
    assert f"run-cache entry {orphan_key[:12]}… skipped" in err
    got = _runs(clone)
    assert len(got) == 2  # the two good entries only
    assert f"{bad_key[:2]}/{bad_key[2:]}" not in got
    assert f"{orphan_key[:2]}/{orphan_key[2:]}" not in got


def test_fetch_run_cache_keeps_a_local_entry_that_differs_and_says_so(tmp_path: Path) -> None:
    repo, _remote = _pipeline_repo(tmp_path)
    archives(repo, "push", "--run-cache")
    clone = _clone(repo, tmp_path)
    name = sorted(_runs(repo))[0]
    mine = clone / ".git" / "archives" / "runs" / name
    mine.parent.mkdir(parents=True)
    local_text = json.dumps({"outs": [{"hash": "md5", "md5": "1" * 32, "path": "out.txt"}]})
    mine.write_text(local_text)
    proc = archives(clone, "fetch", "--run-cache")
    assert b"differs from the remote's; the local one was kept" in proc.stderr
    assert mine.read_text() == local_text


def test_push_run_cache_skips_an_entry_whose_outputs_left_the_cache(tmp_path: Path) -> None:
    repo, remote = _pipeline_repo(tmp_path)
    assert remote is not None
    # out.txt of the A run ("A\n") is gone from the cache (e.g. gc'd)
    import hashlib

    md5 = hashlib.md5(b"A\n").hexdigest()
    obj = repo / ".git" / "archives" / "files" / "md5" / md5[:2] / md5[2:]
    obj.chmod(stat.S_IWUSR | stat.S_IRUSR)
    obj.unlink()
    proc = archives(repo, "push", "--run-cache", check=False)
    assert b"1 run-cache entry uploaded" in proc.stdout
    assert b"skipped" in proc.stderr
    assert len([p for p in (remote / "runs").rglob("*") if p.is_file()]) == 1
    assert not (remote / "files" / "md5" / md5[:2] / md5[2:]).exists()


def test_push_with_a_partial_include_never_uploads_the_manifest_without_its_files(
        tmp_path: Path) -> None:
    repo, remote = _pipeline_repo(tmp_path)
    assert remote is not None
    def manifests() -> list[Path]:
        return sorted(remote.rglob("*.dir"))

    proc = archives(repo, "push", "--include", "outdir/a")
    assert b"manifest(s) withheld" in proc.stdout
    assert b"not uploaded: 1 of the 2 files it lists are not on the remote" in proc.stderr
    assert manifests() == []
    archives(repo, "push")
    assert len(manifests()) == 1


def test_a_partial_include_pull_leaves_the_folder_unrestored_and_a_full_pull_completes_it(
        tmp_path: Path) -> None:
    repo, _remote = _pipeline_repo(tmp_path)
    archives(repo, "push")
    clone = _clone(repo, tmp_path)
    proc = archives(clone, "pull", "--include", "outdir/a")
    assert proc.returncode == 0
    # the folder is not placed half-filled: the manifest is cached, one of its files is not
    assert not (clone / "outdir").exists()
    assert b"outside the selection or only partly in it" in proc.stderr
    st = archives(clone, "repro", "--dry", check=False)
    assert b"outdir" in st.stdout + st.stderr  # the pipeline sees the folder as not cached
    archives(clone, "pull")
    assert (clone / "outdir" / "a").read_text() == "B\n"
    assert (clone / "outdir" / "b").read_text() == "b\n"
    shutil.rmtree(clone)
