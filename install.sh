#!/bin/sh
# install.sh — install git-archives into its own virtual environment and put
# `git-archives` on PATH (so `git archives …` works).
#
#   ./install.sh              install or upgrade (idempotent)
#   ./install.sh --demo       install, then run the tutorial demo in a scratch directory
#   ./install.sh --uninstall  remove what install.sh installed
#   ./install.sh --with gcs,azure,ssh   also the SDKs of those remote kinds (or: all);
#                                     --with plots: the chart renderer of `plots show --static`;
#                                     --with mlflow: MLflow's client (repro --mlflow)
#
# Run from inside one of your git clones (e.g. `cd my-project && /path/to/install.sh`) it
# also runs `git archives install` there. Environment: PYTHON (default python3),
# GIT_ARCHIVES_HOME (default ${XDG_DATA_HOME:-~/.local/share}/git-archives),
# GIT_ARCHIVES_BIN_DIR (default ~/.local/bin). The manual pages (`git archives --help`,
# `git help archives`) go to ${XDG_DATA_HOME:-~/.local/share}/man/man1.
set -eu

src=$(cd "$(dirname "$0")" && pwd)
home_dir=${GIT_ARCHIVES_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/git-archives}
venv=$home_dir/venv
bin_dir=${GIT_ARCHIVES_BIN_DIR:-$HOME/.local/bin}
man_root=${XDG_DATA_HOME:-$HOME/.local/share}/man
man_dir=$man_root/man1
python=${PYTHON:-python3}
action=install
extras=
want_extras=0
for arg in "$@"; do
  if [ "$want_extras" = 1 ]; then extras=$arg; want_extras=0; continue; fi
  case "$arg" in
    --uninstall) action=uninstall ;;
    --demo) action=demo ;;
    --with) want_extras=1 ;;
    --with=*) extras=${arg#--with=} ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
[ "$want_extras" = 0 ] || { echo "install.sh: --with needs a list, e.g. --with gcs,azure,ssh" >&2; exit 2; }
extras=$(printf '%s' "$extras" | tr -d ' ')
for extra in $(printf '%s' "$extras" | tr ',' ' '); do
  case "$extra" in
    gcs|azure|ssh|plots|mlflow|all) ;;
    *) echo "install.sh: unknown extra '$extra' for --with (choose from gcs, azure, ssh, plots, mlflow, all)" >&2; exit 2 ;;
  esac
done

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# The clone the user ran us from, unless it is git-archives' own source checkout.
target_clone() {
  top=$(git rev-parse --show-toplevel 2>/dev/null) || return 1
  [ "$(cd "$top" && pwd -P)" = "$(cd "$src" && pwd -P)" ] && return 1
  printf '%s\n' "$top"
}

if [ "$action" = uninstall ]; then
  if clone=$(target_clone) && [ -x "$venv/bin/git-archives" ]; then
    (cd "$clone" && "$venv/bin/git-archives" uninstall) || true
  fi
  if [ -L "$bin_dir/git-archives" ]; then rm -f "$bin_dir/git-archives"; say "removed $bin_dir/git-archives"; fi
  if [ -d "$venv" ]; then rm -rf "$venv"; say "removed $venv"; fi
  if [ -f "$man_dir/git-archives.1" ]; then
    rm -f "$man_dir/git-archives.1" "$man_dir"/git-archives-*.1
    say "removed the manual pages from $man_dir"
  fi
  rmdir "$home_dir" 2>/dev/null || true
  say "git-archives is uninstalled. Clones you set up keep their config until you run"
  say "'git archives uninstall' in them (do that before this, or reinstall first)."
  exit 0
fi

command -v git >/dev/null 2>&1 || die "git is not installed; install git first"
command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3.10 or newer (or set PYTHON=...)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$("$python" --version 2>&1) is too old; git-archives needs Python 3.10 or newer"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  say "creating $venv"
  rm -rf "$venv"
  mkdir -p "$home_dir"
  "$python" -m venv "$venv" || die "could not create a virtual environment (on Debian/Ubuntu: apt install python3-venv)"
fi
say "installing git-archives from $src"
# setuptools builds in the source tree and never prunes build/: a module deleted since the
# last install would otherwise ride along into this one.
rm -rf "$src/build"
target=$src
[ -z "$extras" ] || target="$src[$extras]"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$target" \
  || die "pip could not install git-archives (see the messages above)"

mkdir -p "$bin_dir"
ln -sf "$venv/bin/git-archives" "$bin_dir/git-archives"
say "git-archives $("$venv/bin/git-archives" --version | sed 's/^git-archives //') is at $bin_dir/git-archives"
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) say ""
     say "NOTE: $bin_dir is not on your PATH, so 'git archives' will not be found yet."
     say "      Add this line to your shell profile (~/.profile, ~/.bashrc or ~/.zshrc):"
     say "        export PATH=\"$bin_dir:\$PATH\""
     say "" ;;
esac

# Manual pages, made from the installed parsers, where man looks (PATH's ../share/man).
"$venv/bin/git-archives" help --man-dir "$man_dir" >/dev/null \
  || die "could not write the manual pages to $man_dir"
say "manual pages are in $man_dir ('git archives --help', 'git help archives')"
if command -v man >/dev/null 2>&1 && ! man -w git-archives >/dev/null 2>&1; then
  say "NOTE: man does not look in $man_root yet; add to your shell profile:"
  say "        export MANPATH=\"$man_root:\$MANPATH\""
fi

if clone=$(target_clone); then
  say "setting up the clone $clone"
  (cd "$clone" && "$venv/bin/git-archives" install)
fi

if [ "$action" = demo ]; then
  exec "$venv/bin/git-archives" demo
fi
