"""``exp run -S/--set-param [FILE:]KEY=VALUE``: parse the overrides and edit params files.

DVC's syntax (Hydra's override grammar, the part of it DVC documents): the file defaults to
``params.yaml``; ``train.lr=0.1`` changes a key that exists, ``+train.new=1`` adds one that
does not, ``++train.lr=0.1`` sets it either way, ``~train.lr`` deletes it. A list item is
``train.layers[1]`` or ``train.layers.1``. A value is a YAML 1.2 scalar or flow collection
(``0.1``, ``true``, ``null``, ``adam``, ``[1, 2]``); an empty value is the empty string.

Beyond Hydra, on purpose: changing a key whose value is a number into a string (or a
list into a number, ...) is refused with one line, unless ``++`` forces it; a number or a
boolean given for a key that holds a string is written as that string (``-S
model.version=2.0`` keeps ``version: '2.0'`` a string). A ``:`` counts as the file
separator only when it comes before the ``=``, so ``-S url=http://x`` is a key and a value.

YAML is edited with ruamel.yaml and TOML with tomlkit, both round-trip: comments, order
and quoting survive. JSON is rewritten with the indentation it had.
"""

from __future__ import annotations

import difflib
import io
import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gitext.errors import PipelineError, UsageError
from gitext.fs.worktree import WorkTree
from gitext.pipeline.params import parse_params
from gitext.pipeline.yaml12 import load_yaml

DEFAULT_FILE = "params.yaml"
EDITABLE = (".yaml", ".yml", ".json", ".toml")

_PART = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Override:
    """One ``-S`` argument, parsed. ``op`` is ``set``, ``add`` (``+``), ``force``
    (``++``) or ``delete`` (``~``); ``value`` is None for ``delete``."""

    text: str
    file: str
    key: Key
    op: str
    value: Any = None

    @property
    def dotted(self) -> str:
        return ".".join(str(p) for p in self.key)


def parse_key(text: str, *, arg: str) -> Key:
    """``train.layers[1]`` → ``("train", "layers", 1)``; ``layers.1`` keeps ``"1"`` (a
    digit part is a list index or a mapping key, whichever the file has)."""
    key: list[str | int] = []
    for part in text.split("."):
        m = _PART.fullmatch(part.strip())
        if not m or part != part.strip():
            raise UsageError(f"-S {arg!r}: bad key {text!r}: use dotted names like train.lr "
                             "or train.layers[1]")
        key.append(m.group(1))
        key.extend(int(i) for i in _INDEX.findall(m.group(2)))
    return tuple(key)


def parse_value(text: str, *, arg: str) -> Any:
    """The YAML 1.2 value of ``text`` (empty → ``""``)."""
    if text == "":
        return ""
    try:
        return load_yaml(text, file="-S")
    except PipelineError:
        raise UsageError(f"-S {arg!r}: cannot read the value {text!r} as YAML "
                         "(quote it: KEY='\"text\"')") from None


def parse_override(text: str) -> Override:
    """One ``-S`` argument; UsageError with one line when malformed."""
    eq = text.find("=")
    colon = text.find(":")
    file = DEFAULT_FILE
    rest = text
    if colon != -1 and (eq == -1 or colon < eq):
        file, rest = text[:colon], text[colon + 1:]
        if not file:
            raise UsageError(f"-S {text!r}: empty file name before ':'")
    _check_file_name(file, text)
    if rest.startswith("~"):
        body, _, value_text = rest[1:].partition("=")
        if value_text:
            raise UsageError(f"-S {text!r}: '~KEY' deletes a key and takes no value")
        return Override(text, file, parse_key(body, arg=text), "delete")
    op = "set"
    if rest.startswith("++"):
        op, rest = "force", rest[2:]
    elif rest.startswith("+"):
        op, rest = "add", rest[1:]
    body, sep, value_text = rest.partition("=")
    if not sep or not body:
        raise UsageError(f"-S {text!r}: expected [FILE:]KEY=VALUE (or +KEY=VALUE to add a key)")
    return Override(text, file, parse_key(body, arg=text), op,
                    parse_value(value_text, arg=text))


def _check_file_name(file: str, arg: str) -> None:
    p = PurePosixPath(file)
    if p.is_absolute() or ".." in p.parts or "\\" in file or ".git" in p.parts:
        raise UsageError(f"-S {arg!r}: the params file must be a path inside the repository "
                         "(no '..', not absolute, not in .git)")
    if p.suffix.lower() not in EDITABLE:
        raise UsageError(f"-S {arg!r}: cannot set params in {file!r}: -S edits YAML, JSON "
                         "and TOML params files only")


# -- looking keys up in plain data --------------------------------------------------------

_MISSING = object()


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        if part in node:
            return node[part]
        if isinstance(part, str) and part.isdigit() and int(part) in node:
            return node[int(part)]
        return _MISSING
    if isinstance(node, list):
        index = part if isinstance(part, int) else int(part) if part.isdigit() else -1
        return node[index] if 0 <= index < len(node) else _MISSING
    return _MISSING


def _lookup(data: Any, key: Key) -> Any:
    node = data
    for part in key:
        node = _child(node, part)
        if node is _MISSING:
            return _MISSING
    return node


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"), (bool, "boolean"), ((int, float), "number"), (str, "string"),
    (list, "list"), (dict, "mapping"))


def _kind(value: Any) -> str:
    return next((name for t, name in _KINDS if isinstance(value, t)), type(value).__name__)


def _dotted_keys(data: Any, prefix: str = "") -> list[str]:
    keys: list[str] = []
    items = (data.items() if isinstance(data, dict)
             else enumerate(data) if isinstance(data, list) else ())
    for k, v in items:
        name = f"{prefix}{k}"
        keys.append(name)
        keys.extend(_dotted_keys(v, f"{name}."))
    return keys


