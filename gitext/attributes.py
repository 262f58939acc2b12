"""Editing ``.gitattributes`` for ``track`` / ``untrack``.

A tracked pattern is one line ``PATTERN filter=archives diff=archives merge=archives -text``.
The size rule (``track --larger-than 10mb``) is ``* filter=archives`` at the top of the file
plus ``size.largerthan`` in ``.archives/config``: every file passes through the filter,
which stores as pointers only the files above the limit (and files already pointers).
"""

from __future__ import annotations

from pathlib import Path

from gitext.fsutil import atomic_write

TRACK_ATTRS = "filter=archives diff=archives merge=archives -text"
SIZE_RULE_LINE = "* filter=archives"
SIZE_RULE_COMMENT = "# git-archives: files above size.largerthan become pointers"


def _quote_pattern(pattern: str) -> str:
    # gitattributes quotes patterns containing spaces C-style (git >= 2.x reads them).
    if " " in pattern or '"' in pattern:
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
    atomic_write(path, "".join(ln + "\n" for ln in lines).encode("utf-8"))


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def tracked_patterns(path: Path) -> list[str]:
    out = []
    for line in read_lines(path):
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pat, attrs = _split(line)
        if "filter=archives" in attrs.split():
            out.append(pat)
    return out


def track(path: Path, patterns: list[str]) -> tuple[list[str], list[str]]:
    """Add patterns; return (added, already tracked)."""
    lines = read_lines(path)
    existing = set(tracked_patterns(path))
    added, already = [], []
    for pat in patterns:
        if pat in existing:
            already.append(pat)
            continue
        lines.append(f"{_quote_pattern(pat)} {TRACK_ATTRS}")
        existing.add(pat)
        added.append(pat)
    if added:
        _write(path, lines)
    return added, already


def untrack(path: Path, patterns: list[str]) -> list[str]:
    """Remove the lines tracking these patterns; return those removed."""
    lines = read_lines(path)
    removed, kept = [], []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            pat, attrs = _split(line)
            if pat in patterns and "filter=archives" in attrs.split():
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
