"""Data remotes: the object-store layout on a directory (:mod:`.local`) or S3 (:mod:`.s3`),
behind the :class:`~gitext.remotes.backend.Backend` protocol. This module names the remotes a
config holds and opens them (:func:`open_remote`); the backends are imported only when a
remote of their kind is opened. See ``docs/remotes.md``.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from gitext.codec.shellquote import display, shell_arg
from gitext.config import Config
from gitext.errors import ArchivesError, ConfigError, RemoteError, UsageError
from gitext.record import Record
from gitext.remotekinds import KINDS, RemoteKind, url_scheme
from gitext.remotes.backend import Backend

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

# scheme -> factory(url, options, root) ; root is the repository top level (for relative paths)
BackendFactory = Callable[[str, dict[str, str], "Path | None"], Backend]
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(scheme: str, factory: BackendFactory) -> None:
    _REGISTRY[scheme] = factory


def _local_factory(url: str, options: dict[str, str], root: Path | None) -> Backend:
    from gitext.remotes.local import LocalBackend

    return LocalBackend.from_url(url, root)


def _lfs_factory(url: str, options: dict[str, str], root: Path | None) -> Backend:
    from gitext.remotes.lfs import open_lfs
    from gitext.remotes.lfsurl import LfsSettings

    return open_lfs(LfsSettings.load(root), url=url, source="data remote URL")


def _kind_factory(kind: RemoteKind) -> BackendFactory:
    """A factory importing ``gitext.remotes.<module>`` (and with it the kind's SDK) only when
    a remote of the kind is opened."""
    def factory(url: str, options: dict[str, str], root: Path | None) -> Backend:
        try:
            module = importlib.import_module(f"gitext.remotes.{kind.module}")
            backend: Backend = getattr(module, kind.cls).from_url(url, options)
        except ImportError as exc:
            if (exc.name or "").startswith("gitext") or kind.extra is None:
                raise
            raise missing_extra(kind, url, exc.name) from None
        return backend

    return factory


for _kind in KINDS:
    for _scheme in _kind.schemes:
        if _kind.module == "local":
            register_backend(_scheme, _local_factory)
        elif _kind.module == "lfs":
            register_backend(_scheme, _lfs_factory)  # a Git LFS server (Batch API)
        else:
            register_backend(_scheme, _kind_factory(_kind))


def missing_extra(kind: RemoteKind, url: str, module: str | None) -> RemoteError:
    """One line naming the remote's kind and what is missing; the hint is the exact command
    that installs it into the Python git-archives runs on."""
    from gitext.remotes.extras import install_command

    what = f" ({module} is not installed)" if module else ""
    return RemoteError(
        f"{display(url)}: {kind.title} remotes need git-archives' [{kind.extra}] "
        f"extra{what}",
        hint=f"install it: {install_command(kind.extra or '')}")


def check_url(url: str) -> None:
    """Refuse a URL no backend handles, or one carrying credentials."""
    if not url.strip():
        raise UsageError("the remote URL is empty", hint="give a directory path or s3://bucket/prefix")
    scheme = url_scheme(url)
    if scheme not in _REGISTRY:
        known = ", ".join(sorted(f"{s}://" for s in _REGISTRY if s)) + ", or a directory path"
        raise UsageError(f"unknown remote URL scheme '{scheme}://'",
                         hint=f"supported: {known}")
    if not scheme:
        return
    netloc = urlsplit(url).netloc or ""
    userinfo = netloc.rpartition("@")[0] if "@" in netloc else None
    if userinfo is None:
        return
    if scheme in ("ssh", "sftp") and ":" not in userinfo:
        return  # a user name is no secret (ssh://me@lab-server/…)
    raise UsageError(
        "the remote URL carries credentials (user:password@ or user@host); they would be "
        "committed",
        hint="drop them from the URL and use the standard credential chain "
             "(environment variables, the SDK's files, ~/.ssh, git credential), or a "
             "private option set with 'git archives remote modify --local NAME KEY VALUE'",
    )


def option_key(key: str, url: str | None, *, unset: bool = False) -> str:
    """Our name for option ``key`` (ours or DVC's) on a remote at ``url`` (None: a remote
    not configured yet); a name the remote's kind lacks is refused with the closest one.
    Unsetting takes any name: a stray option must be removable."""
    from gitext.remotekinds import ALL_OPTIONS, kind_of, option_name, suggest

    ours = option_name(key, url)
    if ours is not None:
        return ours
    low = key.strip().lower()
    if unset:
        return low
    kind = kind_of(url) if url is not None else None
    close = suggest(key, url)
    where = f" for {kind.title} remotes" if kind is not None else ""
    if kind is not None and option_name(key) is not None:
        why = f"'{display(key)}' is not an option{where} (another kind of remote takes it)"
    else:
        why = f"unknown remote option '{display(key)}'{where}"
    options = sorted(kind.options) if kind is not None else sorted(ALL_OPTIONS)
    raise UsageError(why + (f"; did you mean '{close}'?" if close else ""),
                     hint="options: " + ", ".join(options))


def check_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise UsageError(f"'{name}' is not a valid remote name",
                         hint="use letters, digits, '_', '.', '-' (start with a letter or digit)")


class Remote(Record):
    """A named, opened remote: its backend plus the options that steer transfers."""

    _fields = ("name", "url", "backend", "options")

    def __init__(self, name: str, url: str, backend: Backend,
                 options: dict[str, str] | None = None) -> None:
        self.name = name
        self.url = url
        self.backend = backend
        self.options: dict[str, str] = {} if options is None else options

    @property
    def jobs(self) -> int | None:
        raw = self.options.get("jobs")
        if raw is None:
            return None
        try:
            return max(1, int(raw))
        except ValueError:
            raise ConfigError(f"remote '{display(self.name)}': jobs = '{display(raw)}' is not a "
                              "whole number",
                              hint=f"git archives remote modify {shell_arg(self.name)} jobs 8"
                              ) from None

    @property
    def default_jobs(self) -> int:
        """Parallel transfers when the user chose none (:attr:`jobs`): the kind's default."""
        raw = self.options.get("default_jobs")
        return int(raw) if raw else default_jobs(self.url)

    def close(self) -> None:
        self.backend.close()


def remote_names(cfg: Config) -> list[str]:
    """Names of every remote with a URL in the merged config."""
    names = set()
    for key in cfg.keys():  # noqa: SIM118 - Config is not a Mapping
        parts = key.split(".")
        if len(parts) >= 3 and parts[0] == "remote" and parts[-1] == "url":
            names.add(".".join(parts[1:-1]))
    return sorted(names)


def default_remote_name(cfg: Config) -> str | None:
    return cfg.get("core.remote")


def lfs_is_default(cfg: Config, root: Path | None) -> bool:
    """Whether the default remote is the repository's Git LFS server: no ``core.remote``,
    and an LFS server configured or implied (:meth:`LfsSettings.uses_lfs`)."""
    if cfg.get("core.remote"):
        return False
    from gitext.remotes.lfsurl import LfsSettings

    try:
        return LfsSettings.load(root).uses_lfs()
    except ArchivesError:
        return False


def has_default_remote(cfg: Config, root: Path | None) -> bool:
    """Whether a fetch has somewhere to go: a data remote, or the repository's LFS server."""
    return bool(cfg.get("core.remote") or cfg.section("remote")) or lfs_is_default(cfg, root)


def open_lfs_remote(root: Path | None, *, git_remote: str | None = None,
                    required: bool = True) -> Remote | None:
    """The repository's own Git LFS server as the remote ``lfs`` (see
    :mod:`gitext.remotes.lfsurl`); None if it has none and ``required`` is False."""
    from gitext.remotes.lfs import LFS_REMOTE, open_lfs
    from gitext.remotes.lfsurl import LfsSettings

    settings = LfsSettings.load(root)
    if not required and not settings.uses_lfs():
        return None
    local = settings.local_objects(git_remote)
    if local is not None:  # git-lfs's standalone-file transfer: no server
        from gitext.remotes.lfsfile import LfsFileBackend

        files = LfsFileBackend(*local)
        return Remote(LFS_REMOTE, files.url, files, {"jobs": str(files.jobs)})
    backend = open_lfs(settings, git_remote=git_remote)
    # git-lfs's lfs.concurrenttransfers is the user's thread count; unset, its default (8)
    # is one that transfers may adapt (gitext.sync.transferbase.run_parallel)
    chosen = settings.get("lfs.concurrenttransfers") is not None
    return Remote(LFS_REMOTE, backend.url, backend,
                  {"jobs" if chosen else "default_jobs": str(backend.jobs)})


def open_remote(cfg: Config, name: str | None = None, *, root: Path | None = None,
                git_remote: str | None = None) -> Remote:
    """Open remote ``name`` (the default ``core.remote`` if None) from a merged Config.
    With no data remote configured, a repository that has a Git LFS server uses it
    (``git_remote``: the git remote a push goes to, whose LFS server is meant)."""
    if name is None:
        name = default_remote_name(cfg)
        if name is None:
            lfs = open_lfs_remote(root, git_remote=git_remote, required=False)
            if lfs is not None:
                return lfs
            raise RemoteError(
                "no default data remote is configured",
                hint="git archives remote add -d storage s3://bucket/path  (or a directory path)",
            )
    options = cfg.section(f"remote.{name}")
    url = options.get("url")
    if url is None and name == "lfs":
        lfs = open_lfs_remote(root, git_remote=git_remote)
        assert lfs is not None  # noqa: S101 - required=True
        return lfs
    if url is None:
        known = ", ".join(remote_names(cfg)) or "none"
        raise RemoteError(f"no data remote named '{display(name)}' (configured: {display(known)})",
                          hint=f"git archives remote add {shell_arg(name)} URL")
    return _open_url(cfg, name, url, options, root)


def _open_url(cfg: Config, name: str, url: str, options: dict[str, str],
              root: Path | None) -> Remote:
    """Check remote ``name`` (its URL, where its options came from, who chose it), then open
    its backend."""
    scheme = url_scheme(url)
    source = cfg.source(f"remote.{name}.url")
    if source is not None:  # a DVC remote (gitext.remotes.dvc)
        from gitext.remotes.dvc import unsupported, warn_unused

        if scheme not in _REGISTRY:
            raise unsupported(name, url, scheme, source)
        warn_unused(cfg, name)
    try:
        check_url(url)
    except UsageError as exc:
        raise RemoteError(f"remote '{name}': {exc.message}", hint=exc.hint) from None
    from gitext.remotes.trust import check_remote, warn_foreign

    warn_foreign(cfg, name, url, options)
    # Refuses before any backend exists; the flags say what the backend may not do.
    options = {**options, **check_remote(cfg, name, url, scheme, options)}
    factory = _REGISTRY[scheme]
    try:
        backend = factory(url, options, root)
    except ArchivesError:
        raise
    except Exception as exc:  # a backend library failing to initialise
        raise RemoteError(
            f"remote '{name}' ({url}) cannot be opened: {type(exc).__name__}",
            hint="check the remote's options with 'git archives remote list'",
        ) from exc
    return Remote(name, url, backend, options)


def default_jobs(url: str) -> int:
    """Parallel transfers when none is configured: more for high-latency object stores.
    A directory remote is bound by CPU (hashing) and the disk, not by latency: a thread a
    core (more only fight over the GIL; measured on W6, design note 18). A slow network
    share can ask for more with the remote's ``jobs`` option."""
    if url_scheme(url) in ("", "file"):
        return min(8, os.cpu_count() or 2)
    if url_scheme(url).startswith("lfs+"):
        return 8  # git-lfs's lfs.concurrenttransfers default
    if url_scheme(url) in ("ssh", "sftp"):
        return 8  # channels on one connection: OpenSSH's MaxSessions is 10
    return 16
