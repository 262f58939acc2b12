"""Where the store's objects live: :func:`open_store` is the one way to open it for a repo.

Our own objects live in ``<git common dir>/archives``. In a DVC project (``.dvc/`` at the
top of the work tree) the md5 objects — pipeline outputs and ``.dir`` manifests — live in
DVC's cache instead, so both tools share one cache with no configuration step: ``cache.dir``
from DVC's config files (:mod:`gitext.dvcconfig`), else ``.dvc/cache``. DVC 3's cache layout
``files/md5/<ab>/<rest>`` is ours.

Trust: a cache folder the *repository* chose (``cache.dir`` in the committed
``.dvc/config``, or the default ``.dvc/cache``) must stay inside the clone, outside any
``.git`` folder, and hold nothing git tracks (a committed symlink in there would lead our
writes elsewhere); otherwise the first md5 access raises one :class:`ConfigError` and
nothing is written. A ``cache.dir`` from the user's own files (``.dvc/config.local``, the
global or system DVC config) is the user's choice and is used as given. The check runs
lazily, on the first md5 access, so the large-file filter (sha256 only) never pays for it.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from gitext.errors import ConfigError
from gitext.git.repo import run_git
from gitext.store.objects import LocalStore, remove_tree_safely

if TYPE_CHECKING:
    from gitext.git.repo import Repo
    from gitext.store.state import StateCache

DEFAULT_CACHE = Path(".dvc") / "cache"


def _refuse(where: str, cache: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{where}: DVC's cache folder {cache} {why}; a cloned repository does not choose "
        "where git-archives writes, so nothing was written",
        hint="if you trust it, set it in your own DVC config: dvc config --local cache.dir "
             f"{shlex.quote(os.fspath(cache))}  (or fix {where})")


def _tracked_under(worktree: Path, rel: str) -> bool:
    proc = run_git(["ls-files", "-z", "--", rel], cwd=worktree, check=False)
    return proc.returncode != 0 or bool(proc.stdout.strip(b"\0"))


def _check_repo_chosen(worktree: Path, archives_dir: Path, cache: Path, where: str) -> None:
    """Refuse a repository-chosen cache folder that leads outside the clone (see module)."""
    real_top = Path(os.path.realpath(worktree))
    real = Path(os.path.realpath(cache))
    if real == Path(os.path.realpath(archives_dir)):
        return  # our own store: md5 objects where they always were
    try:
        rel = real.relative_to(real_top)
    except ValueError:
        raise _refuse(where, cache, "is outside the clone") from None
    if any(part.lower() == ".git" for part in rel.parts) or not rel.parts:
        raise _refuse(where, cache, "is inside .git or the clone's top folder itself")
    lexical = os.path.relpath(os.path.normpath(cache), worktree)
    if _tracked_under(worktree, rel.as_posix()) or (
            not lexical.startswith("..") and _tracked_under(worktree, lexical)):
        raise _refuse(where, cache, "holds files git tracks (a committed link could lead "
                      "writes outside the clone)")


def dvc_cache_dir(worktree: Path | None, archives_dir: Path) -> Path | None:
    """DVC's cache folder for this work tree (None: not a DVC project). Raises ConfigError
    for a repository-chosen folder that is not safe to write (module docstring)."""
    # Only here, in a DVC project: every push and fetching checkout opens a store.
    from gitext.dvcconfig import dvc_dir, load  # noqa: PLC0415

    if worktree is None or dvc_dir(worktree) is None:
        return None
    setting = load(worktree).cache_dir
    if setting is not None and setting.user:
        return Path(setting.value)
    cache = Path(setting.value) if setting is not None else worktree / DEFAULT_CACHE
    where = setting.where(worktree) if setting is not None else ".dvc (its default cache)"
    _check_repo_chosen(worktree, archives_dir, cache, where)
    return cache


def adopt_legacy_objects(archives_dir: Path, cache: Path) -> int:
    """Move md5 objects an earlier git-archives kept in ``archives/files/md5`` into DVC's
    cache (once; the folder is gone afterwards). Objects already there are kept as they
    are. Returns how many were moved."""
    legacy = archives_dir / "files" / "md5"
    if not legacy.is_dir() or os.path.realpath(cache) == os.path.realpath(archives_dir):
        return 0
    moved = 0
    for dirpath, _dirs, names in os.walk(legacy):
        for name in names:
            src = Path(dirpath) / name
            dst = cache / "files" / "md5" / src.relative_to(legacy)
            if dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, dst)  # a rename on one filesystem
            moved += 1
    remove_tree_safely(legacy)
    return moved


def store_for(worktree: Path | None, archives_dir: Path, *,
              state: StateCache | None = None) -> LocalStore:
    """The store of a work tree whose git common dir holds ``archives_dir``."""
    if worktree is None or not (worktree / ".dvc").is_dir():
        return LocalStore(archives_dir, state=state)

    def md5_root() -> Path:
        found = dvc_cache_dir(worktree, archives_dir)
        if found is None:
            return archives_dir
        adopt_legacy_objects(archives_dir, found)
        return found

    return LocalStore(archives_dir, state=state, md5_root=md5_root)


def open_store(repo: Repo, *, state: StateCache | None = None) -> LocalStore:
    """The local store of ``repo`` (see the module docstring)."""
    return store_for(repo.worktree, repo.archives_dir, state=state)
