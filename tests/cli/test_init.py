"""``git archives init [--template ml]``: the project's files, then this clone's setup;
idempotent, never overwriting a user's file, refusing before writing anything."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitext.notebooks.pairing.formats import find_config_file
from tests.helpers import archives, git
from tests.helpers.notebooks import make_notebook
from tests.helpers.peers import run_dvc
from tests.helpers.repos import pointer_text, staged_blob

FOLDERS = ("data/raw", "data/processed", "data/external", "models", "src/data",
           "src/features", "src/models", "src/evaluate", "metrics", "plots", "tests")
FILES = (".archives/config", "params.yaml", "dvc.yaml", "notebooks/jupytext.toml",
         ".gitignore", ".gitattributes")


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the work tree and of the git dir's config, info and hooks: bytes and
    mtime, so that a rewrite with the same bytes shows too."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and (not rel.startswith(".git/") or rel.split("/")[1] in
                               ("config", "info", "hooks")):
            out[rel] = (path.read_bytes(), path.stat().st_mtime_ns)
    return out


def _attr(repo: Path, name: str, path: str) -> str:
    return git(repo, "check-attr", name, "--", path).stdout.decode().rsplit(": ", 1)[1].strip()


def test_ml_template_lays_out_the_project_and_sets_up_the_clone(repo: Path) -> None:
    out = archives(repo, "init", "--template", "ml").stdout.decode()
    for folder in FOLDERS:
        assert (repo / folder / ".gitkeep").read_bytes() == b""
        assert f"created  {folder}/.gitkeep" in out
    for rel in FILES:
        assert (repo / rel).is_file() and f"created  {rel}" in out
    assert "hooks: pre-commit" in out and "git-archives is set up for" in out
    assert git(repo, "config", "filter.archives.process").stdout.strip() \
        .endswith(b"filter-process")
    assert _attr(repo, "filter", "data/raw/x.csv") == "archives"
    assert _attr(repo, "filter", "models/m.pkl") == "archives"
    assert _attr(repo, "filter", "notebooks/a.ipynb") == "archives-nb"
    assert _attr(repo, "filter", "src/a.py") == "unspecified"
    # the guard block ends the file: what DVC reads stays plain even under data/**
    assert _attr(repo, "filter", "data/raw/x.dvc") == "unspecified"
    gitignore = (repo / ".gitignore").read_text()
    assert "data/ and models/ are NOT ignored" in gitignore and ".ipynb_checkpoints/" in gitignore
    # data and models are committed (as pointers), not ignored
    probe = git(repo, "check-ignore", "--no-index", "data/raw/x.csv", "models/m.pkl",
                check=False)
    assert probe.returncode == 1 and not probe.stdout
    (repo / "data/raw/big.csv").write_bytes(b"1,2\n" * 5000)
    (repo / "models/model.pkl").write_bytes(b"\x80" * 3000)
    make_notebook(repo / "notebooks/explore.ipynb")
    git(repo, "add", "-A")
    assert staged_blob(repo, "data/raw/big.csv") == pointer_text(b"1,2\n" * 5000)
    assert staged_blob(repo, "models/model.pkl") == pointer_text(b"\x80" * 3000)
    assert staged_blob(repo, "data/raw/.gitkeep") == b""  # the empty file's pointer
    stored = json.loads(staged_blob(repo, "notebooks/explore.ipynb"))
    assert all(not c.get("outputs") for c in stored["cells"])
    git(repo, "commit", "-qm", "Project layout")  # the pre-commit hook lets it through


def test_a_second_run_changes_nothing_and_says_so(repo: Path) -> None:
    archives(repo, "init", "--template", "ml")
    before = _snapshot(repo)
    out = archives(repo, "init", "--template", "ml").stdout.decode()
    assert _snapshot(repo) == before
    assert "created" not in out and "appended" not in out
    assert "left as they were:" in out and "params.yaml" in out
    assert "nothing changed:" in out
    # and the bare init on top of it: nothing either
    assert "nothing changed:" in archives(repo, "init").stdout.decode()
    assert _snapshot(repo) == before


def test_existing_files_are_kept_and_ignore_and_attribute_files_get_missing_lines(
        repo: Path) -> None:
    (repo / "params.yaml").write_text("mine: 1\n")
    (repo / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo hi\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_a.py").write_text("def test_a(): pass\n")
    (repo / ".gitignore").write_text("# my rules\n__pycache__/\n*.tmp")  # no final newline
    (repo / ".gitattributes").write_text("*.txt text\n*.bin filter=archives diff=archives "
                                         "merge=archives -text\n")
    out = archives(repo, "init", "--template", "ml").stdout.decode()
    assert (repo / "params.yaml").read_text() == "mine: 1\n"
    assert (repo / "dvc.yaml").read_text() == "stages:\n  s:\n    cmd: echo hi\n"
    assert not (repo / "tests" / ".gitkeep").exists()  # not empty: nothing to keep
    assert not (repo / "notebooks" / ".gitkeep").exists()  # jupytext.toml keeps it
    gitignore = (repo / ".gitignore").read_text()
    assert gitignore.startswith("# my rules\n__pycache__/\n*.tmp\n\n# Added by 'git archives "
                                "init --template ml'")
    assert gitignore.count("__pycache__/") == 1 and ".venv/" in gitignore
    assert "appended .gitignore:" in out and "appended .gitattributes: data/** as pointers, " \
        "models/** as pointers, *.ipynb through the notebook filter" in out
    attrs = (repo / ".gitattributes").read_text().splitlines()
    assert attrs[:2] == ["*.txt text", "*.bin filter=archives diff=archives merge=archives -text"]
    assert "data/** filter=archives diff=archives merge=archives -text" in attrs
    assert "left as they were:" in out and "params.yaml, dvc.yaml" in out
    snapshot = _snapshot(repo)
    assert "nothing changed:" in archives(repo, "init", "--template", "ml").stdout.decode()
    assert _snapshot(repo) == snapshot


def test_a_gitignore_rule_hiding_data_is_named(repo: Path) -> None:
    (repo / ".gitignore").write_text("/data/\n")
    out = archives(repo, "init", "--template", "ml").stdout.decode()
    assert "note: a .gitignore rule ignores data/raw/" in out
    assert "note: a .gitignore rule ignores data/external/" in out
    assert "models/" not in out.split("note:", 1)[1]
    assert (repo / ".gitignore").read_text().startswith("/data/\n")  # kept: the user's call


def test_committed_track_driver_lfs_is_honoured(repo: Path) -> None:
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text("[track]\n\tdriver = lfs\n")
    archives(repo, "init", "--template", "ml")
    assert _attr(repo, "filter", "data/raw/x.csv") == "lfs"
    assert (repo / ".archives" / "config").read_text() == "[track]\n\tdriver = lfs\n"


def test_outside_a_repository_it_refuses_with_the_command(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    proc = archives(folder, "init", "--template", "ml", check=False,
                    env=dict(os.environ, GIT_CEILING_DIRECTORIES=str(tmp_path)))
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "is not inside a git repository" in err
    assert "hint: git init && git archives init --template ml" in err
    assert list(folder.iterdir()) == []


def test_an_unknown_template_is_one_line_with_the_list(repo: Path) -> None:
    proc = archives(repo, "init", "--template", "mll", check=False)
    assert proc.returncode == 2
    assert proc.stderr.decode() == ("git-archives: error: unknown template 'mll': the "
                                    "templates are ml\n")
    assert sorted(p.name for p in repo.iterdir()) == [".git"]


@pytest.mark.parametrize(("make", "named", "what"), [
    (lambda r: (r / "data").write_text("x"), "'data' is a file where", "makes a folder"),
    (lambda r: ((r / "src").mkdir(), (r / "src" / "models").write_text("x")),
     "'src/models' is a file where", "makes a folder"),
    (lambda r: (r / "dvc.yaml").mkdir(), "'dvc.yaml' is a folder where", "needs a file"),
    (lambda r: (r / ".archives").write_text("x"), "'.archives' is a file where",
     "makes a folder"),
])
def test_a_path_in_the_way_is_named_and_nothing_is_created(
        repo: Path, make: Callable[[Path], object], named: str, what: str) -> None:
    make(repo)
    before = _snapshot(repo)
    proc = archives(repo, "init", "--template", "ml", check=False)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert named in err and what in err and "nothing was created" in err
    assert "hint: move it aside" in err
    assert _snapshot(repo) == before
    assert git(repo, "config", "--get", "filter.archives.process", check=False).returncode == 1


@pytest.mark.parametrize(("link", "to_folder"), [(".gitignore", False),
                                               (".gitattributes", False), ("src", True),
                                               ("data/raw", True)])
def test_a_committed_symlink_cannot_redirect_a_write(repo: Path, tmp_path: Path, link: str,
                                                     to_folder: bool) -> None:
    victim = tmp_path / "victim"
    if to_folder:
        victim.mkdir()
    else:
        victim.write_text("precious\n")
    (repo / link).parent.mkdir(parents=True, exist_ok=True)
    (repo / link).symlink_to(victim)
    proc = archives(repo, "init", "--template", "ml", check=False)
    assert proc.returncode == 2
    assert f"'{link}' is a symbolic link where 'git archives init --template ml'" in \
        proc.stderr.decode()
    if to_folder:
        assert list(victim.iterdir()) == []
    else:
        assert victim.read_text() == "precious\n"
    assert not (repo / ".archives").exists() and not (repo / "models").exists()


def test_the_template_refuses_a_subfolder_and_the_bare_init_works_anywhere(
        repo: Path) -> None:
    sub = repo / "sub"
    sub.mkdir()
    proc = archives(sub, "init", "--template", "ml", check=False)
    assert proc.returncode == 2
    assert f"hint: cd {repo} && git archives init --template ml" in proc.stderr.decode()
    assert list(sub.iterdir()) == []
    out = archives(sub, "init").stdout.decode()
    assert "created  .archives/config" in out
    assert (repo / ".archives" / "config").is_file()
    assert not (repo / ".gitattributes").exists() and not (repo / "data").exists()
    assert git(repo, "config", "filter.archives.required").stdout.strip() == b"true"
    # the committed config it wrote is valid git-config syntax with nothing set
    assert git(repo, "config", "-f", ".archives/config", "--list").stdout == b""


def test_the_dvc_yaml_skeleton_is_accepted_as_it_is(repo: Path) -> None:
    archives(repo, "init", "--template", "ml")
    assert archives(repo, "repro", "--dry").returncode == 0
    assert archives(repo, "status").returncode == 0
    assert archives(repo, "dag").stdout == b""
    assert archives(repo, "dag", "--dot").stdout == b"strict digraph pipeline {\n}\n"
    (repo / "dvc.yaml").unlink()  # no dvc.yaml at all is still an error
    proc = archives(repo, "dag", check=False)
    assert proc.returncode == 1 and "has no dvc.yaml" in proc.stderr.decode()


def _uncommented_example(dvc_yaml: str) -> str:
    lines = dvc_yaml.splitlines()
    start = lines.index("# stages:")
    return "".join(ln[2:] + "\n" for ln in lines[start:] if ln.startswith("# "))


def test_the_commented_example_stages_are_a_valid_pipeline(repo: Path) -> None:
    archives(repo, "init", "--template", "ml")
    (repo / "dvc.yaml").write_text(_uncommented_example((repo / "dvc.yaml").read_text()))
    assert archives(repo, "dag", "--mermaid").stdout.decode().splitlines()[1:] == [
        '    node1["prepare"]', '    node2["train"]', '    node3["evaluate"]',
        "    node1 --> node2", "    node1 --> node3", "    node2 --> node3"]
    dry = archives(repo, "repro", "--dry").stdout.decode()
    assert [ln for ln in dry.splitlines() if ln.startswith("> ")] == [
        "> python src/data/prepare.py", "> python src/models/train.py",
        "> python src/evaluate/evaluate.py"]


def test_dvc_accepts_the_skeleton_and_the_example(repo: Path, dvc_exe: Path) -> None:
    archives(repo, "init", "--template", "ml")
    run_dvc(dvc_exe, repo, "init", "-q")
    assert "up to date" in run_dvc(dvc_exe, repo, "repro", "--dry")
    run_dvc(dvc_exe, repo, "status")
    run_dvc(dvc_exe, repo, "dag")
    (repo / "dvc.yaml").write_text(_uncommented_example((repo / "dvc.yaml").read_text()))
    drawn = run_dvc(dvc_exe, repo, "dag", "--mermaid")
    assert "prepare" in drawn and "train" in drawn and "evaluate" in drawn


def test_jupytext_toml_pairs_notebooks_and_leaves_modules_alone(repo: Path) -> None:
    archives(repo, "init", "--template", "ml")
    make_notebook(repo / "notebooks" / "explore.ipynb")
    archives(repo, "nb", "pair", "notebooks/explore.ipynb")  # formats from jupytext.toml
    text = (repo / "notebooks" / "explore.py").read_text()
    assert "# %%" in text and "format_name: percent" in text
    (repo / "src" / "data" / "prepare.py").write_text("print('a plain module')\n")
    # no jupytext configuration applies to src/: committing a module never loads jupytext
    assert find_config_file(repo / "src" / "data", repo) is None
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a paired notebook and a module")  # pre-commit agrees
    assert not (repo / "src" / "data" / "prepare.ipynb").exists()
