"""``git archives migrate --from-nbstripout``: a clone set up with ``nbstripout --install``
switches its notebook filter to ours, keeping the user's options.

What nbstripout writes (0.9.1, ``_nbstripout.install``): ``filter.nbstripout.clean``
(``"<python>" -m nbstripout``, which users extend with flags), ``.smudge = cat``,
``.required = true``, ``diff.ipynb.textconv = <same> -t``, in the scope it was run with
(``--local``, ``--global``, ``--system``); and the attributes lines ``*.ipynb
filter=nbstripout``, ``*.zpln filter=nbstripout``, ``*.ipynb diff=ipynb`` appended to
``.git/info/attributes`` (or ``--attributes FILE``, often ``.gitattributes``; the global
attributes file for ``--global``). Its filter also reads ``filter.nbstripout.extrakeys`` and
``.keepmetadatakeys`` from every scope.

The migration, in this clone only:

- the options (those two keys and the flags on the clean command) become ``archives.nb.*``
  in the clone's git config, which our filter honours as their equivalents; an option we
  cannot honour is named and left out;
- ``filter=nbstripout`` / ``diff=ipynb`` in ``.git/info/attributes`` and in the work
  tree's ``.gitattributes`` files become ``filter=archives-nb`` / ``diff=archives-nb`` (in
  ``.git/info/attributes`` nbstripout's own ``*.ipynb`` lines go: ours replaces them);
- nbstripout's keys in the clone's own config are removed; ``git archives install`` runs.

Config and attributes files of the user (``--global``) or the system are never changed:
they serve other repositories. They are reported with how to remove them. Lower layer:
never prints.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec.shellquote import display
from gitext.config import Config
from gitext.errors import UsageError
from gitext.fs.atomic import atomic_write
from gitext.fs.worktree import WorkTree, require_no_symlink
from gitext.git.attributes import LineChange, rewrite_lines, show_line, worktree_attribute_files
from gitext.git.install import install
from gitext.git.nbattributes import global_attributes_file
from gitext.git.repo import Repo
from gitext.notebooks.strip_options import StripOptionError, StripOptions, parse_max_size

_FILTER = re.compile(rb"(?<!\S)filter=nbstripout(?!\S)")
_DIFF = re.compile(rb"(?<!\S)diff=ipynb(?!\S)")
# nbstripout's own lines in .git/info/attributes, which our NB_ATTRIBUTES line replaces.
_REPLACED = (b"*.ipynb filter=archives-nb", b"*.ipynb diff=archives-nb")

# nbstripout's command-line flags → our nb.* keys (docs/notebooks.md, Options).
_BOOL_FLAGS = {"--keep-count": "keep-count", "--keep-output": "keep-output",
               "--keep-id": "keep-id", "--drop-empty-cells": "drop-empty-cells",
               "--strip-init-cells": "strip-init-cells"}
_VALUE_FLAGS = {"--extra-keys": "extra-keys", "--keep-metadata-keys": "keep-metadata-keys",
                "--drop-tagged-cells": "drop-tagged-cells", "--max-size": "max-size",
                "--mode": "mode", "-m": "mode"}
_LIST_FLAGS = {"--keep-output-type": "keep-output-type",
               "--drop-output-type": "drop-output-type"}
_HARMLESS = {"-f", "--force", "-t", "--textconv", "--unix-newlines"}
_CONFIG_KEYS = {"filter.nbstripout.extrakeys": "extra-keys",
                "filter.nbstripout.keepmetadatakeys": "keep-metadata-keys"}
LIST_KEYS = ("extra-keys", "keep-metadata-keys", "drop-tagged-cells", "keep-output-type",
             "drop-output-type")


@dataclass
class ConfigEntry:
    scope: str  # local, worktree, global, system, command
    key: str
    value: str


@dataclass
class Option:
    key: str  # ours, without "nb."
    value: str
    source: str  # "filter.nbstripout.extrakeys (local)", "filter.nbstripout.clean flag --x"


@dataclass
class FileChange:
    path: Path
    rel: str | None  # work-tree relative (written through WorkTree); None: under .git
    old: bytes
    new: bytes
    lines: list[LineChange]  # (line number, before, after; "" = removed)


@dataclass
class NbstripoutMigration:
    entries: list[ConfigEntry]  # nbstripout's config, every scope
    options: list[Option] = field(default_factory=list)  # to set in archives.nb.*
    skipped: list[str] = field(default_factory=list)  # options not carried over, and why
    kept: list[str] = field(default_factory=list)  # our own settings that win
    files: list[FileChange] = field(default_factory=list)
    remove_sections: list[str] = field(default_factory=list)  # local config sections
    left: list[str] = field(default_factory=list)  # global/system things not touched


def read_config(repo: Repo) -> list[ConfigEntry]:
    """nbstripout's keys (``filter.nbstripout.*``, ``diff.ipynb.*``) in every scope."""
    proc = repo.git("config", "--show-scope", "-z", "--get-regexp",
                    r"^(filter\.nbstripout|diff\.ipynb)\.", check=False)
    out: list[ConfigEntry] = []
    items = proc.stdout.split(b"\0")
    for scope, rec in zip(items[::2], items[1::2], strict=False):
        key, _, value = rec.partition(b"\n")
        out.append(ConfigEntry(scope.decode(), key.decode("utf-8", "surrogateescape").lower(),
                               value.decode("utf-8", "surrogateescape")))
    return out


