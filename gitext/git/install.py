"""Wiring a clone (or the user's git config) for git-archives, and undoing it exactly.

``install`` records what it changed in ``<git common dir>/archives/install.json`` — the
config values it replaced, the user's hooks it moved aside — so ``uninstall`` restores
precisely what was there. A user's hook is never overwritten: it is renamed to
``<hook>.pre-archives`` and our shim runs it first.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec.shellquote import display, shell_arg
from gitext.errors import ArchivesError
from gitext.git.repo import Repo, config_get, run_git

SHIM_MARKER = "git-archives-hook-shim v1"
HOOK_NAMES = ("pre-commit", "post-checkout", "post-merge", "pre-push", "reference-transaction")
CHAINED_SUFFIX = ".pre-archives"
NB_ATTRIBUTES = "*.ipynb filter=archives-nb diff=archives-nb"
ATTR_MARKER = "# git-archives: notebooks (added by 'git archives install')"

SHIM_TEMPLATE = """#!/bin/sh
# {marker}: '{hook}' hook installed by 'git archives install'.
# 'git archives uninstall' removes it and puts back any hook that was here before
# (kept meanwhile as '{hook}{chained}', which runs first).
here=$(dirname "$0")
{guard}bin=git-archives
if ! command -v "$bin" >/dev/null 2>&1; then
  bin="{fallback}"
  if [ ! -x "$bin" ]; then
    echo "git-archives: not found on PATH, so the '{hook}' hook cannot run." >&2
    echo "hint: run install.sh to install it, or 'git archives uninstall' to stop using it." >&2
    exit {missing_code}
  fi
fi
{body}
"""

_BODY_PLAIN = """if [ -x "$here/{hook}{chained}" ]; then
  "$here/{hook}{chained}" "$@" || exit $?
fi
exec "$bin" hook {hook} "$@\""""

# pre-push's stdin (the refs being pushed) must reach both the chained hook and ours.
_BODY_STDIN = """input=$(cat)
if [ -x "$here/{hook}{chained}" ]; then
  printf '%s\\n' "$input" | "$here/{hook}{chained}" "$@" || exit $?
fi
printf '%s\\n' "$input" | "$bin" hook {hook} "$@\""""


# reference-transaction runs for every ref update (three times per commit): the shell
# decides, without starting Python, whether a fetch moved remote-tracking refs — the moment
# before 'git pull' merges, when notebooks with output-only changes must be re-registered.
_REFTX_TEMPLATE = """#!/bin/sh
# {marker}: '{hook}' hook installed by 'git archives install'.
# 'git archives uninstall' removes it and puts back any hook that was here before
# (kept meanwhile as '{hook}{chained}', which runs first).
here=$(dirname "$0")
input=$(cat)
if [ -x "$here/{hook}{chained}" ]; then
  printf '%s\\n' "$input" | "$here/{hook}{chained}" "$@" || exit $?
fi
[ "$1" = committed ] || exit 0
case "$input" in
  *" refs/remotes/"*) ;;
  *) exit 0 ;;
esac
{guard}bin=git-archives
if ! command -v "$bin" >/dev/null 2>&1; then
  bin="{fallback}"
  [ -x "$bin" ] || exit 0
fi
exec "$bin" hook {hook} "$@" </dev/null
"""


# A shim in a hooks folder shared by every repository (a global core.hooksPath) acts only in
# clones set up with 'git archives install' (their install record exists); elsewhere only
# the user's own hook runs, exactly as before git-archives.
_GUARD = """gd=$(git rev-parse --git-common-dir 2>/dev/null)
if [ ! -f "$gd/archives/install.json" ]; then
  if [ -x "$here/{hook}{chained}" ]; then exec "$here/{hook}{chained}" "$@"; fi
  exit 0
fi
"""
# reference-transaction has already run the user's hook (it must read stdin first).
_GUARD_REFTX = """gd=$(git rev-parse --git-common-dir 2>/dev/null)
[ -f "$gd/archives/install.json" ] || exit 0
"""


def render_shim(hook: str, fallback: str, *, shared: bool = False) -> str:
    """The shim for ``hook``; ``shared`` for a folder every repository uses."""
    if hook == "reference-transaction":
        return _REFTX_TEMPLATE.format(marker=SHIM_MARKER, hook=hook, chained=CHAINED_SUFFIX,
                                      fallback=fallback, guard=_GUARD_REFTX if shared else "")
    body = (_BODY_STDIN if hook == "pre-push" else _BODY_PLAIN).format(
        hook=hook, chained=CHAINED_SUFFIX)
    guard = _GUARD.format(hook=hook, chained=CHAINED_SUFFIX) if shared else ""
    # Without the tool a push would leave the data behind: refuse it. Other hooks warn only.
    missing_code = 1 if hook == "pre-push" else 0
    return SHIM_TEMPLATE.format(marker=SHIM_MARKER, hook=hook, chained=CHAINED_SUFFIX,
                                fallback=fallback, body=body, missing_code=missing_code,
                                guard=guard)


def executable_command() -> str:
    """How git should run us: the bare name when PATH finds this very executable."""
    me = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("git-archives")
    if found and (me is None or me.name != "git-archives" or Path(found).resolve() == me):
        return "git-archives"
    if me is not None and me.name == "git-archives" and me.is_file():
        return str(me)
    return found or "git-archives"


def _quote(cmd: str) -> str:
    return f'"{cmd}"' if " " in cmd else cmd


def desired_config() -> dict[str, str]:
    exe = _quote(executable_command())
    return {
        "filter.archives.process": f"{exe} filter-process",
        "filter.archives.required": "true",
        "filter.archives-nb.process": f"{exe} filter-process --notebooks",
        "filter.archives-nb.required": "true",
        "diff.archives-nb.textconv": f"{exe} nb textconv",
    }


