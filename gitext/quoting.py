"""Paths from a repository, made safe to print: control characters escaped (a name with a
newline cannot forge a second message line) and, inside a suggested command, shell-quoted."""

from __future__ import annotations

import shlex


def escape_control(text: str) -> str:
    """``text`` with control characters (and lone surrogates) written as escapes."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[ch])
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}")
    return "".join(out)


def shell_path(path: str) -> str:
    """``path`` as one shell word for a command we print (control characters escaped)."""
    return shlex.quote(escape_control(path))
