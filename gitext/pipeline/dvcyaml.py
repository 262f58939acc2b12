"""Load ``dvc.yaml``: schema, ``${}`` templating, ``foreach``/``matrix``, paths.

The rules are DVC 3's (see ``docs/dvc-yaml.md``):

* The file is checked against the schema *before* templating, as DVC does, so only
  string fields can hold ``${...}``; an unknown key or a value of the wrong type is an error
  naming ``file:line:column`` and the stage.
* Variables come from ``params.yaml`` beside the ``dvc.yaml`` (if it exists), then the
  top-level ``vars`` (inline mappings, or files ``path[:key1,key2]``), then a stage's own
  ``vars``. Nested mappings merge; redefining a value is an error.
* ``"${x}"`` alone keeps the value's type; inside a longer string a bool is ``true``/
  ``false``, and in ``cmd`` a mapping becomes ``--key value`` arguments (lists as
  ``--key a b``, true bools as ``--flag``, false ones dropped; ``.dvc/config``'s
  ``[parsing]`` ``list = append`` gives ``--key a --key b`` and ``bool = boolean_optional``
  gives ``--no-flag``). Anywhere else a mapping or list inside a string is an error.
  ``\\${`` is a literal ``${``.
* ``foreach`` over a list of scalars names stages ``name@<value>``, over a list holding
  mappings or lists ``name@<index>``, over a mapping ``name@<key>`` (with ``${key}``);
  ``matrix`` names them ``name@<v1>-<v2>`` (``<axis><index>`` for a composite value).
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.errors import PipelineError
from gitext.fs.worktree import is_git_dir_name
from gitext.pipeline.model import Dep, Out, OutKind, ParamDep, Pipeline, Stage
from gitext.pipeline.yaml12 import Marks, YamlPath, load_yaml_with_marks

if TYPE_CHECKING:
    from gitext.pipeline.parsecache import Sources

__all__ = [
    "DEFAULT_PARAMS_FILE",
    "ParsingConfig",
    "load_all_pipelines",
    "load_pipeline",
    "parse_pipeline",
    "read_parsing_config",
]

DEFAULT_PARAMS_FILE = "params.yaml"
_HINT = "see docs/dvc-yaml.md for the dvc.yaml format"

# ---------------------------------------------------------------------------- schema

_ANY = object()
_STR_LIST = ("list", str)

_ANNOTATION: dict[str, Any] = {"desc": str, "type": str, "labels": _STR_LIST, "meta": _ANY}
_OUT_OPTIONS: dict[str, Any] = {
    **_ANNOTATION,
    "cache": bool,
    "persist": bool,
    "checkpoint": bool,
    "remote": str,
    "push": bool,
}
_PLOT_OPTIONS: dict[str, Any] = {
    **_OUT_OPTIONS,
    "template": str,
    "x": str,
    "y": str,
    "x_label": str,
    "y_label": str,
    "title": str,
    "header": bool,
}
_TOP_PLOT_OPTIONS: dict[str, Any] = {
    "x": (str, dict),
    "y": (str, list, dict),
    "x_label": str,
    "y_label": str,
    "title": str,
    "template": str,
}
_STAGE_KEYS = (
    "cmd",
    "wdir",
    "deps",
    "params",
    "vars",
    "frozen",
    "meta",
    "desc",
    "always_changed",
    "outs",
    "metrics",
    "plots",
)
_TOP_KEYS = ("stages", "vars", "params", "metrics", "plots", "artifacts", "datasets")
_TYPE_NAMES = {str: "a string", bool: "true or false", list: "a list", dict: "a mapping"}


class _Checker:
    """Schema checks on the raw (untemplated) document, with locations."""

    def __init__(self, marks: Marks) -> None:
        self.marks = marks

    def fail(
        self, path: YamlPath, problem: str, *, key: bool = False, where: YamlPath | None = None
    ) -> PipelineError:
        loc = self.marks.key(path) if key else self.marks.value(path)
        return PipelineError(f"{loc}: {_where(path if where is None else where)}{problem}",
                             hint=_HINT)

    def expect(self, value: Any, kind: Any, path: YamlPath) -> None:
        kinds = kind if isinstance(kind, tuple) and kind[0] != "list" else (kind,)
        for one in kinds:
            if one is _ANY:
                return
            if one is bool and isinstance(value, bool):
                return
            if one is str and isinstance(value, str):
                return
            if one in (list, dict) and isinstance(value, one):
                return
            if isinstance(one, tuple) and one[0] == "list" and isinstance(value, list):
                for n, item in enumerate(value):
                    self.expect(item, one[1], (*path, n))
                return
        wanted = " or ".join(
            "a list of strings" if isinstance(one, tuple) else _TYPE_NAMES.get(one, str(one))
            for one in kinds
        )
        raise self.fail(path, f"expected {wanted}, got {_describe(value)}")

    def keys(
        self,
        data: dict[Any, Any],
        allowed: Mapping[str, Any] | tuple[str, ...],
        path: YamlPath,
        what: str,
    ) -> None:
        for key in data:
            if not isinstance(key, str) or key not in allowed:
                close = get_close_matches(str(key), list(allowed), n=1, cutoff=0.7)
                guess = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.fail(
                    (*path, str(key)),
                    f"unknown key {key!r} in {what}{guess}; allowed: {', '.join(allowed)}",
                    key=True,
                    where=path,  # the message names the key already
                )

    def options(self, data: Any, schema: Mapping[str, Any], path: YamlPath, what: str) -> None:
        if not isinstance(data, dict):
            raise self.fail(path, f"expected a mapping of {what} options, got {_describe(data)}")
        self.keys(data, schema, path, what)
        for key, value in data.items():
            self.expect(value, schema[key], (*path, key))

    def outputs(self, data: Any, path: YamlPath, plots: bool) -> None:
        self.expect(data, list, path)
        schema = _PLOT_OPTIONS if plots else _OUT_OPTIONS
        for n, item in enumerate(data):
            where = (*path, n)
            if isinstance(item, str):
                continue
            if not isinstance(item, dict) or not item:
                raise self.fail(
                    where, f"expected a path or {{path: options}}, got {_describe(item)}"
                )
            for out_path, opts in item.items():
                if not isinstance(out_path, str):
                    raise self.fail((*where, str(out_path)), "a path must be a string", key=True)
                if plots and isinstance(opts, list):
                    for m, one in enumerate(opts):
                        self.options(one, schema, (*where, out_path, m), "plot")
                else:
                    self.options(opts, schema, (*where, out_path), "plot" if plots else "output")

    def vars(self, data: Any, path: YamlPath) -> None:
        self.expect(data, list, path)
        for n, item in enumerate(data):
            self.expect(item, (str, dict), (*path, n))
            _no_templates(self, item, (*path, n), "vars")

    def stage_body(self, data: dict[Any, Any], path: YamlPath, *, matrix: bool) -> None:
        allowed = (*_STAGE_KEYS, "matrix") if matrix else _STAGE_KEYS
        self.keys(data, allowed, path, "a stage")
        if "cmd" not in data:
            raise self.fail(path, "missing required key 'cmd'")
        self.expect(data["cmd"], (str, list), (*path, "cmd"))
        if isinstance(data["cmd"], list):
            for n, part in enumerate(data["cmd"]):
                self.expect(part, str, (*path, "cmd", n))
        simple = {
            "wdir": str,
            "deps": _STR_LIST,
            "frozen": bool,
            "meta": _ANY,
            "desc": str,
            "always_changed": bool,
        }
        for key, kind in simple.items():
            if key in data:
                self.expect(data[key], kind, (*path, key))
        if "params" in data:
            self.expect(data["params"], list, (*path, "params"))
            for n, item in enumerate(data["params"]):
                self.expect(item, (str, dict), (*path, "params", n))
        if "vars" in data:
            self.vars(data["vars"], (*path, "vars"))
        for key in ("outs", "metrics", "plots"):
            if key in data:
                self.outputs(data[key], (*path, key), plots=key == "plots")
        if matrix:
            grid = data["matrix"]
            if not isinstance(grid, dict) or not grid:
                raise self.fail((*path, "matrix"), "expected a mapping of axis: list")
            for axis, values in grid.items():
                if not isinstance(axis, str):
                    raise self.fail((*path, "matrix", str(axis)), "axis names must be strings")
                self.expect(values, (str, list), (*path, "matrix", axis))

    def stage(self, name: Any, data: Any, path: YamlPath) -> None:
        if not isinstance(name, str) or not name:
            raise self.fail(path, "stage names must be non-empty strings", key=True)
        if "@" in name or ":" in name or "/" in name:
            raise self.fail(
                path, f"invalid stage name {name!r}: '@', ':' and '/' are not allowed", key=True
            )
        if not isinstance(data, dict):
            raise self.fail(path, f"a stage must be a mapping, got {_describe(data)}")
        if "foreach" in data or "do" in data:
            self.keys(data, ("foreach", "do"), path, "a foreach stage")
            for key in ("foreach", "do"):
                if key not in data:
                    raise self.fail(path, f"missing required key '{key}' in a foreach stage")
            self.expect(data["foreach"], (dict, list, str), (*path, "foreach"))
            body = data["do"]
            if not isinstance(body, dict):
                raise self.fail((*path, "do"), f"expected a stage mapping, got {_describe(body)}")
            self.stage_body(body, (*path, "do"), matrix=False)
        else:
            self.stage_body(data, path, matrix="matrix" in data)

    def document(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise self.fail((), f"expected a mapping at the top level, got {_describe(data)}")
        self.keys(data, _TOP_KEYS, (), "dvc.yaml")
        stages = data.get("stages")
        if stages is not None:
            if not isinstance(stages, dict):
                raise self.fail(
                    ("stages",), f"expected a mapping of stages, got {_describe(stages)}"
                )
            for name, body in stages.items():
                self.stage(name, body, ("stages", str(name)))
        for key in ("params", "metrics"):
            if key in data:
                self.expect(data[key], _STR_LIST, (key,))
        if "vars" in data:
            self.vars(data["vars"], ("vars",))
        if "plots" in data:
            self.expect(data["plots"], list, ("plots",))
            for n, item in enumerate(data["plots"]):
                if isinstance(item, str):
                    continue
                if not isinstance(item, dict) or not item:
                    raise self.fail(
                        ("plots", n), f"expected a path or {{id: options}}, got {_describe(item)}"
                    )
                for plot_id, opts in item.items():
                    if opts is not None:
                        self.options(opts, _TOP_PLOT_OPTIONS, ("plots", n, str(plot_id)), "plot")
        if "artifacts" in data:
            artifacts = data["artifacts"]
            if not isinstance(artifacts, dict):
                raise self.fail(("artifacts",), f"expected a mapping, got {_describe(artifacts)}")
            for name, spec in artifacts.items():
                where: YamlPath = ("artifacts", str(name))
                self.options(spec, {"path": str, **_ANNOTATION}, where, "artifact")
                if "path" not in spec:
                    raise self.fail(where, "missing required key 'path' in an artifact")
        if "datasets" in data:
            self.expect(data["datasets"], list, ("datasets",))


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a bool ({'true' if value else 'false'})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _where(path: YamlPath, stage: str | None = None) -> str:
    if len(path) >= 2 and path[0] == "stages":
        rest = ".".join(str(part) for part in path[2:])
        return f"stage '{stage or path[1]}'" + (f", {rest}" if rest else "") + ": "
    if path:
        return ".".join(str(part) for part in path) + ": "
    return ""


def _no_templates(checker: _Checker, data: Any, path: YamlPath, what: str) -> None:
    if isinstance(data, str):
        if _TEMPLATE.search(data):
            raise checker.fail(path, f"interpolation (${{...}}) is not allowed in {what}")
    elif isinstance(data, dict):
        for key, value in data.items():
            _no_templates(checker, key, path, what)
            _no_templates(checker, value, (*path, str(key)), what)
    elif isinstance(data, list):
        for n, item in enumerate(data):
            _no_templates(checker, item, (*path, n), what)


# ----------------------------------------------------------------------- templating

_TEMPLATE = re.compile(r"(?<!\\)\$\{(?P<inner>.*?)\}")
_EXPR = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[[^.\[\]]+\])*")
_PRIMITIVES = (str, int, float, bool)


class _TemplateError(Exception):
    def __init__(self, message: str, path: YamlPath | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class ParsingConfig:
    """DVC's ``[parsing]`` settings: how a mapping interpolated into ``cmd`` becomes arguments.

    ``bool``: ``store_true`` (default) writes ``--flag`` for true and nothing for false;
    ``boolean_optional`` writes ``--no-flag`` for false. ``list``: ``nargs`` (default) writes
    ``--key a b``; ``append`` writes ``--key a --key b``.
    """

    bool: str = "store_true"
    list: str = "nargs"


_PARSING_CHOICES = {"bool": ("store_true", "boolean_optional"), "list": ("nargs", "append")}
_SECTION = re.compile(r"^\[\s*(?P<name>[^\]]*?)\s*\]\s*(?:[#;].*)?$")


def _config_value(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    for mark in (" #", " ;", "\t#", "\t;"):
        if mark in value:
            value = value.split(mark, 1)[0].rstrip()
    return value


def _read_parsing_section(
    path: Path, display: str, sources: Sources | None = None
) -> dict[str, tuple[str, int]]:
    """``[parsing]`` keys of one DVC config file (configobj/INI syntax): key -> (value, line)."""
    if sources is not None:
        sources.note(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"cannot read {display}: {exc}") from None
    found: dict[str, tuple[str, int]] = {}
    section = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        header = _SECTION.match(stripped)
        if header:
            section = header["name"].strip("'\"").strip().lower()
            continue
        if section == "parsing" and "=" in stripped:
            key, _, value = stripped.partition("=")
            found[key.strip().lower()] = (_config_value(value), number)
    return found


def read_parsing_config(root: Path, sources: Sources | None = None) -> ParsingConfig:
    """The ``[parsing]`` section of the repository's DVC config: ``.dvc/config`` overridden by
    ``.dvc/config.local`` (DVC's global and system config files are not read). A bad value
    is a :class:`PipelineError` naming the file and line."""
    settings: dict[str, str] = {}
    for name in (".dvc/config", ".dvc/config.local"):
        for key, (value, line) in _read_parsing_section(root / name, name, sources).items():
            choices = _PARSING_CHOICES.get(key)
            if choices is None:
                raise PipelineError(
                    f"{name}:{line}: unknown setting 'parsing.{key}'",
                    hint="[parsing] takes 'bool' (store_true or boolean_optional) and "
                         "'list' (nargs or append)",
                )
            if value.lower() not in choices:
                raise PipelineError(
                    f"{name}:{line}: parsing.{key} is {value!r}, expected "
                    f"{' or '.join(choices)}",
                    hint=f"fix it with: dvc config parsing.{key} {choices[0]}",
                )
            settings[key] = value.lower()
    return ParsingConfig(**settings)


@dataclass
class _Context:
    """Variables visible to templates, with where each top-level file came from."""

    data: dict[str, Any] = field(default_factory=dict)
    # path -> None (whole file) or the keys taken from it
    imports: dict[str, list[str] | None] = field(default_factory=dict)
    reserved: frozenset[str] = frozenset()
    parsing: ParsingConfig = ParsingConfig()

    def clone(self) -> _Context:
        return _Context(
            _copy(self.data),
            {k: _copy(v) for k, v in self.imports.items()},
            self.reserved,
            self.parsing,
        )

    def merge(self, update: Mapping[Any, Any], source: str) -> None:
        clash = [key for key in update if key in self.reserved]
        if clash:
            raise _TemplateError(f"attempted to modify reserved key {clash[0]!r} in {source}")
        _merge(self.data, update, source, ())

    def select(self, expr: str) -> Any:
        if not _EXPR.fullmatch(expr):
            raise _TemplateError(f"invalid expression ${{{expr}}}")
        node: Any = self.data
        for raw in expr.replace("[", ".").replace("]", "").split("."):
            part = raw.strip()
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and _is_index(part) and -len(node) <= int(part) < len(node):
                node = node[int(part)]
            else:
                raise _TemplateError(f"could not find '{expr.strip()}'")
        return node


def _is_index(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _copy(data: Any) -> Any:
    """A deep copy as template data: DVC cannot address non-string keys, and drops them."""
    if isinstance(data, dict):
        return {key: _copy(value) for key, value in data.items() if isinstance(key, str)}
    if isinstance(data, list):
        return [_copy(item) for item in data]
    return data


def _merge(
    into: dict[str, Any], update: Mapping[Any, Any], source: str, path: tuple[str, ...]
) -> None:
    for key, value in update.items():
        if not isinstance(key, str):
            continue  # DVC cannot address non-string keys either
        if isinstance(into.get(key), dict) and isinstance(value, dict):
            _merge(into[key], value, source, (*path, key))
        elif key in into:
            name = ".".join((*path, key))
            raise _TemplateError(f"cannot redefine '{name}' from {source} as it already exists")
        else:
            into[key] = _copy(value)


def _to_str(value: Any, parsing: ParsingConfig | None = None, *, in_cmd: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        if not in_cmd:
            raise _TemplateError("cannot interpolate data of type 'dict'")
        return _dict_to_args(value, parsing or ParsingConfig())
    return str(value)


def _flat(data: Mapping[Any, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _dict_to_args(data: Mapping[Any, Any], parsing: ParsingConfig) -> str:
    args: list[str] = []
    for key, value in _flat(data):
        if isinstance(value, bool):
            if value:
                args.append(f"--{key}")
            elif parsing.bool == "boolean_optional":
                args.append(f"--no-{key}")
        elif isinstance(value, str):
            args.append(f"--{key} {shlex.quote(value)}")
        elif isinstance(value, (list, tuple)):
            for n, item in enumerate(value):
                if isinstance(item, (list, tuple, dict)):
                    raise _TemplateError(f"cannot interpolate nested iterable in '{key}'")
                text = shlex.quote(item) if isinstance(item, str) else str(item)
                append = parsing.list == "append" or n == 0
                args.append(f"--{key} {text}" if append else text)
        else:
            args.append(f"--{key} {value}")
    return " ".join(args)


def _resolve_str(text: str, ctx: _Context, field_name: str | None) -> Any:
    matches = list(_TEMPLATE.finditer(text))
    if not matches:
        return text.replace("\\${", "${")  # DVC unescapes every string it templates
    composite_ok = field_name is None or "foreach" in field_name
    if len(matches) == 1 and matches[0].group(0) == text:
        value = ctx.select(matches[0]["inner"])
        if value is not None and not isinstance(value, _PRIMITIVES) and not composite_ok:
            if field_name == "cmd" and isinstance(value, dict):
                return _dict_to_args(value, ctx.parsing)
            raise _TemplateError(f"cannot interpolate data of type '{type(value).__name__}'")
        return _copy(value)
    out: list[str] = []
    index = 0
    for match in matches:
        value = ctx.select(match["inner"])
        composite = value is not None and not isinstance(value, _PRIMITIVES)
        if composite and not composite_ok and not (field_name == "cmd" and isinstance(value, dict)):
            raise _TemplateError(f"cannot interpolate data of type '{type(value).__name__}'")
        out.append(text[index : match.start()])
        out.append(_to_str(value, ctx.parsing, in_cmd=field_name == "cmd"))
        index = match.end()
    out.append(text[index:])
    return "".join(out).replace("\\${", "${")


def _resolve(data: Any, ctx: _Context, field_name: str | None, path: YamlPath = ()) -> Any:
    """Template every string in ``data`` (keys too); errors carry the path of the string."""
    if isinstance(data, str):
        try:
            return _resolve_str(data, ctx, field_name)
        except _TemplateError as exc:
            if exc.path is None:
                exc.path = path
            raise
    if isinstance(data, dict):
        return {
            _resolve(key, ctx, field_name, path): _resolve(value, ctx, field_name, (*path, key))
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [_resolve(item, ctx, field_name, (*path, n)) for n, item in enumerate(data)]
    return data


# ----------------------------------------------------------------------------- paths


def _norm(*parts: str) -> str:
    joined = posixpath.normpath(posixpath.join(*parts)) if parts else "."
    return joined


def _inside(path: str) -> bool:
    return path != ".." and not path.startswith("../") and not posixpath.isabs(path)


_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")


# --------------------------------------------------------------------------- loading


@dataclass
class _Loader:
    root: Path
    file: Path
    display: str  # the dvc.yaml path shown in messages, relative to root
    base: str  # the dvc.yaml directory relative to root ("." at the root)
    marks: Marks
    parsing: ParsingConfig = ParsingConfig()
    # The stage being built: names a generated stage ("train@1") in messages.
    current: str | None = None
    # Records every file read or checked, for the parse cache (gitext.pipeline.parsecache).
    sources: Sources | None = None

    def is_file(self, path: Path) -> bool:
        return path.is_file() if self.sources is None else self.sources.is_file(path)

    def fail(self, path: YamlPath, problem: str, *, hint: str = _HINT) -> PipelineError:
        where = _where(path, self.current)
        return PipelineError(f"{self.marks.value(path)}: {where}{problem}", hint=hint)

    # -- variables

    def load_vars_file(self, ctx: _Context, item: str, wdir: str, path: YamlPath) -> None:
        from gitext.pipeline.params import parse_params

        file_part, _, keys_part = item.partition(":")
        keys = [key for key in keys_part.split(",") if key] if keys_part else None
        rel = _norm(wdir, file_part)
        if not _inside(rel):
            raise self.fail(path, f"vars file {file_part!r} is outside the repository")
        if rel in ctx.imports:
            before = ctx.imports[rel]
            if keys is None and before is None:
                return  # the same whole file again: DVC allows it
            if keys is None or before is None or set(keys) & set(before):
                raise self.fail(path, f"cannot load {item!r}: {file_part} is already loaded")
        full = self.root / rel
        if not self.is_file(full):
            raise self.fail(path, f"vars file {rel} does not exist")
        try:
            text = full.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(path, f"cannot read vars file {rel}: {exc}") from None
        data = parse_params(text, file=rel, suffix=full.suffix)
        if keys is not None:
            missing = [key for key in keys if key not in data]
            if missing:
                raise self.fail(path, f"could not find {missing[0]!r} in {rel}")
            data = {key: data[key] for key in keys}
        try:
            ctx.merge(data, f"'{rel}'")
        except _TemplateError as exc:
            raise self.fail(path, str(exc)) from None
        previous = ctx.imports.get(rel)
        ctx.imports[rel] = None if keys is None else [*(previous or []), *keys]

    def load_vars(self, ctx: _Context, items: list[Any], wdir: str, path: YamlPath) -> None:
        for n, item in enumerate(items):
            if isinstance(item, str):
                self.load_vars_file(ctx, item, wdir, (*path, n))
            else:
                try:
                    ctx.merge(item, f"'{'.'.join(str(p) for p in (*path, n))}'")
                except _TemplateError as exc:
                    raise self.fail((*path, n), str(exc)) from None

    def global_context(self, data: dict[str, Any]) -> _Context:
        ctx = _Context(parsing=self.parsing)
        default = _norm(self.base, DEFAULT_PARAMS_FILE)
        if self.is_file(self.root / default):
            self.load_vars_file(ctx, DEFAULT_PARAMS_FILE, self.base, ())
        self.load_vars(ctx, data.get("vars") or [], self.base, ("vars",))
        return ctx

    def resolve(self, value: Any, ctx: _Context, field_name: str | None, path: YamlPath) -> Any:
        try:
            return _resolve(value, ctx, field_name, path)
        except _TemplateError as exc:
            raise self.fail(exc.path if exc.path is not None else path, str(exc)) from None

    # -- stages

    def expand(
        self, name: str, body: dict[str, Any], ctx: _Context
    ) -> Iterator[tuple[str, dict[str, Any], _Context, YamlPath, str | None]]:
        """(generated name, stage body, context, raw path of the body, key) per stage."""
        path: YamlPath = ("stages", name)
        if "foreach" in body:
            items = self.resolve(body["foreach"], ctx, "foreach", (*path, "foreach"))
            if isinstance(items, dict):
                pairs = [(_to_str(key), value) for key, value in items.items()]
                with_key = True
            elif isinstance(items, list):
                if any(isinstance(item, (dict, list)) for item in items):
                    pairs = [(str(n), item) for n, item in enumerate(items)]
                else:
                    pairs = [(_to_str(item), item) for item in items]
                with_key = False
            else:
                raise self.fail(
                    (*path, "foreach"),
                    f"expected a list or mapping to iterate over, got {_describe(items)}",
                )
            for key, value in dict(pairs).items():
                local = ctx.clone()
                local.data["item"] = _copy(value)
                if with_key:
                    local.data["key"] = key
                local.reserved = frozenset(("item", "key") if with_key else ("item",))
                yield f"{name}@{key}", body["do"], local, (*path, "do"), key
            return
        if "matrix" in body:
            grid = self.resolve(body["matrix"], ctx, "foreach", (*path, "matrix"))
            axes: list[tuple[str, list[Any]]] = []
            for axis, values in grid.items():
                if not isinstance(values, list):
                    raise self.fail(
                        (*path, "matrix", axis),
                        f"matrix axis {axis!r} must be a list, got {_describe(values)}",
                    )
                axes.append((axis, values))
            template = {key: value for key, value in body.items() if key != "matrix"}
            combos: dict[str, dict[str, Any]] = {}
            for combo in product(*(list(enumerate(values)) for _, values in axes)):
                fragments = []
                item: dict[str, Any] = {}
                for (axis, _), (n, value) in zip(axes, combo, strict=True):
                    item[axis] = value
                    fragments.append(
                        f"{axis}{n}" if isinstance(value, (dict, list)) else _to_str(value)
                    )
                combos["-".join(fragments)] = item
            for key, item in combos.items():
                local = ctx.clone()
                local.data["item"] = _copy(item)
                local.data["key"] = key
                local.reserved = frozenset(("item", "key"))
                yield f"{name}@{key}", template, local, path, key
            return
        yield name, body, ctx, path, None

    def build_stage(
        self,
        name: str,
        body: dict[str, Any],
        ctx: _Context,
        path: YamlPath,
        *,
        group: str | None,
        key: str | None,
    ) -> Stage:
        wdir_raw = body.get("wdir")
        wdir = "."
        if wdir_raw is not None:
            wdir = _to_str(self.resolve(wdir_raw, ctx, "wdir", (*path, "wdir")))
            if not wdir:
                wdir = "."
        repo_wdir = _norm(self.base, wdir)
        if posixpath.isabs(wdir) or not _inside(repo_wdir):
            raise self.fail((*path, "wdir"), f"wdir {wdir!r} is outside the repository")
        if body.get("vars"):
            ctx = ctx.clone()
            self.load_vars(ctx, body["vars"], repo_wdir, (*path, "vars"))
        fields = {
            field_name: self.resolve(value, ctx, field_name, (*path, field_name))
            for field_name, value in body.items()
            if field_name not in ("vars", "wdir")
        }
        cmd = fields["cmd"]
        cmd_list = cmd if isinstance(cmd, list) else [cmd]
        for n, part in enumerate(cmd_list):
            if not isinstance(part, str):
                raise self.fail(
                    (*path, "cmd", n) if isinstance(cmd, list) else (*path, "cmd"),
                    f"a command must be a string, got {_describe(part)}",
                )
        if not any(part.strip() for part in cmd_list):
            raise self.fail((*path, "cmd"), "'cmd' is empty")
        stage = Stage(
            name=name,
            cmd=list(cmd_list),
            cmd_is_list=isinstance(cmd, list),
            wdir=wdir,
            repo_wdir=repo_wdir,
            frozen=bool(fields.get("frozen", False)),
            always_changed=bool(fields.get("always_changed", False)),
            desc=fields.get("desc"),
            meta=fields.get("meta"),
            loc=self.marks.key(("stages", group if group is not None else name)),
            group=group,
            key=key,
        )
        for n, dep in enumerate(fields.get("deps") or []):
            stage.deps.append(
                Dep(dep, self.path_in_repo(dep, repo_wdir, (*path, "deps", n), "dependency"))
            )
        stage.params = self.params(fields.get("params") or [], repo_wdir, (*path, "params"))
        kind: OutKind
        for kind in ("outs", "metrics", "plots"):
            for n, item in enumerate(fields.get(kind) or []):
                stage.outs.extend(self.outputs(item, kind, repo_wdir, (*path, kind, n)))
        return stage

    def path_in_repo(self, written: Any, wdir: str, path: YamlPath, what: str) -> str:
        if not isinstance(written, str) or not written.strip():
            raise self.fail(path, f"expected a {what} path, got {_describe(written)}")
        if _URL.match(written):
            raise self.fail(
                path, f"{what} {written!r} is a URL; only paths inside the repository are supported"
            )
        if posixpath.isabs(written) or _DRIVE.match(written):
            raise self.fail(
                path,
                f"{what} {written!r} is an absolute path; write it relative to the stage's wdir",
            )
        resolved = _norm(wdir, written)
        if not _inside(resolved):
            raise self.fail(path, f"{what} {written!r} is outside the repository")
        parts = resolved.split("/")
        if (resolved == "." or parts[0].casefold() in (".dvc", ".archives")
                or any(is_git_dir_name(p) for p in parts)):
            raise self.fail(path, f"{what} {written!r} names the repository itself or its metadata")
        return resolved

    def params(self, items: list[Any], wdir: str, path: YamlPath) -> list[ParamDep]:
        whole: set[str] = set()
        for item in items:
            if isinstance(item, dict):
                whole.update(name for name, keys in item.items() if not keys)
        merged: dict[str, list[str] | None] = {}
        for n, item in enumerate(items):
            where = (*path, n)
            if isinstance(item, str):
                if DEFAULT_PARAMS_FILE not in whole:
                    keys = merged.setdefault(DEFAULT_PARAMS_FILE, [])
                    assert keys is not None
                    keys.append(item)
                continue
            if not isinstance(item, dict):
                raise self.fail(where, f"expected a key or {{file: [keys]}}, got {_describe(item)}")
            for file_name, keys in item.items():
                if not isinstance(file_name, str) or not file_name:
                    raise self.fail(where, "a params file name must be a string")
                if file_name in whole:
                    merged[file_name] = None
                    continue
                if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                    raise self.fail(
                        (*where, file_name),
                        f"expected a list of keys for params "
                        f"file {file_name!r}, got {_describe(keys)}",
                    )
                existing = merged.setdefault(file_name, [])
                assert existing is not None
                existing.extend(keys)
        result: list[ParamDep] = []
        for file_name, keys in merged.items():
            repo_path = self.path_in_repo(file_name, wdir, path, "params file")
            unique = tuple(dict.fromkeys(keys)) if keys is not None else None
            result.append(ParamDep(file_name, repo_path, unique))
        return result

    def outputs(self, item: Any, kind: OutKind, wdir: str, path: YamlPath) -> list[Out]:
        what = {"outs": "output", "metrics": "metric", "plots": "plot"}[kind]
        if isinstance(item, str):
            return [Out(item, self.path_in_repo(item, wdir, path, what), kind=kind)]
        outs: list[Out] = []
        for written, opts in item.items():
            where = (*path, str(written))
            repo_path = self.path_in_repo(written, wdir, where, what)
            if isinstance(opts, list):
                outs.append(Out(written, repo_path, kind=kind, extra={"plot_props": opts}))
                continue
            extra = {k: v for k, v in opts.items() if k not in ("cache", "persist")}
            for flag in ("cache", "persist"):
                if flag in opts and not isinstance(opts[flag], bool):
                    raise self.fail((*where, flag), f"'{flag}' must be true or false")
            outs.append(
                Out(
                    written,
                    repo_path,
                    kind=kind,
                    cache=opts.get("cache", True),
                    persist=opts.get("persist", False),
                    extra=extra,
                )
            )
        return outs

    # -- top level

    def top_paths(self, items: list[Any], ctx: _Context, key: str) -> list[str]:
        resolved = self.resolve(items, ctx, None, (key,))
        return [
            self.path_in_repo(item, self.base, (key, n), f"top-level {key} file")
            for n, item in enumerate(resolved)
        ]

    def load(self, data: Any) -> Pipeline:
        pipeline = Pipeline(file=self.file, root=self.root)
        if data is None:
            return pipeline
        _Checker(self.marks).document(data)
        ctx = self.global_context(data)
        pipeline.vars = list(data.get("vars") or [])
        for name, body in (data.get("stages") or {}).items():
            for stage_name, stage_body, local, path, key in self.expand(name, body, ctx):
                if stage_name in pipeline.stages:
                    raise self.fail(path, f"stage {stage_name!r} is generated twice")
                group = name if key is not None else None
                self.current = stage_name
                pipeline.stages[stage_name] = self.build_stage(
                    stage_name, stage_body, local, path, group=group, key=key
                )
                self.current = None
        pipeline.metrics = self.top_paths(data.get("metrics") or [], ctx, "metrics")
        pipeline.params = self.top_paths(data.get("params") or [], ctx, "params")
        pipeline.plots = self.resolve(list(data.get("plots") or []), ctx, None, ("plots",))
        artifacts = {}
        for name, spec in (data.get("artifacts") or {}).items():
            where: YamlPath = ("artifacts", name)
            resolved_name = self.resolve(name, ctx, None, where)
            if not isinstance(resolved_name, str):
                raise self.fail(
                    where, f"an artifact name must be a string, got {_describe(resolved_name)}"
                )
            artifacts[resolved_name] = self.resolve(spec, ctx, None, where)
        pipeline.artifacts = artifacts
        return pipeline


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
    return _Loader(root, file.resolve(), rel, base, marks, parsing, sources=sources).load(data)


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
