"""The hook shims ``git archives install`` writes: their text, and telling ours apart.

Each shim carries :data:`SHIM_MARKER`, runs the user's hook it replaced first (kept as
``<hook>.pre-archives``), then ``git archives hook <name>``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SHIM_MARKER = "git-archives-hook-shim v1"
HOOK_NAMES = ("pre-commit", "post-checkout", "post-merge", "pre-push", "reference-transaction")
CHAINED_SUFFIX = ".pre-archives"

SHIM_TEMPLATE = """#!/bin/sh
# {marker}: '{hook}' hook installed by 'git archives install'.
# 'git archives uninstall' removes it and puts back any hook that was here before
# (kept meanwhile as '{hook}{chained}', which runs first).
case $0 in */*) here=${{0%/*}} ;; *) here=. ;; esac  # (no dirname: no fork)
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

# pre-push's stdin (the refs being pushed) must reach both the chained hook and ours;
# with no chained hook, ours reads git's own (no capture: a fork and a pipe less per push).
_BODY_STDIN = """if [ -x "$here/{hook}{chained}" ]; then
  input=$(cat)
  printf '%s\\n' "$input" | "$here/{hook}{chained}" "$@" || exit $?
  printf '%s\\n' "$input" | "$bin" hook {hook} "$@"
  exit $?
fi
exec "$bin" hook {hook} "$@\""""


# reference-transaction runs for every ref update (three times per commit): the shell
# decides, without starting Python, whether a fetch moved remote-tracking refs to commits
# this clone does not have as a branch head — the moment before 'git pull' merges, when
# notebooks with output-only changes must be re-registered. (A push moves them to its own
# heads: no Python start after every push.)
_REFTX_TEMPLATE = """#!/bin/sh
# {marker}: '{hook}' hook installed by 'git archives install'.
# 'git archives uninstall' removes it and puts back any hook that was here before
# (kept meanwhile as '{hook}{chained}', which runs first).
case $0 in */*) here=${{0%/*}} ;; *) here=. ;; esac  # (no dirname: no fork)
input=$(cat)
if [ -x "$here/{hook}{chained}" ]; then
  printf '%s\\n' "$input" | "$here/{hook}{chained}" "$@" || exit $?
fi
[ "$1" = committed ] || exit 0
case "$input" in
  *" refs/remotes/"*) ;;
  *) exit 0 ;;
esac
{guard}# After 'git push' the remote-tracking refs move to commits that are this clone's own
# branch heads: nothing is going to be merged, so Python need not start (one git call).
heads=$(git for-each-ref --format='%(objectname)' refs/heads 2>/dev/null) || heads=
elsewhere=
set -f; old_ifs=$IFS; IFS='
'
for line in $input; do
  case "$line" in *" refs/remotes/"*) ;; *) continue ;; esac
  new=${{line#* }}; new=${{new%% *}}
  case "
$heads
" in *"
$new
"*) ;; *) elsewhere=yes ;; esac
done
IFS=$old_ifs; set +f
[ -n "$elsewhere" ] || exit 0
bin=git-archives
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


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
