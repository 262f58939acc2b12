"""The ``dvc.lock`` codec: DVC 3's lock file (``schema: '2.0'``), read and written as DVC does.

A lock records, per stage, the command that ran and the hashes of what it read and wrote::

    schema: '2.0'
    stages:
      train:
        cmd: python train.py
        deps:
        - path: data/train.csv
          hash: md5
          md5: 1f5c8a...
          size: 1024
        params:
          params.yaml:
            train.lr: 0.1
        outs:
        - path: model.pkl
          hash: md5
          md5: 9a0e2b...
          size: 2048

Paths are as written in ``dvc.yaml`` (relative to the stage's ``wdir``). DVC 3 marks each
entry ``hash: md5``; a DVC 2 entry has no ``hash:`` and its md5 was computed with CRLF
normalised to LF for text files (``LockedFile.legacy``). See ``docs/lock-file.md``.

:func:`make_entry` orders things exactly as DVC does (deps and outs sorted by path,
``params.yaml`` first then other params files alphabetically, keys sorted) and
:func:`dump_lock` writes the bytes DVC writes, so switching tools leaves no diff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.codec.hashing import is_dvc_md5_id
from gitext.errors import PipelineError
from gitext.pipeline.model import DEFAULT_PARAMS_FILE, _Record

if TYPE_CHECKING:
    from gitext.pipeline.yaml12 import Marks, YamlPath

# The YAML layer (PyYAML) is imported only when a lock is parsed or written: a command that
# finds dvc.lock unchanged answers from gitext.pipeline.parsecache without it.

__all__ = [
    "DEFAULT_PARAMS_FILE",
    "LOCK_SCHEMA",
    "Lock",
    "LockEntry",
    "LockedFile",
    "dump_lock",
    "lock_folding",
    "lock_params",
    "make_entry",
    "parse_lock",
    "read_lock",
    "write_lock",
]

LOCK_SCHEMA = "2.0"
# Keys of a file entry in the order DVC writes them; anything else follows, as read.
_FILE_KEYS = ("path", "hash", "md5", "size", "nfiles", "isexec")
_STAGE_KEYS = ("cmd", "deps", "params", "outs")


# Plain records, not dataclasses (see gitext.pipeline.model): cheaper to import.
class LockedFile(_Record):
    """One dependency or output as the lock records it.

    ``hash`` is ``"md5"`` for DVC 3 entries and ``None`` for DVC 2 ones (whose md5 of a text
    file was taken after CRLF -> LF). ``md5`` ends in ``.dir`` for a directory (the md5 of
    DVC's JSON manifest). ``extra`` keeps any other keys DVC wrote (``files``, ``etag``,
    ``version_id``, ``cloud``, ...) in their order, so a read/write round trip loses nothing.
    """

    _fields = ("path", "md5", "size", "nfiles", "isexec", "hash", "extra")

    def __init__(  # noqa: PLR0917 - positional, as the dataclass it replaces
        self,
        path: str,
        md5: str | None = None,
        size: int | None = None,
        nfiles: int | None = None,
        isexec: bool | None = None,
        hash: str | None = "md5",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.md5 = md5
        self.size = size
        self.nfiles = nfiles
        self.isexec = isexec
        self.hash = hash
        self.extra: dict[str, Any] = {} if extra is None else extra

    @property
    def legacy(self) -> bool:
        """A DVC 2 entry: no ``hash:`` field, md5 over CRLF-normalised text."""
        return self.hash is None

    @property
    def is_dir(self) -> bool:
        return self.md5 is not None and self.md5.endswith(".dir")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path}
        if self.hash is not None:
            data["hash"] = self.hash
        if self.md5 is not None:
            data["md5"] = self.md5
        if self.size is not None:
            data["size"] = self.size
        if self.nfiles is not None:
            data["nfiles"] = self.nfiles
        if self.isexec:
            data["isexec"] = self.isexec
        data.update(self.extra)
        return data


class LockEntry(_Record):
    """What one stage ran with: ``params`` is ``{params file: {key: value}}``."""

    _fields = ("cmd", "deps", "params", "outs")

    def __init__(
        self,
        cmd: str | list[str],
        deps: list[LockedFile] | None = None,
        params: dict[str, dict[str, Any]] | None = None,
        outs: list[LockedFile] | None = None,
    ) -> None:
        self.cmd = cmd
        self.deps: list[LockedFile] = [] if deps is None else deps
        self.params: dict[str, dict[str, Any]] = {} if params is None else params
        self.outs: list[LockedFile] = [] if outs is None else outs

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"cmd": self.cmd}
        if self.deps:
            data["deps"] = [dep.to_dict() for dep in self.deps]
        if self.params:
            data["params"] = {name: dict(values) for name, values in self.params.items()}
        if self.outs:
            data["outs"] = [out.to_dict() for out in self.outs]
        return data


class Lock(_Record):
    """A whole ``dvc.lock``: stages in file order (DVC appends new stages at the end)."""

    _fields = ("stages", "datasets")

    def __init__(self, stages: dict[str, LockEntry] | None = None, datasets: Any = None) -> None:
        self.stages: dict[str, LockEntry] = {} if stages is None else stages
        # DVC's top-level ``datasets`` section, kept as read.
        self.datasets = datasets

    def set(self, name: str, entry: LockEntry) -> None:
        """Record ``entry``, keeping the stage's place if it was already there (as DVC does)."""
        self.stages[name] = entry

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": LOCK_SCHEMA}
        if self.datasets is not None:
            data["datasets"] = self.datasets
        data["stages"] = {name: entry.to_dict() for name, entry in self.stages.items()}
        return data


