"""What :mod:`gitext.remotes.ssh` says and reads — the URL and option parsing, and one clear
error for each way an SSH/SFTP remote fails, never carrying a password, a passphrase or a
key — and its plumbing: asyncssh's import, the loop thread, a connection's sessions.
asyncssh is imported only by :func:`import_asyncssh` (the caller hands the module to the
error functions as ``ssh``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import posixpath
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from gitext.codec.shellquote import shell_arg
from gitext.errors import ArchivesError, ConfigError, ObjectMissingError, RemoteError
from gitext.remotes.backend import RemoteRefusedError, TransientRemoteError
from gitext.remotes.trust import shown

KNOWN_HOSTS = "~/.ssh/known_hosts"
# AES-GCM first: AES-NI makes it several times cheaper than asyncssh's default first choice
# (ChaCha20-Poly1305) on both ends, and bulk transfers are CPU-bound. The rest: as asyncssh.
ENCRYPTION = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
              "chacha20-poly1305@openssh.com", "aes256-ctr", "aes192-ctr", "aes128-ctr")
T = TypeVar("T")


def parse_url(url: str) -> tuple[str, int | None, str | None, str]:
    """(host, port or None, user or None, absolute path) of ``ssh://[user@]host[:port]/path``."""
    parts = urlsplit(url)
    if parts.password is not None:
        raise ConfigError("the remote URL carries a password; it would be committed",
                          hint="drop it from the URL: git archives remote modify --local NAME "
                               "password PASSWORD, or use a key or the agent")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"remote URL {shown(url)} has an invalid port",
                          hint="write it as ssh://user@host:PORT/path") from None
    path = unquote(parts.path)
    if not parts.hostname or not path.startswith("/") or path.rstrip("/") == "":
        raise ConfigError(f"remote URL {shown(url)} needs a host and an absolute folder",
                          hint="write it as ssh://[user@]host[:port]/absolute/path")
    user = unquote(parts.username) if parts.username else None
    return parts.hostname, port, user, posixpath.normpath(path)


def port_number(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"port = {shown(value)} is not a port number",
                          hint="git archives remote modify NAME port 22")
    return int(text)


@dataclass
class Where:
    """The remote as messages name it: ``host``/``port`` after ``~/.ssh/config``."""

    url: str
    host: str
    port: int
    user: str | None
    root: str
    keyfile: str | None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}" if self.port != 22 else self.host


class ConnectFailed(Exception):
    """Opening the connection failed with ``cause`` (as opposed to a request on it)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


def is_lost(ssh: Any, exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone (worth a new one and a retry)."""
    return isinstance(exc, ssh.DisconnectError | ssh.SFTPConnectionLost | ssh.SFTPNoConnection
                      | ssh.ChannelOpenError | ConnectionError | TimeoutError | BrokenPipeError)


def request_error(ssh: Any, where: Where, exc: BaseException, action: str,  # noqa: PLR0911
                  key: str | None) -> ArchivesError:
    """The error for a failed request (or, through :class:`ConnectFailed`, connection)."""
    if isinstance(exc, ArchivesError):
        return exc
    what = f"{where}" + (f" {key}" if key else "")
    if isinstance(exc, ConnectFailed):
        return connect_error(ssh, where, exc.cause)
    if isinstance(exc, ssh.SFTPNoSuchFile):
        return ObjectMissingError(f"{what}: no such object")
    if isinstance(exc, ssh.SFTPPermissionDenied):
        return RemoteRefusedError(
            f"{where}: permission denied while trying to {action}"
            + (f" {key}" if key else "") + f" under {shown(where.root)}",
            hint="ask the server's administrator for write access to that folder")
    if is_lost(ssh, exc):
        return TransientRemoteError(
            f"{what}: the connection was lost ({type(exc).__name__}) while trying to {action}",
            hint="try again; an interrupted transfer restarts cleanly")
    if isinstance(exc, OSError):  # a local file
        return RemoteError(f"{what}: {action} failed locally: {exc.strerror or exc}",
                           hint="check free disk space and permissions")
    if isinstance(exc, ssh.SFTPError):
        return RemoteError(f"{what}: the server failed to {action}: {shown(exc.reason)}",
                           hint="check free space and permissions on the server")
    return RemoteError(f"{what}: {action} failed ({type(exc).__name__})")


