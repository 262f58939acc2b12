"""Which objects the history needs, and moving the missing ones between the cache and a remote.

* :func:`referenced_objects` / :func:`find_references` scan pointer blobs (and ``dvc.lock``
  outputs, with their ``.dir`` manifests expanded) reachable from revisions, cheaply: one
  ``ls-tree``/``rev-list``, one ``cat-file --batch-check``, one ``cat-file --batch`` of the
  small blobs only.
* :func:`push` / :func:`fetch` move only what is missing, in parallel; every fetched object
  is hashed and compared with its id in the cache's ``tmp/`` before it is renamed into place,
  so nothing unverified is ever visible, and an interrupted run leaves only temp files.
* :func:`pre_push` implements git's pre-push protocol, :func:`fetch_objects` serves the
  filter process's delayed smudge, and the ``gc`` functions plan (dry run) and apply
  deletions that never touch what a worktree, index, stash or unpushed commit needs.

Lower layer: never prints. Progress goes to a caller-supplied sink.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gitext import pointer as ptr
from gitext.config import Config, format_size
from gitext.errors import ArchivesError, CorruptObjectError, RemoteError
from gitext.gitrepo import Repo
from gitext.hashing import ObjectId, hash_file
from gitext.remotes.base import ObjectMissingError, Remote, default_jobs, open_remote
from gitext.store.local import READ_ONLY, LocalStore

LOCK_NAME = "dvc.lock"


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


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A git-style path pattern: no '/' matches a name at any depth; otherwise anchored at
    the top. ``*``/``?`` stay inside one component, ``**`` crosses them; a match on a folder
    covers everything below it."""
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


class PathFilter:
    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = [_glob_regex(p) for p in include if p.strip()]
        self.exclude = [_glob_regex(p) for p in exclude if p.strip()]

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


def _lock_outs(data: bytes, lock_dir: str) -> list[tuple[str, str, int | None]]:
    """(path relative to the repository, md5 or ``<md5>.dir``) of every output in a lock."""
    from gitext.pipeline.lockfile import parse_lock

    try:
        lock = parse_lock(data.decode("utf-8"), file=f"{lock_dir}/{LOCK_NAME}".lstrip("/"))
    except (ArchivesError, UnicodeDecodeError):
        return []  # a broken lock is reported by the pipeline commands, not by transfers
    found: list[tuple[str, str, int | None]] = []
    for entry in lock.stages.values():
        for out in entry.outs:
            if out.md5 is None:
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


def _add_lock(refs: References, data: bytes, lock_dir: str, keep: PathFilter) -> None:
    for path, md5, size in _lock_outs(data, lock_dir):
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


def _resolve_blobs(repo: Repo, blobs: dict[str, str], keep: PathFilter,
                   sizes: dict[str, int] | None = None) -> References:
    """Pointer ids and lock outputs among ``blobs`` (sha -> a path it appears at)."""
    refs = References()
    if not blobs:
        return refs
    if sizes is None:
        sizes = {}
        shas = list(blobs)
        out = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                       input_bytes="".join(s + "\n" for s in shas).encode()).stdout
        for line in out.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "blob":
                sizes[parts[0]] = int(parts[2])
    wanted = []
    for sha, path in blobs.items():
        size = sizes.get(sha, -1)
        is_lock = _lock_dir(path) is not None and size > 0
        if is_lock or (0 < size < ptr.MAX_POINTER_SIZE and keep(path)):
            wanted.append(sha)
    for sha, data in repo.cat_blobs(wanted):
        path = blobs[sha]
        lock_dir = _lock_dir(path)
        if lock_dir is not None:
            _add_lock(refs, data, lock_dir, keep)
            continue
        p = ptr.try_parse(data)
        if p is not None:
            refs.objects.add(p.oid)
            refs.sizes[p.oid] = p.size
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
            refs.update(_resolve_blobs(repo, _blobs_rev_list(repo, args), keep))
    else:
        for rev in revs or ["HEAD"]:
            sha = repo.resolve_rev(rev)
            blobs, sizes = _blobs_at(repo, sha)
            refs.update(_resolve_blobs(repo, blobs, keep, sizes))
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
    """Upload what ``remote`` lacks. Manifests go last, so a remote that has a ``.dir`` also
    has every file it lists. Objects that the remote lacks and the cache lacks too are
    reported in ``missing``."""
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
    if report.ok:
        _run_parallel([i for i in mans if i.key not in present], n, upload, report)
    elif mans:
        report.failed += [(i.oid, "not uploaded: some of its files failed")
                          for i in mans if i.key not in present]
    return report


def _commit_fetched(store: LocalStore, tmp: Path, item: _Item) -> Path:
    """Verify ``tmp`` against the id, then make it read-only and rename it into place."""
    digest, _size = hash_file(tmp, item.oid.algo)
    if item.manifest:
        from gitext.pipeline.dvchash import parse_manifest

        data = tmp.read_bytes()
        ok = digest == item.oid.digest
        if ok:
            parse_manifest(data, where=f"remote manifest {item.oid.digest}.dir")
    else:
        ok = digest == item.oid.digest
    if not ok:
        raise CorruptObjectError(f"remote object {item.oid} hashes to {digest[:12]}…: refused")
    final = store.root / item.key
    if (tmp.stat().st_mode & 0o777) != READ_ONLY:
        with contextlib.suppress(OSError):  # a hard link shares the remote's inode and mode
            tmp.chmod(READ_ONLY)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(final)
    return final


