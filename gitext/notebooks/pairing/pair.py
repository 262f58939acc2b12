"""``git archives nb pair``: pair notebooks with text files and create the missing sides.

With formats given, they are written into each notebook's metadata (and a text notebook
named directly gets its notebook built first); each pair is then synced once, and the
text's header is stamped with the formats so the text alone names its notebook.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitext.errors import NotebookError, UsageError
from gitext.fs.worktree import write_bytes_in
from gitext.notebooks.pairing.cells import (
    build_notebook,
    cell_keys,
    dump_notebook,
    notebook_keys_in_format,
    read_notebook_bytes,
    read_text_bytes,
    writes_text,
)
from gitext.notebooks.pairing.formats import (
    Configs,
    Pair,
    iter_candidates,
    normalise_formats,
    pairs_for,
    pairs_from_formats,
    read_or_none,
    relpath,
    text_fmt_for,
    text_header_formats,
)
from gitext.notebooks.pairing.state import SyncState
from gitext.notebooks.pairing.sync import NotebookSyncError, fix_hint, resolve_paths, sync_pair


def _set_formats(nb: Any, formats: str) -> bool:
    meta = nb.metadata.setdefault("jupytext", {})
    changed = False
    # jupytext marks a script read without a header "-all" so it stays header-less; pairing
    # by metadata needs the header, which is where the text names its notebook.
    if meta.get("notebook_metadata_filter") == "-all":
        del meta["notebook_metadata_filter"]
        changed = True
    if meta.get("formats") != formats:
        meta["formats"] = formats
        changed = True
    return changed


def pair(root: Path, paths: Sequence[str | os.PathLike[str]], formats: str | None = None,
         ) -> list[Path]:
    """Pair notebooks (and text notebooks) under ``paths`` and create the missing sides.

    With ``formats`` (e.g. ``"ipynb,py:percent"``) the formats are written into each
    notebook's metadata; without, they must come from a jupytext configuration or the
    notebook's metadata already. Returns the files written.
    """
    from gitext.git.repo import Repo

    top, starts = resolve_paths(root, paths)
    repo = Repo.discover(top)
    configs = Configs(top)
    short = normalise_formats(formats, top) if formats else None
    written: list[Path] = []
    targets: list[Path] = []
    for start in starts:
        if start.is_dir():
            targets += [c for c in iter_candidates(start) if c.suffix == ".ipynb"]
        elif start.exists():
            targets.append(start)
        else:
            raise UsageError(f"{relpath(start, top)}: no such file or folder")
    if not targets:
        raise UsageError("no notebook found to pair",
                         hint="name .ipynb files or folders that contain them")
    state = SyncState(repo.archives_dir, top)
    with state.locked():
        for target in targets:
            written += _pair_one(target, top, short, configs, state)
        state.save()
    return written


def _pair_one(target: Path, top: Path, short: str | None, configs: Configs,
              state: SyncState) -> list[Path]:
    _, config = configs.for_path(target)
    written: list[Path] = []
    if short is not None:
        data = read_or_none(target) or b""
        if target.suffix == ".ipynb":
            nb = read_notebook_bytes(data, target)
            if _set_formats(nb, short):
                new = dump_notebook(nb)
                write_bytes_in(top, target, new)
                written.append(target)
        else:
            # A text notebook named directly: its notebook is built from it, with formats.
            fmt = text_fmt_for(target, short)
            text_nb = read_text_bytes(data, fmt, config, target)
            _set_formats(text_nb, short)
            nb_path = pairs_from_formats(target, short, None)[0].notebook
            if not nb_path.exists():
                nb_data = dump_notebook(build_notebook(cell_keys(text_nb), None, text_nb))
                write_bytes_in(top, nb_path, nb_data)
                written.append(nb_path)
            target = nb_path
            if _set_formats(nb := read_notebook_bytes(nb_path.read_bytes(), nb_path), short):
                write_bytes_in(top, nb_path, dump_notebook(nb))
                written.append(nb_path)
    pairs = pairs_for(target, top, configs)
    if not pairs:
        raise NotebookError(
            f"{relpath(target, top)}: no jupytext formats apply to it",
            hint="pass --formats ipynb,py:percent, or set formats in jupytext.toml",
        )
    for p in pairs:
        res = sync_pair(p, state, configs, dry_run=False, prefer=None)
        if res.action == "conflict":
            raise NotebookSyncError(f"refusing to pair: {res.detail}",
                                    hint=fix_hint(p, top))
        written += [w for w in res.written if w not in written]
        if short is not None:
            written += [w for w in _stamp_header(p, short, config, state) if w not in written]
    return written


def _stamp_header(p: Pair, short: str, config: Any, state: SyncState) -> list[Path]:
    """Pairing by metadata must show in the text's header too, so the text alone (e.g. the
    only side committed) still names its notebook. The cells already agree here."""
    text_bytes, nb_bytes = read_or_none(p.text), read_or_none(p.notebook)
    if text_bytes is None or nb_bytes is None:
        return []
    declared = text_header_formats(text_bytes, p.text.suffix)
    if declared and normalise_formats(declared, p.text) == short:
        return []
    nb = read_notebook_bytes(nb_bytes, p.notebook)
    new_text = writes_text(nb, p.fmt, config).encode("utf-8")
    write_bytes_in(state.worktree, p.text, new_text)
    state.record(p, nb_bytes, new_text, notebook_keys_in_format(nb, p.fmt, config), short)
    return [p.text]