def connect_error(ssh: Any, where: Where, exc: BaseException) -> ArchivesError:  # noqa: PLR0911
    if isinstance(exc, ssh.HostKeyNotVerifiable):
        return host_key_error(ssh, where)
    if isinstance(exc, ssh.PermissionDenied):
        who = f"user {shown(where.user)}" if where.user else "your user name"
        return RemoteRefusedError(
            f"{where} refused the login for {who} (no key, agent identity or password it "
            "accepts)",
            hint="check the remote's user and keyfile ('git archives remote modify --local "
                 "NAME keyfile ~/.ssh/id_ed25519') or your ssh-agent and ~/.ssh/config")
    if isinstance(exc, ssh.KeyImportError | ssh.KeyEncryptionError):
        # asyncssh's reasons are fixed texts ("Passphrase must be specified to import
        # encrypted private keys", "Unable to decrypt ..."): never the passphrase.
        return RemoteRefusedError(
            f"the key file {shown(where.keyfile or 'from ~/.ssh')} cannot be used: "
            f"{shown(str(exc))}",
            hint="git archives remote modify --local NAME passphrase PASSPHRASE, or load "
                 "the key into ssh-agent")
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return RemoteRefusedError(
            f"cannot read {shown(str(exc.filename or where.keyfile))}: {exc.strerror}",
            hint="check the remote's keyfile ('git archives remote modify --local NAME keyfile "
                 "PATH') and the files your ~/.ssh/config names")
    if isinstance(exc, ssh.SFTPPermissionDenied):
        return RemoteRefusedError(
            f"{where}: permission denied on the remote folder {shown(where.root)}",
            hint="ask the server's administrator for access, or change the remote's URL")
    if isinstance(exc, ssh.SFTPError | ssh.ChannelOpenError):
        return RemoteRefusedError(
            f"{where}: the server offers no SFTP ({shown(str(exc.reason))})",
            hint="ask its administrator to enable the sftp subsystem")
    return RemoteRefusedError(
        f"cannot reach {where} for {shown(where.url)} "
        f"({type(exc).__name__}: {shown(str(exc)) or 'no answer'})",
        hint="check the host name and port (does 'ssh -p PORT host' work?) and the network")


def missing_root_error(where: Where) -> RemoteRefusedError:
    login = f"{shell_arg(where.user)}@" if where.user else ""
    # The folder is quoted twice: once for this shell, once for the server's.
    return RemoteRefusedError(
        f"the remote folder {shown(where.root)} does not exist on {where}",
        hint=f"create it (ssh -p {where.port} {login}{shell_arg(where.host)} mkdir -p -- "
             f"{shell_arg(shell_arg(where.root))}) or fix the URL with "
             "'git archives remote modify NAME url ssh://host/path'")


def host_key_error(ssh: Any, where: Where) -> RemoteRefusedError:
    """Unknown or changed host key: nothing was sent; the commands to trust it once checked."""
    host, port = where.host, where.port
    entry = host if port == 22 else f"[{host}]:{port}"
    keyscan = f"ssh-keyscan -p {port} {shell_arg(host)} >> {KNOWN_HOSTS}"
    if _known_entry(ssh, host, port):
        return RemoteRefusedError(
            f"the host key of {entry} does NOT match the one in {KNOWN_HOSTS}: someone may be "
            "intercepting the connection, or the server's key was changed; nothing was sent",
            hint="if its administrator confirms the new key's fingerprint: ssh-keygen -R "
                 f"{shell_arg(entry)} && {keyscan}")
    return RemoteRefusedError(
        f"the host key of {entry} is unknown (not in {KNOWN_HOSTS}); nothing was sent",
        hint=f"check its fingerprint with the server's administrator, then: {keyscan}")


def _known_entry(ssh: Any, host: str, port: int) -> bool:
    try:
        known = ssh.read_known_hosts(os.path.expanduser(KNOWN_HOSTS))
        keys = known.match(host, "", None if port == 22 else port)[0]
    except (OSError, ValueError, ssh.Error):
        return False
    return bool(keys)


