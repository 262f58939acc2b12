"""Notebook ↔ text pairing (jupytext formats) with a content-based, three-way sync.

jupytext's own ``--sync`` trusts modification times: the newest file wins, so an edit made
on the other side in the meantime is silently overwritten. Here every pair remembers what
both sides looked like at the last sync (the cells' types and sources, in a small JSON file
under ``<git common dir>/archives/nbsync/``), and a sync propagates whichever side changed
since then. When both changed it merges cell by cell if the edits touch different cells,
and otherwise refuses, naming the files and the command that settles it.

Formats come, in this order, from the notebook's own metadata (``jupytext.formats``), the
text file's header, or the nearest ``jupytext.toml`` / ``.jupytext.toml`` / ``.jupytext`` /
``pyproject.toml [tool.jupytext]`` between the file and the top of the work tree. Python
configuration files (``jupytext.py``) are never read: a clone must not run code through us.

jupytext and nbformat are imported lazily: a pair whose two files have the bytes recorded at
the last sync is answered from the state file alone.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gitext.codec.shellquote import shell_arg
from gitext.errors import NotebookError, UsageError
from gitext.fs.atomic import atomic_write
from gitext.fs.worktree import write_bytes_in

Prefer = Literal["notebook", "text"]
CellKey = tuple[str, str]

# Extensions jupytext can pair with a notebook (jupytext.formats.NOTEBOOK_EXTENSIONS minus
# .ipynb), kept here so that cheap checks need no jupytext import; a test keeps them equal.
TEXT_EXTENSIONS = frozenset({
    ".md", ".markdown", ".Rmd", ".py", ".coco", ".R", ".r", ".jl", ".cpp", ".ss", ".clj",
    ".scm", ".sh", ".ps1", ".q", ".m", ".wolfram", ".pro", ".js", ".ts", ".scala", ".rs",
    ".robot", ".resource", ".cs", ".fsx", ".fs", ".sos", ".java", ".groovy", ".sage", ".ml",
    ".hs", ".tcl", ".mac", ".gp", ".do", ".sas", ".jenner", ".xsh", ".lgt", ".logtalk",
    ".lua", ".go", ".qmd", ".myst", ".mystnb", ".mnb",
})
CONFIG_FILES = ("jupytext.toml", ".jupytext.toml", ".jupytext")
# Directories never searched for notebooks: tooling, environments, jupyter's own copies.
SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__",
                       ".ipynb_checkpoints", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
                       ".ruff_cache", "site-packages", ".archives"})
_STATE_VERSION = 1
_HEADER_PROBE = 4096


class NotebookSyncError(NotebookError):
    """A pair that cannot be synced safely; nothing of it was written."""

    def __init__(self, message: str, *, hint: str | None = None,
                 results: Sequence[SyncResult] = ()) -> None:
        super().__init__(message, hint=hint)
        self.results = list(results)


@dataclass(frozen=True)
class Pair:
    """One notebook and one of its paired text files (absolute paths)."""

    notebook: Path
    text: Path
    fmt: str  # the text side's format, short form, e.g. "py:percent"
    formats: str  # the whole pairing, short form, e.g. "ipynb,py:percent"
    config_file: Path | None  # the jupytext configuration in force, if any


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


# --------------------------------------------------------------------------- file helpers

def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def relpath(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# --------------------------------------------------------------------------- configuration

def toml_mentions_jupytext(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "jupytext" in text


def find_config_file(directory: Path, top: Path) -> Path | None:
    """The nearest jupytext configuration from ``directory`` up to ``top`` (stats only)."""
    d = directory
    while True:
        for name in CONFIG_FILES:
            candidate = d / name
            if candidate.is_file():
                return candidate
        pyproject = d / "pyproject.toml"
        if pyproject.is_file() and toml_mentions_jupytext(pyproject):
            return pyproject
        if d in (top, d.parent):
            return None
        d = d.parent


class Configs:
    """Loaded jupytext configurations, each read once per sync."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self._by_file: dict[Path, Any] = {}

    def for_path(self, path: Path) -> tuple[Path | None, Any]:
        cfg_file = find_config_file(path.parent, self.top)
        if cfg_file is None:
            return None, None
        if cfg_file not in self._by_file:
            self._by_file[cfg_file] = _load_config(cfg_file)
        return cfg_file, self._by_file[cfg_file]


