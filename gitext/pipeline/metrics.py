"""Metrics and params: read them at the workspace or at any revision, compare, format.

A *snapshot* is what one version of the project says: ``{file: {flat.key: value}}``. At the
workspace files are read from disk; at a revision they are read from git objects (no
checkout), and a metric that is a cached pipeline output is read from the local store by the
md5 that revision's ``dvc.lock`` recorded for it.

Metric files are JSON, YAML (1.2, as DVC reads it), TOML, or CSV/TSV. Nested mappings are
flattened with dots (``train.loss``); lists are values. DVC 3 no longer reads CSV metrics;
we take a CSV's header as the metric names and its *last* row as the values, so a training
log that appends one row per epoch reports where it ended.

Comparisons follow ``dvc metrics diff``: only changed values unless ``all``; a change is
computed for numbers only (not booleans or strings), exactly in decimal (13.58 - 12.9 is
0.68, not 0.6799999999999997); rows sorted by file, then key.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from gitext.errors import PipelineError
from gitext.pipeline.model import Pipeline

if TYPE_CHECKING:
    from gitext.git.repo import Repo

WORKSPACE = "workspace"
DEFAULT_PRECISION = 5
DEFAULT_PARAMS_FILE = "params.yaml"
METRIC_SUFFIXES = (".json", ".yaml", ".yml", ".toml", ".csv", ".tsv")

Flat = dict[str, Any]


class _Missing:
    """A value absent at one side of a comparison (shown as ``-``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass
class Snapshot:
    """What one version says: values per file, and files that could not be read."""

    label: str
    values: dict[str, Flat] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


# --- parsing one file ----------------------------------------------------------------------

def flatten(data: Mapping[Any, Any], prefix: str = "") -> Flat:
    """Nested mappings to ``{"a.b.c": value}``; lists and scalars are values."""
    flat: Flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            nested = flatten(value, f"{name}.")
            if nested:
                flat.update(nested)
            else:
                flat[name] = {}
        else:
            flat[name] = value
    return flat


def _number(text: str) -> Any:
    raw = text.strip()
    if re.fullmatch(r"[-+]?\d+", raw):
        return int(raw)
    try:
        return float(raw)
    except ValueError:
        return text


def _load_toml(text: str) -> Any:
    try:
        toml = importlib.import_module("tomllib")
    except ModuleNotFoundError:  # Python 3.10
        try:
            toml = importlib.import_module("tomli")
        except ModuleNotFoundError:
            raise PipelineError(
                "reading TOML needs Python 3.11 or the 'tomli' package",
                hint="pip install tomli",
            ) from None
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise ValueError(str(exc)) from None


def _load_table(text: str, delimiter: str) -> Flat:
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    if len(rows) < 2:
        raise ValueError("needs a header row and at least one row of values")
    header, last = rows[0], rows[-1]
    if len(last) != len(header):
        raise ValueError(
            f"the last row has {len(last)} fields but the header has {len(header)}")
    return {name: _number(cell) for name, cell in zip(header, last, strict=True)}


def parse_metrics(data: bytes, name: str) -> Flat:
    """The flat metrics of one file's bytes; the format comes from ``name``'s suffix
    (unknown suffixes are read as YAML, which also reads JSON). Raises PipelineError."""
    suffix = PurePosixPath(name).suffix.lower()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PipelineError(f"{name}: not UTF-8 text",
                            hint="metrics files are JSON, YAML, TOML or CSV") from None
    try:
        if suffix in (".csv", ".tsv"):
            return _load_table(text, "\t" if suffix == ".tsv" else ",")
        if suffix == ".json":
            loaded = json.loads(text)
        elif suffix == ".toml":
            loaded = _load_toml(text)
        else:
            from gitext.pipeline.yaml12 import load_yaml

            loaded = load_yaml(text, file=name)
    except (ValueError, csv.Error) as exc:
        raise PipelineError(f"{name}: cannot parse: {exc}",
                            hint=f"fix the syntax of {name}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise PipelineError(f"{name}: holds a {type(loaded).__name__}, not key/value pairs",
                            hint="a metrics file maps names to values, e.g. {\"acc\": 0.9}")
    return flatten(loaded)


# --- which files -------------------------------------------------------------------------

@dataclass(frozen=True)
class MetricSource:
    path: str  # repo-relative POSIX path (file or directory)
    cached: bool  # a cached pipeline output: at a revision, read via dvc.lock + the store


def metric_sources(pipelines: Sequence[Pipeline]) -> list[MetricSource]:
    """Stage ``metrics:`` outputs and top-level ``metrics:`` entries, sorted by path.

    A top-level entry inside a cached output (``eval/metrics.json`` in the output ``eval``)
    counts as cached.
    """
    cached_outs = [o.repo_path for p in pipelines for s in p.stages.values()
                   for o in s.outs if o.cache]
    found: dict[str, bool] = {}
    for pipeline in pipelines:
        for stage in pipeline.stages.values():
            for out in stage.outs:
                if out.kind == "metrics":
                    found[out.repo_path] = found.get(out.repo_path, False) or out.cache
        for path in pipeline.metrics:
            inside = any(path == o or path.startswith(o + "/") for o in cached_outs)
            found[path] = found.get(path, False) or inside
    return [MetricSource(p, c) for p, c in sorted(found.items())]


@dataclass(frozen=True)
class ParamsSource:
    path: str  # repo-relative POSIX path of the params file
    keys: tuple[str, ...] | None  # None: every key


def params_sources(pipelines: Sequence[Pipeline], *, default_exists: bool,
                   deps_only: bool = False) -> list[ParamsSource]:
    """The params a project uses: stage ``params:`` (their keys), top-level ``params:`` files
    and the root ``params.yaml`` when it exists (every key), merged per file, sorted.
    ``deps_only``: only what stages list (DVC's ``--deps``)."""
    keys: dict[str, set[str] | None] = {}

    def add(path: str, wanted: tuple[str, ...] | None) -> None:
        if path in keys and keys[path] is None:
            return
        if wanted is None:
            keys[path] = None
        else:
            keys.setdefault(path, set())
            current = keys[path]
            if current is not None:
                current.update(wanted)

    for pipeline in pipelines:
        for stage in pipeline.stages.values():
            for dep in stage.params:
                add(dep.repo_path, dep.keys)
        if not deps_only:
            for path in pipeline.params:
                add(path, None)
    if default_exists and not deps_only:
        add(DEFAULT_PARAMS_FILE, None)
    return [ParamsSource(p, None if k is None else tuple(sorted(k)))
            for p, k in sorted(keys.items())]


def select_keys(flat: Flat, keys: tuple[str, ...] | None) -> Flat:
    """The entries named by ``keys``: a key selects itself and everything under it, and a
    key into a list (``layers.0.size``) selects that item."""
    if keys is None:
        return dict(flat)
    selected = {k: v for k, v in flat.items()
                if any(k == want or k.startswith(want + ".") for want in keys)}
    for want in keys:
        if any(k == want or k.startswith(want + ".") for k in selected):
            continue
        for k, v in flat.items():
            if isinstance(v, list) and want.startswith(k + "."):
                found = _index(v, want[len(k) + 1:].split("."))
                if found is not MISSING:
                    selected[want] = found
    return selected


def _index(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return MISSING
    return value


# --- reading a version of the project ------------------------------------------------------

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
        data = self.repo.read_blob_at(self.commit, path)
        if data is not None:
            from gitext.codec.pointer import try_parse

            pointer = try_parse(data) if data.startswith(b"version ") else None
            if pointer is not None:
                return _read_object(self.repo, pointer.oid.algo, pointer.oid.digest, path)
        return data

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
    path = repo.archives_dir / (oid.key + (".dir" if digest.endswith(".dir") else ""))
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
    finally:
        _close(files)


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
    finally:
        _close(files)


# --- which revisions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Revision:
    """One column of a multi-revision report: a commit and the names that point at it."""

    label: str  # "main", "main, v1.0", or a short commit id
    commit: str  # full commit id


def _refs(repo: Repo, namespace: str) -> list[tuple[str, str]]:
    """(short name, commit) of every ref under ``namespace`` whose target peels to a
    commit, sorted by name."""
    fmt = "%(refname)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)"
    text = repo.git_text("for-each-ref", f"--format={fmt}", namespace)
    found = []
    for line in text.splitlines():
        parts = line.split("\0")
        if len(parts) != 5:
            continue
        ref, typ, obj, peeled_typ, peeled = parts
        commit = peeled if peeled_typ == "commit" else obj if typ == "commit" else None
        if commit is not None:
            found.append((ref.removeprefix(namespace + "/"), commit))
    return sorted(found)


def list_revisions(repo: Repo, *, all_branches: bool = False, all_tags: bool = False,
                   all_commits: bool = False) -> list[Revision]:
    """The commits DVC's ``-a`` (every branch), ``-T`` (every tag) and ``-A`` (every commit
    reachable from a branch, a tag or HEAD) name, as revisions in that order: branches and
    tags sorted by name, commits newest first. A commit named several times is listed once,
    labelled with all its names (``main, v1.0``); an unnamed commit by its short id."""
    names: dict[str, list[str]] = {}
    if all_branches:
        for name, commit in _refs(repo, "refs/heads"):
            names.setdefault(commit, []).append(name)
    if all_tags:
        for name, commit in _refs(repo, "refs/tags"):
            names.setdefault(commit, []).append(name)
    if all_commits:
        args = ["rev-list", "--branches", "--tags"]
        head = repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        if head.returncode == 0:
            args.append("HEAD")
        for commit in repo.git_text(*args).split():
            names.setdefault(commit, [])
    return [Revision(", ".join(found) if found else commit[:7], commit)
            for commit, found in names.items()]


# --- comparing ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DiffRow:
    path: str
    key: str
    old: Any  # MISSING when absent
    new: Any
    change: int | float | None  # None: not numbers on both sides


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric_change(old: Any, new: Any) -> int | float | None:
    """``new - old`` for two numbers, exact in decimal; None otherwise."""
    if not (is_number(old) and is_number(new)):
        return None
    if isinstance(old, int) and isinstance(new, int):
        return new - old
    if not (math.isfinite(old) and math.isfinite(new)):
        return float(new) - float(old)
    try:
        return float(Decimal(repr(float(new))) - Decimal(repr(float(old))))
    except InvalidOperation:  # pragma: no cover - finite floats always convert
        return float(new) - float(old)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b) and not (is_number(a) and is_number(b)):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def diff_snapshots(old: Mapping[str, Flat], new: Mapping[str, Flat], *,
                   all: bool = False, with_change: bool = True) -> list[DiffRow]:
    """Rows for every key whose value differs (every key with ``all``), sorted by file
    then key. ``with_change=False`` leaves the change empty (params)."""
    rows: list[DiffRow] = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path, {}), new.get(path, {})
        for key in sorted(set(before) | set(after)):
            a, b = before.get(key, MISSING), after.get(key, MISSING)
            if not all and _same(a, b):
                continue
            change = numeric_change(a, b) if with_change else None
            rows.append(DiffRow(path, key, a, b, change))
    return rows


