"""The Git LFS Batch API over HTTP (``docs/api/batch.md`` of git-lfs), ``basic`` adapter.

:class:`LfsClient` asks ``{url}/objects/batch`` for actions (batches of at most 100
objects) and runs them: streamed GET (resumed with ``Range`` after a dropped connection),
streamed PUT, then the ``verify`` POST. HTTP is :mod:`gitext.remotes.lfshttp` (cheap to
import, which every push and fetching checkout pays).

Credentials (see :mod:`gitext.remotes.lfsurl` for where the URL comes from):

* the user's credentials come from ``git credential fill`` after a 401, are approved once
  the server accepts them and rejected when it refuses them; they are sent only to the
  scheme, host and port of the LFS URL, never to an action's href on another host;
* an action's own ``header`` (a bearer token, a signed URL's headers) goes with that action;
* nothing here logs or prints; error messages name the URL without its user info or query
  (signed hrefs carry tokens in the query) and never a header.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Generator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from gitext.errors import CorruptObjectError, ObjectMissingError, RemoteError
from gitext.git.repo import credential
from gitext.record import Record
from gitext.remotes.backend import ProgressFn, RemoteRefusedError, TransientRemoteError
from gitext.remotes.lfshttp import (
    COALESCE_MARGIN,
    Coalescer,
    Pool,
    Response,
    retry_after,
    retry_backoff,
    upload_body,
)
from gitext.remotes.lfsurl import Endpoint, origin, redact
from gitext.remotes.trust import shown

LFS_JSON = "application/vnd.git-lfs+json"
BATCH_SIZE = 100
MAX_BATCH_ANSWER = 16 << 20  # a batch answer is a few hundred KB; more is refused, unread
CHUNK = 1 << 20  # upload reads
READ_CHUNK = 1 << 16  # download reads
EXPIRY_MARGIN = 5.0  # seconds: an action that expires sooner is asked for again
_TRANSIENT = frozenset({413, 429, 500, 502, 503, 504})


class Action(Record):
    _fields = ("href", "header", "expires_at")

    def __init__(self, href: str, header: dict[str, str], expires_at: float | None) -> None:
        self.href = href
        self.header = header
        self.expires_at = expires_at  # seconds since the epoch

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at < time.time() + EXPIRY_MARGIN


class ObjectResult(Record):
    """The batch answer for one object: its actions, or an error (code, message)."""

    _fields = ("actions", "error")

    def __init__(self, actions: dict[str, Action] | None = None,
                 error: tuple[int, str] | None = None) -> None:
        self.actions: dict[str, Action] = {} if actions is None else actions
        self.error = error


def _expiry(raw: dict[str, Any], received: float) -> float | None:
    found: list[float] = []
    exp_in = raw.get("expires_in")
    if isinstance(exp_in, (int, float)) and not isinstance(exp_in, bool) and exp_in != 0:
        found.append(received + float(exp_in))
    exp_at = raw.get("expires_at")
    if isinstance(exp_at, str) and exp_at and not exp_at.startswith("0001-01-01"):
        try:
            found.append(datetime.fromisoformat(exp_at.replace("Z", "+00:00")).timestamp())
        except ValueError:
            raise ValueError(f"expires_at {exp_at!r} is not a date") from None
    return min(found) if found else None


def parse_batch(data: bytes, wanted: set[str], received: float) -> dict[str, ObjectResult]:
    """The batch response body -> oid -> result; ValueError (with what is wrong) if it is
    not the JSON the spec describes."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({type(exc).__name__} at byte {getattr(exc, 'pos', 0)})"
                         ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("objects"), list):
        raise ValueError("no 'objects' list")
    transfer = doc.get("transfer", "basic")
    if transfer not in (None, "basic"):
        raise ValueError(f"the server chose transfer adapter {shown(str(transfer))!r}; "
                         "only 'basic' is supported")
    out: dict[str, ObjectResult] = {}
    for obj in doc["objects"]:
        if not isinstance(obj, dict) or obj.get("oid") not in wanted:
            raise ValueError("an object that was not asked for, or without an oid")
        res = ObjectResult()
        err = obj.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            res.error = (code if isinstance(code, int) else 0, str(err.get("message", ""))[:200])
        actions = obj.get("actions") or {}
        if not isinstance(actions, dict):
            raise ValueError("'actions' is not an object")
        for name, raw in actions.items():
            if not isinstance(raw, dict) or not isinstance(raw.get("href"), str) or \
                    origin(raw["href"])[0] not in ("http", "https"):
                raise ValueError(f"action {shown(str(name))!r} has no http(s) href")
            header = raw.get("header") or {}
            if not isinstance(header, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in header.items()):
                raise ValueError(f"action {shown(str(name))!r} has a malformed header")
            res.actions[str(name)] = Action(raw["href"], dict(header), _expiry(raw, received))
        out[obj["oid"]] = res
    return out