def fetch(repo: Repo, remote: Remote, refs: References | Iterable[ObjectId], *,
          jobs: int | None = None, progress: ProgressSink | None = None,
          store: LocalStore | None = None, include: Sequence[str] = (),
          exclude: Sequence[str] = ()) -> TransferReport:
    """Download what the cache lacks; manifests first, then the files they list. Every
    object is verified before it becomes visible in the cache."""
    store = store or _store(repo)
    if isinstance(refs, References):
        files, mans = _items(refs, store)
    else:
        refs = References(*_split_plain(list(refs), store))
        files, mans = _items(refs, store)
    report = TransferReport("fetch", requested=len(files) + len(mans))
    n = _jobs(remote, jobs)
    lock = threading.Lock()
    verified: list[tuple[Path, ObjectId]] = []

    def download(item: _Item) -> None:
        store.tmp.mkdir(parents=True, exist_ok=True)
        tmp = store.tmp / f"fetch-{uuid.uuid4().hex}"
        try:
            size = remote.backend.get(item.key, tmp, progress.advance if progress else None)
            final = _commit_fetched(store, tmp, item)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES):
                raise LocalWriteError(
                    f"cannot write into the local cache {store.root}: "
                    f"{exc.strerror or exc}",
                    hint="free disk space (or 'git archives gc --workspace'), then pull again; "
                         "nothing partial was kept",
                ) from None
            raise RemoteError(f"{item.oid}: {exc.strerror or exc}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        with lock:
            report.transferred.append(item.oid)
            report.bytes += size
            if not item.manifest:
                verified.append((final, item.oid))
        if progress is not None:
            progress.file_done()

    todo_m = [m for m in mans if not (store.root / m.key).is_file()]
    report.already += len(mans) - len(todo_m)
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


def _record_verified(store: LocalStore, verified: list[tuple[Path, ObjectId]]) -> None:
    """Remember the hashes just checked (sqlite is used from this thread only)."""
    if not verified:
        return
    try:
        for path, oid in verified:
            with contextlib.suppress(FileNotFoundError):
                store.state.record(os.fspath(path), oid.algo, path.stat(), oid.digest)
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
    refs = _resolve_blobs(repo, _blobs_rev_list(repo, args), PathFilter())
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

@dataclass
class GcPlan:
    where: str
    keep: set[str]                  # layout keys that must stay
    doomed: list[tuple[str, int]]   # (key, size) that would be deleted

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
    """Everything gc must keep: each worktree's HEAD, index and on-disk ``dvc.lock``, every
    stash (with its index and untracked parts), every commit not on a remote-tracking ref
    (unpushed), plus the whole history with ``all_commits`` or every ref's tip with
    ``branch_tips``."""
    keep = PathFilter()
    refs = References()
    blobs: dict[str, str] = {}
    for wt, head in _worktrees(repo):
        if head and not _is_zero(head) and _object_exists(repo, head):
            b, _ = _blobs_at(repo, head)
            blobs.update({k: v for k, v in b.items() if k not in blobs})
        if wt.is_dir():
            proc = _run_in(wt, "ls-files", "-s", "-z")
            for rec in proc.split(b"\0"):
                meta, _, p = rec.partition(b"\t")
                fields = meta.split()
                if len(fields) == 3:
                    blobs.setdefault(fields[1].decode(), p.decode("utf-8", "surrogateescape"))
            for lock in [wt / LOCK_NAME, *(wt / p for p in _tracked_locks(proc))]:
                with contextlib.suppress(OSError):
                    rel = lock.parent.relative_to(wt).as_posix()
                    _add_lock(refs, lock.read_bytes(), "" if rel == "." else rel, keep)
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
    refs.update(_resolve_blobs(repo, blobs, keep))
    return refs


def _tracked_locks(ls_files_z: bytes) -> list[str]:
    out = []
    for rec in ls_files_z.split(b"\0"):
        p = rec.partition(b"\t")[2].decode("utf-8", "surrogateescape")
        if p.endswith("/" + LOCK_NAME):
            out.append(p)
    return out


def _run_in(path: Path, *args: str) -> bytes:
    from gitext.gitrepo import run_git

    return run_git(args, cwd=path, check=False).stdout


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


def _cache_keys(store: LocalStore) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    if not store.files.is_dir():
        return out
    for dirpath, _dirs, names in os.walk(store.files):
        for name in names:
            full = Path(dirpath) / name
            with contextlib.suppress(FileNotFoundError):
                out.append((full.relative_to(store.root).as_posix(), full.stat().st_size))
    return sorted(out)


def plan_gc(repo: Repo, *, all_commits: bool, remote: Remote | None = None) -> GcPlan:
    """What ``gc`` would delete from the cache (``remote`` None) or from ``remote``. On a
    remote the tips of every branch, tag and remote-tracking ref are kept as well."""
    store = _store(repo)
    refs = keep_references(repo, all_commits=all_commits, branch_tips=remote is not None)
    keys = _keep_keys(repo, store, refs, remote=remote)
    listing = list(remote.backend.list("files/")) if remote is not None else _cache_keys(store)
    doomed = [(k, s) for k, s in listing if k not in keys]
    return GcPlan(remote.url if remote is not None else os.fspath(store.root), keys, doomed)


def apply_gc(repo: Repo, plan: GcPlan, *, remote: Remote | None = None,
             jobs: int | None = None) -> int:
    """Delete what ``plan`` lists; return the number of objects removed."""
    if remote is None:
        store = _store(repo)
        n = 0
        for key, _ in plan.doomed:
            with contextlib.suppress(FileNotFoundError):
                (store.root / key).unlink()
                n += 1
        return n
    with ThreadPoolExecutor(max_workers=_jobs(remote, jobs)) as pool:
        list(pool.map(remote.backend.delete, [k for k, _ in plan.doomed]))
    return len(plan.doomed)
