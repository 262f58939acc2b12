"""``.dvcignore``: which files of a directory DVC sees.

``.dvcignore`` files (gitignore syntax, read as DVC reads them: each pattern translated by
``pathspec``'s gitwildmatch, as DVC does) leave paths out of a directory's manifest, from the
repository root down; one inside the directory itself is refused unless it ignores itself,
as DVC refuses it. :func:`walk_files` lists a directory as DVC sees it.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from gitext.errors import PipelineError

# Names DVC never looks into when it walks a directory.
IGNORED_NAMES = frozenset({".git", ".dvc", ".hg"})

DVCIGNORE = ".dvcignore"


class IgnoreRule(NamedTuple):
    """One line of a ``.dvcignore``: ``base`` is the repo-relative folder of its file
    (``""`` at the root); the pattern matches paths relative to it (a folder's path is
    also tried with a ``/`` added, which is how a ``dir/`` pattern matches, as in DVC)."""

    base: str
    regex: re.Pattern[str]
    negate: bool
    source: str  # "path/.dvcignore:line: pattern", for messages


def _translator() -> Callable[[str], tuple[str | None, bool | None]]:
    """pathspec's gitwildmatch translation, the one DVC uses (imported only when a
    ``.dvcignore`` is read: pathspec stays off the hook path)."""
    try:
        from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern as Pattern
    except ImportError:  # pathspec < 1.0: the same translation under its old name
        from pathspec.patterns.gitwildmatch import GitWildMatchPattern as Pattern
    translate: Callable[[str], tuple[str | None, bool | None]] = Pattern.pattern_to_regex
    return translate


def parse_dvcignore(text: str, *, base: str, name: str) -> list[IgnoreRule]:
    """A ``.dvcignore`` as DVC reads it: each line stripped, ``#`` lines and blank lines
    skipped, the rest translated by pathspec's gitwildmatch (``!`` negates). A pattern that
    pathspec reads as nothing (``a[``, ``/``) is skipped, as DVC skips it; one pathspec
    refuses or Python cannot compile is an error naming the file and line."""
    translate = _translator()
    rules: list[IgnoreRule] = []
    with warnings.catch_warnings():
        # "[[" in a pattern is a nested set to Python's ``re`` (FutureWarning): the
        # translation is pathspec's, DVC compiles it the same; don't print the warning.
        warnings.simplefilter("ignore", FutureWarning)
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                found, include = translate(line)
                regex = re.compile(found) if found is not None and include is not None else None
            except (ValueError, re.error) as exc:
                raise PipelineError(f"{name}:{number}: bad pattern {line!r} ({exc})",
                                    hint="fix the pattern (gitignore syntax)") from None
            if regex is not None:
                rules.append(IgnoreRule(base, regex, not include, f"{name}:{number}: {line}"))
    return rules


class IgnoreRules:
    """The ``.dvcignore`` rules in force at one folder: those of its own and every parent
    folder's ``.dvcignore`` up to the repository root (a deeper file's rules win, and in
    a file the last matching line wins, as in git)."""

    __slots__ = ("root", "rules")

    def __init__(self, root: str, rules: tuple[IgnoreRule, ...] = ()) -> None:
        self.root = root  # absolute repository root, no trailing separator
        self.rules = rules

    @classmethod
    def for_folder(cls, root: Path, repo_dir: str) -> IgnoreRules:
        """The rules that apply inside ``repo_dir`` (repo-relative, posix; ``""`` = root)."""
        rules = cls(os.fspath(root).rstrip(os.sep) or os.sep)
        rules = rules.read(rules.root, "")
        if repo_dir in ("", "."):
            return rules
        base = ""
        for part in repo_dir.split("/"):
            base = f"{base}/{part}" if base else part
            rules = rules.read(os.path.join(rules.root, *base.split("/")), base)
        return rules

    def read(self, folder: str, base: str) -> IgnoreRules:
        """These rules plus those of ``folder/.dvcignore`` if there is one (and it is not
        itself ignored — DVC then never reads it)."""
        path = os.path.join(folder, DVCIGNORE)
        name = f"{base}/{DVCIGNORE}" if base else DVCIGNORE
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return self
        except (OSError, UnicodeDecodeError) as exc:
            raise PipelineError(f"cannot read {name}: {exc}",
                                hint="make it a readable UTF-8 text file") from None
        if self.ignored(name, False):
            return self
        new = parse_dvcignore(text, base=base, name=name)
        return IgnoreRules(self.root, self.rules + tuple(new)) if new else self

    def ignored(self, repo_path: str, is_dir: bool) -> bool:
        """True when DVC leaves ``repo_path`` out (its parents are assumed not ignored)."""
        for rule in reversed(self.rules):
            if not rule.base:
                rel = repo_path
            elif repo_path.startswith(rule.base + "/"):
                rel = repo_path[len(rule.base) + 1:]
            else:
                continue
            if rule.regex.match(rel) or (is_dir and rule.regex.match(rel + "/")):
                return not rule.negate
        return False

    def in_folder(self, folder: str) -> list[tuple[re.Pattern[str], bool, str]]:
        """The rules that can match a name directly inside ``folder`` (repo-relative,
        ``""`` = root), last first, each with the folder's path relative to its base:
        ``(regex, negate, prefix)`` for :func:`_ignored_here`."""
        out = []
        for rule in reversed(self.rules):
            if not rule.base:
                prefix = f"{folder}/" if folder else ""
            elif folder == rule.base:
                prefix = ""
            elif folder.startswith(rule.base + "/"):
                prefix = folder[len(rule.base) + 1:] + "/"
            else:
                continue
            out.append((rule.regex, rule.negate, prefix))
        return out

    def __bool__(self) -> bool:
        return bool(self.rules)


def _ignored_here(rules: list[tuple[re.Pattern[str], bool, str]], name: str,
                  is_dir: bool) -> bool:
    """:meth:`IgnoreRules.ignored` for ``name`` inside the folder ``rules`` were made for."""
    for regex, negate, prefix in rules:
        rel = prefix + name
        if regex.match(rel) or (is_dir and regex.match(rel + "/")):
            return not negate
    return False


# -- walking and hashing -----------------------------------------------------------------------

FileRow = tuple[str, os.stat_result, str]  # (posix relpath, stat, absolute path)


def walk_files(top: Path, rules: IgnoreRules | None = None,
               repo_dir: str = "") -> Iterator[FileRow]:
    """(posix relpath, stat, absolute path) of every file under ``top``, as DVC sees it:
    ``.git``/``.dvc``/``.hg`` skipped, symlinked files followed, symlinked folders not.

    With ``rules`` (those in force at ``top``, whose repo-relative path is ``repo_dir``),
    what the ``.dvcignore`` files leave out is skipped, those met on the way included. As
    in DVC, a ``.dvcignore`` that is itself inside the walked directory and not ignored
    is an error: DVC refuses to hash such a directory, so accepting it would split the
    two tools' ids."""
    at_top = f"{repo_dir}/" if repo_dir not in ("", ".") else ""
    stack: list[tuple[str, str, IgnoreRules | None]] = [("", os.fspath(top), rules)]
    while stack:
        prefix, folder, here = stack.pop()
        at = at_top + prefix  # repo-relative prefix of this folder's entries
        if here is not None and prefix:
            here = here.read(folder, at.rstrip("/"))  # top's own file is in ``rules``
        check = here.in_folder(at.rstrip("/")) if here else None
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if name in IGNORED_NAMES:
                    continue
                rel = prefix + name
                if entry.is_dir(follow_symlinks=False):
                    if not check or not _ignored_here(check, name, True):
                        stack.append((rel + "/", entry.path, here))
                    continue
                if check and _ignored_here(check, name, False):
                    continue
                if name == DVCIGNORE and here is not None:
                    raise PipelineError(
                        f"'{at}{name}' is inside the directory '{at_top.rstrip('/') or top}'"
                        " that a stage depends on or writes",
                        hint="DVC refuses this too: move its patterns to a .dvcignore in a "
                             "parent folder, or add the line '.dvcignore' to it")
                try:
                    st = entry.stat()  # a symlinked file counts as its target's content
                except FileNotFoundError:
                    continue  # a dangling symlink
                if stat.S_ISREG(st.st_mode):
                    yield rel, st, entry.path  # (a symlink to a directory is not followed)

