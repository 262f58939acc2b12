"""Reading a project's metrics and params at one version: the workspace (files on disk) or a
revision (git objects, no checkout; a metric that is a cached pipeline output is read from
the local store by the md5 that revision's ``dvc.lock`` recorded for it)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from gitext.errors import PipelineError
from gitext.pipeline.metrics.parse import METRIC_SUFFIXES, parse_metrics, select_keys
from gitext.pipeline.metrics.snapshot import WORKSPACE, Flat, Snapshot
from gitext.pipeline.metrics.sources import (
    MetricSource,
    ParamsSource,
    metric_sources,
    params_sources,
)
from gitext.pipeline.model import DEFAULT_PARAMS_FILE, Pipeline

if TYPE_CHECKING:
    from gitext.git.repo import Repo


class _Files:
    """Read-only access to one version of the repository's files."""

    label: str

    def read(self, path: str) -> bytes | None:
        raise NotImplementedError

    def list_files(self, path: str) -> list[str]:
        """Files under directory ``path`` (empty when it is not a directory)."""
        raise NotImplementedError

    def pipelines(self) -> list[Pipeline]:
        raise NotImplementedError

    def read_cached(self, path: str) -> bytes | None:
        """A cached output's bytes (None: this version does not record it)."""
        return self.read(path)

    def list_cached(self, path: str) -> list[str]:
        return self.list_files(path)

    def read_params(self, path: str) -> Flat | None:
        raise NotImplementedError


class _Workspace(_Files):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = WORKSPACE

    def _abs(self, path: str) -> Path:
        return self.root / path

    def read(self, path: str) -> bytes | None:
        try:
            return self._abs(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def list_files(self, path: str) -> list[str]:
        base = self._abs(path)
        if not base.is_dir():
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in filenames:
                full = Path(dirpath) / name
                found.append(full.relative_to(self.root).as_posix())
        return sorted(found)

    def pipelines(self) -> list[Pipeline]:
        from gitext.pipeline.dvcyaml.loader import load_all_pipelines

        return load_all_pipelines(self.root)

    def read_params(self, path: str) -> Flat | None:
        data = self.read(path)
        if data is None:
            return None
        return _flat_params(data, path)


def _flat_params(data: bytes, path: str) -> Flat:
    from gitext.pipeline.params import flatten as flatten_params
    from gitext.pipeline.params import parse_params

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PipelineError(f"params file {path} is not UTF-8 text") from None
    return dict(flatten_params(parse_params(text, file=path, suffix=PurePosixPath(path).suffix)))


# What a scratch copy of a revision holds besides dvc.yaml/dvc.lock: files a dvc.yaml may
# read as vars or params (Python ones only beside a dvc.yaml), up to a modest size.
_DATA_SUFFIXES = (".yaml", ".yml", ".json", ".toml")
_SCRATCH_MAX_SIZE = 256 * 1024


class _Revision(_Files):
    """A commit, read through git objects; pipeline files are parsed from a scratch copy."""

    def __init__(self, repo: Repo, rev: str, label: str | None = None) -> None:
        self.repo = repo
        self.rev = rev
        self.label = label if label is not None else rev
        self.commit = repo.resolve_rev(rev)
        self._tree: dict[str, tuple[str, str, int]] | None = None
        self._scratch: Path | None = None
        self._pipelines: list[Pipeline] | None = None
        self._locked: dict[str, str] | None = None

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    @property
    def tree(self) -> dict[str, tuple[str, str, int]]:
        """path -> (mode, blob id, size) of every file in the commit."""
        if self._tree is None:
            self._tree = {path: (mode, blob, size)
                          for mode, typ, blob, size, path in self.repo.ls_tree(self.commit)
                          if typ == "blob"}
        return self._tree

    def _blob(self, path: str) -> bytes | None:
        entry = self.tree.get(path)
        if entry is None or entry[0] == "120000":  # absent, or a symlink
            return None
        return content_of(self.repo, self.repo.read_blob_at(self.commit, path), path)

    def read(self, path: str) -> bytes | None:
        return self._blob(path)

    def list_files(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted(p for p in self.tree if p.startswith(prefix))

    def _scratch_root(self) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="git-archives-rev-")).resolve()
        return self._scratch

    def pipelines(self) -> list[Pipeline]:
        if self._pipelines is not None:
            return self._pipelines
        files = sorted(p for p in self.tree if PurePosixPath(p).name == "dvc.yaml")
        if not files:
            self._pipelines = []
            return self._pipelines
        # The parser reads dvc.yaml and its vars/params files from disk: give it a scratch
        # copy of them as they were at the revision (one batch read from git objects).
        dirs = {str(PurePosixPath(f).parent) for f in files}
        wanted = []
        for path, (mode, blob, size) in self.tree.items():
            pure = PurePosixPath(path)
            if mode == "120000":
                continue
            if pure.name in ("dvc.yaml", "dvc.lock") or path == ".dvc/config" or (
                    size <= _SCRATCH_MAX_SIZE and (pure.suffix in _DATA_SUFFIXES or (
                        pure.suffix == ".py" and str(pure.parent) in dirs))):
                wanted.append((path, blob))
        blobs = dict(self.repo.cat_blobs([blob for _, blob in wanted]))
        from gitext.fs.worktree import UnsafePathError, WorkTree

        with WorkTree(self._scratch_root()) as scratch:
            for path, blob in wanted:
                try:  # a tree entry such as '..' (git clone does not fsck) is left out
                    scratch.write_bytes(path, blobs.get(blob, b""), sync=False)
                except UnsafePathError:
                    continue
        from gitext.pipeline.dvcyaml.loader import load_all_pipelines

        try:
            loaded = load_all_pipelines(self._scratch_root())
        except PipelineError as exc:
            message = exc.message.replace(f"{scratch}{os.sep}", "").replace(str(scratch), ".")
            raise PipelineError(f"at {self.rev}: {message}", hint=exc.hint) from None
        self._pipelines = loaded
        return loaded

    @property
    def locked(self) -> dict[str, str]:
        """repo path -> md5 (``.dir`` for directories) of every output this revision's
        ``dvc.lock`` files record."""
        if self._locked is None:
            self._locked = {}
            for pipeline in self.pipelines():
                rel = pipeline.lock_file.relative_to(self._scratch_root()).as_posix()
                data = self._blob(rel)
                if data is not None:
                    self._locked.update(_lock_outs(data, rel, pipeline))
        return self._locked

    def _locked_entry(self, path: str) -> tuple[str, str] | None:
        """(output path, md5) of the locked output that is or contains ``path``."""
        for out, md5 in self.locked.items():
            if path == out or path.startswith(out + "/"):
                return out, md5
        return None

    def _manifest(self, out: str, md5: str) -> dict[str, str]:
        raw = _read_object(self.repo, "md5", md5, out)
        try:
            entries = json.loads(raw)
            return {str(e["relpath"]): str(e["md5"]) for e in entries}
        except (ValueError, TypeError, KeyError):
            raise PipelineError(f"{out}: the directory manifest {md5} is malformed",
                                hint="re-fetch it with 'git archives pull'") from None

    def read_cached(self, path: str) -> bytes | None:
        entry = self._locked_entry(path)
        if entry is None:
            return self._blob(path)
        out, md5 = entry
        if md5.endswith(".dir"):
            rel = path[len(out) + 1:]
            file_md5 = self._manifest(out, md5).get(rel)
            if file_md5 is None:
                return None
            return _read_object(self.repo, "md5", file_md5, path)
        if path != out:
            return None
        return _read_object(self.repo, "md5", md5, path)

    def list_cached(self, path: str) -> list[str]:
        entry = self._locked_entry(path)
        if entry is None or not entry[1].endswith(".dir"):
            return self.list_files(path)
        out, md5 = entry
        files = [f"{out}/{rel}" for rel in self._manifest(out, md5)]
        prefix = path.rstrip("/") + "/"
        return sorted(f for f in files if f.startswith(prefix))

    def read_params(self, path: str) -> Flat | None:
        data = self._blob(path)
        if data is None:
            return None
        return _flat_params(data, path)


