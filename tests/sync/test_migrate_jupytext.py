"""``git archives migrate --from-jupytext`` on pairs that real jupytext (the library this
package already depends on, in-process: its CLI would start one more Python) wrote."""

from __future__ import annotations

import os
from pathlib import Path

import jupytext

from tests.helpers import archives
from tests.helpers.notebooks import edit_text, make_notebook, sources


def test_from_jupytext_records_pairs_and_names_what_is_left(repo: Path) -> None:
    (repo / "jupytext.toml").write_text('formats = "ipynb,py:percent"\n')
    make_notebook(repo / "a.ipynb")
    make_notebook(repo / "c.ipynb")
    make_notebook(repo / "sub" / "b.ipynb", formats="ipynb,md")
    for name in ("a", "c"):  # as 'jupytext --sync' writes the text side
        jupytext.write(jupytext.read(repo / f"{name}.ipynb"), repo / f"{name}.py",
                       fmt="py:percent")
    edit_text(repo / "c.py", "a = 1", "a = 5")  # c.py edited after jupytext's last sync
    os.utime(repo / "c.ipynb", (1_000_000_000, 1_000_000_000))  # ... and newer
    (repo / "other").mkdir()
    (repo / "other" / "jupytext.yml").write_text("formats: ipynb,py\n")
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: https://github.com/mwouts/jupytext\n  rev: v1.19.0\n"
        "  hooks:\n  - id: jupytext\n")

    dry = archives(repo, "migrate", "--from-jupytext", "--dry-run", check=False)
    assert dry.returncode == 1  # c is left to settle
    assert not (repo / "sub" / "b.md").exists()
    assert "paired sub/b.ipynb <-> sub/b.md (notebook metadata): created-text, would write " \
           "sub/b.md" in dry.stdout.decode()

    proc = archives(repo, "migrate", "--from-jupytext", check=False)
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines() == [
        "read jupytext.toml: formats = ipynb,py:percent",
        "not read: other/jupytext.yml (only TOML configurations are read): write its settings "
        "into jupytext.toml (same keys) to keep them",
        ".pre-commit-config.yaml runs jupytext's hook (mtime-based sync): replace it with "
        "git-archives' git-archives-nb-sync hook (docs/pairing.md)",
        "paired a.ipynb <-> a.py (jupytext.toml): unchanged, in sync, recorded",
        "paired c.ipynb <-> c.py (jupytext.toml): the two files differ; nothing written. "
        "jupytext would keep the newer file (text): git archives nb sync --prefer text -- "
        "c.ipynb  (or --prefer notebook, or make them agree by hand)",
        "paired sub/b.ipynb <-> sub/b.md (notebook metadata): created-text, write sub/b.md",
        "2 pair(s) recorded, 1 to settle (above); from now on 'git archives nb sync' (or "
        "watch, the pre-commit hook, the Jupyter hook) keeps them in step by content",
    ]
    assert "a = 5" not in (repo / "c.ipynb").read_text()  # nothing settled silently
    # Recorded: an edit of a.py is now carried into the notebook, not a conflict.
    edit_text(repo / "a.py", "b = 2", "b = 7")
    archives(repo, "nb", "sync", "a.py")
    assert sources(repo / "a.ipynb")[2] == "b = 7"


def test_from_jupytext_without_pairs_says_how_to_pair(repo: Path) -> None:
    make_notebook(repo / "a.ipynb")
    proc = archives(repo, "migrate", "--from-jupytext", check=False)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("git-archives: error: nothing to migrate: no "
                                           "paired notebook found")
