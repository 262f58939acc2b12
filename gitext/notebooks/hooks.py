"""The notebook-pairing parts of the pre-commit and post-checkout hooks.

Both run on every commit or checkout, so a repository that pairs nothing pays a git call or
a few stats and never imports jupytext: formats are looked for in the staged blobs and the
configuration files with plain JSON and string checks first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.codec.shellquote import display, shell_arg, shell_args
from gitext.errors import ArchivesError, NotebookError
from gitext.notebooks.pairing.cells import (
    cell_keys,
    notebook_keys_in_format,
    read_notebook_bytes,
    read_text_bytes,
)
from gitext.notebooks.pairing.formats import (
    CONFIG_FILES,
    TEXT_EXTENSIONS,
    Configs,
    Pair,
    find_config_file,
    formats_in_metadata,
    has_jupytext_header,
    notebook_metadata_formats,
    pairs_for,
    pairs_with_formats,
    relpath,
    text_header_formats,
    toml_mentions_jupytext,
)
from gitext.notebooks.pairing.state import SyncState
from gitext.notebooks.pairing.sync import sync_pair

if TYPE_CHECKING:
    from gitext.git.repo import Repo


def _staged_names(repo: Repo) -> list[str]:
    out = repo.git("diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR").stdout
    return [n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n]


def _is_candidate(name: str) -> bool:
    suffix = Path(name).suffix
    return suffix == ".ipynb" or suffix in TEXT_EXTENSIONS


def _declares_pairing(name: str, data: bytes) -> bool:
    """Cheap: does this staged blob itself name jupytext formats?"""
    if name.endswith(".ipynb"):
        if b'"formats"' not in data and b'"jupytext_formats"' not in data:
            return False  # spare the JSON parse of a big unpaired notebook
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return False
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        return bool(formats_in_metadata(meta))
    return has_jupytext_header(data) and b"formats" in data[:4096]


def check_staged_pairs(repo: Repo, staged: Sequence[str] | None = None) -> list[str]:
    """Problems for pre-commit: a staged notebook whose staged paired text has other cells
    (or the reverse), one line each with the command that fixes it.

    ``staged`` is the list of staged paths when the caller already has it; otherwise one
    ``git diff --cached`` finds it. Only the index is compared, never the work tree.
    """
    names = [n for n in (staged if staged is not None else _staged_names(repo))
             if _is_candidate(n)]
    if not names:
        return []
    top = repo.root
    entries = {e.path: e.blob for e in repo.ls_files(*names) if e.stage == 0}
    blobs = dict(repo.cat_blobs(sorted(set(entries.values()))))
    interesting = [n for n in names if n in entries and (
        _declares_pairing(n, blobs.get(entries[n], b""))
        or find_config_file((top / n).parent, top) is not None)]
    if not interesting:
        return []

    configs = Configs(top)
    pairs: dict[tuple[str, str], Pair] = {}
    for name in interesting:
        for p in _pairs_of_blob(top / name, blobs[entries[name]], top, configs):
            key = (relpath(p.notebook, top), relpath(p.text, top))
            pairs.setdefault(key, p)
    if not pairs:
        return []
    wanted = sorted({k for key in pairs for k in key})
    index = {e.path: e.blob for e in repo.ls_files(*wanted) if e.stage == 0}
    blobs.update(repo.cat_blobs(sorted(set(index.values()) - set(blobs))))
    problems: list[str] = []
    for (nb_rel, text_rel), p in sorted(pairs.items()):
        if nb_rel not in index or text_rel not in index:
            continue  # only one side is tracked: nothing to keep in step in the commit
        _, config = configs.for_path(p.notebook)
        try:
            nb = read_notebook_bytes(blobs[index[nb_rel]], Path(nb_rel))
            n_keys = notebook_keys_in_format(nb, p.fmt, config)
            t_keys = cell_keys(
                read_text_bytes(blobs[index[text_rel]], p.fmt, config, Path(text_rel)))
        except NotebookError as exc:
            problems.append(f"{exc.message} (staged version)")
            continue
        if n_keys != t_keys:
            problems.append(
                f"{display(nb_rel)} and its paired {display(text_rel)} are staged with "
                f"different cells; run: git archives nb sync -- {shell_arg(nb_rel)} && "
                f"git add -- {shell_args([nb_rel, text_rel])}")
    return problems


def _pairs_of_blob(path: Path, data: bytes, top: Path,
                   configs: Configs) -> list[Pair]:
    """Pairs of a staged file, judged by its staged content (not the work-tree copy)."""
    formats: Any = None
    if path.suffix == ".ipynb":
        try:
            formats = notebook_metadata_formats(data, path)
        except NotebookError:
            return []  # the notebook filter reports a broken notebook; not ours to judge
    elif has_jupytext_header(data):
        formats = text_header_formats(data, path.suffix)
    return pairs_with_formats(path, formats, configs)


def _pairing_configured(repo: Repo, state: SyncState) -> bool:
    top = repo.root
    if any((top / name).is_file() for name in CONFIG_FILES):
        return True
    pyproject = top / "pyproject.toml"
    if pyproject.is_file() and toml_mentions_jupytext(pyproject):
        return True
    return state.path.is_file()


def regenerate_from_text(repo: Repo) -> list[str]:
    """For post-checkout: build each notebook that is absent (and untracked) from its tracked
    paired text. Returns one line per notebook created or per text that could not be read.

    Cheap when nothing is paired: a few stats (a root jupytext configuration, the sync
    record of this work tree), no git call and no jupytext import.
    """
    top = repo.root
    state = SyncState(repo.archives_dir, top)
    if not _pairing_configured(repo, state):
        return []
    tracked = {e.path for e in repo.ls_files() if e.stage in (0, 2)}
    texts = sorted(n for n in tracked if Path(n).suffix in TEXT_EXTENSIONS)
    configs = Configs(top)
    messages: list[str] = []
    with state.locked():
        remembered = {text_rel: nb_rel for nb_rel, text_rel, _ in state.remembered()}
        for name in texts:
            path = top / name
            try:
                pairs = pairs_for(path, top, configs, explicit=name in remembered)
                for p in pairs:
                    nb_rel = relpath(p.notebook, top)
                    if p.notebook.exists() or nb_rel in tracked or not p.text.exists():
                        continue
                    res = sync_pair(p, state, configs, dry_run=False, prefer="text")
                    if res.written:
                        messages.append(f"created {nb_rel} from {name}")
            except ArchivesError as exc:  # unreadable text, or a path behind a symlink
                messages.append(f"could not build the notebook of {name}: {exc.message}")
        state.save()
    return messages