def diff_metrics(old: Mapping[str, Flat], new: Mapping[str, Flat], *,
                 all: bool = False) -> list[DiffRow]:
    """What changed between two metric snapshots' values."""
    return diff_snapshots(old, new, all=all, with_change=True)


def diff_params(old: Mapping[str, Flat], new: Mapping[str, Flat], *,
                all: bool = False) -> list[DiffRow]:
    """What changed between two params snapshots' values (no change column, as DVC)."""
    return diff_snapshots(old, new, all=all, with_change=False)


# --- formatting ---------------------------------------------------------------------------

def format_value(value: Any, precision: int | None = DEFAULT_PRECISION) -> str:
    """A value for a table: floats rounded to ``precision`` decimals (None: as read),
    booleans and null in JSON spelling, ``-`` when absent."""
    if value is MISSING:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value, precision)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "), default=str)
    return str(value)


def _format_float(value: float, precision: int | None) -> str:
    if not math.isfinite(value):
        return str(value)
    rounded = value if precision is None else round(value, precision)
    if rounded == 0:
        rounded = 0.0  # no "-0.0"
    text = repr(rounded)
    return text.removesuffix(".0") if "e" not in text and text.endswith(".0") else text


def format_change(change: int | float | None, precision: int | None = DEFAULT_PRECISION,
                  ) -> str:
    """``+0.68``, ``-2``, ``0``; ``-`` when there is no numeric change."""
    if change is None:
        return "-"
    text = format_value(change, precision)
    if text in ("0", "0.0"):
        return "0"
    return text if text.startswith("-") else f"+{text}"


