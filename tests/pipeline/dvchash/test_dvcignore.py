"""`.dvcignore`: gitignore patterns with DVC's semantics, applied to directory deps and outs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitext.errors import PipelineError
from gitext.pipeline.dvchash import dvcignore
from gitext.pipeline.dvchash.dvcignore import IgnoreRules, parse_dvcignore
from gitext.pipeline.dvchash.tree import Hasher
from gitext.pipeline.repro import repro
from gitext.pipeline.status import status
from gitext.store.state import StateCache
from tests.helpers import DATA
from tests.helpers.pipelines import make_pipeline, write

CASES = DATA / "dvcignore_cases.json"


def rules_of(*lines: str) -> IgnoreRules:
    return IgnoreRules("/r", tuple(parse_dvcignore("\n".join(lines), base="", name=".dvcignore")))


def ignored(rules: IgnoreRules, path: str, is_dir: bool = False) -> bool:
    """As DVC decides it: a path under an ignored folder is ignored (the walk prunes it)."""
    parts = path.split("/")
    if any(rules.ignored("/".join(parts[:i]), True) for i in range(1, len(parts))):
        return True
    return rules.ignored(path, is_dir)


@pytest.mark.parametrize(("lines", "path", "is_dir", "expected"), [
    (["*.tmp"], "x.tmp", False, True),
    (["*.tmp"], "b/x.tmp", False, True),
    (["/a"], "q/a", True, False),
    (["/a"], "a", True, True),
    (["a/"], "a", False, False),  # a folder-only pattern leaves a file alone
    (["a/"], "q/a", True, True),
    (["a/b"], "q/a/b", True, False),  # a slash inside anchors it
    (["a/**/c"], "a/b/c", False, True),
    (["a/**/c"], "a/c", False, True),
    (["*.tmp", "!keep.tmp"], "keep.tmp", False, False),
    (["x/*", "!x/k"], "x/k/z", False, False),
    (["[!a].txt"], "a.txt", False, False),
    (["[!a].txt"], "c.txt", False, True),
    (["\\#h"], "#h", False, True),
    (["  sp  "], "sp", False, True),  # DVC strips both ends of a line
    (["*/"], "a", True, False),  # pathspec's regex for "*/" never matches: neither does DVC
    (["a["], "a[", False, False),  # an unclosed bracket: the pattern is dropped
])
def test_a_pattern_matches_what_dvc_matches(lines: list[str], path: str, is_dir: bool,
                                            expected: bool) -> None:
    assert ignored(rules_of(*lines), path, is_dir) is expected


def test_a_pattern_python_cannot_compile_is_an_error_naming_the_file_and_line() -> None:
    with pytest.raises(PipelineError, match=r"data/\.dvcignore:2: bad pattern '\[z-a\]'"):
        parse_dvcignore("ok\n[z-a]\n", base="data", name="data/.dvcignore")


@given(st.text(max_size=200))
def test_any_dvcignore_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        rules = parse_dvcignore(text, base="", name=".dvcignore")
    except PipelineError as exc:
        assert ".dvcignore:" in exc.message
        return
    for rule in rules:
        rule.regex.match("some/path")


@given(st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True),
       st.lists(st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True), min_size=1, max_size=4))
def test_a_plain_name_ignores_exactly_the_paths_through_that_name(name: str,
                                                                  parts: list[str]) -> None:
    path = "/".join(parts)
    assert ignored(rules_of(name), path) is (name in parts)


# -- directories ---------------------------------------------------------------------------------

def tree(root: Path) -> None:
    write(root, {"data/raw/a.txt": "a\n", "data/raw/b.tmp": "t\n", "data/raw/keep/k.tmp": "k\n",
                 "data/raw/skip/x": "x\n", "data/raw/sub/c.txt": "c\n", "other/z.tmp": "z\n"})


def relpaths(root: Path, top: str) -> list[str]:
    return [e.relpath for e in Hasher(None, root).directory(root / top)[1]]


def test_without_dvcignore_every_file_is_in_the_manifest(tmp_path: Path) -> None:
    tree(tmp_path)
    assert relpaths(tmp_path, "data/raw") == ["a.txt", "b.tmp", "keep/k.tmp", "skip/x",
                                               "sub/c.txt"]


def test_root_and_parent_dvcignore_files_leave_their_matches_out(tmp_path: Path) -> None:
    tree(tmp_path)
    write(tmp_path, {".dvcignore": "# temp files\n*.tmp\n!**/keep/*.tmp\n",
                     "data/.dvcignore": "raw/skip/\n"})
    assert relpaths(tmp_path, "data/raw") == ["a.txt", "keep/k.tmp", "sub/c.txt"]
    # The ids are those of a directory holding only those files.
    clean = tmp_path / "clean"
    write(clean, {"a.txt": "a\n", "keep/k.tmp": "k\n", "sub/c.txt": "c\n"})
    ours = Hasher(None, tmp_path).directory_id(tmp_path / "data" / "raw")
    assert ours == Hasher(None, tmp_path).directory_id(clean)
    # data/.dvcignore applies below data/ only.
    write(tmp_path, {"other/skip/x": "x\n"})
    assert relpaths(tmp_path, "other") == ["skip/x"]


def test_a_dvcignore_inside_the_directory_is_refused_as_dvc_refuses_it(tmp_path: Path) -> None:
    tree(tmp_path)
    write(tmp_path, {"data/raw/sub/.dvcignore": "c.txt\n"})
    with pytest.raises(PipelineError, match=r"'data/raw/sub/\.dvcignore' is inside the "
                                            r"directory 'data/raw'") as err:
        Hasher(None, tmp_path).directory(tmp_path / "data" / "raw")
    assert "parent folder" in (err.value.hint or "")


def test_a_dvcignore_inside_that_ignores_itself_applies_below_it(tmp_path: Path) -> None:
    tree(tmp_path)
    write(tmp_path, {"data/raw/sub/.dvcignore": "c.txt\n.dvcignore\n",
                     "data/raw/sub/d.txt": "d\n"})
    assert relpaths(tmp_path, "data/raw") == ["a.txt", "b.tmp", "keep/k.tmp", "skip/x",
                                               "sub/d.txt"]


def test_a_dvcignore_that_an_outer_one_ignores_is_not_read(tmp_path: Path) -> None:
    tree(tmp_path)
    write(tmp_path, {"data/.dvcignore": "raw/**/.dvcignore\n",
                     "data/raw/sub/.dvcignore": "c.txt\n"})
    assert "sub/c.txt" in relpaths(tmp_path, "data/raw")


def test_editing_dvcignore_changes_the_cached_directory_id(tmp_path: Path) -> None:
    tree(tmp_path)
    old = time.time() - 60
    for p in (tmp_path / "data").rglob("*"):
        os.utime(p, (old, old))
    state = StateCache(tmp_path / "state.db")
    first = Hasher(state, tmp_path).directory_id(tmp_path / "data" / "raw")
    write(tmp_path, {".dvcignore": "*.tmp\n"})
    second = Hasher(state, tmp_path).directory_id(tmp_path / "data" / "raw")
    assert second != first and second.nfiles == 3
    (tmp_path / ".dvcignore").unlink()
    assert Hasher(state, tmp_path).directory_id(tmp_path / "data" / "raw") == first
    state.close()


def test_status_and_repro_follow_dvcignore(repo: Path) -> None:
    write(repo, {"raw/a.txt": "a\n", "raw/scratch.log": "1\n"})
    pl = make_pipeline(repo, {"count": {"cmd": "ls raw > listing.txt", "deps": ["raw"],
                                        "outs": ["listing.txt"]}})
    write(repo, {".dvcignore": "*.log\n"})
    assert repro(repo, pipelines=pl, out=lambda _l: None).ok
    lock = (repo / "dvc.lock").read_text()
    assert "nfiles: 1" in lock
    # An ignored file coming and going changes nothing.
    write(repo, {"raw/more.log": "2\n"})
    assert status(repo, pipelines=pl).up_to_date
    # Un-ignoring it makes the dependency modified.
    (repo / ".dvcignore").unlink()
    report = status(repo, pipelines=pl)
    assert [str(r) for r in report.stages[0].reasons] == ["dep raw modified"]


def test_a_restored_directory_output_keeps_its_ignored_files(repo: Path) -> None:
    pl = make_pipeline(repo, {"make": {"cmd": "mkdir -p out && echo 1 > out/a.txt",
                                       "deps": [], "outs": ["out"], "always_changed": True}})
    write(repo, {".dvcignore": "*.log\n"})
    assert repro(repo, pipelines=pl, out=lambda _l: None).ok
    write(repo, {"out/notes.log": "mine\n"})
    (repo / "out" / "a.txt").unlink()
    from gitext.pipeline.checkout import checkout_outputs

    report = checkout_outputs(repo, pipelines=pl)
    assert report.restored == ["out"]
    assert (repo / "out" / "a.txt").read_text() == "1\n"
    assert (repo / "out" / "notes.log").read_text() == "mine\n"


# -- agreement with DVC's own matcher (needs DVC: slow) -------------------------------------------

def test_the_case_table_matches_our_matcher() -> None:
    """``dvcignore_cases.json`` holds patterns, paths and what DVC 3.67 answered for each
    (regenerate with the slow test below); we must give the same answers."""
    data = json.loads(CASES.read_text())
    for lines, answers in zip(data["patterns"], data["dvc"], strict=True):
        rules = rules_of(*lines)
        for (path, is_dir), expected in zip(data["paths"], answers, strict=True):
            assert ignored(rules, path, is_dir) is expected, (lines, path, is_dir)



def test_the_walks_per_folder_matcher_agrees_with_the_plain_one() -> None:
    data = json.loads(CASES.read_text())
    for lines in data["patterns"]:
        for base in ("", "q"):
            rules = IgnoreRules("/r", tuple(parse_dvcignore("\n".join(lines), base=base,
                                                            name=".dvcignore")))
            for path, is_dir in data["paths"]:
                full = f"q/{path}"
                folder, _, name = full.rpartition("/")
                assert dvcignore._ignored_here(rules.in_folder(folder), name, is_dir) is \
                    rules.ignored(full, is_dir), (lines, base, full)