def _load_config(cfg_file: Path) -> Any:
    from jupytext.config import (
        JupytextConfigurationError,
        parse_jupytext_configuration_file,
        validate_jupytext_configuration_file,
    )

    name = os.fspath(cfg_file)  # ".jupytext" is toml too: jupytext keys on the name's end
    try:
        text = cfg_file.read_text(encoding="utf-8")
        data = parse_jupytext_configuration_file(name, text)
        if cfg_file.name == "pyproject.toml" and data is None:
            return None
        config = validate_jupytext_configuration_file(os.fspath(cfg_file), data)
    except KeyError:  # pyproject.toml mentioning jupytext without a [tool.jupytext] table
        return None
    except (JupytextConfigurationError, ValueError, OSError) as exc:
        raise NotebookError(
            f"{cfg_file}: not a valid jupytext configuration: {exc}",
            hint="fix the file, e.g. formats = \"ipynb,py:percent\"",
        ) from None
    if config is not None:
        from jupytext.config import normalize_formats

        config.formats = normalize_formats(config.formats or config.default_jupytext_formats)
    return config


# --------------------------------------------------------------------------- formats

def normalise_formats(formats: Any, where: Path) -> str:
    from jupytext.formats import (
        JupytextFormatError,
        long_form_multiple_formats,
        short_form_multiple_formats,
    )

    try:
        long = long_form_multiple_formats(formats)
        short: str = short_form_multiple_formats(long)
    except (JupytextFormatError, ValueError, TypeError) as exc:
        raise NotebookError(f"{where}: jupytext formats {formats!r} are not valid: {exc}",
                            hint="use e.g. --formats ipynb,py:percent") from None
    if not any(f.get("extension") == ".ipynb" for f in long):
        raise NotebookError(f"{where}: formats '{short}' do not include ipynb",
                            hint="pair a notebook with text, e.g. ipynb,py:percent")
    return short


def formats_in_metadata(metadata: Any) -> Any:
    if not isinstance(metadata, dict):
        return None
    jt = metadata.get("jupytext")
    if isinstance(jt, dict) and jt.get("formats"):
        return jt["formats"]
    return metadata.get("jupytext_formats") or None


def notebook_metadata_formats(data: bytes, path: Path) -> Any:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise NotebookError(f"{path}: not a notebook (not valid JSON)",
                            hint="repair it, or restore it with: "
                                 f"git checkout -- {shell_arg(path.name)}"
                            ) from None
    return formats_in_metadata(doc.get("metadata") if isinstance(doc, dict) else None)


def text_header_formats(data: bytes, ext: str) -> Any:
    """``jupytext.formats`` from a text notebook's header, or None."""
    head = data[:_HEADER_PROBE].decode("utf-8", "replace")
    if "formats" not in head:
        return None
    from jupytext.formats import read_metadata

    try:
        meta = read_metadata(data.decode("utf-8", "replace"), ext)
    except Exception:  # noqa: BLE001 - a header we cannot parse declares nothing
        return None
    return formats_in_metadata(meta)


def has_jupytext_header(data: bytes) -> bool:
    """Cheap test: does this text start with a jupytext header (``jupyter:`` ... ``jupytext:``)?"""
    head = data[:_HEADER_PROBE].decode("utf-8", "replace")
    return bool(re.search(r"^\W*jupyter:\s*$", head, re.M)) and "jupytext" in head


def pairs_from_formats(path: Path, formats: str, config_file: Path | None) -> list[Pair]:
    from jupytext.formats import long_form_multiple_formats, short_form_one_format
    from jupytext.paired_paths import (
        InconsistentPath,
        find_base_path_and_format,
        full_path,
    )

    long = long_form_multiple_formats(formats)
    try:
        base, _ = find_base_path_and_format(os.fspath(path), long)
    except InconsistentPath:
        return []
    nb_fmt = next(f for f in long if f.get("extension") == ".ipynb")
    notebook = Path(full_path(base, nb_fmt))
    pairs = []
    for fmt in long:
        if fmt.get("extension") == ".ipynb":
            continue
        text = Path(full_path(base, fmt))
        pairs.append(Pair(notebook, text, short_form_one_format(fmt), formats, config_file))
    return pairs


