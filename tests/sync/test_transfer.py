"""The transfer layer's public functions, called directly on real repositories."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitext.codec.hashing import ObjectId
from gitext.config import Config
from gitext.git.repo import Repo
from gitext.progress import Progress
from gitext.remotes import open_remote
from gitext.store.manifests import ManifestEntry, manifest_bytes, write_manifest
from gitext.store.objects import LocalStore
from gitext.sync import patterns, prepush, references, transfer
from tests.helpers import archives, git
from tests.helpers.s3 import add_dir_remote, make_data_repo


def _sha(data: bytes) -> ObjectId:
    return ObjectId("sha256", hashlib.sha256(data).hexdigest())


def _md5(data: bytes) -> ObjectId:
    return ObjectId("md5", hashlib.md5(data).hexdigest())


def _with_remote(repo: Path, tmp_path: Path) -> Path:
    return add_dir_remote(repo, tmp_path / "remote")


def test_referenced_objects_reads_head_by_default_and_history_on_request(tmp_path: Path) -> None:
    v1, v2, other = b"one" * 500, b"two" * 500, b"other" * 500
    repo = make_data_repo(tmp_path / "r", {"a.bin": v1, "sub/o.bin": other, "text.txt": b"hi"})
    (repo / "a.bin").write_bytes(v2)
    git(repo, "commit", "-qam", "v2")
    r = Repo.discover(repo)
    assert references.referenced_objects(r, None) == {_sha(v2), _sha(other)}
    assert references.referenced_objects(r, ["HEAD~1"]) == {_sha(v1), _sha(other)}
    assert references.referenced_objects(r, None, all_commits=True) == {
        _sha(v1), _sha(v2), _sha(other)}
    assert references.referenced_objects(r, None, include=["sub"]) == {_sha(other)}
    assert references.referenced_objects(r, None, exclude=["*.bin"]) == set()


def _pipeline_repo(tmp_path: Path) -> tuple[Path, bytes, list[bytes], ObjectId]:
    repo = make_data_repo(tmp_path / "r", {"raw.bin": b"raw" * 300})
    store = LocalStore(Path(Repo.discover(repo).archives_dir))
    model = b"model bytes" * 100
    store.add_stream(io.BytesIO(model), "md5")
    parts = [b"part %d" % i * 50 for i in range(3)]
    entries = []
    for i, p in enumerate(parts):
        store.add_stream(io.BytesIO(p), "md5")
        entries.append(ManifestEntry(f"p{i}.txt", _md5(p).digest))
    dir_id = write_manifest(store, manifest_bytes(entries))
    store.state.flush()  # an open state.db transaction would make git's filter wait
    lock = (
        "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    outs:\n"
        f"    - path: model.pkl\n      hash: md5\n      md5: {_md5(model).digest}\n"
        f"      size: {len(model)}\n"
        f"    - path: parts\n      hash: md5\n      md5: {dir_id}\n      size: 1\n"
        "      nfiles: 3\n"
    )
    (repo / "dvc.lock").write_text(lock)
    git(repo, "add", "dvc.lock")
    git(repo, "commit", "-qm", "pipeline")
    return repo, model, parts, ObjectId("md5", dir_id[:-4])


def test_lock_outputs_and_directory_manifests_are_referenced(tmp_path: Path) -> None:
    repo, model, parts, manifest = _pipeline_repo(tmp_path)
    refs = references.referenced_objects(Repo.discover(repo), None)
    assert refs == {_sha(b"raw" * 300), _md5(model), manifest, *(_md5(p) for p in parts)}
    only_parts = references.referenced_objects(Repo.discover(repo), None, include=["parts/p1.txt"])
    assert only_parts == {manifest, _md5(parts[1])}


def test_pipeline_outputs_travel_with_push_and_fetch(tmp_path: Path) -> None:
    repo, model, parts, manifest = _pipeline_repo(tmp_path)
    remote = _with_remote(repo, tmp_path)
    r = Repo.discover(repo)
    rem = open_remote(Config.load(repo), root=repo)
    report = transfer.push(r, rem, references.find_references(r, None))
    assert report.ok and len(report.transferred) == 6
    assert (remote / (manifest.key + ".dir")).is_file()
    store = LocalStore(r.archives_dir)
    from gitext.store.objects import remove_tree_safely

    remove_tree_safely(store.files)
    refs = references.find_references(r, None)
    assert refs.unexpanded == {manifest}  # not cached: its files are not known yet
    got = transfer.fetch(r, rem, refs)
    assert got.ok and len(got.transferred) == 6
    for p in parts:
        assert store.has(_md5(p))
    assert store.has(_md5(model))


def test_fetch_objects_returns_what_is_now_cached(tmp_path: Path) -> None:
    a, b = os.urandom(2000), os.urandom(3000)
    repo = make_data_repo(tmp_path / "r", {"a.bin": a, "b.bin": b})
    _with_remote(repo, tmp_path)
    archives(repo, "push")
    r = Repo.discover(repo)
    store = LocalStore(r.archives_dir)
    from gitext.store.objects import remove_tree_safely

    remove_tree_safely(store.files)
    absent = _sha(b"never stored")
    got = transfer.fetch_objects(r, [_sha(a), _sha(b), absent], jobs=2)
    assert got == {_sha(a), _sha(b)}
    assert transfer.fetch_objects(r, [_sha(a)]) == {_sha(a)}


def test_pre_push_uploads_only_the_new_commits_objects(tmp_path: Path) -> None:
    old, new = os.urandom(1000), os.urandom(1000)
    repo = make_data_repo(tmp_path / "r", {"a.bin": old})
    remote = _with_remote(repo, tmp_path)
    r = Repo.discover(repo)
    base = r.resolve_rev("HEAD")
    (repo / "a.bin").write_bytes(new)
    git(repo, "commit", "-qam", "new")
    head = r.resolve_rev("HEAD")
    line = f"refs/heads/main {head} refs/heads/main {base}"
    assert prepush.pre_push(r, "origin", "/x", [line]) == 0
    assert (remote / _sha(new).key).is_file()
    assert not (remote / _sha(old).key).exists()  # the remote already had that commit
    zero = "0" * 40
    assert prepush.pre_push(r, "origin", "/x", [f"(delete) {zero} refs/heads/x {head}"]) == 0
    assert prepush.pre_push(r, "origin", "/x", []) == 0


def test_pre_push_raises_with_the_reason_when_objects_are_missing(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "r", {"a.bin": os.urandom(1000)})
    _with_remote(repo, tmp_path)
    r = Repo.discover(repo)
    from gitext.errors import RemoteError
    from gitext.store.objects import remove_tree_safely

    remove_tree_safely(LocalStore(r.archives_dir).files)
    head = r.resolve_rev("HEAD")
    with pytest.raises(RemoteError, match="not in the local cache"):
        prepush.pre_push(r, "origin", "/x", [f"refs/heads/main {head} refs/heads/main {'0' * 40}"])


@pytest.mark.parametrize(("pattern", "path", "hit"), [
    ("*.csv", "a/b/c.csv", True), ("*.csv", "c.csv", True), ("data", "data/x/y.bin", True),
    ("data/", "data/y.bin", True), ("/data", "sub/data/y.bin", False), ("data", "sub/data/y", True),
    ("a/*.bin", "a/x.bin", True), ("a/*.bin", "a/b/x.bin", False),
    ("a/**/x.bin", "a/b/c/x.bin", True),
    ("a/**/x.bin", "a/x.bin", True), ("?.bin", "ab.bin", False), ("models/**", "models/m/1", True),
])
def test_path_patterns_follow_git_style_globbing(pattern: str, path: str, hit: bool) -> None:
    assert patterns.PathFilter([pattern])(path) is hit


@given(st.lists(st.text("abc.-_", min_size=1, max_size=5).filter(lambda s: s not in (".", "..")),
                min_size=1, max_size=4))
def test_a_literal_anchored_path_always_matches_itself(parts: list[str]) -> None:
    path = "/".join(parts)
    f = patterns.PathFilter(["/" + path])
    assert f(path)
    assert f(path + "/below")
    assert patterns.PathFilter([], ["/" + path])(path) is False


def test_progress_is_silent_in_a_pipe_and_shows_rate_and_eta_on_a_terminal() -> None:
    quiet = io.StringIO()
    p = Progress("push", 1000, 2, stream=quiet)
    p.advance(500)
    p.close()
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    p = Progress("push", 2_000_000, 2, stream=loud, enabled=True)
    p.advance(1_000_000)
    p.file_done()
    p.close()
    line = loud.getvalue()
    assert "50.0%" in line and "1.0 MB/2.0 MB" in line and "1/2 files" in line
    assert "/s" in line and "ETA" in line


def test_a_clone_pulls_pipeline_outputs_instead_of_rerunning_them(tmp_path: Path) -> None:
    repo, model, parts, _manifest = _pipeline_repo(tmp_path)
    (repo / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: python train.py\n    outs:\n    - model.pkl\n    - parts\n")
    (repo / ".gitignore").write_text("/model.pkl\n/parts\n")
    _with_remote(repo, tmp_path)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline + remote")
    archives(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", os.fspath(repo), os.fspath(clone))
    archives(clone, "install")
    out = archives(clone, "pull").stdout.decode()
    assert "output(s) of dvc.lock and .dvc files restored" in out
    assert (clone / "model.pkl").read_bytes() == model
    for i, p in enumerate(parts):
        assert (clone / "parts" / f"p{i}.txt").read_bytes() == p
