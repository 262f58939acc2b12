"""The ``--include`` / ``--exclude`` path selection of push, fetch and pull.

Patterns are git-style globs, matched by :mod:`pathspec` (``GitIgnoreSpec``, the
gitignore syntax as git itself applies it): a pattern without '/' matches a name at any
depth, one with '/' is anchored at the top; ``*``/``?`` stay inside one component, ``**``
crosses them; a match on a folder covers everything below it. ``:(literal)PATH`` (git's
pathspec magic) names exactly that path from the top, or the folder it names.

Lower layer: never prints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

LITERAL = ":(literal)"  # git's pathspec magic: the rest is a path, not a pattern


def _selects(pattern: str) -> bool:
    """False for a selection that names nothing in particular (blank; the literal top)."""
    if pattern.startswith(LITERAL):
        return bool(pattern[len(LITERAL):].strip("/"))
    return bool(pattern.strip())


def _literal_regex(pattern: str) -> re.Pattern[str]:
    """``:(literal)PATH``: exactly that path from the top, or the folder it names. No glob
    characters, no stripped spaces (a committed name may hold both)."""
    return re.compile(re.escape(pattern[len(LITERAL):].strip("/")) + "(?:/.*)?", re.DOTALL)


def _gitignore_line(pattern: str) -> str:
    """``pattern`` as one gitignore line meaning what it means on our command line: spaces
    around it dropped, a trailing '/' only marks a folder (a file of that name matches too),
    and ``\\``, a leading ``#`` or ``!`` and a trailing space are plain characters (no
    escapes, comments or negation)."""
    pat = pattern.strip()
    anchored = "/" in pat.rstrip("/")
    pat = pat.strip("/").replace("\\", "\\\\")
    if pat.endswith(" "):
        pat = pat[:-1] + "\\ "
    if pat.startswith(("#", "!")):
        pat = "\\" + pat
    return ("/" if anchored else "") + pat


class _Patterns:
    """One side (include or exclude) of a selection: does any of its patterns match?"""

    def __init__(self, patterns: Sequence[str]) -> None:
        chosen = [p for p in patterns if _selects(p)]
        self.literals = [_literal_regex(p) for p in chosen if p.startswith(LITERAL)]
        globs = [_gitignore_line(p) for p in chosen if not p.startswith(LITERAL)]
        self.globs: GitIgnoreSpec | None = None
        if globs:
            from pathspec import GitIgnoreSpec  # only a selection needs it

            self.globs = GitIgnoreSpec.from_lines(globs)

    def __bool__(self) -> bool:
        return bool(self.literals) or self.globs is not None

    def match(self, path: str) -> bool:
        if any(r.fullmatch(path) for r in self.literals):
            return True
        return self.globs is not None and self.globs.match_file(path)


class PathFilter:
    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = _Patterns(include)
        self.exclude = _Patterns(exclude)

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude)

    def __call__(self, path: str) -> bool:
        if self.include and not self.include.match(path):
            return False
        return not self.exclude.match(path)

    def may_contain(self, folder: str) -> bool:
        """Could something under ``folder`` pass? (A folder output is expanded only then.)"""
        if not self.include:
            return not self.exclude.match(folder)
        return True
