"""What a stage's run records: its ``dvc.lock`` entry and the lock write.

:func:`hash_entry` writes a dep/out entry in DVC 3's key order, :func:`current_params` the
stage's params as they are now, and :class:`LockRecorder` puts a stage's entry into its
pipeline's lock file, keeping the line-folding rule the file was written with. Used by
:mod:`gitext.pipeline.repro` after a command ran or a run was restored from the run-cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gitext.errors import ArchivesError, PipelineError
from gitext.pipeline.dvchash.tree import HashInfo
from gitext.pipeline.lockfile import Lock, LockedFile, lock_folding, make_entry, write_lock
from gitext.pipeline.model import Pipeline, Stage
from gitext.pipeline.project import Project
from gitext.pipeline.runner import cmd_value

DEFAULT_FOLDING = "0.18"  # write_lock's own default: today's DVC (ruamel.yaml 0.18)


def hash_entry(path: str, info: HashInfo) -> dict[str, Any]:
    """A dep/out lock entry in DVC 3's key order."""
    out: dict[str, Any] = {"path": path, "hash": "md5", "md5": info.md5}
    if info.size is not None:
        out["size"] = info.size
    if info.nfiles is not None:
        out["nfiles"] = info.nfiles
    if info.isexec:
        out["isexec"] = True
    return out


def _locked(d: dict[str, Any]) -> LockedFile:
    return LockedFile(path=d["path"], md5=d["md5"], size=d.get("size"), nfiles=d.get("nfiles"),
                      isexec=d.get("isexec"), hash="md5")


class MissingParamError(PipelineError):
    pass


def current_params(project: Project, stage: Stage) -> dict[str, dict[str, Any]]:
    """file (as written) → {key: value} now, for the lock; raises when one is missing."""
    result: dict[str, dict[str, Any]] = {}
    from gitext.pipeline import params as paramsmod

    for pdep in stage.params:
        data = project.params_data(pdep.repo_path)
        if data is None:
            raise MissingParamError(
                f"stage '{stage.name}': params file '{pdep.repo_path}' does not exist",
                hint="create it, or remove it from the stage's params in dvc.yaml")
        values = result.setdefault(pdep.file, {})
        if pdep.keys is None:
            if isinstance(data, dict):
                values.update(data)
            continue
        for key in pdep.keys:
            try:
                values[key] = paramsmod.get_param(data, key)
            except (KeyError, IndexError, TypeError, ArchivesError):
                raise MissingParamError(
                    f"stage '{stage.name}': parameter '{key}' is missing from "
                    f"'{pdep.repo_path}'",
                    hint=f"add '{key}' to {pdep.repo_path}, or remove it from the stage") \
                    from None
    return {f: v for f, v in result.items() if v}


class LockRecorder:
    """Writes stages' entries into their pipelines' lock files for one run."""

    def __init__(self, project: Project) -> None:
        self.p = project
        self._folding: dict[Path, str] = {}  # lock file -> its line-folding rule

    def record(self, pipeline: Pipeline, stage: Stage, *, deps: list[dict[str, Any]],
               params: dict[str, Any], outs: list[dict[str, Any]]) -> str:
        """Write ``stage``'s entry into ``pipeline``'s lock; return the lock's path
        relative to the repository's root (what to ``git add``)."""
        entry = make_entry(cmd_value(stage), [_locked(d) for d in deps], params,
                           [_locked(o) for o in outs])
        old = self.p.lock_for(pipeline)
        lock = Lock(stages=dict(old.stages), datasets=old.datasets)
        lock.set(stage.name, entry)  # a stage keeps its place; a new one goes last, as DVC
        path = pipeline.lock_file
        folding = self._folding.get(path)
        if folding is None:
            # The line-folding rule the lock was written with, found once per run (it takes
            # a parse and two dumps): later writes are ours, with that same rule.
            try:
                previous = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                previous = ""
            folding = self._folding[path] = lock_folding(previous, old) or DEFAULT_FOLDING
        write_lock(path, lock, ruamel=folding, root=self.p.root)
        self.p.locks[path] = lock
        return Path(os.path.relpath(path, self.p.root)).as_posix()
