"""Google Cloud Storage (``gs://bucket/prefix``) via google-cloud-storage, imported only
when a ``gs://`` remote is opened (with :mod:`.gcsclient`: the client, credentials and error
mapping). Uploads above 8 MiB are resumable (32 MiB chunks, crc32c declared first); GCS
shows an object only once finalised, so a dead upload leaves nothing. Large downloads are
parallel ranged GETs (no compose). See docs/remotes.md.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from gitext.errors import ArchivesError, ConfigError, ObjectMissingError
from gitext.remotes.backend import ProgressFn, TransientRemoteError
from gitext.remotes.gcsclient import GcsSettings, make_client, map_error, retry, sdk
from gitext.remotes.trust import shown

UPLOAD_CHUNK = 32 * 1024 * 1024          # resumable upload chunk (a multiple of 256 KiB)
RANGED_THRESHOLD = 64 * 1024 * 1024      # a known size above this downloads in ranges
RANGE_SIZE = 16 * 1024 * 1024
PAGE = 1000                              # objects per listing page (GCS's maximum)
# GCS bucket names: 3-63 characters (up to 222 with dots), lower case, digits, - _ .
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{1,220}[a-z0-9]")


def _split_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    bucket = parts.netloc
    if "@" in bucket:  # (not echoed: it may hold a password)
        raise ConfigError("the remote URL carries credentials (user@bucket)",
                          hint="drop them: gs://BUCKET/prefix, with a key file or the "
                               "application default credentials")
    if not _BUCKET_RE.fullmatch(bucket):
        raise ConfigError(f"remote URL {shown(url)} does not name a GCS bucket",
                          hint="write it as gs://BUCKET/optional/prefix (bucket names are "
                               "3-63 lower-case letters, digits, '-', '_' or '.')")
    return bucket, parts.path.strip("/")


class _LocalWriteError(Exception):
    """An OSError of the local destination, kept apart from network errors (requests' are
    OSErrors too) so that it reaches the caller as the OSError it is (disk full)."""


class _Sink:
    """A file for the SDK to write to: ``out``, or ``fd`` from ``offset`` on; counts bytes."""

    def __init__(self, count: ProgressFn, *, out: BinaryIO | None = None, fd: int = -1,
                 offset: int = 0) -> None:
        self.out, self.fd, self.pos, self.count, self.written = out, fd, offset, count, 0

    def write(self, data: bytes) -> int:
        try:
            if self.out is not None:
                self.out.write(data)
            else:
                view = memoryview(data)
                while view:
                    n = os.pwrite(self.fd, view, self.pos)
                    view, self.pos = view[n:], self.pos + n
        except OSError as exc:
            raise _LocalWriteError(exc) from exc
        self.written += len(data)
        self.count(len(data))
        return len(data)


class _Source:
    """The file to upload; reports each byte's progress once, however often the SDK rewinds
    to resend a chunk."""

    def __init__(self, f: BinaryIO, progress: ProgressFn | None) -> None:
        self.f, self.progress, self.reported = f, progress, 0
        self.tell, self.seek = f.tell, f.seek

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        if self.progress is not None and self.f.tell() > self.reported:
            self.progress(self.f.tell() - self.reported)
            self.reported = self.f.tell()
        return data


class GcsBackend:
    def __init__(self, url: str, bucket: str, prefix: str, options: Mapping[str, str]) -> None:
        self.url = url
        self.bucket_name = bucket
        self.prefix = prefix
        self.settings = GcsSettings.from_options(bucket, options)
        self.jobs = self.settings.jobs
        self._bucket: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, str]) -> GcsBackend:
        sdk("google.cloud.storage")  # a missing SDK raises ImportError here, as it should

        bucket, prefix = _split_url(url)
        return cls(url, bucket, prefix, options)

    def __repr__(self) -> str:
        return f"GcsBackend({self.url!r})"

    # -- plumbing -------------------------------------------------------------------------
    def _retry(self) -> Any:
        return retry(self.settings.attempts)

    def _map(self, exc: BaseException, action: str, *, key: str | None = None,
             bucket_level: bool = False) -> ArchivesError:
        return map_error(self.settings, exc, action, key=key, bucket_level=bucket_level)

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def bucket(self) -> Any:
        """The SDK's bucket, made (and checked with one listing request) on first use."""
        with self._lock:
            if self._bucket is None:
                try:
                    bucket = make_client(self.settings).bucket(self.bucket_name)
                    # One request up front turns a wrong bucket, endpoint or credential into
                    # one clear message. A listing, not a bucket GET: a role that may read
                    # and write objects need not be allowed to read the bucket's metadata.
                    next(iter(bucket.list_blobs(prefix=self._full(""), max_results=1,
                                                fields="items(name)", retry=self._retry())),
                         None)
                except Exception as exc:  # noqa: BLE001 - every failure becomes a RemoteError
                    raise self._map(exc, "open the bucket", bucket_level=True) from None
                self._bucket = bucket
            return self._bucket

    # -- queries --------------------------------------------------------------------------
    def exists_many(self, keys: Iterable[str]) -> set[str]:
        """One listing page over the range of ``keys`` first: it answers everything on a
        remote of up to 1,000 objects there. The keys it did not reach are looked up by folder:
        a folder holding k >= 2 is listed over their range for at most k/2 pages (then a
        metadata GET for each key left), a lone key gets a metadata GET."""
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        bucket = self.bucket()
        found, rest = self._list_range(bucket, wanted, pages=1)
        by_dir: dict[str, list[str]] = defaultdict(list)
        for key in rest:
            by_dir[key.rpartition("/")[0]].append(key)

        def look(group: list[str]) -> set[str]:
            if len(group) == 1:
                return self._exists_one(bucket, group[0])
            hit, left = self._list_range(bucket, group, pages=len(group) // 2)
            return hit.union(*(self._exists_one(bucket, k) for k in left))

        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for part in pool.map(look, by_dir.values()):
                found |= part
        return found

    def _list_range(self, bucket: Any, wanted: list[str], *, pages: int
                    ) -> tuple[set[str], list[str]]:
        """(keys of sorted ``wanted`` seen, keys beyond the last page read): at most
        ``pages`` listing pages from the first wanted key to the last."""
        if pages < 1:
            return set(), wanted
        names: set[str] = set()
        try:
            it = bucket.list_blobs(prefix=self._full(""), start_offset=self._full(wanted[0]),
                                   end_offset=self._full(wanted[-1]) + "~", page_size=PAGE,
                                   fields="items(name),nextPageToken", retry=self._retry())
            for number, page in enumerate(it.pages, 1):
                names.update(b.name for b in page)
                if number == pages and it.next_page_token:
                    last = max(names, default="")
                    rest = [k for k in wanted if self._full(k) > last]
                    return {k for k in wanted if self._full(k) in names}, rest
        except Exception as exc:  # noqa: BLE001 - every failure becomes a RemoteError
            raise self._map(exc, "list objects") from None
        return {k for k in wanted if self._full(k) in names}, []

    def _exists_one(self, bucket: Any, key: str) -> set[str]:
        try:
            if not bucket.blob(self._full(key)).exists(retry=self._retry()):
                return set()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a RemoteError
            mapped = self._map(exc, "check an object", key=key)
            if isinstance(mapped, ObjectMissingError):
                return set()
            raise mapped from None
        return {key}

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        for key, size, _when in self.list_times(prefix):
            yield key, size

    def list_times(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """``when`` is the object's ``updated`` time: when its current bytes were written."""
        bucket = self.bucket()
        try:
            fields = "items(name,size,updated,timeCreated),nextPageToken"
            for blob in bucket.list_blobs(prefix=self._full(prefix), page_size=PAGE,
                                          fields=fields, retry=self._retry()):
                when = blob.updated or blob.time_created  # (absent: count it as new)
                yield (self._rel(blob.name), int(blob.size or 0),
                       when.timestamp() if when is not None else time.time())
        except Exception as exc:  # noqa: BLE001 - every failure becomes a RemoteError
            raise self._map(exc, "list objects") from None

    # -- transfers ------------------------------------------------------------------------
    def get(self, key: str, dst: Path | BinaryIO, progress: ProgressFn | None = None, *,
            size: int | None = None) -> int:
        bucket = self.bucket()
        moved = 0

        def count(n: int) -> None:
            nonlocal moved
            moved += n
            if progress is not None:
                progress(n)

        for attempt in range(1, 3):
            try:
                if size is not None and size > RANGED_THRESHOLD and isinstance(dst, Path):
                    return self._get_ranges(bucket, key, dst, size, count)
                return self._get_whole(bucket, key, dst, count)
            except _LocalWriteError as exc:
                _discard(dst)
                raise exc.args[0] from None
            except Exception as exc:  # noqa: BLE001 - every failure becomes a RemoteError
                _discard(dst)
                mapped = self._map(exc, "download", key=key)
                if not isinstance(exc, sdk("google.cloud.storage.exceptions").DataCorruption):
                    raise mapped from None
                # The bytes failed the store's own checksum on the way: fetch them once more.
                if progress is not None and moved:
                    progress(-moved)
                moved = 0
                if attempt == 2 or not (isinstance(dst, Path) or dst.seekable()):
                    raise TransientRemoteError(
                        f"{self.settings.where()} {key}: the bytes received kept failing the "
                        "store's checksum", hint="the network path corrupts data; try again"
                    ) from None
                if not isinstance(dst, Path):
                    dst.seek(0)
                    dst.truncate()
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_whole(self, bucket: Any, key: str, dst: Path | BinaryIO,
                   count: ProgressFn) -> int:
        """One GET (resumed from the bytes received if it breaks), checked against the
        store's crc32c."""
        out = open(dst, "wb") if isinstance(dst, Path) else dst  # noqa: SIM115
        try:
            sink = _Sink(count, out=out)
            bucket.blob(self._full(key)).download_to_file(
                sink, raw_download=True, checksum="crc32c", retry=self._retry())
            return sink.written
        finally:
            if out is not dst:
                out.close()

    def _get_ranges(self, bucket: Any, key: str, dst: Path, size: int,
                    count: ProgressFn) -> int:
        """Parallel ranged GETs, each written at its offset of ``dst``."""
        lock = threading.Lock()
        failed = threading.Event()

        def locked(n: int) -> None:
            with lock:
                count(n)

        def one(start: int) -> int:
            if failed.is_set():
                return 0
            end = min(start + RANGE_SIZE, size) - 1
            sink = _Sink(locked, fd=fd, offset=start)
            try:
                bucket.blob(self._full(key)).download_to_file(
                    sink, start=start, end=end, raw_download=True, checksum=None,
                    retry=self._retry())
            except BaseException:
                failed.set()
                raise
            if sink.written != end - start + 1:
                raise ConnectionError(f"short range: {sink.written} of {end - start + 1} bytes")
            return sink.written

        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with ThreadPoolExecutor(max_workers=min(8, self.jobs)) as pool:
                return sum(pool.map(one, range(0, size, RANGE_SIZE)))
        finally:
            os.close(fd)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """``download_as_bytes`` of ``start`` .. ``start + length - 1``."""
        try:
            return bytes(self.bucket().blob(self._full(key)).download_as_bytes(
                start=start, end=start + length - 1, raw_download=True, checksum=None,
                retry=self._retry()))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a RemoteError
            if getattr(exc, "code", None) == 416:  # the range starts past the end
                return b""
            raise self._map(exc, "download", key=key) from None

    def put(self, key: str, src: Path, size: int, progress: ProgressFn | None = None) -> None:
        bucket = self.bucket()
        try:
            blob = bucket.blob(self._full(key), chunk_size=UPLOAD_CHUNK)
            with open(src, "rb") as f:
                # Above 8 MiB the SDK uploads resumably; the crc32c sent first makes GCS
                # refuse to finalise an object whose bytes were damaged on the way.
                crc = _crc32c(f) if size > 8 * 1024 * 1024 else None
                blob.upload_from_file(_Source(f, progress), size=size, rewind=False,
                                      content_type="application/octet-stream",
                                      checksum="crc32c", crc32c_checksum_value=crc,
                                      retry=self._retry())
        except Exception as exc:  # noqa: BLE001 - every failure becomes a RemoteError
            raise self._map(exc, "upload", key=key) from None

    def delete(self, key: str) -> None:
        try:
            self.bucket().blob(self._full(key)).delete(retry=self._retry())
        except Exception as exc:  # noqa: BLE001 - every failure becomes a RemoteError
            mapped = self._map(exc, "delete", key=key)
            if not isinstance(mapped, ObjectMissingError):
                raise mapped from None

    def close(self) -> None:
        with self._lock:
            if self._bucket is not None:
                self._bucket.client.close()
                self._bucket = None


def _discard(dst: Path | BinaryIO) -> None:
    """Remove what a failed download wrote at a path (the caller gave a fresh one)."""
    if isinstance(dst, Path):
        dst.unlink(missing_ok=True)


def _crc32c(f: BinaryIO) -> str:
    """The base64 crc32c of the rest of ``f`` (GCS's form); ``f`` is rewound."""
    import base64  # noqa: PLC0415

    start = f.tell()
    checksum = sdk("google_crc32c").Checksum()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        checksum.update(chunk)
    f.seek(start)
    return base64.b64encode(checksum.digest()).decode()
