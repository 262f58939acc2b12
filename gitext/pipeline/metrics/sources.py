"""Which files hold a project's metrics and params: what its ``dvc.yaml`` files declare,
and the root ``params.yaml``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitext.pipeline.model import DEFAULT_PARAMS_FILE, Pipeline


@dataclass(frozen=True)
class MetricSource:
    path: str  # repo-relative POSIX path (file or directory)
    cached: bool  # a cached pipeline output: at a revision, read via dvc.lock + the store


def metric_sources(pipelines: Sequence[Pipeline]) -> list[MetricSource]:
    """Stage ``metrics:`` outputs and top-level ``metrics:`` entries, sorted by path.

    A top-level entry inside a cached output (``eval/metrics.json`` in the output ``eval``)
    counts as cached.
    """
    cached_outs = [o.repo_path for p in pipelines for s in p.stages.values()
                   for o in s.outs if o.cache]
    found: dict[str, bool] = {}
    for pipeline in pipelines:
        for stage in pipeline.stages.values():
            for out in stage.outs:
                if out.kind == "metrics":
                    found[out.repo_path] = found.get(out.repo_path, False) or out.cache
        for path in pipeline.metrics:
            inside = any(path == o or path.startswith(o + "/") for o in cached_outs)
            found[path] = found.get(path, False) or inside
    return [MetricSource(p, c) for p, c in sorted(found.items())]


@dataclass(frozen=True)
class ParamsSource:
    path: str  # repo-relative POSIX path of the params file
    keys: tuple[str, ...] | None  # None: every key


def params_sources(pipelines: Sequence[Pipeline], *, default_exists: bool,
                   deps_only: bool = False) -> list[ParamsSource]:
    """The params a project uses: stage ``params:`` (their keys), top-level ``params:`` files
    and the root ``params.yaml`` when it exists (every key), merged per file, sorted.
    ``deps_only``: only what stages list (DVC's ``--deps``)."""
    keys: dict[str, set[str] | None] = {}

    def add(path: str, wanted: tuple[str, ...] | None) -> None:
        if path in keys and keys[path] is None:
            return
        if wanted is None:
            keys[path] = None
        else:
            keys.setdefault(path, set())
            current = keys[path]
            if current is not None:
                current.update(wanted)

    for pipeline in pipelines:
        for stage in pipeline.stages.values():
            for dep in stage.params:
                add(dep.repo_path, dep.keys)
        if not deps_only:
            for path in pipeline.params:
                add(path, None)
    if default_exists and not deps_only:
        add(DEFAULT_PARAMS_FILE, None)
    return [ParamsSource(p, None if k is None else tuple(sorted(k)))
            for p, k in sorted(keys.items())]

