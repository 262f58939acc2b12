"""Where a remote may take the user's credentials and data: the checks :func:`open_remote`
runs before any backend is built (DESIGN.md, "Trust": credentials follow the user, not the
repository).

A cloned repository's ``.archives/config`` is someone else's text. From it we accept the
remote's URL and tuning options, but:

* an ``s3://`` remote's ``endpointurl`` that is not one of AWS's own S3 endpoints is used
  only once the user set or confirmed it in their own git config (the clone's, or the
  global one), or opted into unsigned requests there (``unsigned = true``): no request —
  signed or not — is made to an endpoint the repository alone chose;
* a directory remote (a path or ``file://``) is used only once the user set or confirmed
  its URL in their own git config: a repository does not choose where on this machine we
  read, write and delete;
* likewise a Git LFS server remote (``lfs+https://``): git's credentials for its host would
  go there (for the LFS server named by ``.lfsconfig``, see :mod:`gitext.remotes.lfsurl`),
  and an SSH remote (``ssh://``): the user's keys and agent would authenticate there;
* an HTTP(S) remote only the committed file chose is read anonymously: no git credential is
  asked for and no password or token sent (:data:`~gitext.remotes.backend.ANONYMOUS`);
* a ``gs://`` remote's ``endpointurl`` is treated as an S3 one is, Google's own endpoint
  standing for AWS's; an Azure remote has no committed endpoint (a connection string,
  which names one, is a secret and only read from the user's config);
* options that select or carry credentials (``profile``, keys, tokens, credential and
  config files, ``unsigned``) are never read from the committed file (the loader drops
  them, :func:`gitext.config._committed_allowed`); a warning names each one.
"""

from __future__ import annotations

import re
import shlex
import warnings
from typing import NoReturn
from urllib.parse import urlsplit

from gitext.config import PROJECT_CONFIG, Config
from gitext.errors import ArchivesWarning, RemoteError
from gitext.remotekinds import PRIVATE_OPTIONS, SECRET_OPTIONS, kind_of
from gitext.remotes.backend import ANONYMOUS, AWS_ONLY, bool_option

_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
# The S3 service endpoints of AWS's partitions (host names, lower case, no trailing dot):
# s3.amazonaws.com, s3.<region>.amazonaws.com, s3-<region>.amazonaws.com (legacy),
# s3-external-1, s3-fips, s3.dualstack, s3-accelerate[.dualstack], *.amazonaws.com.cn.
_S3_SERVICE = (rf"s3(?:-fips|-accelerate|-external-1|-{_REGION})?(?:\.dualstack)?"
               rf"(?:\.{_REGION})?\.amazonaws\.com(?:\.cn)?")