def pairs_for(path: Path, top: Path, configs: Configs | None = None, *,
              explicit: bool = True) -> list[Pair]:
    """The pairs ``path`` (a notebook or a text file) belongs to; empty when it is unpaired.

    A text file found by a directory walk (``explicit=False``) counts only when it carries a
    jupytext header, so an ordinary ``.py`` module never sprouts a notebook.
    """
    configs = configs or Configs(top)
    data = _read(path)
    formats: Any = None
    if path.suffix == ".ipynb":
        if data is not None:
            formats = notebook_metadata_formats(data, path)
    elif path.suffix in TEXT_EXTENSIONS:
        if data is not None:
            if not explicit and not has_jupytext_header(data):
                return []
            formats = text_header_formats(data, path.suffix)
    else:
        return []
    cfg_file, config = configs.for_path(path)
    if formats:
        return pairs_from_formats(path, normalise_formats(formats, path), cfg_file)
    if config is None:
        return []
    matched = config.default_formats(os.fspath(path))
    if not matched:
        return []
    return pairs_from_formats(path, normalise_formats(matched, cfg_file or path), cfg_file)


def iter_candidates(start: Path) -> Iterator[Path]:
    """Notebooks and possible text notebooks under ``start`` (skipping tooling folders)."""
    if start.is_file():
        yield start
        return
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            suffix = Path(name).suffix
            if suffix == ".ipynb" or suffix in TEXT_EXTENSIONS:
                yield Path(dirpath) / name


def discover_pairs(top: Path, paths: Iterable[Path], *,
                   explicit_files: bool = True) -> list[Pair]:
    """Every pair touched by ``paths`` (files or folders; absolute), without duplicates.

    A text file named in ``paths`` counts even without a jupytext header when
    ``explicit_files`` (the user named it); files found in folders always need one.
    """
    configs = Configs(top)
    seen: dict[tuple[Path, Path], Pair] = {}
    for start in paths:
        is_file = start.suffix in TEXT_EXTENSIONS | {".ipynb"} and not start.is_dir()
        for cand in [start] if is_file else iter_candidates(start):
            for p in pairs_for(cand, top, configs, explicit=is_file and explicit_files):
                seen.setdefault((p.notebook, p.text), p)
    return list(seen.values())


# --------------------------------------------------------------------------- cell content

def _norm_source(source: Any) -> str:
    text = "".join(source) if isinstance(source, list) else str(source)
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def cell_keys(nb: Any) -> list[CellKey]:
    """What a sync compares: each cell's type and source (trailing blanks ignored)."""
    return [(str(c.get("cell_type", "")), _norm_source(c.get("source", ""))) for c in nb.cells]


def _writes_text(nb: Any, fmt: str, config: Any) -> str:
    import jupytext

    text: str = jupytext.writes(nb, fmt, config=config)
    return stable_header(text)


def read_text_bytes(data: bytes, fmt: str, config: Any, path: Path) -> Any:
    import jupytext

    try:
        return jupytext.reads(data.decode("utf-8"), fmt, config=config)
    except UnicodeDecodeError:
        raise NotebookError(f"{path}: not UTF-8 text", hint="save it as UTF-8") from None
    except Exception as exc:  # noqa: BLE001 - jupytext raises many types for bad input
        raise NotebookError(f"{path}: jupytext cannot read it as {fmt}: {exc}",
                            hint="fix the file, or pair with another format") from None


def _nbformat() -> Any:
    """nbformat, typed loosely: its functions are untyped."""
    import importlib

    return importlib.import_module("nbformat")


def read_notebook_bytes(data: bytes, path: Path) -> Any:
    nbformat = _nbformat()
    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4)
    except UnicodeDecodeError:
        raise NotebookError(f"{path}: not UTF-8", hint="save the notebook as UTF-8") from None
    except Exception:  # noqa: BLE001 - nbformat raises JSON and validation errors alike
        raise NotebookError(f"{path}: not a notebook (not valid notebook JSON)",
                            hint="repair it, or restore it with: "
                                 f"git checkout -- {shell_arg(path.name)}"
                            ) from None


def notebook_keys_in_format(nb: Any, fmt: str, config: Any) -> list[CellKey]:
    """The notebook's cells as the text format would give them back (a round trip)."""
    import jupytext

    return cell_keys(jupytext.reads(jupytext.writes(nb, fmt, config=config), fmt, config=config))


