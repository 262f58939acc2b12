"""What git-archives knows about Git LFS in a clone: whether its attributes use
``filter=lfs``, git-lfs's hooks, and where git-lfs keeps its objects.

git-archives can serve the ``lfs`` filter driver in a clone (``git archives install``): the
pointer format is the same, so git-lfs users and git-archives users share one repository.
git-lfs's own hooks (``git lfs install`` writes pre-push, post-checkout, post-commit and
post-merge) then must not run: their pre-push would look for our objects in
``.git/lfs/objects`` and refuse the push. They are recognised by their exact shape, set
aside under :data:`SET_ASIDE_SUFFIX` while we serve the driver, and put back on uninstall.
"""

from __future__ import annotations

import re
from pathlib import Path

from gitext.git.repo import Repo

# The hooks 'git lfs install' writes in a clone.
LFS_HOOK_NAMES = ("pre-push", "post-checkout", "post-commit", "post-merge")
# Where a git-lfs hook waits while git-archives serves the lfs driver (never run, never
# chained); 'git archives uninstall' renames it back.
SET_ASIDE_SUFFIX = ".git-lfs"
LFS_ATTRS = "filter=lfs diff=lfs merge=lfs -text"

_GUARD_LINE = re.compile(r"^command -v git-lfs\b.*$")
_RUN_LINE = re.compile(r'^git[ -]lfs (?P<hook>[a-z-]+) "\$@"\s*(\|\|\s*exit\s+\d+)?$')


def is_git_lfs_hook(path: Path, name: str | None = None) -> bool:
    """True if ``path`` is a hook as git-lfs writes it: a shebang, comments, the
    ``command -v git-lfs`` guard and ``git lfs <hook> "$@"`` — nothing the user added.
    ``name`` is the hook it must run (default: the file's own name)."""
    try:
        if path.stat().st_size > 4096:
            return False
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    want = name or path.name
    ran = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or _GUARD_LINE.match(line):
            continue
        found = _RUN_LINE.match(line)
        if found is None or found.group("hook") != want:
            return False
        ran = True
    return ran


def uses_lfs_filter(repo: Repo) -> bool:
    """Does any ``.gitattributes`` (staged, in the work tree, or in any commit of the
    history: a repository switched over by ``migrate --from-lfs`` still has older commits
    that say it) or the clone's ``info/attributes`` give files ``filter=lfs``?"""
    info = repo.common_dir / "info" / "attributes"
    try:
        if info.is_file() and _says_lfs(info.read_text("utf-8", "replace")):
            return True
    except OSError:
        pass
    specs = ["--", ".gitattributes", ":(glob)**/.gitattributes"]
    for where in (["--cached"], ["--untracked"] if repo.worktree is not None else None):
        if where is None:
            continue
        proc = repo.git("grep", "-l", "-I", "-E", *where, "-e", r"(^|\s)filter=lfs(\s|$)",
                        *specs, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            return True
    # Only .gitattributes diffs are searched (pathspec-limited): cheap even on long histories.
    proc = repo.git("log", "--all", "-1", "--format=%H", "-E", "-G", r"(^|\s)filter=lfs(\s|$)",
                    *specs, check=False)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def _says_lfs(text: str) -> bool:
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#") and "filter=lfs" in s.split()[1:]:
            return True
    return False


def lfs_filter_elsewhere(repo: Repo) -> str | None:
    """``filter.lfs.process`` (or ``clean``) as git sees it in this clone, if it runs
    git-lfs — i.e. git-lfs is set up for this clone; None otherwise."""
    for key in ("filter.lfs.process", "filter.lfs.clean"):
        value = repo.config_get(key)
        if value and "git-lfs" in value and "git-archives" not in value:
            return value
    return None


def lfs_objects_dir(repo: Repo) -> Path:
    """git-lfs's local object folder: ``lfs.storage`` from git config (never
    ``.lfsconfig``: a repository does not choose where we read), else ``<git common
    dir>/lfs``; objects are under ``objects/<ab>/<cd>/<oid>``."""
    storage = repo.config_get("lfs.storage", options=["--type=path"])
    base = Path(storage) if storage else repo.common_dir / "lfs"
    if not base.is_absolute():
        base = repo.common_dir / base
    return base / "objects"
