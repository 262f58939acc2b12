"""``git archives nb restore-outputs``: put kept outputs back into a work-tree notebook.

The copies come from the clean filter's store (:mod:`gitext.notebooks.kept`) or, for a
notebook ``nb refresh`` re-registered, from its copy in ``.git/archives-nb-outputs``. A
kept code cell gives its outputs to the cell of the notebook with the same type and source
(the same cell id first, when both have one). A cell that has other outputs now is left as
it is unless ``force``; the file is replaced only while it still holds what was read
(compare-and-swap), and only when its stripped form stays what git has.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gitext.config import Config
from gitext.errors import NotebookError
from gitext.notebooks.kept import FOLDER, Kept, OutputStore, limit_from_config
from gitext.notebooks.pairing.guarded import write_if_unchanged
from gitext.notebooks.refresh import refresh
from gitext.notebooks.strip import clean_notebook
from gitext.notebooks.strip_options import configured_options

if TYPE_CHECKING:
    from gitext.git.repo import Repo
    from gitext.notebooks.strip_options import StripOptions


class PutBack(NamedTuple):
    restored: int  # cells that got their outputs back
    kept_newer: int  # cells whose outputs differ now, left alone (no --force)


def _source(cell: dict[str, Any]) -> tuple[str, str]:
    src = cell.get("source", "")
    return str(cell.get("cell_type", "")), "".join(src) if isinstance(src, list) else str(src)


def merge_outputs(kept: Any, current: Any, *, force: bool = False) -> PutBack:
    """Copy outputs (and execution counts) of ``kept``'s code cells into the matching code
    cells of ``current``, in place; each kept cell gives once."""
    if not isinstance(kept, dict) or not isinstance(current, dict):
        return PutBack(0, 0)
    donors: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in kept.get("cells") or []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code" and cell.get("outputs"):
            donors.setdefault(_source(cell), []).append(cell)
    restored = newer = 0
    for cell in current.get("cells") or []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        same = donors.get(_source(cell))
        if not same:
            continue
        donor = next((d for d in same if d.get("id") and d.get("id") == cell.get("id")),
                     same[0])
        if cell.get("outputs") == donor["outputs"]:
            same.remove(donor)
            continue
        if cell.get("outputs") and not force:
            newer += 1
            continue
        same.remove(donor)
        cell["outputs"] = donor["outputs"]
        cell["execution_count"] = donor.get("execution_count")
        restored += 1
    return PutBack(restored, newer)


def _load(data: bytes, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotebookError(f"{name}: cannot read it as a notebook ({exc})",
                            hint="repair it, or restore it with git checkout") from None


def put_back(repo: Repo, path: str, kept_bytes: bytes, *, force: bool = False,
             opts: StripOptions | None = None) -> PutBack:
    """Put the outputs of ``kept_bytes`` back into the work-tree notebook ``path``."""
    target = repo.root / path
    try:
        current_bytes = target.read_bytes()
    except FileNotFoundError:
        raise NotebookError(f"{path}: not found",
                            hint=f"restore the file first: git checkout -- {path}") from None
    current = _load(current_bytes, path)
    result = merge_outputs(_load(kept_bytes, f"the kept copy of {path}"), current, force=force)
    if not result.restored:
        return result
    indent = 1 if current_bytes[:4] in (b'{\n "', b"{\r\n ") else 2
    new = (json.dumps(current, indent=indent, ensure_ascii=False, sort_keys=True)
           + "\n").encode("utf-8")
    options = opts or configured_options(repo.root)[0]
    before, _ = clean_notebook(current_bytes, name=path, opts=options)
    after, _ = clean_notebook(new, name=path, opts=options)
    if before != after:
        raise NotebookError(f"{path}: putting the kept outputs back would change what git "
                            "stores (the strip settings keep some outputs); left as it is")
    write_if_unchanged(repo.root, target, new, current_bytes)
    refresh(repo, [path], opts=options)
    return result


def choose(store: OutputStore, repo: Repo, path: str, blob: str | None) -> Kept | None:
    """The copy of ``path`` to put back: the one of the stripped blob ``blob`` (a prefix of
    at least 4 hex digits), else the newest that has outputs for the notebook as it is."""
    copies = store.entries(path)
    if blob is not None:
        return next((k for k in copies if k.blob.startswith(blob.lower())), None)
    try:
        current = _load((repo.root / path).read_bytes(), path)
    except OSError:
        return copies[0] if copies else None
    for k in copies:
        try:
            kept = json.loads(store.read(k))
        except (OSError, ValueError):
            continue
        if merge_outputs(kept, json.loads(json.dumps(current))).restored:
            return k
    return None


def open_kept(repo: Repo) -> OutputStore:
    return OutputStore(repo.archives_dir / FOLDER, limit_from_config(Config.load(repo.root)))


def kept_path(repo: Repo, given: str) -> str:
    """``given`` (relative to the current folder) as a path from the work tree's top."""
    return Path(os.path.relpath(Path(given).resolve(), repo.root.resolve())).as_posix()
