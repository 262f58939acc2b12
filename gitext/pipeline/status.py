"""Why a stage is stale, and ``status``: which stages are stale and why.

A stage is stale when DVC would say so — its command, a dependency, a parameter or an
output differs from what ``dvc.lock`` recorded, an output is missing or not in the cache, or
it is ``always_changed`` — and also when the *set* of its dependencies, parameters or
outputs changed (DVC misses a removed dependency, iterative/dvc#9913), and, in ``status``,
when a stage upstream of it is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from gitext.errors import ArchivesError
from gitext.pipeline.dvchash.md5 import LEGACY, MD5
from gitext.pipeline.model import Pipeline, Stage
from gitext.pipeline.project import LockEntry, Project, select_stages
from gitext.pipeline.runner import cmd_value
from gitext.store import manifests


class Reason(NamedTuple):
    """One cause of staleness. ``kind`` is one of: ``not-run``, ``cmd``, ``always-changed``,
    ``dep`` / ``param`` / ``out`` (``change`` is modified, new, deleted or not in cache),
    ``deps-set`` / ``params-set`` / ``outs-set`` (the declared list changed)."""

    kind: str
    path: str | None = None
    change: str | None = None
    detail: str | None = None

    def __str__(self) -> str:
        if self.kind == "not-run":
            return "never run (no entry in dvc.lock)"
        if self.kind == "cmd":
            return "command changed"
        if self.kind == "always-changed":
            return "always changed"
        if self.kind.endswith("-set"):
            return f"{self.kind[:-4].rstrip('s')} list changed: {self.detail}"
        return f"{self.kind} {self.path} {self.change}"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("kind", self.kind), ("path", self.path),
                                  ("change", self.change), ("detail", self.detail)) if v}


class StageStatus:
    # Plain classes, not dataclasses, here and below: each dataclass costs ~1 ms of import,
    # paid by every `status` and `repro`.
    __slots__ = ("frozen", "id", "reasons", "upstream")

    def __init__(self, id: str, reasons: list[Reason] | None = None,
                 upstream: list[str] | None = None, frozen: bool = False) -> None:
        self.id = id
        self.reasons = reasons if reasons is not None else []
        self.upstream = upstream if upstream is not None else []  # stale stages it needs
        self.frozen = frozen

    def __repr__(self) -> str:
        return (f"StageStatus({self.id!r}, reasons={self.reasons!r}, "
                f"upstream={self.upstream!r}, frozen={self.frozen!r})")

    @property
    def stale(self) -> bool:
        return bool(self.reasons or self.upstream)

    def describe(self) -> str:
        parts = [str(r) for r in self.reasons]
        if self.upstream:
            parts.append("upstream stale: " + ", ".join(self.upstream))
        if self.frozen:
            parts.append("frozen (repro will not run it)")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.id, "stale": self.stale, "frozen": self.frozen,
                "reasons": [r.to_dict() for r in self.reasons], "upstream": self.upstream}


class StatusReport:
    __slots__ = ("stages",)

    def __init__(self, stages: list[StageStatus]) -> None:
        self.stages = stages  # in run order

    def __repr__(self) -> str:
        return f"StatusReport({self.stages!r})"

    @property
    def stale(self) -> list[StageStatus]:
        return [s for s in self.stages if s.stale]

    @property
    def up_to_date(self) -> bool:
        return not self.stale

    def to_dict(self) -> dict[str, Any]:
        return {"up_to_date": self.up_to_date, "stages": [s.to_dict() for s in self.stages]}



def _hash_name(entry: dict[str, Any]) -> str:
    """DVC 3 entries say ``hash: md5``; DVC 2's (no ``hash`` key) are md5-dos2unix."""
    return MD5 if entry.get("hash") == "md5" else LEGACY


def _recorded_md5(entry: dict[str, Any], where: str) -> str | None:
    value = entry.get("md5")
    if value is None:
        return None
    return manifests.check_md5(str(value), where=where)



def evaluate(project: Project, sid: str) -> list[Reason]:
    """Why ``sid`` must run, DVC's rules plus changed sets; [] when it is up to date."""
    node = project.graph.nodes[sid]
    stage = node.stage
    entry = project.entry(sid)
    if entry is None:
        return [Reason("not-run")]
    reasons: list[Reason] = []
    where = f"{node.pipeline.lock_file}: stage '{stage.name}'"
    # DVC's "callback" stage (a command with no deps, params or outs) always runs too.
    callback = not (stage.deps or stage.params or stage.outs)
    if (stage.always_changed or callback) and not stage.frozen:
        reasons.append(Reason("always-changed"))
    # DVC compares the exact form too: a lock's "x" is a changed command for dvc.yaml's [x].
    if entry.get("cmd") != cmd_value(stage):
        reasons.append(Reason("cmd"))
    if not stage.frozen:
        reasons += _dep_reasons(project, stage, entry, where)
        reasons += _param_reasons(project, stage, entry)
    reasons += _out_reasons(project, stage, entry, where)
    return reasons


