"""DVC's remotes as ours: what :func:`gitext.remotes.open_remote` says about a remote that
comes from DVC's config files (:meth:`gitext.config.Config.source`) and that we cannot open
as it is. The merge itself (names, precedence, trust) is :class:`gitext.config.Config`'s;
the option names are :mod:`gitext.remotekinds`'."""

from __future__ import annotations

import shlex
import warnings

from gitext.codec.shellquote import display
from gitext.config import Config
from gitext.errors import ArchivesWarning, RemoteError

_S3_INSTEAD = ("git-archives reads directory, s3://, gs://, azure://, ssh:// and http(s):// "
               "remotes: use one of those for the team's data, or keep 'dvc push'/'dvc pull' "
               "for this remote")
# scheme -> (what DVC calls it, what to use instead)
KINDS: dict[str, tuple[str, str]] = {
    "webdav": ("WebDAV", "mount it (e.g. davfs2) and add it as a directory remote"),
    "webdavs": ("WebDAV", "mount it (e.g. davfs2) and add it as a directory remote"),
    "hdfs": ("HDFS", _S3_INSTEAD), "webhdfs": ("WebHDFS", _S3_INSTEAD),
    "oss": ("Alibaba OSS", "OSS speaks S3: git archives remote add NAME s3://BUCKET/PATH with "
            "its endpointurl"),
    "gdrive": ("Google Drive", _S3_INSTEAD),
    "remote": ("DVC remote-in-remote (remote://)", _S3_INSTEAD),
}


def unsupported(name: str, url: str, scheme: str, source: str) -> RemoteError:
    """One line naming the DVC remote, its file and kind; the hint says what to use."""
    kind, instead = KINDS.get(scheme, (f"'{scheme}://'", _S3_INSTEAD))
    return RemoteError(
        f"remote '{display(name)}' ({display(source)}) is a DVC {kind} remote "
        f"({display(url)}), which git-archives cannot open",
        hint=instead.replace("NAME", shlex.quote(name)))


def warn_unused(cfg: Config, name: str) -> None:
    """One warning for the DVC options of remote ``name`` that git-archives does not use."""
    unused = cfg.dvc_unused.get(name.lower())
    if unused:
        source = cfg.source(f"remote.{name}.url") or "DVC's config"
        warnings.warn(ArchivesWarning(
            f"{display(source)}: remote '{display(name)}': DVC option(s) "
            f"{', '.join(display(u) for u in unused)} have no equivalent in git-archives "
            "and are not used"), stacklevel=3)
