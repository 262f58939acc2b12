"""The kinds of data remote, by URL scheme: which module serves each, which optional extra
brings its SDK, and which options it takes — and where each option may come from.

One table (:data:`KINDS`), read by the config loader (the committed file's allow-list), by
DVC's config reader (DVC's option names in ours), by :mod:`gitext.remotes` (opening a remote,
the missing-extra message) and by ``git archives remote modify`` (validation, did-you-mean).
Pure data: this module imports nothing of the package, so the loader can use it cheaply.

Option names are git-config variable names: lower case, no underscore. DVC's names are
accepted everywhere a user types or DVC wrote one (``account_name`` is ``accountname``).
Where an option may come from:

* **committed**: may travel in ``.archives/config`` (or DVC's committed ``.dvc/config``);
* **private**: chooses or carries a credential, so only the clone's or the user's own git
  config is read for it (``remote modify`` writes it there);
* **secret**: a credential itself: like private, and never shown.
"""

from __future__ import annotations

from urllib.parse import urlsplit

COMMON_COMMITTED = frozenset({"url", "jobs"})


class RemoteKind:
    """One kind of remote. (A plain class: ``dataclasses`` costs hooks ~30 ms to import.)"""

    __slots__ = ("cls", "committed", "dvc", "extra", "module", "private", "schemes", "secret",
                 "title")

    def __init__(self, title: str, schemes: tuple[str, ...], module: str, cls: str, *,
                 extra: str | None = None, committed: frozenset[str] = frozenset(),
                 private: frozenset[str] = frozenset(), secret: frozenset[str] = frozenset(),
                 dvc: dict[str, str] | None = None) -> None:
        self.title = title        # what the user calls it: "Google Cloud Storage"
        self.schemes = schemes    # URL schemes ('' is a plain path)
        self.module = module      # gitext.remotes.<module>, imported when one is opened
        self.cls = cls            # the Backend class there (``from_url(url, options)``)
        self.extra = extra        # the pip extra bringing its SDK (None: always there)
        self.committed = committed
        self.private = private
        self.secret = secret
        # DVC's name -> ours, where it is not just DVC's with the underscores dropped
        self.dvc = dvc or {}

    def __repr__(self) -> str:
        return f"RemoteKind({self.title!r})"

    @property
    def options(self) -> frozenset[str]:
        return COMMON_COMMITTED | self.committed | self.private | self.secret

    def ours(self, name: str) -> str | None:
        """Our name for option ``name`` (ours or DVC's), or None if this kind has no such."""
        low = name.strip().lower()
        low = self.dvc.get(low, low.replace("_", "").replace("-", ""))
        return low if low in self.options else None

    def suggest(self, name: str) -> str | None:
        """The known option closest to a misspelt ``name``."""
        import difflib  # only for a misspelt name

        low = name.strip().lower().replace("_", "").replace("-", "")
        close = difflib.get_close_matches(low, sorted(self.options), n=1, cutoff=0.6)
        return close[0] if close else None


_S3_DVC = {"credentialpath": "credentialsfile", "configpath": "configfile",
           "allow_anonymous_login": "unsigned"}

KINDS: tuple[RemoteKind, ...] = (
    RemoteKind("directory", ("", "file"), "local", "LocalBackend"),
    RemoteKind(
        "S3", ("s3",), "s3", "S3Backend",
        committed=frozenset({"region", "endpointurl", "pathstyle", "retries", "retrymode",
                             "multipartthreshold", "multipartchunksize"}),
        private=frozenset({"profile", "credentialsfile", "configfile", "unsigned"}),
        secret=frozenset({"accesskeyid", "secretaccesskey", "sessiontoken"}),
        dvc=_S3_DVC),
    RemoteKind(
        "Google Cloud Storage", ("gs", "gcs"), "gcs", "GcsBackend", extra="gcs",
        committed=frozenset({"projectname", "endpointurl"}),
        private=frozenset({"credentialsfile", "unsigned"}),
        dvc={"credentialpath": "credentialsfile", "allow_anonymous_login": "unsigned"}),
    RemoteKind(
        "Azure Blob Storage", ("azure",), "azure", "AzureBackend", extra="azure",
        committed=frozenset({"accountname"}),
        secret=frozenset({"accountkey", "connectionstring", "sastoken"})),
    RemoteKind(
        "SSH/SFTP", ("ssh", "sftp"), "ssh", "SshBackend", extra="ssh",
        committed=frozenset({"user", "port", "timeout"}),
        private=frozenset({"keyfile", "allowagent"}),
        secret=frozenset({"password", "passphrase"})),
    RemoteKind(
        "HTTP (read-only)", ("http", "https"), "http", "HttpBackend",
        private=frozenset({"auth", "user", "sslverify"}),
        secret=frozenset({"password", "token"})),
    RemoteKind("Git LFS server", ("lfs+https", "lfs+http"), "lfs", "open_lfs"),
)

_BY_SCHEME = {scheme: kind for kind in KINDS for scheme in kind.schemes}

# The options a committed file may set for some kind (the loader does not know the kind
# when it filters; :func:`gitext.remotes.open_remote` warns about one the kind lacks).
COMMITTED_OPTIONS = frozenset().union(*(k.committed for k in KINDS)) | COMMON_COMMITTED
PRIVATE_OPTIONS = frozenset().union(*(k.private for k in KINDS))
SECRET_OPTIONS = frozenset().union(*(k.secret for k in KINDS))
ALL_OPTIONS = COMMITTED_OPTIONS | PRIVATE_OPTIONS | SECRET_OPTIONS


def url_scheme(url: str) -> str:
    """The scheme of ``url`` in lower case; '' for a plain path (also ``C:\\…``)."""
    if "://" not in url:
        return ""
    scheme = urlsplit(url).scheme.lower()
    return "" if len(scheme) == 1 else scheme


def kind_of(url: str) -> RemoteKind | None:
    """The kind serving ``url``, or None for a scheme git-archives has no backend for."""
    return _BY_SCHEME.get(url_scheme(url))


def option_name(name: str, url: str | None = None) -> str | None:
    """Our name for option ``name`` (ours or DVC's) on a remote at ``url`` (any kind if
    None), or None if no such option exists there."""
    kind = kind_of(url) if url is not None else None
    if kind is not None:
        return kind.ours(name)
    for each in KINDS:
        found = each.ours(name)
        if found is not None:
            return found
    return None


def suggest(name: str, url: str | None = None) -> str | None:
    """The closest known option to a misspelt ``name`` (for ``url``'s kind if given)."""
    kind = kind_of(url) if url is not None else None
    if kind is not None:
        return kind.suggest(name)
    import difflib  # only for a misspelt name

    low = name.strip().lower().replace("_", "")
    close = difflib.get_close_matches(low, sorted(ALL_OPTIONS), n=1, cutoff=0.6)
    return close[0] if close else None
