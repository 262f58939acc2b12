"""Core verbs: install, uninstall, track, untrack, doctor, and the plumbing git itself
calls (filter-process, filter-clean/-smudge, hook). What the clone holds and whether it is
whole (ls-files, status, fsck) is :mod:`gitext.commands.inspect`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display
from gitext.errors import ArchivesError


def _repo(optional: bool = False) -> Any:
    from gitext.git.repo import Repo

    if optional:
        try:
            return Repo.discover(Path.cwd())
        except ArchivesError:
            return None
    return Repo.discover(Path.cwd())


def register(sub: Any) -> None:
    p = sub.add_parser("install", help="wire filters and hooks into this clone (or --global)")
    p.add_argument("--global", dest="global_", action="store_true",
                   help="set the filter config for the user instead of this clone")
    p.add_argument("--skip-hooks", action="store_true", help="configure filters only")
    p.add_argument("--skip-notebooks", action="store_true",
                   help="do not route *.ipynb through the notebook filter")
    p.set_defaults(func=lambda ns: cmd_install(global_=ns.global_, hooks=not ns.skip_hooks,
                                               notebooks=not ns.skip_notebooks))

    p = sub.add_parser("uninstall", help="undo 'install' exactly (hooks you had come back)")
    p.add_argument("--global", dest="global_", action="store_true")
    p.set_defaults(func=lambda ns: cmd_uninstall(global_=ns.global_))

    p = sub.add_parser("track", help="store files matching PATTERN… as pointers")
    p.add_argument("patterns", nargs="*", metavar="PATTERN")
    p.add_argument("--larger-than", metavar="SIZE",
                   help="also store any file above SIZE (e.g. 10mb) as a pointer")
    p.add_argument("--lfs", action="store_true",
                   help="write 'filter=lfs diff=lfs merge=lfs -text' rules, as git lfs track "
                        "does, for teams where some keep git-lfs (default with track.driver = "
                        "lfs in .archives/config)")
    p.set_defaults(func=lambda ns: cmd_track(patterns=ns.patterns, larger_than=ns.larger_than,
                                             lfs=ns.lfs))

    p = sub.add_parser("untrack", help="stop storing PATTERN… as pointers")
    p.add_argument("patterns", nargs="*", metavar="PATTERN")
    p.add_argument("--larger-than", action="store_true", help="remove the size rule")
    p.set_defaults(func=lambda ns: cmd_untrack(patterns=ns.patterns,
                                               size_rule=ns.larger_than))

    p = sub.add_parser("doctor", help="what is configured, missing or broken, with the fix")
    p.set_defaults(func=lambda ns: cmd_doctor())

    p = sub.add_parser("filter-process", help="(called by git) the long-running filter")
    p.add_argument("--notebooks", action="store_true")
    p.set_defaults(func=lambda ns: cmd_filter_process(notebooks=ns.notebooks))

    for verb in ("clean", "smudge"):
        p = sub.add_parser(f"filter-{verb}", help=f"(called by git) {verb} one file, "
                                                  "stdin to stdout")
        p.add_argument("path")
        p.set_defaults(func=lambda ns, verb=verb: cmd_filter_once(verb, ns.path))

    p = sub.add_parser("hook", help="(called by the hook shims) run one git hook")
    p.add_argument("name")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda ns: cmd_hook(name=ns.name, args=ns.args))


def cmd_filter_process(*, notebooks: bool) -> int:
    from gitext.filters.process import main

    return main(notebooks=notebooks)


def cmd_filter_once(command: str, path: str) -> int:
    from gitext.filters.oneshot import run_once

    return run_once(command, path)


def cmd_hook(*, name: str, args: list[str]) -> int:
    from gitext.hooks import run_hook

    return run_hook(name, args)


def cmd_install(*, global_: bool, hooks: bool, notebooks: bool) -> int:
    from gitext.git.install import install

    repo = _repo(optional=global_)
    report = install(repo, global_=global_, hooks=hooks, notebooks=notebooks)
    for line in report.lines:
        print(line)
    where = "your user config" if global_ else str(repo.root if repo.worktree else repo.git_dir)
    print(f"git-archives is set up for {where}.")
    if global_ and report.shared_hooks is not None:
        print(f"hint: the hooks in {display(str(report.shared_hooks))} (core.hooksPath) act "
              "only in clones where you also run 'git archives install'.")
    elif global_:
        print("hint: hooks are per clone: run 'git archives install' inside each clone too.")
    return 0


def cmd_uninstall(*, global_: bool) -> int:
    from gitext.git.install import uninstall

    repo = _repo(optional=global_)
    report = uninstall(repo, global_=global_)
    for line in report.lines:
        print(line)
    print("git-archives is no longer set up here." if report.lines else "nothing to undo.")
    return 0


def cmd_track(*, patterns: list[str], larger_than: str | None, lfs: bool = False) -> int:
    from gitext.config import PROJECT_CONFIG, parse_size, track_driver
    from gitext.git import attributes

    repo = _repo()
    if not patterns and larger_than is None:
        for pat, driver in attributes.tracked_rules(repo.root / ".gitattributes"):
            print(f"tracked: {display(pat)}" + (" (filter=lfs)" if driver == "lfs" else ""))
        rule = repo.config_get("size.largerthan", file=repo.root / PROJECT_CONFIG)
        if rule:
            print(f"tracked: any file larger than {rule}")
        return 0
    cwd_rel = Path.cwd().resolve().relative_to(repo.root.resolve())
    for pat in patterns:
        attributes.check_pattern(pat)  # before the subfolder prefix hides a leading '!'
    # Patterns given in a subfolder are relative to it, as gitattributes patterns would be.
    full = [p if str(cwd_rel) == "." or ("/" in p.lstrip("/") and p.startswith("/"))
            else (f"{cwd_rel.as_posix()}/{p}" if str(cwd_rel) != "." else p) for p in patterns]
    _writable_in_tree(repo.root, repo.root / ".gitattributes")
    driver = track_driver(repo, lfs=lfs) if patterns else "archives"
    added, already = attributes.track(repo.root / ".gitattributes", full, driver=driver)
    for pat in added:
        print(f"Tracking '{display(pat)}'" + (" (filter=lfs)" if driver == "lfs" else ""))
    if added and driver == "lfs":
        _hint_serve_lfs(repo)
    for pat in already:
        print(f"'{display(pat)}' is already tracked")
    if larger_than is not None:
        parse_size(larger_than, where="--larger-than")
        cfg = repo.root / PROJECT_CONFIG
        _writable_in_tree(repo.root, cfg)
        repo.git("config", "-f", str(cfg), "size.largerthan", larger_than)
        attributes.set_size_rule(repo.root / ".gitattributes", True)
        print(f"Tracking any file larger than {larger_than} (size.largerthan in {PROJECT_CONFIG})")
        print("note: every file now passes through the filter process; files at or below "
              "the limit are stored unchanged")
    if added or larger_than:
        print("hint: commit .gitattributes (and .archives/config); files already committed "
              "change on 'git add --renormalize .'")
    return 0


def _hint_serve_lfs(repo: Any) -> None:
    from gitext.git.install import serves_lfs

    if not serves_lfs(repo):
        print("hint: run 'git archives install' so that this clone serves filter=lfs "
              "(git-lfs users read these rules as their own)")


def _writable_in_tree(root: Path, path: Path) -> None:
    """``path`` and the folders above it are no symlinks (``git config -f`` would write
    through one); its folder is made if missing."""
    from gitext.fs.worktree import WorkTree, repo_relative, require_no_symlink

    require_no_symlink(root, path)
    with WorkTree(root) as wt:
        folder = repo_relative(root, path.parent) if path.parent != root else None
        if folder is not None:
            wt.makedirs(folder)


def cmd_untrack(*, patterns: list[str], size_rule: bool) -> int:
    from gitext.config import PROJECT_CONFIG
    from gitext.git import attributes

    repo = _repo()
    removed = attributes.untrack(repo.root / ".gitattributes", patterns)
    for pat in removed:
        print(f"Untracking '{display(pat)}'")
    for pat in sorted(set(patterns) - set(removed)):
        print(f"'{display(pat)}' was not tracked")
    if size_rule:
        cfg = repo.root / PROJECT_CONFIG
        if cfg.exists():
            _writable_in_tree(repo.root, cfg)
            repo.git("config", "-f", str(cfg), "--unset", "size.largerthan", check=False)
        attributes.set_size_rule(repo.root / ".gitattributes", False)
        print("Removed the size rule")
    return 0


def cmd_doctor() -> int:
    from gitext.doctor import diagnose

    repo = _repo(optional=True)
    problems = 0
    for ok, line, fix in diagnose(repo):
        print(f"{'ok  ' if ok else 'FAIL'} {line}")
        if not ok:
            problems += 1
            if fix:
                print(f"     fix: {fix}")
    return 1 if problems else 0
