"""The pipeline engine: why a stage is stale, ``status`` and ``repro`` (DVC's rules, and more).

A stage is stale when DVC would say so — its command, a dependency, a parameter or an
output differs from what ``dvc.lock`` recorded, an output is missing or not in the cache, or
it is ``always_changed`` — and also when the *set* of its dependencies, parameters or
outputs changed (DVC misses a removed dependency, iterative/dvc#9913), and, in ``status``,
when a stage upstream of it is stale.

``repro`` runs what is stale in dependency order, each line of a command in its own shell
with ``DVC_ROOT``/``DVC_STAGE`` set, up to ``jobs`` stages at once (commands run in worker
threads; hashing, saving and lock writes stay on the calling thread, so the stat cache and
the lock files have one writer). After each stage its outputs go into the store, its
``dvc.lock`` entry is written atomically, and its run is remembered in the run-cache
(``<archives>/runs/``): coming back to inputs seen before restores the outputs instead of
running the command again. A failing stage stops what depends on it; everything else
finishes and keeps its results.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError, PipelineError
from gitext.fs.atomic import atomic_write
from gitext.fs.worktree import WorkTree
from gitext.git.repo import run_git
from gitext.pipeline import dag as dagmod
from gitext.pipeline import dvchash, outputs
from gitext.pipeline.dvchash import LEGACY, MD5, Hasher, HashInfo
from gitext.pipeline.lockfile import (
    Lock,
    LockedFile,
    lock_folding,
    make_entry,
    write_lock,
)
from gitext.pipeline.model import Out, Pipeline, Stage
from gitext.store.objects import LocalStore
from gitext.store.state import StateCache

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

Emit = Callable[[str], None]
LockEntry = dict[str, Any]  # one stage of dvc.lock, as DVC's keys: cmd, deps, params, outs

RUNS_DIR = "runs"
DEFAULT_FOLDING = "0.18"  # write_lock's own default: today's DVC (ruamel.yaml 0.18)


# -- why a stage is stale ----------------------------------------------------------------------

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


class Failure(NamedTuple):
    stage: str
    message: str
    command: str | None = None
    exit_code: int | None = None


class ReproResult:
    __slots__ = ("blocked", "failed", "frozen", "ran", "restored", "seconds", "unchanged",
                 "would_run")

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.restored: list[str] = []  # from the run-cache
        self.unchanged: list[str] = []
        self.frozen: list[str] = []
        self.would_run: list[str] = []  # --dry
        self.failed: list[Failure] = []
        self.blocked: list[str] = []  # not run: an upstream stage failed
        self.seconds: dict[str, float] = {}

    def __repr__(self) -> str:
        return "ReproResult(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in (
            "ran", "restored", "unchanged", "frozen", "would_run", "failed", "blocked")) + ")"

    @property
    def ok(self) -> bool:
        return not self.failed


# -- the project: pipelines, graph, store, locks -----------------------------------------------

def _load_pipelines(root: Path, state: StateCache | None = None) -> list[Pipeline]:
    """Every dvc.yaml under ``root``, from the parse cache in ``state`` when nothing it
    was read from has changed (see :mod:`gitext.pipeline.parsecache`)."""
    from gitext.pipeline import parsecache

    return parsecache.load_pipelines(root, state)


def _lock_entry_dict(entry: Any) -> LockEntry:
    data: LockEntry = entry.to_dict()
    return data


class Project:
    """Everything one ``status`` or ``repro`` needs, loaded once."""

    def __init__(self, root: Path, pipelines: list[Pipeline] | None = None,
                 archives_dir: Path | None = None) -> None:
        self.root = root
        if archives_dir is None:
            from gitext.git.repo import Repo

            archives_dir = Repo.discover(root).archives_dir
        self.archives_dir = archives_dir
        self.state = StateCache(archives_dir / "state.db")
        try:
            self.pipelines = (pipelines if pipelines is not None
                              else _load_pipelines(root, self.state))
            self.graph = dagmod.build_graph(self.pipelines)
            dagmod.detect_problems(self.graph)
        except BaseException:
            self.state.close()
            raise
        self.store = LocalStore(archives_dir, state=self.state)
        self.hasher = Hasher(self.state, root)
        self.wt = WorkTree(root)
        self.locks: dict[Path, Lock] = {}
        self._memo: dict[tuple[str, str], HashInfo | None] = {}
        self._params_memo: dict[str, Any] = {}

    def close(self) -> None:
        self.wt.close()
        self.state.close()

    def lock_for(self, pipeline: Pipeline) -> Lock:
        path = pipeline.lock_file
        if path not in self.locks:
            from gitext.pipeline import parsecache

            self.locks[path] = parsecache.read_lock(path, self.state)
        return self.locks[path]

    def entry(self, sid: str) -> LockEntry | None:
        """The stage's lock entry as DVC's keys (cmd, deps, params, outs), or None."""
        node = self.graph.nodes[sid]
        found = self.lock_for(node.pipeline).stages.get(node.stage.name)
        return None if found is None else _lock_entry_dict(found)

    def forget_hashes(self) -> None:
        """Files changed (a stage ran): hash again from the stat cache."""
        self._memo.clear()
        self._params_memo.clear()

    def hash_path(self, repo_path: str, hash_name: str = MD5) -> HashInfo | None:
        key = (repo_path, hash_name)
        if key not in self._memo:
            self._memo[key] = self.hasher.path(self.root / repo_path, hash_name)
        return self._memo[key]

    def params_data(self, repo_path: str) -> Any:
        """The parsed params file, or None when it does not exist."""
        if repo_path not in self._params_memo:
            from gitext.pipeline import parsecache

            self._params_memo[repo_path] = parsecache.load_params(self.root / repo_path,
                                                                  self.state)
        return self._params_memo[repo_path]

    def has_object(self, md5: str, *, deep: bool = True) -> bool:
        """True when ``md5`` (and, for a directory, every file in it) is in the store."""
        if not dvchash.has_object(self.store, md5):
            return False
        if md5.endswith(".dir") and deep:
            try:
                entries = dvchash.read_manifest(self.store, md5)
            except ArchivesError:
                return False
            return all(self.store.has(ObjectId(MD5, e.md5)) for e in entries)
        return True


# -- lock entries --------------------------------------------------------------------------------

def cmd_value(stage: Stage) -> str | list[str]:
    """The command as dvc.yaml wrote it (one string, or a list) — what the lock records."""
    return stage.lock_cmd


def cmd_lines(stage: Stage) -> list[str]:
    """What runs, each in its own shell: a list's items; a string's lines (DVC's rule)."""
    if len(stage.cmd) == 1 and not stage.cmd_is_list:  # a list's item is one script
        return [line for line in stage.cmd[0].splitlines() if line.strip()]
    return [c for c in stage.cmd if c.strip()]


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


def _hash_name(entry: dict[str, Any]) -> str:
    """DVC 3 entries say ``hash: md5``; DVC 2's (no ``hash`` key) are md5-dos2unix."""
    return MD5 if entry.get("hash") == "md5" else LEGACY


def _recorded_md5(entry: dict[str, Any], where: str) -> str | None:
    value = entry.get("md5")
    if value is None:
        return None
    return dvchash.check_md5(str(value), where=where)


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


# -- staleness -----------------------------------------------------------------------------------

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


def _select(project: Project, targets: Sequence[str] | None, *, downstream: bool = False,
            single_item: bool = False) -> list[str]:
    graph = project.graph
    ids = dagmod.resolve_targets(graph, targets, root=project.root) if targets else None
    if single_item:
        chosen = set(ids) if ids is not None else set(graph.nodes)
        return [s for s in dagmod.topological_order(graph) if s in chosen]
    return dagmod.topological_order(graph, ids, downstream=downstream)


def status_of(project: Project, targets: Sequence[str] | None = None) -> StatusReport:
    order = _select(project, targets)
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


# -- running -------------------------------------------------------------------------------------

def _shell_argv(cmd: str) -> list[str]:
    """The user's shell without rc files, as DVC runs a command."""
    shell = os.environ.get("SHELL") or "/bin/sh"
    name = Path(shell).name.lower()
    opts = {"zsh": ["--no-rcs"], "bash": ["--noprofile", "--norc"]}.get(name, [])
    return [shell, *opts, "-c", cmd]


class _RunOutcome(NamedTuple):
    exit_code: int
    command: str | None  # the failing line
    seconds: float


class _Runner:
    """Runs one stage's command lines; killable from the main thread."""

    def __init__(self, root: Path, sid: str, stage: Stage, *, emit: Emit, prefix: str,
                 inherit: bool) -> None:
        self.root = root
        self.sid = sid
        self.stage = stage
        self.emit = emit
        self.prefix = prefix
        self.inherit = inherit
        self.proc: subprocess.Popen[bytes] | None = None
        self.cancelled = False

    def run(self) -> _RunOutcome:
        start = time.monotonic()
        env = dict(os.environ)
        env.setdefault("DVC_ROOT", os.fspath(self.root))
        env["DVC_STAGE"] = self.sid
        cwd = self.root / self.stage.repo_wdir
        for line in cmd_lines(self.stage):
            if self.cancelled:
                return _RunOutcome(130, line, time.monotonic() - start)
            self.emit(f"{self.prefix}> {line}")
            try:
                if self.inherit:
                    self.proc = subprocess.Popen(_shell_argv(line), cwd=cwd, env=env)
                else:
                    self.proc = subprocess.Popen(
                        _shell_argv(line), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                    assert self.proc.stdout is not None
                    for raw in self.proc.stdout:
                        text = raw.decode("utf-8", "replace").rstrip("\r\n")
                        self.emit(f"{self.prefix}{text}")
                code = self.proc.wait()
            except OSError as exc:
                self.emit(f"{self.prefix}cannot start the shell: {exc}")
                return _RunOutcome(127, line, time.monotonic() - start)
            if code != 0:
                return _RunOutcome(code, line, time.monotonic() - start)
        return _RunOutcome(0, None, time.monotonic() - start)

    def kill(self) -> None:
        self.cancelled = True
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()


def ensure_gitignored(wt: WorkTree, repo_paths: Sequence[str]) -> None:
    """Add ``/name`` to the ``.gitignore`` beside each path not yet ignored, as DVC does."""
    # The usual case, a path whose own line is already there (a stage run before), costs
    # a read of that .gitignore and no git process.
    root = wt.root
    todo: list[tuple[str, Path, str, str]] = []  # (repo path, .gitignore, entry, its text)
    for repo_path in repo_paths:
        target = root / repo_path
        gitignore = target.parent / ".gitignore"
        entry = "/" + _escape_gitignore(target.name)
        try:
            text = gitignore.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        if entry + "\n" not in text.splitlines(keepends=True):
            todo.append((repo_path, gitignore, entry, text))
    if not todo:
        return
    proc = run_git(
        ["check-ignore", "--no-index", "--stdin", "-z"], cwd=root,
        input_bytes=b"".join(t[0].encode() + b"\0" for t in todo), check=False)
    ignored = {p.decode() for p in proc.stdout.split(b"\0") if p}
    for repo_path, gitignore, entry, _text in todo:
        if repo_path in ignored:
            continue
        try:  # read again: an earlier path of this loop may have added to the same file
            text = gitignore.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        if entry + "\n" in text.splitlines(keepends=True):
            continue
        prefix = "" if not text or text.endswith("\n") else "\n"
        wt.write_bytes(gitignore.relative_to(root).as_posix(),
                       (text + prefix + entry + "\n").encode("utf-8"))


def _escape_gitignore(name: str) -> str:
    out = "".join("\\" + c if c in "[]!*#?" else c for c in name)
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


# -- run-cache -----------------------------------------------------------------------------------

def run_cache_key(project: Project, stage: Stage, deps: list[dict[str, Any]],
                  params: dict[str, Any]) -> str | None:
    """The run-cache key of a stage's inputs, or None when its runs cannot be cached
    (no command, deps or outs; ``always_changed``; a ``persist`` output)."""
    if (not stage.cmd or not stage.deps or not stage.outs or stage.always_changed
            or any(o.persist for o in stage.outs)):
        return None
    doc = {
        "cmd": cmd_lines(stage),
        "wdir": stage.repo_wdir,
        "deps": sorted([d["path"], d["md5"]] for d in deps),
        "params": params,
        "outs": sorted([o.path, o.cache] for o in stage.outs),
    }
    import json

    text = json.dumps(doc, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _run_cache_path(project: Project, key: str) -> Path:
    return project.archives_dir / RUNS_DIR / key[:2] / key[2:]


def _run_cache_load(project: Project, key: str) -> list[dict[str, Any]] | None:
    try:
        import json

        raw = json.loads(_run_cache_path(project, key).read_text(encoding="utf-8"))
        outs = raw["outs"]
        for o in outs:
            dvchash.check_md5(o["md5"], where="run-cache entry")
    except (OSError, ValueError, KeyError, TypeError, ArchivesError):
        return None
    return outs if isinstance(outs, list) else None


def _run_cache_save(project: Project, key: str, outs: list[dict[str, Any]]) -> None:
    path = _run_cache_path(project, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    import json

    atomic_write(path, json.dumps({"outs": outs}, sort_keys=True).encode("utf-8"))


# -- repro ---------------------------------------------------------------------------------------

class _Repro:
    def __init__(self, project: Project, *, jobs: int, force: bool, dry: bool,
                 emit: Emit, inherit_output: bool) -> None:
        self.p = project
        self.jobs = max(1, jobs)
        self.force = force
        self.dry = dry
        self.emit = emit
        self.inherit = inherit_output and self.jobs == 1
        self.result = ReproResult()
        self._emit_lock = threading.Lock()
        self._folding: dict[Path, str] = {}  # lock file -> its line-folding rule

    def say(self, text: str) -> None:
        with self._emit_lock:
            self.emit(text)

    def run(self, order: list[str]) -> ReproResult:
        graph = self.p.graph
        selected = set(order)
        preds = {s: [p for p in graph.predecessors[s] if p in selected] for s in order}
        done: set[str] = set()  # finished fine (ran, restored, unchanged, frozen)
        changed: set[str] = set()  # ran or restored (for --dry: would run)
        dead: set[str] = set()  # failed or blocked
        pending = list(order)
        running: dict[Future[_RunOutcome], tuple[str, _Runner]] = {}
        pool: ThreadPoolExecutor | None = None  # made when a command first runs
        try:
            while pending or running:
                progressed = False
                for sid in list(pending):
                    if len(running) >= self.jobs:
                        break
                    if any(p in dead for p in preds[sid]):
                        pending.remove(sid)
                        dead.add(sid)
                        self.result.blocked.append(sid)
                        self.say(f"Stage '{sid}' not run: a stage it depends on failed")
                        progressed = True
                        continue
                    if not all(p in done for p in preds[sid]):
                        continue
                    pending.remove(sid)
                    progressed = True
                    runner = self._start(sid, any(p in changed for p in preds[sid]))
                    if runner is None:
                        if sid in self.result.ran or sid in self.result.restored or \
                                sid in self.result.would_run:
                            changed.add(sid)
                        if any(f.stage == sid for f in self.result.failed):
                            dead.add(sid)
                        else:
                            done.add(sid)
                        continue
                    if pool is None:
                        # Only a run needs threads: a no-op repro never imports them.
                        from concurrent.futures import ThreadPoolExecutor

                        pool = ThreadPoolExecutor(max_workers=self.jobs)
                    running[pool.submit(runner.run)] = (sid, runner)
                if not running:
                    if pending and not progressed:  # pragma: no cover - the graph is acyclic
                        raise PipelineError("the pipeline cannot make progress (a cycle?)")
                    continue
                from concurrent.futures import FIRST_COMPLETED, wait

                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    sid, _runner = running.pop(fut)
                    if self._finish(sid, fut.result()):
                        done.add(sid)
                        changed.add(sid)
                    else:
                        dead.add(sid)
        except BaseException:
            for _sid, runner in running.values():
                runner.kill()
            raise
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            self.p.hasher.flush()
        return self.result

    # -- one stage, before its command ---------------------------------------------------------
    def _start(self, sid: str, upstream_changed: bool) -> _Runner | None:
        node = self.p.graph.nodes[sid]
        stage = node.stage
        if stage.frozen:
            self.say(f"Stage '{sid}' is frozen: not reproduced")
            self.result.frozen.append(sid)
            return None
        reasons = evaluate(self.p, sid)
        if not reasons and not self.force and not (self.dry and upstream_changed):
            self.say(f"Stage '{sid}' didn't change, skipping")
            self.result.unchanged.append(sid)
            return None
        if self.dry:
            why = "; ".join(str(r) for r in reasons) or (
                "forced" if self.force else "an upstream stage would run")
            self.say(f"Would run stage '{sid}' ({why})")
            for line in cmd_lines(stage):
                self.say(f"> {line}")
            self.result.would_run.append(sid)
            return None
        try:
            self._check_deps(sid, stage)
            params = current_params(self.p, stage)
            # --force means run the command (as DVC: no run-cache restore).
            restored = not self.force and self._try_run_cache(sid, node.pipeline, stage,
                                                               params)
        except ArchivesError as exc:
            self._fail(sid, exc.message)
            return None
        if restored:
            return None
        self.say(f"Running stage '{sid}':")
        for out in stage.outs:
            if out.persist:
                outputs.unprotect(self.p.wt, out.repo_path)
            else:
                outputs.remove_output(self.p.wt, out.repo_path)
        prefix = f"[{sid}] " if self.jobs > 1 else ""
        return _Runner(self.p.root, sid, stage, emit=self.say, prefix=prefix,
                       inherit=self.inherit)

    def _check_deps(self, sid: str, stage: Stage) -> None:
        for dep in stage.deps:
            if not (self.p.root / dep.repo_path).exists():
                raise PipelineError(
                    f"stage '{sid}': dependency '{dep.path}' does not exist",
                    hint="create it, or add the stage that produces it as an output")

    def _current_deps(self, sid: str, stage: Stage) -> list[dict[str, Any]]:
        deps = []
        for dep in stage.deps:
            info = self.p.hash_path(dep.repo_path)
            if info is None:
                raise PipelineError(
                    f"stage '{sid}': dependency '{dep.path}' is gone after the stage ran",
                    hint="a stage must not delete its own dependencies; dvc.lock was "
                         "left as it was")
            deps.append(hash_entry(dep.path, info))
        return sorted(deps, key=lambda d: d["path"])

    def _try_run_cache(self, sid: str, pipeline: Pipeline, stage: Stage,
                       params: dict[str, Any]) -> bool:
        deps = self._current_deps(sid, stage)
        key = run_cache_key(self.p, stage, deps, params)
        if key is None:
            return False
        outs = _run_cache_load(self.p, key)
        if outs is None:
            return False
        by_path = {o.get("path"): o for o in outs}
        if any(o.path not in by_path or not self.p.has_object(by_path[o.path]["md5"])
               for o in stage.outs):
            return False
        start = time.monotonic()
        self.say(f"Stage '{sid}' is cached - skipping run, checking out outputs")
        for out in stage.outs:
            outputs.remove_output(self.p.wt, out.repo_path)
            outputs.place_object(self.p.store, self.p.hasher, by_path[out.path]["md5"],
                                 self.p.wt, out.repo_path, hardlink=out.cache)
        self.p.forget_hashes()
        out_entries = [self._out_entry(out, by_path[out.path]) for out in stage.outs]
        self._record(pipeline, stage, deps=deps, params=params, outs=out_entries)
        self.result.restored.append(sid)
        self.result.seconds[sid] = time.monotonic() - start
        return True

    @staticmethod
    def _out_entry(out: Out, rec: dict[str, Any]) -> dict[str, Any]:
        info = HashInfo(str(rec["md5"]), rec.get("size"), rec.get("nfiles"),
                        bool(rec.get("isexec")))
        return hash_entry(out.path, info)

    # -- one stage, after its command ----------------------------------------------------------
    def _finish(self, sid: str, outcome: _RunOutcome) -> bool:
        node = self.p.graph.nodes[sid]
        stage = node.stage
        self.result.seconds[sid] = outcome.seconds
        self.p.forget_hashes()
        if outcome.exit_code != 0:
            self._fail(sid, f"command '{outcome.command}' exited with code "
                            f"{outcome.exit_code}", outcome.command, outcome.exit_code)
            return False
        try:
            deps = self._current_deps(sid, stage)
            params = current_params(self.p, stage)
            out_entries: list[dict[str, Any]] = []
            cacheable: list[str] = []
            key = run_cache_key(self.p, stage, deps, params)
            for out in stage.outs:
                path = self.p.root / out.repo_path
                if not path.exists():
                    raise PipelineError(
                        f"stage '{sid}': the command did not create output '{out.path}'",
                        hint="make the command write it, or remove it from the stage's outs")
                if out.cache or key is not None:
                    info = dvchash.save_path(self.p.store, self.p.hasher, path)
                else:
                    found = self.p.hash_path(out.repo_path)
                    assert found is not None
                    info = found
                if out.cache:
                    cacheable.append(out.repo_path)
                out_entries.append(hash_entry(out.path, info))
            self._record(node.pipeline, stage, deps=deps, params=params, outs=out_entries)
            ensure_gitignored(self.p.wt, cacheable)
            if key is not None:
                _run_cache_save(self.p, key, out_entries)
        except ArchivesError as exc:
            self._fail(sid, exc.message)
            return False
        except OSError as exc:
            self._fail(sid, f"cannot save the outputs: {exc}")
            return False
        self.result.ran.append(sid)
        self.say(f"Stage '{sid}' finished in {outcome.seconds:.2f} s")
        return True

    def _record(self, pipeline: Pipeline, stage: Stage, *, deps: list[dict[str, Any]],
                params: dict[str, Any], outs: list[dict[str, Any]]) -> None:
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

    def _fail(self, sid: str, message: str, command: str | None = None,
              exit_code: int | None = None) -> None:
        self.result.failed.append(Failure(sid, message, command, exit_code))
        self.say(f"ERROR: stage '{sid}' failed: {message}")


def repro(root: Path, targets: Sequence[str] | None = None, *, jobs: int = 1,
          force: bool = False, dry: bool = False, downstream: bool = False,
          single_item: bool = False, out: Emit | None = None,
          inherit_output: bool = False, pipelines: list[Pipeline] | None = None,
          archives_dir: Path | None = None) -> ReproResult:
    """Bring the selected stages up to date (see the module docstring). ``out`` receives
    every line of progress and command output; ``inherit_output`` lets a single-job run's
    commands write straight to this process's stdout/stderr instead."""
    emit: Emit = out if out is not None else (lambda line: print(line, file=sys.stdout,
                                                               flush=True))
    project = Project(root, pipelines, archives_dir)
    try:
        order = _select(project, targets, downstream=downstream, single_item=single_item)
        return _Repro(project, jobs=jobs, force=force, dry=dry, emit=emit,
                      inherit_output=inherit_output).run(order)
    finally:
        project.close()
