"""Params files (``params.yaml`` and friends) read as DVC reads them.

YAML (1.2, see :mod:`gitext.pipeline.yaml12`), JSON, TOML, and Python files whose module-level
and class-level assignments of literals become keys (``class Train: lr = 0.1`` gives
``Train.lr``). Keys are addressed with dots, ``train.lr``; a number addresses a list item,
``layers.0.size``.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitext.errors import PipelineError

__all__ = ["flatten", "get_param", "has_param", "load_params_file", "parse_params"]


def load_params_file(path: Path) -> dict[str, Any]:
    """The top-level mapping of a params file; :class:`PipelineError` if missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(
            f"params file {path} does not exist", hint="create it or fix the path in dvc.yaml"
        ) from None
    except IsADirectoryError:
        raise PipelineError(f"params file {path} is a directory, expected a file") from None
    except UnicodeDecodeError:
        raise PipelineError(f"params file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise PipelineError(f"cannot read params file {path}: {exc.strerror}") from None
    return parse_params(text, file=str(path), suffix=path.suffix)


def parse_params(text: str, *, file: str, suffix: str) -> dict[str, Any]:
    """Parse params text by the file's suffix (``.yaml``/``.yml``/``.json``/``.toml``/``.py``)."""
    kind = suffix.lower()
    data: Any
    if kind in (".yaml", ".yml", ""):
        from gitext.pipeline.yaml12 import load_yaml

        data = load_yaml(text, file=file)
        if data is None:
            data = {}
    elif kind == ".json":
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PipelineError(
                f"{file}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
                hint=f"fix the JSON in {file}",
            ) from None
    elif kind == ".toml":
        data = _parse_toml(text, file)
    elif kind == ".py":
        data = _parse_py(text, file)
    else:
        raise PipelineError(
            f"params file {file} has an unsupported type {suffix!r}",
            hint="use a .yaml, .yml, .json, .toml or .py params file",
        )
    if not isinstance(data, dict):
        raise PipelineError(
            f"{file}: expected a mapping of params at the top level, got {type(data).__name__}",
            hint=f"make {file} a mapping (key: value)",
        )
    return data


def _parse_toml(text: str, file: str) -> dict[str, Any]:
    # tomllib is in the standard library from Python 3.11; tomli is the same parser for 3.10.
    try:
        toml = importlib.import_module("tomllib")
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            toml = importlib.import_module("tomli")
        except ImportError:
            raise PipelineError(
                f"cannot read {file}: TOML needs Python 3.11 or the tomli package",
                hint="pip install tomli",
            ) from None
    try:
        data: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise PipelineError(
            f"{file}: invalid TOML: {exc}", hint=f"fix the TOML in {file}"
        ) from None
    return data


def _literal(node: ast.expr) -> Any:
    return ast.literal_eval(node)


def _assignments(body: list[ast.stmt], file: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for stmt in body:
        if isinstance(stmt, ast.ClassDef):
            result[stmt.name] = _assignments(stmt.body, file)
            continue
        targets: list[ast.expr]
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        try:
            literal = _literal(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue  # not a literal: DVC skips it too
        for target in targets:
            if isinstance(target, ast.Name):
                result[target.id] = literal
    return result


def _parse_py(text: str, file: str) -> dict[str, Any]:
    try:
        tree = ast.parse(text, filename=file)
    except SyntaxError as exc:
        raise PipelineError(
            f"{file}:{exc.lineno}:{exc.offset}: invalid Python: {exc.msg}",
            hint=f"fix the syntax of {file}",
        ) from None
    return _assignments(tree.body, file)


_MISSING = object()


def _lookup(data: Any, dotted_key: str) -> Any:
    node = data
    for part in dotted_key.split("."):
        if isinstance(node, Mapping):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def has_param(data: Mapping[str, Any], dotted_key: str) -> bool:
    """Whether ``dotted_key`` names a value in ``data``."""
    return _lookup(data, dotted_key) is not _MISSING


def get_param(data: Mapping[str, Any], dotted_key: str, *, file: str = "params.yaml") -> Any:
    """The value at ``dotted_key`` (``train.lr``); :class:`PipelineError` naming file and key."""
    value = _lookup(data, dotted_key)
    if value is _MISSING:
        raise PipelineError(
            f"param {dotted_key!r} does not exist in {file}",
            hint=f"add {dotted_key} to {file} or remove it from the stage's params in dvc.yaml",
        )
    return value


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level with dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``.

    Lists are leaves; an empty mapping is kept as a leaf so no key disappears.
    """
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
