"""Where a repository's Git LFS server is, found as git-lfs finds it.

In order: ``lfs.url``, ``remote.<remote>.lfsurl`` (any git config scope: the user's own),
then the same keys in the committed ``.lfsconfig``, else derived from the git remote's URL
(``https://host/org/repo(.git)`` -> ``https://host/org/repo.git/info/lfs``; ``ssh://`` and
scp-style URLs -> ``git-lfs-authenticate <path> <operation>`` over ssh, whose JSON gives the
href and headers).

Trust (DESIGN.md, "credentials follow the user"): ``.lfsconfig`` is someone else's text. A
URL that only ``.lfsconfig`` names is used when it is on the git remote's own host (where
git already sends this user's credentials); on any other host it is refused until the user
sets it in their own git config (``git config lfs.url URL``, which git-lfs reads too).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gitext.errors import ConfigError, RemoteError
from gitext.git.repo import GitError, config_list, ssh_git_lfs_authenticate
from gitext.record import Record
from gitext.remotes.trust import UntrustedRemoteError, shown

LFSCONFIG = ".lfsconfig"
_SCP_RE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>.*)$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port
    scheme = parts.scheme.lower()
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def redact(url: str) -> str:
    """``url`` for a message: no user info, no query or fragment (they may hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return shown(urlunsplit((parts.scheme, host, parts.path, "", "")))


class Endpoint(Record):
    """Where the batch API is: ``url`` (no user info), headers ssh auth gave, and where
    the URL came from (for messages)."""

    _fields = ("url", "source", "headers", "username", "ssh")

    def __init__(self, url: str, source: str, headers: dict[str, str] | None = None,
                 username: str | None = None,
                 ssh: tuple[str, str | None, str] | None = None) -> None:
        self.url = url
        self.source = source
        self.headers: dict[str, str] = {} if headers is None else headers
        self.username = username
        # ssh remote: (user@host, port, path) for git-lfs-authenticate, run per operation
        self.ssh = ssh


def _pairs(out: bytes) -> dict[str, str]:
    values: dict[str, str] = {}
    for rec in out.split(b"\0"):
        key, sep, value = rec.partition(b"\n")
        if rec:
            values[key.decode("utf-8", "surrogateescape").lower()] = value.decode(
                "utf-8", "surrogateescape") if sep else "true"
    return values


class LfsSettings(Record):
    """The git config (the user's, all scopes) and the committed ``.lfsconfig``."""

    _fields = ("git", "committed", "root")

    def __init__(self, git: dict[str, str], committed: dict[str, str],
                 root: Path | None) -> None:
        self.git = git
        self.committed = committed
        self.root = root

    @classmethod
    def load(cls, root: Path | None, *, git_cwd: Path | None = None) -> LfsSettings:
        git = _pairs(config_list(cwd=git_cwd or root).stdout)
        committed: dict[str, str] = {}
        path = root / LFSCONFIG if root is not None else None
        if path is not None and path.is_file() and not path.is_symlink():
            proc = config_list(file=path)
            if proc.returncode != 0:
                raise ConfigError(f"{LFSCONFIG}: cannot be read as git config",
                                  hint=f"fix {LFSCONFIG} (git-config syntax)")
            committed = {k: v for k, v in _pairs(proc.stdout).items()
                         if k == "lfs.url" or (k.startswith("remote.") and k.endswith(".lfsurl"))
                         or k == "lfs.concurrenttransfers"}
        return cls(git, committed, root)

    def get(self, key: str) -> str | None:
        return self.git.get(key, self.committed.get(key))

    def git_remote(self, preferred: str | None = None) -> str | None:
        """The git remote whose LFS server we use: ``preferred`` (the pushed remote),
        ``remote.lfsdefault``, ``origin``, or the only remote."""
        names = sorted({k.split(".", 1)[1].rsplit(".", 1)[0] for k in self.git
                        if k.startswith("remote.") and k.endswith(".url")})
        for name in (preferred, self.git.get("remote.lfsdefault"), "origin"):
            if name and name in names:
                return name
        return names[0] if len(names) == 1 else None

    def configured_url(self, remote: str | None) -> tuple[str, str, bool] | None:
        """(url, where it was set, committed?) from lfs.url / remote.<r>.lfsurl."""
        keys = ["lfs.url"] + ([f"remote.{remote}.lfsurl"] if remote else [])
        for key in keys:
            if key in self.git:
                return self.git[key], f"{key} (git config)", False
        for key in keys:
            if key in self.committed:
                return self.committed[key], f"{key} ({LFSCONFIG})", True
        return None

    def local_objects(self, git_remote: str | None = None) -> tuple[Path, str] | None:
        """(its ``lfs/objects`` folder, the remote's URL) when no LFS URL is configured and
        the git remote is a repository on this machine (git-lfs's standalone-file
        transfer); None otherwise. The path is the user's own git config, never a
        committed file."""
        remote = self.git_remote(git_remote)
        url = self.git.get(f"remote.{remote}.url") if remote else None
        if url is None or self.configured_url(remote) is not None \
                or derive_from_git_url(url) is not None:
            return None
        raw = url[len("file://"):] if url.startswith("file://") else url
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = (self.root or Path.cwd()) / path
        from gitext.remotes.lfsfile import lfs_objects_of  # noqa: PLC0415 - not on a push

        objects = lfs_objects_of(path)
        return (objects, url) if objects is not None else None

    def uses_lfs(self) -> bool:
        """Whether this repository has an LFS store: a URL is configured, or its
        attributes say ``filter=lfs`` and a git remote exists to derive one from (a server,
        or for a git remote that is a path on this machine, that repository's own
        ``lfs/objects``: :meth:`local_objects`)."""
        remote = self.git_remote()
        if self.configured_url(remote) is not None:
            return True
        if self.root is None or remote is None:
            return False
        url = self.git.get(f"remote.{remote}.url")
        if url is None or (derive_from_git_url(url) is None and self.local_objects() is None):
            return False
        for attrs in (self.root / ".gitattributes",):
            try:
                text = attrs.read_text("utf-8", "replace")
            except OSError:
                continue
            if re.search(r"(?m)^[^#\n]*\sfilter=lfs(\s|$)", text):
                return True
        return False

    def concurrent_transfers(self) -> int:
        raw = self.get("lfs.concurrenttransfers")
        try:
            return max(1, int(raw)) if raw else 8
        except ValueError:
            raise ConfigError(f"lfs.concurrenttransfers = {shown(raw or '')!r} is not a "
                              "whole number", hint="git config lfs.concurrenttransfers 8"
                              ) from None


def _host(url: str) -> str:
    m = _SCP_RE.match(url) if "://" not in url else None
    if m:
        return m.group("host").lower()
    return (urlsplit(url).hostname or "").lower()


def derive_from_git_url(url: str) -> tuple[str, tuple[str, str | None, str] | None] | None:
    """The LFS URL git-lfs derives from a git remote URL, plus, for ssh, (user@host, port,
    path) for ``git-lfs-authenticate``. None for a local path (no LFS server)."""
    if "://" not in url:
        m = _SCP_RE.match(url)
        if not m or "/" in m.group("host") or len(m.group("host")) == 1:
            return None  # a local path (C:\\… is not scp-style either)
        user_host = (m.group("user") + "@" if m.group("user") else "") + m.group("host")
        return _https(m.group("host"), m.group("path")), (user_host, None, m.group("path"))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        netloc = parts.netloc.rpartition("@")[2]
        path = parts.path.rstrip("/")
        if not path.endswith(".git"):
            path += ".git"
        return urlunsplit((scheme, netloc, path + "/info/lfs", "", "")), None
    if scheme in ("ssh", "git+ssh", "ssh+git"):
        host = parts.hostname or ""
        user_host = (parts.username + "@" if parts.username else "") + host
        port = str(parts.port) if parts.port else None
        return _https(host, parts.path), (user_host, port, parts.path.lstrip("/"))
    if scheme == "git":
        return _https(parts.hostname or "", parts.path), None
    return None


def _https(host: str, path: str) -> str:
    path = "/" + path.strip("/")
    if not path.endswith(".git"):
        path += ".git"
    return f"https://{host}{path}/info/lfs"


def _check_url(url: str, where: str) -> str:
    parts = urlsplit(url.strip())
    if _CONTROL_RE.search(url) or parts.scheme.lower() not in ("http", "https") \
            or not parts.hostname:
        raise ConfigError(f"{where}: {shown(url)} is not an http(s) LFS URL",
                          hint="set one with: git config lfs.url https://HOST/ORG/REPO.git/info/lfs")
    return url.strip()


def find_endpoint(settings: LfsSettings, *, git_remote: str | None = None) -> Endpoint:
    """The LFS endpoint (for an ssh remote, what :func:`ssh_endpoint` resolves per
    operation); raise :class:`RemoteError` when there is none,
    :class:`UntrustedRemoteError` for a committed URL on another host."""
    remote = settings.git_remote(git_remote)
    remote_url = settings.git.get(f"remote.{remote}.url") if remote else None
    found = settings.configured_url(remote)
    if found is not None:
        url, where, committed = found
        url = _check_url(url, where)
        if committed and (remote_url is None or _host(remote_url) != _host(url)):
            confirm = "git config lfs.url " + shlex.quote(url)
            raise UntrustedRemoteError(
                f"the LFS server {redact(url)} is named only by the committed {LFSCONFIG}, "
                f"on another host than the git remote; nothing was sent to it (if you trust "
                f"it: {confirm})", hint=f"to use it from now on: {confirm}")
        parts = urlsplit(url)
        return Endpoint(urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path,
                                    parts.query, "")), where, username=parts.username)
    if remote_url is None:
        raise RemoteError("no data remote and no Git LFS server is configured",
                          hint="git archives remote add -d storage s3://bucket/path  (or a "
                          "directory path), or git config lfs.url URL")
    derived = derive_from_git_url(remote_url)
    if derived is None:
        raise RemoteError(f"git remote '{shown(remote or '')}' is a local path: it has no "
                          "LFS server",
                          hint="git config lfs.url URL, or git archives remote add -d NAME URL")
    url, ssh = derived
    where = f"derived from git remote '{remote}'"
    parts = urlsplit(remote_url)
    return Endpoint(url, where, ssh=ssh,
                    username=parts.username if "://" in remote_url and ssh is None else None)


def ssh_endpoint(endpoint: Endpoint, operation: str, cwd: Path | None) -> Endpoint:
    """For an ssh git remote: the href and headers ``git-lfs-authenticate`` gives for
    ``operation``; any other endpoint as it is."""
    if endpoint.ssh is None:
        return endpoint
    user_host, port, path = endpoint.ssh
    fallback, where = endpoint.url, endpoint.source
    try:
        out = ssh_git_lfs_authenticate(user_host, port, path, operation, cwd=cwd)
    except GitError as exc:
        raise RemoteError(f"LFS server for {shown(user_host)}: {exc.message}",
                          hint="check ssh access (ssh " + shlex.quote(user_host) +
                          "), or set the HTTPS URL: git config lfs.url URL") from None
    try:
        doc = json.loads(out)
        href = doc.get("href") or fallback
        header = {str(k): str(v) for k, v in (doc.get("header") or {}).items()}
    except (ValueError, AttributeError):
        raise RemoteError(f"git-lfs-authenticate on {shown(user_host)} did not answer JSON",
                          hint="set the HTTPS URL: git config lfs.url URL") from None
    _check_url(href, f"git-lfs-authenticate on {user_host}")
    return Endpoint(href, where + " (ssh)", headers=header)
