"""``git archives remote|push|fetch|pull|gc``: data remotes and transfers.

Only the standard library at module level; the features are imported inside each command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


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
    a.set_defaults(func=lambda ns: cmd_gc(all_commits=ns.all_commits, remote=ns.remote,
                                          dry_run=ns.dry_run, yes=ns.yes, jobs=ns.jobs))


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
                       help="also the pipeline's run-cache (not supported yet: refused)")
        a.add_argument("paths", nargs="*", help="only these paths (like --include)")


def _transfer_func(verb: str) -> Any:
    def run(ns: Any) -> int:
        return cmd_transfer(verb=verb, remote=ns.remote, jobs=ns.jobs, revs=ns.rev,
                            all_commits=ns.all_commits, include=[*ns.include, *ns.paths],
                            exclude=ns.exclude, run_cache=ns.run_cache)
    return run


# -- config editing ---------------------------------------------------------------------------

def _repo() -> Any:
    from gitext.gitrepo import Repo

    return Repo.discover()


def _project_file(repo: Any) -> Path:
    from gitext.config import PROJECT_CONFIG

    path: Path = repo.root / PROJECT_CONFIG
    return path


def _git_config(repo: Any, args: list[str], *, file: Path | None, check: bool = True) -> int:
    cmd = ["git", "config"]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        cmd += ["-f", os.fspath(file)]
    proc = subprocess.run([*cmd, *args], cwd=repo.root, capture_output=True, check=False)
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
    from gitext.remotes.base import check_name, check_url, remote_names

    check_name(name)
    check_url(url)
    repo = _repo()
    cfg = Config.load(repo.root)
    if name in remote_names(cfg) and not force:
        raise UsageError(f"a remote named '{name}' already exists",
                         hint=f"git archives remote modify {name} url {url}  (or add --force)")
    file = None if local else _project_file(repo)
    _git_config(repo, ["--replace-all", f"{_section(name, local=local)}.url", url], file=file)
    where = "this clone's git config" if local else ".archives/config"
    print(f"added remote '{name}' -> {url} ({where})")
    if default:
        cmd_remote_default(name=name, local=local, unset=False)
    elif not cfg.get("core.remote") and not remote_names(cfg):
        print(f"hint: make it the default with 'git archives remote default {name}'",
              file=sys.stderr)
    return 0


def _redact(key: str, value: str) -> str:
    from gitext.config import SECRET_WORDS

    return "****" if any(w in key for w in SECRET_WORDS) else value


def cmd_remote_list(*, verbose: bool) -> int:
    from gitext.config import Config
    from gitext.remotes.base import default_remote_name, remote_names

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
        print(f"{name}\t{opts.get('url', '')}{mark}")
        if verbose:
            for key in sorted(opts):
                if key != "url":
                    print(f"\t{key} = {_redact(key, opts[key])}")
    return 0


def cmd_remote_remove(*, name: str) -> int:
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.remotes.base import default_remote_name, remote_names

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
    from gitext.remotes.base import (
        COMMITTED_OPTIONS,
        PRIVATE_OPTIONS,
        SECRET_OPTIONS,
        check_url,
        remote_names,
    )

    repo = _repo()
    key = key.lower()
    cfg = Config.load(repo.root)
    if name not in remote_names(cfg):
        raise UsageError(f"no remote named '{name}'", hint=f"git archives remote add {name} URL")
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
    shown = _redact(key, value or "")
    print(f"remote '{name}': {key} {'unset' if unset else '= ' + shown}"
          f" ({'this clone' if local else '.archives/config'})")
    return 0


def cmd_remote_default(*, name: str | None, local: bool, unset: bool) -> int:
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.remotes.base import check_name, default_remote_name, remote_names

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
        raise UsageError(f"no remote named '{name}'", hint=f"git archives remote add {name} URL")
    _git_config(repo, ["--replace-all", key, name], file=file)
    print(f"default remote: {name}")
    return 0


def cmd_remote_status(*, name: str | None, revs: list[str] | None, all_commits: bool) -> int:
    from gitext import transfer

    repo = _repo()
    for line in transfer.remote_status_lines(repo, name, revs=revs, all_commits=all_commits):
        print(line)
    return 0


# -- transfers --------------------------------------------------------------------------------

def cmd_transfer(*, verb: str, remote: str | None, jobs: int | None, revs: list[str] | None,
                 all_commits: bool, include: list[str], exclude: list[str],
                 run_cache: bool) -> int:
    from gitext import transfer
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.progress import Progress
    from gitext.remotes.base import open_remote
    from gitext.store.local import LocalStore

    if run_cache:
        raise UsageError("--run-cache is not supported yet",
                         hint="push/pull without it; outputs named in dvc.lock are included")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    repo = _repo()
    root = repo.root
    # Paths given relative to the current folder become repository-relative patterns.
    include = [_repo_relative(p, root) for p in include]
    store = LocalStore(repo.archives_dir)
    refs = transfer.find_references(repo, revs, all_commits=all_commits, include=include,
                                    exclude=exclude, store=store)
    rem = open_remote(Config.load(root), remote, root=root)
    try:
        if verb == "push":
            bar = Progress("push", _total_size(store, refs), len(refs.objects))
            try:
                report = transfer.push(repo, rem, refs, jobs=jobs, progress=bar, store=store)
            finally:
                bar.close()
        else:
            wanted = [o for o in refs.objects if not store.has(o)]
            bar = Progress(verb, sum(refs.sizes.get(o, 0) for o in wanted), len(wanted))
            try:
                report = transfer.fetch(repo, rem, refs, jobs=jobs, progress=bar, store=store,
                                        include=include, exclude=exclude)
            finally:
                bar.close()
    finally:
        rem.close()
    print(f"{verb}: {report.summary()} [{rem.name}: {rem.url}]")
    for oid in report.corrupt:
        print(f"refused: remote object {oid} does not match its id (not used; the remote "
              "copy is corrupt: push it again from a clone that has it)", file=sys.stderr)
    for oid, why in report.failed[:20]:
        print(f"failed: {oid}: {why}", file=sys.stderr)
    for oid in report.missing[:20]:
        where = "local cache" if verb == "push" else "remote"
        print(f"missing: {oid} is not in the {where}", file=sys.stderr)
    code = 0 if report.ok else 1
    if verb == "pull":
        code = max(code, _fill_work_tree(repo, store, include))
    return code


def _repo_relative(path: str, root: Path) -> str:
    if any(c in path for c in "*?[") or not Path(path).exists():
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


def _fill_work_tree(repo: Any, store: Any, include: list[str]) -> int:
    """After a pull: replace pointer files whose content arrived; restore pipeline outputs."""
    try:
        from gitext.workspace import fill_pointers
    except ImportError:
        print("note: filling the work tree is not available in this build", file=sys.stderr)
        return 0
    paths = [p.lstrip("/") for p in include if not any(c in p for c in "*?[")] or None
    try:
        fill = fill_pointers(repo, store, paths, scan=True)
    except OSError as exc:  # a full disk or a read-only file while writing the work tree
        from gitext.errors import ArchivesError

        raise ArchivesError(
            f"cannot write the work tree: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else ""),
            hint="free disk space, then run 'git archives pull' again (the cache is intact)",
        ) from None
    if fill.filled:
        print(f"pull: {len(fill.filled)} file(s) filled in")
    code = 0
    if getattr(fill, "missing", None):
        print(f"pull: {len(fill.missing)} file(s) still pointers (content not on the remote)",
              file=sys.stderr)
        code = 1
    if getattr(fill, "skipped_modified", None):
        print(f"pull: {len(fill.skipped_modified)} locally modified file(s) left alone",
              file=sys.stderr)
    import importlib

    try:  # written by the pipeline area; absent in a build without it
        checkout = importlib.import_module("gitext.pipeline.checkout")
    except ImportError:
        return code
    report = checkout.checkout_outputs(repo.root, archives_dir=repo.archives_dir)
    if report.restored:
        print(f"pull: {len(report.restored)} pipeline output(s) restored")
    for path, why in report.conflicts:
        print(f"pull: kept {path}: {why}", file=sys.stderr)
    if report.missing:
        print(f"pull: {len(report.missing)} pipeline output(s) not on the remote: "
              + ", ".join(report.missing[:5]), file=sys.stderr)
        code = 1
    return code


# -- gc ---------------------------------------------------------------------------------------

def cmd_gc(*, all_commits: bool, remote: str | None, dry_run: bool, yes: bool,
           jobs: int | None) -> int:
    from gitext import transfer
    from gitext.config import Config, format_size
    from gitext.remotes.base import open_remote

    repo = _repo()
    rem = None
    if remote is not None:
        rem = open_remote(Config.load(repo.root), remote or None, root=repo.root)
    try:
        plan = transfer.plan_gc(repo, all_commits=all_commits, remote=rem)
        where = f"remote '{rem.name}' ({rem.url})" if rem is not None else "the local cache"
        real = not dry_run and (rem is None or yes)
        for key, size in plan.doomed:
            print(f"{'removing' if real else 'would remove'} {key} ({format_size(size)})")
        verb = "removed" if real else "would remove"
        print(f"gc: {verb} {len(plan.doomed)} object(s), {format_size(plan.bytes)} from {where}; "
              f"kept {len(plan.keep)} referenced")
        if not real and rem is not None and not dry_run:
            print("gc: nothing deleted on the remote: re-run with --yes to delete",
                  file=sys.stderr)
        if real and plan.doomed:
            transfer.apply_gc(repo, plan, remote=rem, jobs=jobs)
    finally:
        if rem is not None:
            rem.close()
    return 0
