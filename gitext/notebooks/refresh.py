"""Re-register notebooks whose only changes are ones the strip filter removes.

Why this exists (the "phantom modified" notebook, nbstripout #108): git decides a file is
modified, without running any filter, when its size differs from the size recorded in the
index. Re-running a notebook changes its outputs and so its size: ``git status`` reports
it modified although ``git diff`` shows nothing, and ``git checkout`` / ``git pull`` refuse
to overwrite it ("Your local changes … would be overwritten").

git has one rule that helps: an index entry whose recorded size is 0 is never judged by
size; git compares content through the filter instead, and records the real stat when it
finds the file clean. So for every notebook whose work-tree file differs from its index
entry by stat, :func:`refresh` strips the file exactly as the clean filter would, and when
the result is the very blob already in the index, it re-registers that entry
(``git update-index --index-info``: same mode, same blob, zero stat). Nothing staged
changes and no file is written. A later edit of the source is still seen: a zero-stat
entry is compared by content.

Callers: ``git archives nb refresh``, the post-checkout / post-merge hooks, the
reference-transaction hook when a fetch updates remote-tracking refs (that is, before the
merge step of ``git pull``), and ``git archives watch`` after a notebook is saved.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from gitext.errors import ArchivesError, NotebookError

if TYPE_CHECKING:
    from gitext.git.repo import Repo
    from gitext.notebooks.strip_options import StripOptions

ATTR_PATHSPEC = ":(attr:filter=archives-nb)"


class RefreshReport:
    # A plain class, not a dataclass: dataclasses (and inspect) cost ~10 ms of import in
    # every post-checkout hook.
    __slots__ = ("modified", "refreshed", "unreadable")

    def __init__(self) -> None:
        self.refreshed: list[str] = []  # output-only changes, re-registered
        self.modified: list[str] = []  # real changes: left for git to show
        self.unreadable: list[str] = []  # "path: why"


class _Candidate(NamedTuple):
    mode: str
    blob: str
    path: str
    outputs: bool = False  # the work-tree file holds more than the blob (outputs, counts…)


def _blob_id(data: bytes, width: int) -> str:
    import hashlib  # only when a notebook is stat-dirty: OpenSSL's start-up is not free

    algo = hashlib.sha1 if width == 40 else hashlib.sha256
    h = algo(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def nothing_to_refresh(repo: Repo) -> bool:
    """Without running git: True when no index entry can be a notebook the notebook filter
    strips, so :func:`refresh` would find nothing (what a hook with nothing to do asks).
    That is: the index lists no ``*.ipynb`` and no nested ``.gitattributes``, and the
    top-level attributes give ``archives-nb`` to ``*.ipynb`` patterns only. (A global
    ``core.attributesFile`` giving it to other names is not read here.)"""
    if "GIT_INDEX_FILE" in os.environ:
        return False
    from gitext.git.index import lists_no_path_ending

    try:
        with open(repo.git_dir / "index", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return True  # nothing staged or committed yet
    except OSError:
        return False
    if not (lists_no_path_ending(data, b".ipynb")
            and lists_no_path_ending(data, b"/.gitattributes")):
        return False
    for attrs in (repo.root / ".gitattributes", repo.common_dir / "info" / "attributes"):
        try:
            text = attrs.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            fields = line.split()
            if "archives-nb" in line and fields and not fields[0].endswith(".ipynb"):
                return False
    return True


def _stat_dirty(repo: Repo, paths: Sequence[str]) -> list[_Candidate]:
    """Notebook index entries (stage 0) whose work-tree stat no longer matches the index.

    ``git diff-files`` compares stat only (it runs no filter for the raw listing), so this
    costs one git call and an lstat per entry.
    """
    specs = ([f":(attr:filter=archives-nb,literal){p}" for p in paths] if paths
             else [ATTR_PATHSPEC])
    raw = repo.git("diff-files", "-z", "--no-renames", "--", *specs).stdout
    fields = raw.split(b"\0")
    out: list[_Candidate] = []
    i = 0
    while i + 1 < len(fields):
        meta, raw_path = fields[i], fields[i + 1]
        i += 2
        parts = meta.decode("ascii", "replace").lstrip(":").split()
        # ":<mode index> <mode worktree> <blob index> <blob worktree> <status>"
        if len(parts) < 5 or parts[4] != "M" or parts[0] not in ("100644", "100755"):
            continue  # deleted, unmerged, type changes: not ours to judge
        out.append(_Candidate(parts[0], parts[2], os.fsdecode(raw_path)))
    return out


def _options(repo: Repo) -> StripOptions:
    from gitext.notebooks.strip_options import configured_options

    # The values left out are the filter's to report (it runs in the same git command).
    return configured_options(repo.root)[0]


def classify(repo: Repo, paths: Sequence[str] = (), *,
             opts: StripOptions | None = None) -> tuple[list[_Candidate], RefreshReport]:
    """The stat-dirty notebooks whose stripped content is their index blob, and a report
    sorting the others into real modifications and unreadable files."""
    report = RefreshReport()
    candidates = _stat_dirty(repo, paths)
    if not candidates:
        return [], report
    from gitext.notebooks.strip import clean_notebook

    options = opts or _options(repo)
    top = repo.root
    same: list[_Candidate] = []
    for cand in candidates:
        file = top / cand.path
        try:
            st = os.lstat(file)
            if not stat.S_ISREG(st.st_mode):
                continue
            data = file.read_bytes()
            stripped, _warning = clean_notebook(data, name=cand.path, opts=options)
        except OSError as exc:
            report.unreadable.append(f"{cand.path}: {exc.strerror or exc}")
            continue
        except NotebookError as exc:
            report.unreadable.append(f"{cand.path}: {exc.message}")
            continue
        if _blob_id(stripped, len(cand.blob)) == cand.blob:
            same.append(_Candidate(cand.mode, cand.blob, cand.path, stripped != data))
        else:
            report.modified.append(cand.path)
    return same, report


def register(repo: Repo, entries: Iterable[_Candidate]) -> list[str]:
    """Re-register ``entries`` with a zero stat (same mode, same blob): git then compares
    them by content through the filter instead of by size."""
    items = list(entries)
    if not items:
        return []
    payload = b"".join(f"{c.mode} {c.blob}\t".encode() + os.fsencode(c.path) + b"\0"
                       for c in items)
    proc = repo.git("update-index", "-z", "--index-info", input_bytes=payload, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ArchivesError(
            f"could not update the index: {err[-1] if err else proc.returncode}",
            hint="another git command may hold .git/index.lock; run "
                 "'git archives nb refresh' again when it is done")
    return [c.path for c in items]


def refresh(repo: Repo, paths: Sequence[str] = (), *, dry_run: bool = False,
            opts: StripOptions | None = None) -> RefreshReport:
    """Make git stop calling output-only notebook changes "modified" (see the module text).

    ``paths`` limits the work to those notebooks; ``dry_run`` only reports.
    """
    if repo.worktree is None:
        return RefreshReport()
    same, report = classify(repo, paths, opts=opts)
    if dry_run:
        report.refreshed = [c.path for c in same]
        return report
    # git would have refused to overwrite these files; once they are re-registered a
    # checkout may replace them. Keep what it would lose: their outputs.
    for cand in same:
        if cand.outputs:
            save_outputs(repo, cand.path)
    report.refreshed = register(repo, same)
    return report


# -- outputs kept across a checkout ------------------------------------------------------------

def outputs_dir(repo: Repo) -> Path:
    """Per work tree: ``<git dir>/archives-nb-outputs/<path of the notebook>``."""
    return repo.git_dir / "archives-nb-outputs"


def save_outputs(repo: Repo, path: str) -> Path | None:
    """Copy the work-tree notebook ``path`` (with its outputs) aside; one copy per path."""
    from gitext.fs.atomic import atomic_write

    src = repo.root / path
    dest = outputs_dir(repo) / path
    try:
        data = src.read_bytes()
        if dest.is_file() and dest.read_bytes() == data:
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, data)
    except OSError:
        return None
    return dest


def saved_outputs(repo: Repo) -> list[str]:
    """Notebook paths that have outputs kept aside."""
    base = outputs_dir(repo)
    if not base.is_dir():
        return []
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())


def replaced_since_saved(repo: Repo) -> list[str]:
    """Notebooks whose work-tree file lacks outputs that were kept aside for cells with the
    same source (a checkout or merge replaced it): what the post-checkout / post-merge
    hooks report."""
    import json

    out: list[str] = []
    for path in saved_outputs(repo):
        try:
            kept = json.loads((outputs_dir(repo) / path).read_bytes())
            current = json.loads((repo.root / path).read_bytes())
        except (OSError, ValueError):
            continue  # deleted or unreadable now: nothing to put back into
        if _merge_outputs(kept, current):
            out.append(path)
    return out


def discard_outputs(repo: Repo, path: str) -> bool:
    try:
        (outputs_dir(repo) / path).unlink()
    except FileNotFoundError:
        return False
    return True


def restore_outputs(repo: Repo, path: str, *, opts: StripOptions | None = None) -> int:
    """Put the kept outputs back into the work-tree notebook ``path``, for every cell whose
    type and source are unchanged and that has no outputs now. Returns how many cells got
    outputs back. The file is rewritten (atomically) only when its stripped form stays
    the same, so nothing staged or committed can change by this; the kept copy is then
    dropped."""
    import json

    from gitext.fs.worktree import write_bytes_in
    from gitext.notebooks.strip import clean_notebook

    kept_file = outputs_dir(repo) / path
    target = repo.root / path
    try:
        kept = json.loads(kept_file.read_bytes())
        current_bytes = target.read_bytes()
        current = json.loads(current_bytes)
    except FileNotFoundError as exc:
        raise NotebookError(f"{exc.filename}: not found",
                            hint="'git archives nb refresh' keeps outputs only for notebooks "
                                 "it re-registers") from None
    except (OSError, ValueError) as exc:
        raise NotebookError(f"{path}: cannot read it as a notebook ({exc})") from None
    restored = _merge_outputs(kept, current)
    if restored:
        indent = 1 if current_bytes[:4] in (b'{\n "', b"{\r\n ") else 2
        new = (json.dumps(current, indent=indent, ensure_ascii=False, sort_keys=True)
               + "\n").encode("utf-8")
        options = opts or _options(repo)
        before, _ = clean_notebook(current_bytes, name=path, opts=options)
        after, _ = clean_notebook(new, name=path, opts=options)
        if before != after:
            raise NotebookError(
                f"{path}: putting the kept outputs back would change what git stores "
                "(the strip settings keep some outputs); left as it is",
                hint=f"the outputs are in {kept_file}")
        write_bytes_in(repo.root, target, new)
        refresh(repo, [path], opts=options)
    kept_file.unlink()
    return restored


def _merge_outputs(kept: object, current: object) -> int:
    """Copy outputs from ``kept`` into the code cells of ``current`` (in place) that have
    none and whose source matches a kept cell (each kept cell used once, in order)."""
    if not isinstance(kept, dict) or not isinstance(current, dict):
        return 0
    by_source: dict[tuple[str, str], list[dict[str, object]]] = {}
    for cell in kept.get("cells") or []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code" and cell.get("outputs"):
            by_source.setdefault(_cell_key(cell), []).append(cell)
    restored = 0
    for cell in current.get("cells") or []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or cell.get("outputs"):
            continue
        donors = by_source.get(_cell_key(cell))
        if donors:
            donor = donors.pop(0)
            cell["outputs"] = donor["outputs"]
            cell["execution_count"] = donor.get("execution_count")
            restored += 1
    return restored


def _cell_key(cell: dict[str, object]) -> tuple[str, str]:
    src = cell.get("source", "")
    text = "".join(src) if isinstance(src, list) else str(src)
    return str(cell.get("cell_type", "")), text
