"""Quoting names that come from a repository before we print them.

A file name is written by whoever made the commit. Printed inside a suggested command it
must come back, when pasted into a shell, as that one argument and nothing else; printed
in a message it must not carry a raw control character to the terminal (a newline that
fakes a line of output, an escape sequence, a right-to-left override).

- :func:`shell_arg` quotes one argument of a suggested command. Plain names get
  :func:`shlex.quote`. A name with a control character (or bytes that are not UTF-8) gets
  ANSI-C quoting, ``$'…'``, where every byte other than printable ASCII is an octal
  escape and a quote is ``\\047``: bash, zsh, ksh, mksh and busybox sh read it back as the
  exact name (POSIX.1-2024 standardises ``$'…'``); a shell without it (older dash) reads
  ``$`` followed by one single-quoted word — a wrong name, never a command, because no
  ``'`` appears inside.
- :func:`display` renders a name for a message: unchanged when harmless, otherwise
  C-style quoted as git's ``core.quotePath`` does (``"a\\nb"``).
- :func:`c_quote` is git's C-style quoting itself, for listings that mimic git.
"""

from __future__ import annotations

from collections.abc import Iterable

# Invisible characters that reorder or break lines on a terminal (bidi overrides and
# isolates, line/paragraph separators): escaped like control characters.
_INVISIBLE = frozenset(
    [0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F])
_C_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r",
              0x22: '\\"', 0x5C: "\\\\"}


def _unsafe_char(ch: str) -> bool:
    o = ord(ch)
    return o < 0x20 or 0x7F <= o <= 0x9F or o in _INVISIBLE or 0xD800 <= o <= 0xDFFF


def has_unsafe(name: str) -> bool:
    """True if ``name`` holds a control/invisible character or a byte that is not UTF-8."""
    return any(_unsafe_char(ch) for ch in name)


def _bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def shell_arg(name: str) -> str:
    """``name`` as one argument of a POSIX shell command the user may paste."""
    if not has_unsafe(name):
        import shlex  # only when something is printed: hooks import this module

        return shlex.quote(name)
    out = []
    for b in _bytes(name):
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F and b != 0x27:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03o}")
    return "$'" + "".join(out) + "'"


def shell_args(names: Iterable[str]) -> str:
    """Several names, each quoted by :func:`shell_arg`, separated by spaces."""
    return " ".join(shell_arg(n) for n in names)


def c_quote(name: str, *, non_ascii: bool = True) -> str:
    """git's C-style quoting: ``name`` unchanged unless it holds a control character,
    ``"``, ``\\`` or (with ``non_ascii``, git's default ``core.quotePath``) a byte above
    0x7f; then double-quoted with escapes, e.g. ``"a\\nb"`` or ``"caf\\303\\251"``."""
    text = name.encode("utf-8", "surrogateescape") if non_ascii else None
    if text is not None:
        if not any(b < 0x20 or b >= 0x7F or b in (0x22, 0x5C) for b in text):
            return name
        return '"' + "".join(_c_byte(b) for b in text) + '"'
    if not any(_unsafe_char(ch) or ch in '"\\' for ch in name):
        return name
    out = []
    for ch in name:
        if _unsafe_char(ch) or ch in '"\\':
            out.append("".join(_c_byte(b) for b in _bytes(ch)))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _c_byte(b: int) -> str:
    if b in _C_ESCAPES:
        return _C_ESCAPES[b]
    if b < 0x20 or b >= 0x7F:
        return f"\\{b:03o}"
    return chr(b)


def display(name: str) -> str:
    """``name`` for a message: as it is, unless it holds a control/invisible character or
    bytes that are not UTF-8 — then C-style quoted (readable non-ASCII letters stay)."""
    return c_quote(name, non_ascii=False) if has_unsafe(name) else name


def scrub(text: str, *, keep_newlines: bool = False) -> str:
    """Free text for a terminal: each control/invisible character (or byte that is not
    UTF-8) C-escaped in place, without quotes. A safety net where whole messages are
    written; names should already have gone through :func:`display`."""
    if not has_unsafe(text):
        return text
    out = []
    for ch in text:
        if _unsafe_char(ch) and not (keep_newlines and ch == "\n"):
            out.append("".join(_c_byte(b) for b in _bytes(ch)))
        else:
            out.append(ch)
    return "".join(out)


def exact_pattern(path: str) -> str:
    """A gitattributes/gitignore pattern that matches ``path`` and nothing else: glob
    characters backslash-escaped, a leading ``!`` or ``#`` escaped."""
    out = "".join("\\" + ch if ch in "\\*?[" else ch for ch in path)
    return "\\" + out if out[:1] in ("!", "#") else out


def track_patterns(paths: Iterable[str]) -> str:
    """The arguments of a suggested ``git archives track -- …`` for exactly ``paths``."""
    return shell_args(exact_pattern(p) for p in paths)


def pull_command(path: str) -> str:
    """The command that fetches the content of the one file ``path``."""
    return f"git archives pull -- {shell_arg(path)}"
