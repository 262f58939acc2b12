"""``${...}`` templating of ``dvc.yaml`` values, as DVC 3 does it.

* ``"${x}"`` alone keeps the value's type; inside a longer string a bool is ``true``/
  ``false``, and in ``cmd`` a mapping becomes ``--key value`` arguments (lists as
  ``--key a b``, true bools as ``--flag``, false ones dropped; ``.dvc/config``'s
  ``[parsing]`` ``list = append`` gives ``--key a --key b`` and ``bool = boolean_optional``
  gives ``--no-flag``: :class:`ParsingConfig`, :func:`read_parsing_config`). Anywhere else
  a mapping or list inside a string is an error. ``\\${`` is a literal ``${``.
* :class:`Context` holds the variables; nested mappings merge, and redefining a value is an
  error (:class:`TemplateError`, given a place by the caller).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.errors import PipelineError
from gitext.pipeline.yaml12 import YamlPath

if TYPE_CHECKING:
    from gitext.pipeline.parsecache import Sources

TEMPLATE = re.compile(r"(?<!\\)\$\{(?P<inner>.*?)\}")
_EXPR = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[[^.\[\]]+\])*")
_PRIMITIVES = (str, int, float, bool)


class TemplateError(Exception):
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
class Context:
    """Variables visible to templates, with where each top-level file came from."""

    data: dict[str, Any] = field(default_factory=dict)
    # path -> None (whole file) or the keys taken from it
    imports: dict[str, list[str] | None] = field(default_factory=dict)
    reserved: frozenset[str] = frozenset()
    parsing: ParsingConfig = ParsingConfig()

    def clone(self) -> Context:
        return Context(
            copy_data(self.data),
            {k: copy_data(v) for k, v in self.imports.items()},
            self.reserved,
            self.parsing,
        )

    def merge(self, update: Mapping[Any, Any], source: str) -> None:
        clash = [key for key in update if key in self.reserved]
        if clash:
            raise TemplateError(f"attempted to modify reserved key {clash[0]!r} in {source}")
        _merge(self.data, update, source, ())

    def select(self, expr: str) -> Any:
        if not _EXPR.fullmatch(expr):
            raise TemplateError(f"invalid expression ${{{expr}}}")
        node: Any = self.data
        for raw in expr.replace("[", ".").replace("]", "").split("."):
            part = raw.strip()
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and _is_index(part) and -len(node) <= int(part) < len(node):
                node = node[int(part)]
            else:
                raise TemplateError(f"could not find '{expr.strip()}'")
        return node


def _is_index(text: str) -> bool:
    return text.lstrip("-").isdigit()


def copy_data(data: Any) -> Any:
    """A deep copy as template data: DVC cannot address non-string keys, and drops them."""
    if isinstance(data, dict):
        return {key: copy_data(value) for key, value in data.items() if isinstance(key, str)}
    if isinstance(data, list):
        return [copy_data(item) for item in data]
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
            raise TemplateError(f"cannot redefine '{name}' from {source} as it already exists")
        else:
            into[key] = copy_data(value)


def to_str(value: Any, parsing: ParsingConfig | None = None, *, in_cmd: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        if not in_cmd:
            raise TemplateError("cannot interpolate data of type 'dict'")
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
                    raise TemplateError(f"cannot interpolate nested iterable in '{key}'")
                text = shlex.quote(item) if isinstance(item, str) else str(item)
                append = parsing.list == "append" or n == 0
                args.append(f"--{key} {text}" if append else text)
        else:
            args.append(f"--{key} {value}")
    return " ".join(args)


def _resolve_str(text: str, ctx: Context, field_name: str | None) -> Any:
    matches = list(TEMPLATE.finditer(text))
    if not matches:
        return text.replace("\\${", "${")  # DVC unescapes every string it templates
    composite_ok = field_name is None or "foreach" in field_name
    if len(matches) == 1 and matches[0].group(0) == text:
        value = ctx.select(matches[0]["inner"])
        if value is not None and not isinstance(value, _PRIMITIVES) and not composite_ok:
            if field_name == "cmd" and isinstance(value, dict):
                return _dict_to_args(value, ctx.parsing)
            raise TemplateError(f"cannot interpolate data of type '{type(value).__name__}'")
        return copy_data(value)
    out: list[str] = []
    index = 0
    for match in matches:
        value = ctx.select(match["inner"])
        composite = value is not None and not isinstance(value, _PRIMITIVES)
        if composite and not composite_ok and not (field_name == "cmd" and isinstance(value, dict)):
            raise TemplateError(f"cannot interpolate data of type '{type(value).__name__}'")
        out.append(text[index : match.start()])
        out.append(to_str(value, ctx.parsing, in_cmd=field_name == "cmd"))
        index = match.end()
    out.append(text[index:])
    return "".join(out).replace("\\${", "${")


def resolve_data(data: Any, ctx: Context, field_name: str | None, path: YamlPath = ()) -> Any:
    """Template every string in ``data`` (keys too); errors carry the path of the string."""
    if isinstance(data, str):
        try:
            return _resolve_str(data, ctx, field_name)
        except TemplateError as exc:
            if exc.path is None:
                exc.path = path
            raise
    if isinstance(data, dict):
        return {
            resolve_data(key, ctx, field_name, path):
                resolve_data(value, ctx, field_name, (*path, key))
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [resolve_data(item, ctx, field_name, (*path, n)) for n, item in enumerate(data)]
    return data
