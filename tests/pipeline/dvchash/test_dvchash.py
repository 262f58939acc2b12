"""DVC's ids: file md5, legacy md5-dos2unix, the .dir manifest, and the store layout."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitext.errors import CorruptObjectError, InvalidObjectIdError
from gitext.pipeline.dvchash import md5 as dvcmd5
from gitext.pipeline.dvchash import tree
from gitext.pipeline.dvchash.tree import Hasher
from gitext.store import manifests
from gitext.store.manifests import ManifestEntry
from gitext.store.objects import LocalStore
from gitext.store.state import StateCache


def test_file_id_is_the_plain_md5_of_its_bytes(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"a\r\nb\r\n")
    assert dvcmd5.file_md5(p) == (hashlib.md5(b"a\r\nb\r\n").hexdigest(), 6)


@pytest.mark.parametrize("hint", [-1, 0, 10, 3 * 1024 * 1024])
def test_large_files_hash_right_whatever_the_size_hint(tmp_path: Path, hint: int) -> None:
    data = bytes(range(256)) * 9000  # 2.3 MB: several reads
    p = tmp_path / "big"
    p.write_bytes(data)
    assert dvcmd5.file_md5(p, dvcmd5.MD5, hint) == (hashlib.md5(data).hexdigest(), len(data))


def test_legacy_id_normalises_crlf_in_text_but_not_in_binary(tmp_path: Path) -> None:
    text = tmp_path / "t"
    text.write_bytes(b"a\r\nb\r\n")
    binary = tmp_path / "b"
    binary.write_bytes(b"\x00\x01a\r\n")
    assert dvcmd5.file_md5(text, dvcmd5.LEGACY)[0] == hashlib.md5(b"a\nb\n").hexdigest()
    assert dvcmd5.file_md5(binary, dvcmd5.LEGACY)[0] == \
        hashlib.md5(b"\x00\x01a\r\n").hexdigest()


def test_text_detection_follows_dvc_thresholds() -> None:
    assert dvcmd5.is_text_block(b"")
    assert not dvcmd5.is_text_block(b"abc\x00")
    assert dvcmd5.is_text_block(b"a" * 7 + b"\xff" * 3)  # 30 % is still text
    assert not dvcmd5.is_text_block(b"a" * 6 + b"\xff" * 4)


def test_manifest_is_serialised_exactly_as_dvc_writes_it() -> None:
    entries = [ManifestEntry("b/c.txt", "1" * 32), ManifestEntry("a.txt", "2" * 32)]
    data = manifests.manifest_bytes(entries)
    assert data == (
        b'[{"md5": "22222222222222222222222222222222", "relpath": "a.txt"}, '
        b'{"md5": "11111111111111111111111111111111", "relpath": "b/c.txt"}]'
    )


def test_directory_id_is_the_manifest_md5_with_dir_suffix(tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "x.txt").write_text("x\n")
    (d / "sub" / "y.txt").write_text("yy\n")
    (d / ".git").mkdir()
    (d / ".git" / "ignored").write_text("not part of the directory")
    info, entries = Hasher(None).directory(d)
    manifest = json.dumps([
        {"md5": hashlib.md5(b"yy\n").hexdigest(), "relpath": "sub/y.txt"},
        {"md5": hashlib.md5(b"x\n").hexdigest(), "relpath": "x.txt"},
    ], sort_keys=True).encode()
    assert info.md5 == hashlib.md5(manifest).hexdigest() + ".dir"
    assert (info.size, info.nfiles) == (5, 2)
    assert [e.relpath for e in entries] == ["sub/y.txt", "x.txt"]


def test_unchanged_files_are_not_read_again(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for i in range(20):
        (d / f"{i}.txt").write_text(str(i))
    old = time.time() - 60  # older than the racy window, as in a real checkout
    for p in d.iterdir():
        os.utime(p, (old, old))
    state = StateCache(tmp_path / "state.db")
    first = Hasher(state).directory(d)[0]
    state.flush()
    calls: list[str] = []
    real = dvcmd5.file_ids

    def counting(path: str, size: int, old: dvcmd5.Ids | None = None,
                 hash_name: str = dvcmd5.MD5) -> dvcmd5.Ids:
        calls.append(str(path))
        return real(path, size, old, hash_name)

    monkeypatch.setattr(dvcmd5, "file_ids", counting)
    assert Hasher(state).directory(d)[0] == first
    assert calls == []
    (d / "3.txt").write_text("changed")
    second = Hasher(state).directory(d)[0]
    assert second != first
    assert calls == [str(d / "3.txt")]


def test_executable_files_are_marked_isexec(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text("echo hi\n")
    p.chmod(0o755)
    info = Hasher(None).path(p)
    assert info is not None and info.isexec


@pytest.mark.parametrize("relpath", ["../evil", "/etc/passwd", "a/../../b", "a//b", "", ".",
                                     "C:/x", "a\\b"])
def test_manifest_entries_that_leave_their_directory_are_refused(relpath: str) -> None:
    data = json.dumps([{"md5": "0" * 32, "relpath": relpath}]).encode()
    with pytest.raises(CorruptObjectError):
        manifests.parse_manifest(data, where="m")


@given(st.binary(max_size=200))
def test_parsing_any_bytes_as_a_manifest_fails_only_with_a_clear_error(data: bytes) -> None:
    try:
        manifests.parse_manifest(data, where="m")
    except CorruptObjectError:
        pass


def test_manifests_are_stored_with_dir_suffix_and_verified(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    data = manifests.manifest_bytes([ManifestEntry("a", "0" * 32)])
    oid = manifests.write_manifest(store, data)
    digest = hashlib.md5(data).hexdigest()
    assert oid == digest + ".dir"
    path = tmp_path / "cache" / "files" / "md5" / digest[:2] / (digest[2:] + ".dir")
    assert path.read_bytes() == data
    assert manifests.read_manifest(store, oid) == [ManifestEntry("a", "0" * 32)]
    path.chmod(0o644)
    path.write_bytes(b"[]")
    with pytest.raises(CorruptObjectError):
        manifests.read_manifest(store, oid)


def test_ids_are_validated_before_they_become_paths(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    for bad in ["../../etc", "0" * 31, "A" * 32, "0" * 32 + ".dirx"]:
        with pytest.raises(InvalidObjectIdError):
            manifests.object_path(store, bad)


@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.sampled_from(["0" * 32, "f" * 32])),
                max_size=8))
def test_manifest_bytes_equal_dvc_json_dumps_for_any_names(pairs: list[tuple[str, str]]) -> None:
    entries = [ManifestEntry(rel, md5) for rel, md5 in pairs]
    expected = json.dumps(sorted(({"md5": md5, "relpath": rel} for rel, md5 in pairs),
                                 key=lambda d: d["relpath"]), sort_keys=True).encode()
    assert manifests.manifest_bytes(entries) == expected


def test_a_symlink_loop_inside_a_directory_does_not_hang(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("a")
    (d / "loop").symlink_to(d)
    (d / "link.txt").symlink_to(d / "a.txt")
    _info, entries = Hasher(None).directory(d)
    assert [e.relpath for e in entries] == ["a.txt", "link.txt"]


def test_a_directory_whose_stats_did_not_change_is_known_from_one_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "d"
    d.mkdir()
    old = time.time() - 60
    for i in range(5):
        (d / f"{i}.txt").write_text(str(i))
        os.utime(d / f"{i}.txt", (old, old))
    state = StateCache(tmp_path / "state.db")
    first = Hasher(state).directory_id(d)
    assert first == Hasher(None).directory(d)[0]

    def no_rehash(*_a: object) -> None:
        raise AssertionError("a file of the directory was read again")

    with monkeypatch.context() as m:
        m.setattr(tree, "hash_files", no_rehash)
        assert Hasher(state).directory_id(d) == first
    (d / "2.txt").write_text("9")  # same size, new content
    second = Hasher(state).directory_id(d)
    assert second != first and second == Hasher(None).directory(d)[0]


def _aged_dir(tmp_path: Path, n: int = 80) -> Path:
    d = tmp_path / "d"
    d.mkdir()
    old = time.time() - 120
    for i in range(n):
        (d / f"{i:03}.txt").write_text(f"{i:05}" * 20)
        os.utime(d / f"{i:03}.txt", (old, old))
    return d


def test_touched_files_keep_their_id_and_a_same_size_edit_is_still_seen(
        tmp_path: Path) -> None:
    d = _aged_dir(tmp_path)
    state = StateCache(tmp_path / "state.db")
    first = Hasher(state).directory_id(d)
    # Every file touched (a checkout, a copy): new mtime and ctime, same bytes.
    when = time.time_ns() - 60 * 10**9
    for p in d.iterdir():
        os.utime(p, ns=(when, when))
    assert Hasher(state).directory_id(d) == first == Hasher(None).directory_id(d)
    # Same size, new bytes, and the old mtime put back: only the content says it changed.
    target = d / "007.txt"
    before = target.stat()
    target.write_text("x" * before.st_size)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    second = Hasher(state).directory_id(d)
    assert second != first and second == Hasher(None).directory_id(d)
    state.close()


def test_a_directory_row_does_not_vouch_for_files_written_just_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for i in range(5):
        (d / f"{i}.txt").write_text(str(i))  # mtime: now, as right after a command wrote them
    state = StateCache(tmp_path / "state.db")
    Hasher(state).directory_id(d)
    calls: list[str] = []
    real = dvcmd5.file_ids

    def counting(path: str, size: int, old: dvcmd5.Ids | None = None,
                 hash_name: str = dvcmd5.MD5) -> dvcmd5.Ids:
        calls.append(path)
        return real(path, size, old, hash_name)

    monkeypatch.setattr(dvcmd5, "file_ids", counting)
    Hasher(state).directory_id(d)
    assert len(calls) == 5  # racily clean: read again, as git does
    state.close()


def test_many_files_hash_the_same_on_several_threads(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for i in range(80):
        (d / f"{i}.bin").write_bytes(os.urandom(dvcmd5.PARALLEL_MIN_AVERAGE + i))
    items = [(os.fspath(p), p.stat().st_size, None) for p in sorted(d.iterdir())]
    total = sum(size for _p, size, _o in items)
    assert total > dvcmd5.PARALLEL_MIN_BYTES
    assert len(items) >= dvcmd5.PARALLEL_MIN_FILES
    assert total >= dvcmd5.PARALLEL_MIN_AVERAGE * len(items)  # so threads are used
    ids = dvcmd5.hash_files(items)
    assert [md5 for md5, _sha in ids] == [dvcmd5.file_md5(p)[0] for p, _s, _o in items]
    want_sha = dvcmd5.sha256_is_faster()
    assert all(sha == (hashlib.sha256(Path(p).read_bytes()).digest() if want_sha else b"")
               for (p, _s, _o), (_m, sha) in zip(items, ids, strict=True))


@pytest.mark.parametrize("sha_faster", [True, False])
def test_touched_files_are_verified_by_sha256_only_where_it_is_the_faster_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sha_faster: bool) -> None:
    monkeypatch.setattr(dvcmd5, "_SHA_IS_FASTER", [sha_faster])
    d = _aged_dir(tmp_path, 10)
    state = StateCache(tmp_path / "state.db")
    first = Hasher(state).directory_id(d)
    when = time.time_ns() - 60 * 10**9
    for p in d.iterdir():
        os.utime(p, ns=(when, when))
    md5_calls: list[int] = []
    real_md5 = hashlib.md5

    def counting_md5(*args: object, **kw: object) -> object:
        md5_calls.append(1)
        return real_md5(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(hashlib, "md5", counting_md5)
    assert Hasher(state).directory_id(d) == first
    # sha256 proves the ten files unchanged: only the manifest's own md5 is computed.
    assert len(md5_calls) == (1 if sha_faster else 11)
    state.close()


def test_a_file_we_may_not_open_without_touching_atime_is_still_hashed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "theirs.bin"
    p.write_bytes(b"x" * 5000)
    real_open = os.open
    noatime = getattr(os, "O_NOATIME", 0)

    def owner_only(path: str, flags: int, *args: int) -> int:
        if noatime and flags & noatime:
            raise PermissionError(1, "Operation not permitted")  # what a non-owner gets
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", owner_only)
    want = hashlib.md5(b"x" * 5000).hexdigest()
    assert dvcmd5.file_ids(str(p), 5000)[0] == want
    assert dvcmd5.file_md5(p) == (want, 5000)