def content_of(repo: Repo, data: bytes | None, path: str) -> bytes | None:
    """A committed file's content: the blob, or the cached object a pointer blob names."""
    if data is not None and data.startswith(b"version "):
        from gitext.codec.pointer import try_parse

        pointer = try_parse(data)
        if pointer is not None:
            return _read_object(repo, pointer.oid.algo, pointer.oid.digest, path)
    return data


def _lock_outs(data: bytes, rel: str, pipeline: Pipeline) -> dict[str, str]:
    """repo path -> md5 for each output a ``dvc.lock`` records (paths there are relative to
    the stage's wdir)."""
    from gitext.pipeline.lockfile import parse_lock

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PipelineError(f"{rel} is not UTF-8 text") from None
    lock = parse_lock(text, file=rel)
    lock_dir = PurePosixPath(rel).parent
    found: dict[str, str] = {}
    for name, entry in lock.stages.items():
        stage = pipeline.stages.get(name)
        wdir = PurePosixPath(stage.repo_wdir) if stage is not None else lock_dir
        for out in entry.outs:
            if out.md5 is not None:
                repo_path = os.path.normpath(str(wdir / out.path)).replace(os.sep, "/")
                found[repo_path] = out.md5
    return found


def _read_object(repo: Repo, algo: str, digest: str, what: str) -> bytes:
    """An object from the local store, verified against its id."""
    from gitext.codec.hashing import ObjectId

    oid = ObjectId(algo, digest.removesuffix(".dir"))
    from gitext.store.dvccache import open_store

    path = open_store(repo).key_path(oid.key + (".dir" if digest.endswith(".dir") else ""))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PipelineError(
            f"{what}: {algo} {digest} is not in the local cache",
            hint="fetch it with 'git archives pull'",
        ) from None
    if hashlib.new(algo, data, usedforsecurity=False).hexdigest() != oid.digest:
        raise PipelineError(f"{what}: cached object {oid} is corrupt",
                            hint="run 'git archives fsck', then 'git archives pull'")
    return data


