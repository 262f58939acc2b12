"""gc's scope flags mean what DVC's mean: -a all branches, -T all tags, -A all commits,
--rev, -n/--num, --not-in-remote; -w alone keeps the work trees (and what is unpushed)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from tests.helpers import archives, git
from tests.helpers.s3 import add_dir_remote, make_data_repo


def _key(data: bytes) -> str:
    d = hashlib.sha256(data).hexdigest()
    return f"files/sha256/{d[:2]}/{d[2:]}"


def _commit(repo: Path, data: bytes, msg: str) -> None:
    (repo / "a.bin").write_bytes(data)
    git(repo, "add", "a.bin")
    git(repo, "commit", "-qm", msg)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """main: A (tag v1, annotated) - B - C (HEAD); branch other: A - D. All pushed, so the
    unpushed rule keeps none of them; one more object is cached, unreferenced and unpushed."""
    tmp = tmp_path_factory.mktemp("scope")
    blobs = {k: os.urandom(3000) for k in "ABCDX"}
    repo = make_data_repo(tmp / "r", {"a.bin": blobs["A"]})
    add_dir_remote(repo, tmp / "remote", commit=True)
    git(repo, "tag", "-a", "-m", "first", "v1")
    git(repo, "switch", "-q", "-c", "other")
    _commit(repo, blobs["D"], "D")
    git(repo, "switch", "-q", "main")
    _commit(repo, blobs["B"], "B")
    _commit(repo, blobs["C"], "C")
    git(tmp, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", os.fspath(tmp / "origin.git"))
    git(repo, "push", "-q", "origin", "main", "other", "--tags")  # data goes too (pre-push)
    (repo / "x.bin").write_bytes(blobs["X"])
    git(repo, "add", "x.bin")  # cached by the clean filter, never pushed ...
    git(repo, "rm", "-q", "--cached", "x.bin")  # ... and no longer referenced
    (repo / "x.bin").unlink()
    return repo, blobs


def _would_go(repo: Path, *flags: str) -> set[str]:
    out = archives(repo, "gc", *flags, "--dry", "--expire", "now").stdout.decode()
    return set(re.findall(r"^would remove (files/\S+)", out, re.M))


def test_each_scope_flag_keeps_what_dvc_keeps(history: tuple[Path, dict[str, bytes]]) -> None:
    repo, blobs = history
    key = {k: _key(v) for k, v in blobs.items()}
    assert _would_go(repo, "-w") == {key["A"], key["B"], key["D"], key["X"]}
    assert _would_go(repo, "--all-branches") == {key["A"], key["B"], key["X"]}
    assert _would_go(repo, "-T") == {key["B"], key["D"], key["X"]}
    assert _would_go(repo, "-A") == {key["X"]}
    assert _would_go(repo, "--rev", "main~1") == {key["A"], key["D"], key["X"]}
    assert _would_go(repo, "--rev", "main", "-n", "2") == {key["A"], key["D"], key["X"]}
    assert _would_go(repo, "-a", "-T", "--num", "3") == {key["X"]}
    assert all((repo / ".git" / "archives" / k).is_file() for k in key.values())  # dry


def test_not_in_remote_keeps_what_the_remote_lacks(
        history: tuple[Path, dict[str, bytes]]) -> None:
    repo, blobs = history
    proc = archives(repo, "gc", "-w", "--not-in-remote", "--dry", "--expire", "now")
    out = proc.stdout.decode()
    assert _key(blobs["X"]) not in out
    assert f"would remove {_key(blobs['A'])}" in out
    assert "kept 1 unreferenced object(s) (3.0 KB) that remote 'storage' lacks" in out
    # --remote NAME names the remote compared with; the cache is what is collected
    named = archives(repo, "gc", "-w", "--not-in-remote", "--remote", "storage", "--dry",
                     "--expire", "now").stdout.decode()
    assert "from the local cache" in named and "remote 'storage' lacks" in named


def test_short_a_is_all_branches_and_says_so(history: tuple[Path, dict[str, bytes]]) -> None:
    repo, _blobs = history
    proc = archives(repo, "gc", "-a", "--dry", "--expire", "now")
    assert b"note: -a means --all-branches, as in DVC" in proc.stderr
    quiet = archives(repo, "gc", "--all-branches", "--dry", "--expire", "now")
    assert quiet.stderr == b""


@pytest.mark.parametrize(("args", "message"), [
    ((), "gc needs one of -w/--workspace, -a/--all-branches"),
    (("-w", "-n"), "-n is --num N, as in DVC"),
    (("-w", "-n", "2"), "-n/--num counts commits from --rev, -a or -T tips"),
    (("--rev", "no-such-rev"), "--rev: 'no-such-rev' is not a commit here"),
])
def test_bad_scopes_are_refused(history: tuple[Path, dict[str, bytes]],
                                args: tuple[str, ...], message: str) -> None:
    repo, _blobs = history
    proc = archives(repo, "gc", *args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr.decode()
    assert proc.stdout == b""


def test_push_takes_dvcs_branch_and_tag_flags(history: tuple[Path, dict[str, bytes]],
                                              tmp_path: Path) -> None:
    repo, blobs = history
    spare = tmp_path / "spare"
    spare.mkdir()
    archives(repo, "remote", "add", "spare", str(spare))  # local: no confirmation needed

    def there() -> set[str]:
        return {k for k, v in blobs.items() if (spare / _key(v)).is_file()}

    archives(repo, "push", "-r", "spare", "-a")
    assert there() == {"C", "D"}
    archives(repo, "push", "-r", "spare", "-T")
    assert there() == {"A", "C", "D"}
    archives(repo, "push", "-r", "spare", "-A")
    assert there() == {"A", "B", "C", "D"}
    both = archives(repo, "push", "-r", "spare", "-A", "-a", check=False)
    assert both.returncode == 2 and b"-A/--all-commits already takes every commit" in both.stderr
