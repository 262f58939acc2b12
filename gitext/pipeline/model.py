"""The data model of a loaded ``dvc.yaml`` — the contract between the parser and the engine.

Paths are POSIX strings. ``path`` is as written in dvc.yaml (relative to the stage's
``wdir``); ``repo_path`` is the same file relative to the repository root, normalised, and is
what the engine, the lock file and ``.gitignore`` use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

OutKind = Literal["outs", "metrics", "plots"]


@dataclass(frozen=True)
class SourceLoc:
    """Where something was written: file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Dep:
    path: str
    repo_path: str
    # Extra per-dep keys DVC allows (hash, etc.) kept for round trips.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Out:
    path: str
    repo_path: str
    kind: OutKind = "outs"
    cache: bool = True
    persist: bool = False
    # desc, remote, push, type, labels, meta, x, y, template, ... as written.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParamDep:
    """Params a stage reads: ``file`` relative to the stage's wdir; ``keys`` None = all."""

    file: str
    repo_path: str
    keys: tuple[str, ...] | None


@dataclass
class Stage:
    name: str
    cmd: list[str]
    wdir: str = "."  # as written, relative to the dvc.yaml's directory
    repo_wdir: str = "."  # relative to the repository root
    deps: list[Dep] = field(default_factory=list)
    outs: list[Out] = field(default_factory=list)  # outs, metrics and plots, in that order
    params: list[ParamDep] = field(default_factory=list)
    frozen: bool = False
    always_changed: bool = False
    desc: str | None = None
    meta: Any = None
    loc: SourceLoc | None = None
    # For generated stages (foreach/matrix): the group name and the key ("train", "1").
    group: str | None = None
    key: str | None = None
    # Whether dvc.yaml wrote ``cmd`` as a list (even of one item): DVC records the command in
    # dvc.lock in the form dvc.yaml gave it, so the lock must too.
    cmd_is_list: bool = False

    @property
    def lock_cmd(self) -> str | list[str]:
        """The command as dvc.yaml wrote it (one string, or a list): what dvc.lock records."""
        if self.cmd_is_list or len(self.cmd) != 1:
            return list(self.cmd)
        return self.cmd[0]


@dataclass
class Pipeline:
    """One ``dvc.yaml`` and everything it declares."""

    file: Path  # absolute path of dvc.yaml
    root: Path  # absolute repository root
    stages: dict[str, Stage] = field(default_factory=dict)  # in file order
    metrics: list[str] = field(default_factory=list)  # top-level metrics, repo-relative
    params: list[str] = field(default_factory=list)  # top-level params files, repo-relative
    plots: list[Any] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)
    vars: list[Any] = field(default_factory=list)

    @property
    def lock_file(self) -> Path:
        return self.file.with_name("dvc.lock")
