"""Google Cloud Storage (``gs://bucket/prefix``) via google-cloud-storage.

The only module that imports the SDK, and only when a ``gs://`` remote is opened. Credentials:
``unsigned`` (anonymous), ``credentialsfile`` (a service-account or user JSON key, DVC's
``credentialpath``), else the SDK's Application Default Credentials
(``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's ADC file, the metadata server). With
``STORAGE_EMULATOR_HOST`` set the SDK talks to that emulator, anonymously unless a key file is
given. Every failure is mapped to a :class:`RemoteError` built from the HTTP status or the
exception's type only: the SDK's own messages (URLs, server bodies) are never shown.

Transfers: an object up to 8 MiB goes up in one request, a larger one as a resumable upload
in 16 MiB chunks (a chunk that fails is resent from the offset the server confirms); either
way GCS makes the object visible only when the upload is finalised, carrying its crc32c,
so a dead upload leaves nothing behind. Large downloads are parallel ranged GETs into the
destination file (no compose). The SDK retries each request (429, 5xx, dropped connections;
a broken download resumes from the bytes received) at most ``retries`` times.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from gitext.errors import ArchivesError, ConfigError, ObjectMissingError, RemoteError
from gitext.remotes.backend import ProgressFn, RemoteRefusedError, TransientRemoteError
from gitext.remotes.trust import shown

DEFAULT_ATTEMPTS = 8
UPLOAD_CHUNK = 16 * 1024 * 1024          # resumable upload chunk (a multiple of 256 KiB)
RANGED_THRESHOLD = 64 * 1024 * 1024      # a known size above this downloads in ranges
RANGE_SIZE = 16 * 1024 * 1024
PAGE = 1000                              # objects per listing page (GCS's maximum)
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
# GCS bucket names: 3-63 characters (up to 222 with dots), lower case, digits, - _ .
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{1,220}[a-z0-9]")


def _sdk(module: str) -> Any:
    """A module of the Google SDK, imported on first use (untyped: the SDK ships no stubs)."""
    return importlib.import_module(module)


def _split_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    bucket = parts.netloc
    if not _BUCKET_RE.fullmatch(bucket):
        raise ConfigError(f"remote URL {shown(url)} does not name a GCS bucket",
                          hint="write it as gs://BUCKET/optional/prefix (bucket names are "
                               "3-63 lower-case letters, digits, '-', '_' or '.')")
    return bucket, parts.path.strip("/")


def _bool(value: str | None, where: str) -> bool:
    if value is None:
        return False
    low = value.strip().lower()
    if low in ("", "true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise ConfigError(f"{where} = {shown(value)} is not a boolean", hint="use true or false")


def _whole(options: Mapping[str, str], name: str, default: int) -> int:
    raw = options.get(name)
    if not raw:
        return default
    try:
        return max(1, int(raw))
    except ValueError:
        raise ConfigError(f"remote option {name} = {shown(raw)} is not a whole number",
                          hint=f"git archives remote modify NAME {name} {default}") from None


class _LocalWriteError(Exception):
    """Wraps an OSError of the local destination, so it is not taken for a network error
    (requests' errors are OSErrors too) and reaches the caller as the OSError it is."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


class _Sink:
    """A write-only file for the SDK: writes at ``offset`` onwards in ``fd`` (or to ``out``),
    counting bytes for progress."""

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
    """The file being uploaded, reporting progress once per byte however often the SDK
    rewinds to resend a chunk."""

    def __init__(self, f: BinaryIO, progress: ProgressFn | None) -> None:
        self.f, self.progress, self.reported = f, progress, 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        end = self.f.tell()
        if self.progress is not None and end > self.reported:
            self.progress(end - self.reported)
            self.reported = end
        return data

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)


