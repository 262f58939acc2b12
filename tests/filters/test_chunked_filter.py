"""Large files through the real filter: stored as chunks (no whole copy in the cache), a new
version stores only its new chunks, and checkout / smudge rebuild them byte for byte."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.repos import pointer_text, setup_repo

SIZE = 3 << 20


def _v1() -> bytes:
    rng = random.Random(15)
    text = b"".join(b"%d,%d,sample row\n" % (i, rng.randrange(10**6)) for i in range(120_000))
    return (rng.randbytes(SIZE // 2) + text)[:SIZE]


V1 = _v1()
V2 = V1[:2_000_000] + b"fixed row\n" + V1[2_000_010:] + b"appended,row\n" * 2000


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = setup_repo(tmp_path_factory.mktemp("chunked") / "r", "*.bin")
    for n, data in enumerate((V1, V2), 1):
        (r / "d.bin").write_bytes(data)
        git(r, "add", "d.bin")
        git(r, "commit", "-q", "-m", f"v{n}")
    return r


def _cache(repo: Path) -> Path:
    return repo / ".git" / "archives"


def test_chunked_not_whole(repo: Path) -> None:
    cache = _cache(repo)
    assert git(repo, "cat-file", "blob", "HEAD:d.bin").stdout == pointer_text(V2)
    assert not list((cache / "files").rglob("*")) or not [
        p for p in (cache / "files").rglob("*") if p.is_file()]
    recipes = [p for p in (cache / "chunks" / "recipes").rglob("*") if p.is_file()]
    assert len(recipes) == 2
    packs = sum(p.stat().st_size for p in (cache / "chunks" / "packs").glob("*.pack"))
    assert packs < len(V1) + len(V2) // 4  # version 2 added only its new chunks


def test_checkout_rebuilds_each_version(repo: Path) -> None:
    git(repo, "checkout", "-q", "HEAD~1")
    assert (repo / "d.bin").read_bytes() == V1
    git(repo, "checkout", "-q", "main")
    assert (repo / "d.bin").read_bytes() == V2
    assert git(repo, "status", "--porcelain").stdout == b""


def test_threshold_off_stores_whole(repo: Path, tmp_path: Path) -> None:
    r = setup_repo(tmp_path / "whole", "*.bin")
    git(r, "config", "archives.chunking.threshold", "off")
    (r / "d.bin").write_bytes(V1)
    git(r, "add", "d.bin")
    cache = _cache(r)
    assert [p for p in (cache / "files").rglob("*") if p.is_file()]
    assert not (cache / "chunks" / "recipes").exists()
    archives(r, "fsck")


def test_du_reports_stored_and_shared(repo: Path) -> None:
    import json

    out = json.loads(archives(repo, "du", "--json").stdout)
    assert out["chunked_objects"] == 2 and out["whole_objects"] == 0
    assert out["without_chunking"] == len(V1) + len(V2)
    assert out["stored"] < len(V1) + len(V2) // 4
    (f,) = out["files"]
    assert f["path"] == "d.bin" and f["size"] == len(V2) and f["chunked"]
    assert f["previous"] == "sha256:" + pointer_text(V1).split(b"sha256:")[1][:64].decode()
    assert 0 < f["new_bytes"] < len(V2) // 4 and f["shared_percent"] > 75
    text = archives(repo, "du", "d.bin").stdout.decode()
    assert text.startswith("stored: ") and "d.bin\t" in text and "shared" in text


def test_damaged_chunk_leaves_pointer_and_fsck_names_it(tmp_path: Path) -> None:
    r = setup_repo(tmp_path / "dmg", "*.bin")
    (r / "d.bin").write_bytes(V1)
    git(r, "add", "d.bin")
    git(r, "commit", "-q", "-m", "v1")
    packs = _cache(r) / "chunks" / "packs"
    (pack,) = packs.glob("*.pack")
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 3] ^= 0x40  # a byte inside some chunk in the random half
    pack.write_bytes(bytes(raw))
    dry = archives(r, "fsck", "--dry-run", check=False)
    out = dry.stdout.decode()
    assert dry.returncode == 1, out
    assert f"corrupt: pack {pack.stem}: 1 damaged chunk(s)" in out
    assert "does not match its id" in out and "corrupt: object sha256:" in out
    # Verified when it was added: the fast path checks each chunk's id and fails the file
    # at the bad chunk; git writes nothing of it.
    (r / "d.bin").unlink()
    proc = git(r, "checkout", "--", "d.bin", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "does not match its id" in err and "fsck" in err, err
    assert not (r / "d.bin").exists()
    # A clone whose cache was not verified since (state.db gone): the pointer stays.
    (_cache(r) / "state.db").unlink()
    proc = git(r, "checkout", "--", "d.bin")
    assert (r / "d.bin").read_bytes() == pointer_text(V1)
    assert "git archives pull" in proc.stderr.decode()
    fsck = archives(r, "fsck", check=False)
    out = fsck.stdout.decode()
    assert fsck.returncode == 1 and f"corrupt: pack {pack.stem}" in out, out
    assert "missing: d.bin" in out and "git archives pull" in fsck.stderr.decode()
    # moved aside, not deleted
    assert list((_cache(r) / "quarantine").glob(f"pack-{pack.stem}.pack-*"))


def test_gc_drops_unkept_recipe_and_repacks(tmp_path: Path) -> None:
    r = setup_repo(tmp_path / "gc", "*.bin")
    other = random.Random(7).randbytes(2 << 20)
    (r / "d.bin").write_bytes(other)
    git(r, "add", "d.bin")  # staged, then replaced: nothing keeps it
    (r / "d.bin").write_bytes(V1)
    git(r, "add", "d.bin")
    git(r, "commit", "-q", "-m", "v1")
    cache = _cache(r)
    recipes = cache / "chunks" / "recipes"
    assert len([p for p in recipes.rglob("*") if p.is_file()]) == 2
    before = sum(p.stat().st_size for p in (cache / "chunks" / "packs").glob("*.pack"))
    archives(r, "gc", "-w", "--expire", "now")
    assert len([p for p in recipes.rglob("*") if p.is_file()]) == 1
    after = sum(p.stat().st_size for p in (cache / "chunks" / "packs").glob("*.pack"))
    assert after < before - len(other) // 2
    (r / "d.bin").unlink()
    git(r, "checkout", "--", "d.bin")
    assert (r / "d.bin").read_bytes() == V1
    archives(r, "fsck")


def test_push_and_clone_of_chunked_objects(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    archives(repo, "remote", "add", "-d", "store", str(store))
    archives(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    archives(clone, "install")
    archives(clone, "remote", "add", "-d", "store", str(store))
    archives(clone, "pull")
    assert (clone / "d.bin").read_bytes() == V2


def test_same_size_edit_after_checkout_is_stored(repo: Path) -> None:
    """git re-cleans a checked-out file: the same bytes hash to the pointer; an edit of the
    same size (the compare path) is chunked from the file."""
    git(repo, "checkout", "-q", "main")
    assert git(repo, "status", "--porcelain", "-uno").stdout == b""
    edited = bytearray(V2)
    edited[1234] ^= 0xFF
    (repo / "d.bin").write_bytes(bytes(edited))
    git(repo, "add", "d.bin")
    assert git(repo, "cat-file", "blob", ":d.bin").stdout == pointer_text(bytes(edited))
    (repo / "d.bin").unlink()
    git(repo, "checkout", "--", "d.bin")
    assert (repo / "d.bin").read_bytes() == bytes(edited)
    git(repo, "reset", "-q", "--hard")
    assert (repo / "d.bin").read_bytes() == V2


def test_checkout_of_files_longer_than_the_splice_ring(tmp_path: Path) -> None:
    """Big smudges go to git through a ring of spliced pages (``pktline.PipeRing``, 8 MiB):
    two files that each go round it more than twice arrive byte for byte, one after the
    other through the same filter process, and a damaged file fails."""
    r = setup_repo(tmp_path / "big", "*.bin")
    rng = random.Random(21)
    files = {"a.bin": rng.randbytes(9 << 20) * 2 + V1, "b.bin": V2 * 7}
    for name, data in files.items():
        (r / name).write_bytes(data)
    git(r, "add", ".")
    git(r, "commit", "-q", "-m", "big")
    for name in files:
        (r / name).unlink()
    git(r, "checkout", "--", ".")
    for name, data in files.items():
        assert (r / name).read_bytes() == data
    assert git(r, "cat-file", "--filters", "HEAD:b.bin").stdout == files["b.bin"]
    assert git(r, "status", "--porcelain").stdout == b""
    # a damaged chunk 13 MiB in: git has had part of the file and is then told it failed
    packs = sorted((_cache(r) / "chunks" / "packs").glob("*.pack"), key=lambda p: p.stat().st_size)
    raw = bytearray(packs[-1].read_bytes())
    raw[(13 << 20) % len(raw)] ^= 0x40
    packs[-1].chmod(0o644)
    packs[-1].write_bytes(bytes(raw))
    (r / "a.bin").unlink()
    proc = git(r, "checkout", "--", "a.bin", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "does not match its id" in err, err
    assert not (r / "a.bin").exists()
