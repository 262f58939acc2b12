"""``git archives push|fetch|pull|gc``: moving data between the cache and a remote.

Only the standard library at module level; the features are imported inside each command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display
from gitext.commands import positive_int


def register(sub: Any) -> None:
    for verb, text in (("push", "upload the data the selected commits need"),
                       ("fetch", "download the data the selected commits need into the cache"),
                       ("pull", "fetch, then fill in files left as pointers")):
        a = sub.add_parser(verb, help=text)
        a.add_argument("-r", "--remote", help="remote name (default: core.remote)")
        a.add_argument("-j", "--jobs", type=int, help="parallel transfers")
        a.add_argument("--confirm", metavar="URL", help="first confirm the remote's committed "
                       "URL or endpoint (exactly URL) in this clone, as remote modify --local")
        selection_args(a, paths=True)
        a.set_defaults(func=_transfer_func(verb))

    _add_gc(sub)


class _ShortA(argparse.Action):
    """``-a``/``--all-branches``, remembering whether the short form was used: ``-a`` meant
    --all-commits before it took DVC's meaning, so its users are told once."""

    def __call__(self, parser: Any, namespace: Any, values: Any,
                 option_string: str | None = None) -> None:
        namespace.all_branches = True
        if option_string == "-a":
            namespace.short_a = True


def _add_gc(sub: Any) -> None:
    a = sub.add_parser(
        "gc", help="delete cached (or remote) objects nothing needs",
        description="Delete objects nothing keeps. Always kept: what every worktree, index, "
                    "stash and unpushed commit needs (-w names that alone); -a, -T, -A and "
                    "--rev keep more, as in DVC. At least one of them is required.")
    a.add_argument("-w", "--workspace", action="store_true",
                   help="keep what worktrees, indexes, stashes and unpushed commits need")
    a.add_argument("-a", "--all-branches", nargs=0, action=_ShortA, default=False,
                   help="also keep what the tip of every branch needs (as in DVC; -a meant "
                        "--all-commits before)")
    a.add_argument("-T", "--all-tags", action="store_true",
                   help="also keep what every tag needs")
    a.add_argument("-A", "--all-commits", action="store_true",
                   help="also keep what any commit of any ref needs")
    a.add_argument("--rev", action="append", default=[], metavar="REV",
                   help="also keep what REV needs (repeatable)")
    a.add_argument("-n", "--num", nargs="?", type=positive_int, const=0, default=None,
                   metavar="N", help="with --rev, -a or -T: keep the last N commits from "
                                     "each of them (default 1)")
    a.add_argument("--not-in-remote", action="store_true",
                   help="keep the objects the remote lacks (the default remote, or the one "
                        "--remote NAME names: then the cache is collected, not the remote)")
    a.add_argument("--remote", nargs="?", const="", default=None, metavar="NAME",
                   help="collect on a remote (default remote if no NAME) instead of the cache")
    a.add_argument("--dry", "--dry-run", dest="dry_run", action="store_true",
                   help="list what would go")
    a.add_argument("-y", "-f", "--yes", "--force", dest="yes", action="store_true",
                   help="really delete from a remote (without it, --remote is a dry run)")
    a.add_argument("-j", "--jobs", type=int, help="parallel deletes on a remote")
    a.add_argument("--expire", metavar="WHEN",
                   help="keep unreferenced objects written within this grace period "
                        "(default: config gc.expire, else 1.hour; 'now' keeps none, 'never' "
                        "all)")
    a.set_defaults(func=_gc_func, short_a=False)



def _gc_func(ns: Any) -> int:
    from gitext.errors import UsageError
    from gitext.sync.gcroots import Scope

    if ns.num == 0:
        raise UsageError("-n is --num N, as in DVC (the last N commits to keep from each "
                         "--rev, -a or -T tip); it no longer means --dry-run",
                         hint="for a dry run use --dry (or --dry-run)")
    if not (ns.workspace or ns.all_branches or ns.all_tags or ns.all_commits or ns.rev):
        raise UsageError("gc needs one of -w/--workspace, -a/--all-branches, -T/--all-tags, "
                         "-A/--all-commits or --rev, as DVC does",
                         hint="'git archives gc -w' keeps only what the work trees, indexes, "
                              "stashes and unpushed commits need")
    if ns.num is not None and not (ns.rev or ns.all_branches or ns.all_tags):
        raise UsageError("-n/--num counts commits from --rev, -a or -T tips: give one of them")
    if ns.short_a:
        print("note: -a means --all-branches, as in DVC (in earlier versions it meant "
              "--all-commits; use -A for every commit)", file=sys.stderr)
    scope = Scope(all_commits=ns.all_commits, all_branches=ns.all_branches,
                  all_tags=ns.all_tags, revs=tuple(ns.rev), num=ns.num or 1)
    return cmd_gc(all_commits=ns.all_commits, remote=ns.remote, dry_run=ns.dry_run,
                  yes=ns.yes, jobs=ns.jobs, expire=ns.expire, scope=scope,
                  not_in_remote=ns.not_in_remote)


