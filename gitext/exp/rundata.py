"""What one run of the pipeline says, read from a work tree, in the shape
:func:`gitext.exp.tracking.log_run` takes: the params (flat, dotted), the metrics files'
numbers, the plot files' ``step`` series, the outputs' pointers from ``dvc.lock``, and the
tags naming the commit, the experiment ref and the lock's digest.

Names: a key is its own name (``train.lr``, ``acc``) unless two files have it; then each
one is ``FILE:KEY``. A plot file's column is a step metric named after the column
(``FILE:COLUMN`` when a metric or another plot file has that name too).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitext.errors import PipelineError

if TYPE_CHECKING:
    from gitext.git.repo import Repo
    from gitext.pipeline.model import Pipeline

STEP = "step"  # DVC's (and DVCLive's) step column


@dataclass
class RunData:
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    step_metrics: list[tuple[str, int, float]] = field(default_factory=list)
    pointers: list[tuple[str, str, int | None]] = field(default_factory=list)
    lock_digest: str | None = None
    problems: list[str] = field(default_factory=list)  # files that could not be read


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def merge_files(per_file: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{file: {key: value}}`` to one flat mapping: a key found in one file keeps its
    name, one found in several becomes ``FILE:KEY`` in each."""
    count: dict[str, int] = {}
    for values in per_file.values():
        for key in values:
            count[key] = count.get(key, 0) + 1
    merged: dict[str, Any] = {}
    for path in sorted(per_file):
        for key, value in per_file[path].items():
            merged[key if count[key] == 1 else f"{path}:{key}"] = value
    return merged


def step_series(records: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """A plot file's numeric columns against its ``step`` column (empty without one)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        step: Any = record.get(STEP)
        if not is_number(step) or float(step) != int(step):
            continue
        for column, value in record.items():
            if column != STEP and is_number(value):
                series.setdefault(column, []).append((int(step), float(value)))
    return series


def name_series(per_file: Mapping[str, Mapping[str, list[tuple[int, float]]]],
                taken: set[str]) -> list[tuple[str, int, float]]:
    """Rows ``(key, step, value)``: the column's name, or ``FILE:COLUMN`` when another file
    or a metric (``taken``) has that name."""
    count: dict[str, int] = {}
    for columns in per_file.values():
        for column in columns:
            count[column] = count.get(column, 0) + 1
    rows: list[tuple[str, int, float]] = []
    for path in sorted(per_file):
        for column, points in per_file[path].items():
            key = column if count[column] == 1 and column not in taken else f"{path}:{column}"
            rows.extend((key, step, value) for step, value in points)
    return rows


def _inside(repo: Repo, path: str) -> bool:
    base = repo.root.resolve()
    return (base / path).resolve().is_relative_to(base)


def _plot_files(repo: Repo, pipelines: list[Pipeline], data: RunData) -> dict[str, Any]:
    """``{path: records}`` of the declared plot files that exist in the work tree."""
    from gitext.pipeline.metrics.read import open_version
    from gitext.plots.collect import _inside_work_tree
    from gitext.plots.data import is_plot_file, load_records
    from gitext.plots.definitions import declared_plots

    version = open_version(repo, None)
    paths: dict[str, bool] = {}
    for plot in declared_plots(pipelines):
        for source in plot.sources:
            try:
                _inside_work_tree(version, source.path)
            except PipelineError as exc:
                data.problems.append(exc.message)
                continue
            found = ([source.path] if (repo.root / source.path).is_file()
                     else version.list_files(source.path))
            paths.update((p, plot.header) for p in found if is_plot_file(p))
    loaded: dict[str, Any] = {}
    for path, header in sorted(paths.items()):
        try:
            _inside_work_tree(version, path)
            blob = version.read(path)
            if blob is not None:
                loaded[path] = load_records(blob, path, header=header)
        except PipelineError as exc:
            data.problems.append(exc.message)
    return loaded


def _pointers(pipelines: list[Pipeline], data: RunData) -> None:
    """The outputs every ``dvc.lock`` records, and the root lock's sha256."""
    from gitext.pipeline.lockfile import read_lock

    seen: set[str] = set()
    for pipeline in pipelines:
        lock_path = pipeline.lock_file
        if str(lock_path) in seen or not lock_path.is_file():
            continue
        seen.add(str(lock_path))
        if lock_path.parent == pipeline.root:
            data.lock_digest = hashlib.sha256(lock_path.read_bytes()).hexdigest()
        base = lock_path.parent.relative_to(pipeline.root).as_posix()
        try:
            lock = read_lock(lock_path)
        except PipelineError as exc:
            data.problems.append(exc.message)
            continue
        for stage in lock.stages.values():
            for out in stage.outs:
                if out.md5 is None:
                    continue
                path = out.path if base == "." else f"{base}/{out.path}"
                data.pointers.append((path, f"md5:{out.md5}", out.size))


def collect_run(repo: Repo) -> RunData:
    """What the work tree of ``repo`` holds after a repro (see the module's docstring).
    Unreadable metrics/plot files are listed in ``problems``; a dvc.yaml that does not
    load raises (the repro before would have failed on it)."""
    from gitext.pipeline.metrics.read import collect_metrics, collect_params, open_version

    data = RunData()
    params = collect_params(repo)
    metrics = collect_metrics(repo)
    for snap in (params, metrics):
        data.problems.extend(f"{path}: {msg}" for path, msg in sorted(snap.errors.items()))
        for path in [p for p in snap.values if not _inside(repo, p)]:
            # a cloned dvc.yaml may name ../../.docker/config.json: nothing of it is sent
            del snap.values[path]
            data.problems.append(f"{path}: outside the repository (not logged)")
    data.params = merge_files(params.values)
    numbers = {path: {k: v for k, v in flat.items() if is_number(v)}
               for path, flat in metrics.values.items()}
    data.metrics = {k: float(v) for k, v in merge_files(numbers).items()}
    pipelines = open_version(repo, None).pipelines()
    series = {path: step_series(records)
              for path, records in _plot_files(repo, pipelines, data).items()}
    data.step_metrics = name_series({p: s for p, s in series.items() if s},
                                    set(data.metrics))
    _pointers(pipelines, data)
    return data


def run_tags(repo: Repo, *, source_name: str, commit: str | None = None,
             exp_ref: str | None = None, lock_digest: str | None = None) -> dict[str, str]:
    """MLflow's system tags for a run from this repository (``mlflow.source.*``,
    ``mlflow.user``) and ours (``archives.exp.ref``, ``archives.lock.digest``).
    ``commit`` defaults to HEAD (none in a repository without commits)."""
    from gitext.git.repo import GitError

    if commit is None:
        try:
            commit = repo.resolve_rev("HEAD")
        except GitError:
            commit = None
    tags = {"mlflow.source.type": "LOCAL", "mlflow.source.name": source_name}
    if commit:
        tags["mlflow.source.git.commit"] = commit
    with contextlib.suppress(OSError, KeyError):  # no login name: MLflow shows none
        tags["mlflow.user"] = getpass.getuser()
    if exp_ref:
        tags["archives.exp.ref"] = exp_ref
    if lock_digest:
        tags["archives.lock.digest"] = lock_digest
    return tags
