"""Placing our hook shims and taking them away again, for ``git archives install``.

A user's hook is never overwritten: it is renamed to ``<hook>.pre-archives`` and our shim runs
it first; a shim the user edited is kept. git-lfs's own hooks are set aside while we serve
``filter=lfs`` and put back on uninstall. A ``core.hooksPath`` that every repository shares
is only written by ``install --global``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from gitext.codec.shellquote import display, shell_arg
from gitext.errors import ArchivesError
from gitext.git.installrecord import InstallReport, Manifest
from gitext.git.lfs import LFS_HOOK_NAMES, SET_ASIDE_SUFFIX, is_git_lfs_hook
from gitext.git.repo import Repo, config_get
from gitext.git.shims import (
    CHAINED_SUFFIX,
    HOOK_NAMES,
    digest,
    is_our_shim,
    is_shared_shim,
    render_shim,
)


def shared_hooks_dir(repo: Repo) -> tuple[Path, str] | None:
    """(folder, scope) when this clone's hooks folder is ``core.hooksPath`` from the user's
    or the system's config — one folder every repository runs — else None. A relative value
    is resolved in each repository, so it is that repository's own folder (None)."""
    shown = repo.config_get("core.hooksPath", options=["--show-scope", "--type=path"])
    if shown is None:
        return None
    scope, _, value = shown.partition("\t")
    if scope in ("local", "worktree") or not os.path.isabs(value):
        return None
    return Path(value), scope


def global_hooks_dir() -> Path | None:
    """``core.hooksPath`` of the user's (else the system's) config, if absolute."""
    for scope in ("--global", "--system"):
        value = config_get("core.hooksPath", cwd=Path.home(), options=[scope, "--type=path"])
        if value:
            return Path(value) if os.path.isabs(value) else None
    return None


