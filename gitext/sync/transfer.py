"""Which objects the history needs, and moving the missing ones between the cache and a remote.

* :func:`referenced_objects` / :func:`find_references` scan pointer blobs (and ``dvc.lock``
  outputs, with their ``.dir`` manifests expanded) reachable from revisions, cheaply: one
  ``ls-tree``/``rev-list``, one ``cat-file --batch-check``, one ``cat-file --batch`` of the
  small blobs only.
* :func:`push` / :func:`fetch` move only what is missing, in parallel; every fetched object
  is hashed and compared with its id in the cache's ``tmp/`` before it is renamed into place,
  so nothing unverified is ever visible, and an interrupted run leaves only temp files.
* :func:`push_run_cache` / :func:`fetch_run_cache` move the pipeline's run-cache entries
  (remote layout ``runs/<key[:2]>/<key[2:]>``), each only where all its objects are.
* :class:`InPlaceFill` writes pulled pointer files directly (kernel copy of verified
  objects, stat recorded in the index under ``index.lock``), while the fetch runs.
* :func:`pre_push` implements git's pre-push protocol, :func:`fetch_objects` serves the
  filter process's delayed smudge, and the ``gc`` functions plan (dry run) and apply
  deletions that never touch what a worktree, index, stash or unpushed commit needs, nor
  anything written within the grace period (:func:`parse_expire`).

Lower layer: never prints. Progress goes to a caller-supplied sink.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from gitext.codec import pointer as ptr
from gitext.codec.hashing import ObjectId, hash_file, hash_file_stat
from gitext.config import Config, format_size
from gitext.errors import (
    ArchivesError,
    CorruptObjectError,
    ObjectMissingError,
    RemoteError,
    UsageError,
)
from gitext.fs.worktree import WorkTree
from gitext.git.indexlock import clear_owner, note_owner
from gitext.git.repo import Repo
from gitext.pipeline.dvcproject import UncachedOutputs, yaml_path
from gitext.remotes import Remote, default_jobs, open_remote
from gitext.store.objects import READ_ONLY, LocalStore

if TYPE_CHECKING:
    from gitext.sync.pointers import TrackedPointer

LOCK_NAME = "dvc.lock"
YAML_NAME = "dvc.yaml"


class ProgressSink(Protocol):
    def advance(self, nbytes: int) -> None: ...
    def file_done(self) -> None: ...


class LocalWriteError(ArchivesError):
    """The local cache cannot take a fetched object (disk full, permissions)."""


# -- references -----------------------------------------------------------------------------

@dataclass
class References:
    """Objects some revisions need. ``manifests`` are DVC ``.dir`` ids (stored under
    ``<key>.dir``); their entries are in ``objects`` once the manifest could be read."""

    objects: set[ObjectId] = field(default_factory=set)
    manifests: set[ObjectId] = field(default_factory=set)
    # manifest -> the output path it describes (for include/exclude of its entries)
    manifest_paths: dict[ObjectId, str] = field(default_factory=dict)
    unexpanded: set[ObjectId] = field(default_factory=set)
    sizes: dict[ObjectId, int] = field(default_factory=dict)  # as pointers and locks say

    def all(self) -> set[ObjectId]:
        return self.objects | self.manifests

    def update(self, other: References) -> None:
        self.objects |= other.objects
        self.manifests |= other.manifests
        self.manifest_paths.update(other.manifest_paths)
        self.unexpanded |= other.unexpanded
        self.sizes.update(other.sizes)


LITERAL = ":(literal)"  # git's pathspec magic: the rest is a path, not a pattern


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A git-style path pattern: no '/' matches a name at any depth; otherwise anchored at
    the top. ``*``/``?`` stay inside one component, ``**`` crosses them; a match on a folder
    covers everything below it. ``:(literal)PATH`` names exactly that path (from the top)
    or the folder it names: no glob characters, no stripped spaces (a committed name may
    hold both)."""
    if pattern.startswith(LITERAL):
        return re.compile(re.escape(pattern[len(LITERAL):].strip("/")) + "(?:/.*)?", re.DOTALL)
    pat = pattern.strip()
    anchored = "/" in pat.rstrip("/")
    pat = pat.strip("/")
    out = []
    i = 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif pat[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pat[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pat[i]))
            i += 1
    body = "".join(out)
    return re.compile(("" if anchored else "(?:.*/)?") + body + "(?:/.*)?")


def _selects(pattern: str) -> bool:
    """False for a selection that names nothing in particular (blank; the literal top)."""
    if pattern.startswith(LITERAL):
        return bool(pattern[len(LITERAL):].strip("/"))
    return bool(pattern.strip())


class PathFilter:
    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = [_glob_regex(p) for p in include if _selects(p)]
        self.exclude = [_glob_regex(p) for p in exclude if _selects(p)]

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude)

    def __call__(self, path: str) -> bool:
        if self.include and not any(r.fullmatch(path) for r in self.include):
            return False
        return not any(r.fullmatch(path) for r in self.exclude)

    def may_contain(self, folder: str) -> bool:
        """Could something under ``folder`` pass? (A folder output is expanded only then.)"""
        if not self.include:
            return not any(r.fullmatch(folder) for r in self.exclude)
        return True


def _lock_outs(data: bytes, lock_dir: str, uncached: UncachedOutputs | None = None,
               ) -> list[tuple[str, str, int | None]]:
    """(path relative to the repository, md5 or ``<md5>.dir``, size) of every output in a
    lock that lives in a cache; outputs ``uncached`` names (``cache: false`` in dvc.yaml:
    committed to git) are left out."""
    from gitext.pipeline.lockfile import parse_lock

    try:
        lock = parse_lock(data.decode("utf-8"), file=f"{lock_dir}/{LOCK_NAME}".lstrip("/"))
    except (ArchivesError, UnicodeDecodeError):
        return []  # a broken lock is reported by the pipeline commands, not by transfers
    found: list[tuple[str, str, int | None]] = []
    for name, entry in lock.stages.items():
        for out in entry.outs:
            if out.md5 is None:
                continue
            if uncached is not None and (lock_dir, name, out.path) in uncached:
                continue
            path = out.path.strip("/")
            found.append((f"{lock_dir}/{path}" if lock_dir else path, out.md5, out.size))
    return found


def _lock_dir(path: str) -> str | None:
    """The folder of a ``dvc.lock`` blob path, or None if ``path`` is not a lock file."""
    if path == LOCK_NAME:
        return ""
    if path.endswith("/" + LOCK_NAME):
        return path[: -len(LOCK_NAME) - 1]
    return None


def _add_lock(refs: References, data: bytes, lock_dir: str, keep: PathFilter,
              uncached: UncachedOutputs | None = None) -> None:
    for path, md5, size in _lock_outs(data, lock_dir, uncached):
        is_dir = md5.endswith(".dir")
        digest = md5[:-4] if is_dir else md5
        try:
            oid = ObjectId("md5", digest)
        except ArchivesError:
            continue  # not an id we can address; the pipeline commands report it
        if is_dir:
            if keep.may_contain(path):
                refs.manifests.add(oid)
                refs.manifest_paths[oid] = path
        elif keep(path):
            refs.objects.add(oid)
            if size is not None:
                refs.sizes[oid] = size


def _yaml_dir(path: str) -> str | None:
    """The folder of a ``dvc.yaml`` blob path, or None if ``path`` is not one."""
    if path == YAML_NAME:
        return ""
    if path.endswith("/" + YAML_NAME):
        return path[: -len(YAML_NAME) - 1]
    return None


