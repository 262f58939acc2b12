"""The credentials of one http(s) remote (:mod:`gitext.remotes.http`): the Authorization
header for the remote's own origin, ``git credential fill`` once after a 401, ``approve``
once a request with them succeeds, ``reject`` and one refusal shared by every thread once
they fail. Never anything when the URL came only from the committed file (``anonymous``);
no secret in a message or in ``repr``."""

from __future__ import annotations

import base64
import threading
from urllib.parse import urlsplit

from gitext.git.repo import credential
from gitext.remotes.backend import RemoteRefusedError
from gitext.remotes.trust import shown


class HttpCredentials:
    """What one remote sends, asks for and reports about credentials; thread-safe."""

    def __init__(self, url: str, *, auth: str, user: str | None, secret: str | None,
                 anonymous: bool, where: str) -> None:
        self.url = url
        self.auth = auth
        self.user = user
        self._secret = secret
        self.anonymous = anonymous
        self._where = where
        self._lock = threading.Lock()
        self._filled: dict[str, str] | None = None  # from git credential fill
        self._asked = self._approved = False
        self._refusal: RemoteRefusedError | None = None

    def __repr__(self) -> str:
        return f"HttpCredentials({self.auth}, anonymous={self.anonymous})"

    def header(self) -> dict[str, str]:
        """What goes with a request to the URL's own origin (nothing when anonymous)."""
        if self.anonymous:
            return {}
        filled = self._filled
        secret = self._secret or (filled or {}).get("password")
        if self.auth == "bearer":
            return {"Authorization": f"Bearer {secret}"} if secret else {}
        user = self.user or (filled or {}).get("username") or ""
        if secret is None and filled is None:
            return {}
        token = base64.b64encode(f"{user}:{secret or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _fields(self) -> dict[str, str]:
        parts = urlsplit(self.url)
        return {"protocol": parts.scheme.lower(), "host": parts.netloc,
                "path": parts.path.strip("/"), **({"username": self.user} if self.user else {})}

    def fill(self, sent: dict[str, str]) -> bool:
        """After a 401: whether new credentials are worth a retry (git credential fill is
        asked once, never when anonymous or when the user's own password/token was sent)."""
        if self.anonymous or self._secret is not None:
            return False
        with self._lock:
            if self._refusal is not None:
                return False
            if self.header() != sent:  # another thread already filled them
                return True
            if self._asked:
                return False
            self._asked = True
            self._filled = credential("fill", self._fields())
            return self._filled is not None

    def approve(self) -> None:
        """The credentials sent, if any, were accepted: tell the helper, once."""
        with self._lock:
            filled = self._filled
            if filled is None or self._approved:
                return
            self._approved = True
        credential("approve", {**self._fields(), **filled})

    def refused(self, sent: dict[str, str]) -> RemoteRefusedError:
        """The error for a final 401, the same for every thread once credentials failed."""
        with self._lock:
            if self._refusal is None:
                filled, self._filled = self._filled, None
                self._refusal = self._refusal_for(sent, filled)
            else:
                filled = None
        if filled is not None:
            credential("reject", {**self._fields(), **filled})
        return self._refusal

    def _refusal_for(self, sent: dict[str, str], filled: dict[str, str] | None
                     ) -> RemoteRefusedError:
        where = f"{self._where} answered 401 (authentication required)"
        what = "token" if self.auth == "bearer" else "password"
        if self.anonymous:
            message, hint = (f"{where}; its URL comes only from the repository's committed "
                             "config, so no credentials were sent", "if you trust that server, "
                             "confirm the URL: git archives remote modify --local NAME url "
                             + shown(self.url))
        elif not sent:
            message, hint = (f"{where} and git credential fill gave none", "store them with a "
                             "git credential helper, or: git archives remote modify --local "
                             f"NAME {what} VALUE")
        elif filled is not None:
            message, hint = (f"{where}: the credentials from git credential were refused",
                             "they were rejected, so git asks again next time")
        else:
            message, hint = (f"{where}: the {what} in your git config was refused",
                             f"git archives remote modify --local NAME {what} VALUE")
        return RemoteRefusedError(message, hint=hint)
