"""Moving the pipeline's run-cache entries to and from a remote.

:func:`push_run_cache` / :func:`fetch_run_cache` move the entries (remote layout
``runs/<key[:2]>/<key[2:]>``), each only where all its objects are; the objects themselves
go through :func:`gitext.sync.transfer.push` / :func:`~gitext.sync.transfer.fetch`.

Lower layer: never prints.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec.hashing import ObjectId
from gitext.config import format_size
from gitext.errors import ArchivesError, CorruptObjectError, StoreWriteError
from gitext.git.repo import Repo
from gitext.pipeline.runcache import (
    ENTRY_LIMIT,
    RUNS_DIR,
    entry_path,
    key_of,
    local_entries,
    parse_entry,
)
from gitext.remotes import Remote
from gitext.remotes.backend import read_bounded
from gitext.store.dvccache import open_store
from gitext.store.objects import LocalStore
from gitext.sync.references import References
from gitext.sync.transfer import (
    ProgressSink,
    TransferItem,
    TransferReport,
    check_writable,
    fetch,
    push,
    run_parallel,
    transfer_jobs,
)

# The pipeline keeps one JSON file per cached run, ``<archives>/runs/<key[:2]>/<key[2:]>``
# (key: the sha256 of the stage's command, deps and params), holding ``{"outs": [...]}`` in
# dvc.lock's output format. On a remote they live at ``runs/<key[:2]>/<key[2:]>`` beside
# ``files/``, as DVC keeps ``runs/`` in its remotes. An entry only ever goes where every
# object it names (and every file of a ``.dir`` it names) is already present.

RUNS_PREFIX = f"{RUNS_DIR}/"


def parse_run_entry(data: bytes, *, where: str) -> list[str]:
    """The output ids (md5, or ``<md5>.dir``) a run-cache entry names; raises
    :class:`CorruptObjectError` if ``data`` is not an entry the pipeline would accept (the
    format's one parser is :func:`gitext.pipeline.runcache.parse_entry`)."""
    return [out["md5"] for out in parse_entry(data, where=where)]


@dataclass
class RunCacheReport:
    """What ``push``/``fetch --run-cache`` did with the entries (their objects' transfer is
    in ``objects``). ``skipped``: entries left where they were, with the reason (not a
    failure: an entry whose outputs are gone only costs a re-run); ``refused``: remote
    entries that are damaged (a failure); ``conflicts``: keys whose local entry differs from
    the remote one (the local one is kept); ``failed``: entries that could not be moved."""

    direction: str
    transferred: list[str] = field(default_factory=list)
    already: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    objects: TransferReport | None = None

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failed and (self.objects is None or not (
            self.objects.corrupt or self.objects.failed))

    def summary(self) -> str:
        verb = "uploaded" if self.direction == "push" else "downloaded"
        n = len(self.transferred)
        parts = [f"{n} run-cache entr{'y' if n == 1 else 'ies'} {verb}",
                 f"{self.already} already there"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} differ (local kept)")
        if self.refused:
            parts.append(f"{len(self.refused)} refused as damaged")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.objects is not None:
            o = self.objects
            parts.append(f"their objects: {len(o.transferred)} {verb} "
                         f"({format_size(o.bytes)})")
        return ", ".join(parts)


def local_run_entries(repo: Repo) -> dict[str, Path]:
    """run-cache key -> its file, for every entry in the local run-cache."""
    return local_entries(repo.archives_dir)


def _entry_needs(store: LocalStore, ids: list[str]) -> tuple[set[ObjectId], set[ObjectId],
                                                             bool]:
    """(file objects, manifests, complete): what an entry naming ``ids`` needs, the files of
    its manifests included when they are cached (``complete`` False when one is not)."""
    from gitext.store.manifests import parse_manifest

    files: set[ObjectId] = set()
    mans: set[ObjectId] = set()
    complete = True
    for md5 in ids:
        if not md5.endswith(".dir"):
            files.add(ObjectId("md5", md5))
            continue
        m = ObjectId("md5", md5[:-4])
        mans.add(m)
        try:
            data = (store.key_path(m.key + ".dir")).read_bytes()
            entries = parse_manifest(data, where=f"manifest {md5}")
        except (FileNotFoundError, ArchivesError):
            complete = False
            continue
        files |= {ObjectId("md5", e.md5) for e in entries}
    return files, mans, complete


def _run_key_path(key: str) -> str:
    return f"{RUNS_PREFIX}{key[:2]}/{key[2:]}"


def push_run_cache(repo: Repo, remote: Remote, *, jobs: int | None = None,
                   progress: ProgressSink | None = None,
                   store: LocalStore | None = None) -> RunCacheReport:
    """Upload the local run-cache entries the remote lacks, after every object they name.
    An entry whose objects cannot all be put on the remote is skipped, never uploaded."""
    check_writable(repo, remote, "take uploads (push --run-cache)")
    store = store or open_store(repo)
    report = RunCacheReport("push")
    local = local_run_entries(repo)
    present = remote.backend.exists_many([_run_key_path(k) for k in local])
    report.already = len(present)
    todo, refs = _entries_to_push(store, local, present, report)
    if not todo:
        return report
    objects = push(repo, remote, refs, jobs=jobs, progress=progress, store=store)
    report.objects = objects
    ready = _entries_with_objects_pushed(todo, objects, report)

    def upload(item: TransferItem) -> None:
        key = item.oid.digest
        path = local[key]
        remote.backend.put(_run_key_path(key), path, path.stat().st_size)
        with lock:
            report.transferred.append(key)

    lock = threading.Lock()
    entry_report = TransferReport("push")
    run_parallel([TransferItem(ObjectId("sha256", k)) for k in ready],
                 transfer_jobs(remote, jobs), upload, entry_report)
    report.failed += [(o.digest, why) for o, why in entry_report.failed]
    return report


_PushTodo = dict[str, tuple[set[ObjectId], set[ObjectId]]]


def _entries_to_push(store: LocalStore, local: dict[str, Path], present: set[str],
                     report: RunCacheReport) -> tuple[_PushTodo, References]:
    """The local entries not on the remote whose objects are all known (key -> its file
    objects and manifests), and all those objects together. The others are skipped."""
    todo: _PushTodo = {}
    refs = References()
    for key, path in sorted(local.items()):
        if _run_key_path(key) in present:
            continue
        data = path.read_bytes()
        try:
            ids = parse_run_entry(data, where=f"run-cache entry {path}")
        except CorruptObjectError as exc:
            report.skipped.append((key, exc.message))
            continue
        files, mans, complete = _entry_needs(store, ids)
        if not complete:
            report.skipped.append((key, "a directory it names is not in the local cache"))
            continue
        todo[key] = (files, mans)
        refs.objects |= files
        refs.manifests |= mans
    return todo, refs


def _entries_with_objects_pushed(todo: _PushTodo, objects: TransferReport,
                                 report: RunCacheReport) -> list[str]:
    """The entries of ``todo`` whose every object is now on the remote; the others are
    skipped."""
    bad = {o.key for o in objects.missing} | {o.key for o in objects.corrupt} \
        | {o.key for o, _ in objects.failed} | {o.key for o, _ in objects.withheld}
    ready = []
    for key, (files, mans) in todo.items():
        lacking = [o for o in [*files, *mans] if o.key in bad]
        if lacking:
            report.skipped.append((key, f"{len(lacking)} object(s) it names could not be "
                                        f"put on the remote (e.g. {lacking[0]})"))
        else:
            ready.append(key)
    return ready


def fetch_run_cache(repo: Repo, remote: Remote, *, jobs: int | None = None,
                    progress: ProgressSink | None = None,
                    store: LocalStore | None = None) -> RunCacheReport:
    """Download the remote's run-cache entries and every object they name. An entry is
    checked (JSON shape, every md5) before anything it names is fetched, and is placed only
    once all of its objects are verified in the cache. A local entry is never replaced: one
    that differs from the remote's is kept and reported in ``conflicts``."""
    store = store or open_store(repo)
    report = RunCacheReport("fetch")
    local = local_run_entries(repo)
    got = _download_entries(remote, transfer_jobs(remote, jobs), report)
    wanted = _entries_to_fetch(got, local, report)
    refs = References()
    for _data, ids in wanted.values():
        files, mans, _complete = _entry_needs(store, ids)
        refs.objects |= files
        refs.manifests |= mans
    if refs.objects or refs.manifests:
        report.objects = fetch(repo, remote, refs, jobs=jobs, progress=progress, store=store)
    _place_entries(repo, store, wanted, local, report)
    return report


def _download_entries(remote: Remote, jobs: int, report: RunCacheReport) -> dict[str, bytes]:
    """key -> bytes of every entry the remote lists (those that failed are in ``report``)."""
    keys = sorted(k for k in (key_of(rel) for rel, _ in remote.backend.list(RUNS_PREFIX))
                  if k is not None)
    got: dict[str, bytes] = {}
    lock = threading.Lock()

    def download(item: TransferItem) -> None:
        key = _run_key_path(item.oid.digest)
        data = read_bounded(remote.backend, key, limit=ENTRY_LIMIT, what="run-cache entry",
                            hint=f"delete {key} there; a push from a clone that has the run "
                            "puts it back")
        with lock:
            got[item.oid.digest] = data

    entry_report = TransferReport("fetch")
    run_parallel([TransferItem(ObjectId("sha256", k)) for k in keys], jobs, download,
                 entry_report)
    report.failed += [(o.digest, why) for o, why in entry_report.failed]
    report.skipped += [(o.digest, "vanished from the remote while listed")
                       for o in entry_report.missing]
    return got


def _entries_to_fetch(got: dict[str, bytes], local: dict[str, Path],
                      report: RunCacheReport) -> dict[str, tuple[bytes, list[str]]]:
    """key -> (bytes, output ids) of the downloaded entries that are well-formed and not in
    conflict with a local entry (a local one equal to it still counts: its objects may be
    missing)."""
    wanted: dict[str, tuple[bytes, list[str]]] = {}
    for key in sorted(got):
        data = got[key]
        try:
            ids = parse_run_entry(data, where=f"remote run-cache entry {_run_key_path(key)}")
        except CorruptObjectError as exc:
            report.refused.append((key, exc.message))
            continue
        if key in local:
            try:
                mine = local[key].read_bytes()
            except OSError:
                mine = b""
            if mine != data:
                report.conflicts.append(key)
                continue
            report.already += 1  # same entry: still make sure its objects are here
        wanted[key] = (data, ids)
    return wanted


def _place_entries(repo: Repo, store: LocalStore, wanted: dict[str, tuple[bytes, list[str]]],
                   local: dict[str, Path], report: RunCacheReport) -> None:
    """Write each wanted entry whose every object is now in the cache into the local
    run-cache (never over an existing entry)."""
    from gitext.fs.atomic import atomic_write

    for key, (data, ids) in wanted.items():
        files, _mans, complete = _entry_needs(store, ids)
        absent = [o for o in files if not store.has(o)]
        if not complete or absent:
            report.skipped.append((key, "not every output it names could be fetched"
                                        + (f" (e.g. {absent[0]})" if absent else "")))
            continue
        if key in local:
            continue
        target = entry_path(repo.archives_dir, key)
        if target.exists():  # written meanwhile (a concurrent repro): keep that one
            if target.read_bytes() != data:
                report.conflicts.append(key)
            continue
        try:
            atomic_write(target, data)
        except OSError as exc:
            raise StoreWriteError(f"cannot write the run-cache entry {target}: "
                                  f"{exc.strerror or exc}",
                                  hint="free disk space or fix permissions, then retry") from None
        report.transferred.append(key)