_VERSION_LINE = re.compile(r"^.*\bjupytext_version:.*(?:\n|$)", re.M)


def stable_header(text: str) -> str:
    """Drop ``jupytext_version`` from the header so contributors' versions do not churn it."""
    head_end = text.find("text_representation:")
    if head_end < 0 or head_end > _HEADER_PROBE:
        return text
    window_end = min(len(text), head_end + 400)
    window = text[head_end:window_end]
    window = _VERSION_LINE.sub("", window, count=1)
    return text[:head_end] + window + text[window_end:]


def _dump_notebook(nb: Any) -> bytes:
    nbformat = _nbformat()

    meta = nb.metadata.get("jupytext")
    if isinstance(meta, dict):
        meta.pop("text_representation", None)
        if not meta:
            del nb.metadata["jupytext"]
    text: str = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")


def _stable_id(index: int, key: CellKey, used: set[str]) -> str:
    seed = f"{index}\0{key[0]}\0{key[1]}"
    n = 0
    while True:
        cid = hashlib.sha1(f"{seed}\0{n}".encode(), usedforsecurity=False).hexdigest()[:8]
        if cid not in used:
            used.add(cid)
            return cid
        n += 1


def _matches(old: Sequence[CellKey], new: Sequence[CellKey]) -> dict[int, int]:
    """new index → old index for cells whose type and source did not change."""
    sm = difflib.SequenceMatcher(None, old, new, autojunk=False)
    out: dict[int, int] = {}
    for block in sm.get_matching_blocks():
        for k in range(block.size):
            out[block.b + k] = block.a + k
    return out


def build_notebook(target: Sequence[CellKey], old_nb: Any | None, text_nb: Any | None) -> Any:
    """A notebook with cells ``target``: unchanged cells keep the old notebook's cell whole
    (outputs, metadata, id); every other cell comes from the text without outputs."""
    import importlib

    v4: Any = importlib.import_module("nbformat.v4")
    base = old_nb if old_nb is not None else text_nb
    nb = v4.new_notebook()
    if base is not None:
        nb.metadata = json.loads(json.dumps(base.metadata))
        nb.nbformat, nb.nbformat_minor = base.nbformat, base.nbformat_minor
    with_ids = nb.nbformat_minor >= 5
    if old_nb is not None and text_nb is not None:
        text_formats = formats_in_metadata(text_nb.metadata)
        if text_formats:
            nb.metadata.setdefault("jupytext", {})["formats"] = text_formats
    old_cells = list(old_nb.cells) if old_nb is not None else []
    text_cells = list(text_nb.cells) if text_nb is not None else []
    from_old = _matches(cell_keys(old_nb), target) if old_nb is not None else {}
    from_text = _matches(cell_keys(text_nb), target) if text_nb is not None else {}
    used: set[str] = {str(c.get("id")) for i, c in enumerate(old_cells)
                      if i in from_old.values() and c.get("id")}
    cells = []
    for j, key in enumerate(target):
        if j in from_old:
            cells.append(old_cells[from_old[j]])
            continue
        src_cell = text_cells[from_text[j]] if j in from_text else None
        source = src_cell.source if src_cell is not None else key[1]
        metadata = dict(src_cell.get("metadata", {})) if src_cell is not None else {}
        if key[0] == "code":
            cell = v4.new_code_cell(source, metadata=metadata)  # no outputs: they would be stale
        elif key[0] == "markdown":
            cell = v4.new_markdown_cell(source, metadata=metadata)
        else:
            cell = v4.new_raw_cell(source, metadata=metadata)
        if with_ids:
            cell.id = _stable_id(j, key, used)
        else:
            cell.pop("id", None)
        cells.append(cell)
    nb.cells = cells
    return nb


# --------------------------------------------------------------------------- three-way merge

Hunk = tuple[int, int, tuple[CellKey, ...]]


def _hunks(base: Sequence[CellKey], side: Sequence[CellKey]) -> list[Hunk]:
    sm = difflib.SequenceMatcher(None, base, side, autojunk=False)
    return [(i1, i2, tuple(side[j1:j2])) for tag, i1, i2, j1, j2 in sm.get_opcodes()
            if tag != "equal"]


