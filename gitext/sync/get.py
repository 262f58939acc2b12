"""``get``: a file or folder of another git repository, with its data, copied out.

The repository is cloned shallowly without a checkout into a temporary folder (so no
filter, hook or attribute of it runs), the path is read from its tree at the revision:
plain blobs as they are, pointers and ``dvc.lock`` outputs through that repository's data
remote (opened under the same trust rules as any clone's, :mod:`gitext.remotes.trust`),
every object verified. The result is assembled in a temporary sibling of the destination
and renamed into place, through :class:`~gitext.fs.worktree.WorkTree` (no ``..``, no
``.git``, no symlink followed), so a hostile repository cannot make us write outside it
and a failure leaves nothing behind.

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec import pointer as ptr
from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError, UsageError
from gitext.git.repo import Repo, run_git
from gitext.store.objects import LocalStore
from gitext.sync.patterns import PathFilter
from gitext.sync.references import References, expand_manifests, lock_outs

_LINK, _SUBMODULE, _EXEC = "120000", "160000", "100755"


@dataclass
class GetReport:
    target: Path
    files: int = 0
    bytes: int = 0
    rev: str = ""
    skipped: list[str] = field(default_factory=list)  # symlinks and submodules, not copied


@dataclass
class _File:
    rel: str  # under the requested path ("" for the path itself)
    data: bytes | None = None  # a plain blob
    oid: ObjectId | None = None  # content in a store
    executable: bool = False


def _clone(url: str, rev: str | None, into: Path) -> None:
    """Shallow, no checkout; a revision a shallow clone cannot name (a commit id) falls back
    to a full clone without checkout."""
    base = ["-c", "core.hooksPath=/dev/null", "clone", "--quiet", "--no-checkout"]
    shallow = [*base, "--depth", "1", *(["--branch", rev] if rev else []), "--", url,
               os.fspath(into)]
    if run_git(shallow, check=False).returncode == 0:
        return
    shutil.rmtree(into, ignore_errors=True)
    proc = run_git([*base, "--", url, os.fspath(into)], check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ArchivesError(f"cannot clone {url}: {err[-1] if err else proc.returncode}",
                            hint="check the URL and your access to it")


def _place_project_config(src: Repo, commit: str) -> None:
    """The commit's ``.archives/config`` into the (otherwise empty) scratch work tree, where
    the config loader reads it, allow-list and trust rules included."""
    from gitext.config import PROJECT_CONFIG

    entries = list(src.ls_tree(commit, f":(literal){PROJECT_CONFIG}"))
    if len(entries) != 1 or entries[0][0] not in ("100644", "100755"):
        return  # none (or not a plain file): no remote unless the user has one
    (_name, data), = src.cat_blobs([entries[0][2]])
    target = src.root / PROJECT_CONFIG
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(data)


def _tree_files(src: Repo, commit: str, path: str) -> tuple[list[_File], list[str]]:
    """The blobs at or under ``path`` (pointers resolved to ids), and skipped entries."""
    entries = [e for e in src.ls_tree(commit, f":(literal){path}")
               if e[4] == path or e[4].startswith(path + "/")]
    files: list[_File] = []
    skipped: list[str] = []
    blobs = [e for e in entries if e[0] not in (_LINK, _SUBMODULE) and e[1] == "blob"]
    skipped = [e[4] for e in entries if e not in blobs]
    data = dict(src.cat_blobs([e[2] for e in blobs]))
    for mode, _typ, sha, _size, full in blobs:
        rel = full[len(path) + 1:] if full != path else ""
        body = data.get(sha, b"")
        p = ptr.try_parse(body) if len(body) < ptr.MAX_POINTER_SIZE else None
        if p is not None and p.size:
            files.append(_File(rel, oid=p.oid, executable=mode == _EXEC))
        else:
            files.append(_File(rel, data=b"" if p is not None else body,
                               executable=mode == _EXEC))
    return files, skipped


def _lock_output(src: Repo, commit: str, path: str) -> tuple[References, list[_File]]:
    """What the ``dvc.lock`` files at ``commit`` record at or under ``path`` (outputs, the
    files of a folder of outputs, or a file inside a directory output): the objects to
    fetch, and the files whose id is known without a manifest."""
    refs = References()
    files: list[_File] = []
    locks = [e for e in src.ls_tree(commit) if e[4] == "dvc.lock"
             or e[4].endswith("/dvc.lock")]
    for (_mode, _typ, _sha, _size, lock_path), (_s, data) in zip(
            locks, src.cat_blobs([e[2] for e in locks]), strict=True):
        for out, md5, _osize in lock_outs(data, lock_path.rpartition("/")[0]):
            inside = out == path or out.startswith(path + "/")
            if not inside and not path.startswith(out + "/"):
                continue
            try:
                oid = ObjectId("md5", md5.removesuffix(".dir"))
            except ArchivesError:
                raise ArchivesError(f"{lock_path}: output '{out}' has a bad md5 '{md5}'",
                                    hint="nothing was written") from None
            if md5.endswith(".dir"):
                refs.manifests.add(oid)
                refs.manifest_paths[oid] = out
            elif inside:
                refs.objects.add(oid)
                files.append(_File(out[len(path) + 1:] if out != path else "", oid=oid))
    return refs, files


def _fetch(src: Repo, store: LocalStore, refs: References, *, remote: str | None,
           jobs: int | None) -> None:
    from gitext.config import Config
    from gitext.remotes import open_remote
    from gitext.sync import transfer

    wanted = [o for o in refs.objects if not store.has(o)]
    if not wanted and not refs.manifests:
        return
    rem = open_remote(Config.load(src.root), remote, root=src.root)
    try:
        report = transfer.fetch(src, rem, refs, jobs=jobs, store=store)
        if refs.manifests:
            expand_manifests(store, refs, PathFilter())
            report = transfer.fetch(src, rem, refs, jobs=jobs, store=store)
    finally:
        rem.close()
    missing = [o for o in refs.objects if not store.has(o)]
    if missing or report.corrupt:
        bad = (report.corrupt or missing)[0]
        raise ArchivesError(
            f"the data of this path is not on the repository's remote ({bad}"
            f"{' is corrupt there' if report.corrupt else ' is missing'}); nothing was "
            "written", hint="ask whoever committed it to push its data")


def _manifest_files(store: LocalStore, refs: References, path: str) -> list[_File]:
    """The files of the fetched directory outputs that lie at or under ``path``."""
    from gitext.store.manifests import manifest_key, parse_manifest

    files: list[_File] = []
    for m in sorted(refs.manifests):
        base = refs.manifest_paths.get(m, "")
        data = store.key_path(manifest_key(m)).read_bytes()  # small; verified by the fetch
        entries = parse_manifest(data, where=f"manifest {m.digest}.dir")
        for e in entries:
            full = f"{base}/{e.relpath}"
            if full == path or full.startswith(path + "/"):
                files.append(_File(full[len(path) + 1:] if full != path else "",
                                   oid=ObjectId("md5", e.md5)))
    return files


def _write(files: list[_File], store: LocalStore, target: Path) -> int:
    """Assemble in a temporary sibling of ``target``, then rename it into place."""
    from gitext.fs.atomic import write_all
    from gitext.fs.worktree import WorkTree

    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.get-", dir=target.parent))
    try:
        single = len(files) == 1 and files[0].rel == ""
        if not single:  # mkdtemp's 0700 would stay on the folder given to the user
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(stage, 0o777 & ~umask)
        total = 0
        with WorkTree(stage) as wt:
            for f in files:
                rel = f.rel or target.name

                def fill(fd: int, f: _File = f) -> None:
                    if f.oid is not None:
                        store.stream_verified(f.oid, lambda b: write_all(fd, b))
                    else:
                        write_all(fd, f.data or b"")

                st = wt.write(rel, fill, mode=0o777 if f.executable else 0o666)
                total += st.st_size
        os.rename(stage / target.name if single else stage, target)
        return total
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def get(url: str, path: str, out: Path, *, rev: str | None = None,
        remote: str | None = None, jobs: int | None = None) -> GetReport:
    """Copy ``path`` of the repository at ``url`` (at ``rev``, default its HEAD) to
    ``out`` (or into ``out`` when it is an existing folder)."""
    path = path.strip("/")
    if not path or ".." in path.split("/"):
        raise UsageError(f"'{path}' is not a path inside the repository",
                         hint="give it relative to the repository's top, e.g. data/train.csv")
    target = out / path.rsplit("/", 1)[-1] if out.is_dir() else out
    if target.exists() or target.is_symlink():
        raise UsageError(f"'{target}' already exists", hint="remove it, or choose -o OUT")
    if not target.parent.is_dir():
        raise UsageError(f"the folder '{target.parent}' does not exist",
                         hint="create it first, or choose -o OUT")
    with _scratch() as tmp:
        _clone(url, rev, tmp / "repo")
        src = Repo.discover(tmp / "repo")
        commit = src.resolve_rev(rev or "HEAD")
        _place_project_config(src, commit)
        files, skipped = _tree_files(src, commit, path)
        store = LocalStore(tmp / "cache")
        if files:
            refs = References(objects={f.oid for f in files if f.oid is not None})
        elif skipped:
            raise UsageError(f"'{path}' is a symbolic link or a submodule in {url}: only "
                             "files and folders are copied", hint="nothing was written")
        else:
            refs, files = _lock_output(src, commit, path)
            if not refs.objects and not refs.manifests:
                raise UsageError(f"'{path}' is neither in {url} at {rev or 'HEAD'} nor a "
                                 "pipeline output in its dvc.lock",
                                 hint="check the path (relative to the repository's top) "
                                      "and --rev")
        _fetch(src, store, refs, remote=remote, jobs=jobs)
        files += _manifest_files(store, refs, path)
        if not files:
            raise UsageError(f"'{path}' is inside a directory output but not one of its "
                             "files", hint="check the path")
        total = _write(files, store, target)
        return GetReport(target, len(files), total, commit, skipped)


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="git-archives-get-"))
    try:
        yield tmp
    finally:
        def unlock(func: object, p: str, _exc: object) -> None:
            with contextlib.suppress(OSError):
                os.chmod(p, 0o700)
                (os.rmdir if os.path.isdir(p) else os.unlink)(p)

        shutil.rmtree(tmp, onerror=unlock)
