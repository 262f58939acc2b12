"""``git archives add PATH…`` tracks exactly those paths and stages them as pointers."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import archives, git
from tests.helpers.repos import pointer_text, setup_repo, staged_blob


def test_add_tracks_and_stages_files_and_folders(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", "*.bin")
    (repo / "data set").mkdir()
    (repo / "data set" / "a[1].csv").write_bytes(b"a" * 2000)
    (repo / "data set" / "sub").mkdir()
    (repo / "data set" / "sub" / "b.csv").write_bytes(b"b" * 3000)
    (repo / "model.pkl").write_bytes(b"m" * 4000)
    (repo / "w.bin").write_bytes(b"w" * 100)  # an existing rule covers it
    (repo / "other.csv").write_bytes(b"o" * 10)  # not named: stays plain and unstaged
    out = archives(repo, "add", "data set", "model.pkl", "w.bin").stdout.decode()
    assert "Tracking '/data set/**'" in out and "Tracking '/model.pkl'" in out
    rules = (repo / ".gitattributes").read_text()
    assert '"/data set/**" filter=archives' in rules and "/model.pkl filter=archives" in rules
    assert "w.bin" not in rules
    for path, data in (("data set/a[1].csv", b"a" * 2000), ("data set/sub/b.csv", b"b" * 3000),
                       ("model.pkl", b"m" * 4000), ("w.bin", b"w" * 100)):
        assert staged_blob(repo, path) == pointer_text(data), path
    assert staged_blob(repo, ".gitattributes") == rules.encode()
    assert "other.csv" not in git(repo, "ls-files").stdout.decode()


def test_add_of_a_file_git_already_had_stores_it_as_a_pointer(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    (repo / "big.dat").write_bytes(b"x" * 5000)
    git(repo, "add", "big.dat")
    git(repo, "commit", "-qm", "plain")
    assert staged_blob(repo, "big.dat") == b"x" * 5000
    archives(repo, "add", "big.dat")
    assert staged_blob(repo, "big.dat") == pointer_text(b"x" * 5000)
    assert (repo / "big.dat").read_bytes() == b"x" * 5000


def test_add_refuses_before_writing_anything(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    (repo / "ok.dat").write_bytes(b"1")
    (repo / "data").mkdir()
    (repo / "data" / "x.csv").write_bytes(b"2")
    (repo / ".gitignore").write_text("/data\n")
    (repo / "data.dvc").write_text("outs:\n- path: data\n")
    outside = tmp_path / "elsewhere.dat"
    outside.write_bytes(b"3")
    for args, message in ((("ok.dat", "nope.dat"), "'nope.dat' does not exist"),
                          (("ok.dat", str(outside)), "is outside the repository"),
                          (("ok.dat", ".git"), "'.git' cannot be added"),
                          (("ok.dat", "data"), "'data' is ignored by git (a .gitignore rule); "
                                               "it is tracked by DVC (data.dvc)")):
        proc = archives(repo, "add", *args, check=False)
        assert proc.returncode == 2, args
        assert message in proc.stderr.decode(), proc.stderr
        assert not (repo / ".gitattributes").exists()
        assert git(repo, "diff", "--cached", "--name-only").stdout == b""
    archives(repo, "add", "-f", "data")
    assert staged_blob(repo, "data/x.csv") == pointer_text(b"2")