def _set_reason(kind: str, declared: set[str], recorded: set[str]) -> list[Reason]:
    if declared == recorded:
        return []
    parts = []
    if declared - recorded:
        parts.append("added " + ", ".join(sorted(declared - recorded)))
    if recorded - declared:
        parts.append("removed " + ", ".join(sorted(recorded - declared)))
    return [Reason(kind, detail="; ".join(parts))]


def _entries_by_path(items: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {str(d["path"]): d for d in items if isinstance(d, dict) and "path" in d}


def _compare_hash(project: Project, repo_path: str, rec: dict[str, Any],
                  where: str) -> str | None:
    """None when the path still has the recorded id; else ``deleted`` or ``modified``."""
    info = project.hash_path(repo_path, _hash_name(rec))
    if info is None:
        return "deleted"
    recorded = _recorded_md5(rec, where)
    if recorded is None or recorded != info.md5:
        return "modified"
    return None


def _dep_reasons(project: Project, stage: Stage, entry: LockEntry, where: str) -> list[Reason]:
    recorded = _entries_by_path(entry.get("deps"))
    reasons = _set_reason("deps-set", {d.path for d in stage.deps}, set(recorded))
    for dep in stage.deps:
        rec = recorded.get(dep.path)
        if rec is None:
            reasons.append(Reason("dep", dep.path, "new"))
            continue
        change = _compare_hash(project, dep.repo_path, rec, where)
        if change:
            reasons.append(Reason("dep", dep.path, change))
    return reasons


def _param_reasons(project: Project, stage: Stage, entry: LockEntry) -> list[Reason]:
    from gitext.pipeline import params as paramsmod

    recorded = entry.get("params") or {}
    if not isinstance(recorded, dict):
        recorded = {}
    declared: set[str] = set()
    reasons: list[Reason] = []
    for pdep in stage.params:
        rec = recorded.get(pdep.file)
        rec = rec if isinstance(rec, dict) else {}
        data = project.params_data(pdep.repo_path)
        if data is None:
            reasons.append(Reason("param", pdep.file, "deleted"))
            declared.update(f"{pdep.file}:{k}" for k in (pdep.keys or rec.keys()))
            continue
        if pdep.keys is None:
            current = data if isinstance(data, dict) else {}
            keys = list(dict.fromkeys([*current.keys(), *rec.keys()]))
            declared.update(f"{pdep.file}:{k}" for k in current)
        else:
            keys = list(pdep.keys)
            declared.update(f"{pdep.file}:{k}" for k in keys)
            current = {}
            for key in keys:
                try:
                    current[key] = paramsmod.get_param(data, key)
                except (KeyError, IndexError, TypeError, ArchivesError):
                    pass
        for key in keys:
            name = f"{pdep.file}:{key}"
            if key not in current:
                reasons.append(Reason("param", name, "deleted"))
            elif key not in rec:
                reasons.append(Reason("param", name, "new"))
            elif not _same_value(current[key], rec[key]):
                reasons.append(Reason("param", name, "modified"))
    recorded_keys = {f"{f}:{k}" for f, vals in recorded.items() if isinstance(vals, dict)
                     for k in vals}
    reasons += _set_reason("params-set", declared, recorded_keys)
    return reasons


def _same_value(a: Any, b: Any) -> bool:
    """DVC's comparison: plain equality, a tuple equal to the same list."""
    if isinstance(a, tuple):
        a = list(a)
    if isinstance(b, tuple):
        b = list(b)
    return bool(a == b)


def _out_reasons(project: Project, stage: Stage, entry: LockEntry, where: str) -> list[Reason]:
    recorded = _entries_by_path(entry.get("outs"))
    reasons = _set_reason("outs-set", {o.path for o in stage.outs}, set(recorded))
    for out in stage.outs:
        rec = recorded.get(out.path)
        if rec is None:
            reasons.append(Reason("out", out.path, "new"))
            continue
        change = _compare_hash(project, out.repo_path, rec, where)
        if change:
            reasons.append(Reason("out", out.path, change))
            continue
        md5 = _recorded_md5(rec, where)
        if out.cache and md5 and _hash_name(rec) == MD5 and not project.has_object(md5):
            reasons.append(Reason("out", out.path, "not in cache"))
    return reasons



def status_of(project: Project, targets: Sequence[str] | None = None) -> StatusReport:
    order = select_stages(project, targets)
    by_id: dict[str, StageStatus] = {}
    for sid in order:
        node = project.graph.nodes[sid]
        st = StageStatus(sid, evaluate(project, sid), frozen=node.stage.frozen)
        st.upstream = [p for p in project.graph.predecessors[sid]
                       if p in by_id and by_id[p].stale]
        by_id[sid] = st
    project.hasher.flush()
    return StatusReport([by_id[s] for s in order])


def status(root: Path, targets: Sequence[str] | None = None, *,
           pipelines: list[Pipeline] | None = None,
           archives_dir: Path | None = None) -> StatusReport:
    """Which stages are stale and why (downstream of a stale stage counts as stale)."""
    project = Project(root, pipelines, archives_dir)
    try:
        return status_of(project, targets)
    finally:
        project.close()

