"""The one way the program talks to the user on stderr outside a command's own output:
a note, a warning. Every line is scrubbed of control characters (a name from a repository
cannot fake a line or move the cursor)."""

from __future__ import annotations

import sys

from gitext.codec.shellquote import scrub


def line(text: str) -> None:
    """One line on stderr, as it is (but scrubbed)."""
    sys.stderr.write(scrub(text) + "\n")
    sys.stderr.flush()


def note(text: str) -> None:
    """``git-archives: TEXT``: what a hook or filter reports while git runs."""
    line(f"git-archives: {text}")


def warn(text: str) -> None:
    """``git-archives: warning: TEXT``: something went wrong but the work goes on."""
    line(f"git-archives: warning: {text}")