def selection_args(a: Any, *, paths: bool) -> None:
    a.add_argument("-A", "--all-commits", action="store_true",
                   help="every commit of every ref")
    a.add_argument("-a", "--all-branches", action="store_true",
                   help="the tip of every branch (as in DVC)")
    a.add_argument("-T", "--all-tags", action="store_true", help="every tag")
    a.add_argument("--rev", action="append", metavar="REV",
                   help="this revision (repeatable; default HEAD, or none with -a/-T)")
    if paths:
        a.add_argument("--include", action="append", default=[], metavar="PATTERN",
                       help="only paths matching PATTERN (git-style glob; repeatable)")
        a.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                       help="skip paths matching PATTERN (repeatable)")
        a.add_argument("--run-cache", action="store_true",
                       help="also the pipeline's run-cache: every entry and the objects it "
                            "names (not filtered by revision or path)")
        a.add_argument("paths", nargs="*",
                       help="only these paths, taken literally (a file, or a folder's files)")


def _transfer_func(verb: str) -> Any:
    def run(ns: Any) -> int:
        revs = ns.rev
        if ns.all_branches or ns.all_tags:
            from gitext.sync.references import ref_tips

            revs = [*(revs or []), *ref_tips(_repo(), branches=ns.all_branches,
                                              tags=ns.all_tags)] or None
        if ns.all_commits and revs:
            from gitext.errors import UsageError

            raise UsageError("-A/--all-commits already takes every commit: give no --rev, "
                             "-a or -T with it")
        return cmd_transfer(verb=verb, remote=ns.remote, jobs=ns.jobs, revs=revs,
                            all_commits=ns.all_commits,
                            include=[*ns.include, *(_literal(p) for p in ns.paths)],
                            exclude=ns.exclude, run_cache=ns.run_cache, confirm=ns.confirm)
    return run


# -- config editing ---------------------------------------------------------------------------

def _repo() -> Any:
    from gitext.git.repo import Repo

    return Repo.discover()


# -- transfers --------------------------------------------------------------------------------

def cmd_transfer(*, verb: str, remote: str | None, jobs: int | None, revs: list[str] | None,
                 all_commits: bool, include: list[str], exclude: list[str],
                 run_cache: bool, confirm: str | None = None) -> int:
    from gitext.commands.confirm import open_confirmed
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.store.dvccache import open_store
    from gitext.sync import fill, references, runcache

    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    repo = _repo()
    root = repo.root
    # Paths given relative to the current folder become repository-relative patterns.
    include = [_repo_relative(p, root) for p in include]
    store = open_store(repo)
    refs = references.find_references(repo, revs, all_commits=all_commits, include=include,
                                    exclude=exclude, store=store)
    cfg = Config.load(root)
    rem = open_confirmed(repo, cfg, remote, confirm)
    # pull: pointer files are written as their objects arrive (see _fill_work_tree); the
    # filler holds index.lock until it is finished, and is always released here.
    filler = fill.InPlaceFill(repo, store, _literal_paths(include), jobs=jobs,
                                  direct=cfg.get_bool("core.directio", True)) \
        if verb == "pull" else None
    try:
        try:
            report = _move_objects(verb, repo, rem, refs, store, jobs=jobs, include=include,
                                   exclude=exclude, filler=filler)
            runs = None
            if run_cache:
                if verb == "push":
                    runs = runcache.push_run_cache(repo, rem, jobs=jobs, store=store)
                else:
                    runs = runcache.fetch_run_cache(repo, rem, jobs=jobs, store=store)
        finally:
            rem.close()
        print(f"{verb}: {report.summary()} [{rem.name}: {rem.url}]")
        for message in refs.unreadable[:20]:
            print(f"warning: skipped {message} (in history; 'git log -- FILE' finds it)",
                  file=sys.stderr)
        _print_problems(verb, report)
        for oid, why in report.withheld[:20]:
            print(f"note: directory manifest {oid.digest}.dir not uploaded: {why} (push its "
                  "files too, e.g. without --include, to make it complete there)",
                  file=sys.stderr)
        code = 0 if report.ok else 1
        if runs is not None:
            code = max(code, _print_run_cache(verb, runs))
        if filler is not None:
            code = max(code, _fill_work_tree(repo, store, include, exclude, filler))
        return code
    finally:
        if filler is not None:
            filler.abort()  # a no-op once finished