# What botocore builds from such an endpoint: a bucket or access point in front of it.
_S3_REQUEST = (rf"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.)?(?:{_S3_SERVICE}"
               rf"|s3-accesspoint(?:-fips)?(?:\.dualstack)?\.{_REGION}\.amazonaws\.com(?:\.cn)?)")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class UntrustedRemoteError(RemoteError):
    """A remote whose endpoint or directory only the committed file chose. ``confirm``:
    (remote, option, value) that confirming in the clone's git config would accept."""

    def __init__(self, message: str, *, hint: str | None = None,
                 confirm: tuple[str, str, str] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.confirm = confirm


def shown(text: str) -> str:
    """``text`` for a message: control characters (a newline…) escaped, never raw."""
    if _CONTROL_RE.search(text):
        return repr(text)
    return text


def _host(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if "@" in parts.netloc or not host:
        return None
    return parts.scheme.lower(), host.lower(), port


def is_aws_s3_endpoint(url: str) -> bool:
    """Whether ``url`` is one of AWS's own S3 endpoints over HTTPS (parsed host, exact
    pattern; ``https://s3.eu-west-1.amazonaws.com``, never ``https://s3.evil.example``)."""
    parsed = _host(url)
    if parsed is None or _CONTROL_RE.search(url):
        return False
    scheme, host, port = parsed
    path = urlsplit(url.strip()).path
    return (scheme == "https" and port in (None, 443) and path in ("", "/")
            and re.fullmatch(_S3_SERVICE, host) is not None)


def is_aws_s3_request(url: str) -> bool:
    """Whether a request botocore is about to sign goes to AWS S3 (bucket-style hosts and
    access points included)."""
    parsed = _host(url)
    if parsed is None:
        return False
    scheme, host, port = parsed
    return scheme == "https" and port in (None, 443) and re.fullmatch(_S3_REQUEST, host) is not None


def _committed_file(cfg: Config, key: str | None = None) -> str:
    """The committed file ``key``'s value came from: ``.archives/config``, or DVC's
    ``.dvc/config`` for a DVC remote."""
    source = cfg.source(key) if key is not None else None
    if source is not None:
        return source
    return str(cfg.project_file) if cfg.project_file is not None else str(PROJECT_CONFIG)


def warn_ignored(cfg: Config, name: str) -> None:
    """One warning per committed option of remote ``name`` that the loader dropped."""
    prefix = f"remote.{name.lower()}."
    for key in cfg.ignored:
        if not key.startswith(prefix) or "." in key[len(prefix):]:
            continue
        option = key[len(prefix):]
        why = ("credentials and the options that choose them are read only from your own "
               "git config" if option in PRIVATE_OPTIONS | SECRET_OPTIONS else
               "it is not an option a committed file may set")
        warnings.warn(ArchivesWarning(
            f"{shown(_committed_file(cfg, key))}: {shown(key)} is ignored: {why}; if you want "
            f"one, set it with: git archives remote modify --local {shlex.quote(name)} "
            f"{shlex.quote(option)} VALUE"), stacklevel=3)


def _refuse(name: str, what: str, value: str, cfg: Config, *, key: str, why: str,
            hint: str) -> NoReturn:
    raise UntrustedRemoteError(
        f"remote '{name}': {what} {shown(value)} comes only from "
        f"{shown(_committed_file(cfg, key))}, "
        f"not from your own config; {why}",
        hint=hint,
        confirm=None if _CONTROL_RE.search(value) else (name, key.rpartition(".")[2], value))


def _confirm_command(name: str, key: str, value: str, noun: str) -> str:
    """The command that confirms ``value`` in this clone, or why none is offered."""
    if _CONTROL_RE.search(value):
        return f"the {noun} holds control characters: do not use it"
    return f"git archives remote modify --local {shlex.quote(name)} {key} {shlex.quote(value)}"


def check_remote(cfg: Config, name: str, url: str, scheme: str,
                 options: dict[str, str]) -> dict[str, str]:
    """Refuse remote ``name`` if the committed file alone chose where it connects (see the
    module's docstring). Returns the flags its backend must honour: :data:`AWS_ONLY` (every
    signed request goes to AWS S3: an AWS endpoint that came from the committed file),
    :data:`ANONYMOUS` (an HTTP remote only the committed file chose: no credential sent)."""
    warn_ignored(cfg, name)
    quoted = shlex.quote(name)
    url_is_ours = cfg.is_local(f"remote.{name}.url")
    if scheme in ("", "file"):
        if not url_is_ours:
            _refuse(name, "the directory", url, cfg, key=f"remote.{name}.url",
                    why="a cloned repository does not choose where on this machine data is read, "
                    "written and deleted; if you trust that folder: "
                    + _confirm_command(name, "url", url, "path"),
                    hint="or set your own: git archives remote modify --local "
                    f"{quoted} url PATH")
        return {}
    if scheme.startswith("lfs+") and not url_is_ours:
        _refuse(name, "the LFS server", url, cfg, key=f"remote.{name}.url",
                why="your git credentials go only to a server you chose, so nothing was sent; "
                "if you trust that server: " + _confirm_command(name, "url", url, "URL"),
                hint="or use the repository's own LFS server: git archives remote remove "
                f"{quoted} (with no data remote, its git remote's LFS server is used)")
    if scheme in ("ssh", "sftp") and not url_is_ours:
        _refuse(name, "the SSH host", url, cfg, key=f"remote.{name}.url",
                why="your SSH keys and agent authenticate only to a host you chose, so no "
                "connection was made; if you trust that host: "
                + _confirm_command(name, "url", url, "URL"),
                hint=f"or set your own: git archives remote modify --local {quoted} url URL")
    if scheme in ("http", "https"):
        return {} if url_is_ours else {ANONYMOUS: "true"}
    return _check_endpoint(cfg, name, scheme, options)


def _check_endpoint(cfg: Config, name: str, scheme: str,
                    options: dict[str, str]) -> dict[str, str]:
    """An ``endpointurl`` only the committed file set: an S3 one is used if it is AWS's own
    (then signed requests go only to AWS), a GCS one if it is Google's; any other is refused
    unless the user opted into anonymous requests in their own config."""
    endpoint = options.get("endpointurl") or ""
    if not endpoint or cfg.is_local(f"remote.{name}.endpointurl"):
        return {}
    if scheme == "s3" and is_aws_s3_endpoint(endpoint):
        return {AWS_ONLY: "true"}
    if scheme in ("gs", "gcs") and is_google_storage_endpoint(endpoint):
        return {}
    if bool_option(options, "unsigned"):  # local only: the loader drops a committed one
        return {}
    owner = "Google" if scheme in ("gs", "gcs") else "AWS"
    _refuse(name, "the endpoint", endpoint, cfg, key=f"remote.{name}.endpointurl",
            why=f"your credentials go only to {owner} or to an endpoint you confirm, so nothing "
            "was sent; if you trust that endpoint: "
            + _confirm_command(name, "endpointurl", endpoint, "URL"),
            hint="for a public bucket, anonymous requests instead: git archives remote modify "
            f"--local {shlex.quote(name)} unsigned true")


def is_google_storage_endpoint(url: str) -> bool:
    """Whether ``url`` is Google Cloud Storage's own JSON API endpoint over HTTPS."""
    parsed = _host(url)
    if parsed is None or _CONTROL_RE.search(url):
        return False
    scheme, host, port = parsed
    return scheme == "https" and port in (None, 443) and host in (
        "storage.googleapis.com", "www.googleapis.com", "storage.mtls.googleapis.com")


def warn_foreign(cfg: Config, name: str, url: str, options: dict[str, str]) -> None:
    """One warning per option of remote ``name`` that its kind does not take (set for another
    kind, or misspelt), with the closest option it does take."""
    kind = kind_of(url)
    if kind is None:
        return
    for option in sorted(options):
        if option in kind.options or ":" in option:
            continue
        close = kind.suggest(option)
        maybe = f" (did you mean '{close}'?)" if close else ""
        local = " --local" if cfg.is_local(f"remote.{name}.{option}") else ""
        warnings.warn(ArchivesWarning(
            f"remote '{shown(name)}': option '{shown(option)}' does not apply to "
            f"{kind.title} remotes and is not used{maybe}; remove it with: git archives "
            f"remote modify{local} {shlex.quote(name)} {shlex.quote(option)} --unset"),
            stacklevel=3)


