"""`track` never turns the files git and DVC read into pointers, and refuses patterns that
gitattributes would read as something else (a comment, a negation, a macro, two lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import archives, git

PLAIN = ["data/raw/a.csv.dvc", "data/raw/.gitignore", "data/raw/.gitattributes",
         "data/raw/.dvcignore", "data/raw/dvc.yaml", "data/raw/dvc.lock", ".archives/config",
         ".dvc/config", "data/raw/.dvc/config"]


def _attr(repo: Path, paths: list[str]) -> dict[str, str]:
    out = git(repo, "check-attr", "-z", "filter", "--", *paths).stdout.split(b"\0")
    return {out[i].decode(): out[i + 2].decode() for i in range(0, len(out) - 2, 3)}


def _setup(repo: Path) -> None:
    archives(repo, "install")
    for rel in [*PLAIN, "data/raw/big.csv"]:
        f = repo / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"# plain text of {rel}\n" * 50)  # also valid git config


def test_tracking_a_folder_leaves_dvc_and_git_files_plain(repo: Path) -> None:
    _setup(repo)
    archives(repo, "track", "data/raw/**")
    archives(repo, "track", "--larger-than", "1b")  # `* filter=archives` at the top too
    attrs = _attr(repo, [*PLAIN, "data/raw/big.csv"])
    assert attrs.pop("data/raw/big.csv") == "archives"
    assert set(attrs.values()) == {"unspecified"}, attrs
    # a real `git add` stores them as they are; the data file becomes a pointer
    git(repo, "add", "-A")
    for rel in PLAIN:
        staged = git(repo, "show", f":{rel}").stdout
        assert staged == (repo / rel).read_bytes(), rel
    assert git(repo, "show", ":data/raw/big.csv").stdout.startswith(b"version https://git-lfs")
    # a later track keeps the guard last: the tracking line goes above it
    archives(repo, "track", "*.dvc")
    lines = (repo / ".gitattributes").read_text().splitlines()
    assert lines[-1] == "**/.dvc/** !filter !diff !merge"
    assert lines.index("*.dvc filter=archives diff=archives merge=archives -text") < \
        lines.index("*.dvc !filter !diff !merge")
    assert _attr(repo, ["data/raw/a.csv.dvc"]) == {"data/raw/a.csv.dvc": "unspecified"}
    archives(repo, "untrack", "data/raw/**")
    assert (repo / ".gitattributes").read_text().splitlines()[-1] == lines[-1]


@pytest.mark.parametrize(("pattern", "why"), [
    ("!data.bin", "negation"),
    ("[attr]big", "macro"),
    ("a.bin\n*", "newline or another control character"),
    ("tab\there.bin", "newline or another control character"),
    ("  ", "empty"),
])
def test_track_refuses_patterns_gitattributes_would_misread(repo: Path, pattern: str,
                                                             why: str) -> None:
    archives(repo, "install")
    before = (repo / ".gitattributes").read_bytes() if (repo / ".gitattributes").exists() \
        else None
    proc = archives(repo, "track", pattern, check=False)
    assert proc.returncode == 2 and why in proc.stderr.decode()
    assert proc.stderr.decode().count("\n") == 2 and b"Tracking" not in proc.stdout
    after = (repo / ".gitattributes").read_bytes() if (repo / ".gitattributes").exists() \
        else None
    assert after == before


def test_a_hash_or_a_space_is_quoted_so_git_reads_a_pattern(repo: Path) -> None:
    archives(repo, "install")
    out = archives(repo, "track", "#x", "my data.bin").stdout.decode()
    assert "Tracking '#x'" in out and "Tracking 'my data.bin'" in out
    text = (repo / ".gitattributes").read_text()
    assert '"#x" filter=archives' in text and '"my data.bin" filter=archives' in text
    assert _attr(repo, ["#x", "my data.bin", "x"]) == {
        "#x": "archives", "my data.bin": "archives", "x": "unspecified"}
    (repo / "#x").write_bytes(b"\0" * 3000)
    git(repo, "add", "#x")
    assert git(repo, "show", ":#x").stdout.startswith(b"version https://git-lfs")
    assert archives(repo, "track").stdout.decode().splitlines()[:2] == [
        "tracked: #x", "tracked: my data.bin"]
    archives(repo, "untrack", "#x")
    assert _attr(repo, ["#x"]) == {"#x": "unspecified"}


def test_add_rule_appends_once_and_keeps_the_guard_block_last(tmp_path: Path) -> None:
    from gitext.git import attributes

    path = tmp_path / ".gitattributes"
    path.write_text("*.ipynb  filter=archives-nb   diff=archives-nb\n*.txt text\n")
    # present (spacing aside) but unguarded: only the guard block is added
    assert attributes.add_rule(path, "*.ipynb", "filter=archives-nb diff=archives-nb") is False
    lines = path.read_text().splitlines()
    assert lines[:2] == ["*.ipynb  filter=archives-nb   diff=archives-nb", "*.txt text"]
    assert tuple(lines[2:]) == attributes.GUARD_LINES
    assert attributes.add_rule(path, "my notes/*.ipynb", "filter=archives-nb") is True
    assert attributes.has_rule(path, "my notes/*.ipynb", "filter=archives-nb")
    lines = path.read_text().splitlines()
    assert lines[2] == '"my notes/*.ipynb" filter=archives-nb'
    assert tuple(lines[3:]) == attributes.GUARD_LINES
    before = path.read_bytes()
    assert attributes.add_rule(path, "my notes/*.ipynb", "filter=archives-nb") is False
    assert path.read_bytes() == before