def _move_objects(verb: str, repo: Any, rem: Any, refs: Any, store: Any, *, jobs: int | None,
                  include: list[str], exclude: list[str], filler: Any) -> Any:
    """Push, or fetch (starting ``filler``), the selected objects with a progress bar."""
    from gitext.progress import Progress
    from gitext.sync import transfer

    if verb == "push":
        refs = refs.pushable()
        bar = Progress("push", _total_size(store, refs), len(refs.objects))
        try:
            return transfer.push(repo, rem, refs, jobs=jobs, progress=bar, store=store)
        finally:
            bar.close()
    wanted = [o for o in refs.objects if not store.has(o)]
    if filler is not None:
        filler.start()
    bar = Progress(verb, sum(refs.sizes.get(o, 0) for o in wanted), len(wanted))
    try:
        return transfer.fetch(repo, rem, refs, jobs=jobs, progress=bar, store=store,
                              include=include, exclude=exclude,
                              on_object=filler.object_ready if filler else None)
    finally:
        bar.close()


def _literal(path: str) -> str:
    """A path named on the command line (relative to the current folder), as a literal
    selection relative to the repository's top."""
    import os

    from gitext.sync.patterns import LITERAL

    top = _repo().root
    rel = os.path.relpath(os.path.abspath(path), top)
    return LITERAL + ("" if rel == "." else rel.replace(os.sep, "/"))


def _literal_paths(include: list[str]) -> list[str] | None:
    """The selections git can take as pathspecs for the in-place fill (glob patterns are
    left to the filter that runs afterwards)."""
    from gitext.sync.patterns import LITERAL

    out = [p if p.startswith(LITERAL) else p.lstrip("/") for p in include
           if p.startswith(LITERAL) or not any(c in p for c in "*?[")]
    return out or None


def _print_problems(verb: str, report: Any) -> None:
    for oid in report.corrupt:
        print(f"refused: remote object {oid} does not match its id (not used; the remote "
              "copy is corrupt: push it again from a clone that has it)", file=sys.stderr)
    for oid, why in report.failed[:20]:
        print(f"failed: {oid}: {why}", file=sys.stderr)
    for oid in report.missing[:20]:
        where = "local cache" if verb == "push" else "remote"
        print(f"missing: {oid} is not in the {where}", file=sys.stderr)


def _print_run_cache(verb: str, runs: Any) -> int:
    print(f"{verb}: {runs.summary()}")
    if runs.objects is not None:
        _print_problems(verb, runs.objects)
    for key, why in runs.refused[:20]:
        print(f"refused: run-cache entry {key[:12]}…: {why}", file=sys.stderr)
    for key, why in runs.failed[:20]:
        print(f"failed: run-cache entry {key[:12]}…: {why}", file=sys.stderr)
    for key, why in runs.skipped[:20]:
        print(f"note: run-cache entry {key[:12]}… skipped: {why}", file=sys.stderr)
    for key in runs.conflicts[:20]:
        print(f"note: run-cache entry {key[:12]}… differs from the remote's; the local one "
              "was kept", file=sys.stderr)
    return 0 if runs.ok else 1


def _repo_relative(path: str, root: Path) -> str:
    if path.startswith(":(") or any(c in path for c in "*?[") or not Path(path).exists():
        return path
    try:
        rel = Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path
    return "/" + rel if rel != "." else "/**"


def _total_size(store: Any, refs: Any) -> int:
    total = 0
    for oid in refs.objects:
        size = store.size(oid)
        total += size or 0
    return total


def _write_hint(exc: OSError) -> str:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "free disk space"
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long for this filesystem: rename the file in the repository"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make the folder writable"
    return "fix the cause above"


def _fill_work_tree(repo: Any, store: Any, include: list[str], exclude: list[str],
                    filler: Any) -> int:
    """After a pull: replace pointer files whose content arrived; restore pipeline outputs."""
    from gitext.sync.pointers import fill_pointers

    try:
        # Written directly (kernel copy, index stat recorded), partly while the fetch was
        # still running; what that cannot take goes through git checkout and smudge.
        direct = filler.finish()
        if direct.left:
            fill = fill_pointers(repo, store, [f":(literal){p}" for p in direct.left],
                                 scan=True)
        else:  # only what smudge recorded as left behind (one query when nothing is)
            fill = fill_pointers(repo, store, None, scan=False)
    except OSError as exc:  # a full disk or a read-only file while writing the work tree
        from gitext.errors import ArchivesError

        raise ArchivesError(
            f"cannot write the work tree: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else ""),
            hint=_write_hint(exc) + ", then run 'git archives pull' again (the cache is intact)",
        ) from None
    filled = len(set(direct.filled) | set(fill.filled))
    still = len(set(direct.missing) | {tp.path for tp in fill.missing})
    if filled:
        print(f"pull: {filled} file(s) filled in")
    code = 0
    if still:
        print(f"pull: {still} file(s) still pointers (content not on the remote)",
              file=sys.stderr)
        code = 1
    if fill.skipped_modified:
        print(f"pull: {len(fill.skipped_modified)} locally modified file(s) left alone",
              file=sys.stderr)
    return max(code, _restore_outputs(repo, include, exclude))


