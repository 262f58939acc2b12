"""Index entries that look like pointers but are not valid ones (a bad oid or size, a key
we do not know, ``size 0`` with a real oid). The filter stores and checks them out byte for
byte; this finds them so ``git archives status`` and ``fsck`` can say what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitext.codec import pointer as ptr
from gitext.codec.shellquote import scrub, shell_arg
from gitext.errors import PointerError

if TYPE_CHECKING:
    from gitext.git.repo import Repo

LARGE_FILE_FILTER = b"archives"
LARGE_FILE_FILTERS = (LARGE_FILE_FILTER, b"lfs")  # git-lfs's driver: served by us too


@dataclass(frozen=True)
class InvalidPointer:
    path: str  # relative to the work tree
    reason: str

    @property
    def fix(self) -> str:
        return (f"write the file's real content and 'git add {shell_arg(self.path)}', or "
                f"restore a good version: git checkout <good-commit> -- {shell_arg(self.path)}")

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "fix": self.fix}

    def line(self) -> str:
        return f"{scrub(self.path)}: {self.reason}"


def index_invalid_pointers(repo: Repo) -> list[InvalidPointer]:
    """Staged blobs under ``filter=archives`` (or ``filter=lfs``) that start like a pointer
    but do not parse."""
    entries = [e for e in repo.ls_files() if e.stage == 0 and e.mode in ("100644", "100755")]
    if not entries:
        return []
    check = repo.git("cat-file", "--batch-check=%(objectsize)",
                     input_bytes="".join(e.blob + "\n" for e in entries).encode()).stdout
    small = [e for e, size in zip(entries, check.decode().split(), strict=False)
             if size.isdigit() and 0 < int(size) < ptr.MAX_POINTER_SIZE]
    blobs = dict(repo.cat_blobs(sorted({e.blob for e in small})))
    found: dict[str, str] = {}
    for entry in small:
        data = blobs.get(entry.blob, b"")
        if not ptr.looks_like_pointer(data):
            continue
        try:
            ptr.parse(data)
        except PointerError as exc:
            found[entry.path] = exc.message
    tracked = _with_large_file_filter(repo, sorted(found))
    return [InvalidPointer(p, found[p]) for p in sorted(found) if p in tracked]


def _with_large_file_filter(repo: Repo, paths: list[str]) -> set[str]:
    if not paths:
        return set()
    proc = repo.git("check-attr", "-z", "--stdin", "filter",
                    input_bytes=b"".join(p.encode("utf-8", "surrogateescape") + b"\0"
                                         for p in paths))
    fields = proc.stdout.split(b"\0")
    return {fields[i].decode("utf-8", "surrogateescape") for i in range(0, len(fields) - 2, 3)
            if fields[i + 2] in LARGE_FILE_FILTERS}
