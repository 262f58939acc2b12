"""Which plots a project declares: ``dvc.yaml``'s top-level ``plots`` and its stages'
``plots`` outputs, read as DVC reads them.

Top level, each item is a path (a file or a directory of plot files), or ``{id: options}``
where ``y`` is a column, a list of columns, or a mapping file → column(s) (then the id is
only a name) and ``x`` a column or a mapping file → column. A stage's plot output takes the
same options for its one file. Paths are resolved against the ``dvc.yaml``'s directory and
kept repository-relative.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from gitext.errors import PipelineError
from gitext.pipeline.model import Pipeline

_PROPS = ("template", "title", "x_label", "y_label")


@dataclass(frozen=True)
class Source:
    """One file of a plot and the columns drawn from it."""

    path: str  # repository-relative POSIX path
    ys: tuple[str, ...] = ()  # empty: DVC's default, the file's last column
    x: str | None = None  # None: DVC's default, the row number as ``step``
    cached: bool = False  # a cached pipeline output: at a revision, read via dvc.lock


@dataclass(frozen=True)
class PlotDef:
    id: str  # the file for a file's plot, else the name dvc.yaml gives it
    sources: tuple[Source, ...]
    props: Mapping[str, str] = field(default_factory=dict)  # template, title, x/y_label
    header: bool = True  # CSV/TSV: the first row names the columns
    where: str = "dvc.yaml"  # the dvc.yaml declaring it, for messages

    @property
    def template(self) -> str | None:
        return self.props.get("template")


def _norm(base: str, path: str) -> str:
    joined = os.path.normpath(str(PurePosixPath(base) / path)).replace(os.sep, "/")
    return joined.removeprefix("./")


def _columns(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PipelineError(f"{where}: a plot's y names a column or a list of columns",
                        hint="fix the plot's y in dvc.yaml")


def _props(opts: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(opts[k]) for k in _PROPS if opts.get(k) is not None}


def _top_level(item: Any, base: str, where: str, cached: Sequence[str]) -> list[PlotDef]:
    if isinstance(item, str):
        path = _norm(base, item)
        return [PlotDef(path, (Source(path, cached=_inside(path, cached)),), where=where)]
    found = []
    for plot_id, raw in dict(item).items():
        opts: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        x, y = opts.get("x"), opts.get("y")
        if isinstance(y, Mapping):
            sources = []
            for file, cols in y.items():
                path = _norm(base, str(file))
                fx = x.get(file) if isinstance(x, Mapping) else x
                sources.append(Source(path, _columns(cols, where),
                                      None if fx is None else str(fx), _inside(path, cached)))
            found.append(PlotDef(str(plot_id), tuple(sources), _props(opts), where=where))
            continue
        path = _norm(base, str(plot_id))
        fx = x.get(plot_id) if isinstance(x, Mapping) else x
        found.append(PlotDef(path, (Source(path, _columns(y, where),
                                           None if fx is None else str(fx),
                                           _inside(path, cached)),),
                             _props(opts), where=where))
    return found


def _inside(path: str, outs: Sequence[str]) -> bool:
    return any(path == o or path.startswith(o + "/") for o in outs)


def declared_plots(pipelines: Sequence[Pipeline]) -> list[PlotDef]:
    """Every plot the pipelines declare: top-level ones first, then stages' plot outputs
    not already named; in file order."""
    cached = [o.repo_path for p in pipelines for s in p.stages.values() for o in s.outs
              if o.cache]
    found: dict[str, PlotDef] = {}
    for pipeline in pipelines:
        base = pipeline.file.parent.relative_to(pipeline.root).as_posix()
        where = _norm(base, "dvc.yaml")
        for item in pipeline.plots:
            for plot in _top_level(item, base, where, cached):
                found.setdefault(plot.id, plot)
        for stage in pipeline.stages.values():
            for out in stage.outs:
                if out.kind == "plots" and out.repo_path not in found:
                    found.update((p.id, p) for p in _stage_plots(out, where))
    return list(found.values())


def _stage_plots(out: Any, where: str) -> list[PlotDef]:
    """A stage's plot output; written with a list of option mappings, one plot per mapping
    (ids ``path``, ``path (2)``, …)."""
    listed = out.extra.get("plot_props")
    all_opts = listed if isinstance(listed, list) else [out.extra]
    plots = []
    for n, opts in enumerate(all_opts, start=1):
        x = opts.get("x")
        source = Source(out.repo_path, _columns(opts.get("y"), where),
                        None if x is None else str(x), out.cache)
        plots.append(PlotDef(out.repo_path if n == 1 else f"{out.repo_path} ({n})", (source,),
                             _props(opts), header=opts.get("header", True) is not False,
                             where=where))
    return plots


def with_overrides(plot: PlotDef, *, template: str | None = None, x: str | None = None,
                   y: str | None = None, title: str | None = None,
                   x_label: str | None = None, y_label: str | None = None,
                   no_header: bool = False) -> PlotDef:
    """The plot with the command line's options (DVC's -t, -x, -y, --title, …) in force."""
    props = dict(plot.props)
    for key, value in (("template", template), ("title", title), ("x_label", x_label),
                       ("y_label", y_label)):
        if value is not None:
            props[key] = value
    sources = tuple(replace(s, x=s.x if x is None else x, ys=s.ys if y is None else (y,))
                    for s in plot.sources)
    return replace(plot, sources=sources, props=props,
                   header=plot.header and not no_header)