class LfsClient:
    """One LFS endpoint: batch requests and the ``basic`` transfers, thread-safe."""

    def __init__(self, endpoint: Endpoint, *, cwd: Path | None, jobs: int = 8,
                 max_retries: int = 8, max_delay: float = 10.0) -> None:
        self.endpoint = endpoint
        self.cwd = cwd
        self.max_retries = max(1, max_retries)
        self.max_delay = max_delay
        self._http = Pool(maxsize=jobs + 2, connect_timeout=30.0, read_timeout=300.0)
        self._lock = threading.Lock()
        self._creds: dict[str, str] | None = None
        self._approved = False
        self._asked = False

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"LFS server {redact(self.endpoint.url)}"

    def _user_auth(self, url: str) -> dict[str, str]:
        """``Authorization`` with the user's credentials, only for the LFS URL's origin."""
        creds = self._creds
        if not creds or origin(url) != origin(self.endpoint.url):
            return {}
        token = f"{creds.get('username', '')}:{creds.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(token).decode()}

    def _cred_fields(self) -> dict[str, str]:
        parts = urlsplit(self.endpoint.url)
        fields = {"protocol": parts.scheme, "host": parts.netloc.rpartition("@")[2],
                  "path": parts.path.lstrip("/")}
        if self.endpoint.username:
            fields["username"] = self.endpoint.username
        return fields

    def _fill(self) -> bool:
        with self._lock:
            if self._creds is None and not self._asked:
                self._asked = True
                self._creds = credential("fill", self._cred_fields(), cwd=self.cwd)
            return self._creds is not None

    def _send(self, method: str, url: str, *, headers: dict[str, str],
              body: Any = None, redirect: bool = True) -> Response:
        """One request; a connection failure becomes :class:`TransientRemoteError`."""
        try:
            return self._http.request(method, url, body=body, headers=headers,
                                      redirects=5 if redirect else 0)
        except OSError as exc:
            raise TransientRemoteError(f"{self.where}: {method} {redact(url)} failed: "
                                       f"{type(exc).__name__}") from None
        except ValueError:  # a URL or header that would split the request, from the server
            raise RemoteError(f"{self.where}: refused to send {method} {redact(url)}: it is "
                              "not a valid http(s) request",
                              hint="the server's answer is malformed; report it to its "
                                   "administrators") from None

    def _backoff(self, attempt: int, resp: Response | None) -> None:
        """Wait before retry ``attempt + 1``: what ``Retry-After`` says, else nothing before
        the first retry (a dropped keep-alive connection, one racy 500: as urllib3 and
        git-lfs do), then a jittered exponential backoff."""
        wait = retry_after(resp.headers.get("Retry-After")) if resp is not None else None
        if wait is None:
            wait = retry_backoff(attempt, 0.25, self.max_delay)
        if wait > 0:
            time.sleep(min(wait, 60.0))

    def _retrying(self, method: str, url: str, *, headers: dict[str, str],
                  body: Any = None) -> Response:
        """``_send`` with bounded retries of 413/429/5xx (honouring ``Retry-After``) and of
        dropped connections; returns the last response (any status)."""
        for attempt in range(self.max_retries):
            last = attempt == self.max_retries - 1
            try:
                resp = self._send(method, url, headers=headers, body=body)
            except TransientRemoteError:
                if last:
                    raise
                self._backoff(attempt, None)
                continue
            if resp.status not in _TRANSIENT or last:
                return resp
            resp.drain_conn()
            resp.release_conn()
            self._backoff(attempt, resp)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- batch --------------------------------------------------------------------------------
    def batch(self, operation: str, objects: list[tuple[str, int]]) -> dict[str, ObjectResult]:
        """Ask for ``operation`` (upload/download) on ``objects`` (oid, size), at most
        :data:`BATCH_SIZE` per request."""
        out: dict[str, ObjectResult] = {}
        for i in range(0, len(objects), BATCH_SIZE):
            out.update(self._batch_one(operation, objects[i:i + BATCH_SIZE]))
        return out

    def _batch_one(self, operation: str, objects: list[tuple[str, int]]
                   ) -> dict[str, ObjectResult]:
        url = self.endpoint.url.rstrip("/") + "/objects/batch"
        body = json.dumps({"operation": operation, "transfers": ["basic"],
                           "objects": [{"oid": o, "size": s} for o, s in objects],
                           "hash_algo": "sha256"}).encode()
        while True:
            headers = {"Accept": LFS_JSON, "Content-Type": LFS_JSON, **self.endpoint.headers,
                       **self._user_auth(url)}
            resp = self._retrying("POST", url, headers=headers, body=body)
            received = time.time()
            try:
                data = resp.read_upto(MAX_BATCH_ANSWER + 1)
            except _dropped() as exc:
                raise TransientRemoteError(f"{self.where}: the batch answer broke off "
                                           f"({type(exc).__name__})") from None
            finally:
                resp.release_conn()
            if len(data) > MAX_BATCH_ANSWER:  # (the rest unread: its connection was closed)
                raise RemoteRefusedError(
                    f"{self.where}: the batch answer is larger than "
                    f"{MAX_BATCH_ANSWER >> 20} MiB; no Git LFS server sends that much",
                    hint="check that the URL is an LFS endpoint (…/info/lfs)")
            if resp.status == 401 and self._creds is None and not self._asked and self._fill():
                continue
            if resp.status == 200:
                break
            if resp.status == 404 and operation == "download" and _none_found(data):
                # giftless answers a download batch with 404 when it has none of the objects
                return {o: ObjectResult(error=(404, "not on the server")) for o, _ in objects}
            self._batch_failed(operation, resp.status, data)
        self._approve()
        try:
            return parse_batch(data, {o for o, _ in objects}, received)
        except ValueError as exc:
            raise RemoteRefusedError(f"{self.where}: the batch answer is not Git LFS JSON: {exc}",
                              hint="check that the URL is an LFS endpoint (…/info/lfs)"
                              ) from None

    def _approve(self) -> None:
        with self._lock:
            if self._creds is not None and not self._approved:
                self._approved = True
                credential("approve", {**self._cred_fields(), **self._creds}, cwd=self.cwd)

    def _batch_failed(self, operation: str, status: int, data: bytes) -> None:
        message = ""
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            message = str(json.loads(data).get("message", ""))[:200]
        said = f" ({shown(message)})" if message else ""
        what = f"{self.where} answered {status} to the {operation} batch request{said}"
        if status == 401:
            if self._creds is not None:
                with self._lock:
                    creds, self._creds = self._creds, None
                credential("reject", {**self._cred_fields(), **creds}, cwd=self.cwd)
                raise RemoteRefusedError(f"{what}: the credentials were refused",
                                  hint="check them with your git credential helper; the "
                                  "refused ones were rejected, so git asks again next time")
            raise RemoteRefusedError(f"{what}: credentials are needed and git credential fill "
                              "gave none", hint="store them with a git credential helper "
                              "(git config credential.helper store; git credential approve)")
        hints = {403: "your account lacks " + ("write" if operation == "upload" else "read")
                 + " access to this repository's LFS storage",
                 404: "check the LFS URL (lfs.url, remote.<name>.lfsurl, or the git remote)",
                 422: "the server refused the request as invalid"}
        raise RemoteRefusedError(what, hint=hints.get(
            status, "try again later" if status in _TRANSIENT else
            "check the LFS URL and the server"))

    # -- transfers ----------------------------------------------------------------------------
    def _action_headers(self, action: Action, extra: dict[str, str]) -> dict[str, str]:
        headers = {**extra, **action.header}
        if "Authorization" not in {k.title() for k in action.header}:
            headers.update(self._user_auth(action.href))
        return headers

    def download(self, oid: str, action: Action, out: BinaryIO, size: int,
                 progress: ProgressFn | None) -> int:
        """Stream the object into ``out`` (at its position 0), resuming with ``Range`` after
        a dropped connection; raise if the server sends more than ``size`` bytes."""
        written = 0
        for attempt in range(self.max_retries):
            headers = self._action_headers(action, {})
            if written:
                headers["Range"] = f"bytes={written}-"
            resp = self._retrying("GET", action.href, headers=headers)
            try:
                self._check_action(resp, "download", oid, action)
                if written and resp.status != 206:  # no range support: start again
                    out.seek(0)
                    out.truncate()
                    written = 0
                with contextlib.closing(_body(resp, progress, size - written)) as body:
                    for chunk in body:
                        written += len(chunk)
                        if written > size:
                            raise CorruptObjectError(f"{self.where} sent more than the {size} "
                                                     f"bytes of object {oid}: refused")
                        out.write(chunk)
            except _dropped() as exc:
                if attempt == self.max_retries - 1:
                    raise TransientRemoteError(f"{self.where}: the download of {oid} kept "
                                               f"breaking off ({type(exc).__name__})",
                                               hint="try again later") from None
                self._backoff(attempt, None)
                continue
            finally:
                resp.release_conn()
            return written
        raise AssertionError("unreachable")  # pragma: no cover

    def upload(self, oid: str, size: int, src: Path | Callable[[], Iterator[bytes]],
               actions: dict[str, Action], progress: ProgressFn | None) -> None:
        """PUT the file (streamed), then POST ``verify`` if the server asked for it. ``src``:
        the file, or what gives its bytes afresh for each attempt (an error it raises
        stops the upload before the body is complete)."""
        action = actions["upload"]
        headers = self._action_headers(action, {"Content-Type": "application/octet-stream",
                                                "Content-Length": str(size)})
        for attempt in range(self.max_retries):
            with upload_body(src, progress, CHUNK) as body:
                try:
                    resp = self._send("PUT", action.href, headers=headers, body=body,
                                      redirect=False)
                except TransientRemoteError:
                    if attempt == self.max_retries - 1:
                        raise
                    self._backoff(attempt, None)
                    continue
            if resp.status in _TRANSIENT and attempt < self.max_retries - 1:
                resp.release_conn()
                self._backoff(attempt, resp)
                continue
            try:
                self._check_action(resp, "upload", oid, action)
            finally:
                resp.drain_conn()
                resp.release_conn()
            break
        verify = actions.get("verify")
        if verify is not None:
            said = json.dumps({"oid": oid, "size": size}).encode()
            resp = self._retrying("POST", verify.href, body=said, headers=self._action_headers(
                verify, {"Accept": LFS_JSON, "Content-Type": LFS_JSON}))
            try:
                self._check_action(resp, "verify", oid, verify)
            finally:
                resp.drain_conn()
                resp.release_conn()

    def _check_action(self, resp: Response, what: str, oid: str, action: Action) -> None:
        if 200 <= resp.status < 300:
            return
        where = f"{self.where}: {what} of {oid} at {redact(action.href)} answered {resp.status}"
        if what == "download" and resp.status in (404, 410):
            raise ObjectMissingError(f"{where}: the server lost the object")
        if resp.status in (401, 403):
            raise ActionRefusedError(where, hint="the action's authorisation may have expired; "
                                     "try again")
        cls = TransientRemoteError if resp.status in _TRANSIENT else RemoteError
        raise cls(where, hint="try again later" if resp.status >= 500 else None)

    def close(self) -> None:
        self._http.clear()


