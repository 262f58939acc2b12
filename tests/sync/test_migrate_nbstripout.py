"""``git archives migrate --from-nbstripout`` against the real nbstripout from PyPI, and the
parts of it that are pure functions (the clean command's flags, the attributes rewrite)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gitext.sync.migrate_nbstripout import clean_flags, rewrite_attributes
from tests.helpers import DATA, archives, git
from tests.helpers.peers import nbstripout_executable

GOLDEN = DATA / "conformance" / "nbstripout" / "notebooks"
# nbstripout starts one Python per file: few notebooks, each exercising an option below.
NOTEBOOKS = ["test_metadata.ipynb", "test_nbformat45.ipynb", "test_keep_metadata_keys.ipynb",
             "test_drop_empty_cells.ipynb"]


def test_clean_flags_map_nbstripouts_options_to_ours() -> None:
    cmd = ('"/opt/py/bin/python3" -m nbstripout --keep-count --extra-keys '
           '"metadata.a cell.metadata.b" --max-size=10k --keep-output-type stream error '
           '--drop-empty-cells -t --bogus')
    found, unknown = clean_flags(cmd) or ([], [])
    assert found == [("keep-count", "true"), ("extra-keys", "metadata.a cell.metadata.b"),
                     ("max-size", "10k"), ("keep-output-type", "stream error"),
                     ("drop-empty-cells", "true")]
    assert unknown == ["--bogus"]
    assert clean_flags("/usr/local/bin/nbstripout") == ([], [])
    assert clean_flags("jq --indent 1 .") is None  # a filter named nbstripout running else


def test_rewrite_attributes_switches_drivers_and_drops_what_ours_replaces() -> None:
    data = (b"# keep me: filter=nbstripout\n*.ipynb filter=nbstripout\n"
            b"*.zpln filter=nbstripout\n*.ipynb diff=ipynb\n*.csv filter=archives\n")
    new, lines = rewrite_attributes(data, diff=True, info=True)
    assert new == (b"# keep me: filter=nbstripout\n*.zpln filter=archives-nb\n"
                   b"*.csv filter=archives\n")
    assert [(n, after) for n, _b, after in lines] == [(2, ""), (3, "*.zpln filter=archives-nb"),
                                                      (4, "")]
    committed, lines = rewrite_attributes(b"nb/*.ipynb filter=nbstripout diff=ipynb -text\n",
                                          diff=True, info=False)
    assert committed == b"nb/*.ipynb filter=archives-nb diff=archives-nb -text\n"
    kept, _ = rewrite_attributes(b"*.ipynb diff=ipynb\n", diff=False, info=False)
    assert kept == b"*.ipynb diff=ipynb\n"  # diff.ipynb is someone else's: not ours to take


def _blobs(repo: Path) -> dict[str, str]:
    out = git(repo, "ls-files", "-s").stdout.decode()
    return {line.split("\t")[1]: line.split()[1] for line in out.splitlines()}


@pytest.mark.slow
def test_nbstripout_install_then_migrate_stores_the_same_bytes(tmp_path: Path) -> None:
    exe = nbstripout_executable()
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    subprocess.run([str(exe), "--install"], cwd=repo, check=True)
    git(repo, "config", "filter.nbstripout.extrakeys", "metadata.kernelspec cell.metadata.foo "
        "kernelspec")  # the last is invalid: nbstripout ignores it, we name it
    git(repo, "config", "filter.nbstripout.keepmetadatakeys", "cell.metadata.collapsed")
    clean = git(repo, "config", "filter.nbstripout.clean").stdout.decode().strip()
    git(repo, "config", "filter.nbstripout.clean", f"{clean} --keep-count --drop-empty-cells")
    for name in NOTEBOOKS:
        shutil.copy(GOLDEN / name, repo / name)
    git(repo, "add", ".")
    theirs = _blobs(repo)
    config_before = git(repo, "config", "--local", "--list").stdout

    dry = archives(repo, "migrate", "--from-nbstripout", "--dry-run").stdout.decode()
    assert ".git/info/attributes line 1: *.ipynb filter=nbstripout" in dry
    assert git(repo, "config", "--local", "--list").stdout == config_before

    out = archives(repo, "migrate", "--from-nbstripout").stdout.decode()
    assert "archives.nb.keep-count will be 'true'" in out
    assert "extra key 'kernelspec' must start with 'metadata.' or 'cell.'; left out" in out
    assert "git config --local: [filter.nbstripout] will be removed" in out
    assert "line 2: *.zpln filter=nbstripout  ->  *.zpln filter=archives-nb" in out
    assert git(repo, "config", "--get-regexp", "nbstripout|diff.ipynb", check=False).stdout == b""
    assert git(repo, "check-attr", "filter", "diff", "--", "a.ipynb").stdout.decode() == (
        "a.ipynb: filter: archives-nb\na.ipynb: diff: archives-nb\n")
    git(repo, "rm", "-q", "-r", "--cached", ".")
    git(repo, "add", ".")
    assert _blobs(repo) == theirs
    doctor = archives(repo, "doctor", check=False).stdout.decode()
    assert "nbstripout" not in doctor


def test_committed_attributes_switch_and_global_setup_is_left(repo: Path,
                                                              isolated_home: Path) -> None:
    # What 'nbstripout --install --global' and '--attributes .gitattributes' write.
    git(repo, "config", "--global", "filter.nbstripout.clean", "nbstripout")
    git(repo, "config", "--global", "filter.nbstripout.smudge", "cat")
    git(repo, "config", "--global", "diff.ipynb.textconv", "nbstripout -t")
    git(repo, "config", "--global", "filter.nbstripout.extrakeys", "metadata.kernelspec")
    glob = isolated_home / ".config" / "git" / "attributes"
    glob.parent.mkdir(parents=True)
    glob.write_text("*.ipynb filter=nbstripout\n*.ipynb diff=ipynb\n")
    (repo / ".gitattributes").write_text("*.csv -text\n*.ipynb filter=nbstripout diff=ipynb\n")
    out = archives(repo, "migrate", "--from-nbstripout").stdout.decode()
    assert ".gitattributes line 2: *.ipynb filter=nbstripout diff=ipynb  ->  *.ipynb " \
           "filter=archives-nb diff=archives-nb" in out
    assert "hint: commit .gitattributes" in out
    assert "not changed: filter.nbstripout in your global git config" in out
    assert (f"not changed: {glob} line 1: '*.ipynb filter=nbstripout'") in out
    assert glob.read_text() == "*.ipynb filter=nbstripout\n*.ipynb diff=ipynb\n"
    assert git(repo, "config", "--global", "filter.nbstripout.clean").stdout == b"nbstripout\n"
    assert git(repo, "config", "--local", "archives.nb.extra-keys").stdout == \
        b"metadata.kernelspec\n"
    assert b"filter: archives-nb" in git(repo, "check-attr", "filter", "--", "x.ipynb").stdout


def test_nothing_to_migrate_is_one_line_and_exit_2(repo: Path) -> None:
    proc = archives(repo, "migrate", "--from-nbstripout", check=False)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "nothing to migrate: no filter.nbstripout in git config" in err
    assert "Traceback" not in err


def test_a_committed_attributes_symlink_is_never_read_or_written(tmp_path: Path,
                                                                 repo: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("*.ipynb filter=nbstripout\n")
    (repo / ".gitattributes").symlink_to(outside)
    git(repo, "add", ".gitattributes")
    git(repo, "config", "filter.nbstripout.clean", "nbstripout")
    doctor = archives(repo, "doctor", check=False).stdout.decode()
    assert "filter=nbstripout from" not in doctor  # the line outside was not read
    proc = archives(repo, "migrate", "--from-nbstripout", check=False)
    assert proc.returncode != 0
    assert "'.gitattributes' is a symbolic link; git-archives does not write through it" in \
        proc.stderr.decode()
    assert outside.read_text() == "*.ipynb filter=nbstripout\n"
    assert git(repo, "config", "filter.nbstripout.clean").stdout == b"nbstripout\n"
