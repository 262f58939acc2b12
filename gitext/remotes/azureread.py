"""Get Blob without the SDK's pipeline: whole or ranged reads over
:class:`~gitext.remotes.lfshttp.Pool`, signed with the account's Shared Key, or anonymous.

Why (design note 54): the SDK costs ~2.2 ms of CPU per download here, a signed request on
our pool ~0.3 ms, and a pull of a thousand small objects from Azure was bound by that CPU
(issue 12's W12AZ). Only reads go this way, and only when nothing in them depends on what
the SDK would decide per request: no proxy and no custom CA bundle for the endpoint, and a
credential that is a shared key (an account key, or a connection string's) or none (a
public container). SAS tokens and Entra ID credentials read through the SDK as before.

Where requests go, and with which key, is what the SDK client was built with
(:mod:`.azurelogin` decided it): :func:`reader_for` only reads them from that client.
Redirects are never followed. No request is retried here, and nothing is printed: the
backend retries and turns :class:`BlobStatus` and connection errors into its own errors.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

from gitext.remotes.lfshttp import Pool, Response

API_VERSION = "2021-08-06"  # Get Blob with x-ms-range: the same in every later version
_CONNECT_TIMEOUT = 10.0
_READ_TIMEOUT = 60.0


class BlobStatus(Exception):
    """A Get Blob answered with ``status_code`` (and the service's ``error_code``)."""

    def __init__(self, status_code: int, error_code: str) -> None:
        super().__init__(f"{status_code} {error_code}")
        self.status_code = status_code
        self.error_code = error_code


class BlobReader:
    """Signed GETs of the blobs of one container (``container_url``, as the SDK built it)."""

    def __init__(self, container_url: str, account: str, key: bytes | None, *,
                 connections: int, cafile: str | None = None) -> None:
        self.container_url = container_url.rstrip("/")
        self.account = account
        self._key = key
        self._pool = Pool(maxsize=connections, connect_timeout=_CONNECT_TIMEOUT,
                          read_timeout=_READ_TIMEOUT, cafile=cafile)

    def __repr__(self) -> str:
        return f"BlobReader({self.container_url!r})"

    def open(self, name: str, start: int | None = None, length: int | None = None) -> Response:
        """GET blob ``name`` (bytes ``start`` .. ``start + length``, if given). The caller
        reads the body and releases the response; a non-2xx answer raises BlobStatus."""
        url = f"{self.container_url}/{quote(name, safe='/')}"
        headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": API_VERSION}
        if start is not None and length is not None:
            headers["x-ms-range"] = f"bytes={start}-{start + length - 1}"
        if self._key is not None:
            headers["Authorization"] = f"SharedKey {self.account}:{self._sign(url, headers)}"
        resp = self._pool.request("GET", url, headers=headers, redirects=0)
        if resp.status in (200, 206):
            return resp
        code = resp.headers.get("x-ms-error-code") or ""
        resp.drain_conn()
        resp.release_conn()
        raise BlobStatus(resp.status, code)

    def read_into(self, name: str, dst: Path | BinaryIO,
                  hook: Callable[[int, int | None], object]) -> int:
        """The whole blob into ``dst`` (a path is created only once the blob is found),
        ``hook(bytes so far, None)`` after each piece; returns its size."""
        resp = self.open(name)
        done = 0
        try:
            with contextlib.ExitStack() as stack:
                out = stack.enter_context(open(dst, "wb")) if isinstance(dst, Path) else dst
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    hook(done, None)
        finally:
            resp.release_conn()
        return done

    def _sign(self, url: str, headers: dict[str, str]) -> str:
        """Shared Key for a GET without a body or conditions: the verb, eleven empty
        standard headers, the ``x-ms-`` headers sorted, then ``/account/path``."""
        assert self._key is not None  # noqa: S101 - only called with a key
        canonical = "".join(f"{k}:{v}\n" for k, v in sorted(
            (k.lower(), v.strip()) for k, v in headers.items() if k.lower().startswith("x-ms-")))
        to_sign = "GET\n" + "\n" * 11 + canonical + f"/{self.account}{urlsplit(url).path}"
        mac = hmac.new(self._key, to_sign.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(mac).decode("ascii")

    def close(self) -> None:
        self._pool.clear()


def reader_for(service: Any, container: Any, transport: Any, *, unsigned: bool,
               connections: int) -> BlobReader | None:
    """A reader for ``container`` (the SDK's ContainerClient) when its reads need nothing
    the SDK decides per request, else None (read through the SDK)."""
    session = getattr(transport, "session", None)
    if session is None or session.proxies or session.verify is False:
        return None  # a proxy from the environment (or no TLS checks): the SDK's transport
    cafile = session.verify if isinstance(session.verify, str) else None  # (the env's bundle)
    url = str(container.url)
    parts = urlsplit(url)
    if parts.query or parts.scheme not in ("http", "https"):
        return None  # a SAS token rides in the URL: left to the SDK
    credential = service.credential
    if credential is None:
        return BlobReader(url, "", None, connections=connections, cafile=cafile) \
            if unsigned else None
    account, key = getattr(credential, "account_name", None), getattr(credential,
                                                                         "account_key", None)
    if not isinstance(account, str) or not isinstance(key, str) or not account:
        return None  # a SAS or token credential
    try:
        secret = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return None  # the SDK reports a malformed key its own way
    return BlobReader(url, account, secret, connections=connections, cafile=cafile)
