"""``git archives remote``: add, list, change or remove data remotes (their config).

Only the standard library at module level; the features are imported inside each command.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display, shell_arg
from gitext.commands.transfer import selection_args


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
    selection_args(a, paths=False)
    a.set_defaults(func=lambda ns: cmd_remote_status(name=ns.name, revs=ns.rev,
                                                     all_commits=ns.all_commits))


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
    """A directory, http(s) or ssh URL or an endpoint this user writes into the committed
    file is also recorded in the clone's git config: the user chose it, so this clone uses
    it (with the user's credentials, for http; keys and agent, for ssh) while a clone of the
    repository must confirm it itself (docs/remotes.md, "Trust")."""
    from gitext.remotekinds import url_scheme

    full = f"archives.remote.{name}.{key}"
    chosen_here = ("", "file", "http", "https", "ssh", "sftp")
    if key == "endpointurl" or (key == "url" and value is not None
                                and url_scheme(value) in chosen_here):
        if value is None:
            _git_config(repo, ["--unset-all", full], file=None)
        else:
            _git_config(repo, ["--replace-all", full, value], file=None)
    elif key == "url":  # an s3:// URL needs no confirmation: drop an older local directory
        _git_config(repo, ["--unset-all", full], file=None)


def _unconfirmed(cfg: Any, name: str, key: str) -> str:
    """A note for a directory URL or an endpoint only the committed file chose: it is not
    used until confirmed ('remote modify --local NAME KEY VALUE')."""
    from gitext.remotekinds import url_scheme
    from gitext.remotes.trust import is_aws_s3_endpoint

    value = cfg.get(f"remote.{name}.{key}") or ""
    if cfg.is_local(f"remote.{name}.{key}") or not value:
        return ""
    where = cfg.source(f"remote.{name}.{key}") or ".archives/config"
    if key == "endpointurl" and cfg.get(f"remote.{name}.unsigned") is not None:
        return f"  (from {where}: anonymous requests only, 'unsigned' is set)"
    if (key == "url" and url_scheme(value) in ("", "file", "ssh", "sftp")) or (
            key == "endpointurl" and not is_aws_s3_endpoint(value)):
        return f"  (from {where}, not confirmed: not used)"
    if key == "url" and url_scheme(value) in ("http", "https"):
        return f"  (from {where}, not confirmed: read anonymously)"
    return ""


def _origin(cfg: Any, name: str) -> str:
    """Where remote ``name``'s URL is set: a DVC config file, the committed
    ``.archives/config``, or the user's git config."""
    key = f"remote.{name}.url"
    source = cfg.source(key)
    if source is not None:
        return f"DVC: {source}"
    return "git config" if cfg.is_local(key) else ".archives/config"


def _redact(key: str, value: str) -> str:
    from gitext.config import SECRET_WORDS
    from gitext.remotekinds import SECRET_OPTIONS

    return "****" if key in SECRET_OPTIONS or any(w in key for w in SECRET_WORDS) else value


def cmd_remote_list(*, verbose: bool) -> int:
    from gitext.config import Config
    from gitext.remotes import default_remote_name, remote_names
    from gitext.remotes.trust import shown

    repo = _repo()
    cfg = Config.load(repo.root)
    default = default_remote_name(cfg)
    names = remote_names(cfg)
    if not names:
        lfs = _lfs_line(repo.root)
        if lfs:
            print(lfs)
            return 0
        print("no data remotes; add one with 'git archives remote add -d NAME URL'",
              file=sys.stderr)
        return 0
    for name in names:
        opts = cfg.section(f"remote.{name}")
        mark = " (default)" if name == default else ""
        print(f"{name}\t{shown(opts.get('url', ''))}{mark}\t[{shown(_origin(cfg, name))}]"
              f"{_unconfirmed(cfg, name, 'url')}")
        if verbose:
            for key in sorted(opts):
                if key != "url":
                    print(f"\t{key} = {shown(_redact(key, opts[key]))}"
                          f"{_unconfirmed(cfg, name, key)}")
    return 0


def _lfs_line(root: Path) -> str | None:
    """The repository's Git LFS server, the default remote when there is no data remote."""
    from gitext.errors import ArchivesError
    from gitext.remotes.lfsurl import LfsSettings, find_endpoint, redact

    try:
        settings = LfsSettings.load(root)
        if not settings.uses_lfs():
            return None
        endpoint = find_endpoint(settings)
    except ArchivesError as exc:
        return f"lfs\t(the repository's Git LFS server, unusable: {exc.message})"
    return f"lfs\t{redact(endpoint.url)} (default: the Git LFS server, {endpoint.source})"


def cmd_remote_remove(*, name: str) -> int:
    from gitext.config import Config
    from gitext.errors import UsageError
    from gitext.remotes import default_remote_name, remote_names

    repo = _repo()
    cfg = Config.load(repo.root)
    if name not in remote_names(cfg):
        raise UsageError(f"no remote named '{name}'", hint="see 'git archives remote list'")
    source = cfg.source(f"remote.{name}.url")
    if source is not None:
        raise UsageError(f"remote '{display(name)}' is DVC's ({display(source)}); "
                         "git-archives does not edit DVC's config",
                         hint=f"dvc remote remove {shell_arg(name)}")
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
    from gitext.remotekinds import PRIVATE_OPTIONS, SECRET_OPTIONS
    from gitext.remotes import check_url, option_key, remote_names

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
    key = option_key(key, cfg.get(f"remote.{name}.url"), unset=unset)
    if key in SECRET_OPTIONS and not local:
        raise UsageError(f"'{key}' is a secret and would be committed",
                         hint="add --local to keep it in this clone's git config, or better "
                              "use the standard credential chain (AWS_PROFILE, ~/.aws, "
                              "GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_CONNECTION_STRING,"
                              " ~/.ssh, git credential)")
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
    from gitext.sync.prepush import remote_status_lines

    repo = _repo()
    for line in remote_status_lines(repo, name, revs=revs, all_commits=all_commits):
        print(line)
    return 0