class GcsBackend:
    def __init__(self, url: str, bucket: str, prefix: str, options: Mapping[str, str]) -> None:
        self.url = url
        self.bucket_name = bucket
        self.prefix = prefix
        self.endpoint = (options.get("endpointurl") or "").rstrip("/") or None
        if self.endpoint and "@" in (urlsplit(self.endpoint).netloc or ""):
            raise ConfigError("endpointurl carries credentials (user@host)",
                              hint="drop them from the URL; use a key file or the "
                                   "application default credentials")
        self.project = options.get("projectname") or None
        self.credentials_file = options.get("credentialsfile") or None
        self.unsigned = _bool(options.get("unsigned"), "unsigned")
        self.attempts = _whole(options, "retries", DEFAULT_ATTEMPTS)
        self.jobs = _whole(options, "jobs", 16)
        self._bucket: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, str]) -> GcsBackend:
        _sdk("google.cloud.storage")  # a missing SDK raises ImportError here, as it should

        bucket, prefix = _split_url(url)
        return cls(url, bucket, prefix, options)

    def __repr__(self) -> str:
        return f"GcsBackend({self.url!r})"

    # -- plumbing -------------------------------------------------------------------------
    def _where(self) -> str:
        return f"gs://{self.bucket_name}" + (f" at {self.endpoint}" if self.endpoint else "")

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def bucket(self) -> Any:
        """The SDK's bucket, made (and checked with one listing request) on first use."""
        with self._lock:
            if self._bucket is None:
                try:
                    bucket = self._make_client().bucket(self.bucket_name)
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

    def _make_client(self) -> Any:
        credentials, project = self._credentials()
        session = _sdk("google.auth.transport.requests").AuthorizedSession(credentials)
        # One connection per worker thread (requests keeps 10 by default, then reconnects).
        adapter = _sdk("requests.adapters").HTTPAdapter(pool_maxsize=max(10, self.jobs * 2))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        options = {"api_endpoint": self.endpoint} if self.endpoint else None
        client = _sdk("google.cloud.storage").Client(
            project=project, credentials=credentials, _http=session, client_options=options)
        # The SDK (3.x) otherwise fetches each bucket's metadata in a background thread, for
        # its tracing only: a request per process that needs a permission we do not ask for.
        if getattr(client, "_bucket_metadata_cache", None) is not None:
            client._bucket_metadata_cache = None
        return client

    def _credentials(self) -> tuple[Any, str | None]:
        """(credentials, project): anonymous, a key file, or the default chain."""
        auth = _sdk("google.auth")
        anonymous = _sdk("google.auth.credentials").AnonymousCredentials
        env_project = os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        if self.unsigned:
            return anonymous(), self.project or env_project
        if self.credentials_file:
            creds, found = self._key_file(Path(self.credentials_file).expanduser())
            return creds, self.project or found or env_project
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            return anonymous(), self.project or env_project  # as the SDK does
        creds, found = auth.default(scopes=[SCOPE])
        return creds, self.project or found or env_project

    def _key_file(self, path: Path) -> tuple[Any, str | None]:
        """Credentials from a service-account key or an authorized-user file (what gcloud
        writes), as DVC's gcsfs reads them; nothing else (an external-account file names
        programs and URLs to run and fetch)."""
        import json  # noqa: PLC0415

        why = "not a service-account or authorized-user key"
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            kind = info.get("type") if isinstance(info, dict) else None
            if kind == "service_account":
                made = _sdk("google.oauth2.service_account").Credentials.from_service_account_info
                return made(info, scopes=[SCOPE]), info.get("project_id") or None
            if kind == "authorized_user":
                made = _sdk("google.oauth2.credentials").Credentials.from_authorized_user_info
                return made(info, scopes=[SCOPE]), info.get("quota_project_id") or None
        except Exception as exc:  # noqa: BLE001 - the SDK's text may quote the file
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else (
                type(exc).__name__)
        raise RemoteError(
            f"credentialsfile {shown(str(path))} cannot be used for {self._where()} ({why})",
            hint="point it at a service-account JSON key: git archives remote modify "
                 "--local NAME credentialsfile PATH")

    def _retry(self) -> Any:
        """The SDK's retry rule (429, 5xx, dropped connections), with short waits, giving up
        after ``attempts`` tries of one request."""
        tries = [0]

        def count(exc: Exception) -> None:
            tries[0] += 1
            if tries[0] >= self.attempts:
                raise exc

        return _sdk("google.api_core.retry").Retry(
            predicate=_sdk("google.cloud.storage.retry")._should_retry, initial=0.2,
            maximum=5.0, multiplier=2.0, timeout=600.0, on_error=count)

    def _map(self, exc: BaseException, action: str, *, key: str | None = None,  # noqa: PLR0911
             bucket_level: bool = False) -> ArchivesError:
        """A RemoteError for an SDK failure, from its status or type only (no secrets)."""
        if isinstance(exc, ArchivesError):
            return exc
        from google.api_core import exceptions as gx  # noqa: PLC0415
        from google.auth import exceptions as ax  # noqa: PLC0415

        if isinstance(exc, gx.RetryError) and exc.cause is not None:
            return self._map(exc.cause, action, key=key, bucket_level=bucket_level)
        what = self._where() + (f" {key}" if key else "")
        status = _status(exc)
        if status == 404 and bucket_level:
            create = (f"gcloud storage buckets create gs://{self.bucket_name}"
                      + (f" --project {self.project}" if self.project else ""))
            return RemoteRefusedError(
                f"bucket '{self.bucket_name}' does not exist"
                + (f" at {self.endpoint}" if self.endpoint else ""),
                hint=f"create it ({create}), or fix the URL with 'git archives remote modify "
                     "NAME url gs://BUCKET/prefix'")
        if status in (401, 403) or isinstance(exc, ax.RefreshError):
            return RemoteRefusedError(
                f"{self._where()} refused the credentials ({status or type(exc).__name__}) "
                f"while trying to {action}",
                hint="check GOOGLE_APPLICATION_CREDENTIALS or the remote's credentialsfile "
                     "('git archives remote modify --local NAME credentialsfile KEY.json') and "
                     "that it may read and write objects in this bucket")
        if status == 404:
            return ObjectMissingError(f"{what}: no such object")
        if isinstance(exc, ax.DefaultCredentialsError):
            return RemoteRefusedError(
                f"no Google credentials found for {self._where()}",
                hint="run 'gcloud auth application-default login', set "
                     "GOOGLE_APPLICATION_CREDENTIALS, or 'git archives remote modify --local "
                     "NAME credentialsfile KEY.json' (for a public bucket: unsigned true)")
        if bucket_level and _is_connection_error(exc):
            return TransientRemoteError(
                f"cannot reach {self.endpoint or 'storage.googleapis.com'} for {self._where()}",
                hint="check the network and the remote's endpointurl")
        if status in (408, 429) or status >= 500 or _is_transient(exc):
            return TransientRemoteError(
                f"{what}: the store kept failing ({status or type(exc).__name__}) after "
                f"{self.attempts} attempts while trying to {action}",
                hint="try again later, or raise 'retries' for this remote")
        if isinstance(exc, OSError) and not _from_sdk(exc):
            return RemoteError(f"{what}: {action} failed locally: {exc.strerror or exc}",
                               hint="check free disk space and permissions")
        return RemoteError(f"{what}: {action} failed ({status or type(exc).__name__})")

    # -- queries --------------------------------------------------------------------------
    def exists_many(self, keys: Iterable[str]) -> set[str]:
        """One listing page over the range of ``keys`` first: it answers everything on a
        remote of up to 1,000 objects there. The keys it did not reach are looked up by folder:
        a folder holding two or more is listed (over their range, while the pages cost fewer
        requests than the metadata GETs they replace), a lone key gets a metadata GET."""
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
            for blob in bucket.list_blobs(prefix=self._full(prefix), page_size=PAGE,
                                          fields="items(name,size,updated),nextPageToken",
                                          retry=self._retry()):
                yield self._rel(blob.name), int(blob.size or 0), blob.updated.timestamp()
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
                if isinstance(dst, Path):
                    dst.unlink(missing_ok=True)  # (ours from a failed attempt)
                if size is not None and size > RANGED_THRESHOLD and isinstance(dst, Path):
                    return self._get_ranges(bucket, key, dst, size, count)
                return self._get_whole(bucket, key, dst, count)
            except _LocalWriteError as exc:
                _discard(dst)
                raise exc.error from None
            except Exception as exc:  # noqa: BLE001 - every failure becomes a RemoteError
                _discard(dst)
                mapped = self._map(exc, "download", key=key)
                if not isinstance(exc, _sdk("google.cloud.storage.exceptions").DataCorruption):
                    raise mapped from None
                # The bytes failed the store's own checksum on the way: fetch them once more.
                if progress is not None and moved:
                    progress(-moved)
                moved = 0
                if attempt == 2 or not (isinstance(dst, Path) or dst.seekable()):
                    raise TransientRemoteError(
                        f"{self._where()} {key}: the bytes received kept failing the store's "
                        "checksum", hint="the network path corrupts data; try again") from None
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


def _status(exc: BaseException) -> int:
    """The HTTP status an SDK exception carries (0 if none)."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else 0


def _from_sdk(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the HTTP stack or the SDK (requests' errors are OSErrors)."""
    return type(exc).__module__.split(".")[0] in ("requests", "urllib3", "google", "http")


def _is_connection_error(exc: BaseException) -> bool:
    import requests  # noqa: PLC0415
    from google.auth import exceptions as ax  # noqa: PLC0415

    if isinstance(exc, ax.TransportError) and exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    return isinstance(exc, requests.ConnectionError | ConnectionRefusedError)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    try:
        return bool(_sdk("google.cloud.storage.retry")._should_retry(exc))
    except Exception:  # noqa: BLE001 - an exception the predicate cannot read
        return False


def _crc32c(f: BinaryIO) -> str:
    """The base64 crc32c of the rest of ``f`` (GCS's form); ``f`` is rewound."""
    import base64  # noqa: PLC0415

    start = f.tell()
    checksum = _sdk("google_crc32c").Checksum()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        checksum.update(chunk)
    f.seek(start)
    return base64.b64encode(checksum.digest()).decode()
