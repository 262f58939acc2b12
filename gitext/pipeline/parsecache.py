"""Parsed ``dvc.yaml`` / ``dvc.lock`` / params files kept in ``state.db``, so a command that
finds nothing changed neither imports a YAML parser nor parses anything.

An entry records the stat (inode, size, mtime_ns, ctime_ns, mode) of EVERY file and
directory the parse read, listed or checked for existence — including files that were
missing, such as a default ``params.yaml`` that does not exist — together with a fingerprint
of the code that parsed them (the tool's version, Python's, and the stat of the parser's own
modules). It is used only when every one of those stats is unchanged and, by git's racy
rule (:func:`gitext.store.state.is_racy`), each file's mtime is older than the moment the entry was
made by more than the timestamp granularity. Any doubt — an unreadable, unmarshallable or
foreign entry, a stat error — means parsing again, which then refreshes the entry. Entries
are ``marshal`` data written by this module only; values ``marshal`` cannot hold exactly
(dates, for one) are simply not cached.

Public: :func:`load_pipelines`, :func:`read_lock`, :func:`load_params` — each behaves like
the uncached function it wraps (:func:`gitext.pipeline.dvcyaml.loader.load_all_pipelines`,
:func:`gitext.pipeline.lockfile.read_lock`, :func:`gitext.pipeline.params.load_params_file`)
and takes the clone's :class:`~gitext.store.state.StateCache` (None: no caching).
"""

from __future__ import annotations

import functools
import marshal
import os
import stat
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.pipeline.model import Dep, Out, ParamDep, Pipeline, SourceLoc, Stage
from gitext.store.state import is_racy

if TYPE_CHECKING:
    from gitext.pipeline.lockfile import Lock, LockedFile
    from gitext.store.state import StateCache

__all__ = ["Sources", "load_params", "load_pipelines", "read_lock"]

FORMAT = 1
PIPELINES_KIND = "parsed:pipelines"
LOCK_KIND = "parsed:lock"
PARAMS_KIND = "parsed:params"
# The modules whose code decides what a parse returns: an edit to any of them (a new
# version, or a developer's working tree) makes every entry foreign.
_PARSER_MODULES = (
    "dvcyaml/__init__.py", "dvcyaml/schema.py", "dvcyaml/templating.py", "dvcyaml/builder.py",
    "dvcyaml/loader.py", "yaml12.py", "params.py", "lockfile.py", "model.py", "parsecache.py",
)

StatKey = tuple[int, int, int, int, int]
# Exceptions that reading back a damaged or foreign entry can raise; any of them means
# "parse instead".
_BAD_ENTRY = (ValueError, EOFError, TypeError, KeyError, IndexError, AttributeError)


