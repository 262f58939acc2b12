"""What the large-file filter knows about ``.archives/config``, kept current by stat.

The config decides which files the size rule (``* filter=archives`` + ``size.largerthan``)
stores as pointers. It can be missing for a while (moved away, a clone or checkout that has
not written it yet) or broken; then the filter must not guess (DESIGN.md, "Trust"):

- ``ok``: the file was read (or there is none and git does not know one): follow it.
- ``unknown``: git has a ``.archives/config`` (index or ``HEAD``) but the work tree has
  none, or the file cannot be read or parsed. The filter keeps the form git already
  stores each file in and refuses to store a file git has never stored.

The file is stat'ed before every file the filter handles (a microsecond) and re-read only
when its stat changes, so a config checked out after the filter started applies to the
files checked out after it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from gitext.config import PROJECT_CONFIG, Config, parse_size
from gitext.errors import ArchivesError
from gitext.log import note
from gitext.store.chunks import DEFAULT_THRESHOLD, THRESHOLD_KEY, parse_threshold
from gitext.store.state import stat_key

if TYPE_CHECKING:
    from gitext.git.repo import Repo

RESTORE_HINT = "restore it with 'git checkout -- .archives/config'"
_Stat = tuple[int, int, int, int] | None


def _stat(path: Path) -> _Stat:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return stat_key(st)


class ConfigRules:
    """The config as of the last stat; ``larger_than`` is meaningful only when ``known``."""

    def __init__(self, root: Path, repo: Repo) -> None:
        self.root = root
        self.repo = repo
        self.path = root / PROJECT_CONFIG
        self.config = Config({})
        self.larger_than: int | None = None
        self.chunk_threshold: int | None = DEFAULT_THRESHOLD  # None: chunking is off
        self.known = True
        self.problem = ""  # why the config is not known, for messages
        self._stat: _Stat | str = "never read"
        self._git_has_config: bool | None = None
        self._warned: set[str] = set()
        self._stored: dict[str, bool] | None = None  # index path -> stored as a pointer
        self.refresh()

    def refresh(self) -> None:
        """Re-read the config if its stat changed since the last read."""
        st = _stat(self.path)
        if st == self._stat:
            return
        self._stat = st
        if st is None and not self._git_has_config_file():
            self._load(committed=False)
            return
        if st is None:
            self._unknown(f"{PROJECT_CONFIG} is missing (git has one)",
                          f"{RESTORE_HINT}, or commit its removal")
            return
        self._load(committed=True)

    def _load(self, *, committed: bool) -> None:
        try:
            cfg = Config.load(self.root if committed else None, git_cwd=self.root,
                              dvc_root=self.root)
            rule = cfg.get("size.largerthan")
            self.larger_than = parse_size(rule, where=f"size.largerthan in {PROJECT_CONFIG}") \
                if rule else None
            self.chunk_threshold = parse_threshold(
                cfg.get(THRESHOLD_KEY), where=f"chunking.threshold in {PROJECT_CONFIG}")
        except ArchivesError as exc:
            where = "" if PROJECT_CONFIG.as_posix() in exc.message else f"{PROJECT_CONFIG}: "
            self._unknown(f"{where}{exc.message}",
                          exc.hint or f"fix it, or {RESTORE_HINT}")
            return
        self.config = cfg
        self.known = True
        self.problem = ""

    def _unknown(self, problem: str, hint: str) -> None:
        self.known = False
        self.larger_than = None
        self.problem = f"{problem} ({hint})"
        try:  # the clone's own settings (remotes) still apply
            self.config = Config.load(None, git_cwd=self.root, dvc_root=self.root)
        except ArchivesError:
            self.config = Config({})

    def warn_once(self) -> None:
        """Say, once per process and problem, that files keep the form git stores."""
        if self.problem not in self._warned:
            self._warned.add(self.problem)
            note(f"{self.problem}; until it is readable, every file keeps the form git "
                 "already stores it in (pointer or plain)")

    def _git_has_config_file(self) -> bool:
        """Whether the index or HEAD has ``.archives/config`` (asked once per process)."""
        if self._git_has_config is None:
            name = PROJECT_CONFIG.as_posix()
            in_index = self.repo.git("ls-files", "-z", "--", name, check=False).stdout
            in_head = self.repo.git("rev-parse", "-q", "--verify", f"HEAD:{name}",
                                    check=False).returncode == 0
            self._git_has_config = bool(in_index) or in_head
        return self._git_has_config

    def stored_as_pointer(self, path: str) -> bool | None:
        """How the index stores ``path``: True (a pointer), False (plainly) or None (not at
        all). Read once per process, and only while the config is unknown."""
        if self._stored is None:
            from gitext.sync.pointers import index_pointers

            pointers = {tp.path for tp in index_pointers(self.repo)}
            self._stored = {e.path: e.path in pointers for e in self.repo.ls_files()
                            if e.stage == 0}
        return self._stored.get(path)
