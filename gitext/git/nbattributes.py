"""Other notebook filters: attributes lines that give ``*.ipynb`` a ``filter=`` or ``diff=``
other than ours (nbstripout's ``filter=nbstripout`` / ``diff=ipynb``, nbdime's, ...), and
what git actually applies to a notebook.

git's precedence (gitattributes(5)): ``$GIT_DIR/info/attributes`` first, then the
``.gitattributes`` nearest the file, then those of its parent folders, then
``core.attributesFile``; inside one file a later line wins. Rather than re-deriving that,
:func:`effective` asks ``git check-attr``; :func:`foreign_lines` names the lines to show.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gitext.codec.shellquote import display
from gitext.git.attributes import worktree_attribute_files
from gitext.git.repo import Repo

OURS = "archives-nb"
PROBE = "notebook.ipynb"  # a notebook at the top of the work tree, tracked or not
_ATTR = re.compile(r"^(filter|diff)=(\S+)$")


@dataclass(frozen=True)
class ForeignLine:
    file: Path
    shown: str  # the file as a message names it (work-tree relative when inside)
    line: int
    text: str
    attr: str  # filter or diff
    value: str  # the driver it names


def global_attributes_file(repo: Repo) -> Path:
    """``core.attributesFile``, else ``$XDG_CONFIG_HOME/git/attributes`` (git's default)."""
    chosen = repo.config_get("core.attributesFile", options=["--type=path"])
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "git" / "attributes"


def attribute_files(repo: Repo) -> list[tuple[Path, str]]:
    """Every attributes file that can apply here, as (path, how to name it)."""
    files = [(repo.common_dir / "info" / "attributes", ".git/info/attributes")]
    if repo.worktree is not None:
        files += [(repo.worktree / rel, rel)
                  for rel in worktree_attribute_files(repo, repo.worktree)]
    glob = global_attributes_file(repo)
    files.append((glob, str(glob)))
    return files


def _applies_to_notebooks(pattern: str) -> bool:
    return pattern in ("*", "**", "**/*") or pattern.endswith((".ipynb", "*.ipynb"))


def foreign_lines(repo: Repo) -> list[ForeignLine]:
    """Lines giving notebooks a filter or diff driver that is not ours, in file order."""
    found = []
    top = os.path.realpath(repo.worktree) if repo.worktree is not None else None
    for path, shown in attribute_files(repo):
        inside = not os.path.isabs(shown)  # a work-tree file: never read through a symlink
        if inside and (path.is_symlink() or top is None
                       or not os.path.realpath(path).startswith(top + os.sep)):
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            words = line.split()
            if not words or words[0].startswith("#") or not _applies_to_notebooks(words[0]):
                continue
            for word in words[1:]:
                m = _ATTR.match(word)
                if m and m.group(2) != OURS:
                    found.append(ForeignLine(path, shown, n, line.strip(), m.group(1),
                                             m.group(2)))
    return found


def effective(repo: Repo, paths: list[str]) -> dict[str, tuple[str, str]]:
    """(filter, diff) that git applies to each path (``unspecified`` when none)."""
    if repo.worktree is None or not paths:
        return {}
    proc = repo.git("check-attr", "-z", "filter", "diff", "--", *paths, check=False)
    fields = proc.stdout.split(b"\0")
    out: dict[str, dict[str, str]] = {}
    for path, attr, value in zip(fields[::3], fields[1::3], fields[2::3], strict=False):
        out.setdefault(path.decode("utf-8", "surrogateescape"), {})[attr.decode()] = \
            value.decode("utf-8", "surrogateescape")
    return {p: (v.get("filter", "unspecified"), v.get("diff", "unspecified"))
            for p, v in out.items()}


def nbstripout_configured(repo: Repo) -> list[tuple[str, str]]:
    """(scope, key) of every ``filter.nbstripout.*`` clean/smudge/process key set."""
    proc = repo.git("config", "--show-scope", "-z", "--get-regexp",
                    r"^filter\.nbstripout\.(clean|smudge|process)$", check=False)
    items = proc.stdout.split(b"\0")
    return [(scope.decode(), rec.partition(b"\n")[0].decode("utf-8", "surrogateescape"))
            for scope, rec in zip(items[::2], items[1::2], strict=False)]


def probe_path(fl: ForeignLine) -> str:
    """A notebook path the line's pattern matches, in the folder of its file."""
    pattern = fl.text.split()[0].lstrip("/")
    name = pattern.replace("**/", "").replace("*", "notebook") if pattern.endswith(".ipynb") \
        else PROBE
    folder = ""
    if fl.file.name == ".gitattributes" and not os.path.isabs(fl.shown):
        folder = os.path.dirname(fl.shown)  # a work-tree file: patterns are relative to it
        folder += "/" if folder else ""
    return folder + name


def in_effect(repo: Repo, lines: list[ForeignLine]) -> list[ForeignLine]:
    """The foreign lines whose driver git really applies to a notebook they match."""
    probes = {id(fl): probe_path(fl) for fl in lines}
    got = effective(repo, sorted(set(probes.values())))
    out = []
    for fl in lines:
        filt, diff = got.get(probes[id(fl)], ("unspecified", "unspecified"))
        if (filt if fl.attr == "filter" else diff) == fl.value:
            out.append(fl)
    return out


def takeover_lines(repo: Repo) -> list[str]:
    """What ``install`` says about other notebook filters: each attributes line of another
    filter/diff for notebooks, and whether ours now wins over it."""
    lines = foreign_lines(repo)
    winning = {id(fl) for fl in in_effect(repo, lines)}
    out = []
    for fl in lines:
        where = f"{display(fl.shown)} line {fl.line} ('{display(fl.text)}')"
        if id(fl) in winning:
            out.append(f"notebooks: {fl.attr}={fl.value} from {where} still wins over ours; "
                       "see 'git archives doctor'")
        else:
            out.append(f"notebooks: ours replaces {fl.attr}={fl.value} from {where}"
                       + ("; 'git archives migrate --from-nbstripout' carries nbstripout's "
                          "options over and removes it" if is_nbstripout(fl) else ""))
    return out


def is_nbstripout(fl: ForeignLine) -> bool:
    return (fl.attr, fl.value) in (("filter", "nbstripout"), ("diff", "ipynb"))
