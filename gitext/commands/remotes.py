"""``git archives remote|push|fetch|pull|gc``: data remotes and transfers.

Only the standard library at module level; the features are imported inside each command.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display, shell_arg


def register(sub: Any) -> None:
    p = sub.add_parser("remote", help="add, list, change or remove data remotes")
    rsub = p.add_subparsers(dest="remote_verb", metavar="<action>")
    p.set_defaults(func=lambda ns: cmd_remote_list(verbose=False))

    a = rsub.add_parser("add", help="add a remote (directory path or s3://bucket/prefix)")
    a.add_argument("-d", "--default", action="store_true", help="make it the default remote")
    a.add_argument("-f", "--force", action="store_true", help="replace an existing remote")
    a.add_argument("--local", action="store_true",
                   help="write to this clone's git config instead of .archives/config")
    a.add_argument("name")
    a.add_argument("url")
    a.set_defaults(func=lambda ns: cmd_remote_add(name=ns.name, url=ns.url, default=ns.default,
                                                  force=ns.force, local=ns.local))

    a = rsub.add_parser("list", help="remotes, their URLs and options (secrets hidden)")
    a.add_argument("-v", "--verbose", action="store_true", help="show every option")
    a.set_defaults(func=lambda ns: cmd_remote_list(verbose=ns.verbose))

    a = rsub.add_parser("remove", help="forget a remote (its data stays where it is)")
    a.add_argument("name")
    a.set_defaults(func=lambda ns: cmd_remote_remove(name=ns.name))

    a = rsub.add_parser("modify", help="set one option of a remote")
    a.add_argument("--local", action="store_true",
                   help="write to this clone's git config (private: profile, credentials)")
    a.add_argument("--unset", action="store_true", help="remove the option")
    a.add_argument("name")
    a.add_argument("key")
    a.add_argument("value", nargs="?")
    a.set_defaults(func=lambda ns: cmd_remote_modify(name=ns.name, key=ns.key, value=ns.value,
                                                     local=ns.local, unset=ns.unset))

    a = rsub.add_parser("default", help="show or set the default remote")
    a.add_argument("--local", action="store_true", help="set it for this clone only")
    a.add_argument("--unset", action="store_true", help="no default remote")
    a.add_argument("name", nargs="?")
    a.set_defaults(func=lambda ns: cmd_remote_default(name=ns.name, local=ns.local,
                                                      unset=ns.unset))

    a = rsub.add_parser("status", help="what push and fetch would move")
    a.add_argument("name", nargs="?")
    _selection_args(a, paths=False)
    a.set_defaults(func=lambda ns: cmd_remote_status(name=ns.name, revs=ns.rev,
                                                     all_commits=ns.all_commits))

    for verb, text in (("push", "upload the data the selected commits need"),
                       ("fetch", "download the data the selected commits need into the cache"),
                       ("pull", "fetch, then fill in files left as pointers")):
        a = sub.add_parser(verb, help=text)
        a.add_argument("-r", "--remote", help="remote name (default: core.remote)")
        a.add_argument("-j", "--jobs", type=int, help="parallel transfers")
        _selection_args(a, paths=True)
        a.set_defaults(func=_transfer_func(verb))

    a = sub.add_parser("gc", help="delete cached (or remote) objects nothing needs")
    mode = a.add_mutually_exclusive_group(required=True)
    mode.add_argument("-w", "--workspace", action="store_true",
                      help="keep what worktrees, indexes, stashes and unpushed commits need")
    mode.add_argument("-a", "--all-commits", action="store_true",
                      help="keep what any commit of any ref needs")
    a.add_argument("--remote", nargs="?", const="", default=None, metavar="NAME",
                   help="collect on a remote (default remote if no NAME) instead of the cache")
    a.add_argument("-n", "--dry-run", action="store_true", help="list what would go")
    a.add_argument("-y", "--yes", action="store_true",
                   help="really delete from a remote (without it, --remote is a dry run)")
    a.add_argument("-j", "--jobs", type=int, help="parallel deletes on a remote")
    a.add_argument("--expire", metavar="WHEN",
                   help="keep unreferenced objects written within this grace period "
                        "(default: config gc.expire, else 1.hour; 'now' keeps none, 'never' "
                        "all)")
    a.set_defaults(func=lambda ns: cmd_gc(all_commits=ns.all_commits, remote=ns.remote,
                                          dry_run=ns.dry_run, yes=ns.yes, jobs=ns.jobs,
                                          expire=ns.expire))


def _selection_args(a: Any, *, paths: bool) -> None:
    g = a.add_mutually_exclusive_group()
    g.add_argument("--all-commits", action="store_true", help="every commit of every ref")
    g.add_argument("--rev", action="append", metavar="REV",
                   help="this revision (repeatable; default HEAD)")
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
        return cmd_transfer(verb=verb, remote=ns.remote, jobs=ns.jobs, revs=ns.rev,
                            all_commits=ns.all_commits,
                            include=[*ns.include, *(_literal(p) for p in ns.paths)],
                            exclude=ns.exclude, run_cache=ns.run_cache)
    return run


# -- config editing ---------------------------------------------------------------------------

def _repo() -> Any:
    from gitext.git.repo import Repo

    return Repo.discover()


def _project_file(repo: Any) -> Path:
    from gitext.config import PROJECT_CONFIG

    path: Path = repo.root / PROJECT_CONFIG
    return path


def _git_config(repo: Any, args: list[str], *, file: Path | None, check: bool = True) -> int:
    from gitext.git.repo import run_git

    cmd = ["config"]
    if file is not None:
        from gitext.fs.worktree import WorkTree, require_no_symlink

        require_no_symlink(repo.root, file)  # git config -f would write through a link
        with WorkTree(repo.root) as wt:
            wt.makedirs(file.parent.relative_to(repo.root).as_posix())
        cmd += ["-f", os.fspath(file)]
    proc = run_git([*cmd, *args], cwd=repo.root, check=False)
    if check and proc.returncode not in (0, 5):  # 5: unsetting something that is not set
        from gitext.errors import ConfigError

        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        where = os.fspath(file) if file is not None else "the clone's git config"
        raise ConfigError(f"cannot update {where}: {err[-1] if err else proc.returncode}")
    return proc.returncode


def _section(name: str, *, local: bool) -> str:
    return f"archives.remote.{name}" if local else f"remote.{name}"


def cmd_remote_add(*, name: str, url: str, default: bool, force: bool, local: bool) -> int:
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.remotes import check_name, check_url, remote_names

    check_name(name)
    check_url(url)
    repo = _repo()
    cfg = Config.load(repo.root)
    if name in remote_names(cfg) and not force:
        raise UsageError(f"a remote named '{name}' already exists",
                         hint=f"git archives remote modify {shell_arg(name)} url {shell_arg(url)}  "
                              "(or add --force)")
    file = None if local else _project_file(repo)
    _git_config(repo, ["--replace-all", f"{_section(name, local=local)}.url", url], file=file)
    if not local:
        _confirm_locally(repo, name, "url", url)
    where = "this clone's git config" if local else ".archives/config"
    print(f"added remote '{name}' -> {url} ({where})")
    if default:
        cmd_remote_default(name=name, local=local, unset=False)
    elif not cfg.get("core.remote") and not remote_names(cfg):
        print(f"hint: make it the default with: git archives remote default {shell_arg(name)}",
              file=sys.stderr)
    return 0


def _confirm_locally(repo: Any, name: str, key: str, value: str | None) -> None:
    """A directory URL or an endpoint this user writes into the committed file is also
    recorded in the clone's git config: the user chose it, so this clone uses it (a clone
    of the repository must confirm it itself; docs/remotes.md, "Trust")."""
    from gitext.remotes import url_scheme

    full = f"archives.remote.{name}.{key}"
    if key == "endpointurl" or (key == "url" and value is not None
                                and url_scheme(value) in ("", "file")):
        if value is None:
            _git_config(repo, ["--unset-all", full], file=None)
        else:
            _git_config(repo, ["--replace-all", full, value], file=None)
    elif key == "url":  # an s3:// URL needs no confirmation: drop an older local directory
        _git_config(repo, ["--unset-all", full], file=None)


def _unconfirmed(cfg: Any, name: str, key: str) -> str:
    """A note for a directory URL or an endpoint only the committed file chose: it is not
    used until confirmed ('remote modify --local NAME KEY VALUE')."""
    from gitext.remotes import url_scheme
    from gitext.remotes.trust import is_aws_s3_endpoint

    value = cfg.get(f"remote.{name}.{key}") or ""
    if cfg.is_local(f"remote.{name}.{key}") or not value:
        return ""
    if key == "endpointurl" and cfg.get(f"remote.{name}.unsigned") is not None:
        return "  (from .archives/config: anonymous requests only, 'unsigned' is set)"
    if (key == "url" and url_scheme(value) in ("", "file")) or (
            key == "endpointurl" and not is_aws_s3_endpoint(value)):
        return "  (from .archives/config, not confirmed: not used)"
    return ""


def _redact(key: str, value: str) -> str:
    from gitext.config import SECRET_WORDS

    return "****" if any(w in key for w in SECRET_WORDS) else value


def cmd_remote_list(*, verbose: bool) -> int:
    from gitext.config import Config
    from gitext.remotes import default_remote_name, remote_names
    from gitext.remotes.trust import shown

    repo = _repo()
    cfg = Config.load(repo.root)
    default = default_remote_name(cfg)
    names = remote_names(cfg)
    if not names:
        print("no data remotes; add one with 'git archives remote add -d NAME URL'",
              file=sys.stderr)
        return 0
    for name in names:
        opts = cfg.section(f"remote.{name}")
        mark = " (default)" if name == default else ""
        print(f"{name}\t{shown(opts.get('url', ''))}{mark}{_unconfirmed(cfg, name, 'url')}")
        if verbose:
            for key in sorted(opts):
                if key != "url":
                    print(f"\t{key} = {shown(_redact(key, opts[key]))}"
                          f"{_unconfirmed(cfg, name, key)}")
    return 0


def cmd_remote_remove(*, name: str) -> int:
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.remotes import default_remote_name, remote_names

    repo = _repo()
    cfg = Config.load(repo.root)
    if name not in remote_names(cfg):
        raise UsageError(f"no remote named '{name}'", hint="see 'git archives remote list'")
    project = _project_file(repo)
    if project.is_file():
        _git_config(repo, ["--remove-section", f"remote.{name}"], file=project, check=False)
    _git_config(repo, ["--remove-section", f"archives.remote.{name}"], file=None, check=False)
    if default_remote_name(cfg) == name:
        if project.is_file():
            _git_config(repo, ["--unset", "core.remote"], file=project)
        _git_config(repo, ["--unset", "archives.core.remote"], file=None)
    print(f"removed remote '{name}' (the data it holds was not touched)")
    return 0


def cmd_remote_modify(*, name: str, key: str, value: str | None, local: bool,
                      unset: bool) -> int:
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.remotes import check_url, remote_names
    from gitext.remotes.backend import COMMITTED_OPTIONS, PRIVATE_OPTIONS, SECRET_OPTIONS

    repo = _repo()
    key = key.lower()
    cfg = Config.load(repo.root)
    if name not in remote_names(cfg):
        if not local:
            raise UsageError(f"no remote named '{display(name)}'",
                             hint=f"git archives remote add {shell_arg(name)} URL")
        # A clone confirms a committed remote before checking it out (clone --no-checkout,
        # then checkout): the setting waits in its git config for the committed file.
        print(f"note: no remote named '{display(name)}' yet; this clone's setting applies "
              "once one is configured", file=sys.stderr)
    known = COMMITTED_OPTIONS | PRIVATE_OPTIONS | SECRET_OPTIONS
    if key not in known:
        raise UsageError(f"unknown remote option '{key}'",
                         hint="options: " + ", ".join(sorted(known)))
    if key in SECRET_OPTIONS and not local:
        raise UsageError(f"'{key}' is a secret and would be committed",
                         hint="add --local to keep it in this clone's git config, or better "
                              "use the standard credential chain (AWS_PROFILE, ~/.aws)")
    if key in PRIVATE_OPTIONS and not local:
        local = True
        print(f"note: '{key}' is private to this clone: written to its git config",
              file=sys.stderr)
    if not unset and value is None:
        raise UsageError(f"no value given for '{key}'", hint="or use --unset")
    if key == "url" and value is not None:
        check_url(value)
    if key in ("endpointurl",) and value and "@" in value.split("://", 1)[-1].split("/", 1)[0]:
        raise UsageError("endpointurl carries credentials (user@host)",
                         hint="drop them; use the standard credential chain")
    file = None if local else _project_file(repo)
    full = f"{_section(name, local=local)}.{key}"
    if unset:
        _git_config(repo, ["--unset-all", full], file=file)
    else:
        assert value is not None
        _git_config(repo, ["--replace-all", full, value], file=file)
    if not local and key in ("url", "endpointurl"):
        _confirm_locally(repo, name, key, None if unset else value)
    shown = _redact(key, value or "")
    print(f"remote '{name}': {key} {'unset' if unset else '= ' + shown}"
          f" ({'this clone' if local else '.archives/config'})")
    return 0


def cmd_remote_default(*, name: str | None, local: bool, unset: bool) -> int:
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.remotes import check_name, default_remote_name, remote_names

    repo = _repo()
    cfg = Config.load(repo.root)
    file = None if local else _project_file(repo)
    key = "archives.core.remote" if local else "core.remote"
    if unset:
        _git_config(repo, ["--unset", key], file=file)
        print("default remote unset")
        return 0
    if name is None:
        current = default_remote_name(cfg)
        if current is None:
            print("no default remote", file=sys.stderr)
            return 1
        print(current)
        return 0
    check_name(name)
    if name not in remote_names(cfg):
        raise UsageError(f"no remote named '{display(name)}'",
                         hint=f"git archives remote add {shell_arg(name)} URL")
    _git_config(repo, ["--replace-all", key, name], file=file)
    print(f"default remote: {name}")
    return 0


def cmd_remote_status(*, name: str | None, revs: list[str] | None, all_commits: bool) -> int:
    from gitext.sync import transfer

    repo = _repo()
    for line in transfer.remote_status_lines(repo, name, revs=revs, all_commits=all_commits):
        print(line)
    return 0


# -- transfers --------------------------------------------------------------------------------

def cmd_transfer(*, verb: str, remote: str | None, jobs: int | None, revs: list[str] | None,
                 all_commits: bool, include: list[str], exclude: list[str],
                 run_cache: bool) -> int:
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.progress import Progress
    from gitext.remotes import open_remote
    from gitext.store.objects import LocalStore
    from gitext.sync import transfer

    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    repo = _repo()
    root = repo.root
    # Paths given relative to the current folder become repository-relative patterns.
    include = [_repo_relative(p, root) for p in include]
    store = LocalStore(repo.archives_dir)
    refs = transfer.find_references(repo, revs, all_commits=all_commits, include=include,
                                    exclude=exclude, store=store)
    cfg = Config.load(root)
    rem = open_remote(cfg, remote, root=root)
    # pull: pointer files are written as their objects arrive (see _fill_work_tree); the
    # filler holds index.lock until it is finished, and is always released here.
    filler = transfer.InPlaceFill(repo, store, _literal_paths(include), jobs=jobs,
                                  direct=cfg.get_bool("core.directio", True)) \
        if verb == "pull" else None
    try:
        try:
            if verb == "push":
                bar = Progress("push", _total_size(store, refs), len(refs.objects))
                try:
                    report = transfer.push(repo, rem, refs, jobs=jobs, progress=bar,
                                           store=store)
                finally:
                    bar.close()
            else:
                wanted = [o for o in refs.objects if not store.has(o)]
                if filler is not None:
                    filler.start()
                bar = Progress(verb, sum(refs.sizes.get(o, 0) for o in wanted), len(wanted))
                try:
                    report = transfer.fetch(repo, rem, refs, jobs=jobs, progress=bar,
                                            store=store, include=include, exclude=exclude,
                                            on_object=filler.object_ready if filler else None)
                finally:
                    bar.close()
            runs = None
            if run_cache:
                if verb == "push":
                    runs = transfer.push_run_cache(repo, rem, jobs=jobs, store=store)
                else:
                    runs = transfer.fetch_run_cache(repo, rem, jobs=jobs, store=store)
        finally:
            rem.close()
        print(f"{verb}: {report.summary()} [{rem.name}: {rem.url}]")
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


def _literal(path: str) -> str:
    """A path named on the command line (relative to the current folder), as a literal
    selection relative to the repository's top."""
    import os

    from gitext.sync.transfer import LITERAL

    top = _repo().root
    rel = os.path.relpath(os.path.abspath(path), top)
    return LITERAL + ("" if rel == "." else rel.replace(os.sep, "/"))


