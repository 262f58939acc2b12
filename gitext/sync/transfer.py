"""Moving the missing objects between the cache and a remote.

:func:`push` / :func:`fetch` move only what is missing, in parallel; every fetched object
is hashed and compared with its id in the cache's ``tmp/`` before it is renamed into place
(:mod:`gitext.sync.download`), so nothing unverified is ever visible, and an interrupted
run leaves only temp files.
:func:`fetch_objects` serves the filter process's delayed smudge. What to move comes from
:mod:`gitext.sync.references`; the run-cache rides on these in :mod:`gitext.sync.runcache`.

Lower layer: never prints. Progress goes to a caller-supplied sink.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from gitext.codec.hashing import ObjectId
from gitext.config import Config
from gitext.errors import ArchivesError, ObjectMissingError
from gitext.git.repo import Repo
from gitext.remotes import Remote, open_remote
from gitext.remotes.backend import (
    AheadReads,
    Backend,
    PartsTaker,
    ReadsAhead,
    RemoteRefusedError,
    UploadAnswers,
    can_list,
    chunk_capable,
    plan,
)
from gitext.store.dvccache import open_store
from gitext.store.lfsobjects import take_over_missing
from gitext.store.objects import LocalStore
from gitext.sync.download import AsChunks, Downloads
from gitext.sync.patterns import PathFilter
from gitext.sync.references import References, expand_manifests
from gitext.sync.transferbase import (
    ProgressSink,
    TransferItem,
    TransferReport,
    run_parallel,
    transfer_items,
)

__all__ = ["ProgressSink", "TransferItem", "TransferReport", "check_writable", "fetch",
           "fetch_objects", "load_config", "push", "run_parallel", "transfer_items",
           "transfer_jobs"]


def transfer_jobs(remote: Remote, jobs: int | None) -> int:
    return jobs or remote.jobs or remote.default_jobs


def check_writable(repo: Repo, remote: Remote, doing: str) -> None:
    """Refuse, before any request, to ``doing`` on a read-only remote (an http(s) one),
    naming the writable remotes the user has instead."""
    if not getattr(remote.backend, "read_only", False):
        return
    from gitext.codec.shellquote import display, shell_arg
    from gitext.remotekinds import url_scheme
    from gitext.remotes import remote_names

    cfg = load_config(repo)
    others = [n for n in remote_names(cfg) if n != remote.name
              and url_scheme(cfg.get(f"remote.{n}.url") or "") not in ("http", "https")]
    kind = url_scheme(remote.url) or "read-only"
    message = (f"the {kind} remote '{display(remote.name)}' ({remote.url}) is read-only: "
               f"it cannot {doing}")
    if others:
        raise RemoteRefusedError(
            f"{message}; use '{display(others[0])}' instead",
            hint=f"git archives push -r {shell_arg(others[0])}  (or make it the default: git "
                 f"archives remote default {shell_arg(others[0])})")
    raise RemoteRefusedError(message, hint="add a writable remote and make it the default: "
                             "git archives remote add -d storage s3://bucket/path")


def push(repo: Repo, remote: Remote, refs: References | Iterable[ObjectId], *,
         jobs: int | None = None, progress: ProgressSink | None = None,
         store: LocalStore | None = None) -> TransferReport:
    """Upload what ``remote`` lacks. Manifests go last, and only once every file they list
    is on the remote (else they are ``withheld``), so a remote that has a ``.dir`` also has
    every file it lists. Objects that the remote lacks and the cache lacks too are reported
    in ``missing``. A read-only remote is refused first (:func:`check_writable`)."""
    check_writable(repo, remote, "take uploads (push)")
    store = store or open_store(repo)
    if isinstance(refs, References):
        refs = refs.pushable()  # never what only 'push: false' outputs name (as DVC)
    # manifests were expanded (and filtered) by the caller
    files, mans = transfer_items(refs, store)
    take_over_missing(repo, store, [i.oid for i in files])  # a former git-lfs clone's objects
    report = TransferReport("push", requested=len(files) + len(mans))
    chunked = _chunked_items(store, files)  # held as chunks (gitext.sync.chunksync)
    # a chunked object's size as its pointer says (its recipe's would cost the hook an
    # import of the chunk store), checked against the recipe when it is uploaded
    claimed = refs.sizes if isinstance(refs, References) else {}
    all_sizes = {i: (claimed.get(i.oid) if i in chunked else None) or store.size(i.oid) or 0
                 for i in files}
    # largest first, and asked about in that order where the uploads ask (UploadAnswers)
    by_size = sorted(all_sizes, key=lambda i: all_sizes[i], reverse=True)
    plan(remote.backend, "upload", [(i.key, all_sizes[i]) for i in by_size if all_sizes[i]])
    if chunked:  # imported during the first request's round trip (not before: the GIL)
        from gitext.lazyimport import preload

        preload(*(["gitext.sync.chunksync"] if chunk_capable(remote.backend) else
                  ["gitext.store.chunks.store", "gitext.store.chunks.rebuild"]))  # sent whole
    answers = isinstance(remote.backend, UploadAnswers) and not mans
    if not mans and isinstance(remote.backend, UploadAnswers):
        remote.backend.ask_first("upload")  # (the uploads would ask it, after their imports)
    present = set() if answers else remote.backend.exists_many([i.key for i in [*files, *mans]])
    recipes_there = _present_as_recipes(remote, [i for i in chunked if i.key not in present])
    present |= recipes_there
    report.already = len(present)
    lock = threading.Lock()

    def upload(item: TransferItem) -> None:
        sent = _put_one(store, remote.backend, item, progress)
        with lock:
            if sent is None:
                report.already += 1
            else:
                report.transferred.append(item.oid)
                report.bytes += sent
        if progress is not None:
            progress.file_done()

    n = transfer_jobs(remote, jobs)
    sizes = {i: s for i, s in all_sizes.items() if i.key not in present}
    if chunked and chunk_capable(remote.backend):
        from gitext.sync.chunksync import push_chunked

        # (those whose recipe is there too: a chunk no sound pack holds is sent again)
        as_chunks = [i for i in chunked if i.key not in present or i.key in recipes_there]
        push_chunked(store, remote, as_chunks, report, jobs=n, progress=progress,
                     recipes_there=recipes_there)
        sizes = {i: s for i, s in sizes.items() if i not in chunked}
    # An LFS server's default thread count adapts, from a thread a core: a server on this
    # machine or the LAN that runs Python serves fewer at a time faster (design note 60;
    # the other kinds keep their counts until measured with it).
    adapt = answers and not (jobs or remote.jobs)
    run_parallel([i for i in by_size if i in sizes], n, upload, report, adapt=adapt,
                 start=max(2, os.cpu_count() or 1))
    todo_m = [i for i in mans if i.key not in present]
    if todo_m:
        ready = _complete_manifests(store, remote, todo_m, present, report)
        run_parallel(ready, n, upload, report)
    return report


def _complete_manifests(store: LocalStore, remote: Remote, mans: list[TransferItem],
                        present: set[str], report: TransferReport) -> list[TransferItem]:
    """The manifests among ``mans`` whose every file is now on the remote (uploaded by this
    push or there before). The others are withheld: a remote never holds a ``.dir`` that
    lists a file it lacks (a partial ``--include``, or a file that failed to upload)."""
    from gitext.store.manifests import parse_manifest

    on_remote = set(present) | {o.key for o in report.transferred}
    needs: dict[TransferItem, set[str]] = {}
    for m in mans:
        try:
            data = store.key_path(m.key).read_bytes()
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


def fetch(repo: Repo, remote: Remote, refs: References | Iterable[ObjectId], *,
          jobs: int | None = None, progress: ProgressSink | None = None,
          store: LocalStore | None = None, include: Sequence[str] = (),
          exclude: Sequence[str] = (),
          on_object: Callable[[ObjectId], None] | None = None) -> TransferReport:
    """Download what the cache lacks; manifests first, then the files they list. Every
    object is verified before it becomes visible in the cache; ``on_object`` is then called
    with its id (from a worker thread), e.g. to start writing it to the work tree."""
    store = store or open_store(repo)
    if isinstance(refs, References):
        files, mans = transfer_items(refs, store)
    else:
        refs = References(*_split_plain(list(refs), store))
        files, mans = transfer_items(refs, store)
    report = TransferReport("fetch", requested=len(files) + len(mans))
    n = transfer_jobs(remote, jobs)
    dl = Downloads(store, remote, report, sizes=refs.sizes, progress=progress,
                   on_object=on_object)
    download = dl.one
    todo_m = [m for m in mans if not store.key_path(m.key).is_file()]
    report.already += len(mans) - len(todo_m)
    for algo in {i.oid.algo for i in [*files, *mans]}:
        store.tmp_dir(algo).mkdir(parents=True, exist_ok=True)
    run_parallel(todo_m, n, download, report)
    keep = PathFilter(include, exclude)
    expand_manifests(store, refs, keep)
    files, _ = transfer_items(refs, store)
    report.requested = len(files) + len(mans)
    take_over_missing(repo, store, [f.oid for f in files])  # git-lfs's copies: no download
    todo = [f for f in files if not store.has(f.oid)]  # (a recipe counts: is_chunked)
    report.already += len(files) - len(todo)
    # Largest first: a big object started last would finish alone on one worker.
    todo.sort(key=lambda i: refs.sizes.get(i.oid, 0), reverse=True)
    ahead = _read_ahead(remote.backend, todo, refs.sizes)  # meanwhile: the chunked ones
    try:
        return _fetch_files(dl, todo, n=n, ahead=ahead, adapt=not (jobs or remote.jobs))
    finally:
        if ahead is not None:
            ahead.close()


def _read_ahead(backend: Backend, todo: list[TransferItem],
                sizes: dict[ObjectId, int]) -> AheadReads | None:
    if not todo or not isinstance(backend, ReadsAhead):
        return None
    return backend.start_reads([(i.key, sizes[i.oid]) for i in todo
                                if not i.manifest and i.oid in sizes])


def _fetch_files(dl: Downloads, todo: list[TransferItem], *, n: int, ahead: AheadReads | None,
                 adapt: bool) -> TransferReport:
    """The files of a fetch: those the remote holds as chunks, then those read ahead, then
    the rest, one per thread."""
    store, remote, report = dl.store, dl.remote, dl.report
    refs_sizes, progress, on_object = dl.sizes, dl.progress, dl.on_object
    chunks_too = chunk_capable(remote.backend)
    if todo and chunks_too and can_list(remote.backend):
        from gitext.sync.chunksync import fetch_chunked

        todo = fetch_chunked(store, remote, todo, report, sizes=refs_sizes, jobs=n,
                             progress=progress, on_object=on_object)
    try:
        if ahead is not None:
            todo = dl.take_ahead(ahead, todo)
        plan(remote.backend, "download",
             [(i.key, refs_sizes[i.oid]) for i in todo if i.oid in refs_sizes])
        if todo and chunks_too and not can_list(remote.backend):
            dl.as_chunks = AsChunks(dl, jobs=n)
        run_parallel(todo, n, dl.one, report, adapt=adapt)
    finally:
        _record_verified(store, dl.verified)
        if dl.as_chunks is not None:
            dl.as_chunks.finish(report)
    return report


def _put_one(store: LocalStore, backend: Backend, item: TransferItem,
             progress: ProgressSink | None) -> int | None:
    """Upload one object: the bytes sent, or None when the remote had it already (only an
    :class:`UploadAnswers` backend finds that out here)."""
    advance = progress.advance if progress else None
    rebuilt = item.key == item.oid.key and store.is_chunked(item.oid)
    if isinstance(backend, UploadAnswers):
        size = store.size(item.oid) if rebuilt else _cached_size(store, item)
        if size is None:
            raise ObjectMissingError(f"{item.oid} is not in the local cache")
        src = (lambda: store.iter_rebuilt(item.oid)) if rebuilt else store.key_path(item.key)
        return size if backend.put_new(item.key, src, size, advance) else None
    if rebuilt:
        return _put_rebuilt(store, backend, item, progress)  # sent whole
    size = _cached_size(store, item)
    backend.put(item.key, store.key_path(item.key), size, advance)
    return size


def _cached_size(store: LocalStore, item: TransferItem) -> int:
    try:
        return store.key_path(item.key).stat().st_size
    except FileNotFoundError:
        raise ObjectMissingError(f"{item.oid} is not in the local cache") from None


def _put_rebuilt(store: LocalStore, backend: Backend, item: TransferItem,
                 progress: ProgressSink | None) -> int:
    """Upload an object held as chunks to a remote that takes only whole objects (a Git LFS
    server): streamed as it is rebuilt where the backend takes parts, else from a copy."""
    advance = progress.advance if progress else None
    if isinstance(backend, PartsTaker):
        size = store.size(item.oid)
        if size is None:
            raise ObjectMissingError(f"{item.oid} is not in the local cache")
        backend.put_parts(item.key, lambda: store.iter_rebuilt(item.oid), size, advance)
        return size
    with store.whole_copy(item.oid) as whole:
        size = whole.stat().st_size
        backend.put(item.key, whole, size, advance)
    return size


def _chunked_items(store: LocalStore, files: list[TransferItem]) -> set[TransferItem]:
    """Those of ``files`` the cache holds as chunks (only their recipe files are looked
    for: every push runs this in the pre-push hook, which need not import the chunk store)."""
    if not files or not (store.root / "chunks" / "recipes").is_dir():
        return set()
    return {i for i in files if not i.manifest and store.is_chunked(i.oid)}


def _present_as_recipes(remote: Remote, items: list[TransferItem]) -> set[str]:
    if not items or not chunk_capable(remote.backend):
        return set()  # (e.g. a Git LFS server: not even the chunk modules are imported)
    from gitext.sync.chunkremote import present_as_recipes

    return present_as_recipes(remote.backend, items)


def _split_plain(oids: list[ObjectId], store: LocalStore) -> tuple[set[ObjectId], set[ObjectId]]:
    files, mans = transfer_items(oids, store)
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


def load_config(repo: Repo) -> Config:
    return Config.load(repo.worktree, git_cwd=repo.worktree or repo.git_dir)


def fetch_objects(repo: Repo, oids: list[ObjectId], *, jobs: int | None = None,
                  store: LocalStore | None = None,
                  sizes: dict[ObjectId, int] | None = None,
                  config: Config | None = None) -> set[ObjectId]:
    """Fetch ``oids`` from the default remote into the cache, in parallel and verified.
    Returns the requested ids now in the cache (fetched or already there). Raises
    :class:`RemoteError` only if the remote cannot be used at all (none configured,
    unreachable, bucket missing, credentials refused).

    A long-lived caller (the filter process) should pass its own ``store``: the hashes
    verified here are then recorded through its ``state.db`` connection, not a second one
    that would wait for the first one's open write transaction. ``config``: the caller's,
    if it has read it (else it is read here)."""
    store = store or open_store(repo)
    take_over_missing(repo, store, oids)
    wanted = [o for o in dict.fromkeys(oids) if not store.has(o)]
    if wanted:
        remote = open_remote(config or load_config(repo), root=repo.worktree)
        refs = References(objects=set(wanted), sizes=dict(sizes or {}))
        try:
            fetch(repo, remote, refs, jobs=jobs, store=store)
        finally:
            remote.close()
    return {o for o in oids if store.has(o)}

