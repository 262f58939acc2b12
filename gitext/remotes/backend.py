"""The remote-store interface: the :class:`Backend` protocol, its errors and option names.

This module imports no backend; :mod:`gitext.remotes` opens them.

A remote is the object store's layout (``files/<algo>/<ab>/<rest>``, see
:attr:`gitext.codec.hashing.ObjectId.key`) on some backend. Backends move opaque keys; they never
hash, parse pointers or look at git. Verification against the id happens in
:mod:`gitext.sync.transfer`, before an object enters the local cache.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from gitext.codec.shellquote import display
from gitext.config import parse_bool
from gitext.errors import ConfigError, CorruptObjectError, RemoteError

# Called with the number of bytes just moved (from any thread).
ProgressFn = Callable[[int], None]

# The options a remote may take, and where each belongs: gitext.remotekinds.
# Set by open_remote (never by config: a git config key cannot hold ':') when an endpoint
# came from the committed file: the backend then signs only requests to AWS S3 hosts.
AWS_ONLY = "trust:aws-only"
# Set by open_remote when a read-only HTTP remote's URL came only from the committed file:
# it is read anonymously (no git credential is asked for, no password sent).
ANONYMOUS = "trust:anonymous"


def bool_option(options: Mapping[str, str], name: str, *, default: bool = False,
                true: tuple[str, ...] = (), false: tuple[str, ...] = ()) -> bool:
    """Option ``name`` as a boolean (git's words, plus the option's own)."""
    raw = options.get(name)
    return default if raw is None else parse_bool(raw, where=name, true=true, false=false)


def whole_option(options: Mapping[str, str], name: str, default: int) -> int:
    """Option ``name`` as a count of at least 1 (``jobs``, ``retries``)."""
    raw = options.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return max(1, int(raw))
    except ValueError:
        raise ConfigError(f"remote option {name} = '{display(raw)}' is not a whole number",
                          hint=f"git archives remote modify NAME {name} {default}") from None


def seconds_option(options: Mapping[str, str], name: str, default: float) -> float:
    """Option ``name`` as a positive number of seconds (timeouts)."""
    raw = options.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"remote option {name} = '{display(raw)}' is not a number of seconds",
                          hint=f"git archives remote modify NAME {name} {int(default)}")
    return value


class TransientRemoteError(RemoteError):
    """A failure worth retrying (connection dropped, throttled, 5xx) once retries ran out."""


class RemoteRefusedError(RemoteError):
    """The remote as a whole refused (credentials, access, no such repository, an answer
    that is not its protocol): a transfer stops instead of failing object by object."""


class Backend(Protocol):
    """What every remote backend provides. Keys are layout paths (``files/sha256/ab/…``)."""

    url: str

    def exists_many(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` present on the remote (batched: list or parallel HEADs)."""
        ...

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Every ``(key, size)`` under ``prefix``."""
        ...

    def list_times(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """Every ``(key, size, when)`` under ``prefix``; ``when`` (seconds since the epoch)
        is the last time the key was written or re-linked — what gc's grace period uses."""
        ...

    def get(self, key: str, dst: Path | BinaryIO, progress: ProgressFn | None = None, *,
            size: int | None = None) -> int:
        """Write the object's bytes to ``dst`` (a path that does not exist yet, or an open
        binary file); return the byte count. Raise
        :class:`~gitext.errors.ObjectMissingError` if absent.
        ``size``, when the caller knows it (a pointer says it), lets a backend pick its way
        of downloading before the first request."""
        ...

    def put(self, key: str, src: Path, size: int, progress: ProgressFn | None = None) -> None:
        """Store ``src`` under ``key`` atomically: readers see all of it or nothing."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` (absent is fine)."""
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class Ranged(Protocol):
    """A backend that reads part of an object in one request (chunk packs are read this
    way: :mod:`gitext.sync.chunksync`). Every kind but a Git LFS server is one."""

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes ``start`` .. ``start + length`` of ``key`` (fewer only if the object ends
        first: the caller checks). Raise :class:`~gitext.errors.ObjectMissingError` if
        absent."""
        ...


@runtime_checkable
class PartsTaker(Protocol):
    """A backend that uploads an object from its bytes in parts (rebuilt from chunks) as
    well as from a file: ``parts()`` gives them afresh for each attempt; an error it raises
    ends the upload before the object is complete."""

    def put_parts(self, key: str, parts: Callable[[], Iterator[bytes]], size: int,
                  progress: ProgressFn | None = None) -> None:
        ...


@runtime_checkable
class UploadAnswers(Protocol):
    """A backend whose upload requests themselves say which objects the remote holds
    already (a Git LFS server's upload batch, asked 100 objects at a time as the uploads
    go): a push need not ask about every object before the first upload starts."""

    def put_new(self, key: str, src: Path | Callable[[], Iterator[bytes]], size: int,
                progress: ProgressFn | None = None) -> bool:
        """Upload ``key`` from the file or parts ``src`` unless the remote has it; False
        when it had it (nothing was sent)."""
        ...

    def ask_first(self, operation: str) -> None:
        """Ask the remote now about the first objects planned for ``operation``, so that
        what the caller does next (an import, a file opened) overlaps no request. A failure
        is raised by the transfers that need the answer."""
        ...


@runtime_checkable
class Planner(Protocol):
    """A backend whose API works on batches and needs sizes (a Git LFS server): it is told
    what is about to be asked for, ``operation`` being ``upload`` or ``download``."""

    def plan(self, operation: str, objects: Sequence[tuple[str, int]]) -> None:
        ...


class AheadReads(Protocol):
    """Objects being read ahead: iterating gives (key, bytes) as they arrive, or (key,
    None) for one the caller is to fetch itself; each key once. ``close`` stops them."""

    def __iter__(self) -> Iterator[tuple[str, bytes | None]]: ...
    def close(self) -> None: ...


@runtime_checkable
class ReadsAhead(Protocol):
    """A backend that reads many small objects of known size faster in one go than one
    request at a time (SSH: in a worker process, :mod:`gitext.remotes.sshahead`). It
    returns None where it would not be faster."""

    def start_reads(self, wanted: Sequence[tuple[str, int]]) -> AheadReads | None:
        ...


def plan(backend: Backend, operation: str, objects: Sequence[tuple[str, int]]) -> None:
    """Tell ``backend`` what comes next if it wants to know (see :class:`Planner`)."""
    if objects and isinstance(backend, Planner):
        backend.plan(operation, objects)


def can_list(backend: Backend) -> bool:
    """Whether the remote can be listed (a read-only http remote cannot)."""
    return not getattr(backend, "read_only", False)


def links_from(backend: Backend, folder: Path) -> bool:
    """Whether ``put`` of a read-only file of ``folder`` hard-links it into the remote
    instead of copying it (a directory remote on the same filesystem)."""
    linkable = getattr(backend, "links_from", None)
    return bool(linkable is not None and linkable(folder))


def chunk_capable(backend: Backend) -> bool:
    """Whether chunks may be stored on this remote: it reads ranges and is an object store
    or a folder (not a Git LFS server, whose API moves whole objects by their sha256)."""
    return isinstance(backend, Ranged) and not getattr(backend, "lfs_server", False)


class ProgressMeter:
    """Turns running totals (``hook(current, total)``, from any thread: how the cloud SDKs
    report) into the byte deltas a :data:`ProgressFn` takes; :meth:`undo` takes back what
    a transfer that restarts from scratch had reported."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self.progress = progress
        self.sent = 0
        self.lock = threading.Lock()

    def hook(self, current: int, total: int | None) -> None:
        if self.progress is None:
            return
        with self.lock:
            delta = current - self.sent
            if delta <= 0:
                return
            self.sent = current
        self.progress(delta)

    def finish(self, size: int) -> None:
        self.hook(size, size)

    def undo(self) -> None:
        with self.lock:
            sent, self.sent = self.sent, 0
        if self.progress is not None and sent:
            self.progress(-sent)


class _Bounded(io.BytesIO):
    """A buffer that refuses to grow past ``limit`` bytes (see :func:`read_bounded`)."""

    def __init__(self, limit: int, refusal: CorruptObjectError) -> None:
        super().__init__()
        self._limit = limit
        self._refusal = refusal

    def write(self, data: bytes | bytearray | memoryview, /) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self._limit:
            raise self._refusal
        return super().write(data)


def read_bounded(backend: Backend, key: str, *, limit: int, what: str, hint: str) -> bytes:
    """The whole of a small object that is read into memory (an index, a recipe, a
    manifest): a remote that sends more than ``limit`` bytes, damaged or hostile, gets
    :class:`CorruptObjectError` ("… is larger than any <what> can be") before more of it
    is held."""
    refusal = CorruptObjectError(f"{backend.url} {key} is larger than any {what} can be "
                                 f"({limit} bytes): refused", hint=hint)
    buf = _Bounded(limit, refusal)
    backend.get(key, buf)
    return buf.getvalue()

