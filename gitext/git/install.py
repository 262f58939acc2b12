"""Wiring a clone (or the user's git config) for git-archives, and undoing it exactly.

``install`` records what it changed in ``<git common dir>/archives/install.json`` — the
config values it replaced, the user's hooks it moved aside — so ``uninstall`` restores
precisely what was there (the record: :mod:`gitext.git.installrecord`). The hook shims are
placed and removed by :mod:`gitext.git.hookinstall`: a user's hook is never overwritten: it is
renamed to ``<hook>.pre-archives`` and our shim runs it first.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from gitext.codec.shellquote import display
from gitext.errors import ArchivesError
from gitext.git.hookinstall import (
    clone_hooks,
    install_clone_hooks,
    install_global_hooks,
    recorded_hooks,
    restore_lfs_hooks,
    set_aside_lfs_hooks,
    shared_hooks_dir,
    uninstall_hooks,
)
from gitext.git.installrecord import InstallReport, Manifest, global_manifest_path
from gitext.git.launcher import command
from gitext.git.lfs import uses_lfs_filter
from gitext.git.nbattributes import takeover_lines
from gitext.git.repo import Repo, config_values, run_git
from gitext.git.shims import (
    CHAINED_SUFFIX,
    HOOK_NAMES,
    SHIM_MARKER,
    is_our_shim,
    is_shared_shim,
    render_shim,
)

__all__ = ["CHAINED_SUFFIX", "HOOK_NAMES", "SHIM_MARKER", "is_our_shim", "is_shared_shim",
           "render_shim"]

NB_ATTRIBUTES = "*.ipynb filter=archives-nb diff=archives-nb merge=archives-nb"
# git diff's hunk headers: the cell header lines of the text form (gitext.notebooks.textconv).
CELL_FUNCNAME = "^(# %%.*)$"
# What earlier versions wrote: replaced on install, removed on uninstall.
OLD_NB_ATTRIBUTES = ("*.ipynb filter=archives-nb diff=archives-nb",)
ATTR_MARKER = "# git-archives: notebooks (added by 'git archives install')"


def executable_command() -> str:
    """How git should run us: the bare name when PATH finds this very executable."""
    me = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("git-archives")
    if found and (me is None or me.name != "git-archives" or Path(found).resolve() == me):
        return "git-archives"
    if me is not None and me.name == "git-archives" and me.is_file():
        return str(me)
    return found or "git-archives"


def desired_config(*, lfs: bool = False) -> dict[str, str]:
    """The clone's git config for our drivers; with ``lfs`` we serve ``filter=lfs`` too,
    with the very command of ``filter=archives`` (git then runs one process for both)."""
    # The absolute launcher (gitext.git.launcher): git finds us without PATH.
    config = {
        "filter.archives.process": command("filter-process"),
        "filter.archives.required": "true",
        "filter.archives-nb.process": command("filter-process --notebooks"),
        "filter.archives-nb.required": "true",
        "diff.archives-nb.textconv": command("nb textconv"),
        **notebook_merge_config(),
    }
    if lfs:
        config.update({
            "filter.lfs.process": command("filter-process"),
            "filter.lfs.clean": command("filter-clean -- %f"),
            "filter.lfs.smudge": command("filter-smudge -- %f"),
            "filter.lfs.required": "true",
        })
    return config


def serves_lfs(repo: Repo) -> bool:
    """Does this clone's own config point ``filter.lfs.process`` at us?"""
    value = repo.config_get("filter.lfs.process", options=["--local"])
    return bool(value) and "git-archives" in (value or "")


def notebook_merge_config() -> dict[str, str]:
    """The notebook merge driver (run by an absolute path: git runs merge drivers through
    the shell, where PATH may not find us) and the per-cell hunk headers of ``git diff``."""
    return {
        "merge.archives-nb.name": "git-archives notebook merge (cell by cell)",
        "merge.archives-nb.driver": command("nb merge-driver %O %A %B %P"),
        "diff.archives-nb.xfuncname": CELL_FUNCNAME,
    }


def _where(repo: Repo | None, global_: bool) -> tuple[list[str], Path | None, Path]:
    if global_:
        return ["--global"], None, global_manifest_path()
    if repo is None:
        raise ArchivesError("not inside a git repository",
                            hint="cd into a clone, or use 'git archives install --global'")
    return ["--local"], repo.worktree or repo.git_dir, repo.archives_dir / "install.json"


def _listed(known: dict[str, str], key: str) -> str | None:
    """``key``'s value in ``known`` (:func:`config_values`: git lists a key's section and
    name in lower case, its subsection as written)."""
    section, _, rest = key.partition(".")
    sub, _, name = rest.rpartition(".")
    return known.get(".".join(p for p in (section.lower(), sub, name.lower()) if p))


def _configure(keys: dict[str, str], manifest: Manifest, scope: list[str],
               cwd: Path | None) -> list[str]:
    """Set ``keys`` in ``scope``, recording what each was; return the keys changed."""
    changed = []
    known = config_values(cwd=cwd, options=scope)  # one read, not one per key
    for key, value in keys.items():
        current = _listed(known, key)
        if key not in manifest.config:
            manifest.config[key] = current  # what to restore on uninstall
        if current != value:
            run_git(["config", *scope, key, value], cwd=cwd)
            changed.append(key)
    return changed