def _literal_paths(include: list[str]) -> list[str] | None:
    """The selections git can take as pathspecs for the in-place fill (glob patterns are
    left to the filter that runs afterwards)."""
    from gitext.sync.transfer import LITERAL

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
    """After a pull: replace pointer files whose content arrived; restore pipeline outputs.
    With --include/--exclude, outputs outside the selection are not reported as missing,
    and a directory fetched in part is said to be partial (it is not restored: the
    pipeline only places a directory whose every file is cached)."""
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
    from gitext.pipeline import checkout

    report = checkout.checkout_outputs(repo.root, archives_dir=repo.archives_dir)
    if report.restored:
        print(f"pull: {len(report.restored)} pipeline output(s) restored")
    for path, why in report.conflicts:
        print(f"pull: kept {display(path)}: {why}", file=sys.stderr)
    for path, why in report.refused:
        print(f"pull: refused to restore {display(path)}: {why}", file=sys.stderr)
        code = 1
    missing = list(report.missing)
    if include or exclude:
        from gitext.sync.transfer import PathFilter

        keep = PathFilter(include, exclude)
        wanted = [p for p in missing if keep(p)]
        outside = [p for p in missing if not keep(p)]
        if outside:
            print(f"pull: {len(outside)} pipeline output(s) outside the selection or only "
                  "partly in it (a folder is restored only once all its files are "
                  "cached), left as they were: " + ", ".join(outside[:5]), file=sys.stderr)
        missing = wanted
    if missing:
        print(f"pull: {len(missing)} pipeline output(s) not on the remote: "
              + ", ".join(missing[:5]), file=sys.stderr)
        code = 1
    return code


