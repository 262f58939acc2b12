"""Which files are paired, and in which jupytext formats.

Formats come from the notebook's metadata, the text file's header, or the nearest jupytext
configuration (``jupytext.toml`` and friends, ``pyproject.toml [tool.jupytext]``); only
TOML is read, never ``jupytext.py``. jupytext is imported only once formats are found.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import shell_arg
from gitext.errors import NotebookError, UsageError

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
HEADER_PROBE = 4096


@dataclass(frozen=True)
class Pair:
    """One notebook and one of its paired text files (absolute paths)."""

    notebook: Path
    text: Path
    fmt: str  # the text side's format, short form, e.g. "py:percent"
    formats: str  # the whole pairing, short form, e.g. "ipynb,py:percent"
    config_file: Path | None  # the jupytext configuration in force, if any


# --------------------------------------------------------------------------- file helpers

def read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


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
    head = data[:HEADER_PROBE].decode("utf-8", "replace")
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
    head = data[:HEADER_PROBE].decode("utf-8", "replace")
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
    data = read_or_none(path)
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
    return pairs_with_formats(path, formats, configs)


def pairs_with_formats(path: Path, formats: Any, configs: Configs) -> list[Pair]:
    """The pairs of ``path`` given the formats it declares itself (metadata or header), or,
    when it declares none, the formats its jupytext configuration gives it."""
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


def text_fmt_for(path: Path, formats: str) -> str:
    """The format (short form) that ``formats`` gives the text file ``path``."""
    from jupytext.formats import long_form_multiple_formats, short_form_one_format
    from jupytext.paired_paths import InconsistentPath, find_base_path_and_format

    try:
        _, fmt = find_base_path_and_format(os.fspath(path), long_form_multiple_formats(formats))
    except InconsistentPath:
        raise UsageError(f"{path.name} does not match the formats '{formats}'",
                         hint="choose formats that include this file's extension") from None
    out: str = short_form_one_format(fmt)
    return out
