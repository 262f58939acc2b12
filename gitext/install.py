"""Wiring a clone (or the user's git config) for git-archives, and undoing it exactly.

``install`` records what it changed in ``<git common dir>/archives/install.json`` — the
config values it replaced, the user's hooks it moved aside — so ``uninstall`` restores
precisely what was there. A user's hook is never overwritten: it is renamed to
``<hook>.pre-archives`` and our shim runs it first.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gitext.errors import ArchivesError
from gitext.gitrepo import Repo, run_git

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
bin=git-archives
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
bin=git-archives
if ! command -v "$bin" >/dev/null 2>&1; then
  bin="{fallback}"
  [ -x "$bin" ] || exit 0
fi
exec "$bin" hook {hook} "$@" </dev/null
"""


def render_shim(hook: str, fallback: str) -> str:
    if hook == "reference-transaction":
        return _REFTX_TEMPLATE.format(marker=SHIM_MARKER, hook=hook, chained=CHAINED_SUFFIX,
                                      fallback=fallback)
    body = (_BODY_STDIN if hook == "pre-push" else _BODY_PLAIN).format(
        hook=hook, chained=CHAINED_SUFFIX)
    # Without the tool a push would leave the data behind: refuse it. Other hooks warn only.
    missing_code = 1 if hook == "pre-push" else 0
    return SHIM_TEMPLATE.format(marker=SHIM_MARKER, hook=hook, chained=CHAINED_SUFFIX,
                                fallback=fallback, body=body, missing_code=missing_code)


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

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise ArchivesError(f"{path}: unreadable install record ({exc})",
                                hint="delete it and run 'git archives install' again") from exc
        return cls(raw.get("config", {}), raw.get("hooks", {}), raw.get("attributes_file"))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"config": self.config, "hooks": self.hooks,
                                   "attributes_file": self.attributes_file}, indent=1))
        os.replace(tmp, path)


def _config_get(scope: list[str], key: str, cwd: Path | None) -> str | None:
    proc = run_git(["config", *scope, "--get", key], cwd=cwd, check=False)
    return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n") \
        if proc.returncode == 0 else None


def global_manifest_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "git-archives" / "global-install.json"


@dataclass
class InstallReport:
    lines: list[str] = field(default_factory=list)


def install(repo: Repo | None, *, global_: bool = False, hooks: bool = True,
            notebooks: bool = True) -> InstallReport:
    report = InstallReport()
    if global_:
        scope, cwd, mpath = ["--global"], None, global_manifest_path()
    else:
        if repo is None:
            raise ArchivesError("not inside a git repository",
                                hint="cd into a clone, or use 'git archives install --global'")
        scope, cwd, mpath = ["--local"], repo.worktree or repo.git_dir, \
            repo.archives_dir / "install.json"
    manifest = Manifest.load(mpath)
    for key, value in desired_config().items():
        current = _config_get(scope, key, cwd)
        if key not in manifest.config:
            manifest.config[key] = current  # what to restore on uninstall
        if current != value:
            run_git(["config", *scope, key, value], cwd=cwd)
            report.lines.append(f"set {key} = {value}")
    manifest.save(mpath)  # record before touching hooks: a crash leaves a usable record
    if not global_ and repo is not None:
        if notebooks:
            _install_attributes(repo, manifest, report)
        if hooks:
            _install_hooks(repo, manifest, report)
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


def _install_hooks(repo: Repo, manifest: Manifest, report: InstallReport) -> None:
    hooks_dir = repo.hooks_dir()
    hooks_dir.mkdir(parents=True, exist_ok=True)
    fallback = str(Path(sys.argv[0]).resolve()) if sys.argv and sys.argv[0] else "git-archives"
    for name in HOOK_NAMES:
        path = hooks_dir / name
        chained = hooks_dir / (name + CHAINED_SUFFIX)
        if (path.exists() or path.is_symlink()) and not is_our_shim(path):
            if chained.exists():
                raise ArchivesError(
                    f"{path} is not ours and {chained.name} already exists: "
                    "refusing to overwrite either",
                    hint=f"merge them by hand, or remove {chained}, then run install again",
                )
            os.replace(path, chained)
            manifest.hooks[str(path)] = True
            report.lines.append(f"hook {name}: your hook is kept as {chained.name} "
                                "and still runs first")
        manifest.hooks.setdefault(str(path), False)
        shim = render_shim(name, fallback)
        if not path.exists() or path.read_text() != shim:
            tmp = path.with_name(f".{name}.tmp")
            tmp.write_text(shim)
            os.chmod(tmp, 0o755)  # noqa: S103 - a hook must be executable by its owner's git
            os.replace(tmp, path)
            report.lines.append(f"hook {name}: installed in {hooks_dir}")


def uninstall(repo: Repo | None, *, global_: bool = False) -> InstallReport:
    report = InstallReport()
    if global_:
        scope, cwd, mpath = ["--global"], None, global_manifest_path()
    else:
        if repo is None:
            raise ArchivesError("not inside a git repository", hint="cd into a clone")
        scope, cwd, mpath = ["--local"], repo.worktree or repo.git_dir, \
            repo.archives_dir / "install.json"
    manifest = Manifest.load(mpath)
    ours = desired_config()
    for key in ours:
        before = manifest.config.get(key)
        current = _config_get(scope, key, cwd)
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
    if not global_ and repo is not None:
        _uninstall_hooks(repo, manifest, report)
        _uninstall_attributes(repo, report)
    if mpath.exists():
        mpath.unlink()
    return report


def _section_empty(scope: list[str], section: str, cwd: Path | None) -> bool:
    proc = run_git(["config", *scope, "--get-regexp", "^" + section.replace(".", r"\.") + r"\."],
                   cwd=cwd, check=False)
    return proc.returncode != 0 or not proc.stdout.strip()


def _uninstall_hooks(repo: Repo, manifest: Manifest, report: InstallReport) -> None:
    hooks_dir = repo.hooks_dir()
    for name in HOOK_NAMES:
        path = hooks_dir / name
        chained = hooks_dir / (name + CHAINED_SUFFIX)
        if path.exists() and is_our_shim(path):
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


def make_executable(path: Path) -> None:
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