def _clash(a: Hunk, b: Hunk) -> bool:
    a1, a2, _ = a
    b1, b2, _ = b
    if a1 < b2 and b1 < a2:
        return True  # both rewrote some of the same cells
    # An insertion where the other side changed cells: the order of the two is a guess.
    return (a1 == a2 and b1 <= a1 <= b2) or (b1 == b2 and a1 <= b1 <= a2)


def merge_cells(base: Sequence[CellKey], ours: Sequence[CellKey],
                theirs: Sequence[CellKey]) -> tuple[list[CellKey] | None, list[int]]:
    """Cell-level three-way merge: (merged cells, []) or (None, 1-based base cells in conflict).

    Edits merge when they touch different cells (adjacent cells are fine); the same edit on
    both sides counts once; anything else is a conflict.
    """
    ha, hb = _hunks(base, ours), _hunks(base, theirs)
    conflicts: set[int] = set()
    kept: list[Hunk] = list(ha)
    for h in hb:
        if h in ha:
            continue
        clashing = [a for a in ha if _clash(a, h)]
        if clashing:
            for a in [*clashing, h]:
                conflicts.update(range(a[0] + 1, max(a[1], a[0] + 1) + 1))
            continue
        kept.append(h)
    if conflicts:
        return None, sorted(conflicts)
    merged = list(base)
    for i1, i2, repl in sorted(kept, key=lambda h: (h[0], h[1]), reverse=True):
        merged[i1:i2] = list(repl)
    return merged, []


# --------------------------------------------------------------------------- state

