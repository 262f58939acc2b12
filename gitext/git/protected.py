"""Files git-archives never stores as pointers, whatever ``.gitattributes`` and the size
rule say: git's and DVC's own configuration, and ours. Turning one of them into a pointer
would take the configuration itself away from every clone (a ``.gitattributes`` stored as
a pointer is a clone without attributes).

This is the one list; the filter, ``track`` and ``doctor`` ask :func:`is_protected`.
Names are compared case-insensitively (a case-insensitive file system reads
``.GitIgnore`` as ``.gitignore``); an error here can only keep a file plain.
"""

from __future__ import annotations

# Any file with one of these names, in any folder.
PROTECTED_NAMES = frozenset({
    ".gitattributes", ".gitignore", ".gitmodules", ".dvcignore", "dvc.yaml", "dvc.lock",
})
# Anything inside a folder of one of these names (``.archives/config``, ``.dvc/config``).
PROTECTED_DIRS = frozenset({".archives", ".dvc"})
# Any file whose name ends so (DVC's ``data.csv.dvc`` tracking files).
PROTECTED_SUFFIXES = (".dvc",)


def is_protected(path: str) -> bool:
    """True if ``path`` (relative to the work tree, ``/``-separated as git gives it) must
    never be stored as a pointer."""
    parts = path.replace("\\", "/").casefold().split("/")
    name = parts[-1]
    if name in PROTECTED_NAMES or name.endswith(PROTECTED_SUFFIXES):
        return True
    return any(part in PROTECTED_DIRS for part in parts[:-1])


def describe() -> str:
    """The list in words, for messages and docs."""
    return (", ".join(sorted(PROTECTED_NAMES)) + ", *" + ", *".join(PROTECTED_SUFFIXES)
            + " and anything under " + ", ".join(f"{d}/" for d in sorted(PROTECTED_DIRS)))