def _open_version(repo: Repo, rev: str | None, label: str | None = None) -> _Files:
    return _Workspace(repo.root) if rev is None else _Revision(repo, rev, label)


def _close(files: _Files) -> None:
    if isinstance(files, _Revision):
        files.close()


# The same, for the other readers of a version's files (plots).
open_version = _open_version
close_version = _close


def collect_metrics(repo: Repo, rev: str | None = None, *,
                    targets: Sequence[str] | None = None, label: str | None = None,
                    ) -> Snapshot:
    """Every metric of the project at ``rev`` (None: the workspace).

    ``targets`` (repo-relative files or directories) replace the metrics ``dvc.yaml``
    declares, like DVC's ``--targets``. Unreadable files go to ``errors``, not raised.
    ``label`` names the snapshot (default ``rev``, or ``workspace``).
    """
    files = _open_version(repo, rev, label)
    try:
        return metrics_of(files, targets=targets)
    finally:
        _close(files)


def metrics_of(files: _Files, *, targets: Sequence[str] | None = None) -> Snapshot:
    """:func:`collect_metrics` of one opened version."""
    snap = Snapshot(files.label)
    if targets is not None:
        sources = [MetricSource(_clean(t), cached=True) for t in targets]
    else:
        pipelines = _pipelines_or_error(files, snap)
        if pipelines is None:
            return snap
        sources = metric_sources(pipelines)
    for source in sources:
        _collect_source(files, source, snap)
    return snap


def _pipelines_or_error(files: _Files, snap: Snapshot) -> list[Pipeline] | None:
    """The version's pipelines. At a revision, a dvc.yaml that does not load is recorded in
    ``snap.errors`` (None returned) so the other revisions are still reported; in the
    workspace it is raised: the user can fix it."""
    if not isinstance(files, _Revision):
        return files.pipelines()
    try:
        return files.pipelines()
    except PipelineError as exc:
        message = exc.message.removeprefix(f"at {files.rev}: ")
        snap.errors[message.split(":", 1)[0]] = message
        return None


def _clean(path: str) -> str:
    return PurePosixPath(os.path.normpath(path).replace(os.sep, "/")).as_posix()


def _collect_source(files: _Files, source: MetricSource, snap: Snapshot) -> None:
    reader = files.read_cached if source.cached else files.read
    lister = files.list_cached if source.cached else files.list_files
    try:
        data = reader(source.path)
        paths = [source.path] if data is not None else [
            p for p in lister(source.path) if PurePosixPath(p).suffix.lower() in METRIC_SUFFIXES]
        for path in paths:
            blob = data if path == source.path else reader(path)
            if blob is None:
                continue
            try:
                snap.values[path] = parse_metrics(blob, path)
            except PipelineError as exc:
                snap.errors[path] = exc.message
    except PipelineError as exc:
        snap.errors[source.path] = exc.message if not exc.hint else f"{exc.message} ({exc.hint})"


def collect_params(repo: Repo, rev: str | None = None, *, label: str | None = None,
                   targets: Sequence[str] | None = None, deps_only: bool = False,
                   ) -> Snapshot:
    """The params the project's stages use (and every key of its params files) at ``rev``
    (None: the workspace); ``label`` names the snapshot (default ``rev``).

    ``targets`` (repo-relative params files) limits the report to those files, read whole
    when no stage uses them (DVC's ``--targets``); ``deps_only`` keeps only the params stages
    list (DVC's ``--deps``)."""
    files = _open_version(repo, rev, label)
    try:
        return params_of(files, targets=targets, deps_only=deps_only)
    finally:
        _close(files)


def params_of(files: _Files, *, targets: Sequence[str] | None = None,
              deps_only: bool = False) -> Snapshot:
    """:func:`collect_params` of one opened version."""
    snap = Snapshot(files.label)
    pipelines = _pipelines_or_error(files, snap)
    if pipelines is None:
        return snap
    has_default = files.read(DEFAULT_PARAMS_FILE) is not None
    sources = params_sources(pipelines, default_exists=has_default, deps_only=deps_only)
    if targets is not None:
        wanted = [_clean(t) for t in targets]
        used = {source.path: source for source in sources}
        sources = [used.get(path, ParamsSource(path, None)) for path in sorted(set(wanted))]
    for source in sources:
        try:
            flat = files.read_params(source.path)
        except PipelineError as exc:
            snap.errors[source.path] = exc.message
            continue
        if flat is not None:
            snap.values[source.path] = select_keys(flat, source.keys)
    return snap