class SyncState:
    """Last-synced content of every pair of one work tree (JSON, written atomically)."""

    def __init__(self, archives_dir: Path, worktree: Path) -> None:
        tag = hashlib.sha256(os.fspath(worktree.resolve()).encode()).hexdigest()[:16]
        self.dir = archives_dir / "nbsync"
        self.path = self.dir / f"{tag}.json"
        self.lock_path = self.dir / f"{tag}.lock"
        self.worktree = worktree
        self.pairs: dict[str, dict[str, Any]] = {}
        self._dirty = False

    def load(self) -> None:
        data = _read(self.path)
        if not data:
            return
        try:
            doc = json.loads(data)
        except ValueError:
            return  # a damaged record only costs the "first sync" question again
        if isinstance(doc, dict) and doc.get("version") == _STATE_VERSION:
            pairs = doc.get("pairs")
            if isinstance(pairs, dict):
                self.pairs = pairs

    def key(self, pair: Pair) -> str:
        return f"{relpath(pair.notebook, self.worktree)}\t{relpath(pair.text, self.worktree)}"

    def get(self, pair: Pair) -> dict[str, Any] | None:
        return self.pairs.get(self.key(pair))

    def record(self, pair: Pair, nb_bytes: bytes, text_bytes: bytes,
               cells: Sequence[CellKey], formats: Any) -> None:
        entry = {"notebook": _sha(nb_bytes), "text": _sha(text_bytes), "fmt": pair.fmt,
                 "formats": formats, "cells": [list(k) for k in cells]}
        if self.pairs.get(self.key(pair)) != entry:
            self.pairs[self.key(pair)] = entry
            self._dirty = True

    def forget(self, pair: Pair) -> None:
        if self.pairs.pop(self.key(pair), None) is not None:
            self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        doc = {"version": _STATE_VERSION, "worktree": os.fspath(self.worktree),
               "pairs": dict(sorted(self.pairs.items()))}
        atomic_write(self.path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
        self._dirty = False

    @contextlib.contextmanager
    def locked(self) -> Iterator[SyncState]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as fh:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX
                fcntl = None  # type: ignore[assignment]
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                self.load()
                yield self
            finally:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def open_state(root: Path) -> SyncState:
    from gitext.git.repo import Repo

    repo = Repo.discover(root)
    return SyncState(repo.archives_dir, repo.root)


# --------------------------------------------------------------------------- sync

def _fix_hint(pair: Pair, root: Path) -> str:
    nb = relpath(pair.notebook, root)
    return (f"keep one side with: git archives nb sync --prefer notebook -- {shell_arg(nb)} "
            f"(or --prefer text), or make the two files agree by hand and run: "
            f"git archives nb sync -- {shell_arg(nb)}")


def sync_pair(pair: Pair, state: SyncState, configs: Configs, *, dry_run: bool,
               prefer: Prefer | None) -> SyncResult:
    root = state.worktree
    nb_bytes, text_bytes = _read(pair.notebook), _read(pair.text)
    entry = state.get(pair)
    res = SyncResult(pair.notebook, pair.text, "unchanged")
    if nb_bytes is None and text_bytes is None:
        if not dry_run:
            state.forget(pair)
        res.detail = "neither file exists"
        return res
    if (entry is not None and nb_bytes is not None and text_bytes is not None
            and entry.get("notebook") == _sha(nb_bytes) and entry.get("text") == _sha(text_bytes)):
        return res  # the fast path: byte-identical to the last sync, no jupytext needed

    _, config = configs.for_path(pair.notebook)

    def write(path: Path, data: bytes, old: bytes | None) -> None:
        if data == old:
            return
        if not dry_run:
            write_bytes_in(root, path, data)
        res.written.append(path)

    if text_bytes is None:
        assert nb_bytes is not None
        nb = read_notebook_bytes(nb_bytes, pair.notebook)
        new_text = _writes_text(nb, pair.fmt, config).encode("utf-8")
        write(pair.text, new_text, None)
        res.action = "created-text"
        if not dry_run:
            state.record(pair, nb_bytes, new_text, notebook_keys_in_format(nb, pair.fmt, config),
                         formats_in_metadata(nb.metadata))
        return res
    text_nb = read_text_bytes(text_bytes, pair.fmt, config, pair.text)
    t_keys = cell_keys(text_nb)
    t_formats = formats_in_metadata(text_nb.metadata)
    if nb_bytes is None:
        new_nb = build_notebook(t_keys, None, text_nb)
        data = _dump_notebook(new_nb)
        write(pair.notebook, data, None)
        res.action = "created-notebook"
        if not dry_run:
            state.record(pair, data, text_bytes, t_keys, t_formats)
        return res

    nb = read_notebook_bytes(nb_bytes, pair.notebook)
    n_keys = notebook_keys_in_format(nb, pair.fmt, config)
    n_formats = formats_in_metadata(nb.metadata)
    if n_keys == t_keys and (n_formats == t_formats or not t_formats):
        if not dry_run:
            state.record(pair, nb_bytes, text_bytes, t_keys, n_formats)
        return res

    base = [(str(a), str(b)) for a, b in entry["cells"]] if entry else None
    base_formats = entry.get("formats") if entry else None

    def to_text() -> None:
        new_text = _writes_text(nb, pair.fmt, config).encode("utf-8")
        write(pair.text, new_text, text_bytes)
        res.action = "text-updated"
        if not dry_run:
            state.record(pair, nb_bytes, new_text, n_keys, n_formats)

    def to_notebook() -> None:
        new_nb = build_notebook(t_keys, nb, text_nb)
        data = _dump_notebook(new_nb)
        write(pair.notebook, data, nb_bytes)
        res.action = "notebook-updated"
        kept = _matches(cell_keys(nb), t_keys)
        dropped = sum(1 for j, k in enumerate(t_keys) if k[0] == "code" and j not in kept)
        if dropped:
            res.detail = f"{dropped} edited code cell(s) have no outputs until re-run"
        if not dry_run:
            state.record(pair, data, text_bytes, t_keys, t_formats or n_formats)

    nb_changed = base is None or n_keys != base or n_formats != base_formats
    # A header without formats (config pairing, or an older text) declares no change of them.
    text_changed = base is None or t_keys != base or (
        t_formats is not None and t_formats != base_formats)
    if prefer == "notebook" or (base is not None and not text_changed):
        to_text()
        return res
    if prefer == "text" or (base is not None and not nb_changed):
        to_notebook()
        return res
    if base is None:
        res.action = "conflict"
        res.detail = (f"{relpath(pair.notebook, root)} and {relpath(pair.text, root)} differ and "
                      "there is no record of a previous sync to tell which one was edited")
        return res
    if n_formats != t_formats and base_formats not in (n_formats, t_formats):
        res.action = "conflict"
        res.detail = (f"{relpath(pair.notebook, root)} and {relpath(pair.text, root)} both changed "
                      "the paired formats")
        return res
    merged, clash = merge_cells(base, n_keys, t_keys)
    if merged is None:
        cells = ", ".join(str(c) for c in clash)
        res.action = "conflict"
        res.detail = (f"{relpath(pair.notebook, root)} and {relpath(pair.text, root)} both changed "
                      f"cell{'s' if len(clash) > 1 else ''} {cells} since the last sync")
        return res
    formats = n_formats if n_formats != base_formats else t_formats
    new_nb = build_notebook(merged, nb, text_nb)
    if formats:
        new_nb.metadata.setdefault("jupytext", {})["formats"] = formats
    nb_data = _dump_notebook(new_nb)
    new_text = _writes_text(new_nb, pair.fmt, config).encode("utf-8")
    write(pair.notebook, nb_data, nb_bytes)
    write(pair.text, new_text, text_bytes)
    res.action = "merged"
    res.detail = "edits to different cells on both sides were combined"
    if not dry_run:
        state.record(pair, nb_data, new_text, merged, formats)
    return res


def _resolve(root: Path, paths: Sequence[str | os.PathLike[str]]) -> tuple[Path, list[Path]]:
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

    top, starts = _resolve(root, paths)
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
                results.append(sync_pair(pair, state, configs, dry_run=dry_run, prefer=prefer))
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
            hint=_fix_hint(Pair(first.notebook, first.text, "", "", None), top),
            results=results,
        )
    return results