@dataclass
class Manifest:
    config: dict[str, str | None] = field(default_factory=dict)  # key → value before us
    hooks: dict[str, bool] = field(default_factory=dict)  # hook path → had a user hook
    attributes_file: str | None = None
    shims: dict[str, str] = field(default_factory=dict)  # hook path → sha256 of what we wrote

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
                   raw.get("shims", {}))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"config": self.config, "hooks": self.hooks,
                                   "attributes_file": self.attributes_file,
                                   "shims": self.shims}, indent=1))
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


def _where(repo: Repo | None, global_: bool) -> tuple[list[str], Path | None, Path]:
    if global_:
        return ["--global"], None, global_manifest_path()
    if repo is None:
        raise ArchivesError("not inside a git repository",
                            hint="cd into a clone, or use 'git archives install --global'")
    return ["--local"], repo.worktree or repo.git_dir, repo.archives_dir / "install.json"


def install(repo: Repo | None, *, global_: bool = False, hooks: bool = True,
            notebooks: bool = True) -> InstallReport:
    report = InstallReport()
    scope, cwd, mpath = _where(repo, global_)
    manifest = Manifest.load(mpath)
    for key, value in desired_config().items():
        current = config_get(key, cwd=cwd, options=scope)
        if key not in manifest.config:
            manifest.config[key] = current  # what to restore on uninstall
        if current != value:
            run_git(["config", *scope, key, value], cwd=cwd)
            report.lines.append(f"set {key} = {value}")
    manifest.save(mpath)  # record before touching hooks: a crash leaves a usable record
    if global_:
        if hooks:
            _install_global_hooks(manifest, report)
    elif repo is not None:
        if notebooks:
            _install_attributes(repo, manifest, report)
        if hooks:
            _install_clone_hooks(repo, manifest, report)
    manifest.save(mpath)
    return report


def _install_attributes(repo: Repo, manifest: Manifest, report: InstallReport) -> None:
    info = repo.common_dir / "info" / "attributes"
    text = info.read_text() if info.exists() else ""
    if NB_ATTRIBUTES in text.splitlines():
        return
    info.parent.mkdir(parents=True, exist_ok=True)
    sep = "" if not text or text.endswith("\n") else "\n"
    info.write_text(f"{text}{sep}{ATTR_MARKER}\n{NB_ATTRIBUTES}\n")
    manifest.attributes_file = str(info)
    report.lines.append(f"notebooks: '{NB_ATTRIBUTES}' in {info}")


def is_our_shim(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return SHIM_MARKER.encode() in f.read(400)
    except OSError:
        return False


def is_shared_shim(path: Path) -> bool:
    """Our shim, written for a folder every repository uses (it checks the clone first)."""
    try:
        return is_our_shim(path) and b"archives/install.json" in path.read_bytes()
    except OSError:
        return False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shim_edited(path: Path, manifest: Manifest) -> bool:
    """True if our shim at ``path`` is no longer what we wrote (the user changed it)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    recorded = manifest.shims.get(str(path))
    if recorded is not None:
        return _digest(data) != recorded
    # No record (an older install): compare with what we would have written then.
    found = re.search(rb'^  bin="(.*)"$', data, re.MULTILINE)
    if found is None:
        return True
    fallback = found.group(1).decode("utf-8", "surrogateescape")
    return all(data != render_shim(path.name, fallback, shared=s).encode("utf-8",
                                                                         "surrogateescape")
               for s in (False, True))


def _install_clone_hooks(repo: Repo, manifest: Manifest, report: InstallReport) -> None:
    shared = shared_hooks_dir(repo)
    if shared is None:
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
            report.lines.append(f"hook {name}: your hook is kept as {chained.name} "
                                "and still runs first")
        elif path.exists() and shim_edited(path, manifest):
            report.lines.append(f"hook {name}: kept {display(str(path))}: you changed it "
                                "since it was installed (delete it and run install again to "
                                "get ours)")
            continue
        manifest.hooks.setdefault(str(path), False)
        shim = render_shim(name, fallback, shared=shared)
        manifest.shims[str(path)] = _digest(shim.encode("utf-8", "surrogateescape"))
        if not path.exists() or path.read_text() != shim:
            tmp = path.with_name(f".{name}.tmp")
            tmp.write_text(shim)
            os.chmod(tmp, 0o755)  # noqa: S103 - a hook must be executable by its owner's git
            os.replace(tmp, path)
            report.lines.append(f"hook {name}: installed in {display(str(hooks_dir))}")


def uninstall(repo: Repo | None, *, global_: bool = False) -> InstallReport:
    report = InstallReport()
    scope, cwd, mpath = _where(repo, global_)
    manifest = Manifest.load(mpath)
    ours = desired_config()
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
    for section in ("filter.archives", "filter.archives-nb", "diff.archives-nb"):
        # Drop the section header git leaves behind when its last key goes.
        run_git(["config", *scope, "--remove-section", section], cwd=cwd, check=False) \
            if _section_empty(scope, section, cwd) else None
    if global_:
        _uninstall_hooks(_recorded_hooks(manifest), manifest, report)
    elif repo is not None:
        _uninstall_hooks(_clone_hooks(repo, manifest), manifest, report)
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


def _uninstall_attributes(repo: Repo, report: InstallReport) -> None:
    info = repo.common_dir / "info" / "attributes"
    if not info.exists():
        return
    lines = info.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if ln.rstrip("\n") not in (ATTR_MARKER, NB_ATTRIBUTES)]
    if kept != lines:
        info.write_text("".join(kept))
        report.lines.append(f"notebooks: attributes removed from {info}")