def _diff_is_nbstripouts(entries: list[ConfigEntry]) -> bool:
    return any(e.key == "diff.ipynb.textconv" and "nbstripout" in e.value for e in entries)


def clean_flags(command: str) -> tuple[list[tuple[str, str]], list[str]] | None:
    """The nbstripout flags on a clean command as (our key, value) and those we cannot
    honour; None when the command does not run nbstripout."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    # ".../bin/nbstripout", or "python -m nbstripout" (what --install writes)
    start = next((i + 1 for i, w in enumerate(words)
                  if os.path.basename(w) in ("nbstripout", "nbstripout.exe")), None)
    if start is None:
        return None
    found: list[tuple[str, str]] = []
    unknown: list[str] = []
    args = words[start:]
    i = 0
    while i < len(args):
        flag, eq, inline = args[i].partition("=")
        i += 1
        if flag in _BOOL_FLAGS and not eq:
            found.append((_BOOL_FLAGS[flag], "true"))
        elif flag in _VALUE_FLAGS:
            if not eq and i >= len(args):
                unknown.append(flag)
                break
            found.append((_VALUE_FLAGS[flag], inline if eq else args[i]))
            i += 0 if eq else 1
        elif flag in _LIST_FLAGS:
            values = [inline] if eq else []
            while i < len(args) and not args[i].startswith("-"):
                values.append(args[i])
                i += 1
            found.append((_LIST_FLAGS[flag], " ".join(values)))
        elif flag not in _HARMLESS:
            unknown.append(args[i - 1])
    return found, unknown


def _check_option(key: str, value: str) -> str | None:
    """Why our filter could not honour ``nb.<key> = value``; None if it can."""
    try:
        if key == "extra-keys":
            StripOptions(extra_keys=(value,))
        elif key == "max-size":
            parse_max_size(value)
        elif key == "mode" and value not in ("auto", "jupyter", "zeppelin"):
            return f"unknown mode '{value}'"
    except StripOptionError as exc:
        return exc.message
    return None


def _collect_options(plan: NbstripoutMigration) -> list[Option]:
    """Every option nbstripout's filter applied in this clone, in its order."""
    found: list[Option] = []
    for e in plan.entries:
        if e.key in _CONFIG_KEYS:
            found += [Option(_CONFIG_KEYS[e.key], w, f"{e.key} ({e.scope} config)")
                      for w in e.value.split()]
        elif e.key == "filter.nbstripout.clean":
            parsed = clean_flags(e.value)
            if parsed is None:
                plan.skipped.append(f"filter.nbstripout.clean ({e.scope} config) does not run "
                                    f"nbstripout ({display(e.value)}): no option taken from it")
                continue
            flags, unknown = parsed
            for key, value in flags:
                words = value.split() if key in LIST_KEYS else [value]
                found += [Option(key, w, f"filter.nbstripout.clean ({e.scope} config)")
                          for w in words]
            plan.skipped += [f"{display(u)} on filter.nbstripout.clean ({e.scope} config): "
                             "not an option of the notebook filter, left out" for u in unknown]
    return found


