"""Azure Blob Storage (``azure://container/path``) via ``azure-storage-blob``.

The only module that imports the Azure SDK (with :mod:`.azurelogin`, which decides where
requests go and with which credential), and only when an ``azure://`` remote is opened
(``azure-identity`` too, and only when no other credential is given).

Secrets never reach a message: every SDK failure is mapped to a :class:`RemoteError` built
from the service's error *code* and HTTP status, the SDK's own log output is dropped (it would
carry request URLs), and ``repr`` shows no credential.

Large objects go up as blocks staged in parallel and made visible by one Put Block List (an
interrupted upload leaves only uncommitted blocks, which no reader sees and Azure discards
after a week) and come down as parallel ranged GETs.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from gitext.config import parse_size
from gitext.errors import ArchivesError, ConfigError, ObjectMissingError, RemoteError
from gitext.remotes.azurelogin import (
    CREDENTIAL_HINT,
    Login,
    choose_login,
    pin_transport,
    quiet_sdk_logs,
    retry_policy,
    split_url,
    transport,
)
from gitext.remotes.azureread import BlobReader, BlobStatus, reader_for
from gitext.remotes.backend import (
    ProgressFn,
    ProgressMeter,
    RemoteRefusedError,
    TransientRemoteError,
    whole_option,
)
from gitext.remotes.lfshttp import retry_backoff
from gitext.remotes.trust import shown

DEFAULT_ATTEMPTS = 5
BLOCK_THRESHOLD = 16 * 1024 * 1024   # larger objects go up as parallel blocks
BLOCK_SIZE = 8 * 1024 * 1024         # block and download-range size
_PAGE = 5000          # blobs per listing page
_PAGE_COST = 4        # a full page costs about as much as this many small requests
_TRAVERSE_MIN = 8     # folders of one tree before a whole listing is considered
_AUTH_CODES = frozenset({"AuthenticationFailed", "AuthorizationFailure",
                         "InvalidAuthenticationInfo", "AuthorizationPermissionMismatch",
                         "AuthorizationResourceTypeMismatch",
                         "AuthorizationProtocolMismatch", "AuthorizationSourceIPMismatch",
                         "AuthorizationServiceMismatch", "NoAuthenticationInformation",
                         "InsufficientAccountPermissions", "AccountIsDisabled"})
_TRANSIENT_CODES = frozenset({"ServerBusy", "InternalError", "OperationTimedOut"})


class AzureBackend:
    def __init__(self, url: str, container: str, prefix: str, login: Login,
                 options: Mapping[str, str]) -> None:
        self.url = url
        self.container = container
        self.prefix = prefix
        self._login = login
        self.unsigned = login.how == "anonymous access"
        self.attempts = whole_option(options, "retries", DEFAULT_ATTEMPTS)
        self.jobs = whole_option(options, "jobs", 16)
        self.threshold = parse_size(options["multipartthreshold"], where="multipartthreshold") \
            if options.get("multipartthreshold") else BLOCK_THRESHOLD
        self.block = parse_size(options["multipartchunksize"], where="multipartchunksize") \
            if options.get("multipartchunksize") else BLOCK_SIZE
        self.endpoint: str | None = None  # (a connection string's, once it is read)
        if login.account is not None and login.connection_string is None:
            self.endpoint = f"https://{login.account}.blob.core.windows.net"
        self.account = login.account
        self._service: Any = None
        self._container: Any = None
        self._token: Any = None  # a DefaultAzureCredential, closed with the backend
        self._transport: Any = None
        self._reader: BlobReader | None = None  # reads without the SDK (azureread)
        self._lock = threading.Lock()
        self._checked = False

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, str]) -> AzureBackend:
        import azure.storage.blob  # noqa: F401 - a missing SDK is the factory's message

        container, prefix = split_url(url)
        return cls(url, container, prefix, choose_login(options, os.environ), options)

    def __repr__(self) -> str:
        return f"AzureBackend({self.url!r}, {self._login!r})"

    # -- plumbing -------------------------------------------------------------------------
    def _where(self) -> str:
        where = f"azure://{self.container}"
        return f"{where} ({self._account_where()})" if self.account else where

    def _account_where(self) -> str:
        where = f"account {self.account}"
        if self.endpoint and not self.endpoint.endswith(".blob.core.windows.net"):
            where += f" at {self.endpoint}"
        return where

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def container_client(self) -> Any:
        with self._lock:
            if self._container is None:
                self._service = self._make_service()
                self._container = self._service.get_container_client(self.container)
                self._reader = reader_for(self._service, self._container, self._transport,
                                          unsigned=self.unsigned,
                                          connections=max(10, self.jobs))
            if not self._checked:
                self._check_container(self._container)
                self._checked = True
            return self._container

    def _make_service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        quiet_sdk_logs()
        login = self._login
        kwargs: dict[str, Any] = {
            "transport": transport(self.jobs), "retry_policy": retry_policy(self.attempts),
            "max_single_put_size": self.threshold, "max_block_size": self.block,
            "max_single_get_size": self.block,
            "max_chunk_get_size": self.block, "user_agent": "git-archives"}
        try:
            if login.connection_string is not None:  # its own key, or ours for its endpoint
                credential = None if login.secret is None else self._credential()
                service = BlobServiceClient.from_connection_string(
                    login.connection_string, credential=credential, **kwargs)
            else:
                service = BlobServiceClient(self.endpoint or "", self._credential(), **kwargs)
        except ValueError:  # the SDK's text may quote the string: never shown
            raise ConfigError(f"the {login.source or login.how} for {self._where()} is "
                              "malformed",
                              hint="copy it again from the portal (Access keys) and set it "
                                   "with 'git archives remote modify --local NAME "
                                   "connectionstring ...'") from None
        if login.connection_string is not None:
            self._adopt(service)
        pin_transport(kwargs["transport"], service.url)
        self._transport = kwargs["transport"]
        return service

    def _adopt(self, service: Any) -> None:
        """A connection string names its own account and endpoint: they must agree with
        the account the remote names, if it names one."""
        named = service.account_name
        if self.account is not None and named and named != self.account:
            raise ConfigError(
                f"the {self._login.source} is for account {shown(named)}, but the remote "
                f"names account {shown(self.account)}",
                hint="set this remote's own: git archives remote modify --local NAME "
                     "connectionstring ... (or fix accountname)")
        self.account = named or self.account
        parts = urlsplit(service.url)
        self.endpoint = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"

    def _credential(self) -> Any:
        login = self._login
        if login.how == "account key":
            from azure.core.credentials import AzureNamedKeyCredential

            return AzureNamedKeyCredential(login.account or "", login.secret or "")
        if login.how == "SAS token":
            from azure.core.credentials import AzureSasCredential

            return AzureSasCredential(login.secret or "")
        if self.unsigned:
            return None
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise RemoteError(f"no credentials found for {self._where()}",
                              hint=CREDENTIAL_HINT) from None
        self._token = DefaultAzureCredential()
        try:  # now: the SDK would retry a missing credential like a network error
            self._token.get_token("https://storage.azure.com/.default")
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            raise self._map(exc, "sign in") from None
        return self._token

    def _check_container(self, container: Any) -> None:
        """One request up front turns a wrong container, account or credential into one
        clear message instead of a failure per object. A credential that may use blobs
        but not read the container's properties (a narrow SAS) is let through."""
        if self.unsigned:
            return  # anonymous readers of a public container may not see its properties
        try:
            container.get_container_properties()
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            if getattr(exc, "error_code", None) == "AuthorizationPermissionMismatch":
                return
            raise self._map(exc, "open the container", container_level=True) from None

    def _map(self, exc: BaseException, action: str, *, key: str | None = None,
             container_level: bool = False) -> ArchivesError:
        """A RemoteError from an SDK failure, built from its code and status only."""
        if isinstance(exc, ArchivesError):
            return exc
        from azure.core import exceptions as ax

        what = self._where() + (f" {key}" if key else "")
        if isinstance(exc, BlobStatus) or (isinstance(exc, ax.HttpResponseError)
                                           and exc.status_code is not None):
            return self._map_status(exc, action, what, container_level)
        if isinstance(exc, ax.ClientAuthenticationError):  # no token from the credential
            return RemoteError(f"no usable credentials for {self._where()} (the "
                               f"{self._login.how} found none)", hint=CREDENTIAL_HINT)
        if isinstance(exc, ax.ServiceRequestError):
            return TransientRemoteError(
                f"cannot reach {self.endpoint or 'the storage endpoint'} for {self._where()}",
                hint="check the network and the remote's account or connection string")
        if isinstance(exc, ax.ServiceResponseError | ax.IncompleteReadError | ax.DecodeError
                      | ConnectionError | TimeoutError | HTTPException):
            return TransientRemoteError(
                f"{what}: the connection failed ({type(exc).__name__}) while trying to {action}",
                hint="try again; an interrupted transfer restarts cleanly")
        if isinstance(exc, OSError):
            return RemoteError(f"{what}: {action} failed locally: {exc.strerror or exc}",
                               hint="check free disk space and permissions")
        return RemoteError(f"{what}: {action} failed ({type(exc).__name__})")

    def _map_status(self, exc: Any, action: str, what: str,
                    container_level: bool) -> ArchivesError:
        code = str(getattr(exc.error_code, "value", exc.error_code) or "")
        status = int(exc.status_code)
        if code == "ContainerNotFound" or (container_level and status == 404):
            return RemoteRefusedError(
                f"container '{self.container}' does not exist in {self._account_where()}",
                hint=f"create it (az storage container create --name {self.container}), or "
                     "fix the URL with 'git archives remote modify NAME url azure://CONTAINER/path'")
        if code in _AUTH_CODES or status in (401, 403):
            return RemoteRefusedError(
                f"{self._where()} refused the {self._login.how} ({code or status}) while "
                f"trying to {action}",
                hint="check that the credential is current and may read and write this "
                     "container; " + CREDENTIAL_HINT)
        if status == 404:
            return ObjectMissingError(f"{what}: no such object")
        if code in _TRANSIENT_CODES or status >= 500 or status in (408, 429):
            return TransientRemoteError(
                f"{what}: the store kept failing ({code or status}) after {self.attempts} "
                f"attempts while trying to {action}",
                hint="try again later, or raise 'retries' for this remote")
        return RemoteError(f"{what}: {action} failed ({code or status})")

    # -- queries --------------------------------------------------------------------------
    def exists_many(self, keys: Iterable[str]) -> set[str]:
        """The keys present, in as few requests as the remote's size allows: one listing of
        a whole ``files/<algo>/`` tree where its estimated pages cost less than a request
        per folder (a new or small remote: what DVC calls traversing), else, in parallel,
        a listing of each folder holding two or more of ``keys`` and a Get Blob
        Properties for each lone key."""
        by_dir: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            by_dir[key.rpartition("/")[0]].append(key)
        if not by_dir:
            return set()
        container = self.container_client()
        found: set[str] = set()
        by_tree: dict[str, list[str]] = defaultdict(list)
        for folder in by_dir:
            by_tree[folder.rpartition("/")[0]].append(folder)
        for tree, folders in by_tree.items():
            if len(folders) >= _TRAVERSE_MIN and self._traverse(container, tree, folders,
                                                                by_dir, found):
                for folder in folders:
                    del by_dir[folder]
        found |= self._query_folders(container, by_dir)
        return found

    def _traverse(self, container: Any, tree: str, folders: list[str],
                  by_dir: dict[str, list[str]], found: set[str]) -> bool:
        """List ``tree`` whole if that is cheaper, judging by one folder's listing (the
        layout spreads objects over 256 folders); add what it holds to ``found``."""
        sample = max(folders, key=lambda f: len(by_dir[f]))
        there = {k for k, _s, _w in self._list_times(container, sample + "/")}
        whole = 1 + len(there) * 256 * _PAGE_COST / _PAGE  # sequential pages, in requests
        if whole > -(-len(folders) // self.jobs):  # vs rounds of parallel requests
            found |= there & set(by_dir.pop(sample))
            folders.remove(sample)
            return False
        wanted = {k for f in folders for k in by_dir[f]}
        found |= {k for k, _s, _w in self._list_times(container, tree + "/") if k in wanted}
        return True

    def _query_folders(self, container: Any, by_dir: dict[str, list[str]]) -> set[str]:
        listed = [d for d, g in by_dir.items() if len(g) >= 2]
        single = [g[0] for g in by_dir.values() if len(g) == 1]

        def list_dir(folder: str) -> set[str]:
            wanted = set(by_dir[folder])
            return {k for k, _s, _w in self._list_times(container, folder + "/") if k in wanted}

        def head(key: str) -> set[str]:
            try:
                container.get_blob_client(self._full(key)).get_blob_properties()
            except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
                mapped = self._map(exc, "check an object", key=key)
                if isinstance(mapped, ObjectMissingError):
                    return set()
                raise mapped from None
            return {key}

        found: set[str] = set()
        if not listed and not single:
            return found
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for part in [*pool.map(list_dir, listed), *pool.map(head, single)]:
                found |= part
        return found

    def _list_times(self, container: Any, prefix: str) -> Iterator[tuple[str, int, float]]:
        try:
            for blob in container.list_blobs(name_starts_with=self._full(prefix),
                                             include=["metadata"], results_per_page=_PAGE):
                if (blob.metadata or {}).get("hdi_isfolder") == "true":
                    continue  # a folder of an account with a hierarchical namespace
                when = blob.last_modified
                yield (self._rel(blob.name), int(blob.size),
                       when.timestamp() if when is not None else time.time())
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            raise self._map(exc, "list objects") from None

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        for key, size, _when in self._list_times(self.container_client(), prefix):
            yield key, size

    def list_times(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """``when`` is the blob's Last-Modified: when its upload was committed."""
        yield from self._list_times(self.container_client(), prefix)

    # -- transfers ------------------------------------------------------------------------
    def get(self, key: str, dst: Path | BinaryIO, progress: ProgressFn | None = None, *,
            size: int | None = None) -> int:
        """Ranged GETs of ``multipartchunksize`` in parallel once an object is larger than
        one (through the SDK), else one GET (without it where :mod:`.azureread` can); a
        transfer that breaks past the retries restarts from scratch."""
        container = self.container_client()
        reader = self._reader if size is None or size <= self.block else None
        blob = None if reader is not None else container.get_blob_client(self._full(key))
        for attempt in range(1, self.attempts + 1):
            meter = ProgressMeter(progress)
            try:
                if reader is not None:
                    return reader.read_into(self._full(key), dst, meter.hook)
                return self._get_once(blob, dst, meter)
            except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
                mapped = self._map(exc, "download", key=key)
                meter.undo()  # the restart sends these bytes again
                if not isinstance(mapped, TransientRemoteError) or attempt == self.attempts:
                    raise mapped from None
                if not isinstance(dst, Path):
                    if not dst.seekable():
                        raise mapped from None
                    dst.seek(0)
                    dst.truncate()
            time.sleep(retry_backoff(attempt - 1, 0.2, 10.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_once(self, blob: Any, dst: Path | BinaryIO, meter: ProgressMeter) -> int:
        parallel = isinstance(dst, Path) or dst.seekable()
        stream = blob.download_blob(max_concurrency=min(8, self.jobs) if parallel else 1,
                                    progress_hook=meter.hook)
        if not isinstance(dst, Path):  # the first range arrived: the object exists
            return int(stream.readinto(dst))
        with open(dst, "wb") as out:
            return int(stream.readinto(out))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """One ranged GET; past the end of the object: b"". Through the SDK it is retried
        by the SDK's own policy; without it (:mod:`.azureread`), here."""
        container = self.container_client()
        for attempt in range(1, self.attempts + 1):
            try:
                if self._reader is None:
                    blob = container.get_blob_client(self._full(key))
                    return bytes(blob.download_blob(offset=start, length=length).readall())
                resp = self._reader.open(self._full(key), start, length)
                try:
                    return resp.read()
                finally:
                    resp.release_conn()
            except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
                if getattr(exc, "status_code", None) == 416:  # the range starts past the end
                    return b""
                mapped = self._map(exc, "download", key=key)
                if self._reader is None or not isinstance(mapped, TransientRemoteError) \
                        or attempt == self.attempts:
                    raise mapped from None
            time.sleep(retry_backoff(attempt - 1, 0.2, 10.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def put(self, key: str, src: Path, size: int, progress: ProgressFn | None = None) -> None:
        """One Put Blob up to ``multipartthreshold``; above it, blocks staged in parallel
        and committed by one Put Block List: readers see all of it or nothing."""
        blob = self.container_client().get_blob_client(self._full(key))
        meter = ProgressMeter(progress)
        try:
            with open(src, "rb") as f:
                blob.upload_blob(f, length=size, overwrite=True, validate_content=True,
                                 max_concurrency=min(8, self.jobs), progress_hook=meter.hook)
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            meter.undo()
            raise self._map(exc, "upload", key=key) from None
        meter.finish(size)

    def delete(self, key: str) -> None:
        try:
            self.container_client().get_blob_client(self._full(key)).delete_blob(
                delete_snapshots="include")
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            mapped = self._map(exc, "delete", key=key)
            if not isinstance(mapped, ObjectMissingError):
                raise mapped from None

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            if self._service is not None:
                self._service.close()
                self._service = self._container = None
                self._checked = False
            if self._token is not None:
                self._token.close()
                self._token = None
