"""The ``exp show`` table: rows = the workspace, each baseline and its experiments; columns
= the metrics and params the baseline's ``dvc.yaml`` declares, read from each commit's tree
through :mod:`gitext.pipeline.metrics` (one ``git cat-file --batch`` per baseline).

Column names are the flattened keys (``train.lr``); a key is prefixed with its file
(``params.yaml:train.lr``) when its kind (metrics or params) comes from several files, or
when the same key is both a metric and a param, as DVC names them.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gitext.errors import PipelineError, UsageError
from gitext.exp.listing import QUEUED, Experiment
from gitext.pipeline.metrics.snapshot import MISSING, Flat, Snapshot

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gitext.git.repo import Repo

WORKSPACE, BASELINE, EXPERIMENT = "workspace", "baseline", "experiment"
KINDS = ("metrics", "params")


@dataclass
class Row:
    label: str  # branch/tag names or short id (baselines), the name (experiments)
    typ: str  # workspace | baseline | experiment
    rev: str  # full commit id ('' for the workspace)
    parent: str = ""  # an experiment's baseline
    created: int | None = None
    status: str = ""
    values: dict[str, dict[str, Flat]] = field(default_factory=dict)  # kind -> snapshot
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    kind: str  # metrics | params
    file: str
    key: str
    name: str  # as shown and as --sort-by names it


@dataclass
class Table:
    rows: list[Row]
    columns: list[Column]

    def value(self, row: Row, col: Column) -> Any:
        return row.values.get(col.kind, {}).get(col.file, {}).get(col.key, MISSING)


def _commit_info(repo: Repo, commits: Sequence[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Commit times (of those that exist), and the branch/tag names pointing at each commit
    (two git calls)."""
    times: dict[str, int] = {}
    if commits:
        out = repo.git_text("log", "--no-walk=unsorted", "--ignore-missing",
                            "--format=%H %ct", *commits)
        for line in out.splitlines():
            sha, _, when = line.partition(" ")
            times[sha] = int(when) if when.isdigit() else 0
    names: dict[str, list[str]] = {}
    fmt = "%(objectname) %(*objectname) %(refname:short)"
    for line in repo.git_text("for-each-ref", f"--format={fmt}", "refs/heads",
                              "refs/tags").splitlines():
        obj, peeled, name = line.split(" ", 2)
        names.setdefault(peeled or obj, []).append(name)
    return times, {c: ", ".join(n) for c, n in names.items()}


def _head(repo: Repo) -> str | None:
    proc = repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def _workspace_row(repo: Repo) -> Row:
    from gitext.pipeline.metrics.read import collect_metrics, collect_params

    row = Row(WORKSPACE, WORKSPACE, "")
    try:
        _fill(row, collect_params(repo), collect_metrics(repo))
    except PipelineError as exc:
        row.errors["dvc.yaml"] = exc.message
    return row


def _fill(row: Row, params: Snapshot, metrics: Snapshot) -> None:
    row.values = {"params": params.values, "metrics": metrics.values}
    row.errors.update(params.errors)
    row.errors.update(metrics.errors)


def build_rows(repo: Repo, experiments: Sequence[Experiment], *,
               all_baselines: bool = False) -> list[Row]:
    """The workspace, HEAD's commit (and with ``all_baselines`` every other baseline that
    has experiments, newest first), each followed by its experiments, oldest first."""
    from gitext.pipeline.metrics.bulk import collect_many

    head = _head(repo)
    rows = [_workspace_row(repo)]
    wanted = [head] if head else []
    if all_baselines:
        wanted += [e.baseline for e in experiments]
    bases = list(dict.fromkeys(wanted))
    times, names = _commit_info(repo, bases)
    bases = [b for b in bases if b in times]
    bases.sort(key=lambda b: (b != head, -times.get(b, 0)))
    for base in bases:
        exps = [e for e in experiments if e.baseline == base]
        snaps = collect_many(repo, base, [base, *(e.commit for e in exps)])
        row = Row(names.get(base, base[:7]), BASELINE, base, created=times.get(base))
        _fill(row, *snaps[base])
        rows.append(row)
        for exp in exps:
            row = Row(exp.name, EXPERIMENT, exp.commit, parent=base, created=exp.created,
                      status=exp.status)
            params, metrics = snaps[exp.commit]
            if exp.status == QUEUED:  # not run: its metrics files are the baseline's
                metrics = Snapshot(metrics.label)
            _fill(row, params, metrics)
            rows.append(row)
    return rows


def _columns(rows: Sequence[Row]) -> list[Column]:
    seen: dict[str, dict[tuple[str, str], None]] = {k: {} for k in KINDS}
    for row in rows:
        for kind in KINDS:
            for file, flat in sorted(row.values.get(kind, {}).items()):
                seen[kind].update(dict.fromkeys((file, key) for key in flat))
    keys = {kind: {key for _, key in seen[kind]} for kind in KINDS}
    columns = []
    for kind in KINDS:
        other = keys["params" if kind == "metrics" else "metrics"]
        several = len({file for file, _ in seen[kind]}) > 1
        ordered = sorted(seen[kind], key=lambda fk: fk[0])  # stable: keys keep file order
        for file, key in ordered:
            name = f"{file}:{key}" if several or key in other else key
            columns.append(Column(kind, file, key, name))
    return columns


def _same(values: Sequence[Any]) -> bool:
    texts = {json.dumps(v, sort_keys=True, default=str) if v is not MISSING else "\0"
             for v in values}
    return len(texts) <= 1