def _checked_value(ov: Override, data: dict[str, Any]) -> Any:
    """The value to write for ``ov`` after checking it against the file's ``data``."""
    old = _lookup(data, ov.key)
    if ov.op in ("set", "delete") and old is _MISSING:
        close = difflib.get_close_matches(ov.dotted, _dotted_keys(data), n=3, cutoff=0.6)
        mean = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        where = "" if ov.text.startswith(ov.dotted) else f"{ov.file}:"
        add = ("" if ov.op == "delete" else
               f"; to add it, use -S '{where}+{ov.dotted}={ov.text.partition('=')[2]}'")
        raise UsageError(f"{ov.file}: no parameter {ov.dotted!r}{mean}{add}")
    if ov.op == "add" and old is not _MISSING:
        raise UsageError(f"{ov.file}: parameter {ov.dotted!r} already exists; "
                         f"to change it, drop the '+' (or use '++' to force)")
    if old is _MISSING or ov.op in ("force", "delete") or old is None:
        return ov.value
    new_kind, old_kind = _kind(ov.value), _kind(old)
    if old_kind == "string" and new_kind in ("number", "boolean", "null"):
        return ov.text.partition("=")[2]  # the text as typed stays a string
    if new_kind != old_kind:
        raise UsageError(f"{ov.file}: parameter {ov.dotted!r} is a {old_kind} "
                         f"({old!r}), not a {new_kind} ({ov.value!r}); use '++' to "
                         "change its type")
    return ov.value


# -- editing files -------------------------------------------------------------------------

def _set_in(doc: Any, key: Key, value: Any, *, delete: bool, file: str) -> None:
    node = doc
    for i, part in enumerate(key[:-1]):
        nxt = _child(node, part)
        if nxt is _MISSING:  # '+'/'++' may create the mappings on the way
            if not isinstance(node, dict):
                raise UsageError(f"{file}: cannot add under {'.'.join(map(str, key[:i]))!r}:"
                                 " it is not a mapping")
            node[part] = {}
            nxt = node[part]
        node = nxt
    last = key[-1]
    if isinstance(node, list):
        idx = last if isinstance(last, int) else int(last) if last.isdigit() else -1
        if not 0 <= idx <= len(node) - (1 if delete else 0):
            raise UsageError(f"{file}: list index {last} is out of range for "
                             f"{'.'.join(map(str, key))!r}")
        if delete:
            del node[idx]
        elif idx == len(node):
            node.append(value)
        else:
            node[idx] = value
        return
    if not isinstance(node, dict):
        raise UsageError(f"{file}: cannot set {'.'.join(map(str, key))!r}: its parent is "
                         "not a mapping or a list")
    if isinstance(last, str) and last not in node and last.isdigit() and int(last) in node:
        last = int(last)
    if delete:
        del node[last]
    else:
        node[last] = value


def _load_roundtrip(kind: str, text: str) -> Any:
    if kind == ".json":
        return json.loads(text)
    if kind == ".toml":
        import tomlkit

        return tomlkit.parse(text)
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    return yaml.load(text)


def _dump_roundtrip(kind: str, doc: Any, text: str) -> str:
    if kind == ".json":
        m = re.search(r"\n([ \t]+)\S", text)
        indent = m.group(1) if m else None
        end = "\n" if text.endswith("\n") else ""
        return json.dumps(doc, indent=indent, ensure_ascii=False) + end
    if kind == ".toml":
        import tomlkit

        return tomlkit.dumps(doc)
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-fold the user's long lines
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()


def edit_file(path: Path, file: str, overrides: list[Override]) -> str:
    """The new text of the params file at ``path`` (shown as ``file``) with ``overrides``
    applied; raises UsageError (one line) and writes nothing when one does not apply."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{file}: no such params file (-S {overrides[0].text!r})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{file}: cannot read it as a params file ({exc})") from None
    kind = path.suffix.lower()
    try:
        plain = parse_params(text, file=file, suffix=kind)
    except PipelineError as exc:
        raise UsageError(f"{file} is not a params file: {exc.message}") from None
    doc = _load_roundtrip(kind, text)
    if doc is None:
        doc = {}
    for ov in overrides:
        value = _checked_value(ov, plain)
        _set_in(plain, ov.key, value, delete=ov.op == "delete", file=file)
        _set_in(doc, ov.key, value, delete=ov.op == "delete", file=file)
    return _dump_roundtrip(kind, doc, text)


def _check_regular(wt: WorkTree, file: str, ov: Override) -> None:
    """A params file a repository committed as a symlink (or under one) could make -S read
    a file of the user's elsewhere into the experiment's commit: refused."""
    st = wt.lstat(file)  # raises UnsafePathError for a symlinked folder on the way
    if st is None:
        raise UsageError(f"{file}: no such params file (-S {ov.text!r})")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{file}: -S edits regular files only, and this is a symlink or "
                         "not a file")


def apply_overrides(root: Path, overrides: list[Override]) -> list[str]:
    """Edit the params files under ``root`` (all checked before any is written); the
    repository-relative names of the files changed."""
    by_file: dict[str, list[Override]] = {}
    for ov in overrides:
        by_file.setdefault(ov.file, []).append(ov)
    with WorkTree(root) as wt:
        for file, ovs in by_file.items():
            _check_regular(wt, file, ovs[0])
        new_texts = {file: edit_file(root / file, file, ovs) for file, ovs in by_file.items()}
        for file, text in new_texts.items():
            wt.write_bytes(file, text.encode("utf-8"))
    return list(new_texts)