def _blob_sizes(repo: Repo, shas: Sequence[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    out = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                   input_bytes="".join(s + "\n" for s in shas).encode()).stdout
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob":
            sizes[parts[0]] = int(parts[2])
    return sizes


def _read_yamls(repo: Repo, dirs: Iterable[str], revs: Sequence[str],
                uncached: UncachedOutputs) -> None:
    """The ``dvc.yaml`` of each folder in ``dirs`` at each of ``revs`` (one cat-file)."""
    names = [f"{rev}:{yaml_path(d)}" for d in sorted(dirs) for rev in dict.fromkeys(revs)
             if "\n" not in d]
    for name, data in repo.cat_blobs(names):
        if data:
            uncached.add_yaml(name.split(":", 1)[1].rpartition(YAML_NAME)[0].rstrip("/"),
                              data)


def _resolve_blobs(repo: Repo, blobs: dict[str, str], keep: PathFilter,
                   sizes: dict[str, int] | None = None, *,
                   yaml_revs: Sequence[str] = ()) -> References:
    """Pointer ids and lock outputs among ``blobs`` (sha -> a path it appears at). A lock's
    ``cache: false`` outputs are read from the ``dvc.yaml`` beside it among ``blobs``, else
    from that folder's ``dvc.yaml`` at ``yaml_revs``."""
    refs = References()
    if not blobs:
        return refs
    if sizes is None:
        sizes = _blob_sizes(repo, list(blobs))
    lock_dirs = {d for d in map(_lock_dir, blobs.values()) if d is not None}
    yamls = {sha: d for sha, d in ((s, _yaml_dir(p)) for s, p in blobs.items())
             if d is not None and d in lock_dirs}
    wanted = []
    for sha, path in blobs.items():
        size = sizes.get(sha, -1)
        is_lock = _lock_dir(path) is not None and size > 0
        if is_lock or sha in yamls or (0 < size < ptr.MAX_POINTER_SIZE and keep(path)):
            wanted.append(sha)
    uncached = UncachedOutputs()
    locks: list[tuple[bytes, str]] = []
    for sha, data in repo.cat_blobs(wanted):
        path = blobs[sha]
        lock_dir = _lock_dir(path)
        if lock_dir is not None:
            locks.append((data, lock_dir))
        elif sha in yamls:
            uncached.add_yaml(yamls[sha], data)
        else:
            p = ptr.try_parse(data)
            if p is not None:
                refs.objects.add(p.oid)
                refs.sizes[p.oid] = p.size
    if locks and yaml_revs:
        _read_yamls(repo, lock_dirs - set(yamls.values()), yaml_revs, uncached)
    for data, lock_dir in locks:
        _add_lock(refs, data, lock_dir, keep, uncached)
    return refs


def _blobs_at(repo: Repo, rev: str) -> tuple[dict[str, str], dict[str, int]]:
    blobs: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for mode, typ, blob, size, path in repo.ls_tree(rev):
        if typ == "blob" and mode != "120000":
            blobs.setdefault(blob, path)
            sizes[blob] = size
    return blobs, sizes


def _blobs_rev_list(repo: Repo, args: Sequence[str]) -> dict[str, str]:
    out = repo.git("rev-list", "--objects", *args).stdout
    blobs: dict[str, str] = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, sep, path = line.partition(" ")
        if sep and path:  # commits have no path; trees and blobs do (trees dropped later)
            blobs.setdefault(sha, path)
    return blobs


def expand_manifests(store: LocalStore, refs: References, keep: PathFilter) -> None:
    """Add the entries of every manifest present in ``store`` to ``refs.objects``."""
    from gitext.pipeline.dvchash import parse_manifest

    for m in sorted(refs.manifests):
        path = store.root / (m.key + ".dir")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            refs.unexpanded.add(m)
            continue
        entries = parse_manifest(data, where=f"manifest {m.digest}.dir")
        base = refs.manifest_paths.get(m, "")
        for e in entries:
            if keep(f"{base}/{e.relpath}" if base else e.relpath):
                refs.objects.add(ObjectId("md5", e.md5))
        refs.unexpanded.discard(m)


def _store(repo: Repo) -> LocalStore:
    return LocalStore(repo.archives_dir)


def find_references(repo: Repo, revs: Sequence[str] | None, *, all_commits: bool = False,
                    include: Sequence[str] = (), exclude: Sequence[str] = (),
                    store: LocalStore | None = None) -> References:
    """What ``revs`` (default HEAD; or every commit) need, manifests expanded from the cache."""
    keep = PathFilter(include, exclude)
    refs = References()
    if all_commits:
        stashes = _stash_commits(repo)
        args = ["--all", *stashes, *[f"{s}^{n}" for s in stashes for n in (2, 3)
                                     if _rev_exists(repo, f"{s}^{n}")]]
        if _rev_exists(repo, "HEAD") or len(args) > 1 or _has_refs(repo):
            refs.update(_resolve_blobs(repo, _blobs_rev_list(repo, args), keep,
                                       yaml_revs=["HEAD"] if _rev_exists(repo, "HEAD") else []))
    else:
        for rev in revs or ["HEAD"]:
            sha = repo.resolve_rev(rev)
            blobs, sizes = _blobs_at(repo, sha)
            refs.update(_resolve_blobs(repo, blobs, keep, sizes, yaml_revs=[sha]))
    expand_manifests(store or _store(repo), refs, keep)
    return refs


def referenced_objects(repo: Repo, revs: list[str] | None, *, all_commits: bool = False,
                       include: Sequence[str] = (), exclude: Sequence[str] = ()) -> set[ObjectId]:
    """Every object id (pointer oids, lock outputs, ``.dir`` manifests and the entries of those
    manifests already cached) that ``revs`` — default HEAD — or all commits need."""
    return find_references(repo, revs, all_commits=all_commits, include=include,
                           exclude=exclude).all()


def _rev_exists(repo: Repo, rev: str) -> bool:
    return repo.git("rev-parse", "--verify", "--quiet", rev + "^{commit}",
                    check=False).returncode == 0


def _has_refs(repo: Repo) -> bool:
    return bool(repo.git("for-each-ref", "--count=1", check=False).stdout.strip())


def _stash_commits(repo: Repo) -> list[str]:
    proc = repo.git("stash", "list", "--format=%H", check=False)
    return [s for s in proc.stdout.decode().split() if s]


# -- transfers ------------------------------------------------------------------------------

@dataclass
class TransferReport:
    """What a push or fetch did. ``failed`` holds (id, one-line reason)."""

    direction: str
    requested: int = 0
    already: int = 0
    transferred: list[ObjectId] = field(default_factory=list)
    bytes: int = 0
    missing: list[ObjectId] = field(default_factory=list)  # on neither side that matters
    corrupt: list[ObjectId] = field(default_factory=list)
    failed: list[tuple[ObjectId, str]] = field(default_factory=list)
    # directory manifests deliberately not uploaded (id, why): some of their files are not
    # on the remote, e.g. left out by --include. Not a failure by itself.
    withheld: list[tuple[ObjectId, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.failed)

    def summary(self) -> str:
        verb = "uploaded" if self.direction == "push" else "downloaded"
        parts = [f"{len(self.transferred)} object(s) {verb} ({format_size(self.bytes)})",
                 f"{self.already} already there"]
        if self.missing:
            where = "in the local cache" if self.direction == "push" else "on the remote"
            parts.append(f"{len(self.missing)} missing {where}")
        if self.corrupt:
            parts.append(f"{len(self.corrupt)} refused as corrupt")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.withheld:
            parts.append(f"{len(self.withheld)} directory manifest(s) withheld")
        return ", ".join(parts)


@dataclass(frozen=True)
class _Item:
    oid: ObjectId
    manifest: bool = False

    @property
    def key(self) -> str:
        return self.oid.key + (".dir" if self.manifest else "")


def _items(refs: References | Iterable[ObjectId], store: LocalStore) -> tuple[list[_Item],
                                                                              list[_Item]]:
    """(files, manifests). Plain ids count as manifests when only ``<key>.dir`` is cached."""
    if isinstance(refs, References):
        files = {_Item(o) for o in refs.objects}
        mans = {_Item(o, True) for o in refs.manifests}
    else:
        files, mans = set(), set()
        for o in refs:
            if o.algo == "md5" and not store.has(o) and (store.root / (o.key + ".dir")).is_file():
                mans.add(_Item(o, True))
            else:
                files.add(_Item(o))
    return sorted(files, key=lambda i: i.key), sorted(mans, key=lambda i: i.key)


def _run_parallel(items: Sequence[_Item], jobs: int,
                  work: Callable[[_Item], None], report: TransferReport) -> None:
    """Run ``work`` over ``items``; a failure of one item is recorded, not fatal, except a
    local write failure (disk full), which stops the run."""
    stop = threading.Event()
    fatal: list[BaseException] = []
    lock = threading.Lock()

    def one(item: _Item) -> None:
        if stop.is_set():
            return
        try:
            work(item)
        except CorruptObjectError:
            with lock:
                report.corrupt.append(item.oid)
        except ObjectMissingError:
            with lock:
                report.missing.append(item.oid)
        except LocalWriteError as exc:
            stop.set()
            with lock:
                fatal.append(exc)
        except ArchivesError as exc:
            with lock:
                report.failed.append((item.oid, exc.message))

    if jobs <= 1 or len(items) <= 1:
        for it in items:
            one(it)
    else:
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            for fut in [pool.submit(one, it) for it in items]:
                fut.result()
        except BaseException:
            # Ctrl-C: drop what has not started; running transfers finish or clean up
            # their temp files, so nothing partial is left visible.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    if fatal:
        raise fatal[0]


def _jobs(remote: Remote, jobs: int | None) -> int:
    return jobs or remote.jobs or default_jobs(remote.url)


def push(repo: Repo, remote: Remote, refs: References | Iterable[ObjectId], *,
         jobs: int | None = None, progress: ProgressSink | None = None,
         store: LocalStore | None = None) -> TransferReport:
    """Upload what ``remote`` lacks. Manifests go last, and only once every file they list
    is on the remote (else they are ``withheld``), so a remote that has a ``.dir`` also has
    every file it lists. Objects that the remote lacks and the cache lacks too are reported
    in ``missing``."""
    store = store or _store(repo)
    files, mans = _items(refs, store)  # manifests were expanded (and filtered) by the caller
    report = TransferReport("push", requested=len(files) + len(mans))
    present = remote.backend.exists_many([i.key for i in [*files, *mans]])
    report.already = len(present)
    lock = threading.Lock()

    def upload(item: _Item) -> None:
        src = store.root / item.key
        try:
            size = src.stat().st_size
        except FileNotFoundError:
            raise ObjectMissingError(f"{item.oid} is not in the local cache") from None
        remote.backend.put(item.key, src, size, progress.advance if progress else None)
        with lock:
            report.transferred.append(item.oid)
            report.bytes += size
        if progress is not None:
            progress.file_done()

    n = _jobs(remote, jobs)
    sizes = {i: (store.size(i.oid) or 0) for i in files if i.key not in present}
    _run_parallel(sorted(sizes, key=lambda i: sizes[i], reverse=True), n, upload, report)
    todo_m = [i for i in mans if i.key not in present]
    if todo_m:
        ready = _complete_manifests(store, remote, todo_m, present, report)
        _run_parallel(ready, n, upload, report)
    return report


def _complete_manifests(store: LocalStore, remote: Remote, mans: list[_Item],
                        present: set[str], report: TransferReport) -> list[_Item]:
    """The manifests among ``mans`` whose every file is now on the remote (uploaded by this
    push or there before). The others are withheld: a remote never holds a ``.dir`` that
    lists a file it lacks (a partial ``--include``, or a file that failed to upload)."""
    from gitext.pipeline.dvchash import parse_manifest

    on_remote = set(present) | {o.key for o in report.transferred}
    needs: dict[_Item, set[str]] = {}
    for m in mans:
        try:
            data = (store.root / m.key).read_bytes()
        except FileNotFoundError:
            report.missing.append(m.oid)
            continue
        try:
            entries = parse_manifest(data, where=f"cached manifest {m.oid.digest}.dir")
        except ArchivesError as exc:
            report.failed.append((m.oid, exc.message))
            continue
        needs[m] = {ObjectId("md5", e.md5).key for e in entries}
    unknown = set().union(*needs.values()) - on_remote if needs else set()
    if unknown:
        on_remote |= remote.backend.exists_many(sorted(unknown))
    ready = []
    for m, keys in needs.items():
        lacking = keys - on_remote
        if lacking:
            report.withheld.append((m.oid, f"{len(lacking)} of the {len(keys)} files it lists "
                                           "are not on the remote"))
        else:
            ready.append(m)
    return ready


def _commit_fetched(store: LocalStore, tmp: Path, item: _Item) -> tuple[Path, os.stat_result]:
    """Verify ``tmp`` against the id, then make it read-only and rename it into place.
    Returns the object's path and stat (taken after the rename, which sets the ctime)."""
    digest, _size, st = hash_file_stat(tmp, item.oid.algo)
    if item.manifest:
        from gitext.pipeline.dvchash import parse_manifest

        data = tmp.read_bytes()
        ok = digest == item.oid.digest
        if ok:
            try:
                parse_manifest(data, where=f"remote manifest {item.oid.digest}.dir")
            except CorruptObjectError as exc:  # intact bytes, hostile or broken content
                raise ArchivesError(f"refused: {exc.message}", hint=exc.hint) from None
    else:
        ok = digest == item.oid.digest
    if not ok:
        raise CorruptObjectError(f"remote object {item.oid} hashes to {digest[:12]}…: refused")
    final = store.root / item.key
    if (st.st_mode & 0o777) != READ_ONLY:
        with contextlib.suppress(OSError):  # a hard link shares the remote's inode and mode
            os.chmod(tmp, READ_ONLY)
    try:
        os.replace(tmp, final)
    except FileNotFoundError:  # the first object under this prefix
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
    return final, os.stat(final)


def fetch(repo: Repo, remote: Remote, refs: References | Iterable[ObjectId], *,
          jobs: int | None = None, progress: ProgressSink | None = None,
          store: LocalStore | None = None, include: Sequence[str] = (),
          exclude: Sequence[str] = (),
          on_object: Callable[[ObjectId], None] | None = None) -> TransferReport:
    """Download what the cache lacks; manifests first, then the files they list. Every
    object is verified before it becomes visible in the cache; ``on_object`` is then called
    with its id (from a worker thread), e.g. to start writing it to the work tree."""
    store = store or _store(repo)
    if isinstance(refs, References):
        files, mans = _items(refs, store)
    else:
        refs = References(*_split_plain(list(refs), store))
        files, mans = _items(refs, store)
    report = TransferReport("fetch", requested=len(files) + len(mans))
    n = _jobs(remote, jobs)
    lock = threading.Lock()
    verified: list[tuple[Path, os.stat_result, ObjectId]] = []
    run_id = uuid.uuid4().hex[:12]
    names = itertools.count()

    def download(item: _Item) -> None:
        tmp = store.tmp / f"fetch-{run_id}-{next(names)}"
        try:
            size = remote.backend.get(item.key, tmp, progress.advance if progress else None,
                                      size=None if item.manifest else refs.sizes.get(item.oid))
            final, st = _commit_fetched(store, tmp, item)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()  # (after a successful rename there is nothing to remove)
            if not isinstance(exc, OSError):
                raise
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES):
                raise LocalWriteError(
                    f"cannot write into the local cache {store.root}: "
                    f"{exc.strerror or exc}",
                    hint="free disk space (or 'git archives gc --workspace'), then pull again; "
                         "nothing partial was kept",
                ) from None
            raise RemoteError(f"{item.oid}: {exc.strerror or exc}") from None
        with lock:
            report.transferred.append(item.oid)
            report.bytes += size
            if not item.manifest:
                verified.append((final, st, item.oid))
        if on_object is not None and not item.manifest:
            on_object(item.oid)
        if progress is not None:
            progress.file_done()

    todo_m = [m for m in mans if not (store.root / m.key).is_file()]
    report.already += len(mans) - len(todo_m)
    store.tmp.mkdir(parents=True, exist_ok=True)
    _run_parallel(todo_m, n, download, report)
    keep = PathFilter(include, exclude)
    expand_manifests(store, refs, keep)
    files, _ = _items(refs, store)
    report.requested = len(files) + len(mans)
    todo = [f for f in files if not store.has(f.oid)]
    report.already += len(files) - len(todo)
    # Largest first: a big object started last would finish alone on one worker.
    todo.sort(key=lambda i: refs.sizes.get(i.oid, 0), reverse=True)
    try:
        _run_parallel(todo, n, download, report)
    finally:
        _record_verified(store, verified)
    return report


def _split_plain(oids: list[ObjectId], store: LocalStore) -> tuple[set[ObjectId], set[ObjectId]]:
    files, mans = _items(oids, store)
    return {i.oid for i in files}, {i.oid for i in mans}


def _record_verified(store: LocalStore,
                     verified: list[tuple[Path, os.stat_result, ObjectId]]) -> None:
    """Remember the hashes just checked (sqlite is used from this thread only)."""
    if not verified:
        return
    try:
        for path, st, oid in verified:
            store.state.record(os.fspath(path), oid.algo, st, oid.digest)
        store.state.flush()
    except Exception:  # noqa: BLE001 - the stat cache is only a speed-up
        return


def _load_config(repo: Repo) -> Config:
    return Config.load(repo.worktree, git_cwd=repo.worktree or repo.git_dir)


def fetch_objects(repo: Repo, oids: list[ObjectId], *, jobs: int | None = None,
                  store: LocalStore | None = None) -> set[ObjectId]:
    """Fetch ``oids`` from the default remote into the cache, in parallel and verified.
    Returns the requested ids now in the cache (fetched or already there). Raises
    :class:`RemoteError` only if the remote cannot be used at all (none configured,
    unreachable, bucket missing, credentials refused).

    A long-lived caller (the filter process) should pass its own ``store``: the hashes
    verified here are then recorded through its ``state.db`` connection, not a second one
    that would wait for the first one's open write transaction."""
    store = store or _store(repo)
    wanted = [o for o in dict.fromkeys(oids) if not store.has(o)]
    if wanted:
        remote = open_remote(_load_config(repo), root=repo.worktree)
        try:
            fetch(repo, remote, References(objects=set(wanted)), jobs=jobs, store=store)
        finally:
            remote.close()
    return {o for o in oids if store.has(o)}


# -- run-cache ------------------------------------------------------------------------------
# The pipeline keeps one JSON file per cached run, ``<archives>/runs/<key[:2]>/<key[2:]>``
# (key: the sha256 of the stage's command, deps and params), holding ``{"outs": [...]}`` in
# dvc.lock's output format. On a remote they live at ``runs/<key[:2]>/<key[2:]>`` beside
# ``files/``, as DVC keeps ``runs/`` in its remotes. An entry only ever goes where every
# object it names (and every file of a ``.dir`` it names) is already present.

RUNS_PREFIX = "runs/"
_RUN_KEY_RE = re.compile(r"runs/([0-9a-f]{2})/([0-9a-f]{62})")
_MD5_HEX_RE = re.compile(r"[0-9a-f]{32}")


def parse_run_entry(data: bytes, *, where: str) -> list[str]:
    """The output ids (md5, or ``<md5>.dir``) a run-cache entry names; raises
    :class:`CorruptObjectError` if ``data`` is not an entry the pipeline would accept."""
    import json

    def bad(why: str) -> CorruptObjectError:
        return CorruptObjectError(f"{where}: not a run-cache entry ({why})",
                                  hint="the entry is damaged; it was not used")

    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"invalid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("outs"), list) or not raw["outs"]:
        raise bad('expected {"outs": [...]} with at least one output')
    ids: list[str] = []
    for i, out in enumerate(raw["outs"], 1):
        if not isinstance(out, dict):
            raise bad(f"output {i} is not an object")
        path, md5 = out.get("path"), out.get("md5")
        if not isinstance(path, str) or not path.strip():
            raise bad(f"output {i} has no path")
        if not isinstance(md5, str) or not _MD5_HEX_RE.fullmatch(md5.removesuffix(".dir")):
            raise bad(f"output '{path}' has no valid md5")
        if out.get("hash", "md5") != "md5":
            raise bad(f"output '{path}' is not hashed with md5")
        for name in ("size", "nfiles"):
            v = out.get(name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise bad(f"output '{path}' has an invalid {name}")
        if not isinstance(out.get("isexec", False), bool):
            raise bad(f"output '{path}' has an invalid isexec")
        ids.append(md5)
    return ids


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


def _runs_dir(repo: Repo) -> Path:
    from gitext.pipeline.engine import RUNS_DIR

    return repo.archives_dir / RUNS_DIR


def _run_key(rel: str) -> str | None:
    m = _RUN_KEY_RE.fullmatch(rel)
    return m.group(1) + m.group(2) if m else None


def local_run_entries(repo: Repo) -> dict[str, Path]:
    """run-cache key -> its file, for every entry in the local run-cache."""
    base = _runs_dir(repo)
    found: dict[str, Path] = {}
    if not base.is_dir():
        return found
    for sub in base.iterdir():
        if not sub.is_dir():
            continue
        for f in sub.iterdir():
            key = _run_key(f"runs/{sub.name}/{f.name}")
            if key is not None and f.is_file():
                found[key] = f
    return found


def _entry_needs(store: LocalStore, ids: list[str]) -> tuple[set[ObjectId], set[ObjectId],
                                                             bool]:
    """(file objects, manifests, complete): what an entry naming ``ids`` needs, the files of
    its manifests included when they are cached (``complete`` False when one is not)."""
    from gitext.pipeline.dvchash import parse_manifest

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
            data = (store.root / (m.key + ".dir")).read_bytes()
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
    store = store or _store(repo)
    report = RunCacheReport("push")
    local = local_run_entries(repo)
    present = remote.backend.exists_many([_run_key_path(k) for k in local])
    report.already = len(present)
    todo: dict[str, tuple[bytes, set[ObjectId], set[ObjectId]]] = {}
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
        todo[key] = (data, files, mans)
        refs.objects |= files
        refs.manifests |= mans
    if not todo:
        return report
    objects = push(repo, remote, refs, jobs=jobs, progress=progress, store=store)
    report.objects = objects
    bad = {o.key for o in objects.missing} | {o.key for o in objects.corrupt} \
        | {o.key for o, _ in objects.failed} | {o.key for o, _ in objects.withheld}
    ready = []
    for key, (_data, files, mans) in todo.items():
        lacking = [o for o in [*files, *mans] if o.key in bad]
        if lacking:
            report.skipped.append((key, f"{len(lacking)} object(s) it names could not be "
                                        f"put on the remote (e.g. {lacking[0]})"))
        else:
            ready.append(key)

    def upload(item: _Item) -> None:
        key = item.oid.digest
        path = local[key]
        remote.backend.put(_run_key_path(key), path, path.stat().st_size)
        with lock:
            report.transferred.append(key)

    lock = threading.Lock()
    entry_report = TransferReport("push")
    _run_parallel([_Item(ObjectId("sha256", k)) for k in ready], _jobs(remote, jobs), upload,
                  entry_report)
    report.failed += [(o.digest, why) for o, why in entry_report.failed]
    return report


def fetch_run_cache(repo: Repo, remote: Remote, *, jobs: int | None = None,
                    progress: ProgressSink | None = None,
                    store: LocalStore | None = None) -> RunCacheReport:
    """Download the remote's run-cache entries and every object they name. An entry is
    checked (JSON shape, every md5) before anything it names is fetched, and is placed only
    once all of its objects are verified in the cache. A local entry is never replaced: one
    that differs from the remote's is kept and reported in ``conflicts``."""
    import io

    from gitext.fs.atomic import atomic_write

    store = store or _store(repo)
    report = RunCacheReport("fetch")
    local = local_run_entries(repo)
    keys = sorted(k for k in (_run_key(rel) for rel, _ in remote.backend.list(RUNS_PREFIX))
                  if k is not None)
    got: dict[str, bytes] = {}
    lock = threading.Lock()

    def download(item: _Item) -> None:
        buf = io.BytesIO()
        remote.backend.get(_run_key_path(item.oid.digest), buf)
        with lock:
            got[item.oid.digest] = buf.getvalue()

    entry_report = TransferReport("fetch")
    _run_parallel([_Item(ObjectId("sha256", k)) for k in keys], _jobs(remote, jobs), download,
                  entry_report)
    report.failed += [(o.digest, why) for o, why in entry_report.failed]
    report.skipped += [(o.digest, "vanished from the remote while listed")
                       for o in entry_report.missing]
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
    refs = References()
    for _data, ids in wanted.values():
        files, mans, _complete = _entry_needs(store, ids)
        refs.objects |= files
        refs.manifests |= mans
    if refs.objects or refs.manifests:
        report.objects = fetch(repo, remote, refs, jobs=jobs, progress=progress, store=store)
    base = _runs_dir(repo)
    for key, (data, ids) in wanted.items():
        files, mans, complete = _entry_needs(store, ids)
        absent = [o for o in files if not store.has(o)]
        if not complete or absent:
            report.skipped.append((key, "not every output it names could be fetched"
                                        + (f" (e.g. {absent[0]})" if absent else "")))
            continue
        if key in local:
            continue
        target = base / key[:2] / key[2:]
        if target.exists():  # written meanwhile (a concurrent repro): keep that one
            if target.read_bytes() != data:
                report.conflicts.append(key)
            continue
        try:
            atomic_write(target, data)
        except OSError as exc:
            raise LocalWriteError(f"cannot write the run-cache entry {target}: "
                                  f"{exc.strerror or exc}",
                                  hint="free disk space or fix permissions, then retry") from None
        report.transferred.append(key)
    return report


# -- filling the work tree after a pull ----------------------------------------------------
# ``git checkout`` of a pointer file sends the object through the smudge filter, and git
# holds each file's whole content in memory before writing it: for gigabytes that is three
# copies and as many fresh pages. After a pull we write the files ourselves instead (a
# kernel copy from the cache of an object known to be verified) and record their new stat
# data in the index, so git sees them clean without cleaning them again. The index is held
# locked (``index.lock``, as git does) from before the first file is written until the
# patched index is renamed into place. Anything unusual (a split or sparse index, an index
# extension we do not know, the lock taken, an object not verified) leaves those files to
# the caller's ``git checkout`` path.

_SAFE_INDEX_EXTENSIONS = frozenset({b"TREE", b"REUC", b"UNTR", b"EOIE", b"IEOT"})


@dataclass
class DirectFill:
    filled: list[str] = field(default_factory=list)    # paths now holding their content
    left: list[str] = field(default_factory=list)      # candidates for the git path
    missing: list[str] = field(default_factory=list)   # objects not in the cache


class _IndexFormatError(Exception):
    pass


def _index_entries(data: bytes, hash_len: int) -> dict[bytes, tuple[int, bytes]]:
    """path -> (offset of the entry, blob id) of every stage-0, not skip-worktree entry of a
    version 2/3/4 index. Raises _IndexFormatError for anything else."""
    import hashlib
    import struct

    if len(data) < 12 + hash_len or data[:4] != b"DIRC":
        raise _IndexFormatError("not an index")
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        raise _IndexFormatError(f"index version {version}")
    trailer = data[-hash_len:]
    if trailer.strip(b"\0"):
        h = hashlib.sha1() if hash_len == 20 else hashlib.sha256()  # noqa: S324 - git's
        h.update(memoryview(data)[:-hash_len])
        if h.digest() != trailer:
            raise _IndexFormatError("index checksum mismatch")
    pos = 12
    prev = b""
    found: dict[bytes, tuple[int, bytes]] = {}
    end = len(data) - hash_len
    fixed = 40 + hash_len + 2
    for _ in range(count):
        if pos + fixed > end:
            raise _IndexFormatError("truncated entry")
        start = pos
        blob = data[pos + 40:pos + 40 + hash_len]
        (flags,) = struct.unpack(">H", data[pos + 40 + hash_len:pos + fixed])
        pos += fixed
        extended = 0
        if flags & 0x4000:
            if version < 3:
                raise _IndexFormatError("extended flag in a version 2 index")
            (extended,) = struct.unpack(">H", data[pos:pos + 2])
            pos += 2
        if version == 4:
            # git's offset varint: 7 bits a byte, high bit = more, +1 per continuation
            b = data[pos]
            pos += 1
            strip = b & 0x7F
            while b & 0x80:
                b = data[pos]
                pos += 1
                strip = ((strip + 1) << 7) | (b & 0x7F)
            nul = data.index(b"\0", pos)
            if strip > len(prev):
                raise _IndexFormatError("bad path compression")
            path = prev[:len(prev) - strip] + data[pos:nul]
            pos = nul + 1
        else:
            nul = data.index(b"\0", pos)
            path = data[pos:nul]
            pos = start + ((nul - start + 8) & ~7)
        prev = path
        stage = (flags >> 12) & 3
        skip_worktree = extended & 0x4000
        intent_to_add = extended & 0x2000
        if stage == 0 and not skip_worktree and not intent_to_add:
            found[path] = (start, blob)
    while pos < end:
        if pos + 8 > end:
            raise _IndexFormatError("truncated extension")
        sig = data[pos:pos + 4]
        (size,) = struct.unpack(">I", data[pos + 4:pos + 8])
        if sig not in _SAFE_INDEX_EXTENSIONS:
            raise _IndexFormatError(f"index extension {sig!r}")
        pos += 8 + size
    if pos != end:
        raise _IndexFormatError("trailing bytes")
    return found


def _patch_stat(buf: bytearray, offset: int, st: os.stat_result) -> None:
    import struct

    m = 0xFFFFFFFF
    struct.pack_into(">IIIIII", buf, offset, st.st_ctime_ns // 1_000_000_000 & m,
                     st.st_ctime_ns % 1_000_000_000, st.st_mtime_ns // 1_000_000_000 & m,
                     st.st_mtime_ns % 1_000_000_000, st.st_dev & m, st.st_ino & m)
    struct.pack_into(">III", buf, offset + 28, st.st_uid & m, st.st_gid & m, st.st_size & m)


def _write_object_to(store: LocalStore, oid: ObjectId, size: int, wt: WorkTree, rel: str, *,
                     executable: bool, direct: bool = True) -> os.stat_result:
    """Place a copy of a verified object at the repository path ``rel`` through the one way
    into the work tree (:class:`gitext.fs.worktree.WorkTree`): a new file beside it (made with
    the umask's mode, as git makes files), the bytes copied in the kernel — or, for a large
    object with ``direct``, past the page cache (:func:`gitext.store.fastcopy.direct_copy`) —
    then moved onto ``rel``. Returns the placed file's stat. Raises OSError or
    UnsafePathError; the temp file never survives."""
    from gitext.store.fastcopy import DIRECT_MIN, direct_copy, kernel_copy

    def fill(fd: int) -> None:
        src = os.open(store.path(oid), os.O_RDONLY)
        try:
            if not (direct and size >= DIRECT_MIN and direct_copy(src, fd, size)):
                kernel_copy(src, fd, size)
        finally:
            os.close(src)

    return wt.write(rel, fill, mode=0o777 if executable else 0o666)


class InPlaceFill:
    """Fill pointer files in place, possibly while their objects are still arriving.

    ``start()`` picks the work-tree files that are exactly their pointer, takes
    ``index.lock`` and reads the index; ``object_ready(oid)`` (from any thread: a fetch
    calls it for each object it has just verified) starts copying that object to the files
    waiting for it; ``finish()`` places the rest from the cache, waits, records the new stat
    data in the index and releases the lock. ``abort()`` releases the lock without writing
    the index (files already placed hold their right content; git re-cleans them once)."""

    def __init__(self, repo: Repo, store: LocalStore, paths: Sequence[str] | None = None, *,
                 jobs: int | None = None, direct: bool = True) -> None:
        self.repo = repo
        self.direct = direct  # large files past the page cache (config core.directio)
        self.store = store
        self.paths = paths
        self.result = DirectFill()
        # copying is bound by CPU and memory bandwidth: more threads than cores only
        # fight over the GIL
        self._workers = max(1, min(jobs or os.cpu_count() or 2, os.cpu_count() or 2, 16))
        self._waiting: dict[ObjectId, list[tuple[TrackedPointer, int]]] = {}
        self._guard = threading.Lock()
        self._done: list[tuple[str, int, os.stat_result]] = []
        self._errors: list[BaseException] = []
        self._futures: list[Future[None]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._lock_fd = -1
        self._data = bytearray()
        self._hash_len = 20
        self._lock_path = repo.git_dir / "index.lock"
        self._wt = WorkTree(repo.root)

    # -- setup ------------------------------------------------------------------------------
    def start(self) -> None:
        from gitext.sync.pointers import index_pointers, worktree_is_pointer

        root = self.repo.root
        candidates = []
        for tp in index_pointers(self.repo, self.paths or ()):
            if tp.pointer.size > 0 and worktree_is_pointer(root / tp.path, tp.pointer):
                candidates.append(tp)
        if not candidates:
            return
        if os.environ.get("GIT_INDEX_FILE"):
            self.result.left = [tp.path for tp in candidates]
            return
        self._remove_stale_temps(candidates)
        try:
            self._lock_fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                    0o666)
        except OSError:  # git is busy with this index: let git's own checkout wait its turn
            self.result.left = [tp.path for tp in candidates]
            return
        note_owner(self._lock_path)
        try:
            fmt = self.repo.git("rev-parse", "--show-object-format", check=False).stdout
            self._hash_len = 32 if fmt.strip() == b"sha256" else 20
            self._data = bytearray((self.repo.git_dir / "index").read_bytes())
            entries = _index_entries(bytes(self._data), self._hash_len)
        except (OSError, _IndexFormatError, ValueError, IndexError):
            self.result.left = [tp.path for tp in candidates]
            self.abort()
            return
        for tp in candidates:
            hit = entries.get(tp.path.encode("utf-8", "surrogateescape"))
            if hit is None or hit[1].hex() != tp.blob:
                self.result.left.append(tp.path)
                continue
            self._waiting.setdefault(tp.pointer.oid, []).append((tp, hit[0]))
        if self._waiting:
            self._pool = ThreadPoolExecutor(max_workers=self._workers)
        else:
            self.abort()

    def _remove_stale_temps(self, candidates: list[TrackedPointer]) -> None:
        """Temp files that a killed pull left beside the files it was filling."""
        from gitext.fs.worktree import stale_temps_in

        folders = {posixpath.dirname(tp.path) for tp in candidates}
        for folder in folders:
            for stale in stale_temps_in(self.repo.root / folder if folder else self.repo.root):
                with contextlib.suppress(OSError):
                    self._wt.remove(stale.relative_to(self.repo.root).as_posix())

    @property
    def active(self) -> bool:
        return self._pool is not None

    # -- placing ----------------------------------------------------------------------------
    def object_ready(self, oid: ObjectId) -> None:
        """``oid`` is in the cache and its bytes were just verified: start placing its
        files on the pool (measured: a little faster than placing them on the fetch
        worker's own thread, which then waits on the disk instead of fetching)."""
        with self._guard:
            items = self._waiting.pop(oid, None)
            if items is None or self._pool is None:
                return
            for item in items:
                self._futures.append(self._pool.submit(self._place, item))

    def _place(self, item: tuple[TrackedPointer, int]) -> None:
        from gitext.sync.pointers import worktree_is_pointer

        tp, offset = item
        dest = self.repo.root / tp.path
        try:
            if not worktree_is_pointer(dest, tp.pointer):  # changed meanwhile: leave it
                return
            mode = int.from_bytes(self._data[offset + 24:offset + 28], "big")
            st = _write_object_to(self.store, tp.pointer.oid, tp.pointer.size, self._wt,
                                  tp.path, executable=bool(mode & 0o111),
                                  direct=self.direct)
        except BaseException as exc:  # noqa: BLE001 - re-raised by finish()
            with self._guard:
                self._errors.append(exc)
            return
        with self._guard:
            self._done.append((tp.path, offset, st))

    def _place_cached(self) -> None:
        """Start every file whose object was already cached (verified first: from the
        stat-keyed record, or hashed now in parallel; state.db stays on this thread)."""
        with self._guard:
            waiting = dict(self._waiting)
        present = [o for o in waiting if self.store.size(o) == waiting[o][0][0].pointer.size]
        cached = set(present)
        for o in waiting:
            if o not in cached:
                with self._guard:
                    items = self._waiting.pop(o, [])
                self.result.missing += [tp.path for tp, _ in items]
        unverified = [o for o in present if not self.store.is_verified(o)]
        bad: set[ObjectId] = set()
        if unverified:
            with ThreadPoolExecutor(max_workers=self._workers) as pool:
                sums = dict(zip(unverified, pool.map(
                    lambda o: hash_file(self.store.path(o), o.algo)[0], unverified),
                    strict=True))
            for oid, digest in sums.items():
                if digest != oid.digest:
                    bad.add(oid)
                    continue
                with contextlib.suppress(OSError):
                    path = self.store.path(oid)
                    self.store.state.record(os.fspath(path), oid.algo, path.stat(), digest)
            self.store.state.flush()
        for oid in present:
            if oid in bad:  # smudge quarantines it and says so
                with self._guard:
                    items = self._waiting.pop(oid, [])
                self.result.left += [tp.path for tp, _ in items]
            else:
                self.object_ready(oid)

    # -- ending -----------------------------------------------------------------------------
    def finish(self) -> DirectFill:
        from gitext.sync.pointers import PendingPointers

        if self._pool is None:
            return self.result
        try:
            self._place_cached()
            while True:
                with self._guard:
                    pending = list(self._futures)
                    self._futures.clear()
                if not pending:
                    break
                for fut in pending:
                    fut.result()
            self._pool.shutdown(wait=True)
            self._pool = None
            for path, offset, st in self._done:
                _patch_stat(self._data, offset, st)
                self.result.filled.append(path)
            if self._done:
                h = self._hash_len
                if self._data[-h:].strip(b"\0"):
                    import hashlib

                    hasher = hashlib.sha1() if h == 20 else hashlib.sha256()  # noqa: S324
                    hasher.update(memoryview(self._data)[:-h])
                    self._data[-h:] = hasher.digest()
                view = memoryview(self._data)
                while view:
                    view = view[os.write(self._lock_fd, view):]
                os.close(self._lock_fd)
                self._lock_fd = -1
                os.replace(self._lock_path, self.repo.git_dir / "index")
                clear_owner(self._lock_path)
        finally:
            self.abort()
            if self.result.filled:
                PendingPointers(self.store.state).remove_many(
                    os.fspath(self.repo.root / p) for p in self.result.filled)
        if self._errors:
            raise self._errors[0]
        return self.result

    def abort(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._wt.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
            with contextlib.suppress(FileNotFoundError):
                self._lock_path.unlink()
            clear_owner(self._lock_path)
        # files never started go through git checkout
        with self._guard:
            for items in self._waiting.values():
                self.result.left += [tp.path for tp, _ in items]
            self._waiting.clear()


def fill_in_place(repo: Repo, store: LocalStore, paths: Sequence[str] | None = None, *,
                  jobs: int | None = None, direct: bool = True) -> DirectFill:
    """Replace work-tree files that are exactly their pointer and whose object is cached
    (and verified) with the content, and record their stat in the index. Files this cannot
    handle are listed in ``left`` for ``git checkout``; objects not cached in ``missing``."""
    fill = InPlaceFill(repo, store, paths, jobs=jobs, direct=direct)
    fill.start()
    return fill.finish()


# -- pre-push -------------------------------------------------------------------------------

def _is_zero(sha: str) -> bool:
    return not sha.strip("0")


_REF_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def pre_push(repo: Repo, remote_name: str, remote_url: str, stdin_lines: list[str]) -> int:
    """git's pre-push hook: upload the objects the pushed commits need that the default data
    remote lacks. Returns 0; raises :class:`RemoteError` (push refused) if it cannot."""
    local_shas: list[str] = []
    exclude: list[str] = []
    for line in stdin_lines:
        parts = line.split()
        if len(parts) != 4:
            continue
        _lref, lsha, _rref, rsha = parts
        if not _is_zero(lsha):
            local_shas.append(lsha)
        if not _is_zero(rsha) and _object_exists(repo, rsha):
            exclude.append(rsha)
    if not local_shas:
        return 0
    args = [*dict.fromkeys(local_shas), "--not", *dict.fromkeys(exclude)]
    if _REF_NAME_RE.fullmatch(remote_name):
        args.append(f"--remotes={remote_name}")
    refs = _resolve_blobs(repo, _blobs_rev_list(repo, args), PathFilter(),
                          yaml_revs=list(dict.fromkeys(local_shas)))
    if not refs.objects and not refs.manifests:
        return 0
    store = _store(repo)
    expand_manifests(store, refs, PathFilter())
    remote = open_remote(_load_config(repo), root=repo.worktree)
    try:
        report = push(repo, remote, refs, store=store)
    finally:
        remote.close()
    if not report.ok:
        lines = [f"data remote '{remote.name}' ({remote.url}): {report.summary()}"]
        for oid in report.missing[:5]:
            lines.append(f"  not in the local cache: {oid}")
        for oid, why in report.failed[:5]:
            lines.append(f"  {oid}: {why}")
        raise RemoteError(
            "; ".join(lines) if len(lines) == 1 else "\n".join(lines),
            hint="fetch missing objects ('git archives fetch --all-commits') or retry; "
                 "'git push --no-verify' skips the upload (teammates will lack the data)",
        )
    return 0


def _object_exists(repo: Repo, sha: str) -> bool:
    return repo.git("cat-file", "-e", sha, check=False).returncode == 0


# -- status ---------------------------------------------------------------------------------

@dataclass
class RemoteStatus:
    remote: str
    total: int
    local_only: list[ObjectId]   # in the cache, not on the remote: push would upload
    remote_only: list[ObjectId]  # on the remote, not in the cache: fetch would download
    nowhere: list[ObjectId]      # on neither side


def remote_status(repo: Repo, remote: Remote, refs: References) -> RemoteStatus:
    store = _store(repo)
    files, mans = _items(refs, store)
    items = [*files, *mans]
    present = remote.backend.exists_many([i.key for i in items])
    st = RemoteStatus(remote.name, len(items), [], [], [])
    for i in items:
        local = (store.root / i.key).is_file()
        on_remote = i.key in present
        if local and not on_remote:
            st.local_only.append(i.oid)
        elif on_remote and not local:
            st.remote_only.append(i.oid)
        elif not local and not on_remote:
            st.nowhere.append(i.oid)
    return st


def remote_status_lines(repo: Repo, remote_name: str | None, *,
                        revs: list[str] | None = None, all_commits: bool = False) -> list[str]:
    """Human lines for ``status --remote``: what push and fetch would move."""
    refs = find_references(repo, revs, all_commits=all_commits)
    remote = open_remote(_load_config(repo), remote_name, root=repo.worktree)
    try:
        st = remote_status(repo, remote, refs)
    finally:
        remote.close()
    lines = [f"Remote '{st.remote}' ({remote.url}): {st.total} object(s) referenced"]
    if not (st.local_only or st.remote_only or st.nowhere):
        lines.append("  in sync: everything referenced is on both sides")
    if st.local_only:
        lines.append(f"  {len(st.local_only)} to push (only in the local cache)")
    if st.remote_only:
        lines.append(f"  {len(st.remote_only)} to fetch (only on the remote)")
    if st.nowhere:
        lines.append(f"  {len(st.nowhere)} missing on both sides")
        lines += [f"    {o}" for o in st.nowhere[:10]]
    if refs.unexpanded:
        lines.append(f"  {len(refs.unexpanded)} directory manifest(s) not cached: their "
                     "files are not counted")
    return lines


# -- gc -------------------------------------------------------------------------------------

DEFAULT_GC_EXPIRE = "1.hour"
_EXPIRE_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
                 "h": 3600, "hour": 3600, "d": 86400, "day": 86400, "w": 604800,
                 "week": 604800}
_EXPIRE_RE = re.compile(r"(\d+(?:\.\d+)?)[ .]?([a-z]+?)s?(?:[ .]ago)?")


def parse_expire(text: str, *, where: str = "--expire") -> float | None:
    """gc's grace period in seconds (git's ``gc.pruneExpire`` idea): ``1.hour``, ``30m``,
    ``2.weeks.ago``, ``90s``, ``now`` (0) or ``never`` (None: nothing unreferenced is ever
    old enough to go)."""
    value = text.strip().lower()
    if value in ("now", "all", "0"):
        return 0.0
    if value in ("never", "false"):
        return None
    m = _EXPIRE_RE.fullmatch(value)
    if m is None or m.group(2) not in _EXPIRE_UNITS:
        raise UsageError(f"{where}: '{text}' is not a grace period",
                         hint="e.g. 1.hour, 30m, 2.weeks.ago, now or never")
    return float(m.group(1)) * _EXPIRE_UNITS[m.group(2)]


@dataclass
class GcPlan:
    where: str
    keep: set[str]                  # layout keys that must stay
    doomed: list[tuple[str, int]]   # (key, size) that would be deleted
    # unreferenced but written within the grace period (a `git add` not yet indexed, a
    # concurrent repro or push): kept, and so are the files their manifests list
    recent: list[tuple[str, int]] = field(default_factory=list)
    cutoff: float | None = None     # objects written after this (epoch seconds) are kept

    @property
    def bytes(self) -> int:
        return sum(s for _, s in self.doomed)


def _worktrees(repo: Repo) -> list[tuple[Path, str | None]]:
    out = repo.git("worktree", "list", "--porcelain", check=False).stdout.decode(
        "utf-8", "surrogateescape")
    trees: list[tuple[Path, str | None]] = []
    path: Path | None = None
    head: str | None = None
    for line in [*out.splitlines(), ""]:
        if line.startswith("worktree "):
            path, head = Path(line[len("worktree "):]), None
        elif line.startswith("HEAD "):
            head = line[len("HEAD "):]
        elif not line and path is not None:
            trees.append((path, head))
            path = None
    return trees


def keep_references(repo: Repo, *, all_commits: bool, branch_tips: bool = False) -> References:
    """Everything gc must keep: each worktree's HEAD, index (also of a worktree whose folder
    is gone) and on-disk ``dvc.lock``, every stash (with its index and untracked parts),
    every commit not on a remote-tracking ref (unpushed), plus the whole history with
    ``all_commits`` or every ref's tip with ``branch_tips``."""
    keep = PathFilter()
    refs = References()
    blobs: dict[str, str] = {}
    heads: list[str] = []
    for _wt, head in _worktrees(repo):
        if head and not _is_zero(head) and _object_exists(repo, head):
            heads.append(head)
            b, _ = _blobs_at(repo, head)
            blobs.update({k: v for k, v in b.items() if k not in blobs})
    locks: set[str] = set()
    for data in _index_listings(repo):
        for rec in data.split(b"\0"):
            meta, _, p = rec.partition(b"\t")
            fields = meta.split()
            if len(fields) == 3:
                blobs.setdefault(fields[1].decode(), p.decode("utf-8", "surrogateescape"))
        locks.update(_tracked_locks(data))
    _add_disk_locks(repo, refs, locks, keep)
    stashes = _stash_commits(repo)
    extra = [f"{s}^{n}" for s in stashes for n in (2, 3) if _rev_exists(repo, f"{s}^{n}")]
    for rev in [*stashes, *extra]:
        b, _ = _blobs_at(repo, rev)
        blobs.update({k: v for k, v in b.items() if k not in blobs})
    if all_commits:
        if _has_refs(repo):
            blobs.update({k: v for k, v in _blobs_rev_list(repo, ["--all"]).items()
                          if k not in blobs})
    else:
        if _has_refs(repo):
            unpushed = _blobs_rev_list(repo, ["--branches", "--tags", "--not", "--remotes"])
            blobs.update({k: v for k, v in unpushed.items() if k not in blobs})
        if branch_tips:
            tips = repo.git("for-each-ref", "--format=%(objectname)",
                            "refs/heads", "refs/tags", "refs/remotes").stdout.decode().split()
            for tip in dict.fromkeys(tips):
                if _rev_exists(repo, tip):
                    b, _ = _blobs_at(repo, repo.resolve_rev(tip))
                    blobs.update({k: v for k, v in b.items() if k not in blobs})
    refs.update(_resolve_blobs(repo, blobs, keep, yaml_revs=heads))
    return refs


def _add_disk_locks(repo: Repo, refs: References, tracked: set[str], keep: PathFilter) -> None:
    """The ``dvc.lock`` files on disk in every worktree (a repro may not have staged them),
    each with the ``dvc.yaml`` beside it for its ``cache: false`` outputs."""
    for wt, _head in _worktrees(repo):
        if not wt.is_dir():
            continue
        for rel in sorted({LOCK_NAME, *tracked}):
            lock = wt / rel
            lock_dir = rel.rpartition("/")[0]
            uncached = UncachedOutputs()
            with contextlib.suppress(OSError):
                uncached.add_yaml(lock_dir, (lock.parent / YAML_NAME).read_bytes())
            with contextlib.suppress(OSError):
                _add_lock(refs, lock.read_bytes(), lock_dir, keep, uncached)


def _admin_dirs(repo: Repo) -> list[Path]:
    """The git dir of every worktree: the common dir, then ``worktrees/<name>``."""
    dirs = [repo.common_dir]
    with contextlib.suppress(OSError):
        dirs += sorted(p for p in (repo.common_dir / "worktrees").iterdir() if p.is_dir())
    return dirs


def _index_listings(repo: Repo) -> list[bytes]:
    """``ls-files -s -z`` of every worktree's index, read from its git dir (so a worktree
    whose folder was moved or deleted still counts), and of ``$GIT_INDEX_FILE`` if set.
    An index that cannot be read stops gc: what it names is unknown."""
    from gitext.git.repo import run_git

    env = {k: v for k, v in os.environ.items() if k != "GIT_INDEX_FILE"}
    jobs: list[tuple[Path, dict[str, str]]] = [
        (d, env) for d in _admin_dirs(repo) if (d / "index").is_file()]
    extra = os.environ.get("GIT_INDEX_FILE")
    if extra and Path(extra).is_file():
        jobs.append((repo.git_dir, {**env, "GIT_INDEX_FILE": extra}))
    out: list[bytes] = []
    for admin, run_env in jobs:
        proc = run_git(["--git-dir", os.fspath(admin), "--work-tree", os.fspath(admin),
                        "ls-files", "-s", "-z"], check=False, env=run_env)
        if proc.returncode != 0:
            raise GcRefusedError(
                f"gc refused: cannot read the index in {admin} "
                f"({proc.stderr.decode('utf-8', 'replace').strip()[:200]})",
                hint="fix that worktree's index (git status there) or remove the worktree "
                     "('git worktree prune'); nothing was deleted")
        out.append(proc.stdout)
    return out


# Files git holds while it builds an index: its lock (``git add``, ``commit``, ``checkout``),
# a partial commit's ``next-index-*.lock``, ``git stash``'s temporary ``index.stash.*``.
def _index_busy(name: str) -> bool:
    return name == "index.lock" or name.startswith(("next-index-", "index.stash."))


def indexes_in_progress(repo: Repo) -> list[Path]:
    """Index files some git command is building right now (in any worktree)."""
    found: list[Path] = []
    for admin in _admin_dirs(repo):
        with contextlib.suppress(OSError), os.scandir(admin) as entries:
            found += [Path(e.path) for e in entries if _index_busy(e.name)]
    return found


def _tracked_locks(ls_files_z: bytes) -> list[str]:
    out = []
    for rec in ls_files_z.split(b"\0"):
        p = rec.partition(b"\t")[2].decode("utf-8", "surrogateescape")
        if p.endswith("/" + LOCK_NAME):
            out.append(p)
    return out


def _keep_keys(repo: Repo, store: LocalStore, refs: References, *,
               remote: Remote | None) -> set[str]:
    expand_manifests(store, refs, PathFilter())
    if refs.unexpanded and remote is not None:
        fetch(repo, remote,
              References(manifests=set(refs.unexpanded)), store=store)
        expand_manifests(store, refs, PathFilter())
    if refs.unexpanded:
        first = sorted(refs.unexpanded)[0]
        raise ArchivesError(
            f"gc refused: directory manifest {first.digest}.dir (named in dvc.lock) is not in "
            f"the local cache{' nor on the remote' if remote else ''}, so the files it lists "
            "cannot be told apart from garbage",
            hint="run 'git archives fetch --all-commits' first",
        )
    return {o.key for o in refs.objects} | {m.key + ".dir" for m in refs.manifests}


def _cache_keys(store: LocalStore) -> list[tuple[str, int, float]]:
    """(key, size, when) of every cached object; ``when`` is the later of mtime and ctime
    (an object hard-linked in by a fetch keeps the remote's mtime; its ctime is the link)."""
    out: list[tuple[str, int, float]] = []
    if not store.files.is_dir():
        return out
    for dirpath, _dirs, names in os.walk(store.files):
        for name in names:
            full = Path(dirpath) / name
            with contextlib.suppress(FileNotFoundError):
                st = full.stat()
                out.append((full.relative_to(store.root).as_posix(), st.st_size,
                            max(st.st_mtime, st.st_ctime)))
    return sorted(out)


def _manifest_keys(data: bytes, key: str) -> set[str]:
    from gitext.pipeline.dvchash import parse_manifest

    try:
        entries = parse_manifest(data, where=key)
    except ArchivesError:
        return set()
    return {ObjectId("md5", e.md5).key for e in entries}


class GcRefusedError(ArchivesError):
    """gc cannot tell what is garbage here; nothing was deleted."""


def check_gc_allowed(repo: Repo) -> None:
    """Refuse gc in a DVC project: ``.dvc`` files and DVC remotes name objects we do not
    read yet, so anything deleted could be DVC's only copy."""
    from gitext.pipeline.dvcproject import dvc_gc_blockers

    reasons = dvc_gc_blockers(repo)
    if reasons:
        raise GcRefusedError(
            "gc refused: this is a DVC project (" + "; ".join(reasons) + "), and git-archives "
            "does not read .dvc files or DVC remotes yet, so it cannot tell DVC's data from "
            "garbage",
            hint="use 'dvc gc' (e.g. 'dvc gc --workspace') to clean DVC's cache and remotes; "
                 "nothing was deleted")


def _check_no_index_in_progress(repo: Repo) -> None:
    busy = indexes_in_progress(repo)
    if busy:
        import shlex

        raise GcRefusedError(
            f"gc refused: {_printable(os.fspath(busy[0]))} exists: a git command (add, "
            "commit, stash, checkout...) is building an index, and the objects it has just "
            "stored are in no index yet",
            hint="run gc again when it has finished; if no git command is running, the file "
                 f"is stale: rm {shlex.quote(os.fspath(busy[0]))}")


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)[1:-1]


def plan_gc(repo: Repo, *, all_commits: bool, remote: Remote | None = None,
            expire: float | None = 3600.0, now: float | None = None) -> GcPlan:
    """What ``gc`` would delete from the cache (``remote`` None) or from ``remote``. On a
    remote the tips of every branch, tag and remote-tracking ref are kept as well. Objects
    written less than ``expire`` seconds ago are kept (None: every unreferenced one), and so
    are the files listed by such a recent ``.dir`` manifest.

    In the cache, whatever ``expire`` says, nothing an index names goes, nor anything a
    ``git add`` still running has stored: the cache is listed first, then gc refuses if any
    worktree's index is being built (``index.lock``: git takes it before the clean filter
    stores the first object and releases it once the new index is in place), and only then
    are the indexes read. An object listed was therefore either in an index read after it,
    or written by a command still holding that lock when gc looked."""
    import io

    check_gc_allowed(repo)
    store = _store(repo)
    listing = list(remote.backend.list_times("files/")) if remote is not None \
        else _cache_keys(store)
    if remote is None:
        _check_no_index_in_progress(repo)
    refs = keep_references(repo, all_commits=all_commits, branch_tips=remote is not None)
    keys = _keep_keys(repo, store, refs, remote=remote)
    cutoff = None if expire is None else (time.time() if now is None else now) - expire
    unref = [(k, s, w) for k, s, w in listing if k not in keys]
    recent = [(k, s) for k, s, w in unref if cutoff is None or w > cutoff]
    young = {k for k, _ in recent}
    for key in sorted(k for k in young if k.endswith(".dir")):
        try:
            if remote is None:
                data = (store.root / key).read_bytes()
            else:
                buf = io.BytesIO()
                remote.backend.get(key, buf)
                data = buf.getvalue()
        except (OSError, ObjectMissingError):
            continue
        young |= _manifest_keys(data, key)
    doomed = [(k, s) for k, s, _w in unref if k not in young]
    recent = [(k, s) for k, s, _w in unref if k in young]
    return GcPlan(remote.url if remote is not None else os.fspath(store.root), keys, doomed,
                  recent, cutoff)


def apply_gc(repo: Repo, plan: GcPlan, *, remote: Remote | None = None,
             jobs: int | None = None) -> int:
    """Delete what ``plan`` lists; return the number of objects removed. In the cache, an
    object written again since the plan was made (newer than its cutoff) is kept, and gc
    refuses if a git command has started building an index since (its ``git add`` may be
    about to stage an object the plan lists: the filter does not rewrite one it finds)."""
    if remote is None:
        _check_no_index_in_progress(repo)
        store = _store(repo)
        n = 0
        for key, _ in plan.doomed:
            path = store.root / key
            with contextlib.suppress(FileNotFoundError):
                if plan.cutoff is not None:
                    st = path.stat()
                    if max(st.st_mtime, st.st_ctime) > plan.cutoff:
                        continue
                path.unlink()
                n += 1
        return n
    with ThreadPoolExecutor(max_workers=_jobs(remote, jobs)) as pool:
        list(pool.map(remote.backend.delete, [k for k, _ in plan.doomed]))
    return len(plan.doomed)
