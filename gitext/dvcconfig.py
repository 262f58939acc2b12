"""DVC's own configuration, read as DVC 3 reads it: the one owner of ``.dvc/config``.

Four files, lowest precedence first (DVC's ``Config.files``): the system file
(``$DVC_SYSTEM_CONFIG_DIR`` or the first of ``$XDG_CONFIG_DIRS``, else ``/etc/xdg``, then
``dvc/config``), the global file (``$DVC_GLOBAL_CONFIG_DIR``, else ``$XDG_CONFIG_HOME`` or
``~/.config``, then ``dvc/config``), the repository's ``.dvc/config`` and the clone's
``.dvc/config.local``. They are merged option by option, later files winning, as DVC merges
them. The dialect is ConfigObj's INI (DVC parses with ConfigObj, and so do we): sections
``[core]``, ``[cache]``, ``['remote "NAME"']``; section and option names are lower-cased;
a relative local path (``cache.dir``, a remote's ``url``, ``credentialpath``,
``configpath``) is relative to the folder of the file that says it.

Each value remembers its file and whether the *user* chose it (:attr:`Setting.user`): the
committed ``.dvc/config`` is the repository's word, not the user's, and so is a
``.dvc/config.local`` that git tracks (someone committed it) or one reached through a
symlinked ``.dvc``. What a value may do is decided by its readers (the store,
:mod:`gitext.remotes.dvc`); this module only reads.

A file that cannot be parsed raises one :class:`~gitext.errors.ConfigError` naming the
file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitext.errors import ConfigError
from gitext.git.repo import run_git

LEVELS = ("system", "global", "repo", "local")
# Options whose relative value is a path relative to the file's folder (DVC's RelPath).
_PATH_OPTIONS = {("cache", "dir"), ("remote", "url"), ("remote", "credentialpath"),
                 ("remote", "configpath")}
_NAMED = re.compile(r'^\s*(remote|machine|db)\s*"(.*)"\s*$')
_URL = re.compile(r"^\w+://")


@dataclass(frozen=True)
class Setting:
    """One value and where it came from."""

    value: str
    file: Path
    level: str  # one of LEVELS
    user: bool  # chosen by the user (not only by the repository's committed files)

    def where(self, root: Path | None = None) -> str:
        """The file for a message: relative to ``root`` when inside it."""
        if root is not None:
            try:
                return self.file.relative_to(root).as_posix()
            except ValueError:
                pass
        return os.fspath(self.file)


@dataclass
class DvcConfig:
    """The merged view: ``sections[section][option]`` and ``remotes[name][option]``."""

    root: Path | None
    sections: dict[str, dict[str, Setting]] = field(default_factory=dict)
    remotes: dict[str, dict[str, Setting]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # the files that were read

    def get(self, section: str, option: str) -> Setting | None:
        return self.sections.get(section, {}).get(option)

    @property
    def core_remote(self) -> Setting | None:
        return self.get("core", "remote")

    @property
    def cache_dir(self) -> Setting | None:
        """``cache.dir`` as an absolute path (None: DVC's default, ``.dvc/cache``)."""
        return self.get("cache", "dir")


def dvc_dir(root: Path) -> Path | None:
    """``root/.dvc`` if this is a DVC project (one ``stat``)."""
    path = root / ".dvc"
    return path if path.is_dir() else None


def config_files(root: Path | None, env: Mapping[str, str] | None = None
                 ) -> list[tuple[str, Path]]:
    """(level, path) of every file DVC would read, lowest precedence first."""
    env = os.environ if env is None else env
    system = env.get("DVC_SYSTEM_CONFIG_DIR") or os.path.join(
        (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)[0] or "/etc/xdg", "dvc")
    home = env.get("HOME") or os.path.expanduser("~")
    global_ = env.get("DVC_GLOBAL_CONFIG_DIR") or os.path.join(
        env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "dvc")
    files = [("system", Path(system) / "config"), ("global", Path(global_) / "config")]
    if root is not None:
        files += [("repo", root / ".dvc" / "config"), ("local", root / ".dvc" / "config.local")]
    return files


def parse(text: str, file: Path) -> dict[str, dict[str, str]]:
    """One file's sections (lower-cased names) -> options -> values, as ConfigObj reads it.
    Values that are not strings (a nested section, a list) are refused."""
    from configobj import ConfigObj, ConfigObjError  # type: ignore[import-untyped]

    try:
        obj = ConfigObj(text.splitlines())
    except ConfigObjError as exc:
        errors = getattr(exc, "errors", None) or [exc]
        first = errors[0]
        line = getattr(first, "line_number", None)
        reason = re.sub(r"\s+at line \d+\.?$", "", str(first)).rstrip(".")
        raise ConfigError(f"{file}:{line}: {reason}" if line else f"{file}: {reason}",
                          hint="fix the file (DVC's INI syntax, e.g. 'dvc config --list' "
                               "shows what DVC makes of it)") from None
    out: dict[str, dict[str, str]] = {}
    for section, body in obj.dict().items():
        if not isinstance(body, dict):
            raise ConfigError(f"{file}: '{section}' is outside any [section]",
                              hint="put it under the section it belongs to, e.g. [core]")
        opts: dict[str, str] = {}
        for key, value in body.items():
            if not isinstance(value, str):
                raise ConfigError(f"{file}: [{section}] {key} is not a single value",
                                  hint="write 'key = value' (no sub-sections or lists)")
            opts[key.lower()] = value
        out.setdefault(section.lower(), {}).update(opts)
    return out


def _resolve_path(value: str, folder: Path, *, user: bool) -> str:
    """A local path relative to ``folder`` made absolute (URLs unchanged). ``~`` is expanded
    only in the user's own files."""
    if _URL.match(value):
        return value
    if value.startswith("~") and user:
        value = os.path.expanduser(value)
    return os.path.normpath(os.path.join(folder, value))


def _local_is_users(root: Path, path: Path) -> bool:
    """``.dvc/config.local`` is the user's unless git tracks it (someone committed it) or
    ``.dvc`` is a symlink (the repository chose which folder it is)."""
    if (root / ".dvc").is_symlink():
        return False
    proc = run_git(["ls-files", "-z", "--", ".dvc/config.local"], cwd=root, check=False)
    return proc.returncode == 0 and not proc.stdout.strip(b"\0")


def _read_file(path: Path) -> dict[str, dict[str, str]] | None:
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}",
                          hint="fix its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text", hint="fix or remove the file") from None
    return parse(text, path)


