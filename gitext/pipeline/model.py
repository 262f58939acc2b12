"""The data model of a loaded ``dvc.yaml`` — the contract between the parser and the engine.

Paths are POSIX strings. ``path`` is as written in dvc.yaml (relative to the stage's
``wdir``); ``repo_path`` is the same file relative to the repository root, normalised, and is
what the engine, the lock file and ``.gitignore`` use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

OutKind = Literal["outs", "metrics", "plots"]
# The params file a stage reads when its ``params`` names keys without a file (DVC's default).
DEFAULT_PARAMS_FILE = "params.yaml"


# Plain classes with dataclass behaviour (field-wise ``==``, a readable repr, frozen ones
# immutable and hashable): every command imports this module, and generating six
# dataclasses costs about 3 ms of each command's startup.
class _Record:  # noqa: PLW1641 - mutable records are unhashable, as dataclasses
    _fields: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({inner})"


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted(((repr(k), _freeze(v)) for k, v in value.items()),
                            key=lambda kv: kv[0]))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, set):
        return frozenset(_freeze(v) for v in value)
    return value


class _Frozen(_Record):
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen record")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen record")

    def __hash__(self) -> int:
        # Dep/Out keep DVC's extra keys in a dict: hash a frozen copy of every value.
        return hash(_freeze(self._values()))

    def _init(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)


class SourceLoc(_Frozen):
    """Where something was written: file, 1-based line and column."""

    _fields = ("file", "line", "column")
    file: str
    line: int
    column: int

    def __init__(self, file: str, line: int, column: int) -> None:
        self._init(file=file, line=line, column=column)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Dep(_Frozen):
    _fields = ("path", "repo_path", "extra")
    path: str
    repo_path: str
    # Extra per-dep keys DVC allows (hash, etc.) kept for round trips.
    extra: dict[str, Any]

    def __init__(self, path: str, repo_path: str, extra: dict[str, Any] | None = None) -> None:
        self._init(path=path, repo_path=repo_path, extra={} if extra is None else extra)


class Out(_Frozen):
    _fields = ("path", "repo_path", "kind", "cache", "persist", "extra")
    path: str
    repo_path: str
    kind: OutKind
    cache: bool
    persist: bool
    # desc, remote, push, type, labels, meta, x, y, template, ... as written.
    extra: dict[str, Any]

    def __init__(  # noqa: PLR0917 - positional, as the dataclass it replaces
            self, path: str, repo_path: str, kind: OutKind = "outs", cache: bool = True,
            persist: bool = False, extra: dict[str, Any] | None = None) -> None:
        self._init(path=path, repo_path=repo_path, kind=kind, cache=cache, persist=persist,
                   extra={} if extra is None else extra)


class ParamDep(_Frozen):
    """Params a stage reads: ``file`` relative to the stage's wdir; ``keys`` None = all."""

    _fields = ("file", "repo_path", "keys")
    file: str
    repo_path: str
    keys: tuple[str, ...] | None

    def __init__(self, file: str, repo_path: str, keys: tuple[str, ...] | None) -> None:
        self._init(file=file, repo_path=repo_path, keys=keys)


class Stage(_Record):
    _fields = ("name", "cmd", "wdir", "repo_wdir", "deps", "outs", "params", "frozen",
               "always_changed", "desc", "meta", "loc", "group", "key", "cmd_is_list")

    def __init__(  # noqa: PLR0917 - positional, as the dataclass it replaces
        self,
        name: str,
        cmd: list[str],
        wdir: str = ".",  # as written, relative to the dvc.yaml's directory
        repo_wdir: str = ".",  # relative to the repository root
        deps: list[Dep] | None = None,
        outs: list[Out] | None = None,  # outs, metrics and plots, in that order
        params: list[ParamDep] | None = None,
        frozen: bool = False,
        always_changed: bool = False,
        desc: str | None = None,
        meta: Any = None,
        loc: SourceLoc | None = None,
        # For generated stages (foreach/matrix): the group name and the key ("train", "1").
        group: str | None = None,
        key: str | None = None,
        # Whether dvc.yaml wrote ``cmd`` as a list (even of one item): DVC records the
        # command in dvc.lock in the form dvc.yaml gave it, so the lock must too.
        cmd_is_list: bool = False,
    ) -> None:
        self.name = name
        self.cmd = cmd
        self.wdir = wdir
        self.repo_wdir = repo_wdir
        self.deps: list[Dep] = [] if deps is None else deps
        self.outs: list[Out] = [] if outs is None else outs
        self.params: list[ParamDep] = [] if params is None else params
        self.frozen = frozen
        self.always_changed = always_changed
        self.desc = desc
        self.meta = meta
        self.loc = loc
        self.group = group
        self.key = key
        self.cmd_is_list = cmd_is_list

    @property
    def lock_cmd(self) -> str | list[str]:
        """The command as dvc.yaml wrote it (one string, or a list): what dvc.lock records."""
        if self.cmd_is_list or len(self.cmd) != 1:
            return list(self.cmd)
        return self.cmd[0]


class Pipeline(_Record):
    """One ``dvc.yaml`` and everything it declares."""

    _fields = ("file", "root", "stages", "metrics", "params", "plots", "artifacts", "vars")

    def __init__(  # noqa: PLR0917 - positional, as the dataclass it replaces
        self,
        file: Path,  # absolute path of dvc.yaml
        root: Path,  # absolute repository root
        stages: dict[str, Stage] | None = None,  # in file order
        metrics: list[str] | None = None,  # top-level metrics, repo-relative
        params: list[str] | None = None,  # top-level params files, repo-relative
        plots: list[Any] | None = None,
        artifacts: dict[str, Any] | None = None,
        vars: list[Any] | None = None,
    ) -> None:
        self.file = file
        self.root = root
        self.stages: dict[str, Stage] = {} if stages is None else stages
        self.metrics: list[str] = [] if metrics is None else metrics
        self.params: list[str] = [] if params is None else params
        self.plots: list[Any] = [] if plots is None else plots
        self.artifacts: dict[str, Any] = {} if artifacts is None else artifacts
        self.vars: list[Any] = [] if vars is None else vars

    @property
    def lock_file(self) -> Path:
        return self.file.with_name("dvc.lock")
