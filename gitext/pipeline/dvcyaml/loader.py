"""Finding and loading ``dvc.yaml`` files: the entry points of :mod:`gitext.pipeline.dvcyaml`.

With ``sources`` (:class:`gitext.pipeline.parsecache.Sources`), every file and directory
read, listed or checked is recorded: the read-set the parse cache keys its entry on.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gitext.errors import PipelineError
from gitext.pipeline.dvcyaml.builder import DocumentLoader
from gitext.pipeline.dvcyaml.templating import ParsingConfig, read_parsing_config
from gitext.pipeline.model import Pipeline
from gitext.pipeline.yaml12 import load_yaml_with_marks

if TYPE_CHECKING:
    from gitext.pipeline.parsecache import Sources

__all__ = ["load_all_pipelines", "load_pipeline", "parse_pipeline"]


def parse_pipeline(
    text: str,
    *,
    root: Path,
    file: Path,
    parsing: ParsingConfig | None = None,
    sources: Sources | None = None,
) -> Pipeline:
    """Load a ``dvc.yaml`` whose text is already read (vars files are read from disk).

    ``parsing`` defaults to the repository's ``.dvc/config`` (:func:`read_parsing_config`).
    ``sources``, when given, records every file read or checked (for the parse cache).
    """
    root = root.resolve()
    if parsing is None:
        parsing = read_parsing_config(root, sources)
    file = file if file.is_absolute() else root / file
    try:
        rel = file.resolve().relative_to(root).as_posix()
    except ValueError:
        raise PipelineError(f"{file} is not inside the repository {root}") from None
    data, marks = load_yaml_with_marks(text, file=rel)
    base = posixpath.dirname(rel) or "."
    loader = DocumentLoader(root, file.resolve(), rel, base, marks, parsing, sources=sources)
    return loader.load(data)


def load_pipeline(
    root: Path,
    file: Path | None = None,
    *,
    parsing: ParsingConfig | None = None,
    sources: Sources | None = None,
) -> Pipeline:
    """Load and fully resolve ``file`` (default ``root/"dvc.yaml"``).

    Raises :class:`PipelineError` with ``file:line:column`` and the stage for any problem.
    """
    target = file if file is not None else root / "dvc.yaml"
    if not target.is_absolute():
        target = root / target
    if sources is not None:
        sources.note(target)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"{target} does not exist", hint="create a dvc.yaml") from None
    except UnicodeDecodeError:
        raise PipelineError(f"{target} is not UTF-8 text") from None
    except OSError as exc:
        raise PipelineError(f"cannot read {target}: {exc.strerror}") from None
    return parse_pipeline(text, root=root, file=target, parsing=parsing, sources=sources)


_SKIP_DIRS = frozenset(("node_modules", "__pycache__", "site-packages"))


def _pipeline_files(root: Path, sources: Sources | None = None) -> Iterator[Path]:
    """Every ``dvc.yaml`` under ``root``: root first, then depth-first by sorted directory
    name. Hidden directories, virtualenvs (a ``pyvenv.cfg`` inside), ``node_modules``,
    ``__pycache__``, ``site-packages`` and symlinked directories are not entered; unreadable
    ones are skipped. With ``sources``, each directory is recorded before it is listed and
    each candidate subdirectory before ``pyvenv.cfg`` is looked for in it."""
    if sources is not None:
        sources.note(root)
    yield from _walk(root, sources)


def _walk(here: Path, sources: Sources | None) -> Iterator[Path]:
    subdirs: list[tuple[str, bool]] = []
    has_file = False
    try:
        with os.scandir(here) as entries:
            for entry in entries:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if not is_dir:
                    has_file = has_file or entry.name == "dvc.yaml"
                    continue
                if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
                    continue
                try:
                    link = entry.is_symlink()
                except OSError:
                    link = False
                subdirs.append((entry.name, link))
    except OSError:
        return
    if has_file:
        yield here / "dvc.yaml"
    for name, link in sorted(subdirs):
        sub = here / name
        if sources is not None:
            sources.note(sub)
        if link:
            continue  # as os.walk: a symlink to a directory is not followed
        marker = sub / "pyvenv.cfg"
        if marker.exists() if sources is None else sources.exists(marker):
            continue
        yield from _walk(sub, sources)


def load_all_pipelines(root: Path, *, sources: Sources | None = None) -> list[Pipeline]:
    """Every ``dvc.yaml`` under ``root``: the root one first, then by path. Hidden
    directories (``.git``, ``.dvc``, ``.venv``...), virtualenvs, ``node_modules`` and
    ``__pycache__`` are not searched. ``sources`` records every file and directory read,
    listed or checked (for :mod:`gitext.pipeline.parsecache`)."""
    files = list(_pipeline_files(root, sources))
    parsing = read_parsing_config(root, sources) if files else None
    return [load_pipeline(root, file, parsing=parsing, sources=sources) for file in files]
