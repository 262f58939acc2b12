"""The "unstored objects" note, ``<git common dir>/archives/unstored``: its one reader and
writer.

The clean filter answers git with a pointer before a write-behind object is on disk; when
that write then fails, the filter appends a line here, so the pre-commit hook can refuse to
commit those pointers. One line per file: ``<algo>:<digest>\\t<path>\\t<why>``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from gitext.codec.hashing import ObjectId

NAME = "unstored"


class Entry(NamedTuple):
    line: str  # as written, to keep it verbatim
    oid: ObjectId
    path: str
    why: str


def append(archives_dir: Path, items: list[tuple[ObjectId, str]], why: str) -> None:
    """Note the files (object id, repository path) whose object could not be written."""
    if not items:
        return
    text = "".join(f"{oid.algo}:{oid.digest}\t{path}\t{why}\n".replace("\r", " ")
                   for oid, path in items)
    with contextlib.suppress(OSError), open(archives_dir / NAME, "a", encoding="utf-8",
                                            errors="surrogateescape") as f:
        f.write(text)


def read(archives_dir: Path) -> list[Entry] | None:
    """The note's entries, each once (malformed lines skipped); None if there is no note
    or it cannot be read."""
    note = archives_dir / NAME
    if not note.exists():
        return None  # the pre-commit hook's usual case: nothing imported beyond this module
    from gitext.codec.hashing import ObjectId
    from gitext.errors import ArchivesError

    try:
        lines = note.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return None
    entries: list[Entry] = []
    for line in dict.fromkeys(lines):
        parts = line.split("\t", 2)
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        algo, digest = parts[0].split(":", 1)
        try:
            oid = ObjectId(algo, digest)
        except ArchivesError:
            continue
        entries.append(Entry(line, oid, parts[1], parts[2]))
    return entries


def keep_only(archives_dir: Path, entries: list[Entry]) -> None:
    """Rewrite the note with just ``entries`` (remove it when there are none)."""
    from gitext.fs.atomic import atomic_write

    note = archives_dir / NAME
    try:
        if entries:
            atomic_write(note, ("\n".join(e.line for e in entries) + "\n").encode(
                "utf-8", "surrogateescape"))
        else:
            note.unlink()
    except OSError:
        pass