def find_column(columns: Sequence[Column], spec: str) -> Column:
    """The column ``--sort-by`` names: its shown name, ``file:key``, or a key that only one
    column has."""
    for col in columns:
        if spec in (col.name, f"{col.file}:{col.key}"):
            return col
    by_key = [c for c in columns if c.key == spec]
    if len(by_key) == 1:
        return by_key[0]
    if by_key:
        raise UsageError(f"--sort-by: '{spec}' is ambiguous",
                         hint="name one of " + ", ".join(f"{c.file}:{c.key}" for c in by_key))
    import difflib

    close = difflib.get_close_matches(spec, [c.name for c in columns], n=3)
    hint = ("did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else \
        "the columns are: " + (", ".join(c.name for c in columns) or "none")
    raise UsageError(f"--sort-by: no metric or param named '{spec}'", hint=hint)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is MISSING or value is None:
        return (2, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, Decimal(repr(value)) if isinstance(value, float) else value)
    return (1, json.dumps(value, sort_keys=True, default=str))


def build_table(rows: list[Row], *, sort_by: str | None = None, descending: bool = False,
                only_changed: bool = False) -> Table:
    """The table of ``rows``: columns found, experiments sorted within their baseline
    (missing values last), columns whose value never changes dropped with ``only_changed``."""
    table = Table(rows, _columns(rows))
    if sort_by is not None:
        col = find_column(table.columns, sort_by)
        table.rows = _sorted(table, col, descending)
    if only_changed:
        table.columns = [c for c in table.columns
                         if not _same([table.value(r, c) for r in table.rows])]
    return table


def _sorted(table: Table, col: Column, descending: bool) -> list[Row]:
    out: list[Row] = []
    group: list[Row] = []

    def flush() -> None:
        present = [r for r in group if table.value(r, col) not in (MISSING, None)]
        absent = [r for r in group if r not in present]
        present.sort(key=lambda r: _sort_key(table.value(r, col)), reverse=descending)
        out.extend(present + absent)
        group.clear()

    for row in table.rows:
        if row.typ == EXPERIMENT:
            group.append(row)
        else:
            flush()
            out.append(row)
    flush()
    return out


def _created(when: int | None, *, iso: bool) -> str:
    if when is None:
        return ""
    if iso:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(when))
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(when))


def _labels(rows: Sequence[Row]) -> list[str]:
    """The Experiment column: experiments drawn as a tree under their baseline."""
    labels = []
    for i, row in enumerate(rows):
        if row.typ != EXPERIMENT:
            labels.append(row.label)
            continue
        last = i + 1 == len(rows) or rows[i + 1].typ != EXPERIMENT
        labels.append(("└── " if last else "├── ") + row.label)
    return labels


def render_text(table: Table, *, markdown: bool = False, precision: int | None = 5) -> str:
    """An aligned table (or a GitHub markdown table), numbers right-aligned."""
    from gitext.pipeline.metrics.format import _align, _markdown, format_value

    header = ["Experiment", "rev", "Created", "State", *(c.name for c in table.columns)]
    right = [False, False, False, False, *(True for _ in table.columns)]
    body = []
    for row, label in zip(table.rows, _labels(table.rows), strict=True):
        cells = [label, row.rev[:7] if row.rev else "-", _created(row.created, iso=False)
                 or "-", row.status or "-"]
        cells += [format_value(table.value(row, c), precision) for c in table.columns]
        body.append(cells)
    return (_markdown if markdown else _align)(header, body, right)


def render_csv(table: Table) -> str:
    """One line per row: Experiment, rev, typ, Created, parent, State, then the columns
    (values as read; empty when absent), like ``dvc exp show --csv``."""
    from gitext.pipeline.metrics.format import format_value

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Experiment", "rev", "typ", "Created", "parent", "State",
                     *(c.name for c in table.columns)])
    for row in table.rows:
        values = [table.value(row, c) for c in table.columns]
        writer.writerow([row.label, row.rev, row.typ, _created(row.created, iso=True),
                         row.parent, row.status,
                         *("" if v is MISSING else format_value(v, None) for v in values)])
    return out.getvalue()


def render_json(table: Table) -> str:
    """A list of rows, each with its params and metrics per file (only the shown columns)."""
    shown = {(c.kind, c.file, c.key) for c in table.columns}
    items = []
    for row in table.rows:
        item: dict[str, Any] = {"name": row.label, "rev": row.rev or None, "type": row.typ,
                                "baseline": row.parent or None,
                                "created": _created(row.created, iso=True) or None,
                                "status": row.status or None}
        for kind in KINDS:
            item[kind] = {file: {k: v for k, v in flat.items() if (kind, file, k) in shown}
                          for file, flat in row.values.get(kind, {}).items()}
        if row.errors:
            item["errors"] = dict(row.errors)
        items.append(item)
    return json.dumps(items, indent=2, default=str) + "\n"


def diff_target(repo: Repo, experiments: Sequence[Experiment], spec: str) -> tuple[str, str,
                                                                                   str]:
    """(label, commit, its baseline or '') of an experiment name/ref/sha prefix, or of any
    git revision that names no experiment."""
    from gitext.exp.listing import resolve

    try:
        exp = resolve(experiments, spec)
    except UsageError:
        proc = repo.git("rev-parse", "--verify", "--quiet", spec + "^{commit}", check=False)
        if proc.returncode != 0:
            raise
        return spec, proc.stdout.decode().strip(), ""
    return exp.name, exp.commit, exp.baseline
