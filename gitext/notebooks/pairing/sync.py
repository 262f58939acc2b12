"""``git archives nb sync``: bring every pair in step, by content.

:func:`sync` finds the pairs under the given paths (and the remembered ones whose files
are gone), runs :func:`sync_pair` on each under the state lock, and raises
:class:`NotebookSyncError` for the pairs it refused. :func:`sync_pair` reads both sides,
answers from the record when both are byte-identical to the last sync, and otherwise
creates the missing side, copies the changed side over the other, or merges (see
:mod:`gitext.notebooks.pairing.merge`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from gitext.codec.shellquote import shell_arg
from gitext.errors import NotebookError, UsageError
from gitext.notebooks.pairing.cells import (
    CellKey,
    build_notebook,
    cell_keys,
    dump_notebook,
    match_cells,
    notebook_keys_in_format,
    read_notebook_bytes,
    read_text_bytes,
    writes_text,
)
from gitext.notebooks.pairing.formats import (
    Configs,
    Pair,
    discover_pairs,
    formats_in_metadata,
    read_or_none,
    relpath,
)
from gitext.notebooks.pairing.guarded import ChangedUnderneath, write_if_unchanged
from gitext.notebooks.pairing.merge import (
    Prefer,
    Side,
    decide,
    merge_cells,
    merged_formats,
    undoes,
)
from gitext.notebooks.pairing.state import SyncState


class NotebookSyncError(NotebookError):
    """A pair that cannot be synced safely; nothing of it was written."""

    def __init__(self, message: str, *, hint: str | None = None,
                 results: Sequence[SyncResult] = ()) -> None:
        super().__init__(message, hint=hint)
        self.results = list(results)


@dataclass
class SyncResult:
    """What sync did (or, with ``dry_run``, would do) to one pair.

    ``action`` is one of ``unchanged``, ``text-updated``, ``notebook-updated``, ``merged``,
    ``created-text``, ``created-notebook``, ``conflict``.
    """

    notebook: Path
    text: Path
    action: str
    detail: str = ""
    written: list[Path] = field(default_factory=list)
    hint: str | None = None  # for a conflict: how to settle it (default: fix_hint)


def fix_hint(pair: Pair, root: Path) -> str:
    nb = relpath(pair.notebook, root)
    return (f"keep one side's version of the cells both changed with: git archives nb sync "
            f"--prefer notebook -- {shell_arg(nb)} (or --prefer text; the other edits of both "
            f"sides are kept), or make the two files agree by hand and run: "
            f"git archives nb sync -- {shell_arg(nb)}")


# --------------------------------------------------------------------------- one pair

def other_name(side: str) -> str:
    return "text" if side == "notebook" else "notebook"


class _Side(NamedTuple):
    """One file of a pair, read: its bytes, as a notebook, its cells, its paired formats."""

    data: bytes
    nb: Any
    keys: list[CellKey]
    formats: Any


def sync_pair(pair: Pair, state: SyncState, configs: Configs, *, dry_run: bool,
              prefer: Prefer | None) -> SyncResult:
    nb_bytes, text_bytes = read_or_none(pair.notebook), read_or_none(pair.text)
    res = SyncResult(pair.notebook, pair.text, "unchanged")
    if nb_bytes is None and text_bytes is None:
        if not dry_run:
            state.forget(pair)
        res.detail = "neither file exists"
        return res
    if state.same_as_recorded(pair, nb_bytes, text_bytes):
        return res  # the fast path: byte-identical to the last sync, no jupytext needed

    _, config = configs.for_path(pair.notebook)
    step = _PairSync(pair, state, config, res, dry_run=dry_run)
    try:
        _sync_read_pair(step, nb_bytes, text_bytes, prefer)
    except ChangedUnderneath as exc:
        res.action = "conflict"
        res.detail = (f"{relpath(exc.path, state.worktree)} was saved while the sync ran "
                      "(its new content is kept)")
        res.hint = f"run the sync again: git archives nb sync -- " \
                   f"{shell_arg(relpath(pair.notebook, state.worktree))}"
    return res


def _sync_read_pair(step: _PairSync, nb_bytes: bytes | None, text_bytes: bytes | None,
                    prefer: Prefer | None) -> None:
    pair, config = step.pair, step.config
    if text_bytes is None:
        assert nb_bytes is not None
        step.create_text(nb_bytes)
        return
    text_nb = read_text_bytes(text_bytes, pair.fmt, config, pair.text)
    text = _Side(text_bytes, text_nb, cell_keys(text_nb), formats_in_metadata(text_nb.metadata))
    if nb_bytes is None:
        step.create_notebook(text)
        return

    nb = read_notebook_bytes(nb_bytes, pair.notebook)
    notebook = _Side(nb_bytes, nb, notebook_keys_in_format(nb, pair.fmt, config),
                     formats_in_metadata(nb.metadata))
    if notebook.keys == text.keys and (notebook.formats == text.formats or not text.formats):
        step.record(nb_bytes, text_bytes, text.keys, notebook.formats)
        return
    step.reconcile(notebook, text, prefer)


class _PairSync:
    """The steps of :func:`sync_pair` once a pair needs work; each sets ``res``, writes the
    files (unless ``dry_run``) and records what both sides now hold."""

    def __init__(self, pair: Pair, state: SyncState, config: Any, res: SyncResult, *,
                 dry_run: bool) -> None:
        self.pair, self.state, self.config, self.res = pair, state, config, res
        self.dry_run = dry_run

    def write(self, path: Path, data: bytes, old: bytes | None) -> None:
        """Replace ``path`` only if it still holds ``old``, the bytes this sync read
        (compare-and-swap; :class:`ChangedUnderneath` otherwise)."""
        if data == old:
            return
        if not self.dry_run:
            write_if_unchanged(self.state.worktree, path, data, old)
        self.res.written.append(path)

    def wrote(self, **before: list[CellKey]) -> dict[str, Sequence[CellKey]]:
        """The cells each side held before this sync, for the sides it wrote."""
        paths = {"notebook": self.pair.notebook, "text": self.pair.text}
        return {side: keys for side, keys in before.items() if paths[side] in self.res.written}

    def unchanged(self, *sides: tuple[Path, bytes | None]) -> None:
        """Before writing two files: neither changed since it was read."""
        for path, old in sides:
            if read_or_none(path) != old:
                raise ChangedUnderneath(path)

    def record(self, nb_bytes: bytes, text_bytes: bytes, cells: Sequence[CellKey],
               formats: Any, wrote: dict[str, Sequence[CellKey]] | None = None) -> None:
        if not self.dry_run:
            self.state.record(self.pair, nb_bytes, text_bytes, cells, formats, wrote=wrote)

    def text_of(self, nb: Any) -> bytes:
        return writes_text(nb, self.pair.fmt, self.config).encode("utf-8")

    def create_text(self, nb_bytes: bytes) -> None:
        nb = read_notebook_bytes(nb_bytes, self.pair.notebook)
        new_text = self.text_of(nb)
        self.write(self.pair.text, new_text, None)
        self.res.action = "created-text"
        if not self.dry_run:
            self.record(nb_bytes, new_text,
                        notebook_keys_in_format(nb, self.pair.fmt, self.config),
                        formats_in_metadata(nb.metadata))

    def create_notebook(self, text: _Side) -> None:
        data = dump_notebook(build_notebook(text.keys, None, text.nb))
        self.write(self.pair.notebook, data, None)
        self.res.action = "created-notebook"
        self.record(data, text.data, text.keys, text.formats)

    def reconcile(self, notebook: _Side, text: _Side, prefer: Prefer | None) -> None:
        """The sides differ: copy the changed one over the other, merge, or refuse."""
        base, base_formats = self.state.recorded_cells(self.pair)
        if base is not None and self.stale(notebook, text, base, prefer):
            return
        way = decide(base, base_formats, n_keys=notebook.keys, t_keys=text.keys,
                     n_formats=notebook.formats, t_formats=text.formats, prefer=prefer)
        if way == "to-text":
            self.to_text(notebook, text)
        elif way == "to-notebook":
            self.to_notebook(notebook, text)
        elif way == "no-record":
            self.conflict("differ and there is no record of a previous sync to tell which "
                          "one was edited")
        elif way == "both-formats":
            self.conflict("both changed the paired formats")
        else:
            assert base is not None
            self.merge(notebook, text, base, base_formats, prefer)

    def stale(self, notebook: _Side, text: _Side, base: list[CellKey],
              prefer: Prefer | None) -> bool:
        """A side saved from a copy older than what the last syncs wrote into it (an
        editor's buffer saved after a sync): a conflict, never a revert. With ``prefer``
        the other side, its edits are merged with those made to that older copy; with
        ``prefer`` this side, the ordinary way follows (False)."""
        for side, mine in (("notebook", notebook), ("text", text)):
            if mine.keys == base:
                continue
            older = next((r for r in self.state.replaced(self.pair, side)
                          if undoes(r, base, mine.keys)), None)
            if older is None or prefer == side:
                continue
            if prefer is None:
                path = self.pair.notebook if side == "notebook" else self.pair.text
                self.conflict(f"({relpath(path, self.state.worktree)} was saved from a copy "
                              f"older than the last sync: it undoes the {other_name(side)}'s "
                              "edit that sync put in it)", both=False)
                return True
            self.merge(notebook, text, older, None, prefer)
            return True
        return False

    def to_text(self, notebook: _Side, text: _Side) -> None:
        new_text = self.text_of(notebook.nb)
        self.write(self.pair.text, new_text, text.data)
        self.res.action = "text-updated"
        self.record(notebook.data, new_text, notebook.keys, notebook.formats,
                    self.wrote(text=text.keys))

    def to_notebook(self, notebook: _Side, text: _Side) -> None:
        data = dump_notebook(build_notebook(text.keys, notebook.nb, text.nb))
        self.write(self.pair.notebook, data, notebook.data)
        self.res.action = "notebook-updated"
        kept = match_cells(cell_keys(notebook.nb), text.keys)
        dropped = sum(1 for j, k in enumerate(text.keys) if k[0] == "code" and j not in kept)
        if dropped:
            self.res.detail = f"{dropped} edited code cell(s) have no outputs until re-run"
        self.record(data, text.data, text.keys, text.formats or notebook.formats,
                    self.wrote(notebook=notebook.keys))

    def conflict(self, what: str, *, both: bool = True) -> None:
        root = self.state.worktree
        self.res.action = "conflict"
        self.res.detail = (f"{relpath(self.pair.notebook, root)} and "
                           f"{relpath(self.pair.text, root)} {'' if both else 'differ '}{what}")

    def merge(self, notebook: _Side, text: _Side, base: list[CellKey],
              base_formats: Any, prefer: Prefer | None = None) -> None:
        """Edits of both sides since ``base``; ``prefer`` settles the cells both changed."""
        side: Side | None = None if prefer is None else (
            "ours" if prefer == "notebook" else "theirs")
        merged, clash = merge_cells(base, notebook.keys, text.keys, prefer=side)
        cells = ", ".join(str(c) for c in clash)
        if merged is None:
            self.conflict(f"both changed cell{'s' if len(clash) > 1 else ''} {cells} "
                          "since the last sync")
            return
        formats = merged_formats(base_formats, notebook.formats, text.formats, prefer)
        new_nb = build_notebook(merged, notebook.nb, text.nb)
        if formats:
            new_nb.metadata.setdefault("jupytext", {})["formats"] = formats
        nb_data = dump_notebook(new_nb)
        new_text = self.text_of(new_nb)
        self.unchanged((self.pair.notebook, notebook.data), (self.pair.text, text.data))
        self.write(self.pair.notebook, nb_data, notebook.data)
        self.write(self.pair.text, new_text, text.data)
        self.res.action = "merged"
        self.res.detail = "edits to different cells on both sides were combined"
        if clash:
            self.res.detail += (f"; where both changed the same cells ({cells} of the last "
                                f"sync) the {prefer}'s version was kept")
        self.record(nb_data, new_text, merged, formats,
                    self.wrote(notebook=notebook.keys, text=text.keys))


# --------------------------------------------------------------------------- many pairs

def resolve_paths(root: Path, paths: Sequence[str | os.PathLike[str]],
                  ) -> tuple[Path, list[Path]]:
    """The work tree's top and ``paths`` (default: the top) made absolute inside it."""
    from gitext.git.repo import Repo

    repo = Repo.discover(root)
    top = repo.root.resolve()
    starts = []
    for p in paths or [top]:
        path = Path(p)
        path = (path if path.is_absolute() else Path(root) / path).resolve()
        try:
            path.relative_to(top)
        except ValueError:
            raise UsageError(f"{p} is outside the work tree {top}") from None
        starts.append(path)
    return top, starts


def sync(root: Path, paths: Sequence[str | os.PathLike[str]] = (), *, dry_run: bool = False,
         prefer: Prefer | None = None, explicit_files: bool = True) -> list[SyncResult]:
    """Bring every pair under ``paths`` (default: the whole work tree) in step.

    ``prefer`` settles pairs whose both sides changed by keeping that side. Pairs that
    cannot be decided safely are left untouched; after the others are done a
    :class:`NotebookSyncError` lists them (its ``results`` holds every result).
    ``explicit_files=False`` treats named text files like ones found in a folder (watch).
    """
    from gitext.git.repo import Repo

    top, starts = resolve_paths(root, paths)
    repo = Repo.discover(top)
    state = SyncState(repo.archives_dir, top)
    configs = Configs(top)
    results: list[SyncResult] = []
    with state.locked():
        pairs = discover_pairs(top, starts, explicit_files=explicit_files)
        # Pairs remembered from earlier syncs whose files are both gone from view still count.
        for start in starts:
            pairs += [p for p in _remembered_pairs(state, start)
                      if (p.notebook, p.text) not in {(q.notebook, q.text) for q in pairs}]
        try:
            for pair in sorted(pairs, key=lambda p: (p.notebook, p.text)):
                results.append(_sync_or_refuse(pair, state, configs, dry_run=dry_run,
                                               prefer=prefer))
        finally:
            if not dry_run:
                state.save()
    conflicts = [r for r in results if r.action == "conflict"]
    if conflicts:
        first = conflicts[0]
        more = f" (and {len(conflicts) - 1} more pair(s))" if len(conflicts) > 1 else ""
        raise NotebookSyncError(
            f"refusing to sync: {first.detail}{more}; nothing of "
            f"{'these pairs' if more else 'this pair'} was written",
            hint=first.hint or fix_hint(Pair(first.notebook, first.text, "", "", None), top),
            results=results,
        )
    return results


def _sync_or_refuse(pair: Pair, state: SyncState, configs: Configs, *, dry_run: bool,
                    prefer: Prefer | None) -> SyncResult:
    """:func:`sync_pair`; a file that cannot be read (not JSON, not in its format) refuses
    that pair alone, with its own message and hint, and the other pairs go on."""
    try:
        return sync_pair(pair, state, configs, dry_run=dry_run, prefer=prefer)
    except NotebookError as exc:
        return SyncResult(pair.notebook, pair.text, "conflict", exc.message, hint=exc.hint)


def _remembered_pairs(state: SyncState, start: Path) -> list[Pair]:
    out = []
    for nb_rel, text_rel, entry in state.remembered():
        nb, text = state.worktree / nb_rel, state.worktree / text_rel
        inside = any(p == start or start in p.parents for p in (nb, text))
        # Discovery finds a pair from either file; one gone (e.g. a notebook paired only by
        # configuration, deleted, beside a text without a header) is found from memory.
        if inside and not (nb.exists() and text.exists()):
            out.append(Pair(nb, text, str(entry.get("fmt", "")), "", None))
    return out
