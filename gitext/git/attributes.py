"""Editing ``.gitattributes`` for ``track`` / ``untrack``, and finding and rewriting the
attributes files for the migrations (:func:`tracked_attribute_files`,
:func:`rewrite_lines`).

A tracked pattern is one line ``PATTERN filter=archives diff=archives merge=archives -text``.
The size rule (``track --larger-than 10mb``) is ``* filter=archives`` at the top of the file
plus ``size.largerthan`` in ``.archives/config``: every file passes through the filter,
which stores as pointers only the files above the limit (and files already pointers).

After every ``track``/``untrack`` the file ends with the guard block (:data:`PROTECTED`): the
files DVC and git read (``*.dvc``, ``.gitignore``, ``dvc.yaml``...) and our own config get
``!filter !diff !merge`` there, so no tracking line above (``data/**``, the size rule) can
turn them into pointers, for git-archives, git-lfs and plain git alike (later lines win).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitext.errors import UsageError
from gitext.fs.worktree import require_no_symlink, write_bytes_in
from gitext.git.protected import PROTECTED_DIRS, PROTECTED_NAMES, PROTECTED_SUFFIXES
from gitext.git.repo import Repo

# A rewritten line: (line number, before, after; after is "" for a line removed).
LineChange = tuple[int, str, str]

TRACK_ATTRS = "filter=archives diff=archives merge=archives -text"
# What 'git lfs track' writes: for teams where some keep git-lfs (our filter serves it too).
LFS_TRACK_ATTRS = "filter=lfs diff=lfs merge=lfs -text"
DRIVERS = {"archives": TRACK_ATTRS, "lfs": LFS_TRACK_ATTRS}
SIZE_RULE_LINE = "* filter=archives"
SIZE_RULE_COMMENT = "# git-archives: files above size.largerthan become pointers"


GUARD_COMMENT = "# git-archives: files git and DVC read stay plain (keep these lines last)"
# The same list the filter obeys (gitext.git.protected), as attribute patterns.
PROTECTED = (*(f"*{s}" for s in PROTECTED_SUFFIXES), *sorted(PROTECTED_NAMES),
             *(f"**/{d}/**" for d in sorted(PROTECTED_DIRS)))
GUARD_ATTRS = "!filter !diff !merge"
GUARD_LINES = (GUARD_COMMENT, *(f"{p} {GUARD_ATTRS}" for p in PROTECTED))


def check_pattern(pattern: str) -> None:
    """Refuse what cannot be one tracking pattern: raise :class:`UsageError`."""
    shown = pattern if pattern.isprintable() else repr(pattern)[1:-1]
    why = None
    if not pattern.strip():
        why = "it is empty"
    elif not pattern.isprintable():
        why = "it holds a newline or another control character"
    elif pattern.startswith("!"):
        why = "a leading '!' (negation) is not allowed in gitattributes"
    elif pattern.startswith("[attr]"):
        why = "'[attr]' starts a macro definition, not a pattern"
    if why is not None:
        raise UsageError(f"'{shown}' cannot be tracked: {why}",
                         hint="give a gitattributes pattern such as '*.bin' or 'data/**'; "
                              "'git archives untrack PATTERN' stops tracking one")


def _quote_pattern(pattern: str) -> str:
    # git (attr.c) reads a double-quoted pattern C-style: the only way to write one that
    # holds whitespace or a '"', or starts with '#' (else a comment).
    if any(c.isspace() for c in pattern) or '"' in pattern or pattern.startswith("#"):
        return '"' + pattern.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return pattern


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return token[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return token


def _split(line: str) -> tuple[str, str]:
    s = line.strip()
    if s.startswith('"'):
        end = 1
        while end < len(s):
            if s[end] == "\\":
                end += 2
                continue
            if s[end] == '"':
                break
            end += 1
        return _unquote(s[:end + 1]), s[end + 1:].strip()
    pat, _, rest = s.partition(" ")
    return pat, rest.strip()


def _write(path: Path, lines: list[str]) -> None:
    """Write ``lines`` with the guard block moved (or added) to the end."""
    body = [ln for ln in lines if ln.strip() not in GUARD_LINES]
    while body and not body[-1].strip():
        body.pop()
    # Never through a symlink: a clone's committed '.gitattributes -> ~/.bashrc' must not
    # turn 'track' into a write of the user's file.
    require_no_symlink(path.parent, path)
    write_bytes_in(path.parent, path,
                   "".join(ln + "\n" for ln in [*body, *GUARD_LINES]).encode("utf-8"))


def guarded(path: Path) -> bool:
    """Does the file end with the guard block?"""
    lines = [ln.strip() for ln in read_lines(path) if ln.strip()]
    return tuple(lines[-len(GUARD_LINES):]) == GUARD_LINES


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def tracked_rules(path: Path, drivers: tuple[str, ...] = tuple(DRIVERS)
                  ) -> list[tuple[str, str]]:
    """(pattern, driver) of each line giving ``filter=<driver>`` for one of ``drivers``."""
    out = []
    wanted = {f"filter={d}": d for d in drivers}
    for line in read_lines(path):
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pat, attrs = _split(line)
        for token in attrs.split():
            if token in wanted:
                out.append((pat, wanted[token]))
    return out


def tracked_patterns(path: Path) -> list[str]:
    return [pat for pat, _ in tracked_rules(path, ("archives",))]


def track(path: Path, patterns: list[str], *,
          driver: str = "archives") -> tuple[list[str], list[str]]:
    """Add patterns (``filter=archives``, or with ``driver="lfs"`` the line git-lfs writes);
    return (added, already tracked by either driver)."""
    for pat in patterns:
        check_pattern(pat)
    lines = read_lines(path)
    existing = {pat for pat, _ in tracked_rules(path)}
    added, already = [], []
    for pat in patterns:
        if pat in existing:
            already.append(pat)
            continue
        lines.append(f"{_quote_pattern(pat)} {DRIVERS[driver]}")
        existing.add(pat)
        added.append(pat)
    if added or not guarded(path):
        _write(path, lines)
    return added, already


def has_rule(path: Path, pattern: str, attrs: str) -> bool:
    """Does a line of the file give ``pattern`` exactly the attributes ``attrs``?"""
    wanted = (pattern, attrs.split())
    return any((pat, given.split()) == wanted for pat, given in
               (_split(ln) for ln in read_lines(path)
                if ln.strip() and not ln.lstrip().startswith("#")))


def add_rule(path: Path, pattern: str, attrs: str) -> bool:
    """Append ``PATTERN ATTRS`` (e.g. the notebook rule) unless the file has that line;
    the guard block ends the file, as after :func:`track`. True if the rule was added."""
    check_pattern(pattern)
    present = has_rule(path, pattern, attrs)
    if present and guarded(path):
        return False
    lines = read_lines(path)
    _write(path, lines if present else [*lines, f"{_quote_pattern(pattern)} {attrs}"])
    return not present


def untrack(path: Path, patterns: list[str]) -> list[str]:
    """Remove the lines tracking these patterns (either driver); return those removed."""
    lines = read_lines(path)
    removed, kept = [], []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            pat, attrs = _split(line)
            if pat in patterns and {"filter=archives", "filter=lfs"} & set(attrs.split()):
                removed.append(pat)
                continue
        kept.append(line)
    if removed:
        _write(path, kept)
    return removed


def set_size_rule(path: Path, enabled: bool) -> bool:
    """Put ``* filter=archives`` first in the file (later lines still win), or remove it."""
    lines = read_lines(path)
    has = SIZE_RULE_LINE in [ln.strip() for ln in lines]
    if enabled and not has:
        _write(path, [SIZE_RULE_COMMENT, SIZE_RULE_LINE, *lines])
        return True
    if not enabled and has:
        _write(path, [ln for ln in lines if ln.strip() not in (SIZE_RULE_LINE, SIZE_RULE_COMMENT)])
        return True
    return False


def tracked_attribute_files(repo: Repo) -> list[str]:
    """The ``.gitattributes`` files git tracks, repository-relative, sorted."""
    out = repo.git("ls-files", "-z", "--", ".gitattributes", ":(glob)**/.gitattributes").stdout
    return sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p)


def worktree_attribute_files(repo: Repo, worktree: Path) -> list[str]:
    """The tracked ``.gitattributes`` files and an untracked one at the top of ``worktree``
    (where ``nbstripout --install --attributes .gitattributes`` writes), sorted."""
    rels = set(tracked_attribute_files(repo))
    if (worktree / ".gitattributes").is_file():
        rels.add(".gitattributes")
    return sorted(rels)


def rewrite_lines(data: bytes, edit: Callable[[bytes], bytes | None]
                  ) -> tuple[bytes, list[LineChange]]:
    """``data`` with ``edit`` applied to each line that is not a comment (it gets the line
    with its ending and returns the new line, or None to remove it); comments and every
    other byte unchanged. Also returns each line changed."""
    out: list[bytes] = []
    changed: list[LineChange] = []
    for n, line in enumerate(data.splitlines(keepends=True), 1):
        if line.lstrip().startswith(b"#"):
            out.append(line)
            continue
        new = edit(line)
        if new == line:
            out.append(line)
            continue
        changed.append((n, show_line(line), "" if new is None else show_line(new)))
        if new is not None:
            out.append(new)
    return b"".join(out), changed


def show_line(line: bytes) -> str:
    """An attributes line as text to show, without its line ending."""
    return line.rstrip(b"\r\n").decode("utf-8", "replace")