# -- gc ---------------------------------------------------------------------------------------

def cmd_gc(*, all_commits: bool, remote: str | None, dry_run: bool, yes: bool,
           jobs: int | None, expire: str | None = None) -> int:
    from gitext.config import Config, format_size
    from gitext.remotes import open_remote
    from gitext.sync import transfer

    repo = _repo()
    cfg = Config.load(repo.root)
    if expire is not None:
        grace = transfer.parse_expire(expire)
    else:
        configured = cfg.get("gc.expire")
        grace = transfer.parse_expire(configured or transfer.DEFAULT_GC_EXPIRE,
                                      where="config gc.expire")
    rem = None
    if remote is not None:
        rem = open_remote(cfg, remote or None, root=repo.root)
    try:
        plan = transfer.plan_gc(repo, all_commits=all_commits, remote=rem, expire=grace)
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
        if not real and rem is not None and not dry_run:
            print("gc: nothing deleted on the remote: re-run with --yes to delete",
                  file=sys.stderr)
        if real and plan.doomed:
            transfer.apply_gc(repo, plan, remote=rem, jobs=jobs)
    finally:
        if rem is not None:
            rem.close()
    return 0


def _span(seconds: float) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds / size
            text = f"{n:g}" if n == int(n) else f"{n:.1f}"
            return f"{text} {unit}{'' if n == 1 else 's'}"
    return f"{seconds:g} s"
