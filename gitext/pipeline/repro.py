"""``repro``: run what is stale, in dependency order, and record what it made.

Each line of a command runs in its own shell (:mod:`gitext.pipeline.runner`), up to ``jobs``
stages at once (commands run in worker threads; hashing, saving and lock writes stay on the
calling thread, so the stat cache and the lock files have one writer). After each stage its
outputs go into the store, its ``dvc.lock`` entry is written atomically, and its run is
remembered in the run-cache (:mod:`gitext.pipeline.runcache`): coming back to inputs seen
before restores the outputs instead of running the command again. A failing stage stops
what depends on it; everything else finishes and keeps its results.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gitext.codec.shellquote import shell_arg
from gitext.errors import ArchivesError, PipelineError
from gitext.pipeline import outputs, runcache
from gitext.pipeline.dvcdata import TrackedData
from gitext.pipeline.dvchash.tree import HashInfo, save_path
from gitext.pipeline.gitignore import ensure_gitignored
from gitext.pipeline.model import Out, Pipeline, Stage
from gitext.pipeline.project import Project, select_stages
from gitext.pipeline.runner import Emit, Runner, RunOutcome, cmd_lines
from gitext.pipeline.stagerecord import LockRecorder, current_params, hash_entry
from gitext.pipeline.status import evaluate

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor


class Failure(NamedTuple):
    stage: str
    message: str
    command: str | None = None
    exit_code: int | None = None


class ReproResult:
    __slots__ = ("blocked", "failed", "frozen", "missing", "ran", "restored", "seconds",
                 "stopped", "touched", "unchanged", "would_run")

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.restored: list[str] = []  # from the run-cache
        self.unchanged: list[str] = []
        self.frozen: list[str] = []
        self.would_run: list[str] = []  # --dry
        self.failed: list[Failure] = []
        self.blocked: list[str] = []  # not run: an upstream stage failed
        self.stopped: list[str] = []  # not run: a stage failed and keep_going is off
        self.missing: list[str] = []  # skipped: only data is missing (allow_missing)
        # files git tracks that this run wrote (locks) or may have (.gitignore beside each
        # cached output), relative to the repository's root: what to `git add`
        self.touched: dict[str, None] = {}
        self.seconds: dict[str, float] = {}

    def __repr__(self) -> str:
        return "ReproResult(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in (
            "ran", "restored", "unchanged", "frozen", "would_run", "failed", "blocked",
            "stopped", "missing")) + ")"

    @property
    def ok(self) -> bool:
        return not self.failed


# -- repro ---------------------------------------------------------------------------------------

# What --allow-missing forgives: data absent from the work tree or the cache, nothing else.
_MISSING = {("dep", "deleted"), ("out", "deleted"), ("out", "not in cache")}


class _Repro:
    def __init__(self, project: Project, *, jobs: int, force: bool, dry: bool,
                 emit: Emit, inherit_output: bool, keep_going: bool = True,
                 allow_missing: bool = False) -> None:
        self.p = project
        self.jobs = max(1, jobs)
        self.force = force
        self.dry = dry
        self.keep_going = keep_going
        self.allow_missing = allow_missing
        self.emit = emit
        self.inherit = inherit_output and self.jobs == 1
        self.result = ReproResult()
        self._emit_lock = threading.Lock()
        self._recorder = LockRecorder(project)
        self._tracked = TrackedData(project.root, project.store)

    def say(self, text: str) -> None:
        with self._emit_lock:
            self.emit(text)

    def run(self, order: list[str]) -> ReproResult:
        graph = self.p.graph
        selected = set(order)
        self._preds = {s: [p for p in graph.predecessors[s] if p in selected] for s in order}
        self._done: set[str] = set()  # finished fine (ran, restored, unchanged, frozen)
        self._changed: set[str] = set()  # ran or restored (for --dry: would run)
        self._dead: set[str] = set()  # failed or blocked
        self._pending = list(order)
        self._running: dict[Future[RunOutcome], tuple[str, Runner]] = {}
        self._pool: ThreadPoolExecutor | None = None  # made when a command first runs
        try:
            while self._pending or self._running:
                progressed = self._launch_ready()
                if not self._running:
                    if self._pending and not progressed:  # pragma: no cover - acyclic graph
                        raise PipelineError("the pipeline cannot make progress (a cycle?)")
                    continue
                self._collect_finished()
        except BaseException:
            for _sid, runner in self._running.values():
                runner.kill()
            raise
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self.p.hasher.flush()
        return self.result

    # -- scheduling ------------------------------------------------------------------------------
    def _launch_ready(self) -> bool:
        """Start (or settle) every pending stage whose upstream is done, up to ``jobs``
        running; block those whose upstream failed. True when a stage left ``pending``."""
        preds = self._preds
        progressed = False
        if self.result.failed and not self.keep_going and self._pending:
            self.result.stopped += self._pending
            self._dead.update(self._pending)
            self._pending.clear()
            return True
        for sid in list(self._pending):
            if len(self._running) >= self.jobs:
                break
            if any(p in self._dead for p in preds[sid]):
                self._pending.remove(sid)
                self._dead.add(sid)
                self.result.blocked.append(sid)
                self.say(f"Stage '{sid}' not run: a stage it depends on failed")
                progressed = True
                continue
            if not all(p in self._done for p in preds[sid]):
                continue
            self._pending.remove(sid)
            progressed = True
            runner = self._start(sid, any(p in self._changed for p in preds[sid]))
            if runner is None:
                self._settle(sid)
                continue
            if self._pool is None:
                # Only a run needs threads: a no-op repro never imports them.
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=self.jobs)
            # A command may run for long: hold no write lock on state.db meanwhile (other
            # repros, e.g. experiments run side by side, would wait on it).
            self.p.hasher.flush()
            self._running[self._pool.submit(runner.run)] = (sid, runner)
        return progressed

    def _settle(self, sid: str) -> None:
        """File a stage that ended without a command running (skipped, restored, failed)."""
        if sid in self.result.ran or sid in self.result.restored or \
                sid in self.result.would_run:
            self._changed.add(sid)
        if any(f.stage == sid for f in self.result.failed):
            self._dead.add(sid)
        else:
            self._done.add(sid)

    def _collect_finished(self) -> None:
        """Wait for at least one running command, then record what finished."""
        from concurrent.futures import FIRST_COMPLETED, wait

        finished, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        for fut in finished:
            sid, _runner = self._running.pop(fut)
            if self._finish(sid, fut.result()):
                self._done.add(sid)
                self._changed.add(sid)
            else:
                self._dead.add(sid)

    # -- one stage, before its command ---------------------------------------------------------
    def _start(self, sid: str, upstream_changed: bool) -> Runner | None:
        node = self.p.graph.nodes[sid]
        stage = node.stage
        if stage.frozen:
            self.say(f"Stage '{sid}' is frozen: not reproduced")
            self.result.frozen.append(sid)
            return None
        if self._settled_without_running(sid, stage, upstream_changed):
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
        return Runner(self.p.root, sid, stage, emit=self.say, prefix=prefix,
                       inherit=self.inherit)

    def _settled_without_running(self, sid: str, stage: Stage, upstream_changed: bool) -> bool:
        """Skip an unchanged stage (or, with allow_missing, one whose data alone is missing),
        or say what --dry would run: True when the stage needs nothing more."""
        reasons = evaluate(self.p, sid)
        if reasons and self.allow_missing and not self.force \
                and self._only_missing(sid, reasons):
            self.say(f"Stage '{sid}' didn't change, skipping (its data is missing: "
                     + "; ".join(str(r) for r in reasons) + ")")
            self.result.missing.append(sid)
            return True
        if not reasons and not self.force and not (self.dry and upstream_changed):
            self.say(f"Stage '{sid}' didn't change, skipping")
            self.result.unchanged.append(sid)
            return True
        if self.dry:
            why = "; ".join(str(r) for r in reasons) or (
                "forced" if self.force else "an upstream stage would run")
            self.say(f"Would run stage '{sid}' ({why})")
            for line in cmd_lines(stage):
                self.say(f"> {line}")
            self.result.would_run.append(sid)
            return True
        return False

    def _only_missing(self, sid: str, reasons: list[Any]) -> bool:
        """DVC's --allow-missing: every reason is data missing from the work tree or the
        cache, and no missing dependency is made by a stage that ran (or would run) here."""
        if not all((r.kind, r.change) in _MISSING for r in reasons):
            return False
        made_here = {out.repo_path for pred in self.p.graph.predecessors[sid]
                     if pred in self._changed for out in self.p.graph.nodes[pred].stage.outs}
        stage = self.p.graph.nodes[sid].stage
        deps = {d.path: d.repo_path for d in stage.deps}
        return not any(r.kind == "dep" and deps.get(r.path or "") in made_here
                       for r in reasons)

    def _check_deps(self, sid: str, stage: Stage) -> None:
        for dep in stage.deps:
            if not (self.p.root / dep.repo_path).exists():
                raise PipelineError(
                    f"stage '{sid}': dependency '{dep.path}' does not exist",
                    hint="create it, or add the stage that produces it as an output")
            unfetched = self._tracked.unfetched(dep.repo_path)
            if unfetched is not None:
                file, path = unfetched
                raise PipelineError(
                    f"stage '{sid}': dependency '{dep.path}': {file} records data for "
                    f"'{path}' that is not in the cache (a teammate's new data?); running "
                    "now would record results of what is on disk instead",
                    hint="'git archives pull' brings the recorded data; or record yours "
                         f"first with 'dvc add {shell_arg(path)}'")

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
        key = runcache.run_key(stage, deps, params)
        if key is None:
            return False
        outs = runcache.load_entry(self.p.archives_dir, key)
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
    def _finish(self, sid: str, outcome: RunOutcome) -> bool:
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
            key = runcache.run_key(stage, deps, params)
            for out in stage.outs:
                path = self.p.root / out.repo_path
                if not path.exists():
                    raise PipelineError(
                        f"stage '{sid}': the command did not create output '{out.path}'",
                        hint="make the command write it, or remove it from the stage's outs")
                if out.cache or key is not None:
                    info = save_path(self.p.store, self.p.hasher, path)
                else:
                    found = self.p.hash_path(out.repo_path)
                    assert found is not None
                    info = found
                if out.cache:
                    cacheable.append(out.repo_path)
                out_entries.append(hash_entry(out.path, info))
            self._record(node.pipeline, stage, deps=deps, params=params, outs=out_entries)
            ensure_gitignored(self.p.wt, cacheable)
            self.result.touched.update(dict.fromkeys(_gitignore_of(p) for p in cacheable))
            if key is not None:
                runcache.save_entry(self.p.archives_dir, key, out_entries)
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
        lock_path = self._recorder.record(pipeline, stage, deps=deps, params=params, outs=outs)
        self.result.touched[lock_path] = None

    def _fail(self, sid: str, message: str, command: str | None = None,
              exit_code: int | None = None) -> None:
        self.result.failed.append(Failure(sid, message, command, exit_code))
        self.say(f"ERROR: stage '{sid}' failed: {message}")


def _gitignore_of(repo_path: str) -> str:
    folder = repo_path.rpartition("/")[0]
    return f"{folder}/.gitignore" if folder else ".gitignore"


def repro(root: Path, targets: Sequence[str] | None = None, *, jobs: int = 1,
          force: bool = False, dry: bool = False, downstream: bool = False,
          single_item: bool = False, out: Emit | None = None,
          inherit_output: bool = False, pipelines: list[Pipeline] | None = None,
          archives_dir: Path | None = None, keep_going: bool = True,
          allow_missing: bool = False) -> ReproResult:
    """Bring the selected stages up to date (see the module docstring). ``out`` receives
    every line of progress and command output; ``inherit_output`` lets a single-job run's
    commands write straight to this process's stdout/stderr instead. Without
    ``keep_going`` no stage starts after one failed (DVC's default); ``allow_missing``
    skips a stage whose only change is missing data (DVC's ``--allow-missing``)."""
    emit: Emit = out if out is not None else (lambda line: print(line, file=sys.stdout,
                                                               flush=True))
    project = Project(root, pipelines, archives_dir)
    try:
        order = select_stages(project, targets, downstream=downstream, single_item=single_item)
        return _Repro(project, jobs=jobs, force=force, dry=dry, emit=emit,
                      inherit_output=inherit_output, keep_going=keep_going,
                      allow_missing=allow_missing).run(order)
    finally:
        project.close()
