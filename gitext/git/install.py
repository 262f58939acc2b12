"""Wiring a clone (or the user's git config) for git-archives, and undoing it exactly.

``install`` records what it changed in ``<git common dir>/archives/install.json`` — the
config values it replaced, the user's hooks it moved aside — so ``uninstall`` restores
precisely what was there. A user's hook is never overwritten: it is renamed to
``<hook>.pre-archives`` and our shim runs it first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec.shellquote import display, shell_arg
from gitext.errors import ArchivesError
from gitext.git.launcher import command
from gitext.git.lfs import LFS_HOOK_NAMES, SET_ASIDE_SUFFIX, is_git_lfs_hook, uses_lfs_filter
from gitext.git.nbattributes import takeover_lines
from gitext.git.repo import Repo, config_get, run_git
from gitext.git.shims import (
    CHAINED_SUFFIX,
    HOOK_NAMES,
    SHIM_MARKER,
    digest,
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


@dataclass
class Manifest:
    config: dict[str, str | None] = field(default_factory=dict)  # key → value before us
    hooks: dict[str, bool] = field(default_factory=dict)  # hook path → had a user hook
    attributes_file: str | None = None
    shims: dict[str, str] = field(default_factory=dict)  # hook path → sha256 of what we wrote
    lfs: bool = False  # we serve filter=lfs in this clone
    set_aside: dict[str, str] = field(default_factory=dict)  # git-lfs hook path → where it is

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise ArchivesError(f"{path}: unreadable install record ({exc})",
                                hint="delete it and run 'git archives install' again") from exc
        return cls(raw.get("config", {}), raw.get("hooks", {}), raw.get("attributes_file"),
                   raw.get("shims", {}), bool(raw.get("lfs", False)), raw.get("set_aside", {}))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"config": self.config, "hooks": self.hooks,
                                   "attributes_file": self.attributes_file,
                                   "shims": self.shims, "lfs": self.lfs,
                                   "set_aside": self.set_aside}, indent=1))
        os.replace(tmp, path)


def global_manifest_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "git-archives" / "global-install.json"


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


@dataclass
class InstallReport:
    lines: list[str] = field(default_factory=list)
    shared_hooks: Path | None = None  # --global: the folder every repository's hooks are in
    hooks_installed: list[str] = field(default_factory=list)
    hooks_chained: list[str] = field(default_factory=list)  # the user's, kept as *.pre-archives
    hooks_folder: Path | None = None

    def summarise_hooks(self) -> None:
        """One line for the shims written (and the user's hooks they chain)."""
        if not self.hooks_installed:
            return
        where = display(str(self.hooks_folder)) if self.hooks_folder else "the hooks folder"
        line = f"hooks: {', '.join(self.hooks_installed)} installed in {where}"
        if self.hooks_chained:
            line += (f"; yours still run first ({', '.join(self.hooks_chained)}, "
                     f"kept as *{CHAINED_SUFFIX})")
        self.lines.append(line)


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


def _configure(keys: dict[str, str], manifest: Manifest, scope: list[str],
               cwd: Path | None) -> list[str]:
    """Set ``keys`` in ``scope``, recording what each was; return the keys changed."""
    changed = []
    for key, value in keys.items():
        current = config_get(key, cwd=cwd, options=scope)
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
            _install_global_hooks(manifest, report)
    elif repo is not None:
        if notebooks:
            _install_attributes(repo, manifest, report)
            report.lines += takeover_lines(repo)  # never take another filter over silently
        if hooks:
            _install_clone_hooks(repo, manifest, report, lfs=lfs)
        elif lfs and shared_hooks_dir(repo) is None:
            # No shims, but git-lfs's pre-push would still refuse what our filter stores.
            _set_aside_lfs_hooks(repo.hooks_dir(), manifest, report, lfs=True)
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


def _install_clone_hooks(repo: Repo, manifest: Manifest, report: InstallReport, *,
                         lfs: bool) -> None:
    shared = shared_hooks_dir(repo)
    if shared is None:
        _set_aside_lfs_hooks(repo.hooks_dir(), manifest, report, lfs=lfs)
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


def _install_global_hooks(manifest: Manifest, report: InstallReport) -> None:
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


def _set_aside_lfs_hooks(hooks_dir: Path, manifest: Manifest, report: InstallReport, *,
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


def uninstall(repo: Repo | None, *, global_: bool = False) -> InstallReport:
    report = InstallReport()
    scope, cwd, mpath = _where(repo, global_)
    manifest = Manifest.load(mpath)
    # Only what install set (an older record without lfs keys never touches filter.lfs.*).
    ours = list(manifest.config) or list(desired_config())
    for key in ours:
        before = manifest.config.get(key)
        current = config_get(key, cwd=cwd, options=scope)
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
        _uninstall_hooks(_recorded_hooks(manifest), manifest, report)
    elif repo is not None:
        _uninstall_hooks(_clone_hooks(repo, manifest), manifest, report)
        _restore_lfs_hooks(manifest, report)
        _uninstall_attributes(repo, report)
    if mpath.exists():
        mpath.unlink()
    return report


def _section_empty(scope: list[str], section: str, cwd: Path | None) -> bool:
    proc = run_git(["config", *scope, "--get-regexp", "^" + section.replace(".", r"\.") + r"\."],
                   cwd=cwd, check=False)
    return proc.returncode != 0 or not proc.stdout.strip()


def _recorded_hooks(manifest: Manifest) -> list[Path]:
    return [Path(p) for p in manifest.hooks if Path(p).name in HOOK_NAMES]


def _clone_hooks(repo: Repo, manifest: Manifest) -> list[Path]:
    """The hooks install wrote for this clone: as recorded; without a record, the clone's
    hooks folder — never a folder every repository shares (``uninstall --global``'s)."""
    recorded = _recorded_hooks(manifest)
    if recorded or shared_hooks_dir(repo) is not None:
        return recorded
    return [repo.hooks_dir() / name for name in HOOK_NAMES]


def _uninstall_hooks(paths: list[Path], manifest: Manifest, report: InstallReport) -> None:
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


def _restore_lfs_hooks(manifest: Manifest, report: InstallReport) -> None:
    back = []
    for original, aside in manifest.set_aside.items():
        path, kept = Path(original), Path(aside)
        if kept.exists() and not (path.exists() or path.is_symlink()):
            os.replace(kept, path)
            back.append(path.name)
    if back:
        report.lines.append(f"git-lfs hooks: {', '.join(back)} are back")


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