def lock_params(values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Params grouped as DVC writes them: ``params.yaml`` first, then other files in
    alphabetical order, keys sorted within each file (not recursively)."""
    ordered: dict[str, dict[str, Any]] = {}
    for name in sorted(values):
        ordered[name] = {key: values[name][key] for key in sorted(values[name])}
    if DEFAULT_PARAMS_FILE in ordered:
        ordered = {DEFAULT_PARAMS_FILE: ordered.pop(DEFAULT_PARAMS_FILE), **ordered}
    return ordered


def make_entry(
    cmd: str | list[str],
    deps: Iterable[LockedFile],
    params: Mapping[str, Mapping[str, Any]],
    outs: Iterable[LockedFile],
) -> LockEntry:
    """A lock entry in DVC's order: deps and outs sorted by path, params per :func:`lock_params`."""
    return LockEntry(
        cmd=cmd,
        deps=sorted(deps, key=lambda item: item.path),
        params=lock_params(params),
        outs=sorted(outs, key=lambda item: item.path),
    )


def dump_lock(lock: Lock, *, ruamel: str = "0.18") -> str:
    """The text DVC 3 writes for ``lock``. ``ruamel`` is the ruamel.yaml line-folding rule
    of the DVC install to match (see :mod:`gitext.pipeline.yamldump`): ``"0.18"`` (today's) or
    ``"0.17"``; they differ only on lines longer than 80 columns."""
    from gitext.pipeline.yamldump import dump_yaml

    return dump_yaml(lock.to_dict(), ruamel=ruamel)


def lock_folding(text: str, parsed: Lock | None = None) -> str | None:
    """The folding rule (``"0.18"`` or ``"0.17"``) a lock's text was written with, when its
    long lines tell; None when they do not (no line was folded, or the text is not as either
    writes it) or the text is not a valid lock.

    ``parsed``: the lock already read from ``text``, if the caller has it — when one of its
    dumps is ``text``, no parse is needed; otherwise ``text`` is parsed as without it."""
    from gitext.pipeline.yamldump import RUAMEL_FOLDING

    if parsed is not None:
        dumps = {rule: dump_lock(parsed, ruamel=rule) for rule in RUAMEL_FOLDING}
        if text in dumps.values():
            matches = [rule for rule, dumped in dumps.items() if dumped == text]
            return matches[0] if len(matches) == 1 else None
    try:
        lock = parse_lock(text)
    except PipelineError:
        return None
    matches = [rule for rule in RUAMEL_FOLDING if dump_lock(lock, ruamel=rule) == text]
    return matches[0] if len(matches) == 1 else None


class _Reader:
    def __init__(self, marks: Marks) -> None:
        self.marks = marks

    def fail(self, path: YamlPath, problem: str) -> PipelineError:
        where = ".".join(str(part) for part in path)
        return PipelineError(
            f"{self.marks.value(path)}: corrupt lock file: {problem}"
            + (f" (at {where})" if where else ""),
            hint="restore dvc.lock from git (git checkout -- dvc.lock) or delete it and "
            "run `git archives repro` to rebuild it",
        )

    def file_entry(self, data: Any, path: YamlPath) -> LockedFile:
        if not isinstance(data, dict):
            raise self.fail(path, "expected a mapping with 'path'")
        item_path = data.get("path")
        if not isinstance(item_path, str) or not item_path:
            raise self.fail(path, "missing or empty 'path'")
        hash_name = data.get("hash")
        if hash_name is not None and not isinstance(hash_name, str):
            raise self.fail((*path, "hash"), "'hash' must be a string")
        md5 = data.get("md5")
        if md5 is not None and (not is_dvc_md5_id(md5)):
            raise self.fail((*path, "md5"), f"invalid md5 {md5!r}")
        numbers: dict[str, int | None] = {}
        for key in ("size", "nfiles"):
            value = data.get(key)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise self.fail((*path, key), f"'{key}' must be a non-negative integer")
            numbers[key] = value
        isexec = data.get("isexec")
        if isexec is not None and not isinstance(isexec, bool):
            raise self.fail((*path, "isexec"), "'isexec' must be true or false")
        return LockedFile(
            path=item_path,
            md5=md5,
            size=numbers["size"],
            nfiles=numbers["nfiles"],
            isexec=isexec,
            hash=hash_name,
            extra={key: value for key, value in data.items() if key not in _FILE_KEYS},
        )

    def files(self, data: Any, path: YamlPath) -> list[LockedFile]:
        if data is None:
            return []
        if not isinstance(data, list):
            raise self.fail(path, "expected a list")
        return [self.file_entry(item, (*path, n)) for n, item in enumerate(data)]

    def params(self, data: Any, path: YamlPath) -> dict[str, dict[str, Any]]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self.fail(path, "'params' must map params files to values")
        result: dict[str, dict[str, Any]] = {}
        for name, values in data.items():
            if not isinstance(name, str):
                raise self.fail((*path, str(name)), "params file names must be strings")
            if values is None:
                values = {}
            if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
                raise self.fail((*path, name), "expected a mapping of param keys to values")
            result[name] = dict(values)
        return result

    def entry(self, data: Any, path: YamlPath) -> LockEntry:
        if not isinstance(data, dict):
            raise self.fail(path, "a stage must be a mapping")
        for key in data:
            if key not in _STAGE_KEYS:
                raise self.fail((*path, str(key)), f"unknown key {key!r} in a stage")
        cmd = data.get("cmd")
        if isinstance(cmd, list):
            if not all(isinstance(part, str) for part in cmd):
                raise self.fail((*path, "cmd"), "'cmd' must be a string or a list of strings")
        elif not isinstance(cmd, str):
            raise self.fail((*path, "cmd"), "missing 'cmd'")
        return LockEntry(
            cmd=cmd,
            deps=self.files(data.get("deps"), (*path, "deps")),
            params=self.params(data.get("params"), (*path, "params")),
            outs=self.files(data.get("outs"), (*path, "outs")),
        )

    def lock(self, data: Any) -> Lock:
        if data is None:
            return Lock()
        if not isinstance(data, dict):
            raise self.fail((), "expected a mapping at the top level")
        if "schema" not in data:
            raise self.fail(
                (),
                "no 'schema' (a DVC 1 lock file, which is not supported; re-run the "
                "pipeline with DVC 2 or later, or delete dvc.lock)",
            )
        if data["schema"] != LOCK_SCHEMA:
            raise self.fail(("schema",), f"unsupported schema {data['schema']!r}, expected '2.0'")
        for key in data:
            if key not in ("schema", "stages", "datasets"):
                raise self.fail((str(key),), f"unknown top-level key {key!r}")
        stages = data.get("stages")
        if stages is None:
            stages = {}
        if not isinstance(stages, dict):
            raise self.fail(("stages",), "'stages' must be a mapping")
        lock = Lock(datasets=data.get("datasets"))
        for name, entry in stages.items():
            if not isinstance(name, str):
                raise self.fail(("stages", str(name)), "stage names must be strings")
            lock.stages[name] = self.entry(entry, ("stages", name))
        return lock


def parse_lock(text: str, *, file: str = "dvc.lock") -> Lock:
    """Parse lock text (DVC 3, or DVC 2 entries without ``hash:``); errors carry file:line."""
    from gitext.pipeline.yaml12 import load_yaml_with_marks

    data, marks = load_yaml_with_marks(text, file=file)
    return _Reader(marks).lock(data)


def _check_reads_back(text: str, file: str) -> None:
    """:func:`parse_lock`'s verdict on ``text`` without its line/column bookkeeping (about
    a fifth of a parse); a refusal is then repeated by :func:`parse_lock` for its message."""
    from gitext.pipeline.yaml12 import Marks, load_yaml

    try:
        _Reader(Marks(file)).lock(load_yaml(text, file=file))
    except PipelineError:
        parse_lock(text, file=file)  # the same refusal, naming line and column
        raise


def read_lock(path: Path) -> Lock:
    """Read ``dvc.lock``; a missing file is an empty lock. A corrupt one is a
    :class:`PipelineError` naming ``file:line:column``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock()
    except UnicodeDecodeError:
        raise PipelineError(
            f"{path}: corrupt lock file: not UTF-8 text",
            hint="restore dvc.lock from git or delete it and run `git archives repro`",
        ) from None
    except OSError as exc:
        raise PipelineError(f"cannot read {path}: {exc.strerror}") from None
    return parse_lock(text, file=str(path))


def write_lock(path: Path, lock: Lock, *, ruamel: str | None = None,
               root: Path | None = None) -> None:
    """Write ``lock`` atomically: temp file beside it, fsync, rename. On any failure the
    previous lock file is left exactly as it was.

    Long lines fold by ``ruamel``'s rule (see :func:`dump_lock`); by default by the rule the
    existing lock file was written with, so rewriting a lock that an older DVC wrote adds no
    diff noise, else by today's DVC's rule."""
    if ruamel is None:
        try:
            previous = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            previous = ""
        ruamel = lock_folding(previous) or "0.18"
    text = dump_lock(lock, ruamel=ruamel)
    # Prove the text reads back before it can replace anything.
    _check_reads_back(text, str(path))
    from gitext.fs.worktree import write_bytes_in

    # Through the one way into the work tree: never through a symlinked folder under
    # ``root`` (the repository root, when the caller knows it).
    write_bytes_in(root if root is not None else path.parent, path, text.encode("utf-8"))
