"""The data ``.dvc`` files track, in a work tree: which files there are, and their outputs'
state as ``dvc status`` reports it.

A ``.dvc`` file counts when git tracks it or would (``git ls-files --cached --others
--exclude-standard``): ``dvc add`` writes one before anyone stages it. Its format is
:mod:`gitext.pipeline.dvcfiles`'s.

State of an output, in DVC's words and order (``dvc/output.py`` ``Output.status``):
``not in cache`` when the recorded object is not in the local store, else ``deleted`` when
nothing is at the path, ``modified`` when what is there hashes differently, else nothing
to say. Outputs DVC 2 recorded (``legacy``) or that name no cached object are reported as
``not checked`` with the reason: nothing here can tell.
"""

from __future__ import annotations

from pathlib import Path

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError
from gitext.git.repo import run_git
from gitext.pipeline.dvcfiles import DvcFile, DvcOut, is_dvcfile, parse_dvcfile
from gitext.pipeline.dvchash.md5 import MD5
from gitext.pipeline.dvchash.tree import Hasher
from gitext.store import manifests
from gitext.store.dvccache import store_for
from gitext.store.objects import LocalStore

NOT_IN_CACHE = "not in cache"
DELETED = "deleted"
MODIFIED = "modified"


def list_dvcfiles(root: Path) -> list[str]:
    """Repository paths of the ``.dvc`` files in the work tree (one git call)."""
    proc = run_git(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                    ":(glob)**/*.dvc"], cwd=root, check=False)
    found = {raw.decode("utf-8", "surrogateescape") for raw in proc.stdout.split(b"\0") if raw}
    return sorted(p for p in found if is_dvcfile(p) and (root / p).is_file())


def load_dvcfiles(root: Path, paths: list[str] | None = None,
                  ) -> tuple[list[DvcFile], list[tuple[str, str]]]:
    """The parsed ``.dvc`` files of the work tree, and (file, error) for each that DVC would
    not read either (its error names the line)."""
    parsed: list[DvcFile] = []
    errors: list[tuple[str, str]] = []
    for rel in list_dvcfiles(root) if paths is None else paths:
        try:
            parsed.append(parse_dvcfile((root / rel).read_bytes(), file=rel))
        except ArchivesError as exc:
            errors.append((rel, exc.message))
        except OSError as exc:
            errors.append((rel, f"{rel}: cannot read: {exc.strerror or exc}"))
    return parsed, errors


def in_store(store: LocalStore, md5: str) -> bool:
    """Whether the object (a directory: its manifest and every file it lists) is cached."""
    if not manifests.has_object(store, md5):
        return False
    if manifests.is_manifest_id(md5):
        return all(store.has(ObjectId(MD5, e.md5)) for e in manifests.read_manifest(store, md5))
    return True


def output_state(root: Path, out: DvcOut, store: LocalStore, hasher: Hasher) -> str | None:
    """What ``dvc status`` would say of one output (None: nothing, it is as recorded)."""
    if out.legacy:
        return "not checked (recorded by DVC 2: 'dvc add' it again with DVC 3)"
    if out.md5 is None or not out.cache:
        return None
    if not in_store(store, out.md5):
        return NOT_IN_CACHE
    current = hasher.path(root / out.path)
    if current is None:
        return DELETED
    return None if current.md5 == out.md5 else MODIFIED


class DvcStatus:
    """``changed``: (``.dvc`` file, output path, state) for every output that is not as
    recorded; ``errors``: (``.dvc`` file, message) for files that could not be read."""

    __slots__ = ("changed", "errors", "outputs")

    def __init__(self) -> None:
        self.outputs = 0
        self.changed: list[tuple[str, str, str]] = []
        self.errors: list[tuple[str, str]] = []

    def to_dict(self) -> dict[str, dict[str, str]]:
        """As ``dvc status --json`` groups it: ``{file: {path: state}}``."""
        out: dict[str, dict[str, str]] = {}
        for file, path, state in self.changed:
            out.setdefault(file, {})[path] = state
        return out


def survey(root: Path, archives_dir: Path,
           ) -> tuple[list[tuple[str, DvcOut, str | None]], list[tuple[str, str]]]:
    """(``.dvc`` file, output, :func:`output_state`) of every output under ``root``, and
    the files that could not be read."""
    from gitext.store.state import StateCache

    files, errors = load_dvcfiles(root)
    rows: list[tuple[str, DvcOut, str | None]] = []
    if not files:
        return rows, errors
    state = StateCache(archives_dir / "state.db")
    try:
        store = store_for(root, archives_dir, state=state)
        hasher = Hasher(state, root)
        for dvc_file in files:
            for out in dvc_file.outs:
                try:
                    said = output_state(root, out, store, hasher)
                except ArchivesError as exc:  # a corrupt manifest in the cache
                    said = f"not checked ({exc.message})"
                rows.append((dvc_file.file, out, said))
    finally:
        state.close()
    return rows, errors


def dvc_status(root: Path, archives_dir: Path) -> DvcStatus:
    """The state of every output of every ``.dvc`` file under ``root``."""
    report = DvcStatus()
    rows, report.errors = survey(root, archives_dir)
    report.outputs = len(rows)
    report.changed = [(file, out.path, said) for file, out, said in rows if said is not None]
    return report


class TrackedData:
    """The outputs of the work tree's ``.dvc`` files, for ``repro``'s dependency check
    (read once, on first use: one git call)."""

    def __init__(self, root: Path, store: LocalStore) -> None:
        self.root = root
        self.store = store
        self._outs: list[tuple[str, DvcOut]] | None = None

    def outs(self) -> list[tuple[str, DvcOut]]:
        if self._outs is None:
            files, _errors = load_dvcfiles(self.root)  # errors: 'status' reports them
            self._outs = [(f.file, o) for f in files for o in f.outs if o.addressable]
        return self._outs

    def unfetched(self, path: str) -> tuple[str, str] | None:
        """(``.dvc`` file, output) when ``path`` is, holds or lies in an output whose
        recorded content is not in the cache: what is on disk is older (or other) data than
        the ``.dvc`` file records, and a run on it would record stale results."""
        for file, out in self.outs():
            overlaps = (out.path == path or path.startswith(out.path + "/")
                        or out.path.startswith(path + "/"))
            if overlaps and out.md5 is not None and not in_store(self.store, out.md5):
                return file, out.path
        return None
