"""YAML the way DVC reads it, on PyYAML (writing: :mod:`gitext.pipeline.yamldump`).

Reading: DVC reads ``dvc.yaml``, ``params.yaml`` and ``dvc.lock`` with ruamel.yaml, whose
default is YAML 1.2: ``yes``/``on``/``no`` are strings, ``1e-5`` is a float, ``0o17`` is 15
and ``017`` is 17. PyYAML resolves by YAML 1.1, so we give it a resolver with ruamel's 1.2
table and a constructor for 1.2 integers; its nodes carry line and column for errors.
Deliberate differences from ruamel: a plain ``=`` is a string (ruamel refuses the 1.1
"value" tag); a duplicate mapping key is an error in both, here with its line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from gitext.errors import PipelineError
from gitext.pipeline.model import SourceLoc

__all__ = [
    "Marks",
    "YamlPath",
    "load_yaml",
    "load_yaml_with_marks",
]

YamlPath = tuple[str | int, ...]

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_FLOAT = re.compile(
    r"""^(?:
     [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0o?[0-7_]+
    |[-+]?[0-9_]+
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TIMESTAMP = re.compile(
    r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
    (?:[Tt]|[ \t]+)[0-9][0-9]?
    :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
    (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
    re.X,
)


class Resolver12(BaseResolver):
    """Plain-scalar resolution by ruamel.yaml's YAML 1.2 table (what DVC reads with)."""


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", _BOOL, "tTfF"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), "<"),
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:timestamp", _TIMESTAMP, "0123456789"),
):
    Resolver12.add_implicit_resolver(_tag, _regexp, list(_first))


class Constructor12(SafeConstructor):
    def construct_yaml_int12(self, node: Node) -> int:
        text = str(self.construct_scalar(node))  # type: ignore[arg-type]
        digits = text.replace("_", "")
        sign = 1
        if digits[:1] in "+-" and digits:
            sign = -1 if digits[0] == "-" else 1
            digits = digits[1:]
        try:
            if digits.startswith("0b"):
                return sign * int(digits[2:], 2)
            if digits.startswith("0x"):
                return sign * int(digits[2:], 16)
            if digits.startswith("0o"):
                return sign * int(digits[2:], 8)
            return sign * int(digits)
        except ValueError:
            raise ConstructorError(
                None, None, f"{text!r} is not a valid integer", node.start_mark
            ) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable; SafeConstructor reports it below
            if duplicate:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


class Loader12(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    Constructor12,
    Resolver12,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        Constructor12.__init__(self)
        Resolver12.__init__(self)


Loader12.add_constructor(  # type: ignore[type-var]  # the stubs bound _L to their loaders
    "tag:yaml.org,2002:int", Loader12.construct_yaml_int12
)


_CLoader12: type[Any] | None = None
if getattr(yaml, "__with_libyaml__", False):
    from yaml._yaml import CParser

    class _CLoader(CParser, Constructor12, Resolver12):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Constructor12.__init__(self)
            Resolver12.__init__(self)

    _CLoader.add_constructor(  # type: ignore[type-var]
        "tag:yaml.org,2002:int", _CLoader.construct_yaml_int12
    )
    _CLoader12 = _CLoader


@dataclass
class Marks:
    """Where each key and value of a loaded document was written.

    Paths are tuples of mapping keys and sequence indices from the document root, e.g.
    ``("stages", "train", "outs", 0)``. Lookups fall back to the nearest enclosing node
    that has a mark, so any path yields some location.
    """

    file: str
    keys: dict[YamlPath, SourceLoc] = field(default_factory=dict)
    values: dict[YamlPath, SourceLoc] = field(default_factory=dict)

    def value(self, path: YamlPath) -> SourceLoc:
        """Location of the value at ``path`` (or of the closest enclosing node)."""
        for n in range(len(path), -1, -1):
            loc = self.values.get(path[:n])
            if loc is not None:
                return loc
        return SourceLoc(self.file, 1, 1)

    def key(self, path: YamlPath) -> SourceLoc:
        """Location of the mapping key ending ``path`` (falls back to :meth:`value`)."""
        loc = self.keys.get(path)
        return loc if loc is not None else self.value(path)


def _loc(file: str, node: Node) -> SourceLoc:
    return SourceLoc(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(loader: Loader12, node: Node, path: YamlPath, marks: Marks, active: set[int]) -> None:
    marks.values.setdefault(path, _loc(marks.file, node))
    if id(node) in active:  # a recursive alias
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = loader.construct_object(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key)
            marks.keys.setdefault((*path, key), _loc(marks.file, key_node))
            _walk(loader, value_node, (*path, key), marks, active)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _walk(loader, item, (*path, index), marks, active)
    active.discard(id(node))


def _error(file: str, exc: yaml.YAMLError) -> PipelineError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else file
        return PipelineError(
            f"{where}: {problem}", hint=f"fix the YAML syntax in {file} at that line"
        )
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return PipelineError(f"{file}: character #x{char:04x} at offset {exc.position}: "
                             f"{exc.reason}", hint=f"fix the YAML in {file}")
    return PipelineError(f"{file}: {exc}", hint=f"fix the YAML in {file}")


def _loader(text: str, file: str) -> Loader12:
    try:  # the reader refuses control characters as it is made
        return Loader12(text)
    except yaml.YAMLError as exc:
        raise _error(file, exc) from None


def load_yaml_with_marks(text: str, *, file: str) -> tuple[Any, Marks]:
    """Parse one YAML 1.2 document; also return where every key and value was written.

    An empty document is ``None``. Raises :class:`PipelineError` with ``file:line:column``.
    """
    loader = _loader(text, file)
    marks = Marks(file)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, marks
        data = loader.construct_document(node)
        _walk(loader, node, (), marks, set())
    except yaml.YAMLError as exc:
        raise _error(file, exc) from None
    except RecursionError:
        raise PipelineError(f"{file}: YAML nested too deeply") from None
    finally:
        loader.dispose()
    return data, marks


def load_yaml(text: str, *, file: str) -> Any:
    """Parse one YAML 1.2 document as DVC does (``None`` when empty).

    libyaml's parser (when PyYAML has it) with our 1.2 resolver and constructor reads a
    valid document ~10x faster (``exp show`` reads a params file per experiment); anything
    it refuses is read again by the pure-Python loader, whose error is the one reported."""
    if _CLoader12 is not None:
        try:
            fast = _CLoader12(text)
            try:
                return fast.get_single_data()
            finally:
                fast.dispose()
        except (yaml.YAMLError, RecursionError):
            pass
    loader = _loader(text, file)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _error(file, exc) from None
    except RecursionError:
        raise PipelineError(f"{file}: YAML nested too deeply") from None
    finally:
        loader.dispose()