async def connect_options(ssh: Any, host: str, *, user: str | None, port: int | None,
                          keyfile: str | None, passphrase: str | None, password: str | None,
                          allow_agent: bool, timeout: float) -> Any:
    """asyncssh's options for ``host``, from the user's ``~/.ssh/config`` and the clone's
    own settings; the agent is never forwarded, and ``~/.ssh/known_hosts`` is checked even
    where the user's config says ``UserKnownHostsFile none``."""
    kwargs: dict[str, Any] = {"agent_forwarding": False, "connect_timeout": timeout,
                              "encryption_algs": ENCRYPTION, "login_timeout": timeout,
                              "keepalive_interval": 15, "keepalive_count_max": 4}
    for name, value in (("username", user), ("port", port), ("passphrase", passphrase),
                        ("password", password)):
        if value:
            kwargs[name] = value
    if keyfile:
        kwargs["client_keys"] = [os.path.expanduser(keyfile)]
    if not allow_agent:
        kwargs["agent_path"] = None
    options = await ssh.SSHClientConnectionOptions.construct(config=(), host=host, **kwargs)
    if options.known_hosts is None:  # 'UserKnownHostsFile none': we still check
        known = os.path.expanduser(KNOWN_HOSTS)
        options = await ssh.SSHClientConnectionOptions.construct(
            options, config=(), host=host, **kwargs,
            known_hosts=known if os.path.isfile(known) else b"")
    return options


def import_asyncssh() -> Any:
    """asyncssh, imported without its search for liboqs: ``ctypes.util.find_library`` runs
    ``ldconfig``/``gcc`` twice (a third of a second on each command that opens an ssh remote)
    for the optional sntrup761 key exchange; ML-KEM (from cryptography) and curve25519 remain."""
    import ctypes.util  # noqa: PLC0415

    real = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        return None if name in ("oqs", "liboqs") else real(name)

    ctypes.util.find_library = find_library
    try:
        import asyncssh  # noqa: PLC0415 - the [ssh] extra, only for ssh:// remotes
    finally:
        ctypes.util.find_library = real
    return asyncssh


class Loop:
    """An asyncio loop in a daemon thread; :meth:`run` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # asyncssh's helper tasks die with a dropped connection; the request awaiting them
        # reports it. asyncio's default handler would print each ("Task exception was never
        # retrieved", with a traceback) on stderr: library code never prints.
        self.loop.set_exception_handler(lambda _loop, _context: None)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="git-archives-ssh")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            # Interrupted (Ctrl-C): stop the coroutine and let it clean up (its temp
            # file) before the caller removes what it was writing.
            future.cancel()
            concurrent.futures.wait([future], timeout=5)
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


@dataclass
class Session:
    conn: Any
    sftps: list[Any]
    turn: int = 0

    def sftp(self) -> Any:
        self.turn += 1
        return self.sftps[self.turn % len(self.sftps)]


async def open_new(ssh: Any, sftp: Any, path: str, *, root: str, max_requests: int) -> Any:
    """Open ``path`` for writing, making its folder if the first try says it is missing
    (most folders exist after the first push: one round trip saved per object)."""
    try:
        return await sftp.open(path, "wb", max_requests=max_requests)
    except ssh.SFTPNoSuchFile:
        await _make_dirs(ssh, sftp, posixpath.dirname(path), root)
        return await sftp.open(path, "wb", max_requests=max_requests)


async def _make_dirs(ssh: Any, sftp: Any, folder: str, root: str) -> None:
    """``mkdir -p`` from the deep end, down to ``root`` (which exists): one round trip per
    missing level (asyncssh's makedirs starts at ``/``)."""
    try:
        await sftp.mkdir(folder)
    except ssh.SFTPNoSuchFile:
        if len(folder) <= len(root):
            raise
        await _make_dirs(ssh, sftp, posixpath.dirname(folder), root)
        with contextlib.suppress(ssh.SFTPFailure):  # made meanwhile by another upload
            await sftp.mkdir(folder)
    except ssh.SFTPFailure:
        pass  # it exists (SFTP v3 has no better code); a real failure shows on open