def shim_edited(path: Path, manifest: Manifest) -> bool:
    """True if our shim at ``path`` is no longer what we wrote (the user changed it)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    recorded = manifest.shims.get(str(path))
    if recorded is not None:
        return digest(data) != recorded
    # No record (an older install): compare with what we would have written then.
    found = re.search(rb'^  bin="(.*)"$', data, re.MULTILINE)
    if found is None:
        return True
    fallback = found.group(1).decode("utf-8", "surrogateescape")
    return all(data != render_shim(path.name, fallback, shared=s).encode("utf-8",
                                                                         "surrogateescape")
               for s in (False, True))


def install_clone_hooks(repo: Repo, manifest: Manifest, report: InstallReport, *,
                         lfs: bool) -> None:
    shared = shared_hooks_dir(repo)
    if shared is None:
        set_aside_lfs_hooks(repo.hooks_dir(), manifest, report, lfs=lfs)
        _install_hooks(repo.hooks_dir(), manifest, report, shared=False)
        return
    folder, scope = shared
    where = f"core.hooksPath = {display(str(folder))} (your {scope} git config)"
    if all(is_shared_shim(folder / name) for name in HOOK_NAMES):
        report.lines.append(f"hooks: the shims in {where} run in this clone")
    elif any(is_our_shim(folder / name) for name in HOOK_NAMES):
        report.lines.append(
            f"hooks: the shims in {where} are from an older install and act in every "
            "repository: run 'git archives install --global' to make them act only in clones "
            "set up with git-archives")
    else:
        report.lines.append(
            f"hooks: not installed: every repository runs the hooks of {where}, so this "
            "clone's install does not touch them; run 'git archives install --global' to add "
            "shims there that run your hooks first and act only in clones set up with "
            "git-archives")


def install_global_hooks(manifest: Manifest, report: InstallReport) -> None:
    folder = global_hooks_dir()
    if folder is None:
        return  # hooks are per clone
    _install_hooks(folder, manifest, report, shared=True)
    report.shared_hooks = folder


def _install_hooks(hooks_dir: Path, manifest: Manifest, report: InstallReport, *,
                   shared: bool) -> None:
    hooks_dir.mkdir(parents=True, exist_ok=True)
    fallback = str(Path(sys.argv[0]).resolve()) if sys.argv and sys.argv[0] else "git-archives"
    for name in HOOK_NAMES:
        path = hooks_dir / name
        chained = hooks_dir / (name + CHAINED_SUFFIX)
        if (path.exists() or path.is_symlink()) and not is_our_shim(path):
            if chained.exists():
                raise ArchivesError(
                    f"{display(str(path))} is not ours and {display(chained.name)} already "
                    "exists: refusing to overwrite either",
                    hint=f"merge them by hand, or remove {shell_arg(str(chained))}, then run "
                         "install again",
                )
            os.replace(path, chained)
            manifest.hooks[str(path)] = True
            report.hooks_chained.append(name)
        elif path.exists() and shim_edited(path, manifest):
            report.lines.append(f"hook {name}: kept {display(str(path))}: you changed it "
                                "since it was installed (delete it and run install again to "
                                "get ours)")
            continue
        manifest.hooks.setdefault(str(path), False)
        shim = render_shim(name, fallback, shared=shared)
        manifest.shims[str(path)] = digest(shim.encode("utf-8", "surrogateescape"))
        if not path.exists() or path.read_text() != shim:
            tmp = path.with_name(f".{name}.tmp")
            tmp.write_text(shim)
            os.chmod(tmp, 0o755)  # noqa: S103 - a hook must be executable by its owner's git
            os.replace(tmp, path)
            report.hooks_installed.append(name)
            report.hooks_folder = hooks_dir


def set_aside_lfs_hooks(hooks_dir: Path, manifest: Manifest, report: InstallReport, *,
                         lfs: bool) -> None:
    """git-lfs's own hooks (as 'git lfs install' writes them, in place or chained as
    ``*.pre-archives``) are renamed ``*.git-lfs``: chained, git-lfs's pre-push would look for
    our objects in .git/lfs and refuse the push. Uninstall puts them back."""
    moved = []
    for name in LFS_HOOK_NAMES:
        path = hooks_dir / name
        target = hooks_dir / (name + SET_ASIDE_SUFFIX)
        for candidate in (path, hooks_dir / (name + CHAINED_SUFFIX)):
            if is_our_shim(candidate) or not is_git_lfs_hook(candidate, name):
                continue
            if target.exists() and target.read_bytes() != candidate.read_bytes():
                continue  # never overwrite: the chained copy stays (doctor names it)
            os.replace(candidate, target)
            manifest.set_aside[str(path)] = str(target)
            if candidate == path:
                manifest.hooks.pop(str(path), None)
            moved.append(name)
    if not moved:
        return
    why = ("git-archives does their work while it serves filter=lfs here" if lfs else
           "git-lfs's filter is not used here; delete them if you no longer use git-lfs: "
           "rm -- " + " ".join(shell_arg(str(hooks_dir / (n + SET_ASIDE_SUFFIX)))
                              for n in moved))
    report.lines.append(f"git-lfs hooks: {', '.join(moved)} set aside as *{SET_ASIDE_SUFFIX} "
                        f"({why}; 'git archives uninstall' puts them back)")


def recorded_hooks(manifest: Manifest) -> list[Path]:
    return [Path(p) for p in manifest.hooks if Path(p).name in HOOK_NAMES]


def clone_hooks(repo: Repo, manifest: Manifest) -> list[Path]:
    """The hooks install wrote for this clone: as recorded; without a record, the clone's
    hooks folder — never a folder every repository shares (``uninstall --global``'s)."""
    recorded = recorded_hooks(manifest)
    if recorded or shared_hooks_dir(repo) is not None:
        return recorded
    return [repo.hooks_dir() / name for name in HOOK_NAMES]


def uninstall_hooks(paths: list[Path], manifest: Manifest, report: InstallReport) -> None:
    for path in paths:
        name = path.name
        chained = path.with_name(name + CHAINED_SUFFIX)
        if path.exists() and is_our_shim(path):
            if shim_edited(path, manifest):
                extra = f", then rename {chained.name} back to {name}" if chained.exists() \
                    else ""
                report.lines.append(
                    f"hook {name}: kept {display(str(path))}: you changed it since install; "
                    f"delete it yourself if you no longer want it{extra}")
                continue
            path.unlink()
            report.lines.append(f"hook {name}: removed")
        if chained.exists() and not path.exists():
            os.replace(chained, path)
            report.lines.append(f"hook {name}: your original hook is back")


def restore_lfs_hooks(manifest: Manifest, report: InstallReport) -> None:
    back = []
    for original, aside in manifest.set_aside.items():
        path, kept = Path(original), Path(aside)
        if kept.exists() and not (path.exists() or path.is_symlink()):
            os.replace(kept, path)
            back.append(path.name)
    if back:
        report.lines.append(f"git-lfs hooks: {', '.join(back)} are back")
