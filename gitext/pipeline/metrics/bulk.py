"""Params and metrics of many commits at once (``exp show``): the commits of experiments
that share one baseline's pipeline definition.

The baseline's ``dvc.yaml`` files are parsed once; every commit's params files, metric
files, ``dvc.yaml`` and ``dvc.lock`` files are then read with ONE ``git cat-file --batch``
(``commit:path`` names), and each commit's snapshot is computed by the same code as
``metrics show``/``params show`` at a revision. A commit whose ``dvc.yaml`` differs from
the baseline's (or a metric source that is a committed directory) is read on its own, as
``collect_metrics``/``collect_params`` read any revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitext.pipeline.metrics.read import (
    _Revision,
    collect_metrics,
    collect_params,
    content_of,
    metrics_of,
    params_of,
)
from gitext.pipeline.metrics.sources import metric_sources, params_sources
from gitext.pipeline.model import DEFAULT_PARAMS_FILE

if TYPE_CHECKING:
    from gitext.git.repo import Repo
    from gitext.pipeline.metrics.snapshot import Snapshot


class _Prefetched(_Revision):
    """One commit whose files were read in bulk, with the baseline's parsed pipelines."""

    def __init__(self, base: _Revision, commit: str, blobs: dict[str, bytes]) -> None:
        # no git call here: the commit id is known and the files were read already
        self.repo = base.repo
        self.rev = self.label = self.commit = commit
        self._tree = None
        self._scratch = None
        self._pipelines = base.pipelines()
        self._locked = None
        self._base = base
        self._blobs = blobs

    def _scratch_root(self) -> Path:
        return self._base._scratch_root()  # lock paths are relative to the baseline's copy

    def close(self) -> None:
        """The scratch copy is the baseline's: its owner removes it."""

    def _blob(self, path: str) -> bytes | None:
        return content_of(self.repo, self._blobs.get(path), path)

    def list_files(self, path: str) -> list[str]:
        return []  # sources that are committed directories are read per commit instead


def _wanted_paths(base: _Revision) -> tuple[list[str], list[str]] | None:
    """(pipeline files, data files) to read at each commit; None when some metric source is
    a committed directory (those commits are read one by one)."""
    pipelines = base.pipelines()
    root = base._scratch_root()
    defs = sorted(p.file.relative_to(root).as_posix() for p in pipelines)
    locks = sorted(p.lock_file.relative_to(root).as_posix() for p in pipelines)
    data = {DEFAULT_PARAMS_FILE}
    data.update(s.path for s in params_sources(pipelines, default_exists=True))
    for source in metric_sources(pipelines):
        if not source.cached and source.path not in base.tree and any(
                p.startswith(source.path + "/") for p in base.tree):
            return None
        data.add(source.path)
    return defs, sorted(data | set(locks))


def collect_many(repo: Repo, baseline: str, commits: Sequence[str],
                 ) -> dict[str, tuple[Snapshot, Snapshot]]:
    """``{commit: (params, metrics)}`` for ``commits`` (full ids; each labelled by its id),
    read against ``baseline``'s pipeline definition. Unreadable files go to each snapshot's
    ``errors``, as at any revision."""
    base = _Revision(repo, baseline)
    try:
        return _collect(repo, base, commits)
    finally:
        base.close()


def _collect(repo: Repo, base: _Revision, commits: Sequence[str],
             ) -> dict[str, tuple[Snapshot, Snapshot]]:
    result: dict[str, tuple[Snapshot, Snapshot]] = {}
    try:
        wanted = _wanted_paths(base)
    except Exception:  # noqa: BLE001 - a broken dvc.yaml: each commit reports it itself
        wanted = None
    if wanted is None:
        for commit in commits:
            result[commit] = (collect_params(repo, commit), collect_metrics(repo, commit))
        return result
    defs, data = wanted
    specs = [(c, p) for c in [base.commit, *commits] for p in [*defs, *data]]
    blobs = repo.cat_paths(specs)
    base_defs = [blobs.get((base.commit, p)) for p in defs]
    for commit in commits:
        if [blobs.get((commit, p)) for p in defs] != base_defs:
            result[commit] = (collect_params(repo, commit), collect_metrics(repo, commit))
            continue
        files = _Prefetched(base, commit, {p: blobs[(commit, p)] for p in data
                                           if (commit, p) in blobs})
        result[commit] = (params_of(files), metrics_of(files))
    return result
