"""Where an ``azure://`` remote's requests go and with which credential (for
:mod:`gitext.remotes.azure`, which alone imports the SDK; this module imports it only inside
the functions that build SDK objects).

:func:`choose_login` decides, in this order (as DVC's ``dvc-azure``):

1. ``accountkey`` or ``sastoken`` (the clone's git config) for the account ``accountname``
   (committed, or ``AZURE_STORAGE_ACCOUNT``), at ``https://<account>.blob.core.windows.net``
   or at the endpoint that a ``connectionstring`` without a key names;
2. ``connectionstring`` (the clone's git config): it names its own endpoint (Azurite's
   ``BlobEndpoint=http://127.0.0.1:…``), which is the user's choice since only they set it;
3. ``AZURE_STORAGE_CONNECTION_STRING``, if it is for that account (or none is named);
4. for the named account: anonymous requests if ``unsigned`` (DVC's
   ``allow_anonymous_login``), else ``DefaultAzureCredential`` when ``azure-identity`` is
   installed.

A committed account name only picks an account at Microsoft's own endpoint: it is checked
to be one (3-24 lower-case letters and digits) before it becomes a host name.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gitext.errors import ConfigError
from gitext.remotes.backend import bool_option
from gitext.remotes.httpenv import pin_environment
from gitext.remotes.trust import shown

_ACCOUNT_RE = re.compile(r"[a-z0-9]{3,24}")
# 3-63 characters, lower-case letters, digits and single hyphens, or the root container
_CONTAINER_RE = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]|\$root")
CREDENTIAL_HINT = ("set a connection string or key in this clone only ('git archives remote "
                   "modify --local NAME connectionstring ...', or accountkey / sastoken), "
                   "AZURE_STORAGE_CONNECTION_STRING, or sign in for DefaultAzureCredential "
                   "(az login; needs the azure-identity package)")


@dataclass(frozen=True)
class Login:
    """Where requests go and with what. ``secret`` is never shown (see :meth:`__repr__`)."""

    how: str                    # connection string | account key | SAS token | ...
    account: str | None         # the account name, when known before connecting
    connection_string: str | None = None  # (names the endpoint, and maybe the credential)
    secret: str | None = None   # an account key or a SAS token
    source: str | None = None   # where the connection string came from

    def __repr__(self) -> str:
        return f"Login(how={self.how!r}, account={self.account!r})"


def split_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    container = parts.netloc
    if not container:
        raise ConfigError(f"remote URL {shown(url)} names no container",
                          hint="write it as azure://CONTAINER/optional/path")
    if not _CONTAINER_RE.fullmatch(container):
        raise ConfigError(f"remote URL {shown(url)}: {shown(container)} is not an Azure "
                          "container name (3-63 lower-case letters, digits and single hyphens)",
                          hint="git archives remote modify NAME url azure://CONTAINER/path")
    return container, parts.path.strip("/")


def _account(options: Mapping[str, str], env: Mapping[str, str]) -> str | None:
    name = options.get("accountname") or env.get("AZURE_STORAGE_ACCOUNT") or None
    if name is not None and not _ACCOUNT_RE.fullmatch(name):
        raise ConfigError(f"accountname = {shown(name)} is not a storage account name "
                          "(3-24 lower-case letters and digits)",
                          hint="git archives remote modify NAME accountname ACCOUNT")
    return name


def choose_login(options: Mapping[str, str], env: Mapping[str, str]) -> Login:
    """Which credential to use, in DVC's order (see the module's docstring)."""
    account = _account(options, env)
    conn = options.get("connectionstring") or None
    for option, how in (("accountkey", "account key"), ("sastoken", "SAS token")):
        if options.get(option):
            if account is None and (conn is None or _named_account(conn) is None):
                raise ConfigError(f"{option} needs the storage account's name",
                                  hint="git archives remote modify NAME accountname ACCOUNT")
            secret = options[option]
            return Login(how, account or _named_account(conn or ""), conn,
                          secret.lstrip("?") if option == "sastoken" else secret,
                          source=None if conn is None else "connection string")
    if conn is not None:
        return Login("connection string", account, conn, source="connection string")
    if env.get("AZURE_STORAGE_CONNECTION_STRING"):
        return Login("AZURE_STORAGE_CONNECTION_STRING", account,
                      env["AZURE_STORAGE_CONNECTION_STRING"],
                      source="AZURE_STORAGE_CONNECTION_STRING")
    if account is None:
        raise ConfigError("no storage account is named for this azure:// remote",
                          hint="git archives remote modify NAME accountname ACCOUNT (or set "
                               "AZURE_STORAGE_CONNECTION_STRING / a local connectionstring)")
    if bool_option(options, "unsigned"):
        return Login("anonymous access", account)
    return Login("DefaultAzureCredential", account)


def _named_account(conn: str) -> str | None:
    """The ``AccountName=`` of a connection string, if it has one."""
    for part in conn.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "accountname" and value.strip():
            return value.strip()
    return None


def quiet_sdk_logs() -> None:
    """The SDK logs request URLs (a SAS token is part of one): nothing of it is shown."""
    logger = logging.getLogger("azure")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def transport(jobs: int) -> Any:
    """The SDK's requests transport with a connection pool as wide as our threads
    (each of ``jobs`` transfers may run several ranges at once)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from urllib3.util.retry import Retry

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=4, pool_maxsize=max(10, jobs * 4),
        max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=True,
                             connection_timeout=10, read_timeout=60)


def pin_transport(transport: Any, url: str) -> None:
    """The proxies and CA bundle of the environment, read once for ``url``
    (:func:`~gitext.remotes.httpenv.pin_environment`); the SDK passes its own ``verify``
    with every request, so the bundle goes there too."""
    bundle = pin_environment(transport.session, url)
    if bundle and transport.connection_config.verify is True:
        transport.connection_config.verify = bundle


def retry_policy(attempts: int) -> Any:
    """The SDK's retries (5xx, throttling, dropped connections) with shorter waits than its
    default (15 s, then 18 s, 24 s, ...): 0.25 s doubling to at most 10 s, with jitter."""
    from azure.storage.blob import ExponentialRetry

    class Retry(ExponentialRetry):
        def get_backoff_time(self, settings: dict[str, Any]) -> float:
            return float(min(10.0, 0.25 * 2 ** settings["count"]) * (1 + random.random()))

    return Retry(retry_total=attempts - 1)
