"""Reading the plots' files at one or more versions (the work tree, or revisions read from
git objects and the local cache, without a checkout) and turning each plot into a Vega-Lite
spec with its data inlined, or a list of images.

Columns across files and revisions are put in one table (DVC's way): when the files name
their x (or y) column alike, the field keeps that name, otherwise it is
``dvc_inferred_x_value`` (``dvc_inferred_y_value``); with no ``x`` the row number is
``step``; with no ``y`` the file's last column is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.errors import PipelineError
from gitext.plots.data import (
    Record,
    check_image,
    columns,
    is_image,
    is_plot_file,
    load_records,
    require_columns,
)
from gitext.plots.definitions import PlotDef, Source, declared_plots, with_overrides
from gitext.plots.templates import DEFAULT_TEMPLATE, SERIES, Chart, Spec, get_template

if TYPE_CHECKING:
    from gitext.git.repo import Repo

STEP = "step"
INFERRED_X = "dvc_inferred_x_value"
INFERRED_Y = "dvc_inferred_y_value"


@dataclass(frozen=True)
class Image:
    rev: str
    path: str
    mime: str
    data: bytes


@dataclass
class Plot:
    """One drawn plot: a Vega-Lite spec (data inlined), or images (one per version)."""

    id: str
    spec: Spec | None = None
    images: list[Image] = field(default_factory=list)


@dataclass
class Result:
    plots: list[Plot]
    warnings: list[str]


@dataclass
class _Loaded:
    rev: str
    source: Source
    records: list[Record]


def _inside_work_tree(version: Any, path: str) -> None:
    """A plot path read from the work tree stays in the clone: ``..``, an absolute path or a
    symlink out of it (a cloned dvc.yaml can name any) would copy another file into the
    page. (A revision's files come from its tree, where such paths do not resolve.)"""
    root = getattr(version, "root", None)
    if root is None:
        return
    base = Path(root).resolve()
    if not (base / path).resolve().is_relative_to(base):
        raise PipelineError(f"{path}: outside the repository (a plot file must be in it)",
                            hint="name a file inside the repository in dvc.yaml's plots")


def _read(version: Any, source: Source) -> bytes | None:
    _inside_work_tree(version, source.path)
    data: bytes | None = (version.read_cached if source.cached else version.read)(source.path)
    return data


def _list(version: Any, source: Source) -> list[str]:
    found = (version.list_cached if source.cached else version.list_files)(source.path)
    return [p for p in found if is_plot_file(p)]


def _expand(plots: Sequence[PlotDef], versions: Sequence[Any]) -> list[PlotDef]:
    """A plot whose one path is a directory becomes one plot per plot file in it (at any of
    the versions), with the same options."""
    out: list[PlotDef] = []
    for plot in plots:
        first = plot.sources[0]
        if len(plot.sources) != 1 or any(_read(v, first) is not None for v in versions):
            out.append(plot)
            continue
        files = sorted({p for v in versions for p in _list(v, first)})
        if not files:
            out.append(plot)
        for path in files:
            out.append(replace(plot, id=path, sources=(replace(first, path=path),)))
    return out


def _select(plots: list[PlotDef], targets: Sequence[str]) -> list[PlotDef]:
    """The plots a target names (an id, or a path one of them draws, or under a directory);
    a target naming nothing declared is drawn on its own with the defaults."""
    chosen: list[PlotDef] = []
    for target in targets:
        clean = target.rstrip("/")
        hits = [p for p in plots if p.id == clean or any(
            s.path == clean or s.path.startswith(clean + "/") for s in p.sources)]
        if not hits:
            cached = any(s.cached and (clean.startswith(s.path + "/") or clean == s.path)
                         for p in plots for s in p.sources)
            hits = [PlotDef(clean, (Source(clean, cached=cached),), where=clean)]
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def _one_name(names: set[str], inferred: str) -> str:
    return next(iter(names)) if len(names) == 1 else inferred


def _series_label(rev: str, path: str, col: str, vary: tuple[bool, bool, bool]) -> str:
    parts = [p for p, v in zip((rev, path, col), vary, strict=True) if v]
    return " · ".join(parts) if parts else path


def _chart(plot: PlotDef, loaded: list[_Loaded]) -> Chart:
    pairs: list[tuple[_Loaded, str]] = []
    for item in loaded:
        ys = item.source.ys or tuple(columns(item.records)[-1:])
        wanted = [*ys] + ([item.source.x] if item.source.x else [])
        where = item.source.path if item.rev == "workspace" else \
            f"{item.source.path} (at {item.rev})"
        require_columns(item.records, wanted or ["a column"], where)
        pairs.extend((item, y) for y in ys)
    x_name = _one_name({i.source.x or STEP for i, _ in pairs}, INFERRED_X)
    y_name = _one_name({y for _, y in pairs}, INFERRED_Y)
    vary = (len({i.rev for i, _ in pairs}) > 1, len({i.source.path for i, _ in pairs}) > 1,
            len({y for _, y in pairs}) > 1)
    rows: list[dict[str, Any]] = []
    series: dict[str, None] = {}
    for item, y in pairs:
        label = _series_label(item.rev, item.source.path, y, vary)
        series[label] = None
        x = item.source.x
        for n, record in enumerate(item.records):
            if y not in record or (x is not None and x not in record):
                continue  # a JSON record without the field: DVC leaves it out too
            rows.append({x_name: n if x is None else record[x], y_name: record[y],
                         "rev": item.rev, "filename": item.source.path, "field": y,
                         SERIES: label})
    props = plot.props
    # An axis drawing several columns is titled with their names, not the inferred field's.
    x_title = ", ".join(dict.fromkeys(i.source.x or STEP for i, _ in pairs))
    y_title = ", ".join(dict.fromkeys(y for _, y in pairs))
    return Chart(x=x_name, y=y_name, title=props.get("title", plot.id),
                 x_label=props.get("x_label", x_title), y_label=props.get("y_label", y_title),
                 rows=rows, series=list(series))


def _draw(plot: PlotDef, versions: Sequence[Any], warnings: list[str]) -> Plot | None:
    template = get_template(plot.template or DEFAULT_TEMPLATE, f"{plot.where}: plot '{plot.id}'")
    images: list[Image] = []
    loaded: list[_Loaded] = []
    for version in versions:
        for source in plot.sources:
            data = _read(version, source)
            if data is None:
                continue
            if is_image(source.path):
                mime = check_image(data, source.path)
                images.append(Image(version.label, source.path, mime, data))
            else:
                records = load_records(data, source.path, header=plot.header)
                loaded.append(_Loaded(version.label, source, records))
    if not images and not loaded:
        names = ", ".join(s.path for s in plot.sources)
        warnings.append(f"plot '{plot.id}': {names} not found"
                        + (" at any of the revisions" if len(versions) > 1 else ""))
        return None
    if images and loaded:
        raise PipelineError(f"{plot.where}: plot '{plot.id}' mixes images and data files",
                            hint="declare the images as plots of their own")
    if images:
        return Plot(plot.id, images=images)
    return Plot(plot.id, spec=template(_chart(plot, loaded)))


def _pipelines(repo: Repo, version: Any, rev: str | None) -> list[Any]:
    """The version's pipelines; the work tree's through the parse cache (``state.db``), so
    an unchanged dvc.yaml costs neither a YAML parser's import nor a parse."""
    if rev is not None:
        pipelines: list[Any] = version.pipelines()
        return pipelines
    from gitext.pipeline.parsecache import load_pipelines
    from gitext.store.state import StateCache

    state = StateCache(repo.archives_dir / "state.db")
    try:
        return load_pipelines(repo.root, state)
    finally:
        state.close()


def collect(repo: Repo, revs: Sequence[str | None], *, targets: Sequence[str] = (),
            overrides: dict[str, Any] | None = None) -> Result:
    """The plots at the versions ``revs`` (None: the work tree), overlaid; all the declared
    plots, or those ``targets`` name. A plot file that exists nowhere is a warning; one
    that cannot be read or lacks a column is an error."""
    from gitext.pipeline.metrics.read import close_version, open_version

    versions = [open_version(repo, rev) for rev in revs]
    try:
        pipelines = _pipelines(repo, versions[-1], revs[-1])
        declared = declared_plots(pipelines)
        chosen = _select(declared, targets) if targets else declared
        if not chosen:
            raise PipelineError("no plots: dvc.yaml declares none",
                                hint="name plot files: git archives plots show FILE…, or "
                                     "add a 'plots:' section to dvc.yaml")
        chosen = [with_overrides(p, **(overrides or {})) for p in _expand(chosen, versions)]
        warnings: list[str] = []
        drawn = [_draw(plot, versions, warnings) for plot in chosen]
        plots = [p for p in drawn if p is not None]
        if targets and not plots:
            raise PipelineError(f"nothing to plot: {'; '.join(warnings)}",
                                hint="check the file names (git archives plots show FILE…)")
        return Result(plots, warnings)
    finally:
        for version in versions:
            close_version(version)
