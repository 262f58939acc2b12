"""Configuration: the committed ``.archives/config`` overlaid by the clone's ``archives.*``.

The committed file is git-config syntax read with ``git config -f``. Because a clone of
someone else's repository must not be able to run code or read credentials through it,
only allow-listed sections are honoured from that file (DESIGN.md, "Trust").
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gitext.errors import ConfigError
from gitext.git.repo import Repo, config_list
from gitext.remotekinds import COMMITTED_OPTIONS

PROJECT_CONFIG = Path(".archives") / "config"

# Sections a committed file may set. Everything else is ignored with a warning by ``doctor``.
COMMITTED_SECTIONS = ("core", "remote", "size", "nb", "track", "chunking", "mlflow")
# Option names that may never come from a committed file, whatever the section.
SECRET_WORDS = ("secret", "password", "token", "credential", "access_key", "accesskey",
                "session", "command", "cmd", "exec", "hook")
# The only options a committed ``[remote "NAME"]`` may set (an allow-list: anything that
# selects or carries a credential — profile, keys, tokens, credential or config files —
# is honoured only from local git config; DESIGN.md, "Trust").
# (Per kind of remote in gitext.remotekinds.)
COMMITTED_REMOTE_OPTIONS = COMMITTED_OPTIONS

_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
               "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4,
               "tb": 1000**4, "tib": 1024**4}


TRUE_WORDS = ("", "true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def parse_bool(raw: str, *, where: str, true: tuple[str, ...] = (),
               false: tuple[str, ...] = ()) -> bool:
    """git's booleans (an empty value is true), plus ``true``/``false`` words of an option's
    own; anything else is a :class:`ConfigError` naming ``where``."""
    low = raw.strip().lower()
    if low in TRUE_WORDS or low in true:
        return True
    if low in FALSE_WORDS or low in false:
        return False
    raise ConfigError(f"{where} = {raw!r} is not a boolean", hint="use true or false")


def parse_size(text: str, *, where: str = "size") -> int:
    """``10mb`` → 10_000_000, ``1GiB`` → 2**30 (git-annex style; decimal units for mb/gb)."""
    raw = text.strip().lower().replace(" ", "")
    num = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(num):]
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if value < 0 or unit not in _SIZE_UNITS:
        raise ConfigError(
            f"{where}: '{text}' is not a size",
            hint="write a number with an optional unit, e.g. 10mb, 512kib, 2gb",
        )
    return int(value * _SIZE_UNITS[unit])


def format_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def _parse_list(out: bytes) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for rec in out.split(b"\0"):
        if not rec:
            continue
        key, _, value = rec.partition(b"\n")
        items.append((key.decode("utf-8", "surrogateescape").lower(),
                      value.decode("utf-8", "surrogateescape")))
    return items


def _committed_allowed(key: str) -> bool:
    section = key.split(".", 1)[0]
    if section not in COMMITTED_SECTIONS:
        return False
    name = key.rsplit(".", 1)[-1]
    if section == "remote" and key.count(".") >= 2:
        return name in COMMITTED_REMOTE_OPTIONS
    return not any(w in name for w in SECRET_WORDS)


def _read_committed(path: Path) -> list[tuple[str, str]]:
    """The keys of the committed file; none if there is no file. A symlink is refused (the
    repository would choose which file of the user's we read)."""
    if path.is_symlink():
        raise ConfigError(f"{PROJECT_CONFIG}: is a symbolic link, not a file",
                          hint="replace it with a regular file (git-config syntax)")
    if not path.is_file():
        return []
    proc = config_list(file=path)
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        # git says "fatal: bad config line 3 in file /abs/path": keep the line, name the file
        msg = lines[0].removeprefix("fatal: ") if lines else "cannot be read"
        msg = msg.split(" in file ", 1)[0]
        raise ConfigError(
            f"{PROJECT_CONFIG}: {msg}",
            hint="fix the file (git-config syntax), or restore it with "
                 "'git checkout -- .archives/config'",
        )
    return _parse_list(proc.stdout)


class Config:
    """Merged view: committed project file first, then ``archives.*`` from git config."""

    def __init__(self, values: dict[str, list[str]], *, local_keys: Iterable[str] = (),
                 ignored: Iterable[str] = (), project_file: Path | None = None,
                 dvc_root: Path | None = None) -> None:
        self._values = values
        self._local = set(local_keys)
        self.ignored = tuple(ignored)  # committed keys the allow-list dropped
        self.project_file = project_file  # the committed file that was read, if any
        # DVC's remotes (gitext.dvcconfig), merged on first use of a remote key: key -> file
        # it came from; remote name -> the DVC options we do not use.
        self._dvc_root = dvc_root
        self.sources: dict[str, str] = {}
        self.dvc_unused: dict[str, list[str]] = {}

    def _merge_dvc(self, key: str) -> None:
        """Add the remotes of DVC's config files (and ``core.remote``) under the keys ours
        leave unset: ours win option by option. Values from a file the user did not choose
        (the committed ``.dvc/config``) follow the committed file's allow-list."""
        if self._dvc_root is None or not (key == "" or key.startswith("remote")
                                          or key == "core.remote"):
            return
        root, self._dvc_root = self._dvc_root, None
        if not (root / ".dvc").is_dir():  # looked at now: a checkout may have just made it
            return
        # Imported here: hooks that read no remote key never pay for it.
        from gitext.dvcconfig import load as load_dvc
        from gitext.dvcconfig import remote_options

        dvc = load_dvc(root)
        ignored = list(self.ignored)
        for name, options in dvc.remotes.items():
            mapped, self.dvc_unused[name] = remote_options(options)
            for option, setting in mapped.items():
                full = f"remote.{name}.{option}"
                if full in self._values:
                    continue
                self.sources[full] = setting.where(root)
                if not setting.user and not _committed_allowed(full):
                    ignored.append(full)
                    continue
                self._values[full] = [setting.value]
                if setting.user:
                    self._local.add(full)
        default = dvc.core_remote
        if default is not None and "core.remote" not in self._values:
            self._values["core.remote"] = [default.value.lower()]
            self.sources["core.remote"] = default.where(root)
        self.ignored = tuple(ignored)

    def source(self, key: str) -> str | None:
        """The DVC config file a key's value came from (None: ours)."""
        self._merge_dvc(key.lower())
        return self.sources.get(key.lower())

    def is_local(self, key: str) -> bool:
        """Whether ``key``'s value comes from the user's own config (the clone's git config,
        the global one, or DVC's ``.dvc/config.local``/global/system files), not from a
        committed file."""
        self._merge_dvc(key.lower())
        return key.lower() in self._local

    @classmethod
    def load(cls, root: Path | None, *, git_cwd: Path | None = None,
             dvc_root: Path | None = None) -> Config:
        """``root``: where the committed file is read (None: not read); ``dvc_root``: where
        DVC's ``.dvc/`` is looked for (default ``root``)."""
        values: dict[str, list[str]] = {}
        ignored: list[str] = []
        path = None
        if root is not None:
            path = root / PROJECT_CONFIG
            for key, value in _read_committed(path):
                if _committed_allowed(key):
                    values.setdefault(key, []).append(value)
                else:
                    ignored.append(key)
        proc = config_list(cwd=git_cwd or root)
        local: dict[str, list[str]] = {}
        for key, value in _parse_list(proc.stdout):
            if key.startswith("archives."):
                local.setdefault(key[len("archives."):], []).append(value)
        values.update(local)  # the clone's own settings win over the committed ones
        return cls(values, local_keys=local, ignored=ignored,
                   project_file=path if path is not None and path.is_file() else None,
                   dvc_root=dvc_root or root)

    def get(self, key: str, default: str | None = None) -> str | None:
        self._merge_dvc(key.lower())
        vals = self._values.get(key.lower())
        return vals[-1] if vals else default

    def get_all(self, key: str) -> list[str]:
        self._merge_dvc(key.lower())
        return list(self._values.get(key.lower(), []))

    def get_bool(self, key: str, default: bool = False) -> bool:
        raw = self.get(key)
        return default if raw is None else parse_bool(raw, where=f"config {key}")

    def section(self, prefix: str) -> dict[str, str]:
        """All keys under ``prefix.`` (last value wins), with the prefix removed."""
        pre = prefix.lower().rstrip(".") + "."
        self._merge_dvc(pre)
        return {k[len(pre):]: v[-1] for k, v in self._values.items() if k.startswith(pre) and v}

    def keys(self) -> Iterable[str]:
        self._merge_dvc("")
        return self._values.keys()


def track_driver(repo: Repo, *, lfs: bool = False) -> str:
    """The filter driver new tracking rules use: ``lfs`` if asked, or if the committed
    ``track.driver`` says so; else ``archives`` (``track`` and ``init --template`` alike)."""
    cfg = repo.root / PROJECT_CONFIG
    if lfs:
        return "lfs"
    chosen = repo.config_get("track.driver", file=cfg) if cfg.is_file() else None
    if chosen in (None, "archives", "lfs"):
        return chosen or "archives"
    from gitext.codec.shellquote import display

    raise ConfigError(f"{PROJECT_CONFIG}: track.driver = {display(chosen)} is not "
                      "'archives' or 'lfs'", hint=f"fix it in {PROJECT_CONFIG}")
