"""``doctor``'s notebook check: committed or staged notebooks that still carry outputs.

A notebook committed before the ``archives-nb`` filter was set up (or with the filter
bypassed) keeps its outputs in history. This finds such blobs in ``HEAD`` and the index
and says which command re-cleans them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitext.codec.shellquote import shell_args
from gitext.errors import NotebookError
from gitext.notebooks.strip import strip_and_compare
from gitext.notebooks.strip_options import NOTEBOOK_SUFFIXES, StripOptions

if TYPE_CHECKING:
    from gitext.git.repo import Repo

NOTEBOOK_FILTER = "archives-nb"


@dataclass
class NotebookScan:
    """Paths (sorted) of notebooks that stripping would change, and of unreadable ones."""

    unstripped: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, message)


def _notebook_paths(repo: Repo, paths: Iterable[str]) -> set[str]:
    """Paths named like notebooks, or given ``filter=archives-nb`` by .gitattributes."""
    paths = sorted(set(paths))
    found = {p for p in paths if p.endswith(NOTEBOOK_SUFFIXES)}
    rest = [p for p in paths if p not in found]
    if rest:
        proc = repo.git("check-attr", "-z", "--stdin", "filter",
                        input_bytes=b"".join(p.encode("utf-8", "surrogateescape") + b"\0"
                                             for p in rest))
        fields = proc.stdout.split(b"\0")
        for i in range(0, len(fields) - 2, 3):
            if fields[i + 2] == NOTEBOOK_FILTER.encode():
                found.add(fields[i].decode("utf-8", "surrogateescape"))
    return found


def scan_notebooks(repo: Repo, opts: StripOptions) -> NotebookScan:
    """Check every notebook blob in ``HEAD`` and in the index against ``opts``."""
    entries: list[tuple[str, str]] = [(e.path, e.blob) for e in repo.ls_files()
                                      if e.mode != "160000"]
    has_head = repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}",
                        check=False).returncode == 0
    if has_head:
        entries += [(path, blob) for mode, typ, blob, _size, path in repo.ls_tree("HEAD")
                    if typ == "blob" and mode != "120000"]
    wanted = _notebook_paths(repo, (p for p, _ in entries))
    by_blob: dict[str, set[str]] = {}
    for path, blob in entries:
        if path in wanted:
            by_blob.setdefault(blob, set()).add(path)

    scan = NotebookScan()
    unstripped: set[str] = set()
    unreadable: dict[str, str] = {}
    for blob, data in repo.cat_blobs(sorted(by_blob)):
        for path in sorted(by_blob[blob]):
            try:
                _, changed = strip_and_compare(data, name=path, opts=opts)
            except NotebookError as exc:
                unreadable.setdefault(path, exc.message)
                continue
            if changed:
                unstripped.add(path)
    scan.unstripped = sorted(unstripped)
    scan.unreadable = sorted(unreadable.items())
    return scan


def find_unstripped_notebooks(repo: Repo, opts: StripOptions) -> list[str]:
    """Notebook paths whose blob in HEAD or the index still has what stripping removes."""
    return scan_notebooks(repo, opts).unstripped


def renormalize_command(paths: Sequence[str]) -> str:
    """The command that re-runs the clean filter on ``paths`` (all files if there are many)."""
    if not paths or len(paths) > 10:
        return "git add --renormalize ."
    return "git add --renormalize -- " + shell_args(paths)