def load(root: Path | None, env: Mapping[str, str] | None = None) -> DvcConfig:
    """Merge every DVC config file that exists (``root`` None: only system and global)."""
    cfg = DvcConfig(root)
    for level, path in config_files(root, env):
        data = _read_file(path)
        if data is None:
            continue
        cfg.files.append(path)
        user = level != "repo"
        if level == "local" and root is not None:
            user = _local_is_users(root, path)
        for section, opts in data.items():
            named = _NAMED.match(section)
            kind = named.group(1) if named else section
            for key, raw in opts.items():
                value = (_resolve_path(raw, path.parent, user=user)
                         if (kind, key) in _PATH_OPTIONS else raw)
                setting = Setting(value, path, level, user)
                if named and kind == "remote":
                    cfg.remotes.setdefault(named.group(2).lower(), {})[key] = setting
                elif not named:
                    cfg.sections.setdefault(section, {})[key] = setting
    return cfg


# -- DVC remotes in our terms -------------------------------------------------------------

def remote_options(options: Mapping[str, Setting]) -> tuple[dict[str, Setting], list[str]]:
    """A DVC remote's options in our names (for its URL's kind, :mod:`gitext.remotekinds`),
    and the DVC options we have no use for."""
    from gitext.remotekinds import option_name

    url = options.get("url")
    mapped: dict[str, Setting] = {}
    unused: list[str] = []
    for key, setting in options.items():
        ours = option_name(key, url.value if url is not None else None)
        if ours is None:
            unused.append(key)
        else:
            mapped[ours] = setting
    return mapped, sorted(unused)