def _restore_outputs(repo: Any, include: list[str], exclude: list[str]) -> int:
    """After a pull: place the pipeline outputs whose content is now cached. With
    --include/--exclude, outputs outside the selection are not reported as missing, and a
    directory fetched in part is said to be partial (it is not restored: the pipeline only
    places a directory whose every file is cached)."""
    from gitext.pipeline import checkout

    code = 0
    report = checkout.checkout_outputs(repo.root, archives_dir=repo.archives_dir)
    if report.restored:
        print(f"pull: {len(report.restored)} output(s) of dvc.lock and .dvc files restored")
    for path, why in report.conflicts:
        print(f"pull: kept {display(path)}: {why} ('git archives checkout --force' "
              "replaces it)", file=sys.stderr)
    for path, why in report.skipped:
        print(f"pull: skipped {display(path)}: {why}", file=sys.stderr)
    for path, why in report.refused:
        print(f"pull: refused to restore {display(path)}: {why}", file=sys.stderr)
        code = 1
    missing = list(report.missing)
    if include or exclude:
        from gitext.sync.patterns import PathFilter

        keep = PathFilter(include, exclude)
        wanted = [p for p in missing if keep(p)]
        outside = [p for p in missing if not keep(p)]
        if outside:
            print(f"pull: {len(outside)} output(s) outside the selection or only "
                  "partly in it (a folder is restored only once all its files are "
                  "cached), left as they were: " + ", ".join(outside[:5]), file=sys.stderr)
        missing = wanted
    if missing:
        print(f"pull: {len(missing)} output(s) of dvc.lock or .dvc files not on the remote: "
              + ", ".join(missing[:5]), file=sys.stderr)
        code = 1
    return code


# -- gc ---------------------------------------------------------------------------------------

def cmd_gc(*, all_commits: bool, remote: str | None, dry_run: bool, yes: bool,
           jobs: int | None, expire: str | None = None, scope: Any = None,
           not_in_remote: bool = False) -> int:
    from gitext.config import Config, format_size
    from gitext.remotes import open_remote
    from gitext.sync import gc

    repo = _repo()
    cfg = Config.load(repo.root)
    if expire is not None:
        grace = gc.parse_expire(expire)
    else:
        configured = cfg.get("gc.expire")
        grace = gc.parse_expire(configured or gc.DEFAULT_GC_EXPIRE,
                                      where="config gc.expire")
    rem = other = None
    if not_in_remote:  # as DVC: --remote NAME then names the remote to compare with
        other = open_remote(cfg, remote or None, root=repo.root)
    elif remote is not None:
        rem = open_remote(cfg, remote or None, root=repo.root)
    try:
        plan = gc.plan_gc(repo, all_commits=all_commits, remote=rem, expire=grace,
                          scope=scope, not_in=other)
        where = f"remote '{rem.name}' ({rem.url})" if rem is not None else "the local cache"
        real = not dry_run and (rem is None or yes)
        for key, size in plan.doomed:
            print(f"{'removing' if real else 'would remove'} {key} ({format_size(size)})")
        verb = "removed" if real else "would remove"
        print(f"gc: {verb} {len(plan.doomed)} object(s), {format_size(plan.bytes)} from {where}; "
              f"kept {len(plan.keep)} referenced")
        if plan.recent:
            how = "never expire" if grace is None else f"written in the last {_span(grace)}"
            print(f"gc: kept {len(plan.recent)} unreferenced object(s) "
                  f"({format_size(sum(s for _, s in plan.recent))}): {how} "
                  "(grace period: --expire or config gc.expire)")
        if other is not None and plan.not_in_remote:
            print(f"gc: kept {len(plan.not_in_remote)} unreferenced object(s) "
                  f"({format_size(sum(s for _, s in plan.not_in_remote))}) that remote "
                  f"'{other.name}' lacks (--not-in-remote)")
        if not real and rem is not None and not dry_run:
            print("gc: nothing deleted on the remote: re-run with --yes to delete",
                  file=sys.stderr)
        if real and plan.doomed:
            gc.apply_gc(repo, plan, remote=rem, jobs=jobs)
    finally:
        for r in (rem, other):
            if r is not None:
                r.close()
    return 0


def _span(seconds: float) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds / size
            text = f"{n:g}" if n == int(n) else f"{n:.1f}"
            return f"{text} {unit}{'' if n == 1 else 's'}"
    return f"{seconds:g} s"