class ActionRefusedError(RemoteError):
    """An action's href answered 401/403 (its token may have expired): worth one new batch."""


def _none_found(data: bytes) -> bool:
    """Whether a 404 batch answer says the objects (not the repository) are missing."""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        message = str(json.loads(data).get("message", "")).lower()
        return "requested objects" in message or ("object" in message and "not" in message)
    return False


def _dropped() -> tuple[type[BaseException], ...]:
    return (ConnectionError, TimeoutError, TransientRemoteError)


def _body(resp: Response, progress: ProgressFn | None,
          expected: int) -> Generator[bytes, None, None]:
    """The response body in reads of :data:`READ_CHUNK` (a dropped connection keeps what
    came before the read it broke; a server sending tiny chunks costs one call per read,
    not per chunk), each read coalesced (:class:`~gitext.remotes.lfshttp.Coalescer`) while
    more than :data:`COALESCE_MARGIN` of the ``expected`` bytes are still to come, with progress
    reported per MiB."""
    pending = 0
    coalescer = Coalescer.of(resp) if expected > COALESCE_MARGIN else None
    try:
        while True:
            if coalescer is not None and expected > COALESCE_MARGIN:
                coalescer.wait(min(READ_CHUNK, expected - COALESCE_MARGIN))
            chunk = resp.read(READ_CHUNK)
            if not chunk:
                break
            expected -= len(chunk)
            yield chunk
            pending += len(chunk)
            if progress is not None and pending >= CHUNK:
                progress(pending)
                pending = 0
    finally:
        if coalescer is not None:
            coalescer.close()
    if progress is not None and pending:
        progress(pending)