_ROLE = {"archives": "large files", "archives-nb": "notebooks"}


def install(repo: Repo | None, *, global_: bool = False, hooks: bool = True,
            notebooks: bool = True) -> InstallReport:
    report = InstallReport()
    scope, cwd, mpath = _where(repo, global_)
    manifest = Manifest.load(mpath)
    # filter=lfs is served per clone only: a global one would take over every repository.
    lfs = not global_ and repo is not None and (manifest.lfs or uses_lfs_filter(repo))
    changed = _configure(desired_config(lfs=lfs), manifest, scope, cwd)
    manifest.lfs = lfs
    drivers = sorted({k.split(".")[1] for k in changed if k.startswith("filter.")
                      and not k.startswith("filter.lfs.")})
    if drivers:
        where = "your user" if global_ else "this clone's"
        named = [f"{d} ({_ROLE[d]})" if d in _ROLE else d for d in drivers]
        report.lines.append(f"filters: {' and '.join(named)} set in {where} git config")
    if any(k.startswith("filter.lfs.") for k in changed):
        report.lines.append("lfs: this repository's filter=lfs files are served by "
                            "git-archives in this clone (git-lfs elsewhere is unchanged)")
    manifest.save(mpath)  # record before touching hooks: a crash leaves a usable record
    if global_:
        if hooks:
            install_global_hooks(manifest, report)
    elif repo is not None:
        if notebooks:
            _install_attributes(repo, manifest, report)
            report.lines += takeover_lines(repo)  # never take another filter over silently
        if hooks:
            install_clone_hooks(repo, manifest, report, lfs=lfs)
        elif lfs and shared_hooks_dir(repo) is None:
            # No shims, but git-lfs's pre-push would still refuse what our filter stores.
            set_aside_lfs_hooks(repo.hooks_dir(), manifest, report, lfs=True)
    report.summarise_hooks()
    manifest.save(mpath)
    return report


def _install_attributes(repo: Repo, manifest: Manifest, report: InstallReport) -> None:
    info = repo.common_dir / "info" / "attributes"
    text = info.read_text() if info.exists() else ""
    if NB_ATTRIBUTES in text.splitlines():
        return
    old = [ln for ln in text.splitlines() if ln in OLD_NB_ATTRIBUTES]
    if old:  # an earlier install's line: the same rule, now with the merge driver
        text = "".join(ln for ln in text.splitlines(keepends=True)
                       if ln.rstrip("\n") not in OLD_NB_ATTRIBUTES)
        text = text.replace(f"{ATTR_MARKER}\n", "")
    info.parent.mkdir(parents=True, exist_ok=True)
    sep = "" if not text or text.endswith("\n") else "\n"
    info.write_text(f"{text}{sep}{ATTR_MARKER}\n{NB_ATTRIBUTES}\n")
    manifest.attributes_file = str(info)
    report.lines.append(f"notebooks: *.ipynb go through the notebook filter "
                        f"({display(str(info))})")


def uninstall(repo: Repo | None, *, global_: bool = False) -> InstallReport:
    report = InstallReport()
    scope, cwd, mpath = _where(repo, global_)
    manifest = Manifest.load(mpath)
    # Only what install set (an older record without lfs keys never touches filter.lfs.*).
    ours = list(manifest.config) or list(desired_config())
    known = config_values(cwd=cwd, options=scope)
    for key in ours:
        before = manifest.config.get(key)
        current = _listed(known, key)
        if before is None:
            if current is not None:
                run_git(["config", *scope, "--unset-all", key], cwd=cwd, check=False)
                report.lines.append(f"removed {key}")
        elif current != before:
            run_git(["config", *scope, key, before], cwd=cwd)
            report.lines.append(f"restored {key} = {before}")
    for section in sorted({k.rsplit(".", 1)[0] for k in ours}):
        # Drop the section header git leaves behind when its last key goes.
        run_git(["config", *scope, "--remove-section", section], cwd=cwd, check=False) \
            if _section_empty(scope, section, cwd) else None
    if global_:
        uninstall_hooks(recorded_hooks(manifest), manifest, report)
    elif repo is not None:
        uninstall_hooks(clone_hooks(repo, manifest), manifest, report)
        restore_lfs_hooks(manifest, report)
        _uninstall_attributes(repo, report)
    if mpath.exists():
        mpath.unlink()
    return report


def _section_empty(scope: list[str], section: str, cwd: Path | None) -> bool:
    proc = run_git(["config", *scope, "--get-regexp", "^" + section.replace(".", r"\.") + r"\."],
                   cwd=cwd, check=False)
    return proc.returncode != 0 or not proc.stdout.strip()


def _uninstall_attributes(repo: Repo, report: InstallReport) -> None:
    info = repo.common_dir / "info" / "attributes"
    if not info.exists():
        return
    lines = info.read_text().splitlines(keepends=True)
    ours = (ATTR_MARKER, NB_ATTRIBUTES, *OLD_NB_ATTRIBUTES)
    kept = [ln for ln in lines if ln.rstrip("\n") not in ours]
    if kept != lines:
        info.write_text("".join(kept))
        report.lines.append(f"notebooks: attributes removed from {info}")
