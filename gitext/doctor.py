"""``git archives doctor``: each check gives (ok, what, the command that fixes it)."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

from gitext.codec.shellquote import display, scrub, shell_args
from gitext.config import COMMITTED_SECTIONS, PROJECT_CONFIG, Config, _committed_allowed
from gitext.errors import ArchivesError
from gitext.git.hookinstall import shared_hooks_dir
from gitext.git.install import (
    CHAINED_SUFFIX,
    HOOK_NAMES,
    desired_config,
    is_our_shim,
    serves_lfs,
)
from gitext.git.launcher import recorded_launcher
from gitext.git.repo import Repo, config_get, run_git

Check = tuple[bool, str, str | None]


def diagnose(repo: Repo | None) -> Iterator[Check]:
    exe = shutil.which("git-archives")
    yield (exe is not None, f"git-archives on PATH: {exe or 'not found'}",
           None if exe else "run install.sh, or add its bin folder to PATH")
    if repo is None:
        yield (False, "not inside a git repository", "cd into a clone")
        return
    cwd = repo.worktree or repo.git_dir
    for key, want in desired_config(lfs=serves_lfs(repo)).items():
        have = config_get(key, cwd=cwd)
        have = have.strip() if have is not None else None
        if have is None:
            yield (False, f"{key} is not set", "git archives install")
        elif have == want or recorded_launcher(have) is not None:
            yield (True, f"{key} = {have}", None)
        else:
            yield (False, f"{key} = {have} (expected {want})", "git archives install")
    yield from _launcher_checks(repo, cwd)
    hooks = repo.hooks_dir()
    shared = shared_hooks_dir(repo)
    # A hooks folder every repository runs (a global core.hooksPath) gets shims only from
    # 'install --global': a clone's install leaves it alone (docs/install-and-hooks.md).
    fix = "git archives install" if shared is None else (
        f"git archives install --global (core.hooksPath in your {shared[1]} git config is "
        "shared by every repository; those shims act only in clones set up with git-archives)")
    for name in HOOK_NAMES:
        path = hooks / name
        if not path.exists():
            yield (False, f"hook {name} missing in {display(str(hooks))}", fix)
        elif not is_our_shim(path):
            yield (False, f"hook {name} in {hooks} is not git-archives' shim",
                   "git archives install (your hook is kept and chained)")
        else:
            chained = hooks / (name + CHAINED_SUFFIX)
            extra = f" (chains to {chained.name})" if chained.exists() else ""
            yield (True, f"hook {name} installed{extra}", None)
    yield from _lfs_checks(repo, hooks)
    yield from _state_checks(repo)
    if repo.worktree is not None:
        yield from _committed_config_checks(repo.worktree)
        yield from _other_notebook_filter_checks(repo)
        yield from _notebook_checks(repo)


def _launcher_checks(repo: Repo, cwd: Path) -> Iterator[Check]:
    """The launcher each filter and textconv command runs still exists, and git finds it
    without PATH (GUI clients and other environments run git with another PATH)."""
    from gitext.git.launcher import launcher_problem

    for key in desired_config(lfs=serves_lfs(repo)):
        if not key.endswith((".process", ".clean", ".smudge", ".textconv", ".driver")):
            continue  # not a command: .required, a merge driver's .name, xfuncname
        have = config_get(key, cwd=cwd)
        problem = launcher_problem(have) if have else None
        if problem is not None:
            yield (False, f"{key} {problem}",
                   "git archives install  (records the absolute path of this git-archives)")


def _lfs_checks(repo: Repo, hooks: Path) -> Iterator[Check]:
    """filter=lfs is served here, and no git-lfs hook is still chained (its pre-push looks
    for our objects in .git/lfs and refuses the push)."""
    from gitext.git.lfs import (
        LFS_HOOK_NAMES,
        is_git_lfs_hook,
        lfs_filter_elsewhere,
        uses_lfs_filter,
    )

    served = serves_lfs(repo)
    if served:
        yield (True, "filter=lfs is served by git-archives in this clone", None)
    elif uses_lfs_filter(repo):
        by = lfs_filter_elsewhere(repo)
        yield (False, "this repository's .gitattributes use filter=lfs, served here by "
               + (f"git-lfs ({by})" if by else "nothing (the files stay pointers)"),
               "git archives install")
    chained = [hooks / (n + CHAINED_SUFFIX) for n in LFS_HOOK_NAMES
               if is_git_lfs_hook(hooks / (n + CHAINED_SUFFIX), n)]
    if chained:
        gone = not served and lfs_filter_elsewhere(repo) is None
        yield (False, f"git-lfs's own hooks still run before ours: "
               f"{', '.join(p.name for p in chained)}"
               + (" (left behind by 'git lfs uninstall')" if gone else "")
               + "; git-lfs's pre-push refuses pushes of objects it does not hold",
               f"rm -- {shell_args([str(p) for p in chained])}" if gone else
               "git archives install  (sets them aside; uninstall puts them back)")


def _committed_config_checks(worktree: Path) -> Iterator[Check]:
    """The committed file is readable, and which of its keys are ignored and why. Never a
    suggestion to copy an ignored key anywhere: the file may be someone else's."""
    cfg_file = worktree / PROJECT_CONFIG
    if not (cfg_file.exists() or cfg_file.is_symlink()):
        return
    try:
        Config.load(worktree)
    except ArchivesError as exc:
        yield (False, f"{exc.message} (until it is readable, the filter keeps every file in "
               "the form git already stores it in and refuses new files)", exc.hint)
        return
    proc = run_git(["config", "-f", str(cfg_file), "--name-only", "--list", "-z"],
                   cwd=worktree, check=False)
    for raw in proc.stdout.split(b"\0"):
        key = raw.decode("utf-8", "surrogateescape")
        if key and not _committed_allowed(key.lower()):
            yield (False, f"{PROJECT_CONFIG}: '{scrub(key)}' is ignored: {_why(key)}",
                   f"remove it from {PROJECT_CONFIG} (a repository never sets commands, "
                   "credentials or where they are sent; set your own locally if you need one)")
    yield (True, f"{PROJECT_CONFIG} readable", None)


