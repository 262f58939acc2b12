"""Writing YAML the way DVC writes it, on PyYAML (the reading side is
:mod:`gitext.pipeline.yaml12`).

ruamel's emitter is a fork of PyYAML's. With ruamel's scalar representation
(``1e-05``, an empty nested null) and its two style choices (double quotes for a string
holding ``'`` or a newline; ``- `` for a null item), PyYAML writes what DVC writes with
ruamel.yaml 0.17 byte for byte (checked on thousands of generated documents; frozen
examples in ``tests/pipeline_parse/data``), which is also what every lock in our conformance
data holds.

ruamel.yaml 0.18 (what ``pip install dvc`` brings today; DVC 3.67 with 0.19.1 here) changed
how a plain scalar longer than the 80-column line folds: the break goes *before* the word
that would cross column 80, leaving a space at the end of the line. Long commands are common
in ``dvc.lock``, so :func:`dump_yaml` does the same by default (``ruamel="0.17"`` gives the
old rule). One exception, on purpose: after a run of two or more spaces ruamel 0.18 breaks
too, and the reader then drops the spaces left at the end of the line, so the value read
back is not the value written (DVC then sees its own ``cmd`` as changed); we keep such a word
on the line, as the old rule does, so what we write always reads back whole. Also left as
PyYAML does it: characters outside the BMP inside double quotes are escaped (``\U0001F600``;
ruamel 0.18 writes them raw), and long double-quoted strings fold with PyYAML's backslash
rule (ruamel 0.18's variant can also lose a space). Both need a string that must be
double-quoted, which a lock rarely holds; both read back the same.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

from yaml.emitter import Emitter
from yaml.events import ScalarEvent
from yaml.nodes import Node, ScalarNode
from yaml.representer import SafeRepresenter
from yaml.serializer import Serializer

from gitext.pipeline.yaml12 import Resolver12

__all__ = ["RUAMEL_FOLDING", "dump_yaml"]


class _DumpResolver(Resolver12):
    """The reader's table plus ruamel's 1.1 "value" tag, so a string ``=`` is quoted on output
    as ruamel quotes it."""


_DumpResolver.add_implicit_resolver("tag:yaml.org,2002:value", re.compile(r"^(?:=)$"), ["="])


class _Representer(SafeRepresenter):
    """Scalars as ruamel.yaml's round-trip representer (DVC's writer) gives them."""

    _depth = 0

    def ignore_aliases(self, data: Any) -> bool:
        # ruamel would anchor a container met twice; DVC never builds a lock like that.
        return True

    def represent_data(self, data: Any) -> Node:
        self._depth += 1
        try:
            return super().represent_data(data)
        finally:
            self._depth -= 1

    def represent_none(self, data: Any) -> ScalarNode:
        # A nested null is an empty value (``key:``), a document that is only null is ``null``.
        return self.represent_scalar("tag:yaml.org,2002:null", "" if self._depth > 1 else "null")

    def represent_float(self, data: float) -> ScalarNode:
        # ``1e-05``, not PyYAML's ``1.0e-05``: under YAML 1.2 both are floats, and ruamel
        # writes the former.
        if math.isnan(data):
            text = ".nan"
        elif math.isinf(data):
            text = ".inf" if data > 0 else "-.inf"
        else:
            text = repr(data).lower()
        return self.represent_scalar("tag:yaml.org,2002:float", text)


_Representer.add_representer(type(None), _Representer.represent_none)
_Representer.add_representer(float, _Representer.represent_float)


_BREAKS = "\n\x85\u2028\u2029"
_PLAIN_RUNS = re.compile(f" +|[{_BREAKS}]+|[^ {_BREAKS}]+")


class _Emitter(Emitter):
    """PyYAML's emitter with ruamel's two choices that differ."""

    def _scalar(self) -> ScalarEvent:
        event = self.event
        assert isinstance(event, ScalarEvent)
        return event

    def choose_scalar_style(self) -> str:
        style: str = super().choose_scalar_style()
        event = self._scalar()
        # ruamel double-quotes (rather than single-quotes) a string holding ' or a newline.
        if style == "'" and not event.style and ("'" in event.value or "\n" in event.value):
            return '"'
        return style

    # ruamel.yaml 0.18 and later fold a long plain scalar before the word that would cross
    # the line width (0.17, like PyYAML, after it); see the module docstring.
    fold_before = True
    def _put(self, data: str) -> None:
        self.column += len(data)
        self.stream.write(data)

    def write_plain(self, text: str, split: bool = True) -> None:
        if self.root_context:
            self.open_ended = True
        if not text:
            return
        if not self.whitespace:
            self._put(" ")
        self.whitespace = False
        self.indention = False
        gap = " "  # the whitespace before the current word
        for run in _PLAIN_RUNS.finditer(text):
            piece = run.group()
            if piece[0] == " ":
                gap = piece
                # A single space past the width becomes the line break.
                past = self.column >= self.best_width if self.fold_before else (
                    self.column > self.best_width)
                if len(piece) == 1 and past and split:
                    self.write_indent()
                    self.whitespace = False
                    self.indention = False
                else:
                    self._put(piece)
            elif piece[0] in _BREAKS:
                gap = piece
                if piece[0] == "\n":
                    self.write_line_break()
                for br in piece:
                    self.write_line_break(None if br == "\n" else br)
                self.write_indent()
                self.whitespace = False
                self.indention = False
            else:
                if (self.fold_before and split and gap == " " and self.indent is not None
                        and self.column > self.indent
                        and self.column + len(piece) > self.best_width):
                    # The word would cross the width: it starts the next line (the space
                    # written before it stays at the end of this one, as ruamel leaves it).
                    # Not after a run of spaces: a reader drops trailing spaces, so the
                    # value would lose them (ruamel 0.18 does that; we keep the value).
                    self.write_indent()
                    self.whitespace = False
                    self.indention = False
                self._put(piece)

    def process_scalar(self) -> None:
        event = self._scalar()
        if self.analysis is None:
            self.analysis = self.analyze_scalar(event.value)
        if self.style is None:
            self.style = self.choose_scalar_style()
        # ruamel writes a null sequence item as "- " (with the space).
        if self.style == "" and not event.value and self.sequence_context and not self.flow_level:
            self.stream.write(" ")
            self.column += 1
        super().process_scalar()


class _Dumper(_Emitter, Serializer, _Representer, _DumpResolver):
    def __init__(self, stream: io.StringIO, *, fold_before: bool) -> None:
        _Emitter.__init__(self, stream, allow_unicode=True, line_break="\n")
        self.fold_before = fold_before
        Serializer.__init__(self)
        _Representer.__init__(self, default_flow_style=False, sort_keys=False)
        _DumpResolver.__init__(self)


RUAMEL_FOLDING = ("0.18", "0.17")


def dump_yaml(data: Any, *, ruamel: str = "0.18") -> str:
    """Serialise ``data`` as DVC writes YAML (ruamel.yaml's round-trip dumper).

    Block style, sequences not indented under their key, key order kept, strings quoted
    only when they would read back as another type under YAML 1.2 (double quotes when they
    hold ``'`` or a newline), a nested null written as an empty value, non-ASCII text
    unescaped, plain scalars folded at 80 columns. ``ruamel`` picks how a plain scalar
    longer than the line is folded: ``"0.18"`` (ruamel.yaml 0.18 and later, what a DVC
    installed today writes) breaks before the word that would cross column 80; ``"0.17"``
    after it, as older DVC installs do. See the module docstring.
    """
    if ruamel not in RUAMEL_FOLDING:
        raise ValueError(f"ruamel must be one of {RUAMEL_FOLDING}, not {ruamel!r}")
    stream = io.StringIO()
    dumper = _Dumper(stream, fold_before=ruamel == "0.18")
    try:
        dumper.open()
        dumper.represent(data)
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue()