def stat_key(path: str | os.PathLike[str]) -> StatKey | None:
    """The stat fields an entry is keyed by; None when nothing is there. Other errors
    (permission denied, ...) raise OSError: the caller does not cache then."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode


@functools.cache
def fingerprint() -> tuple[Any, ...]:
    """What the parsing code is: an entry made by other code is never trusted."""
    from gitext import __version__

    here = Path(__file__).parent
    return (
        FORMAT,
        __version__,
        sys.version,
        marshal.version,
        tuple(stat_key(here / name) for name in _PARSER_MODULES),
    )


class Sources:
    """Every path a parse depends on, with its stat taken BEFORE it was read or listed (a
    change after that stat shows as a different stat next time)."""

    def __init__(self) -> None:
        self.started_ns = time.time_ns()
        self.seen: dict[str, StatKey | None] = {}

    def note(self, path: str | os.PathLike[str]) -> StatKey | None:
        """Record ``path`` (the first stat wins) and return its stat now."""
        key = os.fspath(path)
        if key in self.seen:
            return self.seen[key]
        found = self.seen[key] = stat_key(key)
        return found

    def is_file(self, path: str | os.PathLike[str]) -> bool:
        """``Path.is_file()``, recorded."""
        found = self.note(path)
        return found is not None and stat.S_ISREG(found[4])

    def exists(self, path: str | os.PathLike[str]) -> bool:
        """``Path.exists()``, recorded."""
        return self.note(path) is not None

    def frozen(self) -> tuple[tuple[str, StatKey | None], ...]:
        return tuple(self.seen.items())


def _still_valid(sources: Any, recorded_ns: int) -> bool:
    """True when every recorded stat is unchanged and none is racy."""
    for path, key in sources:
        now = stat_key(path)
        if now != (None if key is None else tuple(key)):
            return False
        if now is not None and is_racy(now[2], recorded_ns):
            return False
    return True


def _get(state: StateCache | None, path: str, kind: str) -> tuple[Any, int] | None:
    """The entry body (after the fingerprint) and when it was made, or None."""
    if state is None:
        return None
    row = state.get_blob(path, kind)
    if row is None:
        return None
    try:
        data = marshal.loads(row[0])  # noqa: S302 - our own rows in the clone's state.db
        if not isinstance(data, tuple) or len(data) != 2 or data[0] != fingerprint():
            return None
    except _BAD_ENTRY:
        return None
    return data[1], row[1]


def _put(state: StateCache | None, path: str, kind: str, body: Any, recorded_ns: int) -> None:
    if state is None:
        return
    try:
        blob = marshal.dumps((fingerprint(), body))
        # A value marshal cannot hold exactly (a subclass, a date) is not cached; check the
        # round trip rather than trust it.
        if marshal.loads(blob) != (fingerprint(), body):  # noqa: S302 - just made
            return
    except _BAD_ENTRY:
        return
    state.put_blob(path, kind, blob, recorded_ns)


# -- dvc.yaml files -----------------------------------------------------------------------------


def _loc_out(loc: SourceLoc | None) -> tuple[str, int, int] | None:
    return None if loc is None else (loc.file, loc.line, loc.column)


def _stage_out(s: Stage) -> tuple[Any, ...]:
    return (
        s.name, list(s.cmd), s.wdir, s.repo_wdir,
        [(d.path, d.repo_path, d.extra) for d in s.deps],
        [(o.path, o.repo_path, o.kind, o.cache, o.persist, o.extra) for o in s.outs],
        [(p.file, p.repo_path, p.keys) for p in s.params],
        s.frozen, s.always_changed, s.desc, s.meta, _loc_out(s.loc), s.group, s.key,
        s.cmd_is_list,
    )


def _stage_in(t: Any) -> Stage:
    (name, cmd, wdir, repo_wdir, deps, outs, params, frozen, always_changed, desc, meta,
     loc, group, key, cmd_is_list) = t
    return Stage(
        name=name, cmd=list(cmd), wdir=wdir, repo_wdir=repo_wdir,
        deps=[Dep(path, repo_path, extra) for path, repo_path, extra in deps],
        outs=[Out(path, repo_path, kind, cache, persist, extra)
              for path, repo_path, kind, cache, persist, extra in outs],
        params=[ParamDep(file, repo_path, keys) for file, repo_path, keys in params],
        frozen=frozen, always_changed=always_changed, desc=desc, meta=meta,
        loc=None if loc is None else SourceLoc(*loc), group=group, key=key,
        cmd_is_list=cmd_is_list,
    )


def _pipeline_out(p: Pipeline) -> tuple[Any, ...]:
    return (os.fspath(p.file), os.fspath(p.root), [_stage_out(s) for s in p.stages.values()],
            p.metrics, p.params, p.plots, p.artifacts, p.vars)


def _pipeline_in(t: Any) -> Pipeline:
    file, root, stages, metrics, params, plots, artifacts, vars_ = t
    built = [_stage_in(s) for s in stages]
    return Pipeline(file=Path(file), root=Path(root), stages={s.name: s for s in built},
                    metrics=list(metrics), params=list(params), plots=list(plots),
                    artifacts=dict(artifacts), vars=list(vars_))


def load_pipelines(root: Path, state: StateCache | None) -> list[Pipeline]:
    """:func:`gitext.pipeline.dvcyaml.loader.load_all_pipelines`, answered from ``state`` when no
    file it read (or found missing) and no directory it listed has changed."""
    key: str | None = None
    real = root
    try:
        real = root.resolve()  # what the parse itself works from; absolute, so the
        key = os.fspath(real)  # recorded paths do not depend on the working directory
        found = _get(state, key, PIPELINES_KIND)
        if found is not None:
            (sources, pipelines), recorded_ns = found
            if _still_valid(sources, recorded_ns):
                return [_pipeline_in(p) for p in pipelines]
    except OSError:
        key = None  # something cannot be stat'ed: parse, and do not cache
    except _BAD_ENTRY:
        pass
    from gitext.pipeline.dvcyaml import loader

    if key is None or state is None:
        return loader.load_all_pipelines(root)
    recorder = Sources()
    try:
        loaded = loader.load_all_pipelines(real, sources=recorder)
    except OSError:
        # A stat that fails (permission denied, ...) where a plain parse may not look:
        # parse as if there were no cache, and keep nothing.
        return loader.load_all_pipelines(root)
    _put(state, key, PIPELINES_KIND,
         (recorder.frozen(), [_pipeline_out(p) for p in loaded]), recorder.started_ns)
    return loaded


# -- dvc.lock -----------------------------------------------------------------------------------


def _file_out(f: LockedFile) -> tuple[Any, ...]:
    return (f.path, f.md5, f.size, f.nfiles, f.isexec, f.hash, f.extra)


def _lock_out(lock: Lock) -> tuple[Any, ...]:
    return (lock.datasets, [
        (name, e.cmd, [_file_out(f) for f in e.deps], e.params, [_file_out(f) for f in e.outs])
        for name, e in lock.stages.items()
    ])


def _lock_in(t: Any) -> Lock:
    from gitext.pipeline.lockfile import Lock, LockedFile, LockEntry

    def files(items: Any) -> list[LockedFile]:
        return [LockedFile(path, md5, size, nfiles, isexec, hash_, dict(extra))
                for path, md5, size, nfiles, isexec, hash_, extra in items]

    datasets, stages = t
    lock = Lock(datasets=datasets)
    for name, cmd, deps, params, outs in stages:
        lock.stages[name] = LockEntry(cmd=cmd, deps=files(deps), params=dict(params),
                                      outs=files(outs))
    return lock


def _cached_file(
    path: Path, state: StateCache | None, kind: str
) -> tuple[tuple[Any] | None, StatKey, str, int] | None:
    """For a regular file: (the cached payload or None, its stat now, its row key, when
    that stat was taken); None when ``path`` is not a regular file. A stat error raises."""
    started = time.time_ns()
    key = os.fspath(path.absolute())
    now = stat_key(key)
    if now is None or not stat.S_ISREG(now[4]):
        return None
    found = _get(state, key, kind)
    if found is not None:
        try:
            (recorded_stat, payload), recorded_ns = found
            if tuple(recorded_stat) == now and not is_racy(now[2], recorded_ns):
                return (payload,), now, key, started
        except _BAD_ENTRY:
            pass
    return None, now, key, started


def read_lock(path: Path, state: StateCache | None) -> Lock:
    """:func:`gitext.pipeline.lockfile.read_lock`, answered from ``state`` when the file's
    stat is unchanged (and not racy) since it was last parsed."""
    try:
        found = _cached_file(path, state, LOCK_KIND)
    except OSError:
        found = None
    if found is not None and found[0] is not None:
        try:
            return _lock_in(found[0][0])
        except _BAD_ENTRY:
            pass
    from gitext.pipeline import lockfile

    lock = lockfile.read_lock(path)
    if found is not None:
        _, now, key, started = found
        _put(state, key, LOCK_KIND, (now, _lock_out(lock)), started)
    return lock


def load_params(path: Path, state: StateCache | None) -> Any:
    """The parsed params file (:func:`gitext.pipeline.params.load_params_file`), or None
    when ``path`` is not a file; answered from ``state`` when its stat is unchanged (and
    not racy) since it was last parsed."""
    try:
        found = _cached_file(path, state, PARAMS_KIND)
    except OSError:
        found = None
        if not path.is_file():
            return None
    else:
        if found is None:
            return None
        if found[0] is not None:
            return found[0][0]
    from gitext.pipeline import params

    data = params.load_params_file(path)
    if found is not None:
        _, now, key, started = found
        _put(state, key, PARAMS_KIND, (now, data), started)
    return data
