"""``git archives doctor``: each check gives (ok, what, the command that fixes it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

from gitext.config import COMMITTED_SECTIONS, PROJECT_CONFIG, Config, _committed_allowed
from gitext.errors import ArchivesError
from gitext.gitrepo import Repo, run_git
from gitext.install import CHAINED_SUFFIX, HOOK_NAMES, desired_config, is_our_shim
from gitext.shellquote import display, shell_args

Check = tuple[bool, str, str | None]


def diagnose(repo: Repo | None) -> Iterator[Check]:
    exe = shutil.which("git-archives")
    yield (exe is not None, f"git-archives on PATH: {exe or 'not found'}",
           None if exe else "run install.sh, or add its bin folder to PATH")
    if repo is None:
        yield (False, "not inside a git repository", "cd into a clone")
        return
    cwd = repo.worktree or repo.git_dir
    for key, want in desired_config().items():
        proc = run_git(["config", "--get", key], cwd=cwd, check=False)
        have = proc.stdout.decode().strip() if proc.returncode == 0 else None
        if have is None:
            yield (False, f"{key} is not set", "git archives install")
        elif have.split()[0].strip('"').endswith("git-archives") or have == want:
            yield (True, f"{key} = {have}", None)
        else:
            yield (False, f"{key} = {have} (expected {want})", "git archives install")
    hooks = repo.hooks_dir()
    for name in HOOK_NAMES:
        path = hooks / name
        if not path.exists():
            yield (False, f"hook {name} missing in {hooks}", "git archives install")
        elif not is_our_shim(path):
            yield (False, f"hook {name} in {hooks} is not git-archives' shim",
                   "git archives install (your hook is kept and chained)")
        else:
            chained = hooks / (name + CHAINED_SUFFIX)
            extra = f" (chains to {chained.name})" if chained.exists() else ""
            yield (True, f"hook {name} installed{extra}", None)
    if repo.worktree is not None:
        cfg_file = repo.worktree / PROJECT_CONFIG
        if cfg_file.exists():
            try:
                Config.load(repo.worktree)
                proc = run_git(["config", "-f", str(cfg_file), "--name-only", "--list"],
                               cwd=repo.worktree, check=False)
                for key in proc.stdout.decode().split():
                    if not _committed_allowed(key.lower()):
                        yield (False, f"{PROJECT_CONFIG}: '{key}' is ignored (a committed file "
                               f"may only set {', '.join(COMMITTED_SECTIONS)} options, and no "
                               "secrets)", f"git config archives.{key} <value>  (clone-local)")
                yield (True, f"{PROJECT_CONFIG} readable", None)
            except ArchivesError as exc:
                yield (False, exc.message, exc.hint)
        yield from _notebook_checks(repo)


def _notebook_checks(repo: Repo) -> Iterator[Check]:
    try:
        from gitext.notebooks.doctor import find_unstripped_notebooks
        from gitext.notebooks.strip import options_from_config
    except ImportError:
        return
    try:
        paths = find_unstripped_notebooks(repo, options_from_config(Config.load(repo.worktree)))
    except ArchivesError as exc:
        yield (False, f"notebooks: {exc.message}", exc.hint)
        return
    if paths:
        shown = " ".join(f"'{display(p)}'" for p in paths[:5])
        yield (False, f"{len(paths)} committed notebook(s) still have outputs: {shown}",
               f"git add --renormalize -- {shell_args(paths[:20])} && "
               "git commit -m 'Strip notebooks'")
    else:
        yield (True, "committed notebooks are stripped", None)
    from gitext.notebooks.refresh import refresh

    try:
        phantom = refresh(repo, dry_run=True).refreshed
    except ArchivesError as exc:
        yield (False, f"notebooks: {exc.message}", exc.hint)
        return
    if phantom:
        shown = " ".join(f"'{display(p)}'" for p in phantom[:5])
        yield (False, f"{len(phantom)} notebook(s) look modified to git but differ only in "
               f"outputs: {shown}", "git archives nb refresh  (or keep 'git archives watch' "
               "running while you work)")