def _remembered_pairs(state: SyncState, start: Path) -> list[Pair]:
    out = []
    for key, entry in state.pairs.items():
        nb_rel, _, text_rel = key.partition("\t")
        nb, text = state.worktree / nb_rel, state.worktree / text_rel
        inside = any(p == start or start in p.parents for p in (nb, text))
        # Discovery finds a pair from either file; one gone (e.g. a notebook paired only by
        # configuration, deleted, beside a text without a header) is found from memory.
        if inside and not (nb.exists() and text.exists()):
            out.append(Pair(nb, text, str(entry.get("fmt", "")), "", None))
    return out


# --------------------------------------------------------------------------- pair

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

    top, starts = _resolve(root, paths)
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
        data = _read(target) or b""
        if target.suffix == ".ipynb":
            nb = read_notebook_bytes(data, target)
            if _set_formats(nb, short):
                new = _dump_notebook(nb)
                write_bytes_in(top, target, new)
                written.append(target)
        else:
            # A text notebook named directly: its notebook is built from it, with formats.
            fmt = _text_fmt_for(target, short)
            text_nb = read_text_bytes(data, fmt, config, target)
            _set_formats(text_nb, short)
            nb_path = pairs_from_formats(target, short, None)[0].notebook
            if not nb_path.exists():
                nb_data = _dump_notebook(build_notebook(cell_keys(text_nb), None, text_nb))
                write_bytes_in(top, nb_path, nb_data)
                written.append(nb_path)
            target = nb_path
            if _set_formats(nb := read_notebook_bytes(nb_path.read_bytes(), nb_path), short):
                write_bytes_in(top, nb_path, _dump_notebook(nb))
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
                                    hint=_fix_hint(p, top))
        written += [w for w in res.written if w not in written]
        if short is not None:
            written += [w for w in _stamp_header(p, short, config, state) if w not in written]
    return written


def _stamp_header(p: Pair, short: str, config: Any, state: SyncState) -> list[Path]:
    """Pairing by metadata must show in the text's header too, so the text alone (e.g. the
    only side committed) still names its notebook. The cells already agree here."""
    text_bytes, nb_bytes = _read(p.text), _read(p.notebook)
    if text_bytes is None or nb_bytes is None:
        return []
    declared = text_header_formats(text_bytes, p.text.suffix)
    if declared and normalise_formats(declared, p.text) == short:
        return []
    nb = read_notebook_bytes(nb_bytes, p.notebook)
    new_text = _writes_text(nb, p.fmt, config).encode("utf-8")
    write_bytes_in(state.worktree, p.text, new_text)
    state.record(p, nb_bytes, new_text, notebook_keys_in_format(nb, p.fmt, config), short)
    return [p.text]


def _text_fmt_for(path: Path, formats: str) -> str:
    from jupytext.formats import long_form_multiple_formats, short_form_one_format
    from jupytext.paired_paths import InconsistentPath, find_base_path_and_format

    try:
        _, fmt = find_base_path_and_format(os.fspath(path), long_form_multiple_formats(formats))
    except InconsistentPath:
        raise UsageError(f"{path.name} does not match the formats '{formats}'",
                         hint="choose formats that include this file's extension") from None
    out: str = short_form_one_format(fmt)
    return out