def _why(key: str) -> str:
    section = key.split(".", 1)[0].lower()
    if section not in COMMITTED_SECTIONS:
        return (f"a committed file may only set {', '.join(COMMITTED_SECTIONS)} options")
    return ("this option is local-only: commands, credentials and profiles are never read "
            "from a committed file")


def _state_checks(repo: Repo) -> Iterator[Check]:
    """state.db copies set aside as corrupt, and what their rebuild lost."""
    from gitext.store.state import corrupt_copies, probe

    db = repo.archives_dir / "state.db"
    problem = probe(db)
    if problem is not None:
        yield (False, f"{db} is corrupt ({problem})",
               "git archives fsck  (moves it aside, never deletes it, and starts a fresh one)")
    for copy in corrupt_copies(db):
        yield (False, f"state.db could not be read and was rebuilt; the bad copy is {copy}. "
               "What was lost: hash rows (files are hashed again), the last digest of each "
               "path (a size-rule pointer that shrank below the limit is stored plainly on "
               "its next add), the list of files left as pointers (see 'git archives "
               "status') and cached parse results",
               f"rm {shlex.quote(str(copy))}  (once you no longer need it)")


def _notebook_option_checks(problems: list[str]) -> Iterator[Check]:
    """Each notebook option the filter leaves out (and warns about on every git command)."""
    for line in problems:
        yield (False, f"notebook option left out: {line}",
               "fix or remove it in that file (docs/notebooks.md lists the options)")


def _notebook_checks(repo: Repo) -> Iterator[Check]:
    from gitext.notebooks.doctor import find_unstripped_notebooks
    from gitext.notebooks.strip_options import configured_options

    try:
        options, problems = configured_options(repo.worktree)
        yield from _notebook_option_checks(problems)
        paths = find_unstripped_notebooks(repo, options)
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


def _other_notebook_filter_checks(repo: Repo) -> Iterator[Check]:
    """Another notebook filter (nbstripout's, or any filter=/diff= for notebooks) that is
    configured, or that wins over ours for the notebooks it matches."""
    from gitext.git.nbattributes import (
        effective,
        foreign_lines,
        in_effect,
        is_nbstripout,
        nbstripout_configured,
    )

    winning = in_effect(repo, foreign_lines(repo))
    for fl in winning:
        fix = ("git archives migrate --from-nbstripout" if is_nbstripout(fl) else
               f"remove that line from {shell_args([fl.shown])} (or change it to "
               f"{fl.attr}=archives-nb), then run 'git archives install'")
        yield (False, f"notebooks: {fl.attr}={fl.value} from {display(fl.shown)} line "
               f"{fl.line} ('{display(fl.text)}') overrides ours (git applies that line "
               "there: info/attributes first, then the nearest .gitattributes; later lines "
               "win)", fix)
    scopes: dict[str, list[str]] = {}
    for scope, key in nbstripout_configured(repo):
        scopes.setdefault(scope, []).append(key)
    for scope, keys in scopes.items():
        if scope in ("local", "worktree"):
            yield (False, f"nbstripout's filter is configured in this clone ({', '.join(keys)})",
                   "git archives migrate --from-nbstripout  (carries its options over)")
        elif not any(is_nbstripout(fl) for fl in winning):
            yield (True, f"filter.nbstripout is set in your {scope} git config (not used "
                   "here: notebooks go through ours)", None)
    tracked = [e.path for e in repo.ls_files(":(glob)**/*.ipynb")][:500]
    # "unspecified": no filter at all ('install --skip-notebooks'), not another one.
    stray = [p for p, (f, _d) in effective(repo, tracked).items()
             if f not in ("archives-nb", "unspecified")]
    if stray and not winning:
        yield (False, f"{len(stray)} tracked notebook(s) do not go through the notebook "
               f"filter ({effective(repo, stray[:1])[stray[0]][0]} instead): "
               + " ".join(f"'{display(p)}'" for p in stray[:5]), "git archives install")
