"""S3 and S3-compatible stores (MinIO, Ceph, Cloudflare R2, GCS interoperability) via boto3.

The only module that imports boto3/botocore, and only when an ``s3://`` remote is opened.
Credentials come from the standard chain (environment, shared files, a named profile,
instance metadata) or, if the user put them there, from the clone's own git config; they are
never logged, never shown and never part of an error message: every botocore failure is
mapped to a :class:`RemoteError` built from the error *code* only.

Retries: botocore retries each request (``retrymode`` standard or adaptive, ``retries``
attempts) on throttling, 5xx and dropped connections; a streamed download that breaks
mid-body is restarted from scratch by this module with exponential backoff.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from gitext.config import parse_size
from gitext.errors import ArchivesError, ConfigError, ObjectMissingError, RemoteError
from gitext.remotes.backend import (
    AWS_ONLY,
    ProgressFn,
    TransientRemoteError,
    bool_option,
    whole_option,
)
from gitext.remotes.trust import is_aws_s3_request, shown

DEFAULT_ATTEMPTS = 8
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
_AUTH_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                         "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
                         "InvalidClientTokenId", "AuthorizationHeaderMalformed", "403",
                         "Forbidden", "AllAccessDisabled"})
_REGION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                              "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
                              "503", "500", "502", "504", "RequestLimitExceeded"})


def _split_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    bucket = parts.netloc
    if not bucket:
        raise ConfigError(f"remote URL '{url}' names no bucket",
                          hint="write it as s3://BUCKET/optional/prefix")
    return bucket, parts.path.strip("/")


class S3Backend:
    def __init__(self, url: str, bucket: str, prefix: str, options: dict[str, str]) -> None:
        self.url = url
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = options.get("endpointurl") or None
        if self.endpoint and "@" in (urlsplit(self.endpoint).netloc or ""):
            raise ConfigError("endpointurl carries credentials (user@host)",
                              hint="drop them from the URL; use the standard credential chain")
        self.region = options.get("region") or None
        if self.region is not None and not _REGION_RE.fullmatch(self.region):
            raise ConfigError(f"region = {shown(self.region)} is not a region name",
                              hint="git archives remote modify NAME region us-east-1")
        self.profile = options.get("profile") or None
        self.credentials_file = options.get("credentialsfile") or None
        self.config_file = options.get("configfile") or None
        self.unsigned = bool_option(options, "unsigned")
        self.aws_only = options.get(AWS_ONLY) == "true"
        self.path_style = bool_option(options, "pathstyle", true=("path",),
                                      false=("virtual", "auto"))
        self.retry_mode = (options.get("retrymode") or "standard").lower()
        if self.retry_mode not in ("standard", "adaptive", "legacy"):
            raise ConfigError(f"retrymode = '{self.retry_mode}' is not standard or adaptive",
                              hint="git archives remote modify NAME retrymode adaptive")
        self.attempts = whole_option(options, "retries", DEFAULT_ATTEMPTS)
        self.jobs = whole_option(options, "jobs", 16)
        self.threshold = parse_size(options["multipartthreshold"], where="multipartthreshold") \
            if options.get("multipartthreshold") else MULTIPART_THRESHOLD
        self.chunk = parse_size(options["multipartchunksize"], where="multipartchunksize") \
            if options.get("multipartchunksize") else MULTIPART_CHUNK
        # Secrets only ever come from the clone's git config or the standard chain.
        self._secrets = {k: options[k] for k in ("accesskeyid", "secretaccesskey",
                                                 "sessiontoken") if options.get(k)}
        self._client: Any = None
        self._lock = threading.Lock()
        self._checked = False

    @classmethod
    def from_url(cls, url: str, options: dict[str, str]) -> S3Backend:
        bucket, prefix = _split_url(url)
        return cls(url, bucket, prefix, options)

    # -- plumbing -------------------------------------------------------------------------
    def _where(self) -> str:
        return f"s3://{self.bucket}" + (f" at {self.endpoint}" if self.endpoint else "")

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            if not self._checked:
                self._check_bucket(self._client)
                self._checked = True
            return self._client

    def _make_client(self) -> Any:
        import boto3
        import botocore.config
        import botocore.session

        try:
            core = botocore.session.Session(profile=self.profile)
            if self.credentials_file:
                core.set_config_variable("credentials_file", self.credentials_file)
            if self.config_file:
                core.set_config_variable("config_file", self.config_file)
            session = boto3.Session(botocore_session=core)
            retries: Any = {"max_attempts": self.attempts, "mode": self.retry_mode}
            config = botocore.config.Config(
                retries=retries,
                max_pool_connections=max(10, self.jobs * 2),
                connect_timeout=10,
                read_timeout=60,
                s3={"addressing_style": "path" if self.path_style else "auto"},
                user_agent_extra="git-archives",
                **({"signature_version": botocore.UNSIGNED} if self.unsigned else {}),
            )
            kwargs: dict[str, Any] = {"config": config}
            if self.endpoint:
                kwargs["endpoint_url"] = self.endpoint
            if self.region:
                kwargs["region_name"] = self.region
            if self._secrets:
                kwargs["aws_access_key_id"] = self._secrets.get("accesskeyid")
                kwargs["aws_secret_access_key"] = self._secrets.get("secretaccesskey")
                kwargs["aws_session_token"] = self._secrets.get("sessiontoken")
            client = session.client("s3", **kwargs)
            if self.aws_only:
                client.meta.events.register("before-sign.s3", self._only_to_aws)
            return client
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            raise self._map(exc, "open the S3 client") from None

    def _only_to_aws(self, request: Any, **_: Any) -> None:
        """The endpoint came from the committed file and is AWS's own: refuse to sign a
        request that would go anywhere else (a second check, at the last moment)."""
        if not is_aws_s3_request(str(request.url)):
            host = urlsplit(str(request.url)).netloc
            raise RemoteError(
                f"refused to sign a request to {shown(host)} for {self._where()}: only AWS S3 "
                "may receive your credentials for an endpoint the repository chose",
                hint="confirm the endpoint in your own config: git archives remote modify "
                     "--local NAME endpointurl URL")

    def _check_bucket(self, client: Any) -> None:
        """One HeadBucket up front turns a wrong bucket, endpoint or credential into one clear
        message instead of thousands of ambiguous per-object 404s/403s."""
        try:
            client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            raise self._map(exc, "open the bucket", bucket_level=True) from None

    def _map(self, exc: BaseException, action: str, *, key: str | None = None,
             bucket_level: bool = False) -> ArchivesError:
        """A RemoteError from a botocore failure, built from its code only (no secrets)."""
        if isinstance(exc, ArchivesError):
            return exc
        from botocore import exceptions as bx

        what = f"{self._where()}" + (f" {key}" if key else "")
        if isinstance(exc, bx.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code == "NoSuchBucket" or (bucket_level and status == 404):
                return RemoteError(
                    f"bucket '{self.bucket}' does not exist"
                    + (f" at {self.endpoint}" if self.endpoint else ""),
                    hint="create the bucket, or fix the URL with "
                         "'git archives remote modify NAME url s3://BUCKET/prefix'",
                )
            if code in _AUTH_CODES or status == 403:
                return RemoteError(
                    f"{self._where()} refused the credentials ({code or status}) "
                    f"while trying to {action}",
                    hint="check AWS_PROFILE / AWS_ACCESS_KEY_ID or the remote's profile "
                         "('git archives remote modify NAME profile P --local') and that "
                         "they may read and write this bucket",
                )
            if code in _MISSING_CODES or status == 404:
                return ObjectMissingError(f"{what}: no such object")
            if code in _TRANSIENT_CODES or status >= 500 or status == 429:
                return TransientRemoteError(
                    f"{what}: the store kept failing ({code or status}) after "
                    f"{self.attempts} attempts while trying to {action}",
                    hint="try again later, or raise 'retries' for this remote",
                )
            return RemoteError(f"{what}: {action} failed ({code or status})")
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
            return RemoteError(
                f"no credentials found for {self._where()}",
                hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, configure ~/.aws/credentials, "
                     "or 'git archives remote modify NAME profile P --local'",
            )
        if isinstance(exc, bx.ProfileNotFound):
            return RemoteError(f"AWS profile '{self.profile}' is not configured",
                               hint="check ~/.aws/config, or change the remote's profile")
        if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
            return TransientRemoteError(
                f"cannot reach {self.endpoint or 'the S3 endpoint'} for {self._where()}",
                hint="check the network and the remote's endpointurl",
            )
        if isinstance(exc, bx.FlexibleChecksumError):
            # Bytes damaged in transit (the store's own checksum disagrees): fetch again.
            return TransientRemoteError(
                f"{what}: the bytes received kept failing the store's checksum",
                hint="the network path corrupts data; try again or another network",
            )
        if isinstance(exc, bx.ReadTimeoutError | bx.ConnectionClosedError
                      | bx.IncompleteReadError | bx.ResponseStreamingError
                      | bx.HTTPClientError | ConnectionError | TimeoutError):
            return TransientRemoteError(
                f"{what}: the connection failed ({type(exc).__name__}) while trying to {action}",
                hint="try again; an interrupted transfer restarts cleanly",
            )
        if isinstance(exc, bx.BotoCoreError):
            return RemoteError(f"{what}: {action} failed ({type(exc).__name__})")
        if isinstance(exc, OSError):
            return RemoteError(f"{what}: {action} failed locally: {exc.strerror or exc}",
                               hint="check free disk space and permissions")
        return RemoteError(f"{what}: {action} failed ({type(exc).__name__})")

    # -- queries --------------------------------------------------------------------------
    def exists_many(self, keys: Iterable[str]) -> set[str]:
        """Folders holding two or more of ``keys`` are listed (one request per 1,000
        objects); lone keys get a HEAD. Both run in parallel."""
        by_dir: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            by_dir[key.rpartition("/")[0]].append(key)
        if not by_dir:
            return set()
        client = self.client()
        listed = [d for d, g in by_dir.items() if len(g) >= 2]
        single = [g[0] for g in by_dir.values() if len(g) == 1]

        def list_dir(folder: str) -> set[str]:
            wanted = set(by_dir[folder])
            return {k for k, _ in self._list(client, folder + "/") if k in wanted}

        def head(key: str) -> set[str]:
            try:
                client.head_object(Bucket=self.bucket, Key=self._full(key))
            except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
                mapped = self._map(exc, "check an object", key=key)
                if isinstance(mapped, ObjectMissingError):
                    return set()
                raise mapped from None
            return {key}

        found: set[str] = set()
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for part in [*pool.map(list_dir, listed), *pool.map(head, single)]:
                found |= part
        return found

    def _list(self, client: Any, prefix: str) -> Iterator[tuple[str, int]]:
        for key, size, _when in self._list_times(client, prefix):
            yield key, size

    def _list_times(self, client: Any, prefix: str) -> Iterator[tuple[str, int, float]]:
        try:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._full(prefix))
            for page in pages:
                for item in page.get("Contents", ()):
                    when = item.get("LastModified")
                    yield (self._rel(item["Key"]), int(item["Size"]),
                           when.timestamp() if when is not None else time.time())
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            raise self._map(exc, "list objects") from None

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        yield from self._list(self.client(), prefix)

    def list_times(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """``when`` is S3's LastModified: when the object's upload completed."""
        yield from self._list_times(self.client(), prefix)

    # -- transfers ------------------------------------------------------------------------
    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(multipart_threshold=self.threshold,
                              multipart_chunksize=self.chunk,
                              max_concurrency=min(8, self.jobs), use_threads=True)

    def get(self, key: str, dst: Path | BinaryIO, progress: ProgressFn | None = None, *,
            size: int | None = None) -> int:
        client = self.client()
        full = self._full(key)
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            moved = 0

            def count(n: int) -> None:
                nonlocal moved
                moved += n
                if progress is not None:
                    progress(n)

            try:
                return self._get_once(client, key, full, dst, count, size=size)
            except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
                mapped = self._map(exc, "download", key=key)
                if progress is not None and moved:
                    progress(-moved)  # the restart sends these bytes again
                if not isinstance(mapped, TransientRemoteError) or attempt == self.attempts:
                    raise mapped from None
                if not isinstance(dst, Path):
                    if not dst.seekable():
                        raise mapped from None
                    dst.seek(0)
                    dst.truncate()
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_once(self, client: Any, key: str, full: str, dst: Path | BinaryIO,
                  count: ProgressFn, *, size: int | None) -> int:
        if size is not None and size > self.threshold and isinstance(dst, Path):
            return self._get_in_parts(client, full, dst, count)  # known large: no plain GET
        resp = client.get_object(Bucket=self.bucket, Key=full)
        body = resp["Body"]
        length = int(resp.get("ContentLength") or 0)
        if length > self.threshold and isinstance(dst, Path):
            body.close()
            return self._get_in_parts(client, full, dst, count)
        out = open(dst, "wb") if isinstance(dst, Path) else dst  # noqa: SIM115
        try:
            size = 0
            for chunk in body.iter_chunks(1 << 20):
                out.write(chunk)
                size += len(chunk)
                count(len(chunk))
            if length and size != length:
                raise ConnectionError(f"short read: {size} of {length} bytes")
            return size
        finally:
            body.close()
            if out is not dst:
                out.close()

    def _get_in_parts(self, client: Any, full: str, dst: Path, count: ProgressFn) -> int:
        """Ranged parallel GETs; s3transfer writes a temp name and renames it to ``dst``."""
        client.download_file(self.bucket, full, str(dst), Config=self._transfer_config(),
                             Callback=count)
        return dst.stat().st_size

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """One ``Range`` GET (retried as :meth:`get` is)."""
        client = self.client()
        full = self._full(key)
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            try:
                resp = client.get_object(Bucket=self.bucket, Key=full,
                                         Range=f"bytes={start}-{start + length - 1}")
                return bytes(resp["Body"].read())
            except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
                mapped = self._map(exc, "download", key=key)
                if "InvalidRange" in repr(exc):
                    return b""  # the range starts past the end: the caller sees it short
                if not isinstance(mapped, TransientRemoteError) or attempt == self.attempts:
                    raise mapped from None
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def put(self, key: str, src: Path, size: int, progress: ProgressFn | None = None) -> None:
        client = self.client()
        full = self._full(key)
        try:
            if size > self.threshold:
                # Parts stay invisible until CompleteMultipartUpload; a failure aborts them.
                client.upload_file(str(src), self.bucket, full, Config=self._transfer_config(),
                                   Callback=progress)
                return
            with open(src, "rb") as f:
                client.put_object(Bucket=self.bucket, Key=full, Body=f, ContentLength=size)
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            raise self._map(exc, "upload", key=key) from None
        if progress is not None:
            progress(size)

    def delete(self, key: str) -> None:
        try:
            self.client().delete_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a RemoteError
            mapped = self._map(exc, "delete", key=key)
            if not isinstance(mapped, ObjectMissingError):
                raise mapped from None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
