"""The protocol driven directly: handshake, per-file errors, truncated streams."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

from gitext.codec import pktline
from tests.helpers import BIN_DIR
from tests.helpers.repos import pointer_text, setup_repo


def _session(*requests: bytes) -> bytes:
    hello = (pktline.encode_text("git-filter-client") + pktline.encode_text("version=2")
             + pktline.FLUSH + pktline.encode_text("capability=clean")
             + pktline.encode_text("capability=smudge") + pktline.encode_text("capability=delay")
             + pktline.FLUSH)
    return hello + b"".join(requests)


def _request(command: str, path: str, content: bytes) -> bytes:
    body = b"".join(pktline.encode(content[i:i + 65516]) for i in range(0, len(content), 65516))
    return (pktline.encode_text(f"command={command}") + pktline.encode_text(f"pathname={path}")
            + pktline.FLUSH + body + pktline.FLUSH)


def _run(repo: Path, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(BIN_DIR / "git-archives"), "filter-process"], cwd=repo,
                          input=stdin, capture_output=True, check=False)


def _responses(out: bytes) -> list[tuple[list[str], bytes, list[str]]]:
    """Parse server output after the handshake into (status list, content, final status)."""
    s = io.BytesIO(out)
    assert pktline.read_text_list(s) == ["git-filter-server", "version=2"]
    caps = pktline.read_text_list(s)
    assert caps == ["capability=clean", "capability=smudge", "capability=delay"]
    res: list[tuple[list[str], bytes, list[str]]] = []
    while s.tell() < len(out):
        status = pktline.read_text_list(s)
        if status != ["status=success"]:
            res.append((status, b"", []))
            continue
        content = b"".join(pktline.iter_payloads(s))
        final = pktline.read_text_list(s)
        res.append((status, content, final))
    return res


def test_clean_stores_content_and_answers_a_pointer(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    data = os.urandom(200_000)
    proc = _run(repo, _session(_request("clean", "x.bin", data)))
    assert proc.returncode == 0, proc.stderr
    [(_, content, _)] = _responses(proc.stdout)
    assert content == pointer_text(data)
    oid = hashlib.sha256(data).hexdigest()
    obj = repo / ".git" / "archives" / "files" / "sha256" / oid[:2] / oid[2:]
    assert obj.read_bytes() == data
    assert not os.access(obj, os.W_OK) or os.geteuid() == 0
    assert oid[:2] and (obj.stat().st_mode & 0o222) == 0


def test_clean_passes_an_existing_pointer_through_byte_for_byte(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    text = pointer_text(b"hello").replace(b"\n", b"\r\n")  # even a lenient spelling
    proc = _run(repo, _session(_request("clean", "p.bin", text)))
    [(_, content, _)] = _responses(proc.stdout)
    assert content == text


def test_smudge_passes_a_non_pointer_through_with_a_warning(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    proc = _run(repo, _session(_request("smudge", "plain.bin", b"not a pointer\n")))
    [(_, content, _)] = _responses(proc.stdout)
    assert content == b"not a pointer\n"
    assert b"plain.bin" in proc.stderr and b"not a pointer" in proc.stderr


def test_smudge_of_a_missing_object_leaves_the_pointer_and_names_the_fetch_command(
        tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    text = pointer_text(b"never stored")
    proc = _run(repo, _session(_request("smudge", "gone.bin", text)))
    [(status, content, _)] = _responses(proc.stdout)
    assert status == ["status=success"] and content == text
    assert b"gone.bin" in proc.stderr and b"git archives pull" in proc.stderr


def test_one_failing_file_answers_error_and_the_process_serves_the_next(
        tmp_path: Path) -> None:
    import resource

    repo = setup_repo(tmp_path / "r")
    big, small = os.urandom(300_000), os.urandom(1000)

    def limit() -> None:  # writes past 100 kB fail with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    proc = subprocess.run([str(BIN_DIR / "git-archives"), "filter-process"], cwd=repo,
                          input=_session(_request("clean", "big", big),
                                         _request("clean", "small", small)),
                          capture_output=True, check=False, preexec_fn=limit)
    assert proc.returncode == 0
    res = _responses(proc.stdout)
    assert res[0][0] == ["status=error"]
    assert res[1][1] == pointer_text(small)
    assert b"big: cannot write to the store" in proc.stderr
    assert not list((repo / ".git" / "archives" / "tmp").iterdir())


def test_a_corrupt_cached_object_is_not_served(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    good, bad = os.urandom(1000), os.urandom(1000)
    _run(repo, _session(_request("clean", "a", good), _request("clean", "b", bad)))
    oid = hashlib.sha256(bad).hexdigest()
    obj = repo / ".git" / "archives" / "files" / "sha256" / oid[:2] / oid[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"X" + bad[1:])
    proc = _run(repo, _session(_request("smudge", "b", pointer_text(bad)),
                               _request("smudge", "a", pointer_text(good))))
    res = _responses(proc.stdout)
    assert res[0][1] == pointer_text(bad)  # the pointer stays; the bad bytes never leave
    assert res[1][1] == good
    assert b"corrupt" in proc.stderr and b"git archives pull" in proc.stderr


def test_a_truncated_stream_ends_the_process_with_a_clear_message(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    req = _request("clean", "t.bin", b"x" * 100_000)
    proc = _run(repo, _session(req[: len(req) // 2]))
    assert proc.returncode == 1
    assert b"truncated" in proc.stderr
    assert not list((repo / ".git" / "archives" / "tmp").glob("*"))


def test_a_bad_handshake_is_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    proc = _run(repo, pktline.encode_text("hello") + pktline.FLUSH)
    assert proc.returncode == 1
    assert b"handshake" in proc.stderr


def test_smudge_of_a_pointer_with_the_wrong_size_leaves_the_pointer(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    data = b"twelve bytes"
    _run(repo, _session(_request("clean", "a", data)))
    lying = pointer_text(data).replace(b"size 12", b"size 13")
    proc = _run(repo, _session(_request("smudge", "a", lying)))
    [(_, content, _)] = _responses(proc.stdout)
    assert content == lying
    assert b"13 bytes" in proc.stderr


def test_filter_process_stdout_carries_only_the_protocol(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    proc = _run(repo, _session(_request("smudge", "x", b"plain")))
    assert _responses(proc.stdout)  # parses fully: no stray log lines on stdout
    assert sys.executable