def _settle_options(repo: Repo, plan: NbstripoutMigration) -> None:
    """Which options to set: valid ones, not already set; ours win over nbstripout's."""
    cfg = Config.load(repo.worktree)
    for opt in _collect_options(plan):
        why = _check_option(opt.key, opt.value)
        if why is not None:
            plan.skipped.append(f"{opt.source}: {why}; left out")
            continue
        have = cfg.get_all(f"nb.{opt.key}")
        if opt.key in LIST_KEYS:
            words = {w for v in have for w in v.split()}
            words |= {o.value for o in plan.options if o.key == opt.key}
            if opt.value not in words:
                plan.options.append(opt)
        elif have and have[-1] != opt.value:
            plan.kept.append(f"nb.{opt.key} = {have[-1]} (yours) wins over {opt.source}'s "
                             f"{opt.value}")
        elif not have and not any(o.key == opt.key for o in plan.options):
            plan.options.append(opt)


def rewrite_attributes(data: bytes, *, diff: bool, info: bool
                       ) -> tuple[bytes, list[LineChange]]:
    """``filter=nbstripout`` (and ``diff=ipynb`` when ``diff``) made ours; with ``info``
    (``.git/info/attributes``) the ``*.ipynb`` lines that ``NB_ATTRIBUTES`` replaces go."""
    def edit(line: bytes) -> bytes | None:
        new = _FILTER.sub(b"filter=archives-nb", line)
        if diff:
            new = _DIFF.sub(b"diff=archives-nb", new)
        if new != line and info and b" ".join(new.split()) in _REPLACED:
            return None
        return new

    return rewrite_lines(data, edit)


def _plan_files(repo: Repo, plan: NbstripoutMigration) -> None:
    diff = _diff_is_nbstripouts(plan.entries) or not any(
        e.key.startswith("diff.ipynb.") for e in plan.entries)
    info = repo.common_dir / "info" / "attributes"
    targets: list[tuple[Path, str | None]] = [(info, None)]
    targets += [(repo.root / rel, rel) for rel in worktree_attribute_files(repo, repo.root)]
    for path, rel in targets:
        if rel is not None:
            require_no_symlink(repo.root, path)
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            continue
        new, lines = rewrite_attributes(old, diff=diff, info=rel is None)
        if lines:
            plan.files.append(FileChange(path, rel, old, new, lines))
    glob = global_attributes_file(repo)
    try:
        text = glob.read_bytes()
    except OSError:
        return
    for n, line in enumerate(text.splitlines(), 1):
        if _FILTER.search(line) and not line.lstrip().startswith(b"#"):
            plan.left.append(f"{display(str(glob))} line {n}: '{show_line(line)}' (your global "
                             "attributes, every repository): left; this clone's "
                             ".git/info/attributes overrides it for *.ipynb")


def plan_migration(repo: Repo) -> NbstripoutMigration:
    """What ``migrate --from-nbstripout`` would change; changes nothing."""
    if repo.worktree is None:
        raise UsageError("migrate needs a work tree (this is a bare repository)")
    plan = NbstripoutMigration(read_config(repo))
    _plan_files(repo, plan)
    if not plan.entries and not plan.files:
        raise UsageError("nothing to migrate: no filter.nbstripout in git config and no "
                         "filter=nbstripout in the attributes files",
                         hint="'git archives install' sets up the notebook filter")
    _settle_options(repo, plan)
    local = {e.key.rsplit(".", 1)[0] for e in plan.entries if e.scope in ("local", "worktree")}
    if "filter.nbstripout" in local:
        plan.remove_sections.append("filter.nbstripout")
    if "diff.ipynb" in local and _diff_is_nbstripouts(plan.entries):
        plan.remove_sections.append("diff.ipynb")
    for scope in ("global", "system"):
        if any(e.scope == scope and e.key.startswith("filter.nbstripout.")
               for e in plan.entries):
            plan.left.append(f"filter.nbstripout in your {scope} git config: left (other "
                             "repositories may use it); 'nbstripout --uninstall --"
                             f"{scope}' removes it everywhere")
    return plan


def run_migration(repo: Repo, plan: NbstripoutMigration) -> list[str]:
    """Apply ``plan``; returns what ``git archives install`` said."""
    for change in plan.files:
        if change.rel is None:
            atomic_write(change.path, change.new)
        else:
            with WorkTree(repo.root) as wt:
                wt.write_bytes(change.rel, change.new)
    grouped: dict[str, list[str]] = {}
    for opt in plan.options:
        grouped.setdefault(opt.key, []).append(opt.value)
    for key, values in grouped.items():
        repo.git("config", "--local", "--add", f"archives.nb.{key}", " ".join(values))
    for section in plan.remove_sections:
        for scope in ("--local", "--worktree"):
            repo.git("config", scope, "--remove-section", section, check=False)
    return install(repo).lines

