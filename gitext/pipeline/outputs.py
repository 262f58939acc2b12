"""Putting stored pipeline outputs into the work tree, and clearing them before a run.

Every path here comes from a ``dvc.yaml``, a ``dvc.lock`` or a ``.dir`` manifest — the
repository's word, not the user's — so every write and removal goes through
:class:`gitext.fs.worktree.WorkTree`: no symlink on the way is followed, nothing outside the
clone or inside ``.git`` is touched. Reads (hashing what is there) may follow links; a
symlink at an output's own path is replaced, never written through.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from gitext.codec.hashing import ObjectId
from gitext.errors import PipelineError
from gitext.fs.atomic import write_all
from gitext.fs.worktree import WorkTree
from gitext.pipeline.dvchash.dvcignore import FileRow
from gitext.pipeline.dvchash.md5 import MD5
from gitext.pipeline.dvchash.tree import Hasher
from gitext.store import manifests
from gitext.store.objects import LocalStore


def place_object(store: LocalStore, hasher: Hasher, md5: str, wt: WorkTree, rel: str, *,
                 hardlink: bool) -> None:
    """Put a stored file or directory at the repository path ``rel`` (files hard-linked from
    the read-only cache when ``hardlink`` and the filesystem allows; else verified copies).
    In a directory, files already right are left alone and files not in the manifest
    removed. Raises UnsafePathError when ``rel`` lies behind a symlink."""
    st = wt.lstat(rel)  # walks the parents without following links (or refuses)
    dest = wt.path(rel)
    if not manifests.is_manifest_id(md5):
        if st is not None and stat.S_ISDIR(st.st_mode):
            wt.remove(rel)
        placed = _checkout_file(store, ObjectId(MD5, md5), wt, rel, hardlink=hardlink)
        if hasher.state is not None:
            hasher.state.record(os.fspath(dest), MD5, placed, md5)
        return
    entries = manifests.read_manifest(store, md5)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        wt.remove(rel)  # a file, or a symlink (only the link goes, never its target)
    wt.makedirs(rel)
    wanted = {e.relpath: e.md5 for e in entries}
    keep: list[FileRow] = []
    for row in hasher.files(dest):  # what .dvcignore leaves out is left alone, as DVC does
        if row[0] in wanted:
            keep.append(row)
        else:
            wt.remove(f"{rel}/{row[0]}")
    have = {e.relpath: e.md5 for e in hasher.directory(dest, files=keep, record=False)[1]}
    for relpath, digest in wanted.items():
        if have.get(relpath) == digest:
            continue
        target = f"{rel}/{relpath}"
        inner = wt.lstat(target)
        if inner is not None and stat.S_ISDIR(inner.st_mode):
            wt.remove(target)
        _checkout_file(store, ObjectId(MD5, digest), wt, target, hardlink=hardlink)
    _prune_empty_dirs(wt, rel)
    hasher.remember_tree(dest, wanted)


def _checkout_file(store: LocalStore, oid: ObjectId, wt: WorkTree, rel: str, *,
                   hardlink: bool) -> os.stat_result:
    """A hard link to the verified read-only object where possible, else a verified copy
    made with the umask's mode; the temp file never survives a failure."""
    if hardlink and store.is_verified(oid):
        try:
            return wt.link(rel, store.path(oid))
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise

    def fill(fd: int) -> None:
        store.stream_verified(oid, lambda chunk: write_all(fd, chunk))

    try:
        placed = wt.write(rel, fill)
    except FileNotFoundError as exc:
        if exc.filename is not None and os.fspath(exc.filename) != os.fspath(store.path(oid)):
            raise
        raise PipelineError(f"object {oid} for '{rel}' is not in the local cache",
                            hint="run 'git archives pull'") from None
    if placed.st_size != (store.size(oid) or 0):
        raise PipelineError(f"checkout of {oid} to '{rel}' came out short",
                            hint="run 'git archives fsck'")
    return placed


_NO_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP})


def _prune_empty_dirs(wt: WorkTree, rel: str) -> None:
    top = wt.path(rel)
    for folder, dirs, files in os.walk(top, topdown=False):
        if folder != os.fspath(top) and not dirs and not files:
            wt.rmdir_if_empty(Path(folder).relative_to(wt.root).as_posix())


def remove_output(wt: WorkTree, rel: str) -> None:
    """Clear an output before its stage runs (a symlink goes, never its target)."""
    wt.remove(rel)


def unprotect(wt: WorkTree, rel: str) -> None:
    """A persist output linked from the read-only cache becomes a private writable copy."""
    path = wt.path(rel)
    st = wt.lstat(rel)
    if st is None or stat.S_ISLNK(st.st_mode):
        return
    files = ([p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
             if stat.S_ISDIR(st.st_mode) else [path])
    for f in files:
        fst = f.stat()
        if fst.st_nlink > 1 or not os.access(f, os.W_OK):
            data_rel = f.relative_to(wt.root).as_posix()

            def copy(fd: int, src: Path = f) -> None:
                with src.open("rb") as handle:
                    while chunk := handle.read(1 << 20):
                        write_all(fd, chunk)

            wt.write(data_rel, copy, mode=0o644 | (fst.st_mode & 0o111))
