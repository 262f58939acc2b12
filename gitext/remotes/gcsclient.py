"""How a ``gs://`` remote reaches Google Cloud Storage: the SDK client (credentials, HTTP
session, retry rule) and the mapping of the SDK's failures to our errors, built from the
HTTP status or the exception's type only (the SDK's text may quote URLs, server bodies or a
key file: never shown). The SDK is imported only through :func:`sdk`, on first use.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitext.errors import ArchivesError, ConfigError, ObjectMissingError, RemoteError
from gitext.remotes.backend import (
    RemoteRefusedError,
    TransientRemoteError,
    bool_option,
    whole_option,
)
from gitext.remotes.httpenv import pin_environment
from gitext.remotes.trust import shown

DEFAULT_ATTEMPTS = 8
DEFAULT_JOBS = 16
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
READ_PIECE = 1 << 20  # bytes read from a download's response at a time


def sdk(module: str) -> Any:
    """A module of the Google SDK, imported on first use (untyped: the SDK ships no stubs)."""
    return importlib.import_module(module)


@dataclass(frozen=True)
class GcsSettings:
    """Where a remote connects and as whom, from its options (our names)."""

    bucket: str
    endpoint: str | None = None
    project: str | None = None
    credentials_file: str | None = None
    unsigned: bool = False
    attempts: int = DEFAULT_ATTEMPTS
    jobs: int = DEFAULT_JOBS

    @classmethod
    def from_options(cls, bucket: str, options: Mapping[str, str]) -> GcsSettings:
        endpoint = (options.get("endpointurl") or "").rstrip("/") or None
        if endpoint and "@" in (urlsplit(endpoint).netloc or ""):
            raise ConfigError("endpointurl carries credentials (user@host)",
                              hint="drop them from the URL; use a key file or the "
                                   "application default credentials")
        return cls(bucket, endpoint, options.get("projectname") or None,
                   options.get("credentialsfile") or None,
                   bool_option(options, "unsigned"),
                   whole_option(options, "retries", DEFAULT_ATTEMPTS),
                   whole_option(options, "jobs", DEFAULT_JOBS))

    def where(self) -> str:
        return f"gs://{self.bucket}" + (f" at {self.endpoint}" if self.endpoint else "")


def make_client(s: GcsSettings) -> Any:
    """The SDK client for ``s``, with a connection pool as large as its parallelism."""
    credentials, project = _credentials(s)
    session = sdk("google.auth.transport.requests").AuthorizedSession(credentials)
    # One connection per worker thread (requests keeps 10 by default, then reconnects).
    adapter = sdk("requests.adapters").HTTPAdapter(pool_maxsize=max(10, s.jobs * 2))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    pin_environment(session, s.endpoint or "https://storage.googleapis.com")
    _large_reads()
    options = {"api_endpoint": s.endpoint} if s.endpoint else None
    client = sdk("google.cloud.storage").Client(
        project=project, credentials=credentials, _http=session, client_options=options)
    # The SDK (3.x) otherwise fetches each bucket's metadata in a background thread, for
    # its tracing only: a request per process that needs a permission we do not ask for.
    if getattr(client, "_bucket_metadata_cache", None) is not None:
        client._bucket_metadata_cache = None
    return client


def _large_reads() -> None:
    """Downloads read the response in 1 MiB pieces, not the SDK's 8 KiB: each piece costs a
    Python round through urllib3, the checksum and our sink (25 of them per 200 KB object).
    (A module constant the SDK reads at each download; absent from other versions: kept.)"""
    try:
        helpers = sdk("google.cloud.storage._media.requests._request_helpers")
    except ImportError:  # (2.x: google-resumable-media's own module, left as it is)
        return
    if isinstance(getattr(helpers, "_SINGLE_GET_CHUNK_SIZE", None), int):
        helpers._SINGLE_GET_CHUNK_SIZE = max(helpers._SINGLE_GET_CHUNK_SIZE, READ_PIECE)


def _credentials(s: GcsSettings) -> tuple[Any, str | None]:
    """(credentials, project): anonymous, a key file, or the default chain."""
    auth = sdk("google.auth")
    anonymous = sdk("google.auth.credentials").AnonymousCredentials
    env_project = os.environ.get("GOOGLE_CLOUD_PROJECT") or None
    if s.unsigned:
        return anonymous(), s.project or env_project
    if s.credentials_file:
        creds, found = _key_file(s, Path(s.credentials_file).expanduser())
        return creds, s.project or found or env_project
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return anonymous(), s.project or env_project  # as the SDK does
    creds, found = auth.default(scopes=[SCOPE])
    return creds, s.project or found or env_project


def _key_file(s: GcsSettings, path: Path) -> tuple[Any, str | None]:
    """Credentials from a service-account key or an authorized-user file (what gcloud
    writes), as DVC's gcsfs reads them; nothing else (an external-account file names
    programs and URLs to run and fetch)."""
    import json  # noqa: PLC0415

    why = "not a service-account or authorized-user key"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "service_account":
            made = sdk("google.oauth2.service_account").Credentials.from_service_account_info
            return made(info, scopes=[SCOPE]), info.get("project_id") or None
        if kind == "authorized_user":
            made = sdk("google.oauth2.credentials").Credentials.from_authorized_user_info
            return made(info, scopes=[SCOPE]), info.get("quota_project_id") or None
    except Exception as exc:  # noqa: BLE001 - the SDK's text may quote the file
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else (
            type(exc).__name__)
    raise RemoteError(
        f"credentialsfile {shown(str(path))} cannot be used for {s.where()} ({why})",
        hint="point it at a service-account JSON key: git archives remote modify "
             "--local NAME credentialsfile PATH")


def retry(attempts: int) -> Any:
    """The SDK's retry rule (429, 5xx, dropped connections), with short waits, giving up
    after ``attempts`` tries of one request."""
    tries = [0]

    def count(exc: Exception) -> None:
        tries[0] += 1
        if tries[0] >= attempts:
            raise exc

    return sdk("google.api_core.retry").Retry(
        predicate=sdk("google.cloud.storage.retry")._should_retry, initial=0.2,
        maximum=5.0, multiplier=2.0, timeout=600.0, on_error=count)


def map_error(s: GcsSettings, exc: BaseException, action: str, *,  # noqa: PLR0911
              key: str | None = None, bucket_level: bool = False) -> ArchivesError:
    """A RemoteError for an SDK failure, from its status or type only (no secrets)."""
    if isinstance(exc, ArchivesError):
        return exc
    from google.api_core import exceptions as gx  # noqa: PLC0415
    from google.auth import exceptions as ax  # noqa: PLC0415

    if isinstance(exc, gx.RetryError) and exc.cause is not None:
        return map_error(s, exc.cause, action, key=key, bucket_level=bucket_level)
    what = s.where() + (f" {key}" if key else "")
    status = _status(exc)
    if status == 404 and bucket_level:
        create = (f"gcloud storage buckets create gs://{s.bucket}"
                  + (f" --project {s.project}" if s.project else ""))
        return RemoteRefusedError(
            f"bucket '{s.bucket}' does not exist"
            + (f" at {s.endpoint}" if s.endpoint else ""),
            hint=f"create it ({create}), or fix the URL with 'git archives remote modify "
                 "NAME url gs://BUCKET/prefix'")
    if status == 401 or isinstance(exc, ax.RefreshError):
        return RemoteRefusedError(
            f"{s.where()} refused the credentials ({status or type(exc).__name__}) "
            f"while trying to {action}",
            hint="check GOOGLE_APPLICATION_CREDENTIALS or the remote's credentialsfile "
                 "('git archives remote modify --local NAME credentialsfile KEY.json')")
    if status == 403:
        return RemoteRefusedError(
            f"{s.where()} denied permission (403) to {action}",
            hint="the account needs roles/storage.objectAdmin (or objectViewer to fetch) on "
                 "this bucket; check which one GOOGLE_APPLICATION_CREDENTIALS or the "
                 "remote's credentialsfile names")
    if status == 404:
        return ObjectMissingError(f"{what}: no such object")
    if isinstance(exc, ax.DefaultCredentialsError):
        return RemoteRefusedError(
            f"no Google credentials found for {s.where()}",
            hint="run 'gcloud auth application-default login', set "
                 "GOOGLE_APPLICATION_CREDENTIALS, or 'git archives remote modify --local "
                 "NAME credentialsfile KEY.json' (for a public bucket: unsigned true)")
    if bucket_level and _is_connection_error(exc):
        return TransientRemoteError(
            f"cannot reach {s.endpoint or 'storage.googleapis.com'} for {s.where()}",
            hint="check the network and the remote's endpointurl")
    if status in (408, 429) or status >= 500 or _is_transient(exc):
        return TransientRemoteError(
            f"{what}: the store kept failing ({status or type(exc).__name__}) after "
            f"{s.attempts} attempts while trying to {action}",
            hint="try again later, or raise 'retries' for this remote")
    if isinstance(exc, OSError) and not _from_sdk(exc):
        return RemoteError(f"{what}: {action} failed locally: {exc.strerror or exc}",
                           hint="check free disk space and permissions")
    return RemoteError(f"{what}: {action} failed ({status or type(exc).__name__})")


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
        return bool(sdk("google.cloud.storage.retry")._should_retry(exc))
    except Exception:  # noqa: BLE001 - an exception the predicate cannot read
        return False