def _align(header: Sequence[str], rows: Sequence[Sequence[str]],
           right: Sequence[bool]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = []
    for cells in (header, *rows):
        parts = [c.rjust(w) if r else c.ljust(w)
                 for c, w, r in zip(cells, widths, right, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]],
              right: Sequence[bool]) -> str:
    """A GitHub-flavoured markdown table, padded so the source reads as a table too."""
    body = [[c.replace("|", "\\|") for c in r] for r in rows]
    widths = [max(3, len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    rule = ["-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right, strict=True)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
             "| " + " | ".join(rule) + " |"]
    for cells in body:
        parts = [c.rjust(w) if r else c.ljust(w)
                 for c, w, r in zip(cells, widths, right, strict=True)]
        lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


def format_diff(rows: Sequence[DiffRow], *, old_label: str, new_label: str,
                kind: str = "Metric", precision: int | None = DEFAULT_PRECISION,
                markdown: bool = False, show_change: bool = True) -> str:
    """An aligned table (or a GitHub markdown table): Path, Metric, old, new, Change.
    Numbers are right-aligned so digits line up."""
    header = ["Path", kind, old_label, new_label]
    right = [False, False, True, True]
    if show_change:
        header.append("Change")
        right.append(True)
    body = []
    for row in rows:
        cells = [row.path, row.key, format_value(row.old, precision),
                 format_value(row.new, precision)]
        if show_change:
            cells.append(format_change(row.change, precision))
        body.append(cells)
    return (_markdown if markdown else _align)(header, body, right)


def format_show(snapshot: Snapshot, *, kind: str = "Metric",
                precision: int | None = DEFAULT_PRECISION, markdown: bool = False) -> str:
    """Every value of one snapshot: Path, Metric, Value."""
    body = [[path, key, format_value(value, precision)]
            for path in sorted(snapshot.values)
            for key, value in sorted(snapshot.values[path].items())]
    return (_markdown if markdown else _align)(["Path", kind, "Value"], body,
                                                [False, False, True])


def format_show_revisions(snapshots: Sequence[Snapshot], *, kind: str = "Metric",
                          precision: int | None = DEFAULT_PRECISION,
                          markdown: bool = False) -> str:
    """Several snapshots side by side: Path, Metric, then one column per snapshot
    (``-`` where that version has no such value). Rows sorted by file, then key."""
    keys = sorted({(path, key) for snap in snapshots
                   for path, flat in snap.values.items() for key in flat})
    body = [[path, key, *(format_value(snap.values.get(path, {}).get(key, MISSING), precision)
                          for snap in snapshots)]
            for path, key in keys]
    header = ["Path", kind, *(snap.label for snap in snapshots)]
    right = [False, False, *(True for _ in snapshots)]
    return (_markdown if markdown else _align)(header, body, right)


def show_revisions_to_json(snapshots: Sequence[Snapshot], *,
                           precision: int | None = None) -> str:
    """``{label: {path: {key: value}}}`` in the snapshots' order, files and keys sorted."""
    out = {snap.label: {path: {key: _json_value(v, precision)
                               for key, v in sorted(snap.values[path].items())}
                        for path in sorted(snap.values)}
           for snap in snapshots}
    return json.dumps(out, indent=2, default=str) + "\n"


def _json_value(value: Any, precision: int | None) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Infinity
    if precision is not None and isinstance(value, float):
        return round(value, precision)
    return value


def diff_to_json(rows: Sequence[DiffRow], *, precision: int | None = None,
                 with_change: bool = True) -> str:
    """DVC's ``--json`` shape: ``{path: {key: {"old": .., "new": .., "diff": ..}}}``.
    Absent values are null; ``diff`` only for numbers on both sides. Values are as read
    unless ``precision`` is given."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        entry: dict[str, Any] = {
            "old": None if row.old is MISSING else _json_value(row.old, precision),
            "new": None if row.new is MISSING else _json_value(row.new, precision),
        }
        if with_change and row.change is not None:
            entry["diff"] = _json_value(row.change, precision)
        out.setdefault(row.path, {})[row.key] = entry
    return json.dumps(out, indent=2, default=str) + "\n"


def show_to_json(snapshot: Snapshot, *, precision: int | None = None) -> str:
    """``{path: {key: value}}``, files and keys sorted."""
    out = {path: {key: _json_value(v, precision)
                  for key, v in sorted(snapshot.values[path].items())}
           for path in sorted(snapshot.values)}
    return json.dumps(out, indent=2, default=str) + "\n"


def iter_errors(*snapshots: Snapshot) -> Iterator[str]:
    """One line per file that could not be read: ``LABEL: path: why``."""
    for snap in snapshots:
        for path, message in sorted(snap.errors.items()):
            text = message if message.startswith(path) else f"{path}: {message}"
            yield f"{snap.label}: {text}"
