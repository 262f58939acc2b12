"""A Git LFS server as a data remote (Batch API, ``basic`` adapter; see ``docs/lfs-server.md``).

Keys are the layout's ``files/sha256/<ab>/<rest>``: the oid is ``<ab><rest>``. An LFS server
holds sha256 objects only (pointer-tracked files); md5 objects and ``.dir`` manifests
(pipeline outputs) are refused with one line saying so. The batch API needs each object's
size: callers say it through :meth:`LfsBackend.plan` (push, fetch, status) or ``get(size=)``.
Batches are asked lazily, 100 objects at a time, and their actions kept until they expire.
LFS has no listing and no delete: :meth:`list` and :meth:`delete` refuse.

Which server: an ``lfs+https://…`` (``lfs+http://``) remote URL, or, when the repository has
no data remote of its own but has an LFS server (:mod:`gitext.remotes.lfsurl`), that server
as the default remote, named ``lfs``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from gitext.errors import ArchivesError, ObjectMissingError, RemoteError
from gitext.remotes.backend import ProgressFn, RemoteRefusedError
from gitext.remotes.lfsapi import BATCH_SIZE, ActionRefusedError, LfsClient, ObjectResult
from gitext.remotes.lfsurl import Endpoint, LfsSettings, find_endpoint, redact, ssh_endpoint

LFS_REMOTE = "lfs"  # the name of the repository's own LFS server as a remote


_KEY_RE = re.compile(r"files/sha256/([0-9a-f]{2})/([0-9a-f]{62})")


def oid_of(key: str) -> str | None:
    """The sha256 oid a layout key names, or None (md5, a manifest, anything else)."""
    m = _KEY_RE.fullmatch(key)
    return m[1] + m[2] if m else None


def _only_sha256(key: str) -> RemoteError:
    return RemoteError(f"{key}: an LFS server stores only pointer-tracked files (sha256); "
                       "pipeline outputs (md5) need a data remote of their own",
                       hint="git archives remote add -d storage s3://bucket/path  (or a "
                       "directory path)")


class LfsBackend:
    def __init__(self, endpoint: Endpoint, *, cwd: Path | None, jobs: int = 8,
                 max_retries: int = 8) -> None:
        self.endpoint = endpoint
        self.url = redact(endpoint.url)
        self.jobs = jobs
        self._cwd = cwd
        self._max_retries = max_retries
        self._clients: dict[str, LfsClient] = {}
        self._sizes: dict[str, int] = {}
        self._pending: dict[str, dict[str, None]] = {"upload": {}, "download": {}}
        self._results: dict[tuple[str, str], ObjectResult] = {}
        self._locks = {"upload": threading.Lock(), "download": threading.Lock()}
        self._lock = threading.Lock()
        self._refused: ArchivesError | None = None  # the server failed as a whole

    def client(self, operation: str) -> LfsClient:
        """One client per operation for an ssh remote (git-lfs-authenticate is asked per
        operation), one for both otherwise."""
        slot = operation if self.endpoint.ssh is not None else "any"
        with self._lock:
            if slot not in self._clients:
                endpoint = ssh_endpoint(self.endpoint, operation, self._cwd)
                self._clients[slot] = LfsClient(endpoint, cwd=self._cwd, jobs=self.jobs,
                                                max_retries=self._max_retries)
            return self._clients[slot]

    # -- batches ------------------------------------------------------------------------------
    def plan(self, operation: str, objects: Sequence[tuple[str, int]]) -> None:
        """The objects (key, size) about to be moved or asked about: their batches are then
        asked 100 at a time, not one object at a time."""
        with self._locks[operation]:
            for key, size in objects:
                oid = oid_of(key)
                if oid is not None:
                    self._sizes[oid] = size
                    self._pending[operation][oid] = None

    def _fresh(self, operation: str, oid: str) -> ObjectResult | None:
        res = self._results.get((operation, oid))
        if res is None or any(a.expired() for a in res.actions.values()):
            return None
        return res

    def _ask(self, operation: str, oids: list[str]) -> None:
        """Batch ``oids`` (all with known sizes), and any other pending ones, 100 at a time
        (caller holds the operation's lock)."""
        todo = dict.fromkeys(oids)
        limit = max(BATCH_SIZE, len(oids))
        for o in self._pending[operation]:
            if len(todo) >= limit:
                break
            if o not in todo and self._fresh(operation, o) is None:
                todo[o] = None
        batch = [(o, self._sizes[o]) for o in todo]
        for o in todo:
            self._pending[operation].pop(o, None)
        results = self.client(operation).batch(operation, batch)
        for o in todo:
            if o not in results:
                raise RemoteRefusedError(f"{self.client(operation).where} did not answer for "
                                         f"object "
                                  f"{o} in its {operation} batch",
                                  hint="the server is not following the Git LFS batch API")
            self._results[(operation, o)] = results[o]

    def ask_first(self, operation: str) -> None:
        """Batch the first :data:`BATCH_SIZE` objects planned for ``operation`` now. If that
        fails, the server failed as a whole (the batch was retried): every transfer that
        needs an answer then raises the same error at once, none asks again."""
        with self._locks[operation]:
            todo = [o for o in self._pending[operation] if self._fresh(operation, o) is None]
            if not todo or self._refused is not None:
                return
            try:
                self._ask(operation, todo[:BATCH_SIZE])
            except ArchivesError as exc:
                self._refused = exc

    def result(self, operation: str, oid: str, size: int | None) -> ObjectResult:
        if size is not None:
            self._sizes.setdefault(oid, size)
        if oid not in self._sizes:
            raise RemoteError(f"object {oid}: its size is unknown, and an LFS server needs it")
        res = self._fresh(operation, oid)  # (no lock: another thread may be asking a batch)
        if res is not None:
            return res
        with self._locks[operation]:
            if self._refused is not None:  # the server refused as a whole: do not ask again
                raise self._refused
            for asked in range(3):  # an expired action is asked for once more
                res = self._fresh(operation, oid)
                if res is not None:
                    return res
                if asked == 2:
                    break
                try:
                    self._ask(operation, [oid])
                except RemoteRefusedError as exc:
                    self._refused = exc
                    raise
            self._refused = RemoteRefusedError(
                f"{self.client(operation).where} handed out an already expired {operation} "
                f"action for {oid}",
                hint="check this computer's clock (and the server's), then retry")
            raise self._refused

    def _forget(self, operation: str, oid: str) -> None:
        with self._locks[operation]:
            self._results.pop((operation, oid), None)

    def _raise_object_error(self, operation: str, oid: str, res: ObjectResult) -> None:
        if res.error is None:
            return
        code, message = res.error
        said = f" ({message})" if message else ""
        where = self.client(operation).where
        if operation == "download" and code in (404, 410):
            raise ObjectMissingError(f"{where}: no object {oid}{said}")
        raise RemoteError(f"{where} refused to {operation} {oid}: error {code}{said}",
                          hint="check the object's size in its pointer, and your access")

    # -- Backend ------------------------------------------------------------------------------
    def exists_many(self, keys: Iterable[str]) -> set[str]:
        """Present keys, by a batch request: ``upload`` for objects planned for upload (a
        present object gets no action), ``download`` otherwise. Keys an LFS server cannot
        hold, or whose size nobody said, count as absent."""
        by_op: dict[str, dict[str, str]] = {"upload": {}, "download": {}}
        for key in keys:
            oid = oid_of(key)
            if oid is None or oid not in self._sizes:
                continue
            op = "upload" if oid in self._pending["upload"] or \
                ("upload", oid) in self._results else "download"
            by_op[op][oid] = key
        present: set[str] = set()
        for op, wanted in by_op.items():
            if not wanted:
                continue
            with self._locks[op]:
                stale = [o for o in wanted if self._fresh(op, o) is None]
                if stale:
                    self._ask(op, stale)
            for oid, key in wanted.items():
                res = self._results[(op, oid)]
                if res.error is not None and res.error[0] not in (404, 410):
                    self._raise_object_error(op, oid, res)
                if res.error is None and ("upload" not in res.actions if op == "upload"
                                          else "download" in res.actions):
                    present.add(key)
        return present

    def _no_listing(self) -> RemoteError:
        return RemoteError(f"the LFS server {self.url} cannot list its objects (the Git LFS "
                           "API has no listing)",
                           hint="'git archives remote status' compares what your commits "
                           "need with the server")

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        raise self._no_listing()

    def list_times(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        # (what gc --remote lists first: it is refused before anything is planned)
        raise RemoteError(f"the LFS server {self.url} cannot list or delete objects (the Git "
                          "LFS API has neither): gc --remote does not apply to it",
                          hint="clean up on the server's side; 'git archives gc' (no "
                          "--remote) cleans the local cache")

    def get(self, key: str, dst: Path | BinaryIO, progress: ProgressFn | None = None, *,
            size: int | None = None) -> int:
        oid = oid_of(key)
        if oid is None:
            raise _only_sha256(key)
        for again in (True, False):
            res = self.result("download", oid, size)
            self._raise_object_error("download", oid, res)
            action = res.actions.get("download")
            if action is None:
                raise RemoteError(f"{self.client('download').where} gave no download action "
                                  f"for {oid}", hint="the server is not following the Git LFS "
                                  "batch API")
            try:
                if isinstance(dst, Path):
                    with open(dst, "xb") as out:
                        return self.client("download").download(
                            oid, action, out, self._sizes[oid], progress)
                return self.client("download").download(oid, action, dst, self._sizes[oid],
                                                        progress)
            except ActionRefusedError:
                self._forget("download", oid)  # its token may have expired: ask again once
                if isinstance(dst, Path):
                    dst.unlink(missing_ok=True)
                elif dst.seekable():
                    dst.seek(0)
                    dst.truncate()
                if not again:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def put(self, key: str, src: Path, size: int, progress: ProgressFn | None = None) -> None:
        self.put_new(key, src, size, progress)

    def put_parts(self, key: str, parts: Callable[[], Iterator[bytes]], size: int,
                  progress: ProgressFn | None = None) -> None:
        """Upload an object whose bytes ``parts`` gives (afresh for each attempt), e.g. one
        rebuilt from chunks, with no copy on disk (:class:`~gitext.remotes.backend.PartsTaker`)."""
        self.put_new(key, parts, size, progress)

    def put_new(self, key: str, src: Path | Callable[[], Iterator[bytes]], size: int,
                progress: ProgressFn | None = None) -> bool:
        """Upload unless the server has it (its upload batch says so); False when it had
        it. A push calls this for every object without asking first
        (:class:`~gitext.remotes.backend.UploadAnswers`): the first batch is asked by the
        first upload, the next ones while the uploads of the first go on."""
        oid = oid_of(key)
        if oid is None:
            raise _only_sha256(key)
        self._sizes[oid] = size
        for again in (True, False):
            res = self.result("upload", oid, size)
            self._raise_object_error("upload", oid, res)
            if "upload" not in res.actions:  # the server has it
                if progress is not None:
                    progress(size)
                return False
            try:
                self.client("upload").upload(oid, size, src, res.actions, progress)
            except ActionRefusedError:
                self._forget("upload", oid)
                if not again:
                    raise
                continue
            with self._locks["upload"]:
                self._results[("upload", oid)] = ObjectResult()  # now present
            return True
        raise AssertionError("unreachable")  # pragma: no cover

    def delete(self, key: str) -> None:
        raise RemoteError(f"the LFS server {self.url} cannot delete objects (the Git LFS API "
                          "has no delete)", hint="clean up on the server's side")

    def close(self) -> None:
        for c in self._clients.values():
            c.close()


def open_lfs(settings: LfsSettings, *, git_remote: str | None = None,
             url: str | None = None, source: str = "") -> LfsBackend:
    """The backend for an explicit ``lfs+http(s)://`` URL, or the repository's own LFS
    server (:func:`gitext.remotes.lfsurl.find_endpoint`)."""
    if url is not None:
        endpoint = Endpoint(url.removeprefix("lfs+"), source)
    else:
        endpoint = find_endpoint(settings, git_remote=git_remote)
    retries = settings.get("lfs.transfer.maxretries")
    return LfsBackend(endpoint, cwd=settings.root, jobs=settings.concurrent_transfers(),
                      max_retries=int(retries) if retries and retries.isdigit() else 8)
